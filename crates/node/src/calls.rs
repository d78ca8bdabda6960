//! The router between the node's SIP core and its calls: which call a
//! message belongs to, starting calls, and forgetting them when they stop.

use crate::server::CallPlan;
use call::ids::{self, CallNumber, LegIndex};
use call::{CallActor, CallArgs, CallMsg, CallNotice, SignallingContext};
use media_relay::Relay;
use ractor::{Actor, ActorRef};
use sip_message::Message;
use sip_proto::Flow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Calls by number, and the caller-side routes to them.
pub struct Calls {
    next: u64,
    calls: HashMap<CallNumber, ActorRef<CallMsg>>,
    /// (Call-ID, From tag) of the caller's dialog → call. The caller's
    /// Call-ID is the caller's, so its tag disambiguates.
    caller_routes: HashMap<(String, String), CallNumber>,
    caller_keys: HashMap<CallNumber, (String, String)>,
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
            caller_routes: HashMap::new(),
            caller_keys: HashMap::new(),
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
            if let Some(call) = self.caller_routes.get(&(call_id.to_string(), from_tag)) {
                return Some((*call, LegIndex::CALLER));
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

    /// Hands a message to its call.
    pub fn deliver(&self, (call, index): (CallNumber, LegIndex), message: Message, flow: Flow) {
        if let Some(actor) = self.calls.get(&call) {
            let _ = actor.cast(CallMsg::Deliver {
                index,
                message: Box::new(message),
                flow,
            });
        }
    }

    /// Starts a call for an authenticated, routed INVITE.
    pub async fn start(&mut self, invite: Message, flow: Flow, plan: CallPlan) {
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
        };
        match Actor::spawn(None, CallActor, args).await {
            Ok((actor, _)) => {
                self.calls.insert(call, actor);
                self.caller_routes.insert(key.clone(), call);
                self.caller_keys.insert(call, key);
            }
            Err(e) => tracing::error!(error = %e, "cannot start a call actor"),
        }
    }

    /// Forgets a call whose actors have stopped.
    pub fn forget(&mut self, call: CallNumber) {
        self.calls.remove(&call);
        if let Some(key) = self.caller_keys.remove(&call) {
            self.caller_routes.remove(&key);
        }
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
