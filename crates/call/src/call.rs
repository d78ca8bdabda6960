//! The `CallActor`: one per call. It owns the caller's leg (UAS), one leg
//! per fork (UAC) and the media bridge; it feeds what they report to the
//! pure [`B2bua`](crate::b2bua::B2bua) and carries out its commands,
//! rewriting SDP so that both sides send media to the relay.

use crate::b2bua::{B2bua, CallResult, Command, Input};
use crate::ids::{CallNumber, LegIndex};
use crate::leg::{LegActor, LegArgs, LegEvent, LegMsg, LegRole};
use crate::log::CallLog;
use crate::media::{MediaArgs, MediaBridgeActor, MediaMsg};
use crate::net::SignallingContext;
use crate::{metrics as m, CallNotice, CallTarget};
use bytes::Bytes;
use media_relay::Relay;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use sdp::{OriginRewriter, SessionDescription};
use sip_message::Message;
use sip_proto::Flow;
use std::collections::HashMap;
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
        /// The message. Boxed: tokio's channels allocate slots in blocks
        /// of 32, sized by the largest variant, and every call has four
        /// mailboxes (measured in `benches/sipp/memory_per_call.sh`).
        message: Box<Message>,
        /// Its flow.
        flow: Flow,
    },
    /// Nobody answered in time.
    NoAnswerTimeout,
    /// The bridged media went silent.
    MediaTimeout,
    /// The linger after the end is over: stop.
    Stop,
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
    /// Its flow.
    pub flow: Flow,
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
}

/// The call actor.
#[derive(Debug, Default)]
pub struct CallActor;

/// A call's state.
#[derive(Debug)]
pub struct CallState {
    call: CallNumber,
    b2bua: B2bua,
    legs: HashMap<LegIndex, ActorRef<LegMsg>>,
    media: ActorRef<MediaMsg>,
    relay_addr: HashMap<LegIndex, SocketAddr>,
    /// The last SDP each fork sent (provisional or answer).
    fork_sdp: HashMap<usize, Bytes>,
    /// `o=` for the caller's side, stable across responses (RFC 3264 §8).
    origin_to_caller: OriginRewriter,
    /// `o=` for the callee's side.
    origin_to_callee: OriginRewriter,
    notices: UnboundedSender<CallNotice>,
    log: Arc<dyn CallLog>,
    /// The caller's INVITE had no SDP: its answer comes in its ACK.
    late_offer: bool,
    started: Instant,
    ended: bool,
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
        let (caller_leg, _) = Actor::spawn_linked(
            None,
            LegActor,
            LegArgs {
                call: args.call,
                index: LegIndex::CALLER,
                role: LegRole::Uas {
                    invite: args.invite,
                    flow: args.flow,
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
        };
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
            CallMsg::Deliver {
                index,
                message,
                flow,
            } => {
                if let Some(leg) = state.legs.get(&index) {
                    let _ = leg.cast(LegMsg::Incoming { message, flow });
                }
                None
            }
            CallMsg::Leg { index, event } => state.input_for(index, event),
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
        };
        if let Some(input) = input {
            for command in state.b2bua.handle(input) {
                state.execute(&myself, command);
            }
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
    async fn open_media(&self, leg: LegIndex, expected: Option<SocketAddr>) -> Option<SocketAddr> {
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

    fn input_for(&mut self, index: LegIndex, event: LegEvent) -> Option<Input> {
        match (index.fork_number(), event) {
            (None, LegEvent::Cancelled) => Some(Input::CallerCancel),
            (None, LegEvent::Bye) => Some(Input::CallerBye),
            (None, LegEvent::AckTimeout) => Some(Input::CallerAckTimeout),
            (None, LegEvent::Acked { sdp }) => {
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
            (_, LegEvent::Confirmed(mut record)) => {
                record.relay = self.relay_addr.get(&index).copied();
                self.log.leg_confirmed(self.call, *record);
                None
            }
            (Some(fork), LegEvent::Provisional { code, sdp }) => {
                self.remember_fork_sdp(fork, index, sdp);
                Some(Input::ForkProvisional { fork, code })
            }
            (Some(fork), LegEvent::Answered { sdp }) => {
                self.remember_fork_sdp(fork, index, sdp);
                Some(Input::ForkAnswered { fork })
            }
            (Some(fork), LegEvent::Failed { code }) => Some(Input::ForkFailed { fork, code }),
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
    fn peer_of(&self, index: LegIndex) -> Option<LegIndex> {
        let answered = LegIndex::fork(self.b2bua.answered_fork()?);
        if index == LegIndex::CALLER {
            Some(answered)
        } else if index == answered {
            Some(LegIndex::CALLER)
        } else {
            None
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
                origin: (from, id),
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
        (origin, id): (LegIndex, u64),
        _method: sip_message::Method,
        code: u16,
        content_type: Option<String>,
        body: Bytes,
    ) {
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
        let origin = if to == LegIndex::CALLER {
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
        Some(rewritten)
    }

    fn remember_fork_sdp(&mut self, fork: usize, index: LegIndex, sdp: Option<Bytes>) {
        if let Some(sdp) = sdp {
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
                if let Some(l) = leg(self, LegIndex::fork(fork)) {
                    let _ = l.cast(LegMsg::Bye);
                }
            }
            Command::ByeCaller => {
                if let Some(l) = leg(self, LegIndex::CALLER) {
                    let _ = l.cast(LegMsg::Bye);
                }
            }
            Command::ConnectMedia(fork) => {
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

/// How long a finished call's legs stay to absorb retransmissions.
const LINGER: Duration = Duration::from_secs(4);

/// The address a description asks media to be sent to (first stream).
fn media_address(sdp: &[u8]) -> Option<SocketAddr> {
    let description = SessionDescription::parse(sdp).ok()?;
    let media = description.media(0)?;
    let ip = media.connection_address()?;
    (media.port() != 0).then(|| SocketAddr::new(ip, media.port()))
}

/// `sdp` with its first stream pointed at `relay`, every other stream
/// disabled (the relay anchors one stream per call today), and Baton's `o=`.
fn anchored(sdp: &[u8], relay: SocketAddr, origin: &mut OriginRewriter) -> Option<Bytes> {
    let mut description = SessionDescription::parse(sdp).ok()?;
    description.validate().ok()?;
    description.anchor(0, relay.ip(), relay.port()).ok()?;
    origin.rewrite(&mut description);
    Some(Bytes::from(description.to_bytes()))
}
