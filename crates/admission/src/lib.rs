//! Admission control for the node, sans-IO: what a source or a user may
//! ask of it before the work is done.
//!
//! * **Rates** ([`RateLimiter`]): token buckets keyed by source address
//!   (INVITE and REGISTER) and by user (authenticated INVITEs).
//! * **Failed digests** ([`FailureTracker`]): `threshold` failures within a
//!   window ban the source (its requests are then dropped unanswered) or
//!   lock the user (refused, except from sources the user authenticated
//!   from before, so that a flood of guesses cannot lock a subscriber's own
//!   phones out). Each repeat bans for twice as long.
//! * **Concurrent calls per user** ([`CallCounter`]).
//!
//! Every table is capped: when full, the entry touched longest ago goes, so
//! a flood of distinct keys (spoofed addresses, invented user names) costs
//! bounded memory. Time is passed in; nothing here reads a clock or a
//! socket.
//!
//! Sources are keyed by IP address, not by port (a host opens as many
//! ports as it likes), and IPv6 sources by their /64 (a host owns at least
//! that much; keying by /128 would give an attacker 2^64 fresh keys).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod calls;
mod capped;
mod failures;
mod rate;

pub use calls::{CallCounter, CallLimitExceeded};
pub use failures::{BanPolicy, FailureTracker};
pub use rate::{Rate, RateLimiter, RateVerdict};

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The key of a source address: the IPv4 address, or the IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey(IpAddr);

impl SourceKey {
    /// The key for a packet from `ip`. IPv4-mapped IPv6 addresses count as
    /// their IPv4 address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => SourceKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    SourceKey(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

/// Every limit, as configured (`[limits]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// INVITEs and REGISTERs per source address.
    pub source_rate: Rate,
    /// Authenticated new INVITEs per user.
    pub user_rate: Rate,
    /// When a source's failed digests ban it.
    pub source_bans: BanPolicy,
    /// When a user's failed digests lock it.
    pub user_bans: BanPolicy,
    /// Live calls per user, as caller or callee (0: no limit).
    pub calls_per_user: u32,
    /// Keys each table remembers at most.
    pub table_cap: usize,
}

impl Default for Limits {
    /// Carrier defaults: high enough for an SBC's aggregate traffic from one
    /// address (the SIPp harness: 1,500 calls/s, two INVITEs each with the
    /// digest round trip), low enough to stop a guessing run in a second.
    fn default() -> Self {
        Limits {
            source_rate: Rate {
                per_second: 5_000.0,
                burst: 10_000.0,
            },
            user_rate: Rate {
                per_second: 2_000.0,
                burst: 4_000.0,
            },
            source_bans: BanPolicy {
                threshold: 20,
                window: Duration::from_secs(60),
                ban: Duration::from_secs(60),
                max_ban: Duration::from_secs(3600),
            },
            user_bans: BanPolicy {
                threshold: 50,
                window: Duration::from_secs(60),
                ban: Duration::from_secs(60),
                max_ban: Duration::from_secs(3600),
            },
            calls_per_user: 100,
            table_cap: 65_536,
        }
    }
}

/// Why a request is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The source is banned for failed digests: drop the request unanswered.
    #[error("source banned for failed digests")]
    SourceBanned,
    /// The source is over its rate: `503` with `Retry-After`.
    #[error("source over its request rate")]
    SourceRate {
        /// When to come back.
        retry_after: Duration,
    },
    /// The source is far over its rate: drop the request unanswered.
    #[error("source far over its request rate")]
    SourceFlood,
    /// The user is over its INVITE rate: `503` with `Retry-After`.
    #[error("user over its call rate")]
    UserRate {
        /// When to come back.
        retry_after: Duration,
    },
    /// The user is locked for failed digests and this source never
    /// authenticated as it: `403`.
    #[error("user locked for failed digests")]
    UserLocked,
    /// A side of the call has too many calls up.
    #[error(transparent)]
    Calls(#[from] CallLimitExceeded),
}

/// What a failed digest led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BanStarted {
    /// The source was banned, for this long.
    pub source: Option<Duration>,
    /// The user was locked, for this long.
    pub user: Option<Duration>,
}

/// The node's admission state: every table of this crate, one instance.
#[derive(Debug)]
pub struct Admission<C> {
    source_rate: RateLimiter<SourceKey>,
    user_rate: RateLimiter<String>,
    source_failures: FailureTracker<SourceKey>,
    user_failures: FailureTracker<String>,
    /// How long a source that authenticated as a user stays trusted for
    /// it.
    trusted_for: Duration,
    /// (user, source) pairs that authenticated, and when last; a locked
    /// user stays reachable from them.
    trusted_seen: capped_seen::Seen<(String, SourceKey)>,
    calls: CallCounter<C>,
}

mod capped_seen {
    //! When each key was last seen, capped.
    use crate::capped::CappedMap;
    use std::hash::Hash;
    use std::time::Instant;

    #[derive(Debug)]
    pub(crate) struct Seen<K>(CappedMap<K, Instant>);

    impl<K: Hash + Eq + Clone> Seen<K> {
        pub(crate) fn new(cap: usize) -> Self {
            Seen(CappedMap::new(cap))
        }
        pub(crate) fn saw(&mut self, now: Instant, key: &K) {
            *self.0.touch(now, key, || now) = now;
        }
        pub(crate) fn last(&self, key: &K) -> Option<Instant> {
            self.0.peek(key).copied()
        }
        pub(crate) fn sweep(&mut self, before: Instant) -> usize {
            self.0.sweep(before, |_| true)
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

impl<C: std::hash::Hash + Eq> Admission<C> {
    /// Empty tables for `limits`.
    pub fn new(limits: &Limits) -> Self {
        let cap = limits.table_cap;
        Admission {
            source_rate: RateLimiter::new(limits.source_rate, cap),
            user_rate: RateLimiter::new(limits.user_rate, cap),
            source_failures: FailureTracker::new(limits.source_bans, cap),
            user_failures: FailureTracker::new(limits.user_bans, cap),
            trusted_for: Duration::from_secs(24 * 3600),
            trusted_seen: capped_seen::Seen::new(cap),
            calls: CallCounter::new(limits.calls_per_user),
        }
    }

    /// Any request from `source`: refused only while the source is banned.
    ///
    /// # Errors
    /// [`Refusal::SourceBanned`].
    pub fn check_source(&self, now: Instant, source: IpAddr) -> Result<(), Refusal> {
        match self
            .source_failures
            .banned_until(now, &SourceKey::of(source))
        {
            Some(_) => Err(Refusal::SourceBanned),
            None => Ok(()),
        }
    }

    /// A new INVITE or a REGISTER from `source`: takes a token.
    ///
    /// # Errors
    /// [`Refusal::SourceRate`] or, far over the rate, [`Refusal::SourceFlood`].
    pub fn check_source_rate(&mut self, now: Instant, source: IpAddr) -> Result<(), Refusal> {
        match self.source_rate.check(now, &SourceKey::of(source)) {
            RateVerdict::Allow => Ok(()),
            RateVerdict::Refuse { retry_after } => Err(Refusal::SourceRate { retry_after }),
            RateVerdict::Drop => Err(Refusal::SourceFlood),
        }
    }

    /// A digest from `source` for `user` failed. `user` is the name the
    /// credentials claimed (perhaps invented: the table is capped).
    pub fn auth_failed(&mut self, now: Instant, source: IpAddr, user: Option<&str>) -> BanStarted {
        BanStarted {
            source: self.source_failures.failed(now, &SourceKey::of(source)),
            user: user.and_then(|u| self.user_failures.failed(now, &u.to_string())),
        }
    }

    /// A digest from `source` proved `user`: admitted unless the user is
    /// locked and `source` never authenticated as it before the lock.
    ///
    /// # Errors
    /// [`Refusal::UserLocked`].
    pub fn auth_succeeded(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: &str,
    ) -> Result<(), Refusal> {
        let key = SourceKey::of(source);
        let pair = (user.to_string(), key);
        if self.user_failures.banned_until(now, &pair.0).is_some() {
            let trusted = self
                .trusted_seen
                .last(&pair)
                .is_some_and(|at| now.saturating_duration_since(at) <= self.trusted_for);
            if !trusted {
                return Err(Refusal::UserLocked);
            }
        }
        self.source_failures.succeeded(now, &key);
        self.user_failures.succeeded(now, &pair.0);
        self.trusted_seen.saw(now, &pair);
        Ok(())
    }

    /// An authenticated new INVITE of `user`: takes a token.
    ///
    /// # Errors
    /// [`Refusal::UserRate`].
    pub fn check_user_rate(&mut self, now: Instant, user: &str) -> Result<(), Refusal> {
        match self.user_rate.check(now, &user.to_string()) {
            RateVerdict::Allow => Ok(()),
            RateVerdict::Refuse { retry_after } => Err(Refusal::UserRate { retry_after }),
            RateVerdict::Drop => Err(Refusal::UserRate {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Whether a call from `caller` to `callee` may start.
    ///
    /// # Errors
    /// [`Refusal::Calls`].
    pub fn admit_call(&self, caller: &str, callee: &str) -> Result<(), Refusal> {
        Ok(self.calls.admit(caller, callee)?)
    }

    /// A call started; it counts until [`Self::call_ended`].
    pub fn call_started(&mut self, call: C, caller: &str, callee: &str) {
        self.calls.started(call, caller, callee);
    }

    /// A call ended (unknown calls are ignored).
    pub fn call_ended(&mut self, call: &C) {
        self.calls.ended(call);
    }

    /// Live calls counted for `user`.
    pub fn calls_of(&self, user: &str) -> u32 {
        self.calls.of(user)
    }

    /// Housekeeping: forgets idle, unbanned entries untouched for `idle`.
    pub fn sweep(&mut self, now: Instant, idle: Duration) {
        let Some(before) = now.checked_sub(idle) else {
            return;
        };
        self.source_rate.sweep(now, before);
        self.user_rate.sweep(now, before);
        self.source_failures.sweep(now, before);
        self.user_failures.sweep(now, before);
        if let Some(trust_before) = now.checked_sub(self.trusted_for) {
            self.trusted_seen.sweep(trust_before);
        }
    }

    /// Entries held in every table together (for a gauge, and the tests).
    pub fn entries(&self) -> usize {
        self.source_rate.len()
            + self.user_rate.len()
            + self.source_failures.len()
            + self.user_failures.len()
            + self.trusted_seen.len()
            + self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn small() -> Limits {
        Limits {
            source_rate: Rate {
                per_second: 2.0,
                burst: 2.0,
            },
            user_rate: Rate {
                per_second: 1.0,
                burst: 1.0,
            },
            source_bans: BanPolicy {
                threshold: 3,
                window: Duration::from_secs(60),
                ban: Duration::from_secs(10),
                max_ban: Duration::from_secs(40),
            },
            user_bans: BanPolicy {
                threshold: 5,
                window: Duration::from_secs(60),
                ban: Duration::from_secs(10),
                max_ban: Duration::from_secs(40),
            },
            calls_per_user: 1,
            table_cap: 64,
        }
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64() {
        assert_eq!(
            SourceKey::of(ip("2001:db8:1:2:aaaa::1")),
            SourceKey::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            SourceKey::of(ip("2001:db8:1:2::1")),
            SourceKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            SourceKey::of(ip("::ffff:10.0.0.1")),
            SourceKey::of(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_guessing_source_is_banned_and_others_are_not() {
        let t0 = Instant::now();
        let mut a: Admission<u64> = Admission::new(&small());
        let bad = ip("127.0.0.2");
        assert_eq!(a.auth_failed(t0, bad, Some("alice")), BanStarted::default());
        a.auth_failed(t0, bad, Some("alice"));
        let started = a.auth_failed(t0, bad, Some("alice"));
        assert_eq!(started.source, Some(Duration::from_secs(10)));
        assert_eq!(started.user, None);
        assert_eq!(a.check_source(t0, bad), Err(Refusal::SourceBanned));
        assert_eq!(a.check_source(t0, ip("127.0.0.1")), Ok(()));
        assert_eq!(a.check_source(t0 + Duration::from_secs(10), bad), Ok(()));
    }

    #[test]
    fn a_locked_user_stays_reachable_from_its_trusted_sources() {
        let t0 = Instant::now();
        let mut a: Admission<u64> = Admission::new(&small());
        let phone = ip("192.0.2.1");
        assert_eq!(a.auth_succeeded(t0, phone, "alice"), Ok(()));
        // Guesses from many sources (each under its own threshold) lock alice.
        let mut locked = None;
        for i in 0..5u8 {
            let started = a.auth_failed(t0, IpAddr::from([198, 51, 100, i]), Some("alice"));
            locked = locked.or(started.user);
        }
        assert_eq!(locked, Some(Duration::from_secs(10)));
        assert_eq!(
            a.auth_succeeded(t0, ip("203.0.113.9"), "alice"),
            Err(Refusal::UserLocked)
        );
        assert_eq!(a.auth_succeeded(t0, phone, "alice"), Ok(()));
        assert_eq!(a.auth_succeeded(t0, ip("203.0.113.9"), "bob"), Ok(()));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(a.auth_succeeded(later, ip("203.0.113.9"), "alice"), Ok(()));
    }

    #[test]
    fn source_rate_refuses_then_drops() {
        let t0 = Instant::now();
        let mut a: Admission<u64> = Admission::new(&small());
        let s = ip("10.1.1.1");
        assert_eq!(a.check_source_rate(t0, s), Ok(()));
        assert_eq!(a.check_source_rate(t0, s), Ok(()));
        assert_eq!(
            a.check_source_rate(t0, s),
            Err(Refusal::SourceRate {
                retry_after: Duration::from_secs(1)
            })
        );
        a.check_source_rate(t0, s).ok();
        assert_eq!(a.check_source_rate(t0, s), Err(Refusal::SourceFlood));
        assert_eq!(a.check_source_rate(t0, ip("10.1.1.2")), Ok(()));
        assert_eq!(a.check_user_rate(t0, "alice"), Ok(()));
        assert!(matches!(
            a.check_user_rate(t0, "alice"),
            Err(Refusal::UserRate { .. })
        ));
    }

    #[test]
    fn calls_per_user_count_until_they_end() {
        let mut a: Admission<u64> = Admission::new(&small());
        assert_eq!(a.admit_call("alice", "bob"), Ok(()));
        a.call_started(7, "alice", "bob");
        assert_eq!(
            a.admit_call("alice", "carol"),
            Err(Refusal::Calls(CallLimitExceeded::Caller { limit: 1 }))
        );
        assert_eq!(
            a.admit_call("carol", "bob"),
            Err(Refusal::Calls(CallLimitExceeded::Callee { limit: 1 }))
        );
        a.call_ended(&7);
        assert_eq!(a.calls_of("alice"), 0);
        assert_eq!(a.admit_call("carol", "bob"), Ok(()));
    }

    #[test]
    fn a_spoofed_flood_keeps_every_table_capped() {
        let t0 = Instant::now();
        let mut a: Admission<u64> = Admission::new(&small());
        for i in 0..50_000u32 {
            let source = IpAddr::from(i.to_be_bytes());
            let _ = a.check_source_rate(t0, source);
            a.auth_failed(t0, source, Some(&format!("user{i}")));
        }
        // Four capped tables of 64.
        assert!(a.entries() <= 4 * 64, "{}", a.entries());
        a.sweep(t0 + Duration::from_secs(120), Duration::from_secs(60));
        assert_eq!(a.entries(), 0);
    }
}
