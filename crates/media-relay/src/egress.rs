//! Everything done to RTP on its way out toward one leg's remote: the
//! stream rewriting that hides re-points, then the prompt tone, if one is
//! playing. One lock per leg covers both, taken once per packet.

use crate::g711::Law;
use crate::prompt::Prompt;
use crate::rewriter::StreamRewriter;
use crate::rtp::{payload_range, RtpHeader};
use std::time::Instant;

/// The outbound state of one leg.
#[derive(Debug)]
pub(crate) struct Egress {
    pub(crate) rewriter: StreamRewriter,
    pub(crate) prompt: Option<Prompt>,
    /// The payload type of the last RTP packet sent: a monitor mix starts
    /// in the codec the remote was hearing.
    pub(crate) last_payload_type: Option<u8>,
}

impl Egress {
    pub(crate) fn new(clock_rate: u32) -> Self {
        Egress {
            rewriter: StreamRewriter::new(clock_rate),
            prompt: None,
            last_payload_type: None,
        }
    }

    /// Prepares the RTP packet `data` (header `h`), arriving at `now` from
    /// a route of `epoch`, to be sent. False if the route is stale: drop it.
    pub(crate) fn rtp(&mut self, now: Instant, epoch: u64, h: RtpHeader, data: &mut [u8]) -> bool {
        let Some(out) = self.rewriter.rtp(now, epoch, h) else {
            return false;
        };
        if out != h {
            out.write(data);
        }
        self.last_payload_type = Some(h.payload_type);
        if self.prompt.as_ref().is_some_and(|p| p.expired(now)) {
            self.prompt = None;
        }
        if let (Some(prompt), Some(law)) = (&mut self.prompt, Law::of_payload_type(h.payload_type))
        {
            if let Some(payload) = payload_range(data) {
                prompt.mix(law, &mut data[payload]);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::tests::packet;
    use std::time::Duration;

    #[test]
    fn a_prompt_colours_g711_until_it_ends_and_nothing_else() {
        let t0 = Instant::now();
        let mut e = Egress::new(8000);
        e.prompt = Some(Prompt::new(t0 + Duration::from_millis(30)));
        let silence = Law::Mu.encode(0);
        let send = |e: &mut Egress, pt: u8, seq: u16, at: Duration| {
            let mut p = packet(pt, seq, u32::from(seq) * 160, 1, &[silence; 160]);
            let h = RtpHeader::parse(&p).expect("rtp");
            assert!(e.rtp(t0 + at, 1, h, &mut p));
            p
        };
        let toned = send(&mut e, 0, 1, Duration::ZERO);
        assert_ne!(&toned[12..], &[silence; 160][..], "tone added");
        let dtmf = send(&mut e, 101, 2, Duration::from_millis(10));
        assert_eq!(
            &dtmf[12..],
            &[silence; 160][..],
            "other payload types untouched"
        );
        let after = send(&mut e, 0, 3, Duration::from_millis(30));
        assert_eq!(&after[12..], &[silence; 160][..], "prompt over");
        assert!(e.prompt.is_none());
    }
}
