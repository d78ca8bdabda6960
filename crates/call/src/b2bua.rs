//! The B2BUA's decisions for one call, as a pure state machine: events on
//! the legs in, commands to the legs out. No runtime, no I/O, no clock: the
//! `CallActor` feeds it and carries out what it says, and it is tested
//! without either.
//!
//! Leg A is the caller's dialog (Baton is its UAS); the forks are Baton's
//! INVITEs to each registered contact of the callee (Baton is their UAC).
//! The first fork to answer wins (RFC 3261 §16.7 shape, as a B2BUA): the
//! others are cancelled, and a late 2xx is acknowledged and hung up.

/// A fork: one contact of the callee, in the order they were tried.
pub type ForkId = usize;

/// What happened on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A fork answered with a provisional response (with or without SDP).
    ForkProvisional {
        /// The fork.
        fork: ForkId,
        /// 180, 183 …
        code: u16,
    },
    /// A fork answered 2xx.
    ForkAnswered {
        /// The fork.
        fork: ForkId,
    },
    /// A fork failed with a final non-2xx (or a timeout, as 408).
    ForkFailed {
        /// The fork.
        fork: ForkId,
        /// The status.
        code: u16,
    },
    /// The answered fork's side hung up (BYE from the callee).
    ForkBye {
        /// The fork.
        fork: ForkId,
    },
    /// The caller cancelled before the call was answered.
    CallerCancel,
    /// The caller hung up (BYE on leg A).
    CallerBye,
    /// Nobody answered in time.
    NoAnswerTimeout,
    /// Leg A's 2xx was never acknowledged (RFC 3261 §13.3.1.4).
    CallerAckTimeout,
    /// The node is stopping: end the call on both sides.
    Shutdown,
    /// A leg's session timer ran out (RFC 4028 §10): the session is dead.
    SessionExpired,
}

/// What the legs must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Send the INVITE of this fork.
    Invite(ForkId),
    /// Answer leg A with this status; SDP, if any, comes from `from_fork`.
    RespondCaller {
        /// Status to send.
        code: u16,
        /// The fork whose response is relayed (its SDP, rewritten).
        from_fork: Option<ForkId>,
    },
    /// CANCEL this fork's INVITE.
    Cancel(ForkId),
    /// Acknowledge and immediately hang up a fork that answered too late.
    AckAndBye(ForkId),
    /// Hang up the answered fork (BYE).
    ByeFork(ForkId),
    /// Hang up the caller (BYE on leg A).
    ByeCaller,
    /// Bridge media between leg A and this fork.
    ConnectMedia(ForkId),
    /// The call is over: release everything.
    End(CallResult),
}

/// How a call ended, for `baton_calls_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Answered and later hung up.
    Answered,
    /// Busy (486, 600).
    Busy,
    /// Declined or refused by the callee (603, other 4xx).
    Rejected,
    /// Nobody answered in time (408).
    NoAnswer,
    /// The caller gave up before an answer.
    Cancelled,
    /// A server or network failure on the callee's side.
    Failed,
}

impl CallResult {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::Busy => "busy",
            CallResult::Rejected => "rejected",
            CallResult::NoAnswer => "no_answer",
            CallResult::Cancelled => "cancelled",
            CallResult::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForkState {
    Trying,
    Early,
    Answered,
    Failed(u16),
    Cancelling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No final response sent to the caller yet.
    Setup,
    /// Answered: media flows.
    Confirmed(ForkId),
    /// The caller got a final failure, or someone hung up.
    Ended,
}

/// One call's decisions.
#[derive(Debug, Clone)]
pub struct B2bua {
    forks: Vec<ForkState>,
    phase: Phase,
    ringing_sent: bool,
}

impl B2bua {
    /// A call to `forks` contacts; the commands start them all (parallel
    /// forking). With no contact the caller gets `480` at once.
    pub fn start(forks: usize) -> (B2bua, Vec<Command>) {
        let mut call = B2bua {
            forks: vec![ForkState::Trying; forks],
            phase: Phase::Setup,
            ringing_sent: false,
        };
        if forks == 0 {
            call.phase = Phase::Ended;
            return (
                call,
                vec![
                    Command::RespondCaller {
                        code: 480,
                        from_fork: None,
                    },
                    Command::End(CallResult::Failed),
                ],
            );
        }
        let commands = (0..forks).map(Command::Invite).collect();
        (call, commands)
    }

    /// True once the call has ended.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The fork that answered, once confirmed.
    pub fn answered_fork(&self) -> Option<ForkId> {
        match self.phase {
            Phase::Confirmed(f) => Some(f),
            _ => None,
        }
    }

    /// Feeds one event; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        match (self.phase, input) {
            (Phase::Setup, Input::ForkProvisional { fork, code }) => {
                if let Some(state @ ForkState::Trying) = self.forks.get_mut(fork) {
                    *state = ForkState::Early;
                }
                // Relay the first ringing (and any session progress with SDP,
                // which the caller needs for early media).
                if code == 183 || !self.ringing_sent {
                    self.ringing_sent |= code == 180;
                    out.push(Command::RespondCaller {
                        code,
                        from_fork: Some(fork),
                    });
                }
            }
            (Phase::Setup, Input::ForkAnswered { fork }) if fork < self.forks.len() => {
                self.forks[fork] = ForkState::Answered;
                self.phase = Phase::Confirmed(fork);
                out.push(Command::ConnectMedia(fork));
                out.push(Command::RespondCaller {
                    code: 200,
                    from_fork: Some(fork),
                });
                for (other, state) in self.forks.iter_mut().enumerate() {
                    if other != fork && matches!(state, ForkState::Trying | ForkState::Early) {
                        *state = ForkState::Cancelling;
                        out.push(Command::Cancel(other));
                    }
                }
            }
            (Phase::Setup, Input::ForkFailed { fork, code }) if fork < self.forks.len() => {
                self.forks[fork] = ForkState::Failed(code);
                if self.forks.iter().all(|s| matches!(s, ForkState::Failed(_))) {
                    let code = best_failure(&self.forks);
                    self.phase = Phase::Ended;
                    out.push(Command::RespondCaller {
                        code: caller_status(code),
                        from_fork: None,
                    });
                    out.push(Command::End(result_of(code)));
                }
            }
            (Phase::Setup, Input::CallerCancel) => {
                self.cancel_all(&mut out);
                self.phase = Phase::Ended;
                out.push(Command::RespondCaller {
                    code: 487,
                    from_fork: None,
                });
                out.push(Command::End(CallResult::Cancelled));
            }
            (Phase::Setup, Input::Shutdown) => {
                self.cancel_all(&mut out);
                self.phase = Phase::Ended;
                out.push(Command::RespondCaller {
                    code: 503,
                    from_fork: None,
                });
                out.push(Command::End(CallResult::Failed));
            }
            (Phase::Confirmed(answered), Input::Shutdown) => {
                self.phase = Phase::Ended;
                out.push(Command::ByeFork(answered));
                out.push(Command::ByeCaller);
                out.push(Command::End(CallResult::Answered));
            }
            (Phase::Setup, Input::NoAnswerTimeout) => {
                self.cancel_all(&mut out);
                self.phase = Phase::Ended;
                out.push(Command::RespondCaller {
                    code: 408,
                    from_fork: None,
                });
                out.push(Command::End(CallResult::NoAnswer));
            }
            // A second answer (forking race) or an answer after the caller
            // gave up: the fork's dialog must still be acknowledged, then ended.
            (Phase::Confirmed(_) | Phase::Ended, Input::ForkAnswered { fork }) => {
                if let Some(state) = self.forks.get_mut(fork) {
                    *state = ForkState::Answered;
                }
                out.push(Command::AckAndBye(fork));
            }
            (Phase::Confirmed(answered), Input::CallerBye) => {
                self.phase = Phase::Ended;
                out.push(Command::ByeFork(answered));
                out.push(Command::End(CallResult::Answered));
            }
            (Phase::Confirmed(answered), Input::ForkBye { fork }) if fork == answered => {
                self.phase = Phase::Ended;
                out.push(Command::ByeCaller);
                out.push(Command::End(CallResult::Answered));
            }
            (Phase::Confirmed(answered), Input::CallerAckTimeout | Input::SessionExpired) => {
                self.phase = Phase::Ended;
                out.push(Command::ByeFork(answered));
                out.push(Command::ByeCaller);
                out.push(Command::End(CallResult::Failed));
            }
            // Everything else is late or redundant: provisional responses
            // after the answer, failures of cancelled forks, a CANCEL that
            // crossed the 200, a second BYE.
            _ => {}
        }
        out
    }

    fn cancel_all(&mut self, out: &mut Vec<Command>) {
        for (fork, state) in self.forks.iter_mut().enumerate() {
            if matches!(state, ForkState::Trying | ForkState::Early) {
                *state = ForkState::Cancelling;
                out.push(Command::Cancel(fork));
            }
        }
    }
}

/// RFC 3261 §16.7 step 6, as a B2BUA: any 6xx wins; else a 4xx, preferring
/// the ones that tell the caller most (486 busy, 480, 404); else 5xx.
fn best_failure(forks: &[ForkState]) -> u16 {
    let codes: Vec<u16> = forks
        .iter()
        .filter_map(|s| match s {
            ForkState::Failed(c) => Some(*c),
            _ => None,
        })
        .collect();
    if let Some(c) = codes.iter().find(|c| (600..700).contains(*c)) {
        return *c;
    }
    for preferred in [486, 480, 404] {
        if codes.contains(&preferred) {
            return preferred;
        }
    }
    codes
        .iter()
        .copied()
        .filter(|c| (400..500).contains(c))
        .min()
        .or_else(|| codes.iter().copied().min())
        .unwrap_or(480)
}

/// A 503 from a callee means "that phone's server is unwell", not "Baton
/// is": RFC 3261 §16.7 step 6 turns it into 500 for the caller.
fn caller_status(code: u16) -> u16 {
    if code == 503 {
        500
    } else {
        code
    }
}

fn result_of(code: u16) -> CallResult {
    match code {
        486 | 600 => CallResult::Busy,
        408 => CallResult::NoAnswer,
        487 => CallResult::Cancelled,
        400..=499 | 603 | 604 | 606 => CallResult::Rejected,
        _ => CallResult::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;

    #[test]
    fn no_contact_is_480_at_once() {
        let (call, out) = B2bua::start(0);
        assert_eq!(
            out,
            vec![
                RespondCaller {
                    code: 480,
                    from_fork: None
                },
                End(CallResult::Failed)
            ]
        );
        assert!(call.is_ended());
    }

    #[test]
    fn ring_answer_hangup_by_caller() {
        let (mut call, out) = B2bua::start(1);
        assert_eq!(out, vec![Invite(0)]);
        assert_eq!(
            call.handle(Input::ForkProvisional { fork: 0, code: 180 }),
            vec![RespondCaller {
                code: 180,
                from_fork: Some(0)
            }]
        );
        // A second 180 is not relayed again.
        assert_eq!(
            call.handle(Input::ForkProvisional { fork: 0, code: 180 }),
            vec![]
        );
        assert_eq!(
            call.handle(Input::ForkAnswered { fork: 0 }),
            vec![
                ConnectMedia(0),
                RespondCaller {
                    code: 200,
                    from_fork: Some(0)
                }
            ]
        );
        assert_eq!(call.answered_fork(), Some(0));
        // A late 180 after the 200 is tolerated and ignored.
        assert_eq!(
            call.handle(Input::ForkProvisional { fork: 0, code: 180 }),
            vec![]
        );
        assert_eq!(
            call.handle(Input::CallerBye),
            vec![ByeFork(0), End(CallResult::Answered)]
        );
        assert!(call.is_ended());
    }

    #[test]
    fn bye_from_the_callee_hangs_up_the_caller() {
        let (mut call, _) = B2bua::start(1);
        call.handle(Input::ForkAnswered { fork: 0 });
        assert_eq!(
            call.handle(Input::ForkBye { fork: 0 }),
            vec![ByeCaller, End(CallResult::Answered)]
        );
        assert_eq!(
            call.handle(Input::CallerBye),
            vec![],
            "a crossing BYE is ignored"
        );
    }

    #[test]
    fn parallel_fork_first_answer_wins_and_the_loser_is_cancelled() {
        let (mut call, out) = B2bua::start(2);
        assert_eq!(out, vec![Invite(0), Invite(1)]);
        call.handle(Input::ForkProvisional { fork: 0, code: 180 });
        call.handle(Input::ForkProvisional { fork: 1, code: 180 });
        assert_eq!(
            call.handle(Input::ForkAnswered { fork: 1 }),
            vec![
                ConnectMedia(1),
                RespondCaller {
                    code: 200,
                    from_fork: Some(1)
                },
                Cancel(0)
            ]
        );
        // The loser's 487 is absorbed; a loser's late 200 is acked and hung up.
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 0, code: 487 }),
            vec![]
        );
        assert_eq!(
            call.handle(Input::ForkAnswered { fork: 0 }),
            vec![AckAndBye(0)]
        );
    }

    #[test]
    fn all_forks_failing_gives_the_best_failure() {
        let (mut call, _) = B2bua::start(3);
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 0, code: 404 }),
            vec![]
        );
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 1, code: 486 }),
            vec![]
        );
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 2, code: 500 }),
            vec![
                RespondCaller {
                    code: 486,
                    from_fork: None
                },
                End(CallResult::Busy)
            ]
        );
        let (mut call, _) = B2bua::start(2);
        call.handle(Input::ForkFailed { fork: 0, code: 486 });
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 1, code: 603 }),
            vec![
                RespondCaller {
                    code: 603,
                    from_fork: None
                },
                End(CallResult::Rejected)
            ]
        );
        let (mut call, _) = B2bua::start(1);
        assert_eq!(
            call.handle(Input::ForkFailed { fork: 0, code: 503 }),
            vec![
                RespondCaller {
                    code: 500,
                    from_fork: None
                },
                End(CallResult::Failed)
            ]
        );
    }

    #[test]
    fn cancel_from_the_caller_cancels_every_fork() {
        let (mut call, _) = B2bua::start(2);
        call.handle(Input::ForkProvisional { fork: 0, code: 180 });
        assert_eq!(
            call.handle(Input::CallerCancel),
            vec![
                Cancel(0),
                Cancel(1),
                RespondCaller {
                    code: 487,
                    from_fork: None
                },
                End(CallResult::Cancelled)
            ]
        );
        // The 200 that crossed the CANCEL: acknowledged and hung up.
        assert_eq!(
            call.handle(Input::ForkAnswered { fork: 1 }),
            vec![AckAndBye(1)]
        );
    }

    #[test]
    fn no_answer_timeout() {
        let (mut call, _) = B2bua::start(1);
        assert_eq!(
            call.handle(Input::NoAnswerTimeout),
            vec![
                Cancel(0),
                RespondCaller {
                    code: 408,
                    from_fork: None
                },
                End(CallResult::NoAnswer)
            ]
        );
    }

    #[test]
    fn early_media_183_is_relayed_every_time() {
        let (mut call, _) = B2bua::start(1);
        assert_eq!(
            call.handle(Input::ForkProvisional { fork: 0, code: 183 })
                .len(),
            1
        );
        assert_eq!(
            call.handle(Input::ForkProvisional { fork: 0, code: 183 })
                .len(),
            1
        );
    }

    #[test]
    fn shutdown_ends_calls_in_every_phase() {
        let (mut ringing, _) = B2bua::start(1);
        ringing.handle(Input::ForkProvisional { fork: 0, code: 180 });
        assert_eq!(
            ringing.handle(Input::Shutdown),
            vec![
                Cancel(0),
                RespondCaller {
                    code: 503,
                    from_fork: None
                },
                End(CallResult::Failed)
            ]
        );
        let (mut up, _) = B2bua::start(1);
        up.handle(Input::ForkAnswered { fork: 0 });
        assert_eq!(
            up.handle(Input::Shutdown),
            vec![ByeFork(0), ByeCaller, End(CallResult::Answered)]
        );
    }

    #[test]
    fn a_missing_ack_ends_the_call_on_both_sides() {
        let (mut call, _) = B2bua::start(1);
        call.handle(Input::ForkAnswered { fork: 0 });
        assert_eq!(
            call.handle(Input::CallerAckTimeout),
            vec![ByeFork(0), ByeCaller, End(CallResult::Failed)]
        );
    }
}
