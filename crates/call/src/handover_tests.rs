use super::*;
use crate::log::{HandoverAbandon as Ab, HandoverVerdict as V};
use Action as A;

fn run(inputs: &[Input]) -> (Handover, Vec<Action>) {
    let (mut h, mut all) = Handover::start();
    for i in inputs {
        all.extend(h.handle(*i));
    }
    (h, all)
}

const ALL_INPUTS: [Input; 10] = [
    Input::Committed(true),
    Input::Committed(false),
    Input::Decided(Decision::Grant),
    Input::Decided(Decision::GrantMonitor),
    Input::Decided(Decision::Deny),
    Input::Timeout,
    Input::Cancelled,
    Input::CallEnded,
    Input::Acked,
    Input::Failed,
];

#[test]
fn nothing_reaches_b_or_a_before_the_request_is_committed() {
    let (h, actions) = Handover::start();
    assert_eq!(actions, vec![A::LogRequested]);
    assert_eq!(h.phase(), Phase::Requested);
    for input in ALL_INPUTS {
        if input == Input::Committed(true) {
            continue;
        }
        let mut h = h.clone();
        let out = h.handle(input);
        assert!(
            !out.contains(&A::RespondB(180)) && !out.contains(&A::Authorize),
            "{input:?} → {out:?}"
        );
    }
}

#[test]
fn grant_swaps_answers_b_then_logs_the_swap_on_ack_then_hangs_a_up() {
    let (h, actions) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::Grant),
        Input::Committed(true),
        Input::Acked,
        Input::Committed(true),
    ]);
    assert_eq!(
        actions,
        vec![
            A::LogRequested,
            A::RespondB(180),
            A::Authorize,
            A::Withdraw,
            A::LogDecided(V::Granted),
            A::Swap,
            A::AnswerB,
            A::LogSwapped,
            A::ByeA,
            A::Finished(Outcome::Granted),
        ]
    );
    assert_eq!(h.phase(), Phase::Done(Outcome::Granted));
    assert!(!h.is_pending());
}

#[test]
fn grant_monitor_keeps_a_as_a_listener() {
    let (h, actions) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::GrantMonitor),
        Input::Committed(true),
        Input::Acked,
        Input::Committed(true),
    ]);
    assert!(actions.contains(&A::LogDecided(V::GrantedMonitor)));
    assert!(actions.contains(&A::MonitorA));
    assert!(!actions.contains(&A::ByeA));
    assert_eq!(h.phase(), Phase::Done(Outcome::GrantedMonitor));
}

#[test]
fn deny_and_timeout_answer_b_only_after_the_decision_is_committed() {
    for (input, verdict, code, outcome) in [
        (
            Input::Decided(Decision::Deny),
            V::Denied,
            603,
            Outcome::Denied,
        ),
        (Input::Timeout, V::TimedOut, 408, Outcome::Timeout),
    ] {
        let (mut h, actions) = run(&[Input::Committed(true), input]);
        assert_eq!(actions.last(), Some(&A::LogDecided(verdict)));
        assert!(!actions.contains(&A::RespondB(code)));
        assert_eq!(
            h.handle(Input::Committed(true)),
            vec![A::RespondB(code), A::Finished(outcome)]
        );
        assert!(!actions.contains(&A::Swap));
    }
}

#[test]
fn a_decision_is_final_later_keys_and_timers_change_nothing() {
    let (mut h, _) = run(&[Input::Committed(true), Input::Decided(Decision::Deny)]);
    assert!(h.handle(Input::Decided(Decision::Grant)).is_empty());
    assert!(h.handle(Input::Timeout).is_empty());
    assert_eq!(h.phase(), Phase::Deciding(V::Denied));
    h.handle(Input::Committed(true));
    for input in ALL_INPUTS {
        assert!(h.handle(input).is_empty(), "{input:?} after the end");
    }
}

#[test]
fn a_decision_that_is_not_committed_moves_nothing() {
    let (h, actions) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::Grant),
        Input::Committed(false),
    ]);
    assert!(!actions.contains(&A::Swap));
    assert!(actions.contains(&A::RespondB(500)));
    assert_eq!(h.phase(), Phase::Done(Outcome::Failed));
}

#[test]
fn cancel_at_each_step_before_the_swap_withdraws_and_logs() {
    let (_, a) = run(&[Input::Cancelled]);
    assert_eq!(
        a[1..],
        [
            A::LogAbandoned(Ab::Cancelled),
            A::Finished(Outcome::Cancelled)
        ]
    );
    let (_, a) = run(&[Input::Committed(true), Input::Cancelled]);
    assert_eq!(
        a[3..],
        [
            A::Withdraw,
            A::LogAbandoned(Ab::Cancelled),
            A::Finished(Outcome::Cancelled)
        ]
    );
    let (_, a) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::Grant),
        Input::Cancelled,
    ]);
    assert!(a.ends_with(&[
        A::LogAbandoned(Ab::Cancelled),
        A::Finished(Outcome::Cancelled)
    ]));
    assert!(!a.contains(&A::Swap));
}

#[test]
fn the_call_ending_while_waiting_gives_b_481() {
    for prefix in [
        &[][..],
        &[Input::Committed(true)][..],
        &[Input::Committed(true), Input::Timeout][..],
    ] {
        let mut inputs = prefix.to_vec();
        inputs.push(Input::CallEnded);
        let (h, a) = run(&inputs);
        assert!(a.contains(&A::RespondB(481)), "{inputs:?}");
        assert!(a.contains(&A::LogAbandoned(Ab::CallEnded)));
        assert_eq!(h.phase(), Phase::Done(Outcome::CallEnded));
    }
}

#[test]
fn b_failing_before_its_ack_rolls_back_and_a_never_gets_bye() {
    let (h, a) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::Grant),
        Input::Committed(true),
        Input::Failed,
    ]);
    assert!(a.ends_with(&[
        A::RollBack,
        A::LogAbandoned(Ab::RolledBack),
        A::Finished(Outcome::RolledBack)
    ]));
    assert!(!a.contains(&A::ByeA));
    assert_eq!(h.phase(), Phase::Done(Outcome::RolledBack));
}

#[test]
fn bye_to_a_waits_for_the_swap_commit() {
    let (mut h, a) = run(&[
        Input::Committed(true),
        Input::Decided(Decision::Grant),
        Input::Committed(true),
        Input::Acked,
    ]);
    assert!(!a.contains(&A::ByeA));
    assert!(h.is_swapping());
    // Even an uncommitted swap stands once B has acknowledged.
    assert_eq!(
        h.handle(Input::Committed(false)),
        vec![A::ByeA, A::Finished(Outcome::Granted)]
    );
}

/// Every reachable state against every input: whatever the order, the
/// machine keeps its promises (A is hung up only after a committed grant,
/// B's ACK and a committed swap; B gets exactly one final answer; an
/// attempt finishes once).
#[test]
fn every_sequence_of_five_inputs_keeps_the_invariants() {
    let mut sequences: Vec<Vec<Input>> = vec![vec![]];
    for _ in 0..5 {
        let mut next = Vec::new();
        for s in &sequences {
            for i in ALL_INPUTS {
                let mut t = s.clone();
                t.push(i);
                next.push(t);
            }
        }
        sequences = next;
    }
    for seq in sequences {
        let (h, actions) = run(&seq);
        let finals = actions
            .iter()
            .filter(|a| matches!(a, A::AnswerB | A::RespondB(400..)))
            .count();
        assert!(finals <= 1, "{seq:?}: {actions:?}");
        let finished = actions
            .iter()
            .filter(|a| matches!(a, A::Finished(_)))
            .count();
        assert!(finished <= 1, "{seq:?}");
        assert_eq!(finished == 1, !h.is_pending(), "{seq:?}");
        if let Some(bye) = actions.iter().position(|a| *a == A::ByeA) {
            let swap = actions.iter().position(|a| *a == A::Swap);
            let logged = actions.iter().position(|a| *a == A::LogSwapped);
            assert!(swap.is_some_and(|s| s < bye), "{seq:?}");
            assert!(logged.is_some_and(|l| l < bye), "{seq:?}");
        }
        if let Some(swap) = actions.iter().position(|a| *a == A::Swap) {
            let decided = actions.iter().position(|a| {
                matches!(
                    a,
                    A::LogDecided(V::Granted) | A::LogDecided(V::GrantedMonitor)
                )
            });
            assert!(decided.is_some_and(|d| d < swap), "{seq:?}");
        }
        if actions.contains(&A::Authorize) {
            // A question asked is either decided or taken back.
            let closed = actions.contains(&A::Withdraw);
            assert_eq!(closed, !matches!(h.phase(), Phase::Accepted), "{seq:?}");
        }
    }
}
