//! The `CallActor`: one per call. It owns the caller's leg (UAS), one leg
//! per fork (UAC) and the media bridge; it feeds what they report to the
//! pure [`B2bua`](crate::b2bua::B2bua) and carries out its commands,
//! rewriting SDP so that both sides send media to the relay.

use crate::b2bua::{B2bua, CallResult, Command, Input};
use crate::handover::Input as PullInput;
use crate::ids::{CallNumber, LegIndex};
use crate::leg::{Arrival, LegActor, LegArgs, LegEvent, LegMsg, LegRole, Rebinding, RequestOrigin};
use crate::log::CallLog;
use crate::log::{HandoverNumber, LegRecord};
use crate::media::{MediaArgs, MediaBridgeActor, MediaMsg};
use crate::net::SignallingContext;
use crate::pull::{HandoverPolicy, Pull};
use crate::{metrics as m, CallNotice, CallTarget};
use crate::{DialogPhase, UserDialog};
use bytes::Bytes;
use media_relay::Relay;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use sdp::{OriginRewriter, SessionDescription};
use sip_message::Message;
use sip_proto::Flow;
use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Messages of a call.
#[derive(Debug)]
pub enum CallMsg {
    /// A leg reports.
    Leg {
        /// Which leg.
        index: LegIndex,
        /// What happened.
        event: LegEvent,
    },
    /// The router delivers a SIP message for one of the legs.
    Deliver {
        /// Which leg.
        index: LegIndex,
        /// The message and its flows. Boxed: ractor boxes every message it
        /// sends, sized by the largest variant (its mailbox slots are its
        /// own fixed-size envelopes, not this type).
        arrival: Box<Arrival>,
    },
    /// A user's device re-registered: the leg of its dialog (if it is
    /// that device's) follows it to the new flow.
    Rebind {
        /// The device dialog's leg.
        leg: LegIndex,
        /// The REGISTER's contacts and source flow.
        rebinding: Box<Rebinding>,
    },
    /// Nobody answered in time.
    NoAnswerTimeout,
    /// The bridged media went silent.
    MediaTimeout,
    /// The linger after the end is over: stop.
    Stop,
    /// A switch request (handover) for leg `moving`, arrived as the INVITE
    /// of the new leg `index` (the router checked user and dialog).
    Pull {
        /// The new device's leg.
        index: LegIndex,
        /// The leg that would move (the original device's).
        moving: LegIndex,
        /// The new device's INVITE, where responses go and its source.
        arrival: Box<Arrival>,
    },
    /// The log answered for a handover step.
    HandoverCommitted {
        /// The attempt.
        handover: HandoverNumber,
        /// Committed (else it never will be).
        ok: bool,
    },
    /// The relay saw a decision key (RFC 4733) from a leg's device.
    Key {
        /// The leg.
        leg: LegIndex,
        /// The event code (1, 2, 3).
        key: u8,
    },
    /// The authorization window of an attempt closed.
    AuthorizationTimeout(HandoverNumber),
    /// The relay spliced B's stream into R's.
    Spliced {
        /// When B's first packet was sent to R.
        first_new_at: Instant,
        /// R's silence between A's last packet and B's first.
        gap: Duration,
        /// Packet intervals R got nothing in.
        missed: u32,
    },
    /// The node is shutting down: end the call on both sides.
    Shutdown,
}

/// How a call starts: the caller's INVITE, already authenticated and
/// routed by the node.
#[derive(Debug)]
pub struct CallArgs {
    /// This call's number.
    pub call: CallNumber,
    /// The caller's INVITE.
    pub invite: Message,
    /// Its flow (where responses go).
    pub flow: Flow,
    /// Its source: the caller's signalling flow for the whole dialog.
    pub source: Flow,
    /// The callee's contacts, forked in parallel.
    pub targets: Vec<CallTarget>,
    /// From for the callee legs (the caller's identity).
    pub from: String,
    /// To for the callee legs (the callee's AOR).
    pub to: String,
    /// Transport and addresses.
    pub ctx: SignallingContext,
    /// The media relay.
    pub relay: Arc<Relay>,
    /// The relay's address, written into SDP.
    pub media_ip: std::net::IpAddr,
    /// Where the router hears that the call is gone.
    pub notices: UnboundedSender<CallNotice>,
    /// Ring time before `408`.
    pub no_answer: Duration,
    /// Silence on a bridged call before it is ended.
    pub media_inactivity: Duration,
    /// Strict latching (see `MediaArgs::strict`).
    pub strict_latching: bool,
    /// The replicated log of call state.
    pub log: Arc<dyn CallLog>,
    /// The caller's user name (authenticated).
    pub caller_user: String,
    /// The callee's user name.
    pub callee_user: String,
    /// What handovers may do.
    pub handover: HandoverPolicy,
}

/// The call actor.
#[derive(Debug, Default)]
pub struct CallActor;

/// A call's state.
#[derive(Debug)]
pub struct CallState {
    pub(crate) call: CallNumber,
    pub(crate) b2bua: B2bua,
    pub(crate) legs: HashMap<LegIndex, ActorRef<LegMsg>>,
    pub(crate) media: ActorRef<MediaMsg>,
    pub(crate) relay_addr: HashMap<LegIndex, SocketAddr>,
    /// The last SDP each fork sent (provisional or answer).
    pub(crate) fork_sdp: HashMap<usize, Bytes>,
    /// `o=` for the caller's side, stable across responses (RFC 3264 §8).
    pub(crate) origin_to_caller: OriginRewriter,
    /// `o=` for the callee's side.
    pub(crate) origin_to_callee: OriginRewriter,
    pub(crate) notices: UnboundedSender<CallNotice>,
    pub(crate) log: Arc<dyn CallLog>,
    /// The caller's INVITE had no SDP: its answer comes in its ACK.
    pub(crate) late_offer: bool,
    pub(crate) started: Instant,
    pub(crate) ended: bool,
    pub(crate) ctx: SignallingContext,
    /// The call's current two ends: the caller's side (the caller's leg,
    /// or the device that took it over) and the callee's side (the
    /// answered fork, or its successor).
    pub(crate) caller_side: LegIndex,
    pub(crate) callee_side: Option<LegIndex>,
    /// The last SDP each leg sent.
    pub(crate) remote_sdp: HashMap<LegIndex, Bytes>,
    /// The answer of the initial exchange: its first codec is the call's.
    pub(crate) answer_sdp: Option<Bytes>,
    /// Confirmed dialogs by leg: only what the call reads again (the
    /// whole record, SDP included, went to the log).
    pub(crate) records: HashMap<LegIndex, DialogIds>,
    /// The user of a device leg, whether the device sent the INVITE, and
    /// the remote party's identity.
    pub(crate) leg_users: HashMap<LegIndex, (String, bool, String)>,
    pub(crate) callee_user: String,
    pub(crate) caller_aor: String,
    /// `o=` for legs of new devices.
    pub(crate) origins: HashMap<LegIndex, OriginRewriter>,
    /// The handover in progress or the last one.
    /// Boxed: most calls never see one, and the state lives as long as
    /// the call.
    pub(crate) pull: Option<Box<Pull>>,
    pub(crate) next_handover: u64,
    pub(crate) policy: HandoverPolicy,
    /// Original devices listening after a grant-monitor.
    pub(crate) monitors: HashSet<LegIndex>,
    /// Legs that left the call's bridge (replaced devices).
    pub(crate) retired: HashSet<LegIndex>,
    /// Legs told to finish ([`LegMsg::Finish`]): their stop is expected,
    /// and everything the call keeps for them goes with it.
    pub(crate) finishing: HashSet<LegIndex>,
    /// One end holds the call (its last SDP is not sendrecv).
    pub(crate) on_hold: bool,
}

impl Actor for CallActor {
    type Msg = CallMsg;
    type State = CallState;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CallMsg>,
        args: CallArgs,
    ) -> Result<CallState, ActorProcessingErr> {
        metrics::gauge!(m::CALLS_ACTIVE).increment(1.0);
        let (media, _) = Actor::spawn_linked(
            None,
            MediaBridgeActor,
            MediaArgs {
                relay: args.relay.clone(),
                call_ref: myself.clone(),
                inactivity: args.media_inactivity,
                strict: args.strict_latching,
            },
            myself.get_cell(),
        )
        .await?;
        let relay_ip = args.media_ip;
        let caller_offer = (!args.invite.body.is_empty()).then(|| args.invite.body.clone());
        let caller_media = caller_offer.as_deref().and_then(media_address);
        let ctx = args.ctx.clone();
        let (caller_leg, _) = Actor::spawn_linked(
            None,
            LegActor,
            LegArgs {
                call: args.call,
                index: LegIndex::CALLER,
                role: LegRole::Uas {
                    invite: args.invite,
                    flow: args.flow,
                    source: args.source,
                    trying_sent: false,
                },
                call_ref: myself.clone(),
                ctx: args.ctx.clone(),
            },
            myself.get_cell(),
        )
        .await?;
        let mut state = CallState {
            call: args.call,
            b2bua: B2bua::start(0).0,
            legs: HashMap::from([(LegIndex::CALLER, caller_leg)]),
            media,
            relay_addr: HashMap::new(),
            fork_sdp: HashMap::new(),
            origin_to_caller: OriginRewriter::new(args.call.0, relay_ip),
            origin_to_callee: OriginRewriter::new(args.call.0 + 1, relay_ip),
            notices: args.notices,
            log: args.log.clone(),
            late_offer: caller_offer.is_none(),
            started: Instant::now(),
            ended: false,
            ctx,
            caller_side: LegIndex::CALLER,
            callee_side: None,
            remote_sdp: HashMap::new(),
            answer_sdp: None,
            records: HashMap::new(),
            leg_users: HashMap::from([(
                LegIndex::CALLER,
                (args.caller_user.clone(), true, uri_of(&args.to)),
            )]),
            callee_user: args.callee_user.clone(),
            caller_aor: args.from.clone(),
            origins: HashMap::new(),
            pull: None,
            // Unique across restarts, like call numbers: from the clock.
            next_handover: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                .saturating_mul(1000),
            policy: args.handover,
            monitors: HashSet::new(),
            retired: HashSet::new(),
            finishing: HashSet::new(),
            on_hold: false,
        };
        if let Some(offer) = &caller_offer {
            state.remote_sdp.insert(LegIndex::CALLER, offer.clone());
        }
        let Some(addr) = state.open_media(LegIndex::CALLER, caller_media).await else {
            // No relay ports: the call cannot be anchored, so it is refused
            // (503: try another node) rather than placed without media.
            metrics::counter!(m::CALLS_TOTAL, "result" => "no_media").increment(1);
            let _ = state.legs[&LegIndex::CALLER].cast(LegMsg::Respond {
                code: 503,
                sdp: None,
            });
            state.ended = true;
            myself.send_after(LINGER, || CallMsg::Stop);
            return Ok(state);
        };
        state.relay_addr.insert(LegIndex::CALLER, addr);
        args.log.call_created(args.call, &args.from, &args.to);
        let (b2bua, commands) = B2bua::start(args.targets.len());
        state.b2bua = b2bua;
        for command in commands {
            if let Command::Invite(fork) = command {
                let index = LegIndex::fork(fork);
                let target = &args.targets[fork];
                let relay = state.open_media(index, None).await;
                let Some(relay) = relay else {
                    // This contact cannot be reached with anchored media.
                    let _ = myself.cast(CallMsg::Leg {
                        index,
                        event: LegEvent::Failed { code: 503 },
                    });
                    continue;
                };
                state.relay_addr.insert(index, relay);
                let relay = Some(relay);
                let offer = match (&caller_offer, relay) {
                    (Some(sdp), Some(relay)) => anchored(sdp, relay, &mut state.origin_to_callee),
                    _ => None,
                };
                let spawned = Actor::spawn_linked(
                    None,
                    LegActor,
                    LegArgs {
                        call: args.call,
                        index,
                        role: LegRole::Uac {
                            target: target.uri.clone(),
                            flow: target.flow,
                            from: args.from.clone(),
                            to: args.to.clone(),
                            sdp: offer,
                        },
                        call_ref: myself.clone(),
                        ctx: args.ctx.clone(),
                    },
                    myself.get_cell(),
                )
                .await;
                if let Ok((leg, _)) = spawned {
                    state.legs.insert(index, leg);
                }
            } else {
                state.execute(&myself, command);
            }
        }
        myself.send_after(args.no_answer, || CallMsg::NoAnswerTimeout);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMsg>,
        msg: CallMsg,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        let input = match msg {
            CallMsg::Deliver { index, arrival } => {
                match state.legs.get(&index) {
                    Some(leg) => {
                        let _ = leg.cast(LegMsg::Incoming(arrival));
                    }
                    // A leg that finished: its dialog is gone (boxed, like
                    // every send from a call's loop).
                    None => {
                        let Arrival { message, reply, .. } = *arrival;
                        Box::pin(state.no_such_leg(message, reply)).await
                    }
                }
                None
            }
            CallMsg::Rebind { leg, rebinding } => {
                if let Some(l) = state.legs.get(&leg) {
                    let _ = l.cast(LegMsg::Rebind(rebinding));
                }
                None
            }
            CallMsg::Leg { index, event } => state.input_for(&myself, index, event),
            CallMsg::NoAnswerTimeout => Some(Input::NoAnswerTimeout),
            CallMsg::Shutdown => Some(Input::Shutdown),
            CallMsg::MediaTimeout => {
                metrics::counter!(m::CALLS_MEDIA_TIMEOUT).increment(1);
                Some(Input::CallerBye)
            }
            CallMsg::Stop => {
                myself.stop(None);
                None
            }
            CallMsg::Pull {
                index,
                moving,
                arrival,
            } => {
                // Boxed: the switch request spawns a leg, a large future
                // that would otherwise size every call's message loop
                // (allocated once per actor for its whole life).
                let Arrival {
                    message,
                    reply,
                    source,
                } = *arrival;
                Box::pin(state.pull(&myself, index, moving, message, reply, source)).await;
                None
            }
            CallMsg::HandoverCommitted { handover, ok } => {
                state.handover_committed(&myself, handover, ok);
                None
            }
            CallMsg::Key { leg, key } => {
                let decision = char::from_digit(u32::from(key), 10)
                    .and_then(crate::handover::Decision::from_key);
                if let Some(d) = decision {
                    state.decide(&myself, leg, d);
                }
                None
            }
            CallMsg::AuthorizationTimeout(number) => {
                state.authorization_timeout(&myself, number);
                None
            }
            CallMsg::Spliced {
                first_new_at,
                gap,
                missed,
            } => {
                state.spliced(first_new_at, gap, missed);
                None
            }
        };
        if let Some(input) = input {
            for command in state.b2bua.handle(input) {
                state.execute(&myself, command);
            }
        }
        Ok(())
    }

    /// A leg that was told to finish stopped: the call forgets it and the
    /// router drops its routes. Any other child stopping or failing ends
    /// the call (ractor's default), never the node.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CallMsg>,
        event: SupervisionEvent,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(who, _, _) => {
                let finished = state.finishing.iter().copied().find(|index| {
                    state
                        .legs
                        .get(index)
                        .is_some_and(|leg| leg.get_id() == who.get_id())
                });
                match finished {
                    Some(index) => state.leg_gone(index),
                    None => myself.stop(None),
                }
            }
            SupervisionEvent::ActorFailed(..) => myself.stop(None),
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<CallMsg>,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        if !state.ended {
            // A leg or the bridge failed: the call ends cleanly, never the node.
            for leg in state.legs.values() {
                let _ = leg.cast(LegMsg::Bye);
            }
            metrics::counter!(m::CALLS_TOTAL, "result" => "failed").increment(1);
            state.log.call_ended(state.call, CallResult::Failed);
        }
        metrics::gauge!(m::CALLS_ACTIVE).decrement(1.0);
        let _ = state.notices.send(CallNotice::Gone(state.call));
        Ok(())
    }
}

impl CallState {
    /// The leg `index` leaves the call for good: its relay ports now, its
    /// actor once its transactions are over ([`LegMsg::Finish`]), then
    /// everything kept for it ([`CallState::leg_gone`]).
    pub(crate) fn finish_leg(&mut self, index: LegIndex) {
        let _ = self.media.cast(MediaMsg::Release(index));
        self.relay_addr.remove(&index);
        if let Some(leg) = self.legs.get(&index) {
            let _ = leg.cast(LegMsg::Finish);
            self.finishing.insert(index);
        } else {
            self.leg_gone(index);
        }
    }

    /// A finished leg stopped: nothing of it stays in the call, and the
    /// router forgets its routes and dialog.
    pub(crate) fn leg_gone(&mut self, index: LegIndex) {
        self.legs.remove(&index);
        self.finishing.remove(&index);
        self.retired.remove(&index);
        self.monitors.remove(&index);
        self.relay_addr.remove(&index);
        self.remote_sdp.remove(&index);
        self.origins.remove(&index);
        self.records.remove(&index);
        self.leg_users.remove(&index);
        let _ = self.media.cast(MediaMsg::Release(index));
        let _ = self.notices.send(CallNotice::LegGone {
            call: self.call,
            leg: index,
        });
    }

    /// A message for a leg that is gone: a request (but an ACK) gets a
    /// stateless `481` (RFC 3261 §12.2.2), anything else is dropped.
    async fn no_such_leg(&self, message: Message, flow: Flow) {
        let answerable = message
            .method()
            .is_some_and(|m| *m != sip_message::Method::ACK);
        if !answerable {
            return;
        }
        let response = sip_message::ResponseBuilder::to_request(&message, 481)
            .to_tag(&crate::ids::random_token())
            .header(sip_message::HeaderName::Server, crate::SERVER)
            .build();
        let target = crate::net::to_target(&flow);
        let _ = self
            .ctx
            .transport
            .send(&target, Bytes::from(response.to_bytes()))
            .await;
    }

    pub(crate) async fn open_media(
        &self,
        leg: LegIndex,
        expected: Option<SocketAddr>,
    ) -> Option<SocketAddr> {
        let opened = ractor::call!(self.media, |reply| MediaMsg::Open {
            leg,
            expected,
            reply
        });
        match opened {
            Ok(Ok(addr)) => Some(addr),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no relay ports for a leg");
                None
            }
            Err(_) => None,
        }
    }

    fn input_for(
        &mut self,
        myself: &ActorRef<CallMsg>,
        index: LegIndex,
        event: LegEvent,
    ) -> Option<Input> {
        let b_pending = self
            .pull
            .as_ref()
            .is_some_and(|p| p.b == index && p.machine.is_pending());
        if b_pending {
            self.b_event(myself, index, event);
            return None;
        }
        let is_side = index == self.caller_side || Some(index) == self.callee_side;
        // A new device's leg that does not hold an end of the call: refused,
        // cancelled or rolled back.
        if self.retired.contains(&index) || (index.is_pulled() && !is_side) {
            self.retired_event(index, event);
            return None;
        }
        if let LegEvent::Request {
            id,
            method: sip_message::Method::INFO,
            content_type,
            body,
        } = &event
        {
            if let Some(code) = self.info_decision(myself, index, content_type.as_deref(), body) {
                self.answer_leg(index, *id, code);
                return None;
            }
        }
        let fork = if index == self.caller_side {
            None
        } else if Some(index) == self.callee_side {
            self.b2bua.answered_fork()
        } else {
            index.fork_number()
        };
        match (fork, event) {
            (None, LegEvent::Cancelled) => Some(Input::CallerCancel),
            (None, LegEvent::Bye) => Some(Input::CallerBye),
            (None, LegEvent::AckTimeout) => Some(Input::CallerAckTimeout),
            (None, LegEvent::Acked { sdp }) => {
                if let Some(body) = &sdp {
                    self.remote_sdp.insert(index, body.clone());
                }
                // Late offer: the caller's answer came in its ACK; the
                // answered fork's ACK carries it, anchored (RFC 3264).
                if self.late_offer {
                    if let Some(fork) = self.b2bua.answered_fork().map(LegIndex::fork) {
                        let sdp = sdp.and_then(|body| {
                            self.rewrite_for(LegIndex::CALLER, fork, Some("application/sdp"), body)
                        });
                        if let Some(leg) = self.legs.get(&fork) {
                            let _ = leg.cast(LegMsg::Ack { sdp });
                        }
                    }
                }
                None
            }
            (_, LegEvent::SessionExpired) => {
                metrics::counter!(m::CALLS_SESSION_EXPIRED).increment(1);
                Some(Input::SessionExpired)
            }
            (fork, LegEvent::Confirmed(mut record)) => {
                // Only the call's two ends are its dialogs: a fork that
                // answered too late is hung up, not recorded.
                if !is_side {
                    return None;
                }
                record.relay = self.relay_addr.get(&index).copied();
                self.records.insert(index, DialogIds::of(&record));
                self.log.leg_confirmed(self.call, *record);
                if fork.is_some() {
                    self.leg_users.insert(
                        index,
                        (self.callee_user.clone(), false, uri_of(&self.caller_aor)),
                    );
                }
                self.announce(index, DialogPhase::Confirmed);
                None
            }
            (Some(fork), LegEvent::Provisional { code, sdp }) => {
                self.remember_fork_sdp(fork, index, sdp);
                Some(Input::ForkProvisional { fork, code })
            }
            (Some(fork), LegEvent::Answered { sdp }) => {
                if self.answer_sdp.is_none() {
                    self.answer_sdp = sdp.clone();
                }
                self.remember_fork_sdp(fork, index, sdp);
                Some(Input::ForkAnswered { fork })
            }
            (Some(fork), LegEvent::Failed { code }) => {
                // A fork that failed (declined, or cancelled when another
                // answered) is over: its leg goes once its transaction has
                // absorbed the retransmissions.
                if !is_side {
                    self.finish_leg(index);
                }
                Some(Input::ForkFailed { fork, code })
            }
            (Some(fork), LegEvent::Bye) => Some(Input::ForkBye { fork }),
            (
                _,
                LegEvent::Request {
                    id,
                    method,
                    content_type,
                    body,
                },
            ) => {
                self.relay_request(index, id, method, content_type, body);
                None
            }
            (
                _,
                LegEvent::RequestAnswered {
                    origin,
                    method,
                    code,
                    content_type,
                    body,
                },
            ) => {
                self.relay_answer(index, origin, method, code, content_type, body);
                None
            }
            (_, _) => None,
        }
    }

    /// The other side of an answered call.
    pub(crate) fn peer_of(&self, index: LegIndex) -> Option<LegIndex> {
        let callee = self.callee_side?;
        if index == self.caller_side {
            Some(callee)
        } else if index == callee {
            Some(self.caller_side)
        } else {
            None
        }
    }

    /// Moves the call's end held by `old` to `new` (a handover swap, or
    /// its roll-back).
    pub(crate) fn replace_side(&mut self, old: LegIndex, new: LegIndex) {
        if self.caller_side == old {
            self.caller_side = new;
        } else if self.callee_side == Some(old) {
            self.callee_side = Some(new);
        }
    }

    /// The user whose device holds `leg`.
    pub(crate) fn user_of_side(&self, leg: LegIndex) -> (String, String) {
        self.leg_users
            .get(&leg)
            .map(|(u, _, r)| (u.clone(), r.clone()))
            .unwrap_or_default()
    }

    /// The codec of the call: the first of the initial answer.
    pub(crate) fn call_codec(&self) -> Option<sdp::Codec> {
        let body = self
            .answer_sdp
            .as_ref()
            .or_else(|| self.remote_sdp.get(&self.caller_side))?;
        let d = SessionDescription::parse(body).ok()?;
        let media = d.media(0)?;
        media.codecs().into_iter().find(|c| !c.is_telephone_event())
    }

    /// Whether either end's last SDP holds the call (a direction other
    /// than sendrecv, or the RFC 2543 `0.0.0.0`); on a change, the device
    /// dialogs are announced again (the feature code skips held calls).
    fn update_hold(&mut self) {
        let sides = [Some(self.caller_side), self.callee_side];
        let held = sides
            .into_iter()
            .flatten()
            .filter_map(|leg| self.remote_sdp.get(&leg))
            .any(|body| holds(body));
        if held != self.on_hold {
            self.on_hold = held;
            for side in sides.into_iter().flatten() {
                self.announce(side, DialogPhase::Confirmed);
            }
        }
    }

    /// Tells the router (and dialog-event subscribers) about a device
    /// dialog of this call.
    pub(crate) fn announce(&self, leg: LegIndex, phase: DialogPhase) {
        let (Some(record), Some((user, initiator, remote))) =
            (self.records.get(&leg), self.leg_users.get(&leg))
        else {
            return;
        };
        let dialog = UserDialog {
            call: self.call,
            leg,
            user: user.clone(),
            call_id: record.sip_call_id.clone(),
            device_tag: record.remote_tag.clone(),
            baton_tag: record.local_tag.clone(),
            initiator: *initiator,
            device_contact: record.remote_target.clone(),
            remote_identity: remote.clone(),
            phase,
            on_hold: self.on_hold,
        };
        let _ = self.notices.send(CallNotice::Dialog(Box::new(dialog)));
    }

    /// Answers a request a leg reported, without relaying it.
    pub(crate) fn answer_leg(&self, leg: LegIndex, id: u64, code: u16) {
        if let Some(l) = self.legs.get(&leg) {
            let _ = l.cast(LegMsg::AnswerRequest {
                id,
                code,
                content_type: None,
                body: Bytes::new(),
            });
        }
    }

    /// An event of the new device's leg while its handover is pending.
    fn b_event(&mut self, myself: &ActorRef<CallMsg>, index: LegIndex, event: LegEvent) {
        match event {
            LegEvent::Cancelled => {
                if let Some(l) = self.legs.get(&index) {
                    let _ = l.cast(LegMsg::Respond {
                        code: 487,
                        sdp: None,
                    });
                }
                self.pull_input(myself, PullInput::Cancelled);
            }
            LegEvent::Confirmed(mut record) => {
                record.relay = self.relay_addr.get(&index).copied();
                if let Some(p) = self.pull.as_mut() {
                    p.b_record = Some(*record);
                }
            }
            LegEvent::Acked { sdp } => {
                if let Some(body) = sdp {
                    // A late offer: B's answer came in its ACK.
                    let _ = self.media.cast(MediaMsg::SetRemote {
                        leg: index,
                        remote: media_address(&body),
                    });
                    if let Some(r) = self.pull.as_mut().and_then(|p| p.b_record.as_mut()) {
                        r.remote_sdp = String::from_utf8_lossy(&body).into_owned();
                    }
                    self.remote_sdp.insert(index, body);
                }
                self.pull_input(myself, PullInput::Acked);
            }
            LegEvent::AckTimeout | LegEvent::Bye | LegEvent::Failed { .. } => {
                self.pull_input(myself, PullInput::Failed);
            }
            LegEvent::Request { id, .. } => self.answer_leg(index, id, 491),
            _ => {}
        }
    }

    /// An event of a leg that left the call (a replaced device, a
    /// listener, a refused or rolled-back new device).
    fn retired_event(&mut self, index: LegIndex, event: LegEvent) {
        match event {
            // The listener hung up: R and B carry on untouched.
            LegEvent::Bye if self.monitors.remove(&index) => {
                let _ = self.media.cast(MediaMsg::StopMonitor(index));
                self.finish_leg(index);
            }
            LegEvent::Request { id, method, .. } => {
                let code = if method == sip_message::Method::INFO {
                    200
                } else {
                    // A listener cannot renegotiate a session it only hears.
                    488
                };
                self.answer_leg(index, id, code);
            }
            _ => {}
        }
    }

    /// An in-dialog request crosses to the other side, its SDP (if any)
    /// anchored at that side's relay port (RFC 3264 re-offer: hold, resume,
    /// codec change).
    fn relay_request(
        &mut self,
        from: LegIndex,
        id: u64,
        method: sip_message::Method,
        content_type: Option<String>,
        body: Bytes,
    ) {
        let swapping = self.pull.as_ref().is_some_and(|p| p.machine.is_swapping());
        if swapping && method != sip_message::Method::INFO {
            // The bridge is between two devices: R tries again later.
            return self.answer_leg(from, id, 491);
        }
        let Some(to) = self.peer_of(from) else {
            if let Some(leg) = self.legs.get(&from) {
                let _ = leg.cast(LegMsg::AnswerRequest {
                    id,
                    code: 481,
                    content_type: None,
                    body: Bytes::new(),
                });
            }
            return;
        };
        let Some(body) = self.rewrite_for(from, to, content_type.as_deref(), body) else {
            // An SDP that cannot be anchored never crosses (RFC 3264: the
            // 488 keeps the old session on both sides).
            if let Some(leg) = self.legs.get(&from) {
                let _ = leg.cast(LegMsg::AnswerRequest {
                    id,
                    code: 488,
                    content_type: None,
                    body: Bytes::new(),
                });
            }
            return;
        };
        if let Some(leg) = self.legs.get(&to) {
            let _ = leg.cast(LegMsg::SendRequest {
                origin: RequestOrigin::Leg(from, id),
                method,
                content_type,
                body,
            });
        }
    }

    /// The other side's final answer goes back to the leg that asked.
    fn relay_answer(
        &mut self,
        answered_on: LegIndex,
        origin: RequestOrigin,
        _method: sip_message::Method,
        code: u16,
        content_type: Option<String>,
        body: Bytes,
    ) {
        let RequestOrigin::Leg(origin, id) = origin else {
            // The answer to Baton's own request (the authorization INFO)
            // only confirms receipt.
            return;
        };
        let (code, content_type, body) =
            match self.rewrite_for(answered_on, origin, content_type.as_deref(), body) {
                Some(body) => (code, content_type, body),
                // The answer cannot be anchored: the offerer gets a failure
                // and keeps its session.
                None => (488, None, Bytes::new()),
            };
        if let Some(leg) = self.legs.get(&origin) {
            let _ = leg.cast(LegMsg::AnswerRequest {
                id,
                code,
                content_type,
                body,
            });
        }
    }

    /// SDP seen on leg `from` goes to leg `to`: the relay learns where
    /// `from` now receives, and `to` is told to send to `to`'s relay port.
    fn rewrite_for(
        &mut self,
        from: LegIndex,
        to: LegIndex,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Option<Bytes> {
        let is_sdp = content_type.is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/sdp")
        });
        if !is_sdp || body.is_empty() {
            return Some(body);
        }
        let relay = self.relay_addr.get(&to).copied()?;
        let origin = if let Some(o) = self.origins.get_mut(&to) {
            o
        } else if to == LegIndex::CALLER {
            &mut self.origin_to_caller
        } else {
            &mut self.origin_to_callee
        };
        // `None` when the SDP cannot be anchored (malformed, hostile): it
        // must not cross.
        let rewritten = anchored(&body, relay, origin)?;
        let _ = self.media.cast(MediaMsg::SetRemote {
            leg: from,
            remote: media_address(&body),
        });
        self.remote_sdp.insert(from, body);
        self.update_hold();
        Some(rewritten)
    }

    fn remember_fork_sdp(&mut self, fork: usize, index: LegIndex, sdp: Option<Bytes>) {
        if let Some(sdp) = sdp {
            self.remote_sdp.insert(index, sdp.clone());
            let _ = self.media.cast(MediaMsg::SetRemote {
                leg: index,
                remote: media_address(&sdp),
            });
            self.fork_sdp.insert(fork, sdp);
        }
    }

    fn execute(&mut self, myself: &ActorRef<CallMsg>, command: Command) {
        let leg = |state: &CallState, index: LegIndex| state.legs.get(&index).cloned();
        match command {
            Command::Invite(_) => {}
            Command::RespondCaller { code, from_fork } => {
                let sdp = from_fork
                    .and_then(|f| self.fork_sdp.get(&f).cloned())
                    .zip(self.relay_addr.get(&LegIndex::CALLER).copied())
                    .and_then(|(sdp, relay)| anchored(&sdp, relay, &mut self.origin_to_caller));
                if code == 200 {
                    metrics::histogram!(m::CALL_SETUP_SECONDS)
                        .record(self.started.elapsed().as_secs_f64());
                }
                if let Some(l) = leg(self, LegIndex::CALLER) {
                    let _ = l.cast(LegMsg::Respond { code, sdp });
                }
            }
            Command::Cancel(fork) => {
                if let Some(l) = leg(self, LegIndex::fork(fork)) {
                    let _ = l.cast(LegMsg::Cancel);
                }
            }
            Command::AckAndBye(fork) | Command::ByeFork(fork) => {
                // The answered fork's end may have moved to a new device.
                let index = match self.callee_side {
                    Some(side) if self.b2bua.answered_fork() == Some(fork) => side,
                    _ => LegIndex::fork(fork),
                };
                if let Some(l) = leg(self, index) {
                    let _ = l.cast(LegMsg::Bye);
                }
                // A fork that answered too late goes once its BYE is over.
                if Some(index) != self.callee_side {
                    self.finish_leg(index);
                }
            }
            Command::ByeCaller => {
                if let Some(l) = leg(self, self.caller_side) {
                    let _ = l.cast(LegMsg::Bye);
                }
            }
            Command::ConnectMedia(fork) => {
                self.callee_side = Some(LegIndex::fork(fork));
                let _ = self.media.cast(MediaMsg::Connect {
                    a: LegIndex::CALLER,
                    b: LegIndex::fork(fork),
                });
            }
            Command::End(result) => self.end(myself, result),
        }
    }

    fn end(&mut self, myself: &ActorRef<CallMsg>, result: CallResult) {
        self.ended = true;
        self.pull_call_ended(myself);
        for listener in std::mem::take(&mut self.monitors) {
            if let Some(l) = self.legs.get(&listener) {
                let _ = l.cast(LegMsg::Bye);
            }
        }
        let sides = [Some(self.caller_side), self.callee_side];
        for side in sides.into_iter().flatten() {
            self.announce(side, DialogPhase::Terminated { replaced: false });
        }
        self.log.call_ended(self.call, result);
        metrics::counter!(m::CALLS_TOTAL, "result" => result.label()).increment(1);
        tracing::debug!(call = %self.call, result = result.label(), "call ended");
        // Media stops now; signalling lingers for the last retransmissions
        // (the ACK of a final error, a BYE's 200).
        for index in self.legs.keys() {
            let _ = self.media.cast(MediaMsg::Release(*index));
        }
        myself.send_after(LINGER, || CallMsg::Stop);
    }
}

/// What a call keeps of a confirmed dialog (the dialog event package, a
/// switch request's checks).
#[derive(Debug)]
pub(crate) struct DialogIds {
    /// Call-ID of the leg's dialog.
    pub(crate) sip_call_id: String,
    /// Baton's tag in it.
    pub(crate) local_tag: String,
    /// The peer's tag.
    pub(crate) remote_tag: String,
    /// The peer's Contact.
    pub(crate) remote_target: String,
}

impl DialogIds {
    pub(crate) fn of(record: &LegRecord) -> Self {
        DialogIds {
            sip_call_id: record.sip_call_id.clone(),
            local_tag: record.local_tag.clone(),
            remote_tag: record.remote_tag.clone(),
            remote_target: record.remote_target.clone(),
        }
    }
}

/// How long a finished call's legs stay to absorb retransmissions.
const LINGER: Duration = Duration::from_secs(4);

/// Whether a description holds its first stream.
fn holds(sdp: &[u8]) -> bool {
    let Ok(d) = SessionDescription::parse(sdp) else {
        return false;
    };
    d.media(0)
        .is_some_and(|m| m.is_legacy_hold() || m.direction() != sdp::Direction::SendRecv)
}

/// The URI inside a name-addr (`"Alice" <sip:alice@x>` → `sip:alice@x`).
fn uri_of(name_addr: &str) -> String {
    match (name_addr.find('<'), name_addr.rfind('>')) {
        (Some(open), Some(close)) if open < close => name_addr[open + 1..close].to_string(),
        _ => name_addr.trim().to_string(),
    }
}

/// The address a description asks media to be sent to (first stream).
pub(crate) fn media_address(sdp: &[u8]) -> Option<SocketAddr> {
    let description = SessionDescription::parse(sdp).ok()?;
    let media = description.media(0)?;
    let ip = media.connection_address()?;
    (media.port() != 0).then(|| SocketAddr::new(ip, media.port()))
}

/// `sdp` with its first stream pointed at `relay`, every other stream
/// disabled (the relay anchors one stream per call today), and Baton's `o=`.
pub(crate) fn anchored(
    sdp: &[u8],
    relay: SocketAddr,
    origin: &mut OriginRewriter,
) -> Option<Bytes> {
    let mut description = SessionDescription::parse(sdp).ok()?;
    description.validate().ok()?;
    description.anchor(0, relay.ip(), relay.port()).ok()?;
    origin.rewrite(&mut description);
    Some(Bytes::from(description.to_bytes()))
}
