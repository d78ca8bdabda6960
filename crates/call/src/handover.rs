//! One handover attempt as a pure state machine: events in, actions out.
//! No runtime, no I/O, no clock: the `CallActor` feeds it (including the
//! log's commit notices and the authorization timer) and carries out what
//! it says.
//!
//! ```text
//!  Requested ──committed──▶ Accepted ──decision/timeout──▶ Deciding
//!      │                      │                               │ committed
//!      │                      │                   grant ──────┼────── deny / timeout
//!      ▼                      ▼                     ▼                     ▼
//!    Done ◀── cancel / call ended ──────────── Swapping ──ACK──▶ Committing ──▶ Done
//!                                                 │ B fails
//!                                                 ▼
//!                                          rolled back (Done)
//! ```
//!
//! Every step that must survive a node failure is logged first and acted
//! on only once its commit is reported ([`Input::Committed`]): the request
//! (before `180` and the authorization request), the decision (before the
//! swap or the `603`/`408`), the swap (before A's `BYE`).

use crate::log::{HandoverAbandon, HandoverVerdict};

/// A decision of the original device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Key 1: move the call; A is hung up.
    Grant,
    /// Key 3: move the call; A keeps listening.
    GrantMonitor,
    /// Key 2: keep the call on A.
    Deny,
}

impl Decision {
    /// The decision a DTMF key stands for (RFC 4733 event code or digit).
    pub fn from_key(key: char) -> Option<Decision> {
        match key {
            '1' => Some(Decision::Grant),
            '2' => Some(Decision::Deny),
            '3' => Some(Decision::GrantMonitor),
            _ => None,
        }
    }

    /// The decision a JSON `decision` value stands for.
    pub fn from_json(value: &str) -> Option<Decision> {
        match value {
            "grant" => Some(Decision::Grant),
            "grant-monitor" => Some(Decision::GrantMonitor),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }

    fn verdict(self) -> HandoverVerdict {
        match self {
            Decision::Grant => HandoverVerdict::Granted,
            Decision::GrantMonitor => HandoverVerdict::GrantedMonitor,
            Decision::Deny => HandoverVerdict::Denied,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The last command logged was committed (`true`) or never will be.
    Committed(bool),
    /// The original device decided (the caller checked it came from A).
    Decided(Decision),
    /// The authorization window closed.
    Timeout,
    /// B sent CANCEL (its leg answered `487` already).
    Cancelled,
    /// The call ended (A or R hung up, or the node stops).
    CallEnded,
    /// B's ACK for the `200` arrived.
    Acked,
    /// B's leg failed before its ACK (no ACK, BYE, transport error).
    Failed,
}

/// What the call must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Log `HandoverRequested`; report the commit.
    LogRequested,
    /// Log `HandoverDecided`; report the commit.
    LogDecided(HandoverVerdict),
    /// Log `BridgeSwapped`; report the commit.
    LogSwapped,
    /// Log that the attempt ended without a swap.
    LogAbandoned(HandoverAbandon),
    /// Answer B's INVITE with this status (`180`, `603`, `408`, `481`,
    /// `500`); `200` is [`Action::AnswerB`].
    RespondB(u16),
    /// Ask A: the INFO with the JSON body, the prompt tone, the key watch;
    /// start the authorization timer.
    Authorize,
    /// Take the question back from A (prompt and key watch off).
    Withdraw,
    /// Re-point the bridge from A's leg to B's.
    Swap,
    /// Answer B `200` with Baton's SDP.
    AnswerB,
    /// Re-point the bridge back to A and hang B up.
    RollBack,
    /// Hang A up with `Reason: SIP;cause=200;text="Call completed elsewhere"`.
    ByeA,
    /// Keep A on the call as a listener of the mix.
    MonitorA,
    /// The attempt is over; count it under this result.
    Finished(Outcome),
}

/// How an attempt ended, for `baton_handovers_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Granted and swapped; A hung up.
    Granted,
    /// Granted and swapped; A listens.
    GrantedMonitor,
    /// A said no.
    Denied,
    /// A did not answer in time.
    Timeout,
    /// B cancelled.
    Cancelled,
    /// The call ended while the attempt was pending.
    CallEnded,
    /// B's leg failed before its ACK: the call stayed with A.
    RolledBack,
    /// The log could not record a step: nothing moved.
    Failed,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::GrantedMonitor => "granted_monitor",
            Outcome::Denied => "denied",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::CallEnded => "call_ended",
            Outcome::RolledBack => "rolled_back",
            Outcome::Failed => "failed",
        }
    }
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Logged, waiting for the commit.
    Requested,
    /// `180` sent, A asked, waiting for A.
    Accepted,
    /// A decided (or the window closed); waiting for the commit.
    Deciding(HandoverVerdict),
    /// Granted: the bridge carries B, `200` sent, waiting for B's ACK.
    Swapping {
        /// A keeps listening.
        monitor: bool,
    },
    /// B's ACK is in; the swap is being logged.
    Committing {
        /// A keeps listening.
        monitor: bool,
    },
    /// Over.
    Done(Outcome),
}

/// One handover attempt.
#[derive(Debug, Clone)]
pub struct Handover {
    phase: Phase,
}

impl Handover {
    /// A request that passed the checks: log it first.
    pub fn start() -> (Handover, Vec<Action>) {
        (
            Handover {
                phase: Phase::Requested,
            },
            vec![Action::LogRequested],
        )
    }

    /// Where the attempt is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the attempt still holds the call (a second pull gets `486`).
    pub fn is_pending(&self) -> bool {
        !matches!(self.phase, Phase::Done(_))
    }

    /// Whether A is being asked (its keys 1, 2, 3 are decisions).
    pub fn awaits_decision(&self) -> bool {
        self.phase == Phase::Accepted
    }

    /// Whether the bridge carries B (R's requests wait: `491`).
    pub fn is_swapping(&self) -> bool {
        matches!(
            self.phase,
            Phase::Swapping { .. } | Phase::Committing { .. }
        )
    }

    /// Feeds one event; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        use Action as A;
        let (next, actions) = match (self.phase, input) {
            (Phase::Done(_), _) => return Vec::new(),

            (Phase::Requested, Input::Committed(true)) => {
                (Phase::Accepted, vec![A::RespondB(180), A::Authorize])
            }
            (Phase::Requested, Input::Committed(false)) => {
                let o = Outcome::Failed;
                (Phase::Done(o), vec![A::RespondB(500), A::Finished(o)])
            }
            (Phase::Requested, Input::Cancelled) => abandon(false, HandoverAbandon::Cancelled),
            (Phase::Requested, Input::CallEnded) => abandon(false, HandoverAbandon::CallEnded),

            (Phase::Accepted, Input::Decided(d)) => {
                let v = d.verdict();
                (Phase::Deciding(v), vec![A::Withdraw, A::LogDecided(v)])
            }
            (Phase::Accepted, Input::Timeout) => {
                let v = HandoverVerdict::TimedOut;
                (Phase::Deciding(v), vec![A::Withdraw, A::LogDecided(v)])
            }
            (Phase::Accepted, Input::Cancelled) => abandon(true, HandoverAbandon::Cancelled),
            (Phase::Accepted, Input::CallEnded) => abandon(true, HandoverAbandon::CallEnded),

            (Phase::Deciding(v), Input::Committed(true)) => match v {
                HandoverVerdict::Granted | HandoverVerdict::GrantedMonitor => (
                    Phase::Swapping {
                        monitor: v == HandoverVerdict::GrantedMonitor,
                    },
                    vec![A::Swap, A::AnswerB],
                ),
                HandoverVerdict::Denied => {
                    let o = Outcome::Denied;
                    (Phase::Done(o), vec![A::RespondB(603), A::Finished(o)])
                }
                HandoverVerdict::TimedOut => {
                    let o = Outcome::Timeout;
                    (Phase::Done(o), vec![A::RespondB(408), A::Finished(o)])
                }
            },
            (Phase::Deciding(_), Input::Committed(false)) => {
                // The decision is not durable: nothing may act on it, and A
                // keeps the call.
                let o = Outcome::Failed;
                (Phase::Done(o), vec![A::RespondB(500), A::Finished(o)])
            }
            (Phase::Deciding(_), Input::Cancelled) => abandon(false, HandoverAbandon::Cancelled),
            (Phase::Deciding(_), Input::CallEnded) => abandon(false, HandoverAbandon::CallEnded),

            (Phase::Swapping { monitor }, Input::Acked) => {
                (Phase::Committing { monitor }, vec![A::LogSwapped])
            }
            (Phase::Swapping { .. }, Input::Failed) => {
                let o = Outcome::RolledBack;
                (
                    Phase::Done(o),
                    vec![
                        A::RollBack,
                        A::LogAbandoned(HandoverAbandon::RolledBack),
                        A::Finished(o),
                    ],
                )
            }
            (Phase::Swapping { .. }, Input::CallEnded) => {
                let o = Outcome::CallEnded;
                (
                    Phase::Done(o),
                    vec![A::LogAbandoned(HandoverAbandon::CallEnded), A::Finished(o)],
                )
            }
            (Phase::Committing { monitor }, Input::Committed(committed)) => {
                if !committed {
                    // B has the call and its ACK is in: undoing would cut a
                    // working call. The caller counts the log failure.
                    tracing::warn!("a swap was not logged; the call stays with the new device");
                }
                let (o, a) = if monitor {
                    (Outcome::GrantedMonitor, A::MonitorA)
                } else {
                    (Outcome::Granted, A::ByeA)
                };
                (Phase::Done(o), vec![a, A::Finished(o)])
            }
            (Phase::Committing { .. }, Input::CallEnded) => {
                // The swap is logged already: it stands; the call ends.
                let o = Outcome::Granted;
                (Phase::Done(o), vec![A::Finished(o)])
            }
            // Everything else changes nothing: a late key, a timer of a
            // decided attempt, a commit notice for a step already left.
            (phase, _) => (phase, Vec::new()),
        };
        self.phase = next;
        actions
    }
}

/// Ends an attempt without a swap: B's `481` when the call ended (B's own
/// CANCEL was answered `487` by its leg), A's prompt withdrawn if A was
/// asked.
fn abandon(asked: bool, why: HandoverAbandon) -> (Phase, Vec<Action>) {
    let outcome = match why {
        HandoverAbandon::Cancelled => Outcome::Cancelled,
        HandoverAbandon::CallEnded => Outcome::CallEnded,
        HandoverAbandon::RolledBack => Outcome::RolledBack,
    };
    let mut actions = Vec::new();
    if asked {
        actions.push(Action::Withdraw);
    }
    if why == HandoverAbandon::CallEnded {
        actions.push(Action::RespondB(481));
    }
    actions.push(Action::LogAbandoned(why));
    actions.push(Action::Finished(outcome));
    (Phase::Done(outcome), actions)
}

#[cfg(test)]
#[path = "handover_tests.rs"]
mod tests;
