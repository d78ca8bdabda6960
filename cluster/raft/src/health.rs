//! [`LogHealth`]: whether the log can take writes, shared by the cluster
//! node, its batcher and the node's readiness probe.
//!
//! A log that cannot commit must not be hidden behind `200`s: a node whose
//! disk is full keeps answering calls it can never record, and a restart
//! then forgets them. So every path that learns the log cannot commit (a
//! storage error that stopped Raft, a failed proposal, a command dropped
//! because the batcher's queue overflowed) marks it here, and the node
//! refuses new work while it is marked.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::metrics as m;

/// Why the log cannot be trusted to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LogFault {
    /// Raft stopped on a storage error (I/O error, full disk): nothing will
    /// be written again until the node restarts. Sticky.
    Stopped = 1,
    /// A batch's proposal failed without stopping Raft (no leader, …).
    /// Cleared by the next batch that commits.
    ProposalFailed = 2,
    /// A command of a call already up was dropped because the batcher's
    /// queue was full: the table no longer matches the calls. Sticky.
    QueueOverflow = 3,
}

impl LogFault {
    /// A bounded label value and the one-line reason `/readyz` gives.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFault::Stopped => "log_stopped",
            LogFault::ProposalFailed => "proposal_failed",
            LogFault::QueueOverflow => "queue_overflow",
        }
    }

    /// Whether only a restart clears it.
    pub fn is_sticky(self) -> bool {
        matches!(self, LogFault::Stopped | LogFault::QueueOverflow)
    }

    fn from_u8(v: u8) -> Option<LogFault> {
        match v {
            1 => Some(LogFault::Stopped),
            2 => Some(LogFault::ProposalFailed),
            3 => Some(LogFault::QueueOverflow),
            _ => None,
        }
    }
}

impl std::fmt::Display for LogFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The log's health flag: healthy, or the first fault that still holds.
/// Cheap to clone (one shared atomic); reading it takes no lock.
#[derive(Debug, Clone, Default)]
pub struct LogHealth(Arc<AtomicU8>);

impl LogHealth {
    /// A healthy log.
    pub fn new() -> Self {
        let health = LogHealth::default();
        metrics::gauge!(m::LOG_HEALTHY).set(1.0);
        health
    }

    /// The fault that holds now, if any.
    pub fn fault(&self) -> Option<LogFault> {
        LogFault::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Whether the log is taking writes.
    pub fn is_healthy(&self) -> bool {
        self.fault().is_none()
    }

    /// Records `fault`. A sticky fault is never replaced; a transient one
    /// is replaced by a sticky one. Returns whether the state changed (so
    /// that the caller logs the transition once, not once per command).
    pub fn mark(&self, fault: LogFault) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let replace = match LogFault::from_u8(current) {
                None => true,
                Some(held) if held == fault => false,
                Some(held) => !held.is_sticky() && fault.is_sticky(),
            };
            if !replace {
                return false;
            }
            match self
                .0
                .compare_exchange(current, fault as u8, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    metrics::counter!(m::LOG_FAULTS, "fault" => fault.as_str()).increment(1);
                    metrics::gauge!(m::LOG_HEALTHY).set(0.0);
                    return true;
                }
                Err(now) => current = now,
            }
        }
    }

    /// A batch committed: clears a transient fault (a sticky one stays).
    pub(crate) fn committed(&self) {
        let transient = LogFault::ProposalFailed as u8;
        if self
            .0
            .compare_exchange(transient, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            metrics::gauge!(m::LOG_HEALTHY).set(1.0);
            tracing::info!("the call log commits again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sticky_fault_stays_and_a_transient_one_clears_on_commit() {
        let h = LogHealth::new();
        assert!(h.is_healthy());
        assert!(h.mark(LogFault::ProposalFailed));
        assert!(
            !h.mark(LogFault::ProposalFailed),
            "no change, no second log line"
        );
        h.committed();
        assert!(h.is_healthy());
        assert!(h.mark(LogFault::ProposalFailed));
        assert!(h.mark(LogFault::Stopped), "sticky replaces transient");
        assert!(!h.mark(LogFault::ProposalFailed));
        assert!(
            !h.mark(LogFault::QueueOverflow),
            "the first sticky fault stays"
        );
        h.committed();
        assert_eq!(h.fault(), Some(LogFault::Stopped));
        let clone = h.clone();
        assert_eq!(
            clone.fault(),
            Some(LogFault::Stopped),
            "clones share the flag"
        );
    }
}
