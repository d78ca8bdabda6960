//! Which port pairs of the range are allocated. Pure: binding the sockets
//! (and skipping a pair another process holds) is the I/O edge's job.

use crate::{PortPair, PortRange, RelayError};

/// Allocates even/odd port pairs from a [`PortRange`].
///
/// Allocation walks the range round-robin from where it last stopped, so a
/// pair just released is the last one handed out again: late packets of a
/// finished call then do not land on the next call's leg.
#[derive(Debug, Clone)]
pub struct PortPool {
    range: PortRange,
    used: Vec<bool>,
    in_use: usize,
    cursor: usize,
}

impl PortPool {
    /// A pool with every pair of `range` free.
    pub fn new(range: PortRange) -> Self {
        PortPool {
            range,
            used: vec![false; range.pairs()],
            in_use: 0,
            cursor: 0,
        }
    }

    /// Takes the next free pair. [`RelayError::PortsExhausted`] when every
    /// pair is allocated.
    pub fn allocate(&mut self) -> Result<PortPair, RelayError> {
        let n = self.used.len();
        for step in 0..n {
            let index = (self.cursor + step) % n;
            if !self.used[index] {
                self.used[index] = true;
                self.in_use += 1;
                self.cursor = (index + 1) % n;
                return Ok(self.range.pair(index));
            }
        }
        Err(RelayError::PortsExhausted { range: self.range })
    }

    /// Gives `pair` back. Returns false (and changes nothing) if the pair is
    /// not from this range or is not allocated, so a double release cannot
    /// corrupt the count.
    pub fn release(&mut self, pair: PortPair) -> bool {
        match self.range.index_of(pair) {
            Some(index) if self.used[index] => {
                self.used[index] = false;
                self.in_use -= 1;
                true
            }
            _ => false,
        }
    }

    /// How many pairs are allocated now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.used.len()
    }

    /// The range the pool allocates from.
    pub fn range(&self) -> PortRange {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(first: u16, last: u16) -> PortPool {
        PortPool::new(PortRange::new(first, last).expect("range"))
    }

    #[test]
    fn allocates_even_rtp_with_odd_rtcp() {
        let mut p = pool(20000, 20009);
        let a = p.allocate().expect("pair");
        let b = p.allocate().expect("pair");
        assert_eq!((a.rtp(), a.rtcp()), (20000, 20001));
        assert_eq!((b.rtp(), b.rtcp()), (20002, 20003));
        assert_eq!(p.in_use(), 2);
    }

    #[test]
    fn exhaustion_is_an_error_and_release_makes_room() {
        let mut p = pool(20000, 20005);
        let pairs: Vec<_> = (0..3).map(|_| p.allocate().expect("pair")).collect();
        assert!(matches!(
            p.allocate(),
            Err(RelayError::PortsExhausted { .. })
        ));
        assert!(p.release(pairs[1]));
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.allocate().expect("pair"), pairs[1]);
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn released_pairs_are_reused_last() {
        let mut p = pool(20000, 20009);
        let first = p.allocate().expect("pair");
        assert!(p.release(first));
        let next = p.allocate().expect("pair");
        assert_ne!(next, first, "round-robin moves on");
    }

    #[test]
    fn double_and_foreign_release_change_nothing() {
        let mut p = pool(20000, 20009);
        let a = p.allocate().expect("pair");
        assert!(p.release(a));
        assert!(!p.release(a));
        let other = PortRange::new(30000, 30001).expect("range").pair(0);
        assert!(!p.release(other));
        assert_eq!(p.in_use(), 0);
    }
}
