//! The monitor: a leg (the listener) that hears the mix of a bridge's two
//! ends while what it sends goes nowhere. After a handover with
//! monitoring, the device the call left keeps listening to both parties.
//!
//! Each bridge end carries a tap pointing (weakly) at the monitor; the
//! worker reading that end feeds its G.711 frames to the monitor's mixer
//! and sends whatever the mixer emits out of the listener's RTP socket,
//! through the listener's egress, so the listener hears one continuous
//! stream. The listener owns the monitor: closing it, or ending the
//! monitor, drops the last strong reference, so a tap left behind on a
//! leg finds nothing to feed and does nothing.

use super::leg::Leg;
use super::lock;
use crate::g711::Law;
use crate::mixer::{Mixer, Side};
use crate::rtp::{payload_range, RtpHeader};
use crate::{DropReason, LegId, Ssrc};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// Bits of [`Leg::extras`]: which per-packet extras a leg has on, so that
/// a leg with none pays one relaxed load per packet and nothing more.
pub(crate) mod extras {
    /// Inbound telephone-events are watched for keys.
    pub(crate) const KEYS: u8 = 1;
    /// Inbound audio feeds a monitor.
    pub(crate) const TAP: u8 = 2;
    /// The leg listens to a monitor: its inbound packets are dropped.
    pub(crate) const LISTENING: u8 = 4;
}

/// One monitor, owned by its listener.
pub(crate) struct Monitor {
    listener: Weak<Leg>,
    /// The epoch of the "route" from the mixer into the listener's egress:
    /// above anything the listener heard before, so the egress splices.
    epoch: u64,
    /// The tapped legs, to remove the taps when the monitor ends.
    taps: [Weak<Leg>; 2],
    mixer: Mutex<Mixer>,
}

/// What a tapped leg knows of the monitor it feeds.
#[derive(Debug)]
pub(crate) struct Tap {
    monitor: Weak<Monitor>,
    side: Side,
}

/// Starts a monitor for `listener` over `clock` and `other` (the relay's
/// control lock held; the caller has checked the legs). Ends the
/// listener's previous monitor, if any.
pub(crate) fn start(listener: &Arc<Leg>, clock: &Arc<Leg>, other: &Arc<Leg>, epoch: u64) {
    stop(listener);
    let heard = lock(&listener.egress)
        .last_payload_type
        .and_then(Law::of_payload_type);
    let monitor = Arc::new(Monitor {
        listener: Arc::downgrade(listener),
        epoch,
        taps: [Arc::downgrade(clock), Arc::downgrade(other)],
        // The SSRC is never heard: the listener's egress maps the mix onto
        // the stream the listener already knows.
        mixer: Mutex::new(Mixer::new(Ssrc(0x6d69_7800 ^ epoch as u32), heard)),
    });
    for (leg, side) in [(clock, Side::Clock), (other, Side::Other)] {
        leg.tap.store(Some(Arc::new(Tap {
            monitor: Arc::downgrade(&monitor),
            side,
        })));
        leg.extras.fetch_or(extras::TAP, Ordering::AcqRel);
    }
    *lock(&listener.monitor) = Some(monitor);
    listener
        .extras
        .fetch_or(extras::LISTENING, Ordering::AcqRel);
}

/// Ends `listener`'s monitor, if it has one: its taps go, and the
/// listener's packets are forwarded again if it is bridged. Called with
/// the relay's control lock held. Idempotent.
pub(crate) fn stop(listener: &Leg) {
    listener
        .extras
        .fetch_and(!extras::LISTENING, Ordering::AcqRel);
    let Some(monitor) = lock(&listener.monitor).take() else {
        return;
    };
    let weak = Arc::downgrade(&monitor);
    for leg in monitor.taps.iter().filter_map(Weak::upgrade) {
        let ours = leg
            .tap
            .load()
            .as_ref()
            .is_some_and(|t| Weak::ptr_eq(&t.monitor, &weak));
        if ours {
            leg.extras.fetch_and(!extras::TAP, Ordering::AcqRel);
            leg.tap.store(None);
        }
    }
}

/// Whether `leg` feeds a live monitor whose listener is not `listener`.
pub(crate) fn tapped_by_other(leg: &Leg, listener: LegId) -> bool {
    leg.tap.load().as_ref().is_some_and(|t| {
        t.monitor
            .upgrade()
            .and_then(|m| m.listener.upgrade())
            .is_some_and(|l| l.id != listener && !l.closed.load(Ordering::Acquire))
    })
}

/// Feeds an RTP packet that arrived at `now` on the tapped `leg` to its
/// monitor, and sends what the mix yields to the listener. Returns the
/// bytes sent, if a packet went out.
pub(crate) fn feed(leg: &Leg, h: RtpHeader, data: &[u8], now: Instant) -> Option<usize> {
    let law = Law::of_payload_type(h.payload_type)?;
    let tap = leg.tap.load();
    let tap = tap.as_ref()?;
    let monitor = tap.monitor.upgrade()?;
    let payload = &data[payload_range(data)?];
    let mut mixer = lock(&monitor.mixer);
    let out = mixer.feed(tap.side, now, law, payload)?;
    let listener = monitor.listener.upgrade()?;
    if listener.closed.load(Ordering::Acquire) {
        return None;
    }
    let destination = listener.destinations.load().rtp?;
    let packet = mixer.packet_mut();
    // Sent with the listener's egress locked, as the worker's forwarding
    // does: the mix and a route into the listener never overtake each
    // other's numbering.
    let sent = lock(&listener.egress).rtp(now, monitor.epoch, out, packet, |d| {
        listener.rtp().send_to(d, destination)
    });
    match sent {
        Ok(n) => {
            listener.outbound.sent(n);
            Some(n)
        }
        Err(DropReason::SendFailed) => {
            listener.outbound.failed();
            None
        }
        Err(_) => None,
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}
