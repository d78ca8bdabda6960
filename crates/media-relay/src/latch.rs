//! Symmetric RTP latching: which source a leg's port accepts.
//!
//! Behind NAT the address in SDP is often not where packets come from, so
//! by default the first valid packet teaches the leg its remote ("latches"),
//! and from then on only that source is accepted: anyone else who finds the
//! port cannot inject media or steal the stream (RTP bleed). In `strict`
//! mode the source's IP must be the one SDP named; the port may still move,
//! as some phones re-bind between re-INVITEs.

use std::net::SocketAddr;

/// What a [`Latch`] says about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The latched source: accept.
    Latched,
    /// Accept, and latch onto this source if the packet is valid.
    Learn,
    /// Not a source this port accepts.
    Refuse,
}

/// The latching state of one port (RTP or RTCP) of a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latch {
    expected: Option<SocketAddr>,
    strict: bool,
    latched: Option<SocketAddr>,
}

impl Latch {
    /// A latch expecting `expected` (from SDP; absent until the answer, or
    /// wrong behind NAT).
    pub fn new(expected: Option<SocketAddr>, strict: bool) -> Self {
        Latch {
            expected,
            strict,
            latched: None,
        }
    }

    /// Whether a packet from `source` is accepted.
    pub fn admit(&self, source: SocketAddr) -> Admission {
        if self.latched == Some(source) {
            return Admission::Latched;
        }
        if self.strict {
            // Only the SDP host; the port may move within it.
            return match self.expected {
                Some(e) if e.ip() == source.ip() => Admission::Learn,
                _ => Admission::Refuse,
            };
        }
        match self.latched {
            None => Admission::Learn,
            // The address SDP named wins the latch back: otherwise whoever
            // sent first (a scanner racing the real phone) would keep it.
            Some(_) if self.expected == Some(source) => Admission::Learn,
            Some(_) => Admission::Refuse,
        }
    }

    /// Latches onto `source`. Call after [`Latch::admit`] said `Learn` and
    /// the packet proved valid.
    pub fn learn(&mut self, source: SocketAddr) {
        self.latched = Some(source);
    }

    /// A new expected address (a re-INVITE moved the media). The latch is
    /// forgotten when the host changes, kept when only confirming it.
    pub fn set_expected(&mut self, expected: Option<SocketAddr>) {
        if expected.map(|e| e.ip()) != self.expected.map(|e| e.ip()) {
            self.latched = None;
        }
        self.expected = expected;
    }

    /// The latched source.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The expected address.
    pub fn expected(&self) -> Option<SocketAddr> {
        self.expected
    }

    /// Where to send to this remote: the latched source if any (symmetric
    /// RTP, RFC 4961), else the SDP address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn first_source_latches_then_only_it_is_accepted() {
        let mut l = Latch::new(Some(addr("192.0.2.1:4000")), false);
        let nat = addr("198.51.100.7:61000");
        assert_eq!(l.admit(nat), Admission::Learn, "NAT: SDP address is wrong");
        l.learn(nat);
        assert_eq!(l.admit(nat), Admission::Latched);
        assert_eq!(l.admit(addr("203.0.113.9:5000")), Admission::Refuse);
        assert_eq!(l.admit(addr("198.51.100.7:61002")), Admission::Refuse);
        assert_eq!(l.destination(), Some(nat));
    }

    #[test]
    fn the_sdp_address_wins_the_latch_back() {
        let sdp = addr("192.0.2.1:4000");
        let mut l = Latch::new(Some(sdp), false);
        l.learn(addr("203.0.113.9:5000"));
        assert_eq!(l.admit(sdp), Admission::Learn);
    }

    #[test]
    fn without_sdp_the_destination_waits_for_the_latch() {
        let mut l = Latch::new(None, false);
        assert_eq!(l.destination(), None);
        l.learn(addr("192.0.2.1:4000"));
        assert_eq!(l.destination(), Some(addr("192.0.2.1:4000")));
    }

    #[test]
    fn strict_accepts_only_the_sdp_host_and_relatches_on_its_ports() {
        let mut l = Latch::new(Some(addr("192.0.2.1:4000")), true);
        assert_eq!(l.admit(addr("198.51.100.7:4000")), Admission::Refuse);
        assert_eq!(l.admit(addr("192.0.2.1:4000")), Admission::Learn);
        l.learn(addr("192.0.2.1:4000"));
        assert_eq!(l.admit(addr("192.0.2.1:4000")), Admission::Latched);
        assert_eq!(
            l.admit(addr("192.0.2.1:4100")),
            Admission::Learn,
            "port moved"
        );
        l.learn(addr("192.0.2.1:4100"));
        assert_eq!(l.destination(), Some(addr("192.0.2.1:4100")));
        assert_eq!(l.admit(addr("198.51.100.7:4100")), Admission::Refuse);
    }

    #[test]
    fn strict_without_sdp_accepts_nothing() {
        let l = Latch::new(None, true);
        assert_eq!(l.admit(addr("192.0.2.1:4000")), Admission::Refuse);
    }

    #[test]
    fn a_new_host_forgets_the_latch_a_confirmed_one_keeps_it() {
        let mut l = Latch::new(Some(addr("192.0.2.1:4000")), false);
        l.learn(addr("192.0.2.1:4002"));
        l.set_expected(Some(addr("192.0.2.1:4000")));
        assert_eq!(l.latched(), Some(addr("192.0.2.1:4002")));
        l.set_expected(Some(addr("192.0.2.50:4000")));
        assert_eq!(l.latched(), None);
        assert_eq!(l.destination(), Some(addr("192.0.2.50:4000")));
    }
}
