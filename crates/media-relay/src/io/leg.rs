//! A leg as the threads share it ([`Leg`]) and as the control side holds
//! it ([`LegHandle`]).

use super::bridge::Route;
use super::lock;
use super::relay::RelayShared;
use super::socket::MediaSocket;
use crate::leg_state::{LegState, Port};
use crate::rewriter::StreamRewriter;
use crate::{DirectionStats, DropReason, LegId, LegStats, PortPair, PortPool};
use arc_swap::{ArcSwap, ArcSwapOption};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where packets for a leg's remote go, published by the worker that reads
/// the leg so that the partner's worker can read it without a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Destinations {
    pub(crate) rtp: Option<SocketAddr>,
    pub(crate) rtcp: Option<SocketAddr>,
}

impl Destinations {
    fn of(core: &LegState) -> Self {
        Destinations {
            rtp: core.rtp_destination(),
            rtcp: core.rtcp_destination(),
        }
    }
}

/// Outbound counters. Written by whichever worker forwards toward this
/// leg (that changes on a re-point), hence atomics.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    packets: AtomicU64,
    bytes: AtomicU64,
    send_failed: AtomicU64,
}

impl Outbound {
    pub(crate) fn sent(&self, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.send_failed.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DirectionStats {
        let mut s = DirectionStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            ..DirectionStats::default()
        };
        s.dropped.add(
            DropReason::SendFailed,
            self.send_failed.load(Ordering::Relaxed),
        );
        s
    }
}

/// A port pair on loan from the pool; given back when dropped.
#[derive(Debug)]
pub(crate) struct PortLease {
    pub(crate) pair: PortPair,
    pub(crate) pool: Arc<Mutex<PortPool>>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut pool = lock(&self.pool);
        pool.release(self.pair);
        metrics::gauge!(crate::metrics::PORTS_IN_USE).set(pool.in_use() as f64);
    }
}

/// One leg: its two sockets and everything the workers share about it.
pub(crate) struct Leg {
    pub(crate) id: LegId,
    pub(crate) rtp: MediaSocket,
    pub(crate) rtcp: MediaSocket,
    /// Latching, validation, inbound counters. Locked by the leg's worker
    /// once per wakeup, by the control side for `set_remote` and `stats`.
    pub(crate) core: Mutex<LegState>,
    /// Published from `core` whenever it changes.
    pub(crate) destinations: ArcSwap<Destinations>,
    /// Where this leg's packets go; swapped whole by connect and re-point.
    pub(crate) route: ArcSwapOption<Route>,
    /// Rewrites what is sent toward this leg's remote.
    pub(crate) egress: Mutex<StreamRewriter>,
    pub(crate) outbound: Outbound,
    pub(crate) closed: AtomicBool,
    pub(crate) worker: usize,
    pub(crate) slot: usize,
    /// Declared last: fields drop in order, so the sockets are closed before
    /// the ports go back to the pool and can be bound again.
    pub(crate) lease: PortLease,
}

impl Leg {
    pub(crate) fn socket(&self, port: Port) -> &MediaSocket {
        match port {
            Port::Rtp => &self.rtp,
            Port::Rtcp => &self.rtcp,
        }
    }

    /// Makes the destinations in `core` visible to other workers, if they
    /// changed.
    pub(crate) fn publish(&self, core: &LegState) {
        let d = Destinations::of(core);
        if **self.destinations.load() != d {
            self.destinations.store(Arc::new(d));
        }
    }
}

impl fmt::Debug for Leg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leg")
            .field("id", &self.id)
            .field("rtp", &self.rtp.local())
            .field("rtcp", &self.rtcp.local())
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// The control side's handle on a leg: its local addresses (for the SDP
/// Baton sends), its remote (from the SDP it receives), its counters.
///
/// Dropping the handle closes the leg, as [`LegHandle::close`] does: the
/// leg leaves any bridge, its worker stops reading it, and its ports go
/// back to the pool once the worker has let go (within one wakeup).
pub struct LegHandle {
    pub(crate) leg: Arc<Leg>,
    pub(crate) relay: Arc<RelayShared>,
}

impl LegHandle {
    /// The leg's identifier.
    pub fn id(&self) -> LegId {
        self.leg.id
    }

    /// The local RTP address: the `c=`/`m=` address and port to put in the
    /// SDP toward this leg's remote.
    pub fn local_rtp(&self) -> SocketAddr {
        self.leg.rtp.local()
    }

    /// The local RTCP address (the RTP port plus one).
    pub fn local_rtcp(&self) -> SocketAddr {
        self.leg.rtcp.local()
    }

    /// The leg's port pair.
    pub fn ports(&self) -> PortPair {
        self.leg.lease.pair
    }

    /// Sets the remote's RTP address from its SDP (an answer arrived, or a
    /// re-INVITE moved the media). A new host forgets the latch.
    pub fn set_remote(&self, remote: Option<SocketAddr>) {
        let mut core = lock(&self.leg.core);
        core.set_expected(remote);
        core.take_destinations_changed();
        self.leg.publish(&core);
    }

    /// A snapshot of the leg's counters.
    pub fn stats(&self) -> LegStats {
        let core = lock(&self.leg.core);
        LegStats {
            inbound: core.inbound(),
            outbound: self.leg.outbound.snapshot(),
            loss: core.loss(),
            latched_rtp: core.latched_rtp(),
            latched_rtcp: core.latched_rtcp(),
        }
    }

    /// How long the remote has sent nothing the leg accepted, at `now`: for
    /// media inactivity timeouts.
    pub fn idle_for(&self, now: Instant) -> Duration {
        lock(&self.leg.core).idle_for(now)
    }

    /// Closes the leg (see the type's documentation).
    pub fn close(self) {
        // Drop does the work, so that every path out releases the ports.
    }
}

impl Drop for LegHandle {
    fn drop(&mut self) {
        self.relay.close_leg(&self.leg);
    }
}

impl fmt::Debug for LegHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegHandle")
            .field("id", &self.leg.id)
            .field("rtp", &self.leg.rtp.local())
            .finish_non_exhaustive()
    }
}
