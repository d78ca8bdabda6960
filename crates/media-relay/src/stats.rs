//! What a leg counts, per direction: packets, bytes, drops by reason, and
//! the loss its remote's RTP stream shows.

use std::net::SocketAddr;

/// Why a datagram was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// It came from an address the leg does not accept (another host, or a
    /// port other than the latched one).
    UnexpectedSource,
    /// It is not valid RTP or RTCP.
    Malformed,
    /// The leg is not bridged, its partner has no remote address yet, or the
    /// leg was re-pointed away while the datagram was in flight.
    NoDestination,
    /// It is larger than [`crate::RelayConfig::max_packet`].
    TooLarge,
    /// The operating system refused to send it (e.g. a full send buffer):
    /// the relay never blocks the forwarding path to wait.
    SendFailed,
    /// A telephone-event for a key the leg is watched for
    /// ([`crate::LegHandle::watch_keys`]): taken by Baton, not forwarded.
    DtmfConsumed,
    /// It came from a leg that only listens to a monitor mix
    /// ([`crate::Relay::monitor`]): nothing it sends is forwarded.
    Monitor,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 7] = [
        DropReason::UnexpectedSource,
        DropReason::Malformed,
        DropReason::NoDestination,
        DropReason::TooLarge,
        DropReason::SendFailed,
        DropReason::DtmfConsumed,
        DropReason::Monitor,
    ];

    /// The metric label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::UnexpectedSource => "unexpected_source",
            DropReason::Malformed => "malformed",
            DropReason::NoDestination => "no_destination",
            DropReason::TooLarge => "too_large",
            DropReason::SendFailed => "send_failed",
            DropReason::DtmfConsumed => "dtmf_consumed",
            DropReason::Monitor => "monitor",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Drops by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// Datagrams dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// Datagrams dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub(crate) fn add(&mut self, reason: DropReason, n: u64) {
        self.counts[reason.index()] += n;
    }
}

/// The traffic of one direction of a leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams (RTP and RTCP). Inbound: every datagram that arrived on the
    /// leg's ports, dropped or not. Outbound: every datagram sent to the
    /// leg's remote.
    pub packets: u64,
    /// Their UDP payload bytes.
    pub bytes: u64,
    /// Datagrams dropped in this direction, by reason. Inbound drops are
    /// decided on arrival; outbound ones are [`DropReason::SendFailed`].
    pub dropped: DropCounts,
}

impl DirectionStats {
    pub(crate) fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

/// The loss of the remote's RTP stream, RFC 3550 A.3 style, summed over
/// every SSRC the leg has received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossStats {
    /// Packets expected from the sequence numbers seen.
    pub expected: u64,
    /// Packets expected but not received.
    pub lost: u64,
}

impl LossStats {
    /// `lost / expected`, 0 when nothing was expected.
    pub fn fraction(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 / self.expected as f64
        }
    }
}

/// A snapshot of one leg's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegStats {
    /// From the remote to the relay.
    pub inbound: DirectionStats,
    /// From the relay to the remote.
    pub outbound: DirectionStats,
    /// Loss on the inbound RTP stream.
    pub loss: LossStats,
    /// The RTP source the leg has latched onto, if any.
    pub latched_rtp: Option<SocketAddr>,
    /// The RTCP source the leg has latched onto, if any.
    pub latched_rtcp: Option<SocketAddr>,
}
