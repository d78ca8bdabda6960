//! The port pool with the sockets of closed legs kept open for reuse.
//!
//! Opening a leg on fresh sockets costs, per socket, `socket`, `bind` and
//! an `epoll_ctl`, and closing it a `close`: at thousands of calls a
//! second that was ~32 syscalls per call. A closed leg's pair therefore
//! keeps its two sockets (bound, non-blocking, registered with the same
//! worker's poller at the same token) while its ports are free; the next
//! leg the pool gives that pair takes them over after emptying what the
//! previous call's remote sent meanwhile ([`super::socket::MediaSocket::discard`]),
//! one failing `recvfrom` per socket.
//!
//! The pool's order is unchanged (round-robin: a pair just released is the
//! last one handed out again). Kept sockets count against
//! [`crate::RelayConfig::socket_budget`] together with the live legs'; a
//! pair released over the budget is closed, and kept pairs are closed to
//! make room before a fresh pair is bound while over it.

use super::socket::MediaSocket;
use crate::{PortPair, PortPool, PortRange, RelayError};
use std::sync::Arc;

/// A pair's two sockets, registered with one worker's poller at one slot
/// (tokens `2 * slot` and `2 * slot + 1`) for as long as they are open:
/// closing them is what takes them out of the poller.
#[derive(Debug)]
pub(crate) struct Sockets {
    pub(crate) rtp: MediaSocket,
    pub(crate) rtcp: MediaSocket,
}

/// Where the pair at `index` of the range is read: its worker, and its
/// slot in that worker's poller. Fixed per pair, so that kept sockets stay
/// registered where the next leg on them is looked up.
pub(crate) fn placement(index: usize, workers: usize) -> (usize, usize) {
    (index % workers, index / workers)
}

/// The pool and the kept sockets, under one lock.
#[derive(Debug)]
pub(crate) struct Ports {
    pool: PortPool,
    /// Kept sockets, by pair index.
    idle: Vec<Option<Arc<Sockets>>>,
    idle_count: usize,
    /// Sockets open (live legs' and kept) beyond which nothing is kept.
    budget: usize,
    /// False once the relay stops: released sockets are closed.
    open: bool,
}

impl Ports {
    pub(crate) fn new(range: PortRange, budget: usize) -> Self {
        Ports {
            pool: PortPool::new(range),
            idle: std::iter::repeat_with(|| None)
                .take(range.pairs())
                .collect(),
            idle_count: 0,
            budget,
            open: true,
        }
    }

    /// Takes the next pair, with its kept sockets if it has them, and its
    /// index in the range.
    pub(crate) fn allocate(
        &mut self,
    ) -> Result<(PortPair, usize, Option<Arc<Sockets>>), RelayError> {
        let pair = self.pool.allocate()?;
        let index = self.index(pair);
        let kept = self.idle[index].take();
        if kept.is_some() {
            self.idle_count -= 1;
        }
        Ok((pair, index, kept))
    }

    /// Before binding a fresh pair (`index` just allocated): the kept
    /// sockets to close so that the open ones stay within the budget, the
    /// pairs the round-robin will reach last first. The caller closes them
    /// outside the lock.
    pub(crate) fn over_budget(&mut self, index: usize) -> Vec<Arc<Sockets>> {
        let n = self.idle.len();
        let mut closing = Vec::new();
        for step in 1..n {
            // `index` is counted in use already.
            if self.idle_count == 0 || self.sockets_open() <= self.budget {
                break;
            }
            if let Some(s) = self.idle[(index + n - step) % n].take() {
                self.idle_count -= 1;
                closing.push(s);
            }
        }
        closing
    }

    /// Gives back a pair that was never bound (another process holds it,
    /// or it could not be registered).
    pub(crate) fn release_unbound(&mut self, pair: PortPair) {
        self.pool.release(pair);
    }

    /// Gives back a closed leg's pair with its sockets. Returns the
    /// sockets if they are not kept (the caller closes them outside the
    /// lock).
    pub(crate) fn release(
        &mut self,
        pair: PortPair,
        sockets: Arc<Sockets>,
    ) -> Option<Arc<Sockets>> {
        if !self.pool.release(pair) {
            return Some(sockets); // not ours: cannot happen, keep nothing
        }
        // The lease giving them back holds the only other reference, and
        // drops it right after.
        if !self.open || self.sockets_open() + 2 > self.budget {
            return Some(sockets);
        }
        let index = self.index(pair);
        match self.idle[index].replace(sockets) {
            None => {
                self.idle_count += 1;
                None
            }
            old => old, // cannot happen: a free pair held kept sockets
        }
    }

    /// Stops keeping sockets; returns those kept, for the caller to close.
    pub(crate) fn close(&mut self) -> Vec<Arc<Sockets>> {
        self.open = false;
        self.idle_count = 0;
        self.idle.iter_mut().filter_map(Option::take).collect()
    }

    pub(crate) fn in_use(&self) -> usize {
        self.pool.in_use()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Free pairs whose sockets are kept open.
    pub(crate) fn idle(&self) -> usize {
        self.idle_count
    }

    /// Sockets open now: two per live leg and per kept pair.
    fn sockets_open(&self) -> usize {
        2 * (self.pool.in_use() + self.idle_count)
    }

    fn index(&self, pair: PortPair) -> usize {
        // Every pair the pool hands out is of its range.
        self.pool.range().index_of(pair).unwrap_or(0)
    }
}
