//! Watching a leg's inbound telephone-events (RFC 4733) for a few keys:
//! the handover asks the current device to authorise a move with a key
//! press, and that press must reach Baton, not the remote party.
//!
//! An event is sent as several packets sharing one RTP timestamp (its
//! start), the last of them three times with the end bit; so an event is
//! told apart by its source and timestamp, and reported on its first
//! packet seen, even if the start was lost.

use crate::rtp::RtpHeader;
use crate::Ssrc;
use std::sync::Arc;

/// Receives the event code of each watched key pressed (0-9 digits, 10
/// `*`, 11 `#`, RFC 4733 §3.2). Called on a relay worker thread while it
/// forwards packets: it must return at once (send on an unbounded
/// channel, set an atomic), never block.
pub type KeySink = Arc<dyn Fn(u8) + Send + Sync>;

/// What to do with one inbound RTP packet under a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyVerdict {
    /// Not a watched key: forward it.
    Pass,
    /// A watched key: drop it; `report` is the key if this packet is the
    /// first seen of its event.
    Consume {
        /// The key to report, once per event.
        report: Option<u8>,
    },
}

/// The watch on one leg: which payload type carries events, which codes
/// to take, and the last event reported.
#[derive(Debug, Clone)]
pub(crate) struct KeyWatch {
    payload_type: u8,
    /// One bit per event code.
    keys: [u64; 4],
    last: Option<(Ssrc, u32)>,
    /// Unwatched: only the rest of the last event is still consumed.
    finishing: bool,
}

impl KeyWatch {
    /// Watches events `keys` carried in `payload_type`.
    pub(crate) fn new(payload_type: u8, keys: &[u8]) -> Self {
        let mut mask = [0u64; 4];
        for &k in keys {
            mask[usize::from(k / 64)] |= 1 << (k % 64);
        }
        KeyWatch {
            payload_type,
            keys: mask,
            last: None,
            finishing: false,
        }
    }

    /// The watch that remains once unwatched: it consumes the remaining
    /// packets of the event it was consuming (a key's end packets follow
    /// the decision it made), and passes everything else. `None` if no
    /// event was seen.
    pub(crate) fn finishing(&self) -> Option<KeyWatch> {
        self.last.map(|event| KeyWatch {
            payload_type: self.payload_type,
            keys: [0; 4],
            last: Some(event),
            finishing: true,
        })
    }

    /// Whether events come in `payload_type`: the only packets to judge.
    pub(crate) fn carries(&self, payload_type: u8) -> bool {
        payload_type == self.payload_type
    }

    fn watches(&self, code: u8) -> bool {
        self.keys[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }

    /// Judges a packet with header `h` and RTP payload `payload`.
    pub(crate) fn judge(&mut self, h: &RtpHeader, payload: &[u8]) -> KeyVerdict {
        // An event payload is at least event, flags/volume, duration.
        if h.payload_type != self.payload_type || payload.len() < 4 {
            return KeyVerdict::Pass;
        }
        let code = payload[0];
        if self.finishing {
            return if self.last == Some((h.ssrc, h.timestamp)) {
                KeyVerdict::Consume { report: None }
            } else {
                KeyVerdict::Pass
            };
        }
        if !self.watches(code) {
            return KeyVerdict::Pass;
        }
        let event = (h.ssrc, h.timestamp);
        let report = (self.last != Some(event)).then_some(code);
        self.last = Some(event);
        KeyVerdict::Consume { report }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pt: u8, timestamp: u32) -> RtpHeader {
        RtpHeader {
            ssrc: Ssrc(7),
            sequence: 0,
            timestamp,
            marker: false,
            payload_type: pt,
        }
    }

    /// Event `code`, end bit as given, volume 10, `duration`.
    fn event(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x80 } else { 0 } | 10, d[0], d[1]]
    }

    #[test]
    fn each_event_is_reported_once_and_every_packet_consumed() {
        let mut w = KeyWatch::new(101, &[1, 2, 3]);
        let mut reports = Vec::new();
        // Key 1: start, two updates, the end three times; then key 2.
        let packets = [
            (1000, event(1, false, 160)),
            (1000, event(1, false, 320)),
            (1000, event(1, false, 480)),
            (1000, event(1, true, 640)),
            (1000, event(1, true, 640)),
            (1000, event(1, true, 640)),
            (5000, event(2, false, 160)),
            (5000, event(2, true, 320)),
        ];
        for (ts, p) in packets {
            match w.judge(&header(101, ts), &p) {
                KeyVerdict::Consume { report } => reports.extend(report),
                KeyVerdict::Pass => panic!("a watched key passed"),
            }
        }
        assert_eq!(reports, [1, 2]);
    }

    #[test]
    fn an_unwatched_key_is_consumed_to_its_end_and_nothing_after() {
        let mut w = KeyWatch::new(101, &[2]);
        let h = header(101, 4000);
        assert_eq!(
            w.judge(&h, &event(2, false, 160)),
            KeyVerdict::Consume { report: Some(2) }
        );
        let mut f = w.finishing().expect("an event was seen");
        for _ in 0..3 {
            assert_eq!(
                f.judge(&h, &event(2, true, 480)),
                KeyVerdict::Consume { report: None }
            );
        }
        assert_eq!(
            f.judge(&header(101, 4800), &event(2, false, 160)),
            KeyVerdict::Pass
        );
        assert!(KeyWatch::new(101, &[2]).finishing().is_none());
    }

    #[test]
    fn the_same_key_twice_is_two_events() {
        let mut w = KeyWatch::new(101, &[1]);
        let first = w.judge(&header(101, 1000), &event(1, true, 800));
        let again = w.judge(&header(101, 2600), &event(1, false, 160));
        assert_eq!(first, KeyVerdict::Consume { report: Some(1) });
        assert_eq!(again, KeyVerdict::Consume { report: Some(1) });
    }

    #[test]
    fn a_lost_start_still_reports_on_the_end() {
        let mut w = KeyWatch::new(101, &[3]);
        assert_eq!(
            w.judge(&header(101, 9), &event(3, true, 800)),
            KeyVerdict::Consume { report: Some(3) }
        );
    }

    #[test]
    fn other_keys_other_payload_types_and_short_payloads_pass() {
        let mut w = KeyWatch::new(101, &[1, 2, 3, 11]);
        assert_eq!(
            w.judge(&header(101, 1), &event(5, false, 160)),
            KeyVerdict::Pass
        );
        assert_eq!(
            w.judge(&header(0, 1), &event(1, false, 160)),
            KeyVerdict::Pass
        );
        assert_eq!(w.judge(&header(101, 1), &[1, 0]), KeyVerdict::Pass);
        assert_eq!(
            w.judge(&header(101, 2), &event(11, false, 160)),
            KeyVerdict::Consume { report: Some(11) },
            "#"
        );
        assert!(KeyWatch::new(101, &[255]).watches(255));
        assert!(!KeyWatch::new(101, &[255]).watches(254));
    }
}
