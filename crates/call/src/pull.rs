//! The handover side of a `CallActor`: a switch request from a new device
//! (B) of the user whose device (A) holds one leg of the call, carried
//! through the pure [`Handover`] machine. The remote party (R) on the other
//! leg never sees a SIP request when B's codec matches the call's: the
//! relay re-points R's stream from A's port to B's.

use crate::call::{anchored, media_address, CallState};
use crate::handover::{Action, Decision, Handover, Input, Phase};
use crate::ids::LegIndex;
use crate::leg::{LegActor, LegArgs, LegMsg, LegRole, RequestOrigin};
use crate::log::HandoverVerdict;
use crate::log::{HandoverNumber, LegRecord};
use crate::media::MediaMsg;
use crate::{metrics as m, CallMsg, DialogPhase};
use bytes::Bytes;
use ractor::{Actor, ActorRef};
use sdp::{CodecSpec, OriginRewriter, SessionDescription};
use sip_message::{HeaderName, Message, Method};
use sip_proto::Flow;
use std::time::{Duration, Instant};

/// What a call allows of handovers (`[handover]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct HandoverPolicy {
    /// How long A has to decide (`authorization_timeout`).
    pub authorization_timeout: Duration,
    /// Whether A may keep listening (`monitor_allowed`); a `3` is taken
    /// as a plain grant otherwise.
    pub monitor_allowed: bool,
    /// How long the prompt tone plays in A's audio.
    pub prompt: Duration,
}

impl Default for HandoverPolicy {
    fn default() -> Self {
        HandoverPolicy {
            authorization_timeout: Duration::from_secs(20),
            monitor_allowed: true,
            prompt: Duration::from_millis(1500),
        }
    }
}

/// The content type of the authorization request and of JSON decisions.
pub const HANDOVER_JSON: &str = "application/vnd.baton.handover+json";

/// The `Reason` A's `BYE` carries on a grant (RFC 3326).
const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// One handover attempt of a call and what it needs.
#[derive(Debug)]
pub(crate) struct Pull {
    pub(crate) number: HandoverNumber,
    /// The attempt's id on the wire: 128 random bits sent to A alone in
    /// the authorization request (the number above is for the log only,
    /// and guessable).
    token: String,
    pub(crate) machine: Handover,
    /// The leg that moves (A's).
    pub(crate) a: LegIndex,
    /// The new device's leg (B's).
    pub(crate) b: LegIndex,
    b_contact: String,
    b_user_agent: String,
    /// Baton's SDP for B's `200`.
    b_answer: Option<Bytes>,
    /// B's dialog, once its `200` went out.
    pub(crate) b_record: Option<LegRecord>,
    /// When the call took B's INVITE.
    received_at: Instant,
    asked_at: Option<Instant>,
    /// How long A took to decide (excluded from the pull's latency).
    decision_wait: Duration,
    granted_at: Option<Instant>,
    decided_by: String,
}

impl CallState {
    /// A switch request for the leg `moving`, arrived as the INVITE of the
    /// new leg `index`. The router checked the user and the dialog; the
    /// call checks what only it knows (a pending attempt, the codec).
    pub(crate) async fn pull(
        &mut self,
        myself: &ActorRef<CallMsg>,
        index: LegIndex,
        moving: LegIndex,
        invite: Message,
        flow: Flow,
        source: Flow,
    ) {
        let received_at = Instant::now();
        let contact = invite
            .contacts()
            .into_iter()
            .find_map(|c| match c {
                sip_message::ContactValue::Addr(a) => Some(a.uri.to_string()),
                sip_message::ContactValue::Star => None,
            })
            .unwrap_or_default();
        let user_agent = invite
            .header(&HeaderName::UserAgent)
            .unwrap_or_default()
            .to_string();
        let offer = (!invite.body.is_empty()).then(|| invite.body.clone());
        let spawned = Actor::spawn_linked(
            None,
            LegActor,
            LegArgs {
                call: self.call,
                index,
                role: LegRole::Uas {
                    invite,
                    flow,
                    source,
                    trying_sent: true,
                },
                call_ref: myself.clone(),
                ctx: self.ctx.clone(),
            },
            myself.get_cell(),
        )
        .await;
        let Ok((leg, _)) = spawned else {
            // No leg: nothing answers B; the router forgets its route.
            self.leg_gone(index);
            return;
        };
        self.legs.insert(index, leg);
        // Every refusal gives back what the request took: the leg answers,
        // absorbs the ACK and stops; its relay ports (if opened) close now.
        let refuse = |state: &mut CallState, code: u16, why: &str| {
            tracing::info!(code, why, "switch request refused");
            metrics::counter!(m::HANDOVERS_TOTAL, "result" => "rejected").increment(1);
            if let Some(leg) = state.legs.get(&index) {
                let _ = leg.cast(LegMsg::Respond { code, sdp: None });
            }
            state.finish_leg(index);
        };
        if self.ended {
            return refuse(self, 481, "the call is over");
        }
        if self.pull.as_ref().is_some_and(|p| p.machine.is_pending()) {
            return refuse(self, 486, "a handover of this call is pending");
        }
        let Some(r) = self.peer_of(moving) else {
            return refuse(self, 481, "the dialog named does not hold the call");
        };
        let a_contact = self
            .records
            .get(&moving)
            .map(|rec| rec.remote_target.clone())
            .unwrap_or_default();
        if same_contact(&a_contact, &contact) {
            return refuse(self, 403, "the new device is the one holding the call");
        }
        let Some(r_sdp) = self.remote_sdp.get(&r).cloned() else {
            return refuse(self, 488, "the call has no session description yet");
        };
        let Some(codec) = self.call_codec() else {
            return refuse(self, 488, "the call's codec is unknown");
        };
        let b_offer = match &offer {
            Some(body) => match SessionDescription::parse(body) {
                Ok(d) if d.validate().is_ok() && sdp::codec_matches(&codec, &d) => Some(d),
                // R keeps sending the call's codec: B must take it (Baton
                // does not re-offer to R, so R never sees a request).
                _ => {
                    metrics::counter!(m::SDP_REJECTED_HANDOVER).increment(1);
                    return refuse(self, 488, "no codec of the offer matches the call's");
                }
            },
            None => None,
        };
        let Some(relay) = self
            .open_media(index, offer.as_deref().and_then(media_address))
            .await
        else {
            return refuse(self, 503, "no relay ports");
        };
        self.relay_addr.insert(index, relay);
        let mut origin = OriginRewriter::new(self.call.0 ^ (u64::from(index.0) << 48), relay.ip());
        let answer = match b_offer {
            Some(d) => {
                let spec = CodecSpec::new(codec.name.clone(), codec.clock_rate, codec.channels);
                sdp::negotiate(&d, &[spec]).ok().and_then(|mut a| {
                    a.anchor(0, relay.ip(), relay.port()).ok()?;
                    origin.rewrite(&mut a);
                    Some(Bytes::from(a.to_bytes()))
                })
            }
            // No offer: Baton offers R's session in the 200; B's answer
            // comes in its ACK.
            None => anchored(&r_sdp, relay, &mut origin),
        };
        let Some(answer) = answer else {
            return refuse(self, 488, "no answer can be built for the offer");
        };
        self.origins.insert(index, origin);
        if let Some(body) = offer {
            let _ = self.media.cast(MediaMsg::SetRemote {
                leg: index,
                remote: media_address(&body),
            });
            self.remote_sdp.insert(index, body);
        }
        self.next_handover += 1;
        let (machine, actions) = Handover::start();
        self.pull = Some(Box::new(Pull {
            number: HandoverNumber(self.next_handover),
            token: crate::flow_guard::attempt_token(),
            machine,
            a: moving,
            b: index,
            b_contact: contact,
            b_user_agent: user_agent,
            b_answer: Some(answer),
            b_record: None,
            received_at,
            asked_at: None,
            decision_wait: Duration::ZERO,
            granted_at: None,
            decided_by: String::new(),
        }));
        self.run_pull(myself, actions);
    }

    /// Feeds the attempt and carries out what it says.
    pub(crate) fn pull_input(&mut self, myself: &ActorRef<CallMsg>, input: Input) {
        let Some(p) = self.pull.as_mut() else {
            return;
        };
        let actions = p.machine.handle(input);
        self.run_pull(myself, actions);
    }

    fn run_pull(&mut self, myself: &ActorRef<CallMsg>, actions: Vec<Action>) {
        for action in actions {
            self.pull_action(myself, action);
        }
    }

    fn pull_action(&mut self, myself: &ActorRef<CallMsg>, action: Action) {
        let Some(p) = self.pull.as_mut() else {
            return;
        };
        let (number, a, b) = (p.number, p.a, p.b);
        let committed = |me: &ActorRef<CallMsg>| -> crate::log::Committed {
            let me = me.clone();
            Box::new(move |ok| {
                let _ = me.cast(CallMsg::HandoverCommitted {
                    handover: number,
                    ok,
                });
            })
        };
        match action {
            Action::LogRequested => {
                let by = p.b_contact.clone();
                // The log knows the call's two sides, not the legs of the
                // devices that held them: name the side that moves.
                let side = if a == self.caller_side {
                    LegIndex::CALLER
                } else {
                    LegIndex::fork(self.b2bua.answered_fork().unwrap_or(0))
                };
                self.log
                    .handover_requested(self.call, number, side, &by, committed(myself));
            }
            Action::LogDecided(verdict) => {
                let by = p.decided_by.clone();
                self.log
                    .handover_decided(self.call, number, verdict, &by, committed(myself));
            }
            Action::LogSwapped => {
                let mut record = p.b_record.clone();
                match record.as_mut() {
                    Some(r) => {
                        r.relay = self.relay_addr.get(&b).copied();
                        let r = r.clone();
                        self.log
                            .bridge_swapped(self.call, number, r, committed(myself));
                    }
                    None => {
                        let _ = myself.cast(CallMsg::HandoverCommitted {
                            handover: number,
                            ok: false,
                        });
                    }
                }
            }
            Action::LogAbandoned(reason) => {
                self.log
                    .handover_abandoned(self.call, number, reason, Box::new(|_| {}));
            }
            Action::RespondB(code) => {
                if let Some(leg) = self.legs.get(&b) {
                    let _ = leg.cast(LegMsg::Respond { code, sdp: None });
                }
            }
            Action::Authorize => {
                p.asked_at = Some(Instant::now());
                let body = serde_json::json!({
                    "handover": p.token,
                    "from": p.b_contact,
                    "user_agent": p.b_user_agent,
                    "expires": self.policy.authorization_timeout.as_secs(),
                })
                .to_string();
                if let Some(leg) = self.legs.get(&a) {
                    let _ = leg.cast(LegMsg::SendRequest {
                        origin: RequestOrigin::Baton,
                        method: Method::INFO,
                        content_type: Some(HANDOVER_JSON.to_string()),
                        body: Bytes::from(body),
                    });
                }
                let telephone_event = self.remote_sdp.get(&a).and_then(|s| {
                    let d = SessionDescription::parse(s).ok()?;
                    d.media(0)?.telephone_event()
                });
                let _ = self.media.cast(MediaMsg::Authorize {
                    leg: a,
                    telephone_event,
                    prompt: self.policy.prompt,
                });
                myself.send_after(self.policy.authorization_timeout, move || {
                    CallMsg::AuthorizationTimeout(number)
                });
            }
            Action::Withdraw => {
                if let Some(at) = p.asked_at {
                    p.decision_wait = at.elapsed();
                    metrics::histogram!(m::HANDOVER_AUTHORIZATION_SECONDS)
                        .record(p.decision_wait.as_secs_f64());
                }
                // A granted: A's leg leaves R's bridge, so its decision
                // keys stay consumed until then (a second event of the same
                // press must not reach R while the grant commits). A keeping
                // the call gets its keys back when the attempt finishes.
                let granting = matches!(
                    p.machine.phase(),
                    Phase::Deciding(HandoverVerdict::Granted | HandoverVerdict::GrantedMonitor)
                );
                let withdraw = if granting {
                    MediaMsg::StopPrompt(a)
                } else {
                    MediaMsg::Withdraw(a)
                };
                let _ = self.media.cast(withdraw);
            }
            Action::Swap => {
                p.granted_at = Some(Instant::now());
                // A second swap of the call ends the previous listener.
                for listener in std::mem::take(&mut self.monitors) {
                    self.retire(listener);
                }
                let _ = self.media.cast(MediaMsg::Repoint { old: a, new: b });
                self.replace_side(a, b);
                self.retired.insert(a);
            }
            Action::AnswerB => {
                // The pull's own latency, as the node sees it: B's INVITE
                // taken by the call → its 200 handed to B's leg, minus A.
                let pull = p.received_at.elapsed().saturating_sub(p.decision_wait);
                metrics::histogram!(m::HANDOVER_PULL_SECONDS).record(pull.as_secs_f64());
                let sdp = p.b_answer.take();
                if let Some(leg) = self.legs.get(&b) {
                    let _ = leg.cast(LegMsg::Respond { code: 200, sdp });
                }
            }
            Action::RollBack => {
                let _ = self.media.cast(MediaMsg::Repoint { old: b, new: a });
                self.replace_side(b, a);
                self.retired.remove(&a);
                if let Some(leg) = self.legs.get(&b) {
                    let _ = leg.cast(LegMsg::Bye);
                }
                let _ = self.media.cast(MediaMsg::Release(b));
            }
            Action::ByeA => {
                if let Some(leg) = self.legs.get(&a) {
                    let _ = leg.cast(LegMsg::ByeWithReason(COMPLETED_ELSEWHERE));
                }
                self.announce_swap(a, b);
                // A's leg stops once its BYE is answered (or timed out).
                self.finish_leg(a);
            }
            Action::MonitorA => {
                self.monitors.insert(a);
                let _ = self.media.cast(MediaMsg::Monitor(a));
                self.announce_swap(a, b);
            }
            Action::Finished(outcome) => {
                // A still holds the call (denied, timed out, a failed
                // commit, a roll-back): its keys pass to R again.
                if a == self.caller_side || Some(a) == self.callee_side {
                    let _ = self.media.cast(MediaMsg::Withdraw(a));
                }
                metrics::counter!(m::HANDOVERS_TOTAL, "result" => outcome.label()).increment(1);
                tracing::info!(call = %self.call, handover = %number, result = outcome.label(), "handover over");
                // B did not get the call (denied, timed out, cancelled,
                // refused by the log, rolled back, or the call ended before
                // the swap): its leg has its final answer or its BYE, and
                // goes. B holding an end of the call stays (granted, or the
                // call ending ends it with the rest).
                let b_holds = b == self.caller_side || Some(b) == self.callee_side;
                if !b_holds {
                    self.finish_leg(b);
                }
                let _ = self.notices.send(crate::CallNotice::PullEnded {
                    call: self.call,
                    outcome,
                });
            }
        }
    }

    /// A decision from A's leg (a key or a JSON body), or a key from
    /// elsewhere, which is ignored.
    pub(crate) fn decide(
        &mut self,
        myself: &ActorRef<CallMsg>,
        from: LegIndex,
        decision: Decision,
    ) {
        let Some(p) = self.pull.as_mut() else {
            return;
        };
        if p.a != from || !p.machine.awaits_decision() {
            return;
        }
        let decision = match decision {
            Decision::GrantMonitor if !self.policy.monitor_allowed => Decision::Grant,
            d => d,
        };
        p.decided_by = self
            .records
            .get(&from)
            .map(|r| r.remote_target.clone())
            .unwrap_or_else(|| "original device".to_string());
        self.pull_input(myself, Input::Decided(decision));
    }

    /// The authorization window of attempt `number` closed.
    pub(crate) fn authorization_timeout(
        &mut self,
        myself: &ActorRef<CallMsg>,
        number: HandoverNumber,
    ) {
        let Some(p) = self.pull.as_mut() else {
            return;
        };
        if p.number != number {
            return;
        }
        p.decided_by = "baton (timeout)".to_string();
        self.pull_input(myself, Input::Timeout);
    }

    /// The log answered for attempt `number`.
    pub(crate) fn handover_committed(
        &mut self,
        myself: &ActorRef<CallMsg>,
        number: HandoverNumber,
        ok: bool,
    ) {
        if self.pull.as_ref().is_some_and(|p| p.number == number) {
            if !ok {
                metrics::counter!(m::HANDOVER_LOG_FAILURES).increment(1);
            }
            self.pull_input(myself, Input::Committed(ok));
        }
    }

    /// B's first packet reached R: how long after the grant, and what R
    /// missed.
    pub(crate) fn spliced(&mut self, first_new_at: Instant, gap: Duration, missed: u32) {
        if let Some(granted) = self.pull.as_ref().and_then(|p| p.granted_at) {
            let swap = first_new_at.saturating_duration_since(granted);
            metrics::histogram!(m::HANDOVER_SWAP_SECONDS).record(swap.as_secs_f64());
        }
        metrics::histogram!(m::HANDOVER_RTP_GAP_SECONDS).record(gap.as_secs_f64());
        metrics::counter!(m::HANDOVER_RTP_MISSED).increment(u64::from(missed));
    }

    /// A DTMF decision in an INFO from A while asked (`application/dtmf-relay`
    /// `Signal=1`, `application/dtmf` `1`), or a JSON decision. `true` if
    /// the INFO was consumed (answered here, never relayed).
    pub(crate) fn info_decision(
        &mut self,
        myself: &ActorRef<CallMsg>,
        from: LegIndex,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<u16> {
        let ct = content_type?.trim().to_ascii_lowercase();
        let p = self.pull.as_ref();
        if ct.starts_with(HANDOVER_JSON) {
            // Baton's own content type never crosses to the other side:
            // whatever it holds is answered here.
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Some(400);
            };
            let decision = value
                .get("decision")
                .and_then(|v| v.as_str())
                .and_then(Decision::from_json);
            let Some(decision) = decision else {
                return Some(400);
            };
            let id = value
                .get("handover")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            // Only the asked device's dialog holds an attempt to decide;
            // anywhere else there is nothing to decide (481).
            let Some(p) = p.filter(|p| p.a == from) else {
                return Some(481);
            };
            let verdict = json_verdict(&p.token, id, p.machine.awaits_decision());
            let number = p.number;
            match verdict {
                JsonVerdict::Decide => self.decide(myself, from, decision),
                JsonVerdict::Stale => {}
                JsonVerdict::Forged => {
                    metrics::counter!(m::HANDOVER_FORGED_DECISIONS).increment(1);
                    tracing::warn!(
                        target: "security",
                        call = %self.call,
                        handover = %number,
                        leg = from.0,
                        "a JSON decision naming an attempt id that was never sent: refused"
                    );
                }
            }
            return Some(verdict.status());
        }
        let asked = p.is_some_and(|p| p.a == from && p.machine.awaits_decision());
        if !asked {
            return None;
        }
        let key = dtmf_key(&ct, body)?;
        let decision = Decision::from_key(key)?;
        self.decide(myself, from, decision);
        Some(200)
    }

    /// The end of a call reaches a pending attempt.
    pub(crate) fn pull_call_ended(&mut self, myself: &ActorRef<CallMsg>) {
        if self.pull.as_ref().is_some_and(|p| p.machine.is_pending()) {
            self.pull_input(myself, Input::CallEnded);
        }
    }

    /// A leg leaves the call for good (a listener replaced, A after BYE).
    fn retire(&mut self, leg: LegIndex) {
        let _ = self.media.cast(MediaMsg::StopMonitor(leg));
        if let Some(l) = self.legs.get(&leg) {
            let _ = l.cast(LegMsg::ByeWithReason(COMPLETED_ELSEWHERE));
        }
        self.retired.insert(leg);
        self.finish_leg(leg);
    }

    /// Dialog-event subscribers see A's dialog replaced and B's appear.
    fn announce_swap(&mut self, a: LegIndex, b: LegIndex) {
        self.announce(a, DialogPhase::Terminated { replaced: true });
        let Some(record) = self.pull.as_ref().and_then(|p| p.b_record.as_ref()) else {
            return;
        };
        let ids = crate::call::DialogIds::of(record);
        let (user, remote) = self.user_of_side(a);
        self.records.insert(b, ids);
        self.leg_users.insert(b, (user, true, remote));
        self.announce(b, DialogPhase::Confirmed);
    }
}

/// What a JSON decision from the asked device's dialog gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonVerdict {
    /// The current attempt's id, still awaiting a decision: `200`.
    Decide,
    /// The current attempt's id, but it is decided or over: `481`.
    Stale,
    /// Any other id (a guess, a log number, an old attempt's): `403`.
    Forged,
}

impl JsonVerdict {
    fn status(self) -> u16 {
        match self {
            JsonVerdict::Decide => 200,
            JsonVerdict::Stale => 481,
            JsonVerdict::Forged => 403,
        }
    }
}

/// Checks the id of a JSON decision against the attempt's token, in
/// constant time.
fn json_verdict(token: &str, id: &str, awaiting: bool) -> JsonVerdict {
    if !crate::flow_guard::token_matches(token, id) {
        JsonVerdict::Forged
    } else if awaiting {
        JsonVerdict::Decide
    } else {
        JsonVerdict::Stale
    }
}

/// The key a DTMF INFO carries: `Signal=1` (`application/dtmf-relay`) or
/// the bare digit (`application/dtmf`).
fn dtmf_key(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    if content_type.starts_with("application/dtmf-relay") {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
            .and_then(|(_, v)| v.trim().chars().next())
    } else if content_type.starts_with("application/dtmf") {
        text.trim().chars().next()
    } else {
        None
    }
}

/// Two Contact URIs name the same device (parameters and case of the
/// scheme and host aside).
fn same_contact(a: &str, b: &str) -> bool {
    let core = |s: &str| {
        let s = s.trim().trim_start_matches('<');
        let s = s.split(['>', ';']).next().unwrap_or_default();
        s.to_ascii_lowercase()
    };
    !a.is_empty() && core(a) == core(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_bodies_give_their_key() {
        assert_eq!(
            dtmf_key("application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n"),
            Some('1')
        );
        assert_eq!(
            dtmf_key("application/dtmf-relay", b"Signal= 3\r\n"),
            Some('3')
        );
        assert_eq!(dtmf_key("application/dtmf", b"2\r\n"), Some('2'));
        assert_eq!(dtmf_key("text/plain", b"1"), None);
        assert_eq!(dtmf_key("application/dtmf-relay", b"Duration=160"), None);
    }

    #[test]
    fn json_ids_decide_only_when_they_are_the_token() {
        let token = crate::flow_guard::attempt_token();
        assert_eq!(json_verdict(&token, &token, true), JsonVerdict::Decide);
        assert_eq!(json_verdict(&token, &token, false), JsonVerdict::Stale);
        assert_eq!(json_verdict(&token, "h1", true), JsonVerdict::Forged);
        assert_eq!(json_verdict(&token, "", true), JsonVerdict::Forged);
        let upper = token.to_ascii_uppercase();
        if upper != token {
            assert_eq!(json_verdict(&token, &upper, true), JsonVerdict::Forged);
        }
        assert_eq!(JsonVerdict::Forged.status(), 403);
        assert_eq!(JsonVerdict::Stale.status(), 481);
    }

    #[test]
    fn contacts_compare_by_address() {
        assert!(same_contact(
            "<sip:a@127.0.0.1:5070>",
            "sip:a@127.0.0.1:5070;ob"
        ));
        assert!(!same_contact(
            "sip:a@127.0.0.1:5070",
            "sip:a@127.0.0.1:5071"
        ));
        assert!(!same_contact("", ""));
    }
}
