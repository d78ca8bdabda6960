//! The errors of this crate: one enum per operation, one variant per cause.

use crate::{LegId, PortRange};
use std::io;
use thiserror::Error;

/// Why a port range string (`"20000-29999"`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PortRangeError {
    /// Not two decimal port numbers joined by `-`.
    #[error("`{found}` is not a port range (expected `FIRST-LAST`, e.g. `20000-29999`)")]
    Syntax {
        /// The text that was given.
        found: String,
    },
    /// The first port is above the last.
    #[error("`{first}-{last}` is not a port range: {first} is above {last}")]
    Reversed {
        /// The first port given.
        first: u16,
        /// The last port given.
        last: u16,
    },
    /// Port 0 is not a port one can be reached on.
    #[error("port 0 cannot be in a media port range")]
    PortZero,
    /// The range holds no even RTP port with its odd RTCP port beside it.
    #[error("`{first}-{last}` holds no even/odd port pair")]
    NoPair {
        /// The first port given.
        first: u16,
        /// The last port given.
        last: u16,
    },
}

/// Why a relay operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Every pair of the range is allocated to a leg.
    #[error("every port pair of {range} is in use")]
    PortsExhausted {
        /// The configured range.
        range: PortRange,
    },
    /// Every free pair of the range was tried and none could be bound
    /// (another process holds them, or the address is not local).
    #[error("no free port pair of {range} could be bound: {source}")]
    Bind {
        /// The configured range.
        range: PortRange,
        /// The last OS error seen.
        source: io::Error,
    },
    /// A worker thread or its poller could not be created.
    #[error("cannot start a relay worker: {source}")]
    Worker {
        /// The OS error.
        source: io::Error,
    },
    /// The leg has been closed.
    #[error("leg {leg} is closed")]
    LegClosed {
        /// The leg.
        leg: LegId,
    },
    /// The leg already forwards to another leg.
    #[error("leg {leg} is already bridged")]
    AlreadyBridged {
        /// The leg.
        leg: LegId,
    },
    /// Both ends of a bridge are the same leg.
    #[error("leg {leg} cannot be bridged to itself")]
    SameLeg {
        /// The leg.
        leg: LegId,
    },
    /// The leg to re-point away from is not an end of this bridge.
    #[error("leg {leg} is not an end of this bridge")]
    NotInBridge {
        /// The leg.
        leg: LegId,
    },
    /// A leg cannot monitor a bridge it is an end of.
    #[error("leg {leg} is an end of the bridge it would monitor")]
    MonitorOwnBridge {
        /// The would-be listener.
        leg: LegId,
    },
    /// The bridge end already feeds another listener's monitor.
    #[error("leg {leg} already feeds a monitor")]
    AlreadyMonitored {
        /// The bridge end.
        leg: LegId,
    },
    /// The relay's workers have stopped.
    #[error("the relay is shut down")]
    Shutdown,
}
