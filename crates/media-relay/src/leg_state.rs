//! The pure state of one leg: which sources its ports accept, whether a
//! datagram is valid RTP or RTCP, what it counts, when it last heard its
//! remote. No sockets and no clock: the I/O edge passes `now` in.

use crate::latch::{Admission, Latch};
use crate::rtcp::is_valid_compound;
use crate::rtp::{is_rtcp_mux, RtpHeader};
use crate::sequence::SequenceTracker;
use crate::{DirectionStats, DropReason, LossStats, Ssrc};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which of a leg's two ports a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The even port.
    Rtp,
    /// The odd port.
    Rtcp,
}

/// What to do with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward this RTP packet.
    Rtp(RtpHeader),
    /// Forward this RTCP packet, out of the same kind of port it came in on
    /// (RTCP multiplexed on the RTP port, RFC 5761, stays there).
    Rtcp,
    /// Drop it; already counted.
    Drop(DropReason),
}

/// One leg's latching, validation, counters and loss accounting.
#[derive(Debug, Clone)]
pub struct LegState {
    rtp: Latch,
    rtcp: Latch,
    max_packet: usize,
    inbound: DirectionStats,
    source: Option<(Ssrc, SequenceTracker)>,
    /// Loss of the sources seen before the current one.
    earlier_loss: LossStats,
    last_activity: Instant,
    /// A destination moved since [`LegState::take_destinations_changed`].
    destinations_changed: bool,
}

impl LegState {
    /// A leg created at `now`, expecting RTP from `expected` (RTCP from the
    /// port above), refusing datagrams over `max_packet` bytes.
    pub fn new(
        now: Instant,
        expected: Option<SocketAddr>,
        strict: bool,
        max_packet: usize,
    ) -> Self {
        LegState {
            rtp: Latch::new(expected, strict),
            rtcp: Latch::new(expected.map(rtcp_of), strict),
            max_packet,
            inbound: DirectionStats::default(),
            source: None,
            earlier_loss: LossStats::default(),
            last_activity: now,
            destinations_changed: false,
        }
    }

    /// Judges and counts a datagram that arrived at `now` from `source` on
    /// `port`. Sources are checked before contents, so a stranger's garbage
    /// counts as `unexpected_source`; only a valid packet can latch.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        port: Port,
        source: SocketAddr,
        data: &[u8],
    ) -> Verdict {
        self.inbound.add(data.len());
        if data.len() > self.max_packet {
            return self.drop(DropReason::TooLarge);
        }
        let latch = match port {
            Port::Rtp => &mut self.rtp,
            Port::Rtcp => &mut self.rtcp,
        };
        let admission = latch.admit(source);
        if admission == Admission::Refuse {
            return self.drop(DropReason::UnexpectedSource);
        }
        let verdict = match port {
            Port::Rtp if is_rtcp_mux(data) => is_valid_compound(data).then_some(Verdict::Rtcp),
            Port::Rtp => RtpHeader::parse(data).map(Verdict::Rtp),
            Port::Rtcp => is_valid_compound(data).then_some(Verdict::Rtcp),
        };
        let Some(verdict) = verdict else {
            return self.drop(DropReason::Malformed);
        };
        if admission == Admission::Learn {
            self.destinations_changed |= latch.latched() != Some(source);
            latch.learn(source);
        }
        self.last_activity = now;
        if let Verdict::Rtp(h) = verdict {
            self.track(h);
        }
        verdict
    }

    /// Counts a drop decided after [`LegState::on_datagram`] accepted the
    /// datagram (no route, no destination, a stale route).
    pub fn dropped(&mut self, reason: DropReason) {
        self.inbound.dropped.add(reason, 1);
    }

    fn drop(&mut self, reason: DropReason) -> Verdict {
        self.dropped(reason);
        Verdict::Drop(reason)
    }

    fn track(&mut self, h: RtpHeader) {
        match &mut self.source {
            Some((ssrc, tracker)) if *ssrc == h.ssrc => {
                tracker.update(h.sequence);
            }
            current => {
                if let Some((_, old)) = current.take() {
                    self.earlier_loss.expected += old.expected();
                    self.earlier_loss.lost += old.lost();
                }
                *current = Some((h.ssrc, SequenceTracker::new(h.sequence)));
            }
        }
    }

    /// The SDP address changed (or arrived). RTCP is expected on the port
    /// above (RFC 3550 §11).
    pub fn set_expected(&mut self, expected: Option<SocketAddr>) {
        self.rtp.set_expected(expected);
        self.rtcp.set_expected(expected.map(rtcp_of));
        self.destinations_changed = true;
    }

    /// Whether [`LegState::rtp_destination`] or
    /// [`LegState::rtcp_destination`] may have changed since the last call.
    /// The I/O edge publishes them to other threads when it says so, before
    /// forwarding the packet that moved them: a reply to that packet must
    /// find the new destination.
    pub fn take_destinations_changed(&mut self) -> bool {
        std::mem::take(&mut self.destinations_changed)
    }

    /// Where RTP for this leg's remote goes: the latched source, else the
    /// SDP address.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        self.rtp.destination()
    }

    /// Where RTCP for this leg's remote goes: the latched RTCP source, else
    /// the port above wherever RTP goes.
    pub fn rtcp_destination(&self) -> Option<SocketAddr> {
        self.rtcp
            .latched()
            .or_else(|| self.rtp.latched().map(rtcp_of))
            .or(self.rtcp.expected())
    }

    /// The latched RTP source.
    pub fn latched_rtp(&self) -> Option<SocketAddr> {
        self.rtp.latched()
    }

    /// The latched RTCP source.
    pub fn latched_rtcp(&self) -> Option<SocketAddr> {
        self.rtcp.latched()
    }

    /// Inbound counters.
    pub fn inbound(&self) -> DirectionStats {
        self.inbound
    }

    /// Loss over every source received so far.
    pub fn loss(&self) -> LossStats {
        let mut loss = self.earlier_loss;
        if let Some((_, t)) = &self.source {
            loss.expected += t.expected();
            loss.lost += t.lost();
        }
        loss
    }

    /// When the remote last sent a packet the leg accepted (creation time
    /// until then).
    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    /// How long the remote has been silent at `now`: for inactivity
    /// timeouts (a phone that vanished without BYE).
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_activity)
    }
}

fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::tests::sender_report;
    use crate::rtp::tests::packet;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn rtp(seq: u16) -> Vec<u8> {
        packet(0, seq, u32::from(seq) * 160, 0x1234, &[0xd5; 160])
    }

    #[test]
    fn latches_on_the_first_valid_packet_and_drops_strangers() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let phone = addr("198.51.100.7:40000");
        assert_eq!(leg.rtp_destination(), None);
        assert!(matches!(
            leg.on_datagram(t0, Port::Rtp, phone, &rtp(1)),
            Verdict::Rtp(_)
        ));
        assert_eq!(leg.rtp_destination(), Some(phone));
        assert_eq!(leg.rtcp_destination(), Some(addr("198.51.100.7:40001")));
        let stranger = addr("203.0.113.1:40000");
        assert_eq!(
            leg.on_datagram(t0, Port::Rtp, stranger, &rtp(2)),
            Verdict::Drop(DropReason::UnexpectedSource)
        );
        assert_eq!(leg.inbound().dropped.get(DropReason::UnexpectedSource), 1);
        assert_eq!(leg.inbound().packets, 2);
    }

    #[test]
    fn malformed_packets_do_not_latch() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let junk = addr("203.0.113.1:1");
        assert_eq!(
            leg.on_datagram(t0, Port::Rtp, junk, b"GET / HTTP/1.0\r\n"),
            Verdict::Drop(DropReason::Malformed)
        );
        assert_eq!(leg.latched_rtp(), None);
        let phone = addr("198.51.100.7:40000");
        assert!(matches!(
            leg.on_datagram(t0, Port::Rtp, phone, &rtp(1)),
            Verdict::Rtp(_)
        ));
        assert_eq!(leg.latched_rtp(), Some(phone));
    }

    #[test]
    fn strict_mode_takes_only_the_sdp_host() {
        let t0 = Instant::now();
        let sdp = addr("192.0.2.10:30000");
        let mut leg = LegState::new(t0, Some(sdp), true, 1500);
        assert_eq!(
            leg.on_datagram(t0, Port::Rtp, addr("192.0.2.11:30000"), &rtp(1)),
            Verdict::Drop(DropReason::UnexpectedSource)
        );
        let moved = addr("192.0.2.10:30010");
        assert!(matches!(
            leg.on_datagram(t0, Port::Rtp, moved, &rtp(2)),
            Verdict::Rtp(_)
        ));
        assert_eq!(leg.rtp_destination(), Some(moved));
    }

    #[test]
    fn oversized_datagrams_are_dropped_before_anything_else() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 100);
        assert_eq!(
            leg.on_datagram(t0, Port::Rtp, addr("192.0.2.1:1"), &rtp(1)),
            Verdict::Drop(DropReason::TooLarge)
        );
        assert_eq!(leg.latched_rtp(), None);
    }

    #[test]
    fn rtcp_is_validated_and_latched_on_its_own_port() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let phone_rtcp = addr("198.51.100.7:40001");
        assert_eq!(
            leg.on_datagram(t0, Port::Rtcp, phone_rtcp, &sender_report(1, 2)),
            Verdict::Rtcp
        );
        assert_eq!(leg.latched_rtcp(), Some(phone_rtcp));
        assert_eq!(
            leg.on_datagram(t0, Port::Rtcp, phone_rtcp, &rtp(1)),
            Verdict::Drop(DropReason::Malformed),
            "RTP on the RTCP port"
        );
    }

    #[test]
    fn rtcp_multiplexed_on_the_rtp_port_is_recognised() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let phone = addr("198.51.100.7:40000");
        assert_eq!(
            leg.on_datagram(t0, Port::Rtp, phone, &sender_report(1, 2)),
            Verdict::Rtcp
        );
    }

    #[test]
    fn telephone_events_pass_as_rtp() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        // RFC 4733 event 5, end bit, volume 10, duration 800, PT 101.
        let dtmf = packet(0x80 | 101, 9, 4000, 0x1234, &[5, 0x80 | 10, 0x03, 0x20]);
        let Verdict::Rtp(h) = leg.on_datagram(t0, Port::Rtp, addr("192.0.2.1:2"), &dtmf) else {
            panic!("telephone-event refused");
        };
        assert_eq!(h.payload_type, 101);
    }

    #[test]
    fn loss_is_counted_across_a_change_of_source() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let phone = addr("198.51.100.7:40000");
        for seq in (1..=50u16).filter(|s| *s != 20) {
            leg.on_datagram(t0, Port::Rtp, phone, &rtp(seq));
        }
        for seq in 1000..1020u16 {
            let p = packet(0, seq, 0, 0x9999, &[0; 10]);
            leg.on_datagram(t0, Port::Rtp, phone, &p);
        }
        assert_eq!(leg.loss().lost, 1);
        assert_eq!(leg.loss().expected, 49 + 19);
    }

    #[test]
    fn idle_time_runs_from_the_last_accepted_packet() {
        let t0 = Instant::now();
        let mut leg = LegState::new(t0, None, false, 1500);
        let t1 = t0 + Duration::from_secs(3);
        leg.on_datagram(t1, Port::Rtp, addr("192.0.2.1:2"), &rtp(1));
        let t2 = t1 + Duration::from_secs(5);
        leg.on_datagram(t2, Port::Rtp, addr("192.0.2.9:2"), &rtp(2)); // refused
        assert_eq!(leg.idle_for(t2), Duration::from_secs(5));
    }
}
