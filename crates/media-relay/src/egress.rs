//! Everything done to RTP on its way out toward one leg's remote: the
//! stream rewriting that hides re-points, then the prompt tone, if one is
//! playing, then the send itself. One lock per leg covers all three, taken
//! once per packet.

use crate::g711::Law;
use crate::prompt::Prompt;
use crate::rewriter::{RtcpRewrite, StreamRewriter};
use crate::rtcp::rewrite_sender;
use crate::rtp::{payload_range, RtpHeader};
use crate::DropReason;
use std::io;
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

    /// Rewrites the RTP packet `data` (header `h`), arriving at `now` from
    /// a route of `epoch`, and sends it with `send`; the bytes sent, or why
    /// it was dropped: `NoDestination` if the route is stale,
    /// `SendFailed` if `send` failed.
    ///
    /// Why the send happens here, inside the caller's lock on the egress:
    /// at a switch two workers (the old device's and the new one's) send
    /// toward the same remote. Numbering and sending under one lock makes
    /// the order packets leave in the order they were numbered in; with
    /// the lock released before the send, the new device's first packet
    /// could overtake the old device's last one and the remote heard its
    /// sequence go back. And only a packet that left is recorded as the
    /// stream's latest (see `StreamRewriter::prepare`). The lock is per
    /// leg and uncontended but during a switch or a monitor.
    pub(crate) fn rtp(
        &mut self,
        now: Instant,
        epoch: u64,
        h: RtpHeader,
        data: &mut [u8],
        send: impl FnOnce(&[u8]) -> io::Result<usize>,
    ) -> Result<usize, DropReason> {
        let prepared = self
            .rewriter
            .prepare(now, epoch, h)
            .ok_or(DropReason::NoDestination)?;
        if prepared.header != h {
            prepared.header.write(data);
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
        let sent = send(data).map_err(|_| DropReason::SendFailed)?;
        self.rewriter.commit(prepared);
        Ok(sent)
    }

    /// Renames the RTCP packet `data` from a route of `epoch` for the
    /// stream the remote hears and sends it with `send`, under the same
    /// lock as RTP so a rename never uses a mapping that changes halfway.
    pub(crate) fn rtcp(
        &mut self,
        epoch: u64,
        data: &mut [u8],
        send: impl FnOnce(&[u8]) -> io::Result<usize>,
    ) -> Result<usize, DropReason> {
        match self.rewriter.rtcp(epoch) {
            RtcpRewrite::Unchanged => {}
            RtcpRewrite::Rename {
                from,
                to,
                ts_offset,
            } => rewrite_sender(data, from, to, ts_offset),
            RtcpRewrite::Drop => return Err(DropReason::NoDestination),
        }
        send(data).map_err(|_| DropReason::SendFailed)
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
            assert_eq!(e.rtp(t0 + at, 1, h, &mut p, |d| Ok(d.len())), Ok(p.len()));
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
