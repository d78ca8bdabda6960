//! The monitor mix: the two ends of a bridge summed into one G.711 stream
//! for a third party (a device that handed the call over and keeps
//! listening).
//!
//! One end is the clock: each of its frames is sent out at once, summed
//! with the oldest frame the other end has queued (up to three, about
//! 60 ms; older ones are dropped so the mix never lags). If the clock end
//! has been silent for more than 60 ms, the other end's frames go out
//! alone, so a muted remote does not silence the monitor. No timer: the
//! mix moves only when packets arrive.
//!
//! The stream the mixer emits is its own (one SSRC, sequence +1,
//! timestamps advancing by frame, or by wall-clock time after a pause);
//! the listener's egress rewriter then splices it onto what the listener
//! heard before.

use crate::g711::{mix, Law};
use crate::rtp::RtpHeader;
use crate::Ssrc;
use std::time::{Duration, Instant};

/// The longest frame mixed, in samples (60 ms at 8 kHz); longer payloads
/// are cut to it.
pub(crate) const MAX_SAMPLES: usize = 480;
/// Frames of the other end kept waiting for the clock.
const QUEUE: usize = 3;
/// Clock silence after which the other end is sent alone.
const CLOCK_SILENT: Duration = Duration::from_millis(60);
const HEADER: usize = 12;

/// Which end of the bridge a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The end whose frames pace the mix (R after a handover).
    Clock,
    /// The other end (the device the call moved to).
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    samples: [i16; MAX_SAMPLES],
    len: usize,
}

impl Frame {
    const EMPTY: Frame = Frame {
        samples: [0; MAX_SAMPLES],
        len: 0,
    };

    fn decode(&mut self, law: Law, payload: &[u8]) {
        self.len = payload.len().min(MAX_SAMPLES);
        for (s, c) in self.samples.iter_mut().zip(payload) {
            *s = law.decode(*c);
        }
    }
}

/// The mixing state of one monitor.
#[derive(Debug)]
pub(crate) struct Mixer {
    ssrc: Ssrc,
    sequence: u16,
    timestamp: u32,
    /// When the last frame went out, and its length.
    last_emit: Option<(Instant, usize)>,
    /// The law the listener heard before the monitor began, if G.711: the
    /// mix keeps to it.
    listener_law: Option<Law>,
    /// The clock end's law and last arrival.
    clock: Option<(Law, Instant)>,
    mix: Frame,
    queue: [Frame; QUEUE],
    head: usize,
    queued: usize,
    /// The packet last emitted: header and payload.
    packet: Vec<u8>,
}

impl Mixer {
    /// A mixer whose stream is `ssrc`, encoded in `listener_law` if given,
    /// else in the clock end's law (else in the other end's, until the
    /// clock is heard).
    pub(crate) fn new(ssrc: Ssrc, listener_law: Option<Law>) -> Self {
        Mixer {
            ssrc,
            listener_law,
            sequence: 0,
            timestamp: 0,
            last_emit: None,
            clock: None,
            mix: Frame::EMPTY,
            queue: [Frame::EMPTY; QUEUE],
            head: 0,
            queued: 0,
            packet: Vec::with_capacity(HEADER + MAX_SAMPLES),
        }
    }

    /// Takes one G.711 frame from `side` that arrived at `now`. Returns the
    /// header of a packet to send, whose bytes are then in
    /// [`Mixer::packet_mut`].
    pub(crate) fn feed(
        &mut self,
        side: Side,
        now: Instant,
        law: Law,
        payload: &[u8],
    ) -> Option<RtpHeader> {
        match side {
            Side::Clock => {
                self.clock = Some((law, now));
                self.mix.decode(law, payload);
                if let Some(i) = self.pop() {
                    let other = &self.queue[i];
                    let n = self.mix.len.min(other.len);
                    for (s, o) in self.mix.samples[..n].iter_mut().zip(&other.samples) {
                        *s = mix(*s, *o);
                    }
                }
                let out = self.listener_law.unwrap_or(law);
                Some(self.emit(now, out, None))
            }
            Side::Other => {
                self.push(law, payload);
                let clock_silent = self
                    .clock
                    .is_none_or(|(_, at)| now.saturating_duration_since(at) > CLOCK_SILENT);
                if !clock_silent {
                    return None;
                }
                let i = self.pop()?;
                let out = self
                    .listener_law
                    .or(self.clock.map(|(l, _)| l))
                    .unwrap_or(law);
                Some(self.emit(now, out, Some(i)))
            }
        }
    }

    /// The packet [`Mixer::feed`] last described.
    pub(crate) fn packet_mut(&mut self) -> &mut [u8] {
        &mut self.packet
    }

    fn push(&mut self, law: Law, payload: &[u8]) {
        if self.queued == QUEUE {
            // Full: the oldest frame is the one to lose, to stay current.
            self.head = (self.head + 1) % QUEUE;
            self.queued -= 1;
        }
        let slot = (self.head + self.queued) % QUEUE;
        self.queue[slot].decode(law, payload);
        self.queued += 1;
    }

    fn pop(&mut self) -> Option<usize> {
        if self.queued == 0 {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % QUEUE;
        self.queued -= 1;
        Some(i)
    }

    /// Writes out `queued` frame `i`, or the mix frame, as the next packet.
    fn emit(&mut self, now: Instant, law: Law, queued: Option<usize>) -> RtpHeader {
        let frame = match queued {
            Some(i) => &self.queue[i],
            None => &self.mix,
        };
        let len = frame.len;
        let mut marker = false;
        match self.last_emit {
            None => marker = true,
            Some((at, previous)) => {
                let elapsed = now.saturating_duration_since(at);
                // 8 kHz: a sample is 125 µs.
                let paused = elapsed > Duration::from_micros(125 * 3 * previous as u64);
                let step = if paused {
                    marker = true;
                    (elapsed.as_micros() / 125).min(u128::from(u32::MAX / 2)) as u32
                } else {
                    previous as u32
                };
                self.sequence = self.sequence.wrapping_add(1);
                self.timestamp = self.timestamp.wrapping_add(step);
            }
        }
        self.last_emit = Some((now, len));
        let h = RtpHeader {
            ssrc: self.ssrc,
            sequence: self.sequence,
            timestamp: self.timestamp,
            marker,
            payload_type: law.payload_type(),
        };
        self.packet.clear();
        self.packet
            .extend_from_slice(&[0x80, u8::from(marker) << 7 | h.payload_type]);
        self.packet.extend_from_slice(&h.sequence.to_be_bytes());
        self.packet.extend_from_slice(&h.timestamp.to_be_bytes());
        self.packet.extend_from_slice(&h.ssrc.0.to_be_bytes());
        self.packet
            .extend(frame.samples[..len].iter().map(|s| law.encode(*s)));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn frame(law: Law, value: i16) -> Vec<u8> {
        vec![law.encode(value); 160]
    }

    fn samples(m: &mut Mixer, law: Law) -> Vec<i16> {
        m.packet_mut()[HEADER..]
            .iter()
            .map(|c| law.decode(*c))
            .collect()
    }

    #[test]
    fn the_clock_frame_carries_the_other_ends_queued_frame() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), None);
        // The other end speaks first while the clock is silent: alone.
        let h = m
            .feed(Side::Other, t0, Law::Mu, &frame(Law::Mu, 2000))
            .expect("alone");
        assert_eq!(h.payload_type, 0);
        assert!(samples(&mut m, Law::Mu)
            .iter()
            .all(|s| (i32::from(*s) - 2000).abs() < 64));
        // Now both: each clock frame goes out summed with the other end's
        // frame queued since the previous one.
        let mut headers = vec![h];
        for i in 1..10u32 {
            let now = t0 + MS20 * i;
            let h = m
                .feed(Side::Clock, now, Law::Mu, &frame(Law::Mu, 3000))
                .expect("clock frames always go out");
            let got = samples(&mut m, Law::Mu);
            assert_eq!(got.len(), 160);
            let other = if i == 1 {
                0 // the first other frame went out alone
            } else {
                i32::from(Law::A.decode(Law::A.encode(1000)))
            };
            let want = i32::from(Law::Mu.decode(Law::Mu.encode(3000))) + other;
            assert!(got
                .iter()
                .all(|s| (i32::from(*s) - want).abs() <= want / 16));
            headers.push(h);
            assert!(m
                .feed(Side::Other, now, Law::A, &frame(Law::A, 1000))
                .is_none());
        }
        for w in headers.windows(2) {
            assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
            assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 160);
            assert!(!w[1].marker);
        }
        assert!(headers[0].marker);
    }

    #[test]
    fn sums_saturate() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), None);
        m.feed(Side::Clock, t0, Law::Mu, &frame(Law::Mu, 1));
        m.feed(Side::Other, t0, Law::Mu, &frame(Law::Mu, 30_000));
        m.feed(Side::Clock, t0 + MS20, Law::Mu, &frame(Law::Mu, 30_000));
        let max = Law::Mu.decode(Law::Mu.encode(i16::MAX));
        assert!(samples(&mut m, Law::Mu).iter().all(|s| *s == max));
    }

    #[test]
    fn the_clock_alone_passes_and_a_backlog_is_trimmed_to_three() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), None);
        m.feed(Side::Clock, t0, Law::Mu, &frame(Law::Mu, 500));
        assert!(samples(&mut m, Law::Mu)
            .iter()
            .all(|s| (i32::from(*s) - 500).abs() < 32));
        for v in [100, 200, 300, 400, 500] {
            m.feed(Side::Other, t0, Law::Mu, &frame(Law::Mu, v));
        }
        // 100 and 200 were dropped: the next clock frame carries 300.
        m.feed(Side::Clock, t0 + MS20, Law::Mu, &frame(Law::Mu, 0));
        assert!(samples(&mut m, Law::Mu)
            .iter()
            .all(|s| (i32::from(*s) - 300).abs() < 16));
    }

    #[test]
    fn after_a_pause_timestamps_follow_the_wall_clock() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), None);
        let a = m
            .feed(Side::Clock, t0, Law::A, &frame(Law::A, 0))
            .expect("frame");
        let b = m
            .feed(
                Side::Clock,
                t0 + Duration::from_millis(500),
                Law::A,
                &frame(Law::A, 0),
            )
            .expect("frame");
        assert_eq!(b.sequence, a.sequence + 1);
        assert_eq!(b.timestamp - a.timestamp, 4000);
        assert!(b.marker);
    }

    #[test]
    fn a_silent_clock_lets_the_other_end_through_in_the_clocks_law() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), None);
        m.feed(Side::Clock, t0, Law::A, &frame(Law::A, 0));
        let soon = t0 + Duration::from_millis(40);
        assert!(m
            .feed(Side::Other, soon, Law::Mu, &frame(Law::Mu, 700))
            .is_none());
        let late = t0 + Duration::from_millis(61);
        let h = m
            .feed(Side::Other, late, Law::Mu, &frame(Law::Mu, 700))
            .expect("alone");
        assert_eq!(h.payload_type, 8, "in the clock's law");
        assert!(samples(&mut m, Law::A)
            .iter()
            .all(|s| (i32::from(*s) - 700).abs() < 48));
    }

    #[test]
    fn the_listeners_law_wins() {
        let t0 = Instant::now();
        let mut m = Mixer::new(Ssrc(9), Some(Law::Mu));
        let h = m
            .feed(Side::Other, t0, Law::A, &frame(Law::A, 700))
            .expect("alone");
        assert_eq!(h.payload_type, 0);
        let h = m
            .feed(Side::Clock, t0, Law::A, &frame(Law::A, 700))
            .expect("clock");
        assert_eq!(h.payload_type, 0);
        assert!(samples(&mut m, Law::Mu)
            .iter()
            .all(|s| (i32::from(*s) - 700).abs() < 48));
    }
}
