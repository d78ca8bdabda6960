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
    use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
    use std::thread;
    use std::time::Duration;

    const MS20: Duration = Duration::from_millis(20);

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

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

    fn g711(ssrc: u32, seq: u16) -> (RtpHeader, Vec<u8>) {
        let p = packet(0, seq, u32::from(seq) * 160, ssrc, &[0xff; 160]);
        (RtpHeader::parse(&p).expect("rtp"), p)
    }

    fn seq_of(data: &[u8]) -> u16 {
        RtpHeader::parse(data).expect("rtp").sequence
    }

    #[test]
    fn packets_leave_in_the_order_they_were_numbered() {
        // The old device's worker is inside its send when the new device's
        // first packet comes, on another thread. The new packet is numbered
        // after the old one, so it must also leave after it.
        let t0 = Instant::now();
        let egress = Arc::new(Mutex::new(Egress::new(8000)));
        let wire = Arc::new(Mutex::new(Vec::new()));
        let (a, mut pa) = g711(0xa, 10);
        lock(&egress)
            .rtp(t0, 1, a, &mut pa, |d| Ok(d.len()))
            .expect("sent");
        let (in_send, stalled) = mpsc::channel();
        let (resume, wait) = mpsc::channel::<()>();
        let old = {
            let (egress, wire) = (Arc::clone(&egress), Arc::clone(&wire));
            thread::spawn(move || {
                let (a, mut pa) = g711(0xa, 11);
                lock(&egress).rtp(t0 + MS20, 1, a, &mut pa, |d| {
                    in_send.send(()).expect("main");
                    wait.recv().expect("main"); // preempted mid-send
                    lock(&wire).push(seq_of(d));
                    Ok(d.len())
                })
            })
        };
        stalled.recv().expect("old worker sending");
        let new = {
            let (egress, wire) = (Arc::clone(&egress), Arc::clone(&wire));
            thread::spawn(move || {
                let (b, mut pb) = g711(0xb, 700);
                lock(&egress).rtp(t0 + MS20, 2, b, &mut pb, |d| {
                    lock(&wire).push(seq_of(d));
                    Ok(d.len())
                })
            })
        };
        // Long enough for the new packet to overtake, were it able to.
        thread::sleep(Duration::from_millis(20));
        resume.send(()).expect("old worker");
        assert!(old.join().expect("old").is_ok());
        assert!(new.join().expect("new").is_ok());
        assert_eq!(
            *lock(&wire),
            vec![11, 12],
            "the wire order is the numbering"
        );
    }

    #[test]
    fn a_failed_send_is_not_part_of_the_stream() {
        let t0 = Instant::now();
        let mut e = Egress::new(8000);
        let (a, mut p) = g711(0xa, 10);
        assert!(e.rtp(t0, 1, a, &mut p, |d| Ok(d.len())).is_ok());
        let (a, mut p) = g711(0xa, 11);
        let refused = || Err(io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(
            e.rtp(t0 + MS20, 1, a, &mut p, |_| refused()),
            Err(DropReason::SendFailed)
        );
        // The first of the new device's packets fails too: no switch yet.
        let (b, mut p) = g711(0xb, 700);
        assert_eq!(
            e.rtp(t0 + MS20, 2, b, &mut p, |_| refused()),
            Err(DropReason::SendFailed)
        );
        let (b, mut p) = g711(0xb, 701);
        assert!(e.rtp(t0 + MS20 * 2, 2, b, &mut p, |d| Ok(d.len())).is_ok());
        assert_eq!(seq_of(&p), 11, "right after the last packet sent");
        let (a, mut p) = g711(0xa, 12);
        assert_eq!(
            e.rtp(t0 + MS20 * 2, 1, a, &mut p, |d| Ok(d.len())),
            Err(DropReason::NoDestination),
            "the old stream is over"
        );
    }
}
