//! Keeps the stream toward one remote continuous when the source behind it
//! changes (a handover re-points the bridge from device A to device B).
//!
//! The remote (R) must hear one stream: one SSRC, sequence numbers that step
//! by one, timestamps that advance with time. Until the first switch the
//! rewriter only watches (identity); from then on it maps every packet of
//! the current source onto the old stream:
//!
//! ```text
//!   out.ssrc = the SSRC R has been hearing
//!   out.seq  = in.seq + seq_offset     (first packet after the switch: last out + 1)
//!   out.ts   = in.ts  + ts_offset      (first packet: last out + max(elapsed, one packet))
//! ```
//!
//! Offsets (not a running counter) keep the new source's own reordering and
//! gaps visible to R, so R's loss statistics and jitter buffer still work.
//!
//! Sources are told apart by an *epoch*: each route into the rewriter has
//! one, and a re-point creates a higher one. A packet from a lower epoch
//! was in flight from the old device when the switch happened and is
//! dropped, so R never hears the old stream again after the new one began.

use crate::rtp::RtpHeader;
use crate::Ssrc;
use std::time::{Duration, Instant};

/// Rewrites the RTP headers of one outbound direction.
#[derive(Debug, Clone)]
pub struct StreamRewriter {
    clock_rate: u32,
    epoch: u64,
    source: Option<Ssrc>,
    mapping: Option<Mapping>,
    last: Option<Last>,
    /// The latest re-point's splice, with the epoch of the route it began.
    splice: Option<(u64, Splice)>,
}

/// How the stream toward a remote was joined at a re-point: what the
/// remote lived through between the old source's last packet and the new
/// source's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    /// When the new source's first packet was sent to the remote.
    pub first_new_at: Instant,
    /// Time between the old source's last packet and that first packet.
    pub gap: Duration,
    /// Packetisation intervals with no packet in the gap: the gap in
    /// intervals, rounded, minus the one a continuous stream has. The
    /// interval is the old stream's last timestamp step (20 ms if none
    /// was seen).
    pub missed_packets: u32,
}

/// A packet judged by [`StreamRewriter::prepare`], not yet sent: its
/// header, and what the rewriter learns once it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The header to send.
    pub header: RtpHeader,
    now: Instant,
    epoch: u64,
    /// The SSRC the packet arrived with.
    source: Ssrc,
    mapping: Option<Mapping>,
    splice: Option<(u64, Splice)>,
}

/// The offsets that move the current source onto the old stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    ssrc: Ssrc,
    seq_offset: u16,
    ts_offset: u32,
}

/// The newest packet sent toward the remote.
#[derive(Debug, Clone, Copy)]
struct Last {
    ssrc: Ssrc,
    sequence: u16,
    timestamp: u32,
    at: Instant,
    /// Timestamp units per packet, as last observed (the packetisation time).
    step: u32,
}

/// How an RTCP packet from the current source must be renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpRewrite {
    /// Pass unchanged (no switch has happened).
    Unchanged,
    /// Rename sender `from` to `to`, shifting SR timestamps by `ts_offset`.
    Rename {
        /// The source's own SSRC.
        from: Ssrc,
        /// The SSRC the remote knows.
        to: Ssrc,
        /// Added to an SR's RTP timestamp.
        ts_offset: u32,
    },
    /// Drop it: its source is stale, or has sent no RTP since the switch
    /// so there is no mapping for it yet.
    Drop,
}

impl StreamRewriter {
    /// A rewriter for a stream whose RTP clock runs at `clock_rate` Hz
    /// (8000 for G.711 and telephone-events).
    pub fn new(clock_rate: u32) -> Self {
        StreamRewriter {
            clock_rate: clock_rate.max(1),
            epoch: 0,
            source: None,
            mapping: None,
            last: None,
            splice: None,
        }
    }

    /// The header to send for an RTP packet `h` that arrived at `now` from
    /// a route of `epoch`; `None` if the route is stale (drop the packet).
    /// The packet is taken as sent: [`StreamRewriter::prepare`] and
    /// [`StreamRewriter::commit`] are the same in two steps, for a caller
    /// whose send may fail.
    pub fn rtp(&mut self, now: Instant, epoch: u64, h: RtpHeader) -> Option<RtpHeader> {
        let prepared = self.prepare(now, epoch, h)?;
        let out = prepared.header;
        self.commit(prepared);
        Some(out)
    }

    /// Judges and rewrites an RTP packet `h` that arrived at `now` from a
    /// route of `epoch`, without changing the rewriter: `None` if the route
    /// is stale (drop the packet), else the header to send, to be passed to
    /// [`StreamRewriter::commit`] once the packet has been sent.
    ///
    /// Why two steps: the stream toward the remote is what the remote was
    /// actually sent. A packet that fails to leave must not move `last`, or
    /// the next switch would continue from a number the remote never had
    /// (a gap it would count as loss); a new source whose first packet
    /// failed has not begun yet, so its next packet splices again. The
    /// caller holds the egress lock from `prepare` through the send to
    /// `commit`, so packets sent toward one remote by two threads (the old
    /// and the new device's workers at a switch) leave in the order they
    /// were numbered.
    pub fn prepare(&self, now: Instant, epoch: u64, h: RtpHeader) -> Option<Prepared> {
        if epoch < self.epoch {
            return None;
        }
        let new_route = epoch > self.epoch;
        let new_ssrc = self.source != Some(h.ssrc);
        let mut mapping = self.mapping;
        let mut splice = None;
        let mut rebased = false;
        if new_route || (new_ssrc && self.mapping.is_some()) {
            // A new source. Before any switch (no `last`) it is passed as
            // is; after, it continues the stream R knows.
            if new_route {
                splice = self
                    .last
                    .map(|last| (epoch, last.splice_at(now, self.clock_rate)));
            }
            mapping = self
                .last
                .map(|last| last.continue_with(h, now, self.clock_rate));
            rebased = mapping.is_some();
        }
        // Without a mapping a source may change SSRC freely: R hears what
        // the device sends, as from any transparent relay.
        let header = match mapping {
            None => h,
            Some(m) => RtpHeader {
                ssrc: m.ssrc,
                sequence: h.sequence.wrapping_add(m.seq_offset),
                timestamp: h.timestamp.wrapping_add(m.ts_offset),
                // Tell R's jitter buffer to resynchronise: the new source's
                // timing is unrelated to the old one's.
                marker: h.marker || rebased,
                payload_type: h.payload_type,
            },
        };
        Some(Prepared {
            header,
            now,
            epoch,
            source: h.ssrc,
            mapping,
            splice,
        })
    }

    /// Records that the packet [`StreamRewriter::prepare`] gave `prepared`
    /// for was sent: a new source's first packet makes the switch (older
    /// routes are dropped from now on), and the packet becomes the one the
    /// next switch continues from, if it is the newest.
    pub fn commit(&mut self, prepared: Prepared) {
        self.epoch = prepared.epoch;
        self.source = Some(prepared.source);
        self.mapping = prepared.mapping;
        if prepared.splice.is_some() {
            self.splice = prepared.splice;
        }
        self.remember(prepared.header, prepared.now);
    }

    /// A packet `h` of the current stream, from a route of `epoch`, was
    /// consumed rather than sent (a decision key): the packets after it
    /// are numbered one lower, so the remote sees a stream without a gap.
    ///
    /// Only the route the remote hears counts: a stale route's packet was
    /// never going to be sent, and a newer route's first packet splices
    /// from the last one sent, which closes its gaps by itself. The SSRC
    /// alone cannot tell: two devices may use the same one.
    pub fn skip(&mut self, epoch: u64, h: RtpHeader) {
        if epoch != self.epoch || self.source != Some(h.ssrc) {
            return;
        }
        let m = self.mapping.get_or_insert(Mapping {
            ssrc: h.ssrc,
            seq_offset: 0,
            ts_offset: 0,
        });
        m.seq_offset = m.seq_offset.wrapping_sub(1);
    }

    /// How to rewrite an RTCP packet from a route of `epoch`.
    pub fn rtcp(&self, epoch: u64) -> RtcpRewrite {
        if epoch < self.epoch {
            return RtcpRewrite::Drop;
        }
        match (self.mapping, self.source) {
            (None, _) if self.last.is_none() || epoch == self.epoch => RtcpRewrite::Unchanged,
            (Some(m), Some(from)) if epoch == self.epoch => RtcpRewrite::Rename {
                from,
                to: m.ssrc,
                ts_offset: m.ts_offset,
            },
            _ => RtcpRewrite::Drop,
        }
    }

    /// The splice made by the latest switch to a new route, and that
    /// route's epoch; `None` before any switch after which the remote had
    /// heard something.
    pub fn last_splice(&self) -> Option<(u64, Splice)> {
        self.splice
    }

    fn remember(&mut self, out: RtpHeader, now: Instant) {
        let default_step = self.clock_rate / 50; // 20 ms packets
        match &mut self.last {
            Some(last) if last.ssrc == out.ssrc => {
                let ahead = out.sequence.wrapping_sub(last.sequence);
                // Only newer packets move `last`: a reordered one must not
                // make the next switch reuse a sequence number.
                if ahead == 0 || ahead >= 0x8000 {
                    return;
                }
                let dt = out.timestamp.wrapping_sub(last.timestamp);
                if ahead == 1 && dt > 0 && dt <= self.clock_rate {
                    last.step = dt;
                }
                last.sequence = out.sequence;
                last.timestamp = out.timestamp;
                last.at = now;
            }
            _ => {
                self.last = Some(Last {
                    ssrc: out.ssrc,
                    sequence: out.sequence,
                    timestamp: out.timestamp,
                    at: now,
                    step: default_step,
                });
            }
        }
    }
}

impl Last {
    /// The mapping that makes `first`, the first packet of a new source
    /// arriving at `now`, follow this packet.
    fn continue_with(&self, first: RtpHeader, now: Instant, clock_rate: u32) -> Mapping {
        let elapsed = ticks(now.saturating_duration_since(self.at), clock_rate);
        // At least one packet's worth, so the new audio never overlaps the
        // old; more if the gap in wall-clock time was longer.
        let advance = elapsed.max(self.step);
        let sequence = self.sequence.wrapping_add(1);
        let timestamp = self.timestamp.wrapping_add(advance);
        Mapping {
            ssrc: self.ssrc,
            seq_offset: sequence.wrapping_sub(first.sequence),
            ts_offset: timestamp.wrapping_sub(first.timestamp),
        }
    }
}

impl Last {
    /// The splice made by a new source's first packet, sent at `now`.
    fn splice_at(&self, now: Instant, clock_rate: u32) -> Splice {
        let gap = now.saturating_duration_since(self.at);
        let ptime = u128::from(self.step.max(1)) * 1_000_000_000 / u128::from(clock_rate);
        let intervals = (gap.as_nanos() + ptime / 2) / ptime.max(1);
        Splice {
            first_new_at: now,
            gap,
            missed_packets: intervals.saturating_sub(1).min(u128::from(u32::MAX)) as u32,
        }
    }
}

/// `d` in RTP clock units, saturating at half the timestamp space (the
/// most that can be told apart from going backwards).
fn ticks(d: Duration, clock_rate: u32) -> u32 {
    let t = d.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    t.min(u128::from(u32::MAX / 2)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn header(ssrc: u32, sequence: u16, timestamp: u32) -> RtpHeader {
        RtpHeader {
            ssrc: Ssrc(ssrc),
            sequence,
            timestamp,
            marker: false,
            payload_type: 0,
        }
    }

    /// A device's G.711 stream: 20 ms packets from a random-looking start.
    struct Device {
        ssrc: u32,
        seq: u16,
        ts: u32,
    }

    impl Device {
        fn next(&mut self) -> RtpHeader {
            let h = header(self.ssrc, self.seq, self.ts);
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(160);
            h
        }
    }

    #[test]
    fn consumed_packets_leave_no_gap_in_the_stream() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        let mut a = Device {
            ssrc: 7,
            seq: 65_530,
            ts: 0,
        };
        let mut sent = Vec::new();
        for i in 0..12u32 {
            let h = a.next();
            if (4..7).contains(&i) {
                r.skip(0, h); // three key packets consumed
                continue;
            }
            let out = r.rtp(t0 + MS20 * i, 0, h).expect("forwarded");
            assert_eq!(out.ssrc, Ssrc(7));
            sent.push(out.sequence);
        }
        for pair in sent.windows(2) {
            assert_eq!(pair[1], pair[0].wrapping_add(1), "{sent:?}");
        }
        // A packet of another stream is not this stream's gap.
        let before = r.mapping;
        r.skip(0, header(99, 1, 1));
        assert_eq!(r.mapping, before);
    }

    #[test]
    fn passes_through_until_the_first_switch() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        let mut a = Device {
            ssrc: 1,
            seq: 100,
            ts: 5000,
        };
        for i in 0..10 {
            let h = a.next();
            assert_eq!(r.rtp(t0 + MS20 * i, 1, h), Some(h));
        }
        assert_eq!(r.rtcp(1), RtcpRewrite::Unchanged);
    }

    #[test]
    fn two_switches_keep_one_ssrc_and_steps_of_one() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        let mut devices = [
            Device {
                ssrc: 0xaaaa,
                seq: 65_530,
                ts: 4_294_967_000,
            },
            Device {
                ssrc: 0xbbbb,
                seq: 7,
                ts: 123,
            },
            Device {
                ssrc: 0xcccc,
                seq: 40_000,
                ts: 2_000_000_000,
            },
        ];
        let mut out = Vec::new();
        let mut tick = 0u32;
        for (epoch, device) in devices.iter_mut().enumerate() {
            for _ in 0..30 {
                let now = t0 + MS20 * tick;
                tick += 1;
                out.push(
                    r.rtp(now, epoch as u64 + 1, device.next())
                        .expect("current"),
                );
            }
        }
        assert!(out.iter().all(|h| h.ssrc == Ssrc(0xaaaa)), "one SSRC");
        for w in out.windows(2) {
            assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1), "seq +1");
            assert_eq!(
                w[1].timestamp.wrapping_sub(w[0].timestamp),
                160,
                "ts +20 ms"
            );
        }
        assert!(out[30].marker && out[60].marker, "marker at each switch");
        assert!(!out[31].marker);
    }

    #[test]
    fn a_gap_at_the_switch_advances_the_timestamp_by_wall_clock() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        let last = r.rtp(t0, 1, header(1, 10, 1000)).expect("current");
        let first_b = r
            .rtp(t0 + Duration::from_millis(300), 2, header(2, 500, 77))
            .expect("current");
        assert_eq!(first_b.sequence, last.sequence + 1);
        assert_eq!(first_b.timestamp, last.timestamp + 2400, "300 ms at 8 kHz");
    }

    #[test]
    fn a_splice_counts_the_intervals_missing_between_the_streams() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        assert_eq!(r.last_splice(), None, "no switch yet");
        r.rtp(t0 + MS20, 1, header(1, 11, 1160));
        let at = t0 + MS20 + Duration::from_millis(100);
        r.rtp(at, 2, header(2, 500, 77));
        let (epoch, s) = r.last_splice().expect("spliced");
        assert_eq!(epoch, 2);
        assert_eq!(s.first_new_at, at);
        assert_eq!(s.gap, Duration::from_millis(100));
        assert_eq!(s.missed_packets, 4);
        // Later packets of the same source leave the report alone.
        r.rtp(at + MS20, 2, header(2, 501, 237));
        assert_eq!(r.last_splice(), Some((2, s)));
        // A continuous switch (one interval, give or take jitter) misses none.
        r.rtp(at + MS20 * 2 + Duration::from_millis(9), 3, header(3, 1, 1));
        assert_eq!(
            r.last_splice().map(|(e, s)| (e, s.missed_packets)),
            Some((3, 0))
        );
    }

    #[test]
    fn the_interval_is_the_old_streams_step() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        // 30 ms packets (240 units).
        r.rtp(t0, 1, header(1, 10, 0));
        r.rtp(t0 + Duration::from_millis(30), 1, header(1, 11, 240));
        r.rtp(t0 + Duration::from_millis(150), 2, header(2, 1, 1));
        let (_, s) = r.last_splice().expect("spliced");
        assert_eq!(s.missed_packets, 3, "120 ms is four intervals of 30 ms");
    }

    #[test]
    fn packets_from_the_old_route_are_dropped_after_the_switch() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        r.rtp(t0 + MS20, 2, header(2, 500, 77));
        assert_eq!(r.rtp(t0 + MS20, 1, header(1, 11, 1160)), None);
        assert_eq!(r.rtcp(1), RtcpRewrite::Drop);
    }

    #[test]
    fn reordering_in_the_new_source_stays_visible_and_is_not_reused() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000)); // out seq 10
        let b0 = r.rtp(t0 + MS20, 2, header(2, 100, 0)).expect("current"); // 11
        let b2 = r
            .rtp(t0 + MS20 * 2, 2, header(2, 102, 320))
            .expect("current"); // 13
        let b1 = r
            .rtp(t0 + MS20 * 3, 2, header(2, 101, 160))
            .expect("current"); // 12, late
        assert_eq!((b0.sequence, b1.sequence, b2.sequence), (11, 12, 13));
        let c = r.rtp(t0 + MS20 * 4, 3, header(3, 9, 9)).expect("current");
        assert_eq!(c.sequence, 14, "continues after the newest, not the latest");
    }

    #[test]
    fn rtcp_of_the_new_source_is_renamed() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        assert_eq!(
            r.rtcp(2),
            RtcpRewrite::Drop,
            "no RTP from the new source yet"
        );
        let b = r.rtp(t0 + MS20, 2, header(2, 500, 77)).expect("current");
        assert_eq!(
            r.rtcp(2),
            RtcpRewrite::Rename {
                from: Ssrc(2),
                to: Ssrc(1),
                ts_offset: b.timestamp.wrapping_sub(77),
            }
        );
    }

    #[test]
    fn a_new_ssrc_after_a_switch_still_continues_the_stream() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        r.rtp(t0 + MS20, 2, header(2, 500, 77));
        // Device B restarts its stream (new SSRC) without a re-point.
        let c = r
            .rtp(t0 + MS20 * 2, 2, header(3, 9000, 5))
            .expect("current");
        assert_eq!((c.ssrc, c.sequence), (Ssrc(1), 12));
    }

    #[test]
    fn a_packet_not_sent_is_not_continued_from() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        // A's 11 is numbered but its send fails: never committed.
        let lost = r
            .prepare(t0 + MS20, 1, header(1, 11, 1160))
            .expect("current");
        assert_eq!(lost.header.sequence, 11);
        let b = r
            .rtp(t0 + MS20 * 2, 2, header(2, 500, 77))
            .expect("current");
        assert_eq!(b.sequence, 11, "continues from the last packet R was sent");
    }

    #[test]
    fn a_switch_whose_first_packet_failed_is_still_pending() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        r.rtp(t0, 1, header(1, 10, 1000));
        // B's first packet fails to leave: R has not switched.
        let failed = r.prepare(t0 + MS20, 2, header(2, 500, 77)).expect("new");
        assert!(failed.header.marker);
        assert_eq!(r.last_splice(), None);
        // So A's in-flight packet is still R's stream, in order...
        let a = r.rtp(t0 + MS20, 1, header(1, 11, 1160)).expect("still A");
        assert_eq!(a.sequence, 11);
        // ...and B's next packet makes the switch, right after it.
        let b = r
            .rtp(t0 + MS20 * 2, 2, header(2, 501, 237))
            .expect("current");
        assert_eq!((b.ssrc, b.sequence, b.marker), (Ssrc(1), 12, true));
        assert_eq!(r.last_splice().map(|(e, _)| e), Some(2));
        assert_eq!(r.rtp(t0 + MS20 * 2, 1, header(1, 12, 1320)), None);
    }

    #[test]
    fn a_stale_routes_consumed_key_leaves_the_new_stream_alone() {
        let t0 = Instant::now();
        let mut r = StreamRewriter::new(8000);
        // Both devices happen to use SSRC 5.
        r.rtp(t0, 1, header(5, 10, 1000));
        let b0 = r.rtp(t0 + MS20, 2, header(5, 300, 0)).expect("current");
        r.skip(1, header(5, 11, 1160)); // A's key, judged with its old route
        r.skip(3, header(5, 301, 160)); // a route R does not hear yet
        let b1 = r
            .rtp(t0 + MS20 * 2, 2, header(5, 301, 160))
            .expect("current");
        assert_eq!(b1.sequence, b0.sequence.wrapping_add(1));
    }
}
