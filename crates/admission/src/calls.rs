//! Live calls per user: a caller or callee already in `limit` calls gets no
//! other one.

use std::collections::HashMap;
use std::hash::Hash;

/// Which side of a new call is over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallLimitExceeded {
    /// The caller already has `limit` calls up (answer `403`).
    #[error("the caller already has {limit} calls")]
    Caller {
        /// The limit.
        limit: u32,
    },
    /// The callee already has `limit` calls up (answer `486 Busy Here`).
    #[error("the callee already has {limit} calls")]
    Callee {
        /// The limit.
        limit: u32,
    },
}

/// Counts of live calls per user, and the users of each live call. Both
/// tables hold live calls only, so they are bounded by what the node
/// admits; a user's count goes when it falls to zero.
#[derive(Debug)]
pub struct CallCounter<C> {
    limit: u32,
    per_user: HashMap<String, u32>,
    calls: HashMap<C, (String, String)>,
}

impl<C: Hash + Eq> CallCounter<C> {
    /// At most `limit` live calls per user (0: no limit).
    pub fn new(limit: u32) -> Self {
        CallCounter {
            limit,
            per_user: HashMap::new(),
            calls: HashMap::new(),
        }
    }

    /// Live calls of `user` (as caller or callee).
    pub fn of(&self, user: &str) -> u32 {
        self.per_user.get(user).copied().unwrap_or(0)
    }

    /// Whether a call from `caller` to `callee` may start.
    ///
    /// # Errors
    /// The side over its limit, the caller first.
    pub fn admit(&self, caller: &str, callee: &str) -> Result<(), CallLimitExceeded> {
        if self.limit == 0 {
            return Ok(());
        }
        if self.of(caller) >= self.limit {
            return Err(CallLimitExceeded::Caller { limit: self.limit });
        }
        // A user calling itself (another of its devices) counts once per side.
        let callee_after = self.of(callee) + u32::from(callee == caller);
        if callee_after >= self.limit {
            return Err(CallLimitExceeded::Callee { limit: self.limit });
        }
        Ok(())
    }

    /// A call started: it counts for both users until [`Self::ended`].
    /// Starting the same call twice counts it once.
    pub fn started(&mut self, call: C, caller: &str, callee: &str) {
        if self.calls.contains_key(&call) {
            return;
        }
        for user in [caller, callee] {
            *self.per_user.entry(user.to_string()).or_insert(0) += 1;
        }
        self.calls
            .insert(call, (caller.to_string(), callee.to_string()));
    }

    /// A call ended; unknown calls are ignored (ending twice is harmless).
    pub fn ended(&mut self, call: &C) {
        let Some((caller, callee)) = self.calls.remove(call) else {
            return;
        };
        for user in [caller, callee] {
            if let Some(n) = self.per_user.get_mut(&user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_user.remove(&user);
                }
            }
        }
    }

    /// Live calls counted.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is counted.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_then_callee_limits_and_release() {
        let mut c = CallCounter::new(2);
        assert_eq!(c.admit("alice", "bob"), Ok(()));
        c.started(1, "alice", "bob");
        c.started(2, "alice", "carol");
        assert_eq!(
            c.admit("alice", "dave"),
            Err(CallLimitExceeded::Caller { limit: 2 })
        );
        c.started(3, "dave", "bob");
        assert_eq!(
            c.admit("erin", "bob"),
            Err(CallLimitExceeded::Callee { limit: 2 })
        );
        c.ended(&1);
        c.ended(&1);
        assert_eq!(c.of("alice"), 1);
        assert_eq!(c.of("bob"), 1);
        assert_eq!(c.admit("alice", "bob"), Ok(()));
        c.ended(&2);
        c.ended(&3);
        assert!(c.is_empty());
        assert!(c.per_user.is_empty());
    }

    #[test]
    fn calling_oneself_counts_both_sides() {
        let mut c = CallCounter::new(2);
        assert_eq!(c.admit("alice", "alice"), Ok(()));
        c.started(1, "alice", "alice");
        assert_eq!(c.of("alice"), 2);
        assert_eq!(
            c.admit("alice", "bob"),
            Err(CallLimitExceeded::Caller { limit: 2 })
        );
        c.ended(&1);
        assert_eq!(c.of("alice"), 0);
    }

    #[test]
    fn zero_means_no_limit() {
        let mut c = CallCounter::new(0);
        for i in 0..1000 {
            c.started(i, "a", "b");
        }
        assert_eq!(c.admit("a", "b"), Ok(()));
        assert_eq!(c.len(), 1000);
    }
}
