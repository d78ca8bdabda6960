//! Replay protection: the highest nonce count (`nc`) seen per nonce.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::error::AuthError;

/// Remembers, for a bounded number of nonces, the highest `nc` accepted, and
/// rejects any `nc` that does not increase.
///
/// Memory is bounded: once [`capacity`](Self::capacity) nonces are tracked,
/// the one first seen longest ago is forgotten. A forgotten nonce that is
/// still fresh could be replayed once more, so size the capacity above the
/// number of nonces issued within
/// [`NonceIssuer::max_age_secs`](crate::NonceIssuer::max_age_secs).
///
/// Call it only after [`verify`](crate::verify) succeeded, so unauthenticated
/// requests cannot push real entries out.
#[derive(Debug, Clone)]
pub struct NonceCounter {
    capacity: usize,
    last: HashMap<Arc<str>, u32>,
    order: VecDeque<Arc<str>>,
}

impl Default for NonceCounter {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl NonceCounter {
    /// Capacity of [`NonceCounter::default`].
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A counter tracking at most `capacity` nonces (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            last: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Accepts `nc` for `nonce` if it is greater than every count accepted
    /// for that nonce so far, and records it.
    ///
    /// # Errors
    /// [`AuthError::InvalidNonceCount`] for `nc == 0` (counts start at 1),
    /// [`AuthError::Replay`] if `nc` is not greater than the last accepted.
    pub fn check(&mut self, nonce: &str, nc: u32) -> Result<(), AuthError> {
        if nc == 0 {
            return Err(AuthError::InvalidNonceCount);
        }
        if let Some(last) = self.last.get_mut(nonce) {
            if nc <= *last {
                return Err(AuthError::Replay);
            }
            *last = nc;
            return Ok(());
        }
        while self.last.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.last.remove(&oldest);
                }
                None => break,
            }
        }
        let key: Arc<str> = Arc::from(nonce);
        self.order.push_back(Arc::clone(&key));
        self.last.insert(key, nc);
        Ok(())
    }

    /// The highest count accepted for `nonce`, if it is tracked.
    #[must_use]
    pub fn last(&self, nonce: &str) -> Option<u32> {
        self.last.get(nonce).copied()
    }

    /// How many nonces are tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no nonce is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// The most nonces tracked at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increasing_counts_accepted() {
        let mut c = NonceCounter::new(4);
        assert_eq!(c.check("n", 1), Ok(()));
        assert_eq!(c.check("n", 2), Ok(()));
        // Gaps are fine (requests may be lost or reordered past us).
        assert_eq!(c.check("n", 10), Ok(()));
        assert_eq!(c.last("n"), Some(10));
        // First use of a nonce may start above 1.
        assert_eq!(c.check("m", 0x0a), Ok(()));
    }

    #[test]
    fn replayed_nc_rejected() {
        let mut c = NonceCounter::default();
        assert_eq!(c.check("n", 1), Ok(()));
        assert_eq!(c.check("n", 1), Err(AuthError::Replay));
        assert_eq!(c.check("n", 2), Ok(()));
        assert_eq!(c.check("n", 1), Err(AuthError::Replay));
        assert_eq!(c.check("n", 2), Err(AuthError::Replay));
        assert_eq!(c.check("n", u32::MAX), Ok(()));
        assert_eq!(c.check("n", u32::MAX), Err(AuthError::Replay));
        assert_eq!(c.check("n", 0), Err(AuthError::InvalidNonceCount));
    }

    #[test]
    fn bounded_and_evicts_oldest() {
        let mut c = NonceCounter::new(3);
        for n in ["a", "b", "c"] {
            assert_eq!(c.check(n, 1), Ok(()));
        }
        // Updating "a" does not make it younger: eviction is by first sight.
        assert_eq!(c.check("a", 2), Ok(()));
        assert_eq!(c.check("d", 1), Ok(()));
        assert_eq!(c.len(), 3);
        assert_eq!(c.last("a"), None);
        assert_eq!(c.last("b"), Some(1));
        assert_eq!(c.last("d"), Some(1));
        for i in 0..1000 {
            assert_eq!(c.check(&format!("x{i}"), 1), Ok(()));
            assert!(c.len() <= c.capacity());
        }
        assert_eq!(c.capacity(), 3);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn zero_capacity_means_one() {
        let mut c = NonceCounter::new(0);
        assert!(c.is_empty());
        assert_eq!(c.check("a", 1), Ok(()));
        assert_eq!(c.check("a", 1), Err(AuthError::Replay));
        assert_eq!(c.check("b", 1), Ok(()));
        assert_eq!(c.len(), 1);
    }
}
