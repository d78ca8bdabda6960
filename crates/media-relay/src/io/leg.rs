//! A leg as the threads share it ([`Leg`]) and as the control side holds
//! it ([`LegHandle`]).

use super::bridge::Route;
use super::lock;
use super::monitor::{self, extras, Monitor, Tap};
use super::ports::{Ports, Sockets};
use super::relay::RelayShared;
use super::socket::MediaSocket;
use crate::dtmf::{KeySink, KeyWatch};
use crate::egress::Egress;
use crate::leg_state::{LegState, Port};
use crate::prompt::Prompt;
use crate::{DirectionStats, DropReason, LegId, LegStats, PortPair};
use arc_swap::{ArcSwap, ArcSwapOption};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
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

/// A port pair on loan from the pool, with its sockets; given back when
/// dropped, the sockets kept open for the pair's next leg if the budget
/// allows (see [`super::ports`]), else closed.
#[derive(Debug)]
pub(crate) struct PortLease {
    pub(crate) pair: PortPair,
    pub(crate) sockets: Arc<Sockets>,
    pub(crate) ports: Arc<Mutex<Ports>>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let closing = {
            let mut ports = lock(&self.ports);
            let closing = ports.release(self.pair, Arc::clone(&self.sockets));
            metrics::gauge!(crate::metrics::PORTS_IN_USE).set(ports.in_use() as f64);
            closing
        };
        // Our own reference goes with `self`; a returned one is the other,
        // dropped (closed, if last) outside the lock.
        drop(closing);
    }
}

/// One leg: its two sockets (in `lease`) and everything the workers share
/// about it.
pub(crate) struct Leg {
    pub(crate) id: LegId,
    /// Latching, validation, inbound counters. Locked by the leg's worker
    /// once per wakeup, by the control side for `set_remote` and `stats`.
    pub(crate) core: Mutex<LegState>,
    /// Published from `core` whenever it changes.
    pub(crate) destinations: ArcSwap<Destinations>,
    /// Where this leg's packets go; swapped whole by connect and re-point.
    pub(crate) route: ArcSwapOption<Route>,
    /// Rewrites what is sent toward this leg's remote, and mixes in a
    /// prompt tone.
    pub(crate) egress: Mutex<Egress>,
    pub(crate) outbound: Outbound,
    /// Which of the extras below are on (`monitor::extras` bits): the
    /// packet path looks at them only when a bit is set.
    pub(crate) extras: AtomicU8,
    /// The key watch on inbound telephone-events.
    pub(crate) keys: Mutex<Option<(KeyWatch, KeySink)>>,
    /// The monitor this leg's inbound audio feeds.
    pub(crate) tap: ArcSwapOption<Tap>,
    /// The monitor this leg listens to (it owns it).
    pub(crate) monitor: Mutex<Option<Arc<Monitor>>>,
    pub(crate) closed: AtomicBool,
    /// The worker reading the sockets, and their slot in its poller: fixed
    /// per port pair (see [`super::ports::placement`]).
    pub(crate) worker: usize,
    pub(crate) slot: usize,
    /// The ports and their sockets. Declared last: fields drop in order,
    /// and the lease gives the pair (and maybe its sockets) to the next leg.
    pub(crate) lease: PortLease,
}

impl Leg {
    pub(crate) fn socket(&self, port: Port) -> &MediaSocket {
        match port {
            Port::Rtp => &self.lease.sockets.rtp,
            Port::Rtcp => &self.lease.sockets.rtcp,
        }
    }

    pub(crate) fn rtp(&self) -> &MediaSocket {
        &self.lease.sockets.rtp
    }

    pub(crate) fn rtcp(&self) -> &MediaSocket {
        &self.lease.sockets.rtcp
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
            .field("rtp", &self.rtp().local())
            .field("rtcp", &self.rtcp().local())
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// The control side's handle on a leg: its local addresses (for the SDP
/// Baton sends), its remote (from the SDP it receives), its counters.
///
/// Dropping the handle closes the leg, as [`LegHandle::close`] does: the
/// leg leaves any bridge, its worker stops reading it, and its ports go
/// back to the pool once the worker has let go (within one poll timeout,
/// 50 ms: closing does not wake the worker).
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
        self.leg.rtp().local()
    }

    /// The local RTCP address (the RTP port plus one).
    pub fn local_rtcp(&self) -> SocketAddr {
        self.leg.rtcp().local()
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

    /// Watches the telephone-events (RFC 4733) this leg's remote sends in
    /// `payload_type` for the event codes `keys` (0-9 digits, 10 `*`, 11
    /// `#`). Until [`LegHandle::unwatch_keys`], each such packet is dropped
    /// (counted as [`DropReason::DtmfConsumed`]) instead of forwarded, and
    /// `sink` is called once per key press, on the first packet seen of
    /// its event. Other events and packets pass as before. Replaces any
    /// earlier watch.
    pub fn watch_keys(&self, payload_type: u8, keys: &[u8], sink: KeySink) {
        *lock(&self.leg.keys) = Some((KeyWatch::new(payload_type, keys), sink));
        self.leg.extras.fetch_or(extras::KEYS, Ordering::AcqRel);
    }

    /// Ends the key watch: every telephone-event is forwarded again, but
    /// for the rest of the event being consumed now (its end packets).
    pub fn unwatch_keys(&self) {
        let mut keys = lock(&self.leg.keys);
        // The key that decided is still being sent (its end packets): it
        // is consumed to its end, so the other side never hears it.
        match keys
            .as_ref()
            .and_then(|(w, sink)| Some((w.finishing()?, Arc::clone(sink))))
        {
            Some(finishing) => *keys = Some(finishing),
            None => {
                self.leg.extras.fetch_and(!extras::KEYS, Ordering::AcqRel);
                *keys = None;
            }
        }
    }

    /// Mixes a prompt tone (a 1 kHz beep, 250 ms on, 250 ms off, at
    /// -12 dBFS) into every G.711 packet (PCMU, PCMA) sent toward this
    /// leg's remote for `duration` from now; other payload types pass
    /// unchanged. The tone rides on the packets the other side sends:
    /// while it is silent (nothing to forward), no tone is heard. Replaces
    /// a prompt playing.
    pub fn play_prompt(&self, duration: Duration) {
        lock(&self.leg.egress).prompt = Some(Prompt::new(Instant::now() + duration));
    }

    /// Stops the prompt tone, if one is playing.
    pub fn stop_prompt(&self) {
        lock(&self.leg.egress).prompt = None;
    }

    /// Ends the monitor this leg listens to (see [`crate::Relay::monitor`]),
    /// if any: the bridge it listened to is left as it is, and what this
    /// leg sends is handled as before (dropped as `no_destination` unless
    /// it is bridged). Closing the leg does this too.
    pub fn stop_monitor(&self) {
        let _control = lock(&self.relay.control);
        monitor::stop(&self.leg);
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
            .field("rtp", &self.leg.rtp().local())
            .finish_non_exhaustive()
    }
}
