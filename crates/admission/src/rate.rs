//! Token buckets keyed by source or user: `rate` requests a second on
//! average, `burst` at once.

use crate::capped::CappedMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A rate: `per_second` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size: requests accepted back to back from a full bucket.
    pub burst: f64,
}

/// What a rate limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate.
    Allow,
    /// Over the rate: refuse, and tell the sender when a token will be
    /// there (`503` with `Retry-After`).
    Refuse {
        /// Time until the next token, rounded up to whole seconds (at least 1).
        retry_after: Duration,
    },
    /// Far over the rate (more than another `burst` refused since the last
    /// request allowed): a sender that ignores `Retry-After` gets nothing
    /// back, so answering it costs nothing and reflects nothing.
    Drop,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// Requests refused since the last one allowed.
    refused: f64,
}

/// Token buckets by key, at most `cap` of them.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: Rate,
    buckets: CappedMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Buckets of `rate`, at most `cap` keys tracked (the idlest is
    /// forgotten first: a forgotten key starts again with a full bucket).
    pub fn new(rate: Rate, cap: usize) -> Self {
        RateLimiter {
            rate: Rate {
                per_second: rate.per_second.max(f64::MIN_POSITIVE),
                burst: rate.burst.max(1.0),
            },
            buckets: CappedMap::new(cap),
        }
    }

    /// Takes one token from `key`'s bucket at `now`.
    pub fn check(&mut self, now: Instant, key: &K) -> RateVerdict {
        let rate = self.rate;
        let bucket = self.buckets.touch(now, key, || Bucket {
            tokens: rate.burst,
            last: now,
            refused: 0.0,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.refused = 0.0;
            return RateVerdict::Allow;
        }
        bucket.refused += 1.0;
        if bucket.refused > rate.burst {
            return RateVerdict::Drop;
        }
        let wait = (1.0 - bucket.tokens) / rate.per_second;
        RateVerdict::Refuse {
            retry_after: Duration::from_secs(wait.ceil().clamp(1.0, 3600.0) as u64),
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.len() == 0
    }

    /// Forgets buckets untouched since `before` that would be full again
    /// by now anyway (periodic housekeeping; the cap bounds memory even
    /// without it).
    pub fn sweep(&mut self, now: Instant, before: Instant) -> usize {
        let rate = self.rate;
        self.buckets.sweep(before, |b| {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens + elapsed * rate.per_second >= rate.burst
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(
            Rate {
                per_second: 10.0,
                burst: 5.0,
            },
            16,
        );
        for _ in 0..5 {
            assert_eq!(l.check(t0, &"a"), RateVerdict::Allow);
        }
        assert_eq!(
            l.check(t0, &"a"),
            RateVerdict::Refuse {
                retry_after: secs(1.0)
            }
        );
        // Another key has a bucket of its own.
        assert_eq!(l.check(t0, &"b"), RateVerdict::Allow);
        // 100 ms later one token is back, not two.
        let t1 = t0 + secs(0.1);
        assert_eq!(l.check(t1, &"a"), RateVerdict::Allow);
        assert!(matches!(l.check(t1, &"a"), RateVerdict::Refuse { .. }));
        // Ten seconds later the bucket is full again, but never beyond burst.
        let t2 = t1 + secs(10.0);
        for _ in 0..5 {
            assert_eq!(l.check(t2, &"a"), RateVerdict::Allow);
        }
        assert!(matches!(l.check(t2, &"a"), RateVerdict::Refuse { .. }));
    }

    #[test]
    fn far_over_the_rate_is_dropped_until_a_request_is_allowed_again() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(
            Rate {
                per_second: 1.0,
                burst: 2.0,
            },
            16,
        );
        assert_eq!(l.check(t0, &1), RateVerdict::Allow);
        assert_eq!(l.check(t0, &1), RateVerdict::Allow);
        assert!(matches!(l.check(t0, &1), RateVerdict::Refuse { .. }));
        assert!(matches!(l.check(t0, &1), RateVerdict::Refuse { .. }));
        assert_eq!(l.check(t0, &1), RateVerdict::Drop);
        assert_eq!(l.check(t0, &1), RateVerdict::Drop);
        assert_eq!(l.check(t0 + secs(1.0), &1), RateVerdict::Allow);
        assert!(matches!(
            l.check(t0 + secs(1.0), &1),
            RateVerdict::Refuse { .. }
        ));
    }

    #[test]
    fn retry_after_says_when_a_token_is_back() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(
            Rate {
                per_second: 0.1,
                burst: 1.0,
            },
            16,
        );
        assert_eq!(l.check(t0, &1), RateVerdict::Allow);
        assert_eq!(
            l.check(t0 + secs(2.5), &1),
            RateVerdict::Refuse {
                retry_after: secs(8.0)
            }
        );
    }

    #[test]
    fn distinct_keys_are_capped_and_swept() {
        let t0 = Instant::now();
        let rate = Rate {
            per_second: 1.0,
            burst: 1.0,
        };
        let mut l = RateLimiter::new(rate, 64);
        for i in 0..10_000u32 {
            assert_eq!(l.check(t0, &i), RateVerdict::Allow);
        }
        assert_eq!(l.len(), 64);
        assert_eq!(l.sweep(t0 + secs(5.0), t0 + secs(1.0)), 64);
        assert!(l.is_empty());
    }
}
