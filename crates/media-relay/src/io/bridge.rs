//! Bridges: which leg's packets go out of which other leg, and the
//! re-point that moves one end of a bridge to a new leg.
//!
//! A route is immutable and swapped whole (`arc-swap`), so a worker
//! forwarding a packet sees either the old route or the new one, never a
//! mix, and never takes a lock to find out.

use super::leg::{Leg, LegHandle};
use super::lock;
use super::monitor;
use super::relay::RelayShared;
use crate::{LegId, RelayError, Splice};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

/// Where one leg's packets go.
#[derive(Debug)]
pub(crate) struct Route {
    /// The leg whose sockets send them, to its remote.
    pub(crate) to: Arc<Leg>,
    /// Orders routes into the same leg: a re-point's route has a higher
    /// epoch than the one it replaces (see `StreamRewriter`).
    pub(crate) epoch: u64,
}

/// Two legs forwarding to each other. Held by the control side (the
/// call's media-bridge actor) to re-point or disconnect.
///
/// Dropping the handle leaves the bridge running: it ends when either leg
/// closes, or on [`BridgeHandle::disconnect`].
pub struct BridgeHandle {
    relay: Arc<RelayShared>,
    ends: Mutex<[(LegId, Weak<Leg>); 2]>,
    /// The latest re-point: the end it left in place (R) and the epoch of
    /// the new route into R, whose splice [`BridgeHandle::last_splice`]
    /// reports.
    repointed: Mutex<Option<(LegId, Weak<Leg>, u64)>>,
}

impl BridgeHandle {
    pub(crate) fn connect(
        relay: &Arc<RelayShared>,
        a: &LegHandle,
        b: &LegHandle,
    ) -> Result<Self, RelayError> {
        let _control = lock(&relay.control);
        if a.id() == b.id() {
            return Err(RelayError::SameLeg { leg: a.id() });
        }
        for h in [a, b] {
            usable(&h.leg)?;
        }
        for h in [a, b] {
            monitor::stop(&h.leg);
        }
        a.leg.route.store(Some(Arc::new(Route {
            to: Arc::clone(&b.leg),
            epoch: relay.next_epoch(),
        })));
        b.leg.route.store(Some(Arc::new(Route {
            to: Arc::clone(&a.leg),
            epoch: relay.next_epoch(),
        })));
        Ok(BridgeHandle {
            relay: Arc::clone(relay),
            ends: Mutex::new([
                (a.id(), Arc::downgrade(&a.leg)),
                (b.id(), Arc::downgrade(&b.leg)),
            ]),
            repointed: Mutex::new(None),
        })
    }

    /// Moves the end `old` of this bridge to `new`: from the next packet on,
    /// the other end's (R's) packets go out of `new`, and `new`'s packets go
    /// to R, rewritten so that R hears its stream continue (same SSRC,
    /// sequence +1, timestamps advancing with time). `old` is left
    /// unbridged; its packets are dropped as `no_destination` until it is
    /// closed or bridged again.
    ///
    /// Each direction switches atomically. Packets from `old` already being
    /// forwarded when the switch happens are dropped once `new`'s first
    /// packet has reached R, so R never goes back to the old stream. Each
    /// packet is judged with the route current when it is forwarded (not
    /// the one its worker's wakeup began with), and packets toward R are
    /// numbered and sent under R's egress lock: `new`'s first packet
    /// follows the last packet actually sent to R, and leaves after it.
    pub fn repoint(&self, old: &LegHandle, new: &LegHandle) -> Result<(), RelayError> {
        let _control = lock(&self.relay.control);
        let mut ends = lock(&self.ends);
        let i = ends
            .iter()
            .position(|(id, _)| *id == old.id())
            .ok_or(RelayError::NotInBridge { leg: old.id() })?;
        if new.id() == old.id() {
            return Ok(());
        }
        let (r_id, r) = &ends[1 - i];
        let r = r.upgrade().ok_or(RelayError::LegClosed { leg: *r_id })?;
        if r.closed.load(Ordering::Acquire) {
            return Err(RelayError::LegClosed { leg: r.id });
        }
        if new.id() == r.id {
            return Err(RelayError::SameLeg { leg: r.id });
        }
        usable(&new.leg)?;
        monitor::stop(&new.leg);
        // New → R first: R's rewriter starts the splice on new's first
        // packet. Then R → new, then old is cut off.
        let epoch = self.relay.next_epoch();
        *lock(&self.repointed) = Some((r.id, Arc::downgrade(&r), epoch));
        new.leg.route.store(Some(Arc::new(Route {
            to: Arc::clone(&r),
            epoch,
        })));
        r.route.store(Some(Arc::new(Route {
            to: Arc::clone(&new.leg),
            epoch: self.relay.next_epoch(),
        })));
        old.leg.route.store(None);
        ends[i] = (new.id(), Arc::downgrade(&new.leg));
        Ok(())
    }

    /// How the stream toward the end the latest [`BridgeHandle::repoint`]
    /// left in place (R) was spliced: when the new end's first packet was
    /// sent to R, the time since the old end's last, and the packets R
    /// missed in between (see [`Splice`]). `None` before the new end's
    /// first packet has reached R, if no re-point happened, if R had heard
    /// nothing from the old end, or if R is closed.
    pub fn last_splice(&self) -> Option<Splice> {
        let (_, r, epoch) = lock(&self.repointed).clone()?;
        let r = r.upgrade()?;
        let (spliced, splice) = lock(&r.egress).rewriter.last_splice()?;
        (spliced == epoch).then_some(splice)
    }

    /// Makes `listener` hear both ends of this bridge mixed (see
    /// [`crate::Relay::monitor`]).
    pub(crate) fn monitor(&self, listener: &LegHandle) -> Result<(), RelayError> {
        let _control = lock(&self.relay.control);
        let ends = lock(&self.ends);
        let l = &listener.leg;
        if l.closed.load(Ordering::Acquire) {
            return Err(RelayError::LegClosed { leg: l.id });
        }
        if ends.iter().any(|(id, _)| *id == l.id) {
            return Err(RelayError::MonitorOwnBridge { leg: l.id });
        }
        if l.route.load().is_some() {
            return Err(RelayError::AlreadyBridged { leg: l.id });
        }
        let mut legs = Vec::with_capacity(2);
        for (id, weak) in ends.iter() {
            let leg = weak
                .upgrade()
                .filter(|leg| !leg.closed.load(Ordering::Acquire))
                .ok_or(RelayError::LegClosed { leg: *id })?;
            if monitor::tapped_by_other(&leg, l.id) {
                return Err(RelayError::AlreadyMonitored { leg: *id });
            }
            legs.push(leg);
        }
        // The clock is R, the end the latest re-point left in place; with
        // no re-point, the second end given to `connect`.
        let unmoved = lock(&self.repointed).as_ref().map(|(id, _, _)| *id);
        let clock = if unmoved == Some(ends[0].0) { 0 } else { 1 };
        monitor::start(l, &legs[clock], &legs[1 - clock], self.relay.next_epoch());
        Ok(())
    }

    /// Stops forwarding between the two ends. The legs stay open.
    pub fn disconnect(&self) {
        let _control = lock(&self.relay.control);
        let ends = lock(&self.ends);
        let legs: Vec<_> = ends.iter().filter_map(|(_, w)| w.upgrade()).collect();
        for leg in &legs {
            let points_inside = leg
                .route
                .load()
                .as_ref()
                .is_some_and(|r| ends.iter().any(|(id, _)| *id == r.to.id));
            if points_inside {
                leg.route.store(None);
            }
        }
    }

    /// The legs at the two ends now.
    pub fn ends(&self) -> (LegId, LegId) {
        let ends = lock(&self.ends);
        (ends[0].0, ends[1].0)
    }
}

/// A leg can join a bridge if it is open and in no other bridge.
fn usable(leg: &Leg) -> Result<(), RelayError> {
    if leg.closed.load(Ordering::Acquire) {
        return Err(RelayError::LegClosed { leg: leg.id });
    }
    if leg.route.load().is_some() {
        return Err(RelayError::AlreadyBridged { leg: leg.id });
    }
    Ok(())
}

/// Cuts `leg` out of its bridge: its own route, and its partner's route
/// back to it. Called with the relay's control lock held.
pub(crate) fn unlink(leg: &Leg) {
    if let Some(route) = leg.route.swap(None) {
        let partner = &route.to;
        let back = partner
            .route
            .load()
            .as_ref()
            .is_some_and(|r| r.to.id == leg.id);
        if back {
            partner.route.store(None);
        }
    }
}

impl fmt::Debug for BridgeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeHandle")
            .field("ends", &self.ends())
            .finish_non_exhaustive()
    }
}
