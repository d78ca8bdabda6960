//! Failed digests by key: `threshold` failures within `window` ban the key
//! for `ban`, doubled on every repeat (up to `max_ban`) while the key is
//! remembered.

use crate::capped::CappedMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// When failures turn into a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures within `window` that start a ban (0 turns bans off).
    pub threshold: u32,
    /// The window the failures are counted in (it restarts at the first
    /// failure after it lapsed).
    pub window: Duration,
    /// The first ban's length.
    pub ban: Duration,
    /// The longest ban: each repeat doubles the previous one up to this.
    pub max_ban: Duration,
}

#[derive(Debug)]
struct Record {
    failures: u32,
    window_start: Instant,
    /// Bans so far (the next one is `ban << strikes`).
    strikes: u32,
    banned_until: Option<Instant>,
}

/// Failure counts and bans by key, at most `cap` keys.
#[derive(Debug)]
pub struct FailureTracker<K> {
    policy: BanPolicy,
    records: CappedMap<K, Record>,
}

impl<K: Hash + Eq + Clone> FailureTracker<K> {
    /// A tracker for `policy`, remembering at most `cap` keys (the idlest
    /// is forgotten first).
    pub fn new(policy: BanPolicy, cap: usize) -> Self {
        FailureTracker {
            policy,
            records: CappedMap::new(cap),
        }
    }

    /// Until when `key` is banned, if it is at `now`.
    pub fn banned_until(&self, now: Instant, key: &K) -> Option<Instant> {
        self.records
            .peek(key)
            .and_then(|r| r.banned_until)
            .filter(|until| *until > now)
    }

    /// Records one failure of `key` at `now`; returns the ban's length
    /// when this failure starts one.
    pub fn failed(&mut self, now: Instant, key: &K) -> Option<Duration> {
        let policy = self.policy;
        if policy.threshold == 0 {
            return None;
        }
        let record = self.records.touch(now, key, || Record {
            failures: 0,
            window_start: now,
            strikes: 0,
            banned_until: None,
        });
        if record.banned_until.is_some_and(|until| until > now) {
            // Already banned (failures from a banned key are normally never
            // seen; a per-user ban lets trusted sources through).
            return None;
        }
        if now.saturating_duration_since(record.window_start) > policy.window {
            record.failures = 0;
            record.window_start = now;
        }
        record.failures += 1;
        if record.failures < policy.threshold {
            return None;
        }
        let ban = policy
            .ban
            .checked_mul(1u32.checked_shl(record.strikes).unwrap_or(u32::MAX))
            .unwrap_or(policy.max_ban)
            .min(policy.max_ban);
        record.strikes = record.strikes.saturating_add(1);
        record.failures = 0;
        record.window_start = now;
        record.banned_until = now.checked_add(ban);
        Some(ban)
    }

    /// A success of `key`: its failure count starts again (the strikes of
    /// past bans are kept).
    pub fn succeeded(&mut self, now: Instant, key: &K) {
        if let Some(record) = self.records.touch_existing(now, key) {
            record.failures = 0;
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// Forgets keys untouched since `before` that are not banned at `now`
    /// (their strikes go with them).
    pub fn sweep(&mut self, now: Instant, before: Instant) -> usize {
        self.records
            .sweep(before, |r| r.banned_until.is_none_or(|until| until <= now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BanPolicy = BanPolicy {
        threshold: 3,
        window: Duration::from_secs(60),
        ban: Duration::from_secs(30),
        max_ban: Duration::from_secs(100),
    };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn threshold_failures_ban_and_repeats_ban_longer() {
        let t0 = Instant::now();
        let mut f = FailureTracker::new(POLICY, 16);
        assert_eq!(f.failed(t0, &"x"), None);
        assert_eq!(f.failed(t0, &"x"), None);
        assert_eq!(f.failed(t0, &"x"), Some(s(30)));
        assert_eq!(f.banned_until(t0 + s(29), &"x"), Some(t0 + s(30)));
        assert_eq!(f.banned_until(t0 + s(30), &"x"), None);
        assert_eq!(f.banned_until(t0, &"y"), None);
        // Again after the ban: 60 s, then 100 s (the maximum), and it stays there.
        let t1 = t0 + s(31);
        f.failed(t1, &"x");
        f.failed(t1, &"x");
        assert_eq!(f.failed(t1, &"x"), Some(s(60)));
        let t2 = t1 + s(61);
        f.failed(t2, &"x");
        f.failed(t2, &"x");
        assert_eq!(f.failed(t2, &"x"), Some(s(100)));
        let t3 = t2 + s(101);
        f.failed(t3, &"x");
        f.failed(t3, &"x");
        assert_eq!(f.failed(t3, &"x"), Some(s(100)));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_ban() {
        let t0 = Instant::now();
        let mut f = FailureTracker::new(POLICY, 16);
        for i in 0..10 {
            // Two failures in a window at most.
            assert_eq!(f.failed(t0 + s(40 * i), &1), None, "failure {i}");
        }
        // A success clears the count.
        f.failed(t0 + s(1000), &1);
        f.failed(t0 + s(1000), &1);
        f.succeeded(t0 + s(1000), &1);
        assert_eq!(f.failed(t0 + s(1000), &1), None);
    }

    #[test]
    fn threshold_zero_never_bans() {
        let t0 = Instant::now();
        let mut f = FailureTracker::new(
            BanPolicy {
                threshold: 0,
                ..POLICY
            },
            16,
        );
        for _ in 0..100 {
            assert_eq!(f.failed(t0, &1), None);
        }
        assert!(f.is_empty());
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_capped_and_sweeps() {
        let t0 = Instant::now();
        let mut f = FailureTracker::new(POLICY, 128);
        for i in 0..100_000u32 {
            f.failed(t0, &i);
        }
        assert_eq!(f.len(), 128);
        for _ in 0..3 {
            f.failed(t0, &7u32);
        }
        assert!(f.banned_until(t0, &7).is_some());
        // The banned key survives a sweep; the idle ones go.
        assert_eq!(f.sweep(t0 + s(10), t0 + s(1)), 127);
        assert_eq!(f.len(), 1);
    }
}
