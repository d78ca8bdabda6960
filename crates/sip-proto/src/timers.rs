use std::fmt;
use std::time::{Duration, Instant};

/// The base timer values of RFC 3261 §17.1.1.1 and Appendix A.
///
/// Every other timer derives from these three; the methods below name each
/// derived timer after its letter in the RFC table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// T1, the round-trip time estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the maximum retransmit interval for non-INVITE requests and
    /// INVITE responses (default 4 s).
    pub t2: Duration,
    /// T4, the maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// The values clamped to what the machines can run with: T1 and T2 at
    /// least 1 ms (a zero retransmit interval would fire forever at one
    /// instant), T2 at least T1, and each at most an hour (so no deadline
    /// computation can overflow an `Instant`).
    pub fn sanitized(self) -> Timers {
        const MIN: Duration = Duration::from_millis(1);
        const MAX: Duration = Duration::from_secs(3600);
        let t1 = self.t1.clamp(MIN, MAX);
        Timers {
            t1,
            t2: self.t2.clamp(t1, MAX),
            t4: self.t4.min(MAX),
        }
    }

    /// 64·T1: Timers B, F, H, J (unreliable), L, M and the 2xx give-up time.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D (RFC 3261 §17.1.1.2): at least 32 s on unreliable transports,
    /// zero on reliable ones. 64·T1 when T1 is raised above its default.
    pub fn d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }

    /// Timer I (RFC 3261 §17.2.1): T4 unreliable, zero reliable.
    pub fn i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J (RFC 3261 §17.2.2): 64·T1 unreliable, zero reliable.
    pub fn j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }

    /// Timer K (RFC 3261 §17.1.2.2): T4 unreliable, zero reliable.
    pub fn k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// The next interval of a retransmit timer that doubles up to T2
    /// (Timers E and G, and 2xx retransmission).
    pub fn backoff_capped(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// The delay after which an INVITE server transaction answers `100 Trying`
/// on the TU's behalf (RFC 3261 §17.2.1).
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// A transaction timer, named as in RFC 3261 Appendix A and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit interval (unreliable transports).
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait time for response retransmits (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit interval (unreliable transports).
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE final response retransmit interval.
    G,
    /// Wait time for ACK receipt.
    H,
    /// Wait time for ACK retransmits.
    I,
    /// Wait time for non-INVITE request retransmits.
    J,
    /// Wait time for response retransmits (client non-INVITE, Completed).
    K,
    /// Wait time for accepted INVITE request retransmits (RFC 6026).
    L,
    /// Wait time for retransmission of 2xx to INVITE (RFC 6026).
    M,
    /// The 200 ms after which the server sends `100 Trying` (RFC 3261 §17.2.1).
    Trying,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Timer::A => "A",
            Timer::B => "B",
            Timer::D => "D",
            Timer::E => "E",
            Timer::F => "F",
            Timer::G => "G",
            Timer::H => "H",
            Timer::I => "I",
            Timer::J => "J",
            Timer::K => "K",
            Timer::L => "L",
            Timer::M => "M",
            Timer::Trying => "Trying",
        };
        write!(f, "Timer {name}")
    }
}

/// True when an armed deadline has been reached.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|t| t <= now)
}

/// The earliest of some optional deadlines.
pub(crate) fn earliest<const N: usize>(deadlines: [Option<Instant>; N]) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}
