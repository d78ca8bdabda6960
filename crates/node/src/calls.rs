//! The router between the node's SIP core and its calls: which call a
//! message belongs to, starting calls, and forgetting them when they stop.

use crate::pull_limits::{Limited, PullLimiter, PullLimits};
use crate::server::CallPlan;
use call::ids::{self, CallNumber, LegIndex};
use call::{CallActor, CallArgs, CallMsg, CallNotice, DialogPhase, SignallingContext, UserDialog};
use media_relay::Relay;
use ractor::{Actor, ActorRef};
use sip_message::Message;
use sip_proto::Flow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// A device dialog as a switch request names it: (Call-ID, Baton's tag,
/// the device's tag).
type DialogKey = (String, String, String);

/// Calls by number, and the routes to them of the dialogs whose Call-ID
/// is the device's (callers, new devices of a handover).
pub struct Calls {
    next: u64,
    calls: HashMap<CallNumber, ActorRef<CallMsg>>,
    /// (Call-ID, From tag) of a dialog a device opened → call and leg. The
    /// Call-ID is the device's, so its tag disambiguates.
    device_routes: HashMap<(String, String), (CallNumber, LegIndex)>,
    route_keys: HashMap<CallNumber, Vec<(String, String)>>,
    /// Confirmed device dialogs of users, for switch requests.
    /// Boxed: the table holds two per call, and a `UserDialog` is large.
    dialogs: HashMap<DialogKey, (u64, Box<UserDialog>)>,
    dialog_keys: HashMap<CallNumber, Vec<DialogKey>>,
    /// Orders confirmations: the feature code takes the latest.
    confirmed_seq: u64,
    /// The leg numbers of new devices, per call.
    pull_legs: PullLegs,
    /// How often calls may be pulled and users may pull.
    pull_limits: PullLimiter,
    handover: call::HandoverPolicy,
    ctx: SignallingContext,
    relay: Arc<Relay>,
    media_ip: IpAddr,
    notices: UnboundedSender<CallNotice>,
    no_answer: Duration,
    media_inactivity: Duration,
    strict_latching: bool,
    log: Arc<dyn call::log::CallLog>,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("active", &self.calls.len())
            .finish()
    }
}

impl Calls {
    /// An empty router.
    pub fn new(
        ctx: SignallingContext,
        relay: Arc<Relay>,
        media_ip: IpAddr,
        notices: UnboundedSender<CallNotice>,
        log: Arc<dyn call::log::CallLog>,
    ) -> Self {
        // Call numbers stay unique across restarts (they key the replicated
        // call table): start from the clock, in milliseconds, times 1000.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        Calls {
            log,
            next: now_ms.saturating_mul(1000),
            calls: HashMap::new(),
            device_routes: HashMap::new(),
            route_keys: HashMap::new(),
            dialogs: HashMap::new(),
            dialog_keys: HashMap::new(),
            confirmed_seq: 0,
            pull_legs: PullLegs::default(),
            pull_limits: PullLimiter::new(PullLimits::default()),
            handover: call::HandoverPolicy::default(),
            ctx,
            relay,
            media_ip,
            notices,
            no_answer: Duration::from_secs(120),
            media_inactivity: Duration::from_secs(60),
            strict_latching: false,
        }
    }

    /// The call and leg a request belongs to: the caller's dialog by its
    /// Call-ID and From tag, a callee's by the marker in Baton's Call-ID.
    pub fn route_request(&self, request: &Message) -> Option<(CallNumber, LegIndex)> {
        let call_id = request.call_id()?;
        if let Some(from_tag) = request.from_tag() {
            if let Some(route) = self.device_routes.get(&(call_id.to_string(), from_tag)) {
                return Some(*route);
            }
        }
        let (call, leg) = ids::parse_marker(call_id)?;
        self.calls.contains_key(&call).then_some((call, leg))
    }

    /// The call and leg a response belongs to: the marker in our branch.
    pub fn route_response(&self, response: &Message) -> Option<(CallNumber, LegIndex)> {
        let via = response.top_via()?;
        let (call, leg) = ids::parse_marker(via.branch()?)?;
        self.calls.contains_key(&call).then_some((call, leg))
    }

    /// Hands a message to its call: `flow` is where responses go,
    /// `source` where the packet really came from (the leg checks it
    /// against its device's flow).
    pub fn deliver(
        &self,
        (call, index): (CallNumber, LegIndex),
        message: Message,
        flow: Flow,
        source: Flow,
    ) {
        if let Some(actor) = self.calls.get(&call) {
            let _ = actor.cast(CallMsg::Deliver {
                index,
                arrival: Box::new(call::Arrival {
                    message,
                    reply: flow,
                    source,
                }),
            });
        }
    }

    /// A user's device re-registered from `flow` (a NAT rebinding, RFC
    /// 5626): each confirmed device dialog of `user` is told, and the leg
    /// whose device bound one of `contacts` takes `flow` as its signalling
    /// flow.
    pub fn rebind(&self, user: &str, contacts: Vec<call::flow_guard::DeviceContact>, flow: Flow) {
        if contacts.is_empty() {
            return;
        }
        let rebinding = call::Rebinding { contacts, flow };
        for (_, dialog) in self.dialogs.values().filter(|(_, d)| d.user == user) {
            if let Some(actor) = self.calls.get(&dialog.call) {
                let _ = actor.cast(CallMsg::Rebind {
                    leg: dialog.leg,
                    rebinding: Box::new(rebinding.clone()),
                });
            }
        }
    }

    /// Starts a call for an authenticated, routed INVITE; its number, or
    /// `None` when its actor could not start. [`CallNotice::Gone`] with
    /// that number says when it has ended.
    pub async fn start(
        &mut self,
        invite: Message,
        flow: Flow,
        source: Flow,
        plan: CallPlan,
    ) -> Option<CallNumber> {
        let call = CallNumber(self.next);
        self.next += 1;
        let key = (
            invite.call_id().unwrap_or_default().to_string(),
            invite.from_tag().unwrap_or_default(),
        );
        let args = CallArgs {
            call,
            invite,
            flow,
            source,
            targets: plan.targets,
            from: plan.from,
            to: plan.to,
            ctx: self.ctx.clone(),
            relay: self.relay.clone(),
            media_ip: self.media_ip,
            notices: self.notices.clone(),
            no_answer: self.no_answer,
            media_inactivity: self.media_inactivity,
            strict_latching: self.strict_latching,
            log: self.log.clone(),
            caller_user: plan.caller_user,
            callee_user: plan.callee_user,
            handover: self.handover,
        };
        match Actor::spawn(None, CallActor, args).await {
            Ok((actor, _)) => {
                self.calls.insert(call, actor);
                self.device_routes
                    .insert(key.clone(), (call, LegIndex::CALLER));
                self.route_keys.insert(call, vec![key]);
                Some(call)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a call actor");
                None
            }
        }
    }

    /// Forgets a call whose actors have stopped.
    pub fn forget(&mut self, call: CallNumber) {
        self.calls.remove(&call);
        self.pull_legs.forget(call);
        self.pull_limits.forget_call(call);
        for key in self.route_keys.remove(&call).unwrap_or_default() {
            self.device_routes.remove(&key);
        }
        for key in self.dialog_keys.remove(&call).unwrap_or_default() {
            self.dialogs.remove(&key);
        }
    }

    /// A device dialog changed: confirmed ones can be pulled, others not.
    pub fn on_dialog(&mut self, dialog: &UserDialog) {
        let key = (
            dialog.call_id.clone(),
            dialog.baton_tag.clone(),
            dialog.device_tag.clone(),
        );
        if dialog.phase == DialogPhase::Confirmed && self.calls.contains_key(&dialog.call) {
            self.confirmed_seq += 1;
            // A dialog is announced again on every hold and resume: the
            // call's key list must not grow with them.
            let keys = self.dialog_keys.entry(dialog.call).or_default();
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
            self.dialogs
                .insert(key, (self.confirmed_seq, Box::new(dialog.clone())));
        } else {
            self.dialogs.remove(&key);
            if let Some(keys) = self.dialog_keys.get_mut(&dialog.call) {
                keys.retain(|k| *k != key);
            }
        }
    }

    /// A leg of a call that goes on stopped for good: its device route
    /// and its dialog (if it was a user's) are forgotten, so that requests
    /// in its dialog get `481` from the core.
    pub fn leg_gone(&mut self, call: CallNumber, leg: LegIndex) {
        if let Some(keys) = self.route_keys.get_mut(&call) {
            let routes = &mut self.device_routes;
            keys.retain(|key| {
                let gone = routes.get(key) == Some(&(call, leg));
                if gone {
                    routes.remove(key);
                }
                !gone
            });
        }
        if let Some(keys) = self.dialog_keys.get_mut(&call) {
            let dialogs = &mut self.dialogs;
            keys.retain(|key| {
                let gone = dialogs.get(key).is_some_and(|(_, d)| d.leg == leg);
                if gone {
                    dialogs.remove(key);
                }
                !gone
            });
        }
    }

    /// Whether `user` may pull `call` now (rates, back-off, a leg number
    /// left); a pull admitted is counted.
    pub fn admit_pull(
        &mut self,
        now: Instant,
        user: &str,
        call: CallNumber,
    ) -> Result<(), PullRefusal> {
        if !self.pull_legs.available(call) {
            return Err(PullRefusal::NoLegNumber);
        }
        self.pull_limits
            .check(now, user, call)
            .map_err(PullRefusal::Limited)
    }

    /// An attempt on `call` ended (the back-off after a denial or timeout).
    pub fn pull_ended(&mut self, now: Instant, call: CallNumber, outcome: call::handover::Outcome) {
        self.pull_limits.ended(now, call, outcome);
    }

    /// Sets the pull limits (`[handover]`).
    pub fn set_pull_limits(&mut self, limits: PullLimits) {
        self.pull_limits = PullLimiter::new(limits);
    }

    /// The device dialog a Replaces header names, compared exactly
    /// (RFC 3891 §3: `to-tag` is Baton's tag, `from-tag` the device's).
    pub fn dialog_named(&self, call_id: &str, to_tag: &str, from_tag: &str) -> Option<&UserDialog> {
        self.dialogs
            .get(&(
                call_id.to_string(),
                to_tag.to_string(),
                from_tag.to_string(),
            ))
            .map(|(_, d)| &**d)
    }

    /// The feature code's target: `user`'s most recently confirmed dialog
    /// not on hold.
    pub fn latest_dialog_of(&self, user: &str) -> Option<&UserDialog> {
        self.dialogs
            .values()
            .filter(|(_, d)| d.user == user && !d.on_hold)
            .max_by_key(|(seq, _)| *seq)
            .map(|(_, d)| &**d)
    }

    /// Hands a switch request to the call holding `moving`: the new
    /// device's dialog gets a leg of its own, routed from now on.
    pub fn pull(
        &mut self,
        call: CallNumber,
        moving: LegIndex,
        invite: Message,
        flow: Flow,
        source: Flow,
    ) {
        let Some(actor) = self.calls.get(&call) else {
            return;
        };
        // `admit_pull` refused a call whose numbers ran out (503): a number
        // is never used twice in a call.
        let Some(index) = self.pull_legs.take(call) else {
            return;
        };
        let key = (
            invite.call_id().unwrap_or_default().to_string(),
            invite.from_tag().unwrap_or_default(),
        );
        self.device_routes.insert(key.clone(), (call, index));
        self.route_keys.entry(call).or_default().push(key);
        let _ = actor.cast(CallMsg::Pull {
            index,
            moving,
            arrival: Box::new(call::Arrival {
                message: invite,
                reply: flow,
                source,
            }),
        });
    }

    /// Sets what handovers may do (`[handover]`).
    pub fn set_handover_policy(&mut self, policy: call::HandoverPolicy) {
        self.handover = policy;
    }

    /// Calls in progress.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is up.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Ends every call (node shutdown).
    pub fn shutdown_all(&self) {
        for actor in self.calls.values() {
            let _ = actor.cast(CallMsg::Shutdown);
        }
    }

    /// Sets strict latching and the media inactivity timeout (`[media]`).
    pub fn set_media_policy(&mut self, strict_latching: bool, inactivity: Duration) {
        self.strict_latching = strict_latching;
        self.media_inactivity = inactivity;
    }
}

/// Why a switch request may not go to its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRefusal {
    /// Over a pull limit, or backing off (`429` with `Retry-After`).
    Limited(Limited),
    /// The call's leg numbers for new devices are used up (`503`).
    NoLegNumber,
}

/// The leg numbers of new devices, per call: `FIRST_PULLED..=u16::MAX`,
/// each used once (a number reused would route a finished dialog's
/// retransmissions to a new device's leg).
#[derive(Debug, Default)]
struct PullLegs {
    next: HashMap<CallNumber, u32>,
}

impl PullLegs {
    fn available(&self, call: CallNumber) -> bool {
        let next = self
            .next
            .get(&call)
            .copied()
            .unwrap_or(u32::from(LegIndex::FIRST_PULLED));
        next <= u32::from(u16::MAX)
    }

    fn take(&mut self, call: CallNumber) -> Option<LegIndex> {
        let next = self
            .next
            .entry(call)
            .or_insert(u32::from(LegIndex::FIRST_PULLED));
        let index = u16::try_from(*next).ok()?;
        *next += 1;
        Some(LegIndex(index))
    }

    fn forget(&mut self, call: CallNumber) {
        self.next.remove(&call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_leg_numbers_are_never_reused_and_run_out_instead() {
        let mut legs = PullLegs::default();
        let call = CallNumber(1);
        let mut seen = std::collections::HashSet::new();
        while legs.available(call) {
            let leg = legs.take(call).expect("a number while available");
            assert!(leg.is_pulled(), "{leg:?}");
            assert!(seen.insert(leg), "{leg:?} twice");
        }
        assert_eq!(
            seen.len(),
            usize::from(u16::MAX - LegIndex::FIRST_PULLED) + 1
        );
        assert!(seen.contains(&LegIndex(u16::MAX)));
        assert_eq!(legs.take(call), None, "exhausted: refused, not reused");
        assert!(!legs.available(call));
        // Another call has its own numbers; a call forgotten starts over.
        assert_eq!(
            legs.take(CallNumber(2)),
            Some(LegIndex(LegIndex::FIRST_PULLED))
        );
        legs.forget(call);
        assert!(legs.available(call));
    }
}
