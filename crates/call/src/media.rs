//! The `MediaBridge` actor of a call: owns the call's relay legs (one port
//! pair per SIP leg) and the bridge between two of them. RTP never passes
//! through it: it only opens, points and closes the relay's fast path, and
//! watches for silence.

use crate::ids::LegIndex;
use crate::CallMsg;
use media_relay::{BridgeHandle, LegHandle, Relay, RelayError};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages of the media bridge.
#[derive(Debug)]
pub enum MediaMsg {
    /// Open a relay port pair for a SIP leg; replies with its RTP address.
    Open {
        /// The SIP leg.
        leg: LegIndex,
        /// Where the peer said it receives (its SDP), if known.
        expected: Option<SocketAddr>,
        /// The relay address, or why there is none.
        reply: RpcReplyPort<Result<SocketAddr, RelayError>>,
    },
    /// The peer's SDP names where it receives media.
    SetRemote {
        /// The SIP leg.
        leg: LegIndex,
        /// The address from its SDP.
        remote: Option<SocketAddr>,
    },
    /// Forward media between these legs.
    Connect {
        /// The caller's leg.
        a: LegIndex,
        /// The answered fork.
        b: LegIndex,
    },
    /// Release a leg's ports (a fork that lost).
    Release(LegIndex),
    /// Check for dead media.
    CheckIdle,
    /// The handover swap: the bridge end `old` moves to `new`; R's stream
    /// continues (see `BridgeHandle::repoint`). The splice is reported to
    /// the call as `CallMsg::Spliced` once B's first packet reached R.
    Repoint {
        /// The leg leaving the bridge.
        old: LegIndex,
        /// The leg taking its place.
        new: LegIndex,
    },
    /// Ask a leg's device for a decision: a prompt tone in its audio, and
    /// its keys 1, 2 and 3 (RFC 4733) consumed and reported to the call.
    Authorize {
        /// The device's leg.
        leg: LegIndex,
        /// The device's `telephone-event` payload type, if it has one.
        telephone_event: Option<u8>,
        /// How long the prompt plays.
        prompt: Duration,
    },
    /// The question is over: prompt and key watch off.
    Withdraw(LegIndex),
    /// The question is answered with a grant: the prompt stops, but the
    /// decision keys stay consumed while the call moves away from this
    /// leg (a phone may send a key press as more than one event, and
    /// under load the swap takes a commit; R must never hear them).
    StopPrompt(LegIndex),
    /// This leg (out of the bridge) hears the mix of the bridge's two ends.
    Monitor(LegIndex),
    /// This leg stops listening.
    StopMonitor(LegIndex),
    /// Look for the last re-point's splice (retried a few times).
    CheckSplice {
        /// Retries left.
        left: u8,
    },
}

/// Start-up arguments.
#[derive(Debug)]
pub struct MediaArgs {
    /// The relay.
    pub relay: Arc<Relay>,
    /// The call to tell about dead media.
    pub call_ref: ActorRef<CallMsg>,
    /// Media silent for this long on a bridged call ends it.
    pub inactivity: Duration,
    /// Accept media only from the address the peer's SDP names (else:
    /// latch onto the first source, for phones behind NAT).
    pub strict: bool,
}

/// The media bridge actor.
#[derive(Debug, Default)]
pub struct MediaBridgeActor;

/// Its state.
#[derive(Debug)]
pub struct MediaState {
    relay: Arc<Relay>,
    call_ref: ActorRef<CallMsg>,
    inactivity: Duration,
    strict: bool,
    legs: HashMap<LegIndex, LegHandle>,
    bridge: Option<(BridgeHandle, LegIndex, LegIndex)>,
}

impl Actor for MediaBridgeActor {
    type Msg = MediaMsg;
    type State = MediaState;
    type Arguments = MediaArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<MediaMsg>,
        args: MediaArgs,
    ) -> Result<MediaState, ActorProcessingErr> {
        Ok(MediaState {
            relay: args.relay,
            call_ref: args.call_ref,
            inactivity: args.inactivity,
            strict: args.strict,
            legs: HashMap::new(),
            bridge: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<MediaMsg>,
        msg: MediaMsg,
        state: &mut MediaState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MediaMsg::Open {
                leg,
                expected,
                reply,
            } => {
                let opened = state.relay.open_leg(expected, state.strict).map(|h| {
                    let addr = h.local_rtp();
                    state.legs.insert(leg, h);
                    addr
                });
                let _ = reply.send(opened);
            }
            MediaMsg::SetRemote { leg, remote } => {
                if let Some(h) = state.legs.get(&leg) {
                    h.set_remote(remote);
                }
            }
            MediaMsg::Connect { a, b } => {
                if let (Some(ha), Some(hb)) = (state.legs.get(&a), state.legs.get(&b)) {
                    match state.relay.connect(ha, hb) {
                        Ok(bridge) => {
                            state.bridge = Some((bridge, a, b));
                            myself.send_interval(Duration::from_secs(5), || MediaMsg::CheckIdle);
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot bridge the call's media"),
                    }
                }
                // Forks that lost keep no ports.
                let losers: Vec<LegIndex> = state
                    .legs
                    .keys()
                    .copied()
                    .filter(|l| *l != a && *l != b)
                    .collect();
                for l in losers {
                    if let Some(h) = state.legs.remove(&l) {
                        h.close();
                    }
                }
            }
            MediaMsg::Release(leg) => {
                if let Some(h) = state.legs.remove(&leg) {
                    h.close();
                }
            }
            MediaMsg::Repoint { old, new } => state.repoint(&myself, old, new),
            MediaMsg::Authorize {
                leg,
                telephone_event,
                prompt,
            } => {
                if let Some(h) = state.legs.get(&leg) {
                    h.play_prompt(prompt);
                    if let Some(pt) = telephone_event {
                        let call = state.call_ref.clone();
                        let sink: media_relay::KeySink = Arc::new(move |key| {
                            let _ = call.cast(CallMsg::Key { leg, key });
                        });
                        h.watch_keys(pt, &DECISION_KEYS, sink);
                    }
                }
            }
            MediaMsg::Withdraw(leg) => {
                if let Some(h) = state.legs.get(&leg) {
                    h.stop_prompt();
                    h.unwatch_keys();
                }
            }
            MediaMsg::StopPrompt(leg) => {
                if let Some(h) = state.legs.get(&leg) {
                    h.stop_prompt();
                }
            }
            MediaMsg::Monitor(leg) => {
                if let (Some((bridge, _, _)), Some(h)) = (&state.bridge, state.legs.get(&leg)) {
                    if let Err(e) = state.relay.monitor(bridge, h) {
                        tracing::warn!(error = %e, "cannot let the original device listen");
                    }
                }
            }
            MediaMsg::StopMonitor(leg) => {
                if let Some(h) = state.legs.get(&leg) {
                    h.stop_monitor();
                }
            }
            MediaMsg::CheckSplice { left } => {
                let splice = state.bridge.as_ref().and_then(|(b, _, _)| b.last_splice());
                match splice {
                    Some(s) => {
                        let _ = state.call_ref.cast(CallMsg::Spliced {
                            first_new_at: s.first_new_at,
                            gap: s.gap,
                            missed: s.missed_packets,
                        });
                    }
                    None if left > 0 => {
                        myself.send_after(SPLICE_POLL, move || MediaMsg::CheckSplice {
                            left: left - 1,
                        });
                    }
                    None => {}
                }
            }
            MediaMsg::CheckIdle => {
                if let Some((_, a, b)) = &state.bridge {
                    let now = Instant::now();
                    let idle = [a, b]
                        .iter()
                        .filter_map(|l| state.legs.get(l))
                        .map(|h| h.idle_for(now))
                        .min()
                        .unwrap_or_default();
                    if idle >= state.inactivity {
                        let _ = state.call_ref.cast(CallMsg::MediaTimeout);
                    }
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<MediaMsg>,
        state: &mut MediaState,
    ) -> Result<(), ActorProcessingErr> {
        // Every way a call ends passes here: the ports go back to the pool.
        if let Some((bridge, _, _)) = state.bridge.take() {
            bridge.disconnect();
        }
        for (_, h) in state.legs.drain() {
            h.close();
        }
        Ok(())
    }
}

/// RFC 4733 event codes of the decision keys (1 grant, 2 deny, 3 grant
/// and monitor), consumed while a handover waits for the device.
const DECISION_KEYS: [u8; 3] = [1, 2, 3];

/// How often the splice of a re-point is looked for (B's first packet).
const SPLICE_POLL: Duration = Duration::from_millis(10);

impl MediaState {
    fn repoint(&mut self, myself: &ActorRef<MediaMsg>, old: LegIndex, new: LegIndex) {
        let Some((bridge, a, b)) = self.bridge.as_mut() else {
            tracing::warn!("a re-point without a bridge");
            return;
        };
        let (Some(ho), Some(hn)) = (self.legs.get(&old), self.legs.get(&new)) else {
            return;
        };
        match bridge.repoint(ho, hn) {
            Ok(()) => {
                if *a == old {
                    *a = new;
                } else if *b == old {
                    *b = new;
                }
                // 5 s of polls: B's first packet may take a while to come.
                myself.send_after(SPLICE_POLL, || MediaMsg::CheckSplice { left: 250 });
            }
            Err(e) => tracing::warn!(error = %e, "the handover re-point failed"),
        }
    }
}
