//! A leg actor: one dialog of a call, with its own transaction layer. It
//! pumps the sans-IO machines (feed one message, drain transmits and
//! events, arm one timer at the next deadline) and reports what happened
//! to its `CallActor`; it decides nothing about the other leg.

use crate::flow_guard::{self, DeviceContact};
use crate::ids::{self, CallNumber, LegIndex};
use crate::net::{to_target, SignallingContext};
use crate::CallMsg;
use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use sip_message::{HeaderName, Message, Method, ResponseBuilder, Uri};
use sip_proto::dialog::Dialog;
use sip_proto::{
    Config, Event, Flow, RequestOutcome, ResponseOutcome, TransactionKey, TransactionLayer,
    TwoXxEvent, TwoXxRetransmitter,
};
use std::time::{Duration, Instant};

/// What a leg tells its call.
#[derive(Debug, Clone)]
pub enum LegEvent {
    /// A provisional response from the callee (UAC legs).
    Provisional {
        /// 180, 183 …
        code: u16,
        /// Its SDP, if any.
        sdp: Option<Bytes>,
    },
    /// The callee answered (UAC legs), with its SDP.
    Answered {
        /// The answer.
        sdp: Option<Bytes>,
    },
    /// The INVITE failed (UAC legs); 408 for a timeout.
    Failed {
        /// The status.
        code: u16,
    },
    /// The caller cancelled its INVITE (the UAS leg).
    Cancelled,
    /// The ACK for our 2xx arrived (the UAS leg), with the answer when
    /// the INVITE had no offer (late offer).
    Acked {
        /// The SDP answer in the ACK, if any.
        sdp: Option<Bytes>,
    },
    /// Our 2xx was never acknowledged (the UAS leg).
    AckTimeout,
    /// The peer hung up (BYE received and answered).
    Bye,
    /// This leg's dialog is confirmed: what a takeover needs of it.
    Confirmed(Box<crate::log::LegRecord>),
    /// The session timer ran out without a refresh (RFC 4028 §10).
    SessionExpired,
    /// The peer sent an in-dialog request the other side must see
    /// (re-INVITE, UPDATE, INFO); answer it with [`LegMsg::AnswerRequest`].
    Request {
        /// This leg's handle for the pending request.
        id: u64,
        /// The method.
        method: Method,
        /// Content-Type, if a body came.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// The final answer to a request sent with [`LegMsg::SendRequest`].
    RequestAnswered {
        /// Who asked, as given.
        origin: RequestOrigin,
        /// The method answered.
        method: Method,
        /// The status.
        code: u16,
        /// Content-Type of the body, if any.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
}

/// Who asked for a request a leg sends in its dialog, and so where its
/// final answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOrigin {
    /// Baton itself (the authorization INFO): the answer goes nowhere.
    /// A value no leg can have, whatever its number.
    Baton,
    /// Relayed from this leg's pending request `id` (its
    /// [`LegEvent::Request`] handle).
    Leg(LegIndex, u64),
}

/// Messages a leg takes.
#[derive(Debug)]
pub enum LegMsg {
    /// A SIP message the router matched to this leg (boxed: every send
    /// boxes a `LegMsg`, see `CallMsg`).
    Incoming(Box<Arrival>),
    /// The user's device re-registered from a new flow (a NAT rebinding,
    /// RFC 5626): if it is this leg's device, the new flow becomes the
    /// dialog's signalling flow.
    Rebind(Box<Rebinding>),
    /// A deadline of the machines may have passed.
    Timer,
    /// The session timer's deadline may have passed.
    SessionTimer,
    /// Answer the caller's INVITE (UAS leg).
    Respond {
        /// Status.
        code: u16,
        /// SDP body, already anchored at the relay.
        sdp: Option<Bytes>,
    },
    /// CANCEL our INVITE (UAC leg), if it has no final response yet.
    Cancel,
    /// End the dialog with a BYE (either role).
    Bye,
    /// End the dialog with a BYE carrying this `Reason` header (RFC 3326).
    ByeWithReason(&'static str),
    /// Send the ACK held back for a late offer, with the answer (UAC leg).
    Ack {
        /// The answer, anchored for this leg.
        sdp: Option<Bytes>,
    },
    /// Send an in-dialog request (relayed from the other leg).
    SendRequest {
        /// Who asks, returned in `RequestAnswered`.
        origin: RequestOrigin,
        /// The method.
        method: Method,
        /// Content-Type of the body, if any.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// The leg left the call (refused, cancelled, denied, rolled back,
    /// replaced): it answers what is still pending, refuses anything new
    /// (`481`), and stops once its transactions are over (the ACK of its
    /// final response absorbed, its BYE answered, retransmissions covered).
    Finish,
    /// Answer a request this leg reported with `LegEvent::Request`.
    AnswerRequest {
        /// The handle from the event.
        id: u64,
        /// The status.
        code: u16,
        /// Content-Type of the body, if any.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
}

/// A SIP message as it arrived.
#[derive(Debug)]
pub struct Arrival {
    /// The message.
    pub message: Message,
    /// Where responses go (the Via, or the source with `force_rport`).
    pub reply: Flow,
    /// The packet's real source: the transport address, and for TCP/TLS
    /// the connection. A request of a device's dialog counts only from
    /// the device's flow.
    pub source: Flow,
}

/// An accepted REGISTER of a user: the contacts it bound and the flow it
/// came from.
#[derive(Debug, Clone)]
pub struct Rebinding {
    /// The contacts the REGISTER bound (not those it removed).
    pub contacts: Vec<DeviceContact>,
    /// The REGISTER's source flow.
    pub flow: Flow,
}

/// What a leg's dialog allows (RFC 3261 §20.5): the `Allow` of Baton's
/// INVITEs and of a `405`.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK";

/// The longest session interval a leg keeps (RFC 4028): a peer asking for
/// more gets this (a UAS may lower the interval, §9), and no deadline ever
/// overflows `Instant + Duration`.
const MAX_SESSION_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// How a leg starts.
#[derive(Debug)]
pub enum LegRole {
    /// Baton is the UAS: the caller's INVITE and where it came from.
    Uas {
        /// The INVITE.
        invite: Message,
        /// Its flow (where responses go).
        flow: Flow,
        /// Where it really came from: the device's signalling flow.
        source: Flow,
        /// The node answered `100 Trying` already (a switch request).
        trying_sent: bool,
    },
    /// Baton is the UAC: an INVITE to one contact of the callee.
    Uac {
        /// The Request-URI (the registered contact).
        target: Uri,
        /// Where to send (the contact's registration flow).
        flow: Flow,
        /// From for the new dialog (the caller's identity, our tag added).
        from: String,
        /// To (the callee's AOR).
        to: String,
        /// The offer, anchored at this leg's relay port.
        sdp: Option<Bytes>,
    },
}

/// Start-up arguments.
#[derive(Debug)]
pub struct LegArgs {
    /// The call.
    pub call: CallNumber,
    /// This leg.
    pub index: LegIndex,
    /// UAS or UAC, with what it needs.
    pub role: LegRole,
    /// The call actor to report to.
    pub call_ref: ActorRef<CallMsg>,
    /// Transport and local addresses.
    pub ctx: SignallingContext,
}

/// The leg actor.
#[derive(Debug, Default)]
pub struct LegActor;

/// A leg's state.
#[derive(Debug)]
pub struct LegState {
    call: CallNumber,
    index: LegIndex,
    call_ref: ActorRef<CallMsg>,
    ctx: SignallingContext,
    layer: TransactionLayer,
    /// The INVITE of this leg (received or sent) and its transaction.
    invite: Message,
    invite_key: Option<TransactionKey>,
    /// Where this leg's peer is.
    flow: Flow,
    /// The device's signalling flow: requests of this leg's dialog count
    /// only from here (UAS: the INVITE's source; UAC: the contact's
    /// registration flow). A re-registration of the device moves it.
    device_flow: Flow,
    /// The device's Contact (URI, `+sip.instance`, `reg-id`), to know it
    /// again when it re-registers. Boxed: a leg's state lives as long as
    /// the call (`memory_per_call.sh`).
    device: Option<Box<DeviceContact>>,
    local_tag: String,
    dialog: Option<Dialog>,
    /// Boxed, like `unacked`: only until the ACK, and a leg's state is
    /// held for the whole call.
    two_xx: Option<Box<TwoXxRetransmitter>>,
    /// The ACK we sent for the 2xx (UAC), re-sent for each 2xx retransmission.
    ack: Option<Bytes>,
    final_sent_or_received: bool,
    armed: Option<Instant>,
    is_uas: bool,
    /// Requests from the peer waiting for the other side's answer.
    pending_in: std::collections::HashMap<u64, (TransactionKey, Message)>,
    next_pending: u64,
    /// Requests we relayed to the peer: our transaction → the origin.
    pending_out: std::collections::HashMap<TransactionKey, (RequestOrigin, Method)>,
    /// An INVITE of ours awaiting its final response (RFC 3261 §14.2 glare).
    reinvite_out: Option<TransactionKey>,
    /// The negotiated session timer, if any (RFC 4028).
    session: Option<SessionTimer>,
    /// Our own session refresh (an UPDATE), awaiting its answer.
    refresh_out: Option<TransactionKey>,
    /// The session deadline a timer is armed for.
    session_armed: Option<Instant>,
    /// The last RSeq acknowledged with a PRACK (RFC 3262).
    last_rseq: Option<u32>,
    /// The caller accepts reliable provisional responses (RFC 3262).
    caller_100rel: bool,
    /// The RSeq of our next reliable provisional.
    next_rseq: u32,
    /// A reliable provisional awaiting its PRACK, retransmitted until then.
    unacked: Option<Box<Unacked>>,
    /// Told to finish ([`LegMsg::Finish`]): stop once no transaction is left.
    finishing: bool,
    /// Counts this leg in `baton_call_legs_active` while the state lives
    /// (dropped on a stop and on a kill alike: a call's end kills its legs).
    _active: ActiveLeg,
}

/// One live leg in `baton_call_legs_active`.
#[derive(Debug)]
struct ActiveLeg;

impl ActiveLeg {
    fn new() -> ActiveLeg {
        metrics::gauge!(crate::metrics::CALL_LEGS_ACTIVE).increment(1.0);
        ActiveLeg
    }
}

impl Drop for ActiveLeg {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::CALL_LEGS_ACTIVE).decrement(1.0);
    }
}

/// A reliable provisional response not yet PRACKed (RFC 3262 §3):
/// retransmitted at T1, doubling, for 64·T1.
#[derive(Debug)]
struct Unacked {
    response: Message,
    rseq: u32,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

/// A leg's session timer (RFC 4028): who refreshes, and when the session
/// was last refreshed.
#[derive(Debug, Clone, Copy)]
struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    refreshed: Instant,
}

impl SessionTimer {
    /// When to act: the refresher at half the interval (§10), the other
    /// side at the interval minus min(32 s, interval/3) (§10).
    fn due(&self) -> Instant {
        let interval = self.interval.min(MAX_SESSION_INTERVAL);
        let wait = if self.we_refresh {
            interval / 2
        } else {
            interval.saturating_sub((interval / 3).min(Duration::from_secs(32)))
        };
        // Checked: an `Instant` near its end must not panic the leg.
        self.refreshed.checked_add(wait).unwrap_or(self.refreshed)
    }
}

/// Reads `Session-Expires: N[;refresher=uac|uas]` (RFC 4028 §4).
fn session_expires(message: &Message) -> Option<(Duration, Option<bool>)> {
    let value = message.header(&HeaderName::SessionExpires)?;
    let mut parts = value.split(';');
    let secs: u64 = parts.next()?.trim().parse().ok()?;
    // `18446744073709551615` is a number too: clamped, never added as is.
    let interval = Duration::from_secs(secs).min(MAX_SESSION_INTERVAL);
    let refresher = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim().eq_ignore_ascii_case("uac"));
    Some((interval, refresher))
}

impl Actor for LegActor {
    type Msg = LegMsg;
    type State = LegState;
    type Arguments = LegArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<LegMsg>,
        args: LegArgs,
    ) -> Result<LegState, ActorProcessingErr> {
        let now = Instant::now();
        let layer = TransactionLayer::new(Config {
            send_100_trying: false,
            ..Config::default()
        });
        let local_tag = ids::random_token();
        let mut trying_sent = false;
        let (invite, flow, device_flow, is_uas) = match args.role {
            LegRole::Uas {
                invite,
                flow,
                source,
                trying_sent: sent,
            } => {
                trying_sent = sent;
                (invite, flow, source, true)
            }
            LegRole::Uac {
                target,
                flow,
                from,
                to,
                sdp,
            } => {
                let invite = build_invite(
                    args.call, args.index, &args.ctx, target, &flow, &from, &local_tag, &to, sdp,
                );
                (invite, flow, flow, false)
            }
        };
        let device = if is_uas {
            DeviceContact::of_message(&invite).map(Box::new)
        } else {
            None
        };
        let mut state = LegState {
            call: args.call,
            index: args.index,
            call_ref: args.call_ref,
            ctx: args.ctx,
            layer,
            invite: invite.clone(),
            invite_key: None,
            flow,
            device_flow,
            device,
            local_tag,
            dialog: None,
            two_xx: None,
            ack: None,
            final_sent_or_received: false,
            armed: None,
            is_uas,
            pending_in: std::collections::HashMap::new(),
            next_pending: 1,
            pending_out: std::collections::HashMap::new(),
            reinvite_out: None,
            session: None,
            refresh_out: None,
            session_armed: None,
            last_rseq: None,
            caller_100rel: false,
            next_rseq: 1,
            unacked: None,
            finishing: false,
            _active: ActiveLeg::new(),
        };
        if is_uas {
            state.caller_100rel = [HeaderName::Require, HeaderName::Supported]
                .iter()
                .any(|h| {
                    state
                        .invite
                        .headers
                        .tokens(h)
                        .any(|t| t.eq_ignore_ascii_case("100rel"))
                });
            if let Ok(RequestOutcome::New(key)) = state.layer.handle_request(now, invite, flow) {
                // 100 at once: forking may take a while (RFC 3261 §8.2.6.1).
                if !trying_sent {
                    let trying = ResponseBuilder::to_request(&state.invite, 100).build();
                    let _ = state.layer.send_response(now, &key, &trying);
                }
                state.invite_key = Some(key);
            }
            // The layer's Request event for the INVITE is ours already.
            while state.layer.poll_event().is_some() {}
        } else {
            match state
                .layer
                .send_request(now, invite, flow, flow.is_reliable())
            {
                Ok(key) => state.invite_key = Some(key),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot send the INVITE");
                    report(&state, LegEvent::Failed { code: 500 });
                }
            }
        }
        pump(&myself, &mut state, now).await;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<LegMsg>,
        msg: LegMsg,
        state: &mut LegState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match msg {
            LegMsg::Incoming(arrival) => state.incoming(now, *arrival),
            LegMsg::Rebind(rebinding) => state.rebind(&rebinding),
            LegMsg::Timer => {
                state.armed = None;
                state.retransmit_reliable(now);
                state.layer.handle_timeout(now);
                if let Some(t) = state.two_xx.as_mut() {
                    t.handle_timeout(now);
                }
            }
            LegMsg::Respond { code, sdp } => state.respond(now, code, sdp),
            LegMsg::Cancel => state.cancel(now),
            LegMsg::Bye => state.bye(now, None),
            LegMsg::ByeWithReason(reason) => state.bye(now, Some(reason)),
            LegMsg::Ack { sdp } => state.send_late_ack(sdp),
            LegMsg::SessionTimer => state.session_timer(now),
            LegMsg::SendRequest {
                origin,
                method,
                content_type,
                body,
            } => state.send_in_dialog(now, origin, method, content_type, body),
            LegMsg::Finish => state.finish(now),
            LegMsg::AnswerRequest {
                id,
                code,
                content_type,
                body,
            } => state.answer_pending(now, id, code, content_type, body),
        }
        // Boxed: the loop future of every leg is sized by what `handle`
        // holds across an await, for the call's whole life.
        Box::pin(pump(&myself, state, now)).await;
        Ok(())
    }
}

impl LegState {
    fn incoming(&mut self, now: Instant, arrival: Arrival) {
        let Arrival {
            message,
            reply: flow,
            source,
        } = arrival;
        if message.is_request() && !flow_guard::same_flow(&self.device_flow, &source) {
            return self.refuse_foreign(&message, flow, source);
        }
        if message.is_request() {
            match self.layer.handle_request(now, message, flow) {
                Ok(RequestOutcome::StrayAck(ack)) => {
                    // The ACK for our 2xx (RFC 3261 §13.3.1.4).
                    if let Some(t) = self.two_xx.as_mut() {
                        t.ack_received();
                        self.two_xx = None;
                        if let Some(d) = self.dialog.as_mut() {
                            let _ = d.receive_request(&ack);
                        }
                        let sdp = (!ack.body.is_empty()).then(|| ack.body.clone());
                        report(self, LegEvent::Acked { sdp });
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "request refused by the leg's layer"),
            }
        } else {
            match self.layer.handle_response(now, message) {
                Ok(ResponseOutcome::Matched(_)) => {}
                Ok(ResponseOutcome::Stray(response)) => {
                    // A retransmitted 2xx to our INVITE: the ACK again.
                    let is_invite_2xx = response.status().is_some_and(|s| (200..300).contains(&s))
                        && response.cseq().is_some_and(|c| c.method == Method::INVITE);
                    if let (true, Some(ack)) = (is_invite_2xx, self.ack.clone()) {
                        self.layer.send_stateless_bytes(ack, self.flow);
                    }
                }
                Err(_) => {}
            }
        }
    }

    /// A request of this leg's dialog from another flow than the device's:
    /// a second device with the same credentials, or anyone who learnt the
    /// dialog's identifiers. Refused with `403` (an ACK is dropped), counted
    /// and logged; it never reaches the layer, the dialog or the call, so
    /// no CSeq, target or session changes.
    fn refuse_foreign(&mut self, request: &Message, reply: Flow, source: Flow) {
        let Some(method) = request.method() else {
            return;
        };
        let label = flow_guard::method_label(method);
        metrics::counter!(crate::metrics::SIP_FLOW_MISMATCH, "method" => label).increment(1);
        let content_type = request.header(&HeaderName::ContentType);
        let forged_decision = flow_guard::decision_shaped(method, content_type);
        if forged_decision {
            metrics::counter!(crate::metrics::HANDOVER_FORGED_DECISIONS).increment(1);
        }
        tracing::warn!(
            target: "security",
            call = %self.call,
            leg = self.index.0,
            method = label,
            source = %source.remote,
            transport = %source.transport,
            device = %self.device_flow.remote,
            forged_decision,
            "in-dialog request from a flow that is not the device's: refused"
        );
        if *method == Method::ACK {
            return;
        }
        let response = ResponseBuilder::to_request(request, 403)
            .to_tag(&self.local_tag)
            .reason("Not From This Dialog's Device")
            .header(HeaderName::Server, crate::SERVER)
            .build();
        self.layer
            .send_stateless_bytes(Bytes::from(response.to_bytes()), reply);
    }

    /// An accepted REGISTER of this leg's user: if it bound this leg's
    /// device (RFC 5626 instance and reg-id, else the Contact URI), its
    /// flow becomes the dialog's signalling flow, both ways.
    fn rebind(&mut self, rebinding: &Rebinding) {
        let Some(device) = self.device.as_ref() else {
            return;
        };
        if !rebinding.contacts.iter().any(|c| device.is_device(c)) {
            return;
        }
        if self.device_flow == rebinding.flow {
            return;
        }
        tracing::info!(
            target: "security",
            call = %self.call,
            leg = self.index.0,
            from = %self.device_flow.remote,
            to = %rebinding.flow.remote,
            "the device re-registered from a new flow: the dialog follows it"
        );
        self.device_flow = rebinding.flow;
        self.flow = rebinding.flow;
    }

    /// A new request from the peer, delivered by the layer (RFC 3261 §12.2.2).
    fn request_event(&mut self, now: Instant, key: TransactionKey, request: Message) {
        let method = request.method().cloned();
        let answer = |layer: &mut TransactionLayer, code: u16, tag: &str| {
            let r = ResponseBuilder::to_request(&request, code)
                .to_tag(tag)
                .build();
            let _ = layer.send_response(now, &key, &r);
        };
        match method {
            Some(Method::PRACK) => {
                // RFC 3262 §3: RAck names the RSeq and the INVITE's CSeq.
                let rack = request
                    .header(&HeaderName::RAck)
                    .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>());
                let invite_seq = self.invite.cseq().map(|c| c.seq.to_string());
                let matches = match (&self.unacked, rack.as_deref(), invite_seq) {
                    (Some(u), Some([rseq, cseq, method]), Some(seq)) => {
                        rseq == &u.rseq.to_string()
                            && cseq == &seq
                            && method.eq_ignore_ascii_case("INVITE")
                    }
                    _ => false,
                };
                if matches {
                    self.unacked = None;
                    answer(&mut self.layer, 200, &self.local_tag);
                } else {
                    answer(&mut self.layer, 481, &self.local_tag);
                }
            }
            Some(Method::CANCEL) => {
                answer(&mut self.layer, 200, &self.local_tag);
                if self.is_uas && !self.final_sent_or_received {
                    report(self, LegEvent::Cancelled);
                }
            }
            Some(Method::BYE) => {
                let in_dialog = self.dialog.as_mut().map(|d| d.receive_request(&request));
                match in_dialog {
                    Some(Ok(())) => {
                        answer(&mut self.layer, 200, &self.local_tag);
                        if let Some(d) = self.dialog.as_mut() {
                            d.terminate();
                        }
                        // A BYE overtaking the ACK ends the 2xx retransmissions too.
                        self.two_xx = None;
                        report(self, LegEvent::Bye);
                    }
                    Some(Err(sip_proto::dialog::DialogError::CSeqOutOfOrder { .. })) => {
                        answer(&mut self.layer, 500, &self.local_tag)
                    }
                    _ => answer(&mut self.layer, 481, &self.local_tag),
                }
            }
            Some(m @ (Method::INVITE | Method::UPDATE | Method::INFO)) => {
                let checked = self.dialog.as_mut().map(|d| d.receive_request(&request));
                match checked {
                    Some(Ok(())) => {}
                    Some(Err(sip_proto::dialog::DialogError::CSeqOutOfOrder { .. })) => {
                        return answer(&mut self.layer, 500, &self.local_tag);
                    }
                    _ => return answer(&mut self.layer, 481, &self.local_tag),
                }
                if m != Method::INFO {
                    if let Some(t) = self.session.as_mut() {
                        t.refreshed = now;
                    }
                }
                // RFC 3261 §14.2: an offer while ours is pending is glare.
                if m != Method::INFO && self.reinvite_out.is_some() {
                    return answer(&mut self.layer, 491, &self.local_tag);
                }
                let id = self.next_pending;
                self.next_pending += 1;
                let content_type = request.header(&HeaderName::ContentType).map(str::to_string);
                let body = request.body.clone();
                self.pending_in.insert(id, (key, request));
                report(
                    self,
                    LegEvent::Request {
                        id,
                        method: m,
                        content_type,
                        body,
                    },
                );
            }
            Some(Method::OPTIONS) | Some(Method::NOTIFY) => {
                answer(&mut self.layer, 200, &self.local_tag)
            }
            Some(Method::REFER) => {
                // No transfer inside a call (it would move the call without
                // the holder's consent): 405 with what is allowed (§21.4.6).
                let r = ResponseBuilder::to_request(&request, 405)
                    .to_tag(&self.local_tag)
                    .header(HeaderName::Allow, ALLOW)
                    .build();
                let _ = self.layer.send_response(now, &key, &r);
            }
            _ => answer(&mut self.layer, 501, &self.local_tag),
        }
    }

    fn response_event(&mut self, now: Instant, key: &TransactionKey, response: Message) {
        let Some(code) = response.status() else {
            return;
        };
        let is_invite = Some(key) == self.invite_key.as_ref();
        if !is_invite {
            if code >= 200 {
                self.relayed_answer(key, code, &response);
            }
            return; // BYE/CANCEL answers: nothing to decide.
        }
        let sdp = (!response.body.is_empty()).then(|| response.body.clone());
        match code {
            100 => {}
            101..=199 => {
                self.prack_if_reliable(now, &response);
                report(self, LegEvent::Provisional { code, sdp })
            }
            200..=299 => {
                self.final_sent_or_received = true;
                // The dialog a reliable provisional started (and its CSeq,
                // which the PRACKs advanced) carries on into the 2xx.
                let early = self
                    .dialog
                    .take()
                    .filter(|d| Some(d.id().remote_tag.as_str()) == response.to_tag().as_deref())
                    .map(|mut d| {
                        d.confirm(&response);
                        d
                    });
                match early.map_or_else(|| Dialog::uac(&self.invite, &response), Ok) {
                    Ok(dialog) => {
                        self.dialog = Some(dialog);
                        self.device = DeviceContact::of_message(&response).map(Box::new);
                        // A late offer's ACK carries the caller's answer: it
                        // waits for it (LegMsg::Ack); otherwise ACK now.
                        if !self.invite.body.is_empty() {
                            self.send_late_ack(None);
                        }
                        // RFC 4028 §7.2: the 2xx says who refreshes; absent
                        // a refresher, the UAC does.
                        if let Some((interval, refresher)) = session_expires(&response) {
                            self.session = Some(SessionTimer {
                                interval,
                                we_refresh: refresher.unwrap_or(true),
                                refreshed: now,
                            });
                        }
                        report(self, LegEvent::Answered { sdp: sdp.clone() });
                        self.report_confirmed(
                            &self.invite.body.clone(),
                            sdp.as_deref().unwrap_or_default(),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a 2xx without a usable dialog");
                        report(self, LegEvent::Failed { code: 502 });
                    }
                }
            }
            _ => {
                self.final_sent_or_received = true;
                report(self, LegEvent::Failed { code });
            }
        }
    }

    fn respond(&mut self, now: Instant, code: u16, sdp: Option<Bytes>) {
        let Some(key) = self.invite_key.clone() else {
            return;
        };
        if self.final_sent_or_received && code >= 200 {
            return;
        }
        let mut builder = ResponseBuilder::to_request(&self.invite, code).to_tag(&self.local_tag);
        if code > 100 && code < 300 {
            builder = builder.header(
                HeaderName::Contact,
                self.ctx.contact(self.flow.is_reliable()),
            );
        }
        if (200..300).contains(&code) {
            let supports = self
                .invite
                .headers
                .tokens(&HeaderName::Supported)
                .any(|t| t.eq_ignore_ascii_case("timer"));
            if let Some((asked, _)) = session_expires(&self.invite).filter(|_| supports) {
                // RFC 4028 §9: the caller refreshes; Baton only enforces.
                let interval = asked.max(self.ctx.min_se);
                builder = builder
                    .header(
                        HeaderName::SessionExpires,
                        format!("{};refresher=uac", interval.as_secs()),
                    )
                    .header(HeaderName::Require, "timer");
                self.session = Some(SessionTimer {
                    interval,
                    we_refresh: false,
                    refreshed: now,
                });
            }
        }
        let reliable = self.caller_100rel && (101..200).contains(&code);
        if reliable {
            if self.unacked.is_some() {
                // RFC 3262 §3: one reliable provisional at a time; this one
                // adds nothing the caller needs before the PRACK.
                return;
            }
            builder = builder
                .header(HeaderName::Require, "100rel")
                .header(HeaderName::RSeq, self.next_rseq.to_string());
        }
        if let Some(sdp) = sdp {
            builder = builder.body("application/sdp", sdp);
        }
        let response = builder.header(HeaderName::Server, crate::SERVER).build();
        if reliable {
            let t1 = self.layer.timers().t1;
            self.unacked = Some(Box::new(Unacked {
                response: response.clone(),
                rseq: self.next_rseq,
                next_at: now + t1,
                interval: t1,
                give_up_at: now + t1 * 64,
            }));
            self.next_rseq += 1;
        }
        if code >= 200 {
            self.unacked = None;
        }
        if self.layer.send_response(now, &key, &response).is_err() {
            return;
        }
        if code >= 200 {
            self.final_sent_or_received = true;
        }
        if (200..300).contains(&code) {
            match Dialog::uas(&self.invite, &self.local_tag, true) {
                Ok(d) => {
                    self.dialog = Some(d);
                    let remote = self.invite.body.clone();
                    self.report_confirmed(&response.body, &remote);
                }
                Err(e) => tracing::warn!(error = %e, "caller's INVITE cannot make a dialog"),
            }
            if let Some(bytes) = self.layer.last_response(&key) {
                self.two_xx = Some(Box::new(TwoXxRetransmitter::new(
                    now,
                    bytes,
                    self.flow,
                    self.layer.timers(),
                )));
            }
        }
    }

    /// The final answer to a request we relayed: ACK a 2xx to a re-INVITE
    /// (end to end, §13.2.2.4), then tell the call.
    fn relayed_answer(&mut self, key: &TransactionKey, code: u16, response: &Message) {
        let Some((origin, method)) = self.pending_out.remove(key) else {
            return;
        };
        if method == Method::INVITE {
            self.reinvite_out = None;
            if (200..300).contains(&code) {
                if let (Some(dialog), Some(cseq)) = (self.dialog.as_mut(), response.cseq()) {
                    dialog.refresh_target(response);
                    let mut ack = dialog.ack(cseq.seq);
                    let via = self
                        .ctx
                        .via(self.flow.is_reliable(), &ids::branch(self.call, self.index));
                    ack.headers.push_front(HeaderName::Via, via);
                    ack.headers.push(HeaderName::MaxForwards, "70");
                    self.layer
                        .send_stateless_bytes(Bytes::from(ack.to_bytes()), self.flow);
                }
            }
        }
        report(
            self,
            LegEvent::RequestAnswered {
                origin,
                method,
                code,
                content_type: response
                    .header(&HeaderName::ContentType)
                    .map(str::to_string),
                body: response.body.clone(),
            },
        );
    }

    fn send_in_dialog(
        &mut self,
        now: Instant,
        origin: RequestOrigin,
        method: Method,
        content_type: Option<String>,
        body: Bytes,
    ) {
        let Some(dialog) = self.dialog.as_mut() else {
            // No confirmed dialog on this side yet: the request cannot cross.
            report(
                self,
                LegEvent::RequestAnswered {
                    origin,
                    method,
                    code: 491,
                    content_type: None,
                    body: Bytes::new(),
                },
            );
            return;
        };
        let Ok(mut request) = dialog.new_request(method.clone()) else {
            return;
        };
        self.stamp(&mut request, true);
        if method == Method::INVITE || method == Method::UPDATE {
            request.headers.push(
                HeaderName::Contact,
                self.ctx.contact(self.flow.is_reliable()),
            );
        }
        if let Some(ct) = content_type {
            request.headers.push(HeaderName::ContentType, ct);
        }
        request.body = body;
        if let Ok(key) = self
            .layer
            .send_request(now, request, self.flow, self.flow.is_reliable())
        {
            if method == Method::INVITE {
                self.reinvite_out = Some(key.clone());
            }
            self.pending_out.insert(key, (origin, method));
        }
    }

    fn answer_pending(
        &mut self,
        now: Instant,
        id: u64,
        code: u16,
        content_type: Option<String>,
        body: Bytes,
    ) {
        let Some((key, request)) = self.pending_in.remove(&id) else {
            return;
        };
        let mut builder = ResponseBuilder::to_request(&request, code).to_tag(&self.local_tag);
        let is_invite = request.method() == Some(&Method::INVITE);
        if (200..300).contains(&code) && (is_invite || request.method() == Some(&Method::UPDATE)) {
            builder = builder.header(
                HeaderName::Contact,
                self.ctx.contact(self.flow.is_reliable()),
            );
        }
        if let Some(ct) = content_type {
            builder = builder.body(&ct, body);
        }
        let response = builder.build();
        let sent = self.layer.send_response(now, &key, &response).is_ok();
        if sent && (200..300).contains(&code) {
            // Only an accepted re-INVITE or UPDATE refreshes the target
            // (RFC 3261 §12.2.2); a refused one leaves the dialog as it was.
            if let Some(d) = self.dialog.as_mut() {
                d.accept_target_refresh(&request);
            }
            let refreshes = is_invite || request.method() == Some(&Method::UPDATE);
            if refreshes {
                if let Some(contact) = DeviceContact::of_message(&request) {
                    self.device = Some(Box::new(contact));
                }
            }
        }
        if sent && is_invite && (200..300).contains(&code) {
            if let Some(bytes) = self.layer.last_response(&key) {
                self.two_xx = Some(Box::new(TwoXxRetransmitter::new(
                    now,
                    bytes,
                    self.flow,
                    self.layer.timers(),
                )));
            }
        }
    }

    fn report_confirmed(&self, local_sdp: &[u8], remote_sdp: &[u8]) {
        let Some(d) = self.dialog.as_ref() else {
            return;
        };
        let record = crate::log::LegRecord {
            leg: self.index,
            sip_call_id: d.id().call_id.clone(),
            local_tag: d.id().local_tag.clone(),
            remote_tag: d.id().remote_tag.clone(),
            local_cseq: d.local_seq(),
            remote_cseq: d.remote_seq().unwrap_or(0),
            route_set: d.route_set().to_vec(),
            remote_target: d.remote_target().to_string(),
            local_contact: self.ctx.contact(self.flow.is_reliable()),
            transport: if self.flow.is_reliable() {
                "tcp"
            } else {
                "udp"
            },
            remote_addr: self.flow.remote,
            local_sdp: String::from_utf8_lossy(local_sdp).into_owned(),
            remote_sdp: String::from_utf8_lossy(remote_sdp).into_owned(),
            relay: None,
        };
        report(self, LegEvent::Confirmed(Box::new(record)));
    }

    /// Sends the ACK for our INVITE's 2xx (RFC 3261 §13.2.2.4), with `sdp`
    /// as the answer for a late offer, and keeps it for 2xx retransmissions.
    fn send_late_ack(&mut self, sdp: Option<Bytes>) {
        let Some(dialog) = self.dialog.as_ref() else {
            return;
        };
        if self.ack.is_some() {
            return;
        }
        let seq = self.invite.cseq().map_or(1, |c| c.seq);
        let mut ack = dialog.ack(seq);
        self.stamp(&mut ack, false);
        if let Some(sdp) = sdp {
            ack.headers.push(HeaderName::ContentType, "application/sdp");
            ack.body = sdp;
        }
        let bytes = Bytes::from(ack.to_bytes());
        self.layer.send_stateless_bytes(bytes.clone(), self.flow);
        self.ack = Some(bytes);
    }

    /// Re-sends an unacknowledged reliable provisional (RFC 3262 §3), and
    /// gives up after 64·T1 (the caller's PRACKs never came).
    fn retransmit_reliable(&mut self, now: Instant) {
        let Some(key) = self.invite_key.clone() else {
            return;
        };
        let Some(u) = self.unacked.as_mut() else {
            return;
        };
        if now >= u.give_up_at {
            self.unacked = None;
            return;
        }
        if now >= u.next_at {
            u.interval *= 2;
            u.next_at = now + u.interval;
            let response = u.response.clone();
            let _ = self.layer.send_response(now, &key, &response);
        }
    }

    /// RFC 3262: a provisional response sent reliably (`Require: 100rel`,
    /// `RSeq`) is acknowledged with a PRACK in the early dialog, once per
    /// RSeq (the PRACK transaction retransmits on its own).
    fn prack_if_reliable(&mut self, now: Instant, response: &Message) {
        let reliable = response
            .headers
            .tokens(&HeaderName::Require)
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let rseq = response
            .header(&HeaderName::RSeq)
            .and_then(|v| v.trim().parse::<u32>().ok());
        let (true, Some(rseq)) = (reliable, rseq) else {
            return;
        };
        if self.last_rseq.is_some_and(|last| rseq <= last) {
            return;
        }
        self.last_rseq = Some(rseq);
        if self.dialog.is_none() {
            match Dialog::uac(&self.invite, response) {
                Ok(d) => self.dialog = Some(d),
                Err(_) => return,
            }
        }
        let invite_seq = self.invite.cseq().map_or(1, |c| c.seq);
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        let Ok(mut prack) = dialog.new_request(Method::PRACK) else {
            return;
        };
        prack
            .headers
            .push(HeaderName::RAck, format!("{rseq} {invite_seq} INVITE"));
        self.stamp(&mut prack, false);
        let _ = self
            .layer
            .send_request(now, prack, self.flow, self.flow.is_reliable());
    }

    /// RFC 4028 §10: refresh at half the interval when we are the
    /// refresher; otherwise give up on a session nobody refreshed.
    fn session_timer(&mut self, now: Instant) {
        let Some(timer) = self.session else { return };
        if now < timer.due() || self.dialog.is_none() {
            return;
        }
        if timer.we_refresh {
            if self.refresh_out.is_some() {
                return;
            }
            let Some(dialog) = self.dialog.as_mut() else {
                return;
            };
            let Ok(mut update) = dialog.new_request(Method::UPDATE) else {
                return;
            };
            self.stamp(&mut update, true);
            update.headers.push(
                HeaderName::Contact,
                self.ctx.contact(self.flow.is_reliable()),
            );
            update.headers.push(
                HeaderName::SessionExpires,
                format!("{};refresher=uac", timer.interval.as_secs()),
            );
            update.headers.push(HeaderName::Supported, "timer");
            if let Ok(key) =
                self.layer
                    .send_request(now, update, self.flow, self.flow.is_reliable())
            {
                self.refresh_out = Some(key);
            }
            // Wait for the answer before refreshing again.
            if let Some(t) = self.session.as_mut() {
                t.refreshed = now;
            }
        } else {
            self.session = None;
            report(self, LegEvent::SessionExpired);
        }
    }

    /// The call has no more use for this leg ([`LegMsg::Finish`]): what
    /// is pending from the peer gets `481`, timers that would send anything
    /// new stop; the transactions run out on their own.
    fn finish(&mut self, now: Instant) {
        self.finishing = true;
        self.session = None;
        self.unacked = None;
        let pending: Vec<u64> = self.pending_in.keys().copied().collect();
        for id in pending {
            self.answer_pending(now, id, 481, None, Bytes::new());
        }
    }

    /// A new request to a finishing leg: its dialog is over for Baton.
    fn refuse_finishing(&mut self, now: Instant, key: &TransactionKey, request: &Message) {
        let response = ResponseBuilder::to_request(request, 481)
            .to_tag(&self.local_tag)
            .build();
        let _ = self.layer.send_response(now, key, &response);
    }

    fn cancel(&mut self, now: Instant) {
        if self.is_uas || self.final_sent_or_received {
            return;
        }
        if let Some(cancel) = self
            .invite_key
            .as_ref()
            .and_then(|k| self.layer.cancel_request(k))
        {
            let _ = self
                .layer
                .send_request(now, cancel, self.flow, self.flow.is_reliable());
        }
    }

    fn bye(&mut self, now: Instant, reason: Option<&'static str>) {
        // A 2xx to a late offer may still wait for its ACK: ACK before BYE.
        if !self.is_uas && self.ack.is_none() {
            self.send_late_ack(None);
        }
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        let Ok(mut bye) = dialog.new_request(Method::BYE) else {
            return;
        };
        dialog.terminate();
        self.two_xx = None;
        self.stamp(&mut bye, true);
        if let Some(reason) = reason {
            bye.headers.push(HeaderName::Reason, reason);
        }
        let _ = self
            .layer
            .send_request(now, bye, self.flow, self.flow.is_reliable());
    }

    /// Adds Via (with this leg's marker branch) and Max-Forwards; Contact
    /// for requests that carry one.
    fn stamp(&self, request: &mut Message, _contact: bool) {
        let via = self
            .ctx
            .via(self.flow.is_reliable(), &ids::branch(self.call, self.index));
        request.headers.push_front(HeaderName::Via, via);
        request.headers.push(HeaderName::MaxForwards, "70");
    }
}

#[allow(clippy::too_many_arguments)]
fn build_invite(
    call: CallNumber,
    index: LegIndex,
    ctx: &SignallingContext,
    target: Uri,
    flow: &Flow,
    from: &str,
    tag: &str,
    to: &str,
    sdp: Option<Bytes>,
) -> Message {
    let mut invite = Message::request(Method::INVITE, target);
    let reliable = flow.is_reliable();
    invite.headers.push(
        HeaderName::Via,
        ctx.via(reliable, &ids::branch(call, index)),
    );
    invite.headers.push(HeaderName::MaxForwards, "70");
    invite
        .headers
        .push(HeaderName::From, format!("{from};tag={tag}"));
    invite.headers.push(HeaderName::To, to.to_string());
    invite
        .headers
        .push(HeaderName::CallId, ids::call_id(call, index, &ctx.host()));
    invite.headers.push(HeaderName::CSeq, "1 INVITE");
    invite
        .headers
        .push(HeaderName::Contact, ctx.contact(reliable));
    invite.headers.push(HeaderName::Allow, ALLOW);
    // RFC 4028 session timers on every leg Baton creates; RFC 3262
    // reliable provisionals are PRACKed.
    invite.headers.push(HeaderName::Supported, "timer, 100rel");
    invite.headers.push(
        HeaderName::SessionExpires,
        ctx.session_expires.as_secs().to_string(),
    );
    invite
        .headers
        .push(HeaderName::MinSe, ctx.min_se.as_secs().to_string());
    if let Some(sdp) = sdp {
        invite
            .headers
            .push(HeaderName::ContentType, "application/sdp");
        invite.body = sdp;
    }
    invite
}

fn report(state: &LegState, event: LegEvent) {
    let _ = state.call_ref.cast(CallMsg::Leg {
        index: state.index,
        event,
    });
}

/// Drains the layer and the 2xx retransmitter, then arms one timer.
async fn pump(myself: &ActorRef<LegMsg>, state: &mut LegState, now: Instant) {
    loop {
        while let Some(t) = state.layer.poll_transmit() {
            let target = to_target(&t.destination);
            // Boxed sends: the transport's future (a TCP connect at worst)
            // would otherwise size every leg's message loop, allocated once
            // per actor for its whole life (`memory_per_call.sh`).
            if let Err(e) = Box::pin(state.ctx.transport.send(&target, t.payload)).await {
                tracing::debug!(error = %e, "leg send failed");
                if let Some(key) = t.key {
                    state.layer.handle_transport_error(now, &key);
                }
            }
        }
        if let Some(two_xx) = state.two_xx.as_mut() {
            while let Some(t) = two_xx.poll_transmit() {
                let target = to_target(&t.destination);
                let _ = Box::pin(state.ctx.transport.send(&target, t.payload)).await;
            }
            if let Some(TwoXxEvent::NoAck) = two_xx.poll_event() {
                state.two_xx = None;
                report(state, LegEvent::AckTimeout);
            }
        }
        let Some(event) = state.layer.poll_event() else {
            break;
        };
        match event {
            // CANCEL and PRACK still concern the INVITE's transaction.
            Event::Request { key, message, .. }
                if state.finishing
                    && !matches!(message.method(), Some(&Method::CANCEL | &Method::PRACK)) =>
            {
                state.refuse_finishing(now, &key, &message)
            }
            Event::Request { key, message, .. } => state.request_event(now, key, message),
            Event::Response { key, message } => state.response_event(now, &key, message),
            Event::Timeout { key, .. } | Event::TransportError { key } => {
                if Some(&key) == state.invite_key.as_ref()
                    && !state.is_uas
                    && !state.final_sent_or_received
                {
                    state.final_sent_or_received = true;
                    report(state, LegEvent::Failed { code: 408 });
                }
            }
            Event::Terminated { .. } => {}
        }
    }
    if state.finishing && state.layer.is_empty() && state.two_xx.is_none() {
        // Nothing left to absorb or retransmit: the call hears of the stop
        // through supervision and forgets the leg.
        myself.stop(Some("finished".to_string()));
        return;
    }
    if let Some(due) = state.session.map(|t| t.due()) {
        if state.session_armed != Some(due) {
            state.session_armed = Some(due);
            let delay = due
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            myself.send_after(delay, || LegMsg::SessionTimer);
        }
    }
    let next = [
        state.unacked.as_ref().map(|u| u.next_at.min(u.give_up_at)),
        state.layer.poll_timeout(),
        state.two_xx.as_ref().and_then(|t| t.poll_timeout()),
    ]
    .into_iter()
    .flatten()
    .min();
    if let Some(at) = next {
        if state.armed.is_none_or(|armed| at < armed) {
            state.armed = Some(at);
            let delay = at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            myself.send_after(delay, || LegMsg::Timer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_session_expires(value: &str) -> Message {
        Message::parse(
            format!(
                "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs\r\n\
                 From: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>\r\n\
                 Call-ID: s1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\n\
                 Session-Expires: {value}\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("parses")
    }

    #[test]
    fn a_huge_session_interval_is_clamped_and_its_deadline_never_overflows() {
        let (interval, refresher) =
            session_expires(&with_session_expires("18446744073709551615;refresher=uac"))
                .expect("a number");
        assert_eq!(interval, MAX_SESSION_INTERVAL);
        assert_eq!(refresher, Some(true));
        let now = Instant::now();
        for we_refresh in [true, false] {
            // Even an interval that bypassed the clamp gives a deadline.
            let timer = SessionTimer {
                interval: Duration::MAX,
                we_refresh,
                refreshed: now,
            };
            assert!(timer.due() > now);
            assert!(timer.due() <= now + MAX_SESSION_INTERVAL);
        }
        let (interval, _) = session_expires(&with_session_expires("1800")).expect("1800");
        assert_eq!(interval, Duration::from_secs(1800));
        assert!(session_expires(&with_session_expires("18446744073709551616")).is_none());
    }
}
