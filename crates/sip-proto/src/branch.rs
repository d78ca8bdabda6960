use std::collections::hash_map::{DefaultHasher, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

/// The RFC 3261 magic cookie that starts every branch this stack creates
/// (RFC 3261 §8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A Via `branch` parameter: the transaction identifier of RFC 3261 §17.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Branch(Box<str>);

impl Branch {
    /// Wraps a branch value as found on the wire.
    pub fn new(value: &str) -> Self {
        Branch(value.into())
    }

    /// The value, as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the branch starts with the magic cookie and carries an
    /// identifier after it, so that RFC 3261 §17.2.3 matching applies.
    pub fn is_rfc3261(&self) -> bool {
        self.0.len() > MAGIC_COOKIE.len() && self.0.starts_with(MAGIC_COOKIE)
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes branches that are unique across space and time (RFC 3261
/// §8.1.1.7): a keyed hash of a counter, followed by the counter itself.
///
/// The counter guarantees local uniqueness; the keyed hash, seeded from the
/// process's random hashing keys unless a seed is given, makes branches from
/// different processes (and restarts) disjoint and hard to predict. This
/// avoids a `rand` dependency while keeping tests deterministic through
/// [`BranchGenerator::with_seed`].
#[derive(Debug, Clone)]
pub struct BranchGenerator {
    seed: u64,
    counter: u64,
}

impl BranchGenerator {
    /// A generator seeded from the process's random hashing keys.
    pub fn new() -> Self {
        Self::with_seed(RandomState::new().hash_one(0x5349_5021_u64))
    }

    /// A deterministic generator, for tests and simulations.
    pub fn with_seed(seed: u64) -> Self {
        BranchGenerator { seed, counter: 0 }
    }

    /// The next branch: `z9hG4bK` + 16 hex digits + the counter in hex.
    pub fn next_branch(&mut self) -> Branch {
        self.counter = self.counter.wrapping_add(1);
        let mut h = DefaultHasher::new();
        self.seed.hash(&mut h);
        self.counter.hash(&mut h);
        Branch(format!("{MAGIC_COOKIE}{:016x}{:x}", h.finish(), self.counter).into())
    }
}

impl Default for BranchGenerator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn branches_carry_the_cookie_and_do_not_repeat() {
        let mut g = BranchGenerator::with_seed(7);
        let set: HashSet<Branch> = (0..10_000).map(|_| g.next_branch()).collect();
        assert_eq!(set.len(), 10_000);
        assert!(set.iter().all(Branch::is_rfc3261));
    }

    #[test]
    fn seeds_give_disjoint_sequences() {
        let a = BranchGenerator::with_seed(1).next_branch();
        let b = BranchGenerator::with_seed(2).next_branch();
        assert_ne!(a, b);
        assert_eq!(a, BranchGenerator::with_seed(1).next_branch());
    }

    #[test]
    fn cookie_alone_is_not_rfc3261() {
        assert!(!Branch::new("z9hG4bK").is_rfc3261());
        assert!(!Branch::new("abc").is_rfc3261());
        assert!(Branch::new("z9hG4bKx").is_rfc3261());
    }
}
