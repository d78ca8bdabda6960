//! Limits on switch requests (pulls), as a carrier would set them: how
//! often one call may be pulled and one user may pull (per minute, all
//! calls together), and a growing back-off after an attempt the original
//! device denied or let time out, so that a device cannot be kept "asked"
//! forever. Pure: time is passed in, every table is capped.
//!
//! The rates are GCRA (a token bucket kept as one instant per key): `n`
//! pulls per minute allow a burst of `n`, then one every `60 s / n`.

use call::handover::Outcome;
use call::ids::CallNumber;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The window the per-minute limits are counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Entries per table at most; stale entries are dropped to make room, and
/// a table full of live ones refuses (fail closed) rather than grows.
pub const MAX_ENTRIES: usize = 65_536;

/// What the limits are (`[handover]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLimits {
    /// Pulls of one call per minute (at least 1).
    pub per_call: u32,
    /// Pulls by one user per minute, all calls together (at least 1).
    pub per_user: u32,
    /// The back-off after a denied or timed-out attempt; doubled with each
    /// such attempt in a row; zero for none.
    pub backoff: Duration,
    /// The longest back-off.
    pub backoff_max: Duration,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            per_call: 6,
            per_user: 20,
            backoff: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Why a pull may not go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// Over the call's or the user's rate, or backing off: try again after
    /// this long (`429` with `Retry-After`).
    Wait(Duration),
}

impl Limited {
    /// The `Retry-After` value: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        let Limited::Wait(d) = self;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// A call's back-off: denied or timed-out attempts in a row, and until
/// when the next one waits.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    strikes: u32,
    until: Instant,
}

/// The limiter's state.
#[derive(Debug)]
pub struct PullLimiter {
    limits: PullLimits,
    /// GCRA theoretical arrival time per call and per user.
    calls: HashMap<CallNumber, Instant>,
    users: HashMap<String, Instant>,
    backoff: HashMap<CallNumber, Backoff>,
    /// Stale entries are swept at most this often when a table is full.
    last_sweep: Option<Instant>,
}

impl PullLimiter {
    /// An empty limiter.
    pub fn new(limits: PullLimits) -> PullLimiter {
        PullLimiter {
            limits,
            calls: HashMap::new(),
            users: HashMap::new(),
            backoff: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Whether `user` may pull `call` at `now`; a pull allowed is counted.
    /// Nothing is counted for a pull refused.
    pub fn check(&mut self, now: Instant, user: &str, call: CallNumber) -> Result<(), Limited> {
        if let Some(b) = self.backoff.get(&call) {
            if now < b.until {
                return Err(Limited::Wait(b.until - now));
            }
        }
        let (call_step, call_slack) = gcra(self.limits.per_call);
        let (user_step, user_slack) = gcra(self.limits.per_user);
        let call_tat = self.calls.get(&call).copied().unwrap_or(now).max(now);
        let user_tat = self.users.get(user).copied().unwrap_or(now).max(now);
        let wait = [
            (call_tat - now).saturating_sub(call_slack),
            (user_tat - now).saturating_sub(user_slack),
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        if !wait.is_zero() {
            return Err(Limited::Wait(wait));
        }
        let full = (!self.calls.contains_key(&call) && self.calls.len() >= MAX_ENTRIES)
            || (!self.users.contains_key(user) && self.users.len() >= MAX_ENTRIES);
        if full {
            self.sweep(now);
            let still_full = (!self.calls.contains_key(&call) && self.calls.len() >= MAX_ENTRIES)
                || (!self.users.contains_key(user) && self.users.len() >= MAX_ENTRIES);
            if still_full {
                return Err(Limited::Wait(Duration::from_secs(1)));
            }
        }
        self.calls.insert(call, call_tat + call_step);
        self.users.insert(user.to_string(), user_tat + user_step);
        Ok(())
    }

    /// An attempt on `call` ended: a denial or a timeout backs the next
    /// one off (doubling), a grant clears the back-off.
    pub fn ended(&mut self, now: Instant, call: CallNumber, outcome: Outcome) {
        match outcome {
            Outcome::Denied | Outcome::Timeout if !self.limits.backoff.is_zero() => {
                if !self.backoff.contains_key(&call) && self.backoff.len() >= MAX_ENTRIES {
                    self.sweep(now);
                    if self.backoff.len() >= MAX_ENTRIES {
                        return;
                    }
                }
                let strikes = self
                    .backoff
                    .get(&call)
                    .map_or(1, |b| b.strikes.saturating_add(1));
                let factor = 1u32 << (strikes - 1).min(16);
                let delay = self
                    .limits
                    .backoff
                    .saturating_mul(factor)
                    .min(self.limits.backoff_max);
                self.backoff.insert(
                    call,
                    Backoff {
                        strikes,
                        until: now + delay,
                    },
                );
            }
            Outcome::Granted | Outcome::GrantedMonitor => {
                self.backoff.remove(&call);
            }
            _ => {}
        }
    }

    /// The call is over: its entries go.
    pub fn forget_call(&mut self, call: CallNumber) {
        self.calls.remove(&call);
        self.backoff.remove(&call);
    }

    /// Entries in all tables.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.calls.len() + self.users.len() + self.backoff.len()
    }

    /// Drops entries that no longer limit anything: a rate whose bucket is
    /// full again, a back-off long over (past its longest delay, so its
    /// strikes are forgotten too). At most once a second.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.calls.retain(|_, tat| *tat > now);
        self.users.retain(|_, tat| *tat > now);
        let forget_after = self.limits.backoff_max;
        self.backoff
            .retain(|_, b| now.saturating_duration_since(b.until) < forget_after);
    }
}

/// GCRA parameters for `n` per [`WINDOW`]: the step each pull adds, and the
/// slack that lets `n` of them through at once.
fn gcra(n: u32) -> (Duration, Duration) {
    let step = WINDOW / n.max(1);
    (step, WINDOW.saturating_sub(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_call: u32, per_user: u32, backoff: u64) -> PullLimiter {
        PullLimiter::new(PullLimits {
            per_call,
            per_user,
            backoff: Duration::from_secs(backoff),
            backoff_max: Duration::from_secs(80),
        })
    }

    const C: CallNumber = CallNumber(7);

    #[test]
    fn n_pulls_of_a_call_per_minute_then_429_with_the_wait() {
        let t0 = Instant::now();
        let mut l = limiter(3, 100, 0);
        for _ in 0..3 {
            assert_eq!(l.check(t0, "alice", C), Ok(()));
        }
        let refused = l.check(t0, "alice", C).expect_err("the 4th in a minute");
        assert_eq!(refused, Limited::Wait(Duration::from_secs(20)));
        assert_eq!(refused.retry_after_secs(), 20);
        // Refusals are not counted: after the wait, one more goes through.
        assert!(l.check(t0 + Duration::from_secs(19), "alice", C).is_err());
        assert_eq!(l.check(t0 + Duration::from_secs(20), "alice", C), Ok(()));
        assert!(l.check(t0 + Duration::from_secs(20), "alice", C).is_err());
        // A full minute later the whole burst is back.
        let later = t0 + Duration::from_secs(200);
        for _ in 0..3 {
            assert_eq!(l.check(later, "alice", C), Ok(()));
        }
        // Another call is counted on its own.
        assert_eq!(l.check(later, "alice", CallNumber(8)), Ok(()));
    }

    #[test]
    fn a_user_is_limited_across_calls() {
        let t0 = Instant::now();
        let mut l = limiter(100, 2, 0);
        assert_eq!(l.check(t0, "alice", CallNumber(1)), Ok(()));
        assert_eq!(l.check(t0, "alice", CallNumber(2)), Ok(()));
        let refused = l.check(t0, "alice", CallNumber(3)).expect_err("3rd");
        assert_eq!(refused.retry_after_secs(), 30);
        assert_eq!(l.check(t0, "bob", CallNumber(3)), Ok(()));
    }

    #[test]
    fn denials_and_timeouts_back_off_doubling_up_to_the_cap_and_a_grant_clears() {
        let t0 = Instant::now();
        let mut l = limiter(1000, 1000, 10);
        l.ended(t0, C, Outcome::Denied);
        assert_eq!(
            l.check(t0, "alice", C),
            Err(Limited::Wait(Duration::from_secs(10)))
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(l.check(t1, "alice", C), Ok(()));
        l.ended(t1, C, Outcome::Timeout);
        assert_eq!(
            l.check(t1, "alice", C),
            Err(Limited::Wait(Duration::from_secs(20)))
        );
        let t2 = t1 + Duration::from_secs(20);
        l.ended(t2, C, Outcome::Denied);
        let t3 = t2 + Duration::from_secs(40);
        l.ended(t3, C, Outcome::Denied);
        // 80 s, the cap, not 80 → 160.
        assert_eq!(
            l.check(t3, "alice", C),
            Err(Limited::Wait(Duration::from_secs(80)))
        );
        l.ended(t3, C, Outcome::Denied);
        assert_eq!(
            l.check(t3, "alice", C),
            Err(Limited::Wait(Duration::from_secs(80)))
        );
        // Other endings leave it; a grant clears it.
        l.ended(t3, C, Outcome::Cancelled);
        assert!(l.check(t3, "alice", C).is_err());
        l.ended(t3, C, Outcome::Granted);
        assert_eq!(l.check(t3, "alice", C), Ok(()));
        // Other calls never backed off.
        assert_eq!(l.check(t3, "alice", CallNumber(9)), Ok(()));
    }

    #[test]
    fn no_backoff_when_configured_off_and_a_finished_call_is_forgotten() {
        let t0 = Instant::now();
        let mut l = limiter(1000, 1000, 0);
        l.ended(t0, C, Outcome::Denied);
        assert_eq!(l.check(t0, "alice", C), Ok(()));
        l.forget_call(C);
        assert_eq!(l.len(), 1, "only alice's rate is left");
    }

    #[test]
    fn tables_stay_capped_and_stale_entries_make_room() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1_000_000, 0);
        for n in 0..MAX_ENTRIES as u64 {
            assert_eq!(l.check(t0, "u", CallNumber(n)), Ok(()));
        }
        // Full of live entries: refused, not grown.
        let extra = CallNumber(u64::MAX);
        assert!(l.check(t0, "u", extra).is_err());
        assert!(l.len() <= MAX_ENTRIES + 1);
        // A minute on, every call's bucket is full again: swept, room made.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(l.check(later, "u", extra), Ok(()));
        assert!(l.len() <= 3, "{}", l.len());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(
            Limited::Wait(Duration::from_millis(1500)).retry_after_secs(),
            2
        );
        assert_eq!(
            Limited::Wait(Duration::from_millis(1)).retry_after_secs(),
            1
        );
        assert_eq!(Limited::Wait(Duration::from_secs(3)).retry_after_secs(), 3);
    }
}
