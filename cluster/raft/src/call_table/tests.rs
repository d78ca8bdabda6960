//! The call table, transition by transition: every command against every
//! state it can meet, then seeded random sequences for determinism and for
//! "a rejection changes nothing".

use super::*;

const T0: u64 = 1_700_000_000_000;
const A: CallId = CallId(0xa);
const B: CallId = CallId(0xb);
const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const H1: HandoverId = HandoverId(1);
const H2: HandoverId = HandoverId(2);
const H3: HandoverId = HandoverId(3);

fn created(call: CallId, anchor: NodeId) -> Command {
    Command::CallCreated {
        call,
        anchor,
        created_at_ms: T0,
        caller_aor: "sip:alice@example.com".into(),
        callee_aor: "sip:bob@example.com".into(),
    }
}

fn dialog(tag: &str) -> DialogRecord {
    DialogRecord {
        sip_call_id: format!("{tag}@pbx"),
        local_tag: format!("l-{tag}"),
        remote_tag: format!("r-{tag}"),
        local_cseq: 1,
        remote_cseq: 10,
        route_set: vec![
            "<sip:p1.example.com;lr>".into(),
            "<sip:p2.example.com;lr>".into(),
        ],
        remote_target: format!("sip:{tag}@203.0.113.7:5060"),
        local_contact: "sip:baton@192.0.2.1:5060".into(),
        transport: "udp".into(),
        remote_addr: "203.0.113.7:5060".into(),
    }
}

fn media(port: u16) -> MediaRecord {
    MediaRecord {
        local_sdp: format!("v=0 local {port}"),
        remote_sdp: format!("v=0 remote {port}"),
        relay_rtp_port: port,
        relay_addr: "192.0.2.1".into(),
        remote_rtp: None,
        codec: "PCMU/8000".into(),
    }
}

fn confirmed(call: CallId, leg: LegRole, tag: &str) -> Command {
    Command::LegConfirmed {
        call,
        leg,
        dialog: dialog(tag),
        media: media(20_000),
    }
}

fn updated(call: CallId, leg: LegRole, update: LegUpdate) -> Command {
    Command::LegUpdated { call, leg, update }
}

fn ended(call: CallId, reason: EndReason, at: u64) -> Command {
    Command::CallEnded {
        call,
        reason,
        ended_at_ms: at,
    }
}

fn requested(call: CallId, handover: HandoverId, leg: LegRole) -> Command {
    Command::HandoverRequested {
        call,
        handover,
        leg,
        requested_by: "sip:alice-desk@example.com".into(),
        node: N1,
        requested_at_ms: T0 + 100,
    }
}

fn decided(call: CallId, handover: HandoverId, decision: HandoverDecision) -> Command {
    Command::HandoverDecided {
        call,
        handover,
        decision,
        decided_by: "sip:alice-mobile@example.com".into(),
        decided_at_ms: T0 + 200,
    }
}

fn swapped(call: CallId, handover: HandoverId) -> Command {
    Command::BridgeSwapped {
        call,
        handover,
        dialog: dialog("desk"),
        media: media(20_002),
        swapped_at_ms: T0 + 300,
    }
}

fn abandoned(call: CallId, handover: HandoverId, reason: AbandonReason) -> Command {
    Command::HandoverAbandoned {
        call,
        handover,
        reason,
        at_ms: T0 + 250,
    }
}

const APPROVE: HandoverDecision = HandoverDecision::Approved {
    keep_listening: false,
};
const APPROVE_LISTEN: HandoverDecision = HandoverDecision::Approved {
    keep_listening: true,
};
const HANGUP: EndReason = EndReason::Hangup {
    by: LegRole::Caller,
};

/// Applies `commands`, asserting each succeeds with a change.
fn table_with(commands: &[Command]) -> CallTable {
    let mut table = CallTable::new();
    for c in commands {
        let r = table.apply(c);
        assert!(
            matches!(r, Ok(o) if o != Outcome::Unchanged),
            "setup {c:?} gave {r:?}"
        );
    }
    table
}

/// A call with both legs confirmed.
fn up_call() -> CallTable {
    table_with(&[
        created(A, N1),
        confirmed(A, LegRole::Caller, "caller"),
        confirmed(A, LegRole::Callee, "callee"),
    ])
}

/// Applies `command` and asserts it is rejected with `want` and changes
/// nothing.
fn assert_rejected(table: &mut CallTable, command: Command, want: Rejection) {
    let before = table.clone();
    assert_eq!(table.apply(&command), Err(want), "{command:?}");
    assert_eq!(*table, before, "a rejection must not change the table");
}

/// Applies `command` and asserts it is a no-op replay.
fn assert_unchanged(table: &mut CallTable, command: Command) {
    let before = table.clone();
    assert_eq!(table.apply(&command), Ok(Outcome::Unchanged), "{command:?}");
    assert_eq!(*table, before, "Unchanged must not change the table");
}

// --- CallCreated -----------------------------------------------------------

#[test]
fn created_call_is_active_and_anchored() {
    let mut table = CallTable::new();
    assert!(table.is_empty());
    assert_eq!(table.apply(&created(A, N1)), Ok(Outcome::Created));
    let record = table.get(A).expect("created");
    assert_eq!(record.call, A);
    assert_eq!(record.anchor, N1);
    assert_eq!(record.created_at_ms, T0);
    assert_eq!(record.caller_aor, "sip:alice@example.com");
    assert_eq!(record.callee_aor, "sip:bob@example.com");
    assert!(record.caller.is_none() && record.callee.is_none());
    assert!(record.is_active());
    assert_eq!(table.active_calls().count(), 1);
    assert_eq!(table.calls_owned_by(N1).count(), 1);
    assert_eq!(table.calls_owned_by(N2).count(), 0);
    assert_eq!(table.len(), 1);
    assert!(table.get(B).is_none());
}

#[test]
fn created_replay_is_unchanged_and_conflict_is_rejected() {
    let mut table = table_with(&[created(A, N1)]);
    assert_unchanged(&mut table, created(A, N1));
    assert_rejected(
        &mut table,
        created(A, N2),
        Rejection::CallExists { call: A },
    );
    let mut other = created(A, N1);
    if let Command::CallCreated { callee_aor, .. } = &mut other {
        *callee_aor = "sip:carol@example.com".into();
    }
    assert_rejected(&mut table, other, Rejection::CallExists { call: A });
}

#[test]
fn created_replay_after_end_does_not_resurrect() {
    let mut table = table_with(&[created(A, N1), ended(A, EndReason::Cancelled, T0 + 1)]);
    assert_unchanged(&mut table, created(A, N1));
    assert_eq!(table.active_calls().count(), 0);
}

#[test]
fn created_replay_after_adoption_is_unchanged() {
    let mut table = table_with(&[
        created(A, N1),
        Command::CallAdopted {
            call: A,
            by: N2,
            at_ms: T0 + 5,
        },
    ]);
    assert_unchanged(&mut table, created(A, N1));
    assert_rejected(
        &mut table,
        created(A, N2),
        Rejection::CallExists { call: A },
    );
}

// --- LegConfirmed ----------------------------------------------------------

#[test]
fn legs_are_confirmed_independently() {
    let mut table = table_with(&[created(A, N1)]);
    assert_eq!(
        table.apply(&confirmed(A, LegRole::Callee, "callee")),
        Ok(Outcome::LegConfirmed)
    );
    let record = table.get(A).expect("call");
    assert!(record.caller.is_none());
    let callee = record.leg(LegRole::Callee).expect("callee");
    assert_eq!(callee.dialog, dialog("callee"));
    assert_eq!(callee.media, media(20_000));
    assert_eq!(
        table.apply(&confirmed(A, LegRole::Caller, "caller")),
        Ok(Outcome::LegConfirmed)
    );
    assert_eq!(
        table
            .get(A)
            .and_then(|r| r.leg(LegRole::Caller))
            .map(|l| &l.dialog),
        Some(&dialog("caller"))
    );
}

#[test]
fn leg_confirmed_replay_and_conflict() {
    let mut table = up_call();
    assert_unchanged(&mut table, confirmed(A, LegRole::Caller, "caller"));
    assert_rejected(
        &mut table,
        confirmed(A, LegRole::Caller, "someone-else"),
        Rejection::LegAlreadyConfirmed {
            call: A,
            leg: LegRole::Caller,
        },
    );
}

#[test]
fn leg_confirmed_needs_a_live_call() {
    let mut table = CallTable::new();
    assert_rejected(
        &mut table,
        confirmed(A, LegRole::Caller, "x"),
        Rejection::UnknownCall { call: A },
    );
    let mut table = table_with(&[created(A, N1), ended(A, EndReason::Cancelled, T0)]);
    assert_rejected(
        &mut table,
        confirmed(A, LegRole::Caller, "x"),
        Rejection::CallEnded { call: A },
    );
}

#[test]
fn leg_confirmed_replay_after_end_is_unchanged() {
    let mut table = up_call();
    table.apply(&ended(A, HANGUP, T0 + 9)).expect("end");
    assert_unchanged(&mut table, confirmed(A, LegRole::Callee, "callee"));
}

// --- LegUpdated ------------------------------------------------------------

#[test]
fn leg_update_moves_cseq_and_media() {
    let mut table = up_call();
    let update = LegUpdate {
        local_cseq: Some(2),
        remote_cseq: Some(11),
        local_sdp: Some("v=0 hold".into()),
        remote_sdp: Some("v=0 held".into()),
        remote_rtp: Some("203.0.113.7:40000".into()),
        codec: Some("opus/48000/2".into()),
    };
    assert_eq!(
        table.apply(&updated(A, LegRole::Caller, update.clone())),
        Ok(Outcome::LegUpdated)
    );
    let leg = table.get(A).and_then(|r| r.caller.clone()).expect("caller");
    assert_eq!(leg.dialog.local_cseq, 2);
    assert_eq!(leg.dialog.remote_cseq, 11);
    assert_eq!(leg.media.local_sdp, "v=0 hold");
    assert_eq!(leg.media.remote_sdp, "v=0 held");
    assert_eq!(leg.media.remote_rtp.as_deref(), Some("203.0.113.7:40000"));
    assert_eq!(leg.media.codec, "opus/48000/2");
    // The rest of the dialog is untouched, and the other leg too.
    assert_eq!(leg.dialog.route_set, dialog("caller").route_set);
    assert_eq!(
        table.get(A).and_then(|r| r.callee.clone()).map(|l| l.media),
        Some(media(20_000))
    );
    // The same update again is a replay.
    assert_unchanged(&mut table, updated(A, LegRole::Caller, update));
}

#[test]
fn leg_update_with_no_field_is_unchanged() {
    let mut table = up_call();
    assert_unchanged(
        &mut table,
        updated(A, LegRole::Callee, LegUpdate::default()),
    );
}

#[test]
fn leg_update_partial_keeps_other_fields() {
    let mut table = up_call();
    let update = LegUpdate {
        remote_cseq: Some(12),
        ..LegUpdate::default()
    };
    assert_eq!(
        table.apply(&updated(A, LegRole::Callee, update)),
        Ok(Outcome::LegUpdated)
    );
    let leg = table.get(A).and_then(|r| r.callee.clone()).expect("callee");
    assert_eq!(leg.dialog.remote_cseq, 12);
    assert_eq!(leg.dialog.local_cseq, 1);
    assert_eq!(leg.media, media(20_000));
}

#[test]
fn cseq_never_goes_back_and_a_refused_update_changes_nothing() {
    let mut table = up_call();
    assert_rejected(
        &mut table,
        updated(
            A,
            LegRole::Caller,
            LegUpdate {
                local_cseq: Some(0),
                ..LegUpdate::default()
            },
        ),
        Rejection::CSeqRegression {
            call: A,
            leg: LegRole::Caller,
            side: CSeqSide::Local,
            current: 1,
            proposed: 0,
        },
    );
    // A valid local CSeq and SDP with a regressing remote CSeq: all refused.
    assert_rejected(
        &mut table,
        updated(
            A,
            LegRole::Caller,
            LegUpdate {
                local_cseq: Some(5),
                remote_cseq: Some(9),
                local_sdp: Some("v=0 new".into()),
                ..LegUpdate::default()
            },
        ),
        Rejection::CSeqRegression {
            call: A,
            leg: LegRole::Caller,
            side: CSeqSide::Remote,
            current: 10,
            proposed: 9,
        },
    );
}

#[test]
fn leg_update_needs_a_confirmed_leg_of_a_live_call() {
    let mut table = table_with(&[created(A, N1)]);
    let bump = LegUpdate {
        local_cseq: Some(2),
        ..LegUpdate::default()
    };
    assert_rejected(
        &mut table,
        updated(A, LegRole::Caller, bump.clone()),
        Rejection::LegNotConfirmed {
            call: A,
            leg: LegRole::Caller,
        },
    );
    assert_rejected(
        &mut table,
        updated(B, LegRole::Caller, bump.clone()),
        Rejection::UnknownCall { call: B },
    );
    let mut table = up_call();
    table.apply(&ended(A, HANGUP, T0 + 9)).expect("end");
    assert_rejected(
        &mut table,
        updated(A, LegRole::Caller, bump.clone()),
        Rejection::CallEnded { call: A },
    );
    // An ended call whose leg was never confirmed also says "ended".
    let mut table = table_with(&[created(A, N1), ended(A, EndReason::Timeout, T0)]);
    assert_rejected(
        &mut table,
        updated(A, LegRole::Callee, bump),
        Rejection::CallEnded { call: A },
    );
}

#[test]
fn leg_update_replay_after_end_is_unchanged() {
    let mut table = up_call();
    let bump = LegUpdate {
        local_cseq: Some(2),
        ..LegUpdate::default()
    };
    table
        .apply(&updated(A, LegRole::Caller, bump.clone()))
        .expect("bump");
    table.apply(&ended(A, HANGUP, T0 + 9)).expect("end");
    assert_unchanged(&mut table, updated(A, LegRole::Caller, bump));
}

// --- CallEnded -------------------------------------------------------------

#[test]
fn ended_call_leaves_active_queries_but_stays_readable() {
    let mut table = table_with(&[created(A, N1), created(B, N1)]);
    assert_eq!(
        table.apply(&ended(A, HANGUP, T0 + 60_000)),
        Ok(Outcome::Ended)
    );
    assert_eq!(
        table.get(A).and_then(|r| r.ended),
        Some(Ending {
            reason: HANGUP,
            at_ms: T0 + 60_000
        })
    );
    assert!(!table.get(A).expect("tombstone").is_active());
    let active: Vec<CallId> = table.active_calls().map(|r| r.call).collect();
    assert_eq!(active, vec![B]);
    let owned: Vec<CallId> = table.calls_owned_by(N1).map(|r| r.call).collect();
    assert_eq!(owned, vec![B]);
    assert_eq!(table.len(), 2);
}

#[test]
fn the_first_end_wins() {
    let mut table = table_with(&[created(A, N1), ended(A, HANGUP, T0 + 1)]);
    assert_unchanged(&mut table, ended(A, HANGUP, T0 + 1));
    assert_rejected(
        &mut table,
        ended(
            A,
            EndReason::Hangup {
                by: LegRole::Callee,
            },
            T0 + 1,
        ),
        Rejection::CallEnded { call: A },
    );
    assert_rejected(
        &mut table,
        ended(A, HANGUP, T0 + 2),
        Rejection::CallEnded { call: A },
    );
    assert_rejected(
        &mut CallTable::new(),
        ended(A, HANGUP, T0),
        Rejection::UnknownCall { call: A },
    );
}

#[test]
fn every_end_reason_is_recorded() {
    let reasons = [
        EndReason::Hangup {
            by: LegRole::Callee,
        },
        EndReason::Cancelled,
        EndReason::Declined { status: 486 },
        EndReason::Timeout,
        EndReason::MediaFailure,
        EndReason::AnchorLost,
        EndReason::Shutdown,
    ];
    for (i, reason) in reasons.into_iter().enumerate() {
        let call = CallId(i as u128);
        let mut table = table_with(&[created(call, N1)]);
        assert_eq!(table.apply(&ended(call, reason, T0)), Ok(Outcome::Ended));
        assert_eq!(
            table.get(call).and_then(|r| r.ended).map(|e| e.reason),
            Some(reason)
        );
    }
}

// --- CallAdopted -----------------------------------------------------------

#[test]
fn adoption_moves_the_anchor_and_keeps_the_history() {
    let mut table = up_call();
    let adopt = Command::CallAdopted {
        call: A,
        by: N2,
        at_ms: T0 + 50,
    };
    assert_eq!(table.apply(&adopt), Ok(Outcome::Adopted { from: N1 }));
    assert_eq!(table.calls_owned_by(N1).count(), 0);
    assert_eq!(table.calls_owned_by(N2).count(), 1);
    let record = table.get(A).expect("call");
    assert_eq!(record.anchor, N2);
    assert_eq!(
        record.anchor_history,
        vec![AnchorChange {
            from: N1,
            to: N2,
            at_ms: T0 + 50
        }]
    );
    assert_unchanged(&mut table, adopt);
    // And back.
    let back = Command::CallAdopted {
        call: A,
        by: N1,
        at_ms: T0 + 60,
    };
    assert_eq!(table.apply(&back), Ok(Outcome::Adopted { from: N2 }));
    assert_eq!(table.get(A).map(|r| r.anchor_history.len()), Some(2));
}

#[test]
fn adoption_needs_a_live_call() {
    let adopt = |call| Command::CallAdopted {
        call,
        by: N2,
        at_ms: T0,
    };
    assert_rejected(
        &mut CallTable::new(),
        adopt(A),
        Rejection::UnknownCall { call: A },
    );
    let mut table = table_with(&[created(A, N1), ended(A, EndReason::AnchorLost, T0)]);
    assert_rejected(&mut table, adopt(A), Rejection::CallEnded { call: A });
}

// --- Handover --------------------------------------------------------------

#[test]
fn approved_handover_swaps_the_leg_and_keeps_the_audit_trail() {
    let mut table = up_call();
    assert_eq!(
        table.apply(&requested(A, H1, LegRole::Caller)),
        Ok(Outcome::HandoverRequested)
    );
    let pending = table
        .get(A)
        .and_then(|r| r.pending_handover.clone())
        .expect("pending");
    assert_eq!(pending.id, H1);
    assert_eq!(pending.leg, LegRole::Caller);
    assert_eq!(pending.requested_by, "sip:alice-desk@example.com");
    assert_eq!(pending.node, N1);
    assert_eq!(pending.requested_at_ms, T0 + 100);
    assert!(pending.decided.is_none());

    assert_eq!(
        table.apply(&decided(A, H1, APPROVE)),
        Ok(Outcome::HandoverDecided(APPROVE))
    );
    // Approved but not swapped: still pending.
    assert!(table
        .get(A)
        .and_then(|r| r.pending_handover.as_ref())
        .is_some());

    assert_eq!(table.apply(&swapped(A, H1)), Ok(Outcome::BridgeSwapped));
    let record = table.get(A).expect("call");
    assert!(record.pending_handover.is_none());
    assert_eq!(
        record.caller.as_ref().map(|l| &l.dialog),
        Some(&dialog("desk"))
    );
    assert_eq!(
        record.caller.as_ref().map(|l| &l.media),
        Some(&media(20_002))
    );
    assert_eq!(
        record.callee.as_ref().map(|l| &l.dialog),
        Some(&dialog("callee"))
    );
    assert!(record.listeners.is_empty(), "approval without monitoring");
    let done = &record.handovers;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, H1);
    assert_eq!(
        done[0].decided,
        Some(Decided {
            decision: APPROVE,
            decided_by: "sip:alice-mobile@example.com".into(),
            at_ms: T0 + 200
        })
    );
    assert_eq!(done[0].swapped_at_ms, Some(T0 + 300));

    // Replays of each step are no-ops.
    assert_unchanged(&mut table, swapped(A, H1));
    assert_unchanged(&mut table, decided(A, H1, APPROVE));
    // A finished handover cannot be re-requested or re-decided otherwise.
    assert_rejected(
        &mut table,
        requested(A, H1, LegRole::Caller),
        Rejection::HandoverFinished {
            call: A,
            handover: H1,
        },
    );
    assert_rejected(
        &mut table,
        decided(A, H1, HandoverDecision::Denied),
        Rejection::HandoverAlreadyDecided {
            call: A,
            handover: H1,
            decision: APPROVE,
        },
    );
    // A swap with other contents, after the fact, is refused.
    let mut late = swapped(A, H1);
    if let Command::BridgeSwapped { swapped_at_ms, .. } = &mut late {
        *swapped_at_ms += 1;
    }
    assert_rejected(
        &mut table,
        late,
        Rejection::HandoverFinished {
            call: A,
            handover: H1,
        },
    );
    // And a new handover may follow.
    assert_eq!(
        table.apply(&requested(A, H2, LegRole::Caller)),
        Ok(Outcome::HandoverRequested)
    );
}

#[test]
fn keep_listening_keeps_the_original_leg_as_a_listener() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Callee))
        .expect("request");
    table
        .apply(&decided(A, H1, APPROVE_LISTEN))
        .expect("decide");
    assert_eq!(table.apply(&swapped(A, H1)), Ok(Outcome::BridgeSwapped));
    let record = table.get(A).expect("call");
    assert_eq!(record.listeners.len(), 1);
    assert_eq!(record.listeners[0].dialog, dialog("callee"));
    assert_eq!(
        record.callee.as_ref().map(|l| &l.dialog),
        Some(&dialog("desk"))
    );
}

#[test]
fn one_pending_handover_per_call() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    assert_unchanged(&mut table, requested(A, H1, LegRole::Caller));
    assert_rejected(
        &mut table,
        requested(A, H2, LegRole::Callee),
        Rejection::HandoverPending {
            call: A,
            pending: H1,
        },
    );
    // Same id, other contents: not a replay.
    assert_rejected(
        &mut table,
        requested(A, H1, LegRole::Callee),
        Rejection::HandoverPending {
            call: A,
            pending: H1,
        },
    );
    // Still pending once approved and not yet swapped.
    table.apply(&decided(A, H1, APPROVE)).expect("decide");
    assert_rejected(
        &mut table,
        requested(A, H2, LegRole::Caller),
        Rejection::HandoverPending {
            call: A,
            pending: H1,
        },
    );
}

#[test]
fn a_decision_is_final() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    table.apply(&decided(A, H1, APPROVE)).expect("decide");
    for other in [
        HandoverDecision::Denied,
        HandoverDecision::TimedOut,
        APPROVE_LISTEN,
    ] {
        assert_rejected(
            &mut table,
            decided(A, H1, other),
            Rejection::HandoverAlreadyDecided {
                call: A,
                handover: H1,
                decision: APPROVE,
            },
        );
    }
    // The same decision by someone else, or at another time, is a second
    // decision too.
    let mut again = decided(A, H1, APPROVE);
    if let Command::HandoverDecided { decided_by, .. } = &mut again {
        *decided_by = "sip:mallory@example.com".into();
    }
    assert_rejected(
        &mut table,
        again,
        Rejection::HandoverAlreadyDecided {
            call: A,
            handover: H1,
            decision: APPROVE,
        },
    );
}

#[test]
fn denied_and_timed_out_handovers_finish_without_a_swap() {
    for refusal in [HandoverDecision::Denied, HandoverDecision::TimedOut] {
        let mut table = up_call();
        table
            .apply(&requested(A, H1, LegRole::Caller))
            .expect("request");
        assert_eq!(
            table.apply(&decided(A, H1, refusal)),
            Ok(Outcome::HandoverDecided(refusal))
        );
        let record = table.get(A).expect("call");
        assert!(record.pending_handover.is_none());
        assert_eq!(record.handovers.len(), 1);
        assert_eq!(record.handovers[0].swapped_at_ms, None);
        assert_eq!(
            record.caller.as_ref().map(|l| &l.dialog),
            Some(&dialog("caller"))
        );
        assert_unchanged(&mut table, decided(A, H1, refusal));
        assert_rejected(
            &mut table,
            decided(A, H1, APPROVE),
            Rejection::HandoverAlreadyDecided {
                call: A,
                handover: H1,
                decision: refusal,
            },
        );
        assert_rejected(
            &mut table,
            swapped(A, H1),
            Rejection::HandoverNotApproved {
                call: A,
                handover: H1,
            },
        );
        // The caller may try again with a new attempt.
        assert_eq!(
            table.apply(&requested(A, H2, LegRole::Caller)),
            Ok(Outcome::HandoverRequested)
        );
    }
}

#[test]
fn swap_needs_an_approval() {
    let mut table = up_call();
    assert_rejected(
        &mut table,
        swapped(A, H1),
        Rejection::UnknownHandover {
            call: A,
            handover: H1,
        },
    );
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    assert_rejected(
        &mut table,
        swapped(A, H1),
        Rejection::HandoverNotApproved {
            call: A,
            handover: H1,
        },
    );
    assert_rejected(
        &mut table,
        swapped(A, H2),
        Rejection::UnknownHandover {
            call: A,
            handover: H2,
        },
    );
}

#[test]
fn decisions_need_a_matching_pending_handover() {
    let mut table = up_call();
    assert_rejected(
        &mut table,
        decided(A, H1, APPROVE),
        Rejection::UnknownHandover {
            call: A,
            handover: H1,
        },
    );
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    assert_rejected(
        &mut table,
        decided(A, H2, APPROVE),
        Rejection::UnknownHandover {
            call: A,
            handover: H2,
        },
    );
    assert_rejected(
        &mut table,
        decided(B, H1, APPROVE),
        Rejection::UnknownCall { call: B },
    );
}

#[test]
fn handover_needs_a_confirmed_leg_of_a_live_call() {
    let mut table = table_with(&[created(A, N1), confirmed(A, LegRole::Callee, "callee")]);
    assert_rejected(
        &mut table,
        requested(A, H1, LegRole::Caller),
        Rejection::LegNotConfirmed {
            call: A,
            leg: LegRole::Caller,
        },
    );
    assert_rejected(
        &mut CallTable::new(),
        requested(A, H1, LegRole::Caller),
        Rejection::UnknownCall { call: A },
    );
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    table.apply(&ended(A, HANGUP, T0 + 150)).expect("end");
    // The call ended while the handover was pending: nothing more happens,
    // but the replay of the request is still recognised.
    assert_unchanged(&mut table, requested(A, H1, LegRole::Caller));
    assert_rejected(
        &mut table,
        requested(A, H2, LegRole::Caller),
        Rejection::CallEnded { call: A },
    );
    assert_rejected(
        &mut table,
        decided(A, H1, APPROVE),
        Rejection::CallEnded { call: A },
    );
}

#[test]
fn swap_after_the_call_ended_is_refused() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    table.apply(&decided(A, H1, APPROVE)).expect("decide");
    table.apply(&ended(A, HANGUP, T0 + 250)).expect("end");
    assert_rejected(&mut table, swapped(A, H1), Rejection::CallEnded { call: A });
}

#[test]
fn a_swap_frees_the_call_for_a_chain_of_handovers() {
    // The caller's leg moves A → B → A → C: each swap clears the pending
    // attempt, so the next pull of the same call is accepted.
    let mut table = up_call();
    let steps = [
        (H1, "desk", 20_002, APPROVE),
        (H2, "caller", 20_004, APPROVE_LISTEN),
        (H3, "car", 20_006, APPROVE),
    ];
    for (n, (id, tag, port, decision)) in (0u64..).zip(steps) {
        let at = T0 + 1_000 * (n + 1);
        assert_eq!(
            table.apply(&Command::HandoverRequested {
                call: A,
                handover: id,
                leg: LegRole::Caller,
                requested_by: format!("sip:{tag}@example.com"),
                node: N1,
                requested_at_ms: at,
            }),
            Ok(Outcome::HandoverRequested),
            "request {id}"
        );
        assert_eq!(
            table.apply(&Command::HandoverDecided {
                call: A,
                handover: id,
                decision,
                decided_by: "sip:alice@example.com".into(),
                decided_at_ms: at + 10,
            }),
            Ok(Outcome::HandoverDecided(decision))
        );
        assert_eq!(
            table.apply(&Command::BridgeSwapped {
                call: A,
                handover: id,
                dialog: dialog(tag),
                media: media(port),
                swapped_at_ms: at + 20,
            }),
            Ok(Outcome::BridgeSwapped)
        );
        let record = table.get(A).expect("call");
        assert!(
            record.pending_handover.is_none(),
            "swap {id} clears pending"
        );
        assert_eq!(
            record.caller.as_ref().map(|l| (&l.dialog, &l.media)),
            Some((&dialog(tag), &media(port)))
        );
    }
    let record = table.get(A).expect("call");
    let trail: Vec<_> = record
        .handovers
        .iter()
        .map(|h| (h.id, h.requested_by.as_str(), h.swapped_at_ms, h.abandoned))
        .collect();
    assert_eq!(
        trail,
        vec![
            (H1, "sip:desk@example.com", Some(T0 + 1_020), None),
            (H2, "sip:caller@example.com", Some(T0 + 2_020), None),
            (H3, "sip:car@example.com", Some(T0 + 3_020), None),
        ]
    );
    // Only the second approval kept its original device listening: B.
    assert_eq!(record.listeners.len(), 1);
    assert_eq!(record.listeners[0].dialog, dialog("desk"));
    assert_eq!(
        record.callee.as_ref().map(|l| &l.dialog),
        Some(&dialog("callee")),
        "the other leg never moved"
    );
    // A fourth attempt that times out clears pending too; a fifth follows.
    let h4 = HandoverId(4);
    table.apply(&requested(A, h4, LegRole::Callee)).expect("4");
    table
        .apply(&decided(A, h4, HandoverDecision::TimedOut))
        .expect("timeout");
    assert!(table.get(A).is_some_and(|r| r.pending_handover.is_none()));
    assert_eq!(
        table.apply(&requested(A, HandoverId(5), LegRole::Callee)),
        Ok(Outcome::HandoverRequested)
    );
}

#[test]
fn a_cancelled_handover_is_abandoned_and_frees_the_call() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    assert_eq!(
        table.apply(&abandoned(A, H1, AbandonReason::Cancelled)),
        Ok(Outcome::HandoverAbandoned(AbandonReason::Cancelled))
    );
    let record = table.get(A).expect("call");
    assert!(record.pending_handover.is_none());
    assert_eq!(record.handovers.len(), 1);
    let done = &record.handovers[0];
    assert_eq!(done.id, H1);
    assert_eq!(done.decided, None);
    assert_eq!(done.swapped_at_ms, None);
    assert_eq!(
        done.abandoned,
        Some(Abandoned {
            reason: AbandonReason::Cancelled,
            at_ms: T0 + 250
        })
    );
    assert_eq!(
        record.caller.as_ref().map(|l| &l.dialog),
        Some(&dialog("caller"))
    );

    assert_unchanged(&mut table, abandoned(A, H1, AbandonReason::Cancelled));
    let finished = Rejection::HandoverFinished {
        call: A,
        handover: H1,
    };
    assert_rejected(
        &mut table,
        abandoned(A, H1, AbandonReason::RolledBack),
        finished.clone(),
    );
    assert_rejected(&mut table, decided(A, H1, APPROVE), finished.clone());
    assert_rejected(&mut table, swapped(A, H1), finished.clone());
    assert_rejected(&mut table, requested(A, H1, LegRole::Caller), finished);
    assert_eq!(
        table.apply(&requested(A, H2, LegRole::Caller)),
        Ok(Outcome::HandoverRequested)
    );
}

#[test]
fn an_approved_handover_can_be_rolled_back() {
    let mut table = up_call();
    table
        .apply(&requested(A, H1, LegRole::Callee))
        .expect("request");
    table
        .apply(&decided(A, H1, APPROVE_LISTEN))
        .expect("decide");
    let before_legs = table
        .get(A)
        .map(|r| (r.caller.clone(), r.callee.clone()))
        .expect("call");
    assert_eq!(
        table.apply(&abandoned(A, H1, AbandonReason::RolledBack)),
        Ok(Outcome::HandoverAbandoned(AbandonReason::RolledBack))
    );
    let record = table.get(A).expect("call");
    assert!(record.pending_handover.is_none());
    assert_eq!(
        (record.caller.clone(), record.callee.clone()),
        before_legs,
        "the call stays with the original device"
    );
    assert!(record.listeners.is_empty(), "no swap, no listener");
    let done = &record.handovers[0];
    assert_eq!(
        done.decided.as_ref().map(|d| d.decision),
        Some(APPROVE_LISTEN)
    );
    assert_eq!(
        done.abandoned.map(|a| a.reason),
        Some(AbandonReason::RolledBack)
    );
    assert_eq!(done.swapped_at_ms, None);
    // The approval stays on record (its replay is a no-op), the swap is
    // too late, and the call is free for another pull.
    assert_unchanged(&mut table, decided(A, H1, APPROVE_LISTEN));
    assert_rejected(
        &mut table,
        decided(A, H1, HandoverDecision::Denied),
        Rejection::HandoverAlreadyDecided {
            call: A,
            handover: H1,
            decision: APPROVE_LISTEN,
        },
    );
    assert_rejected(
        &mut table,
        swapped(A, H1),
        Rejection::HandoverFinished {
            call: A,
            handover: H1,
        },
    );
    assert_eq!(
        table.apply(&requested(A, H2, LegRole::Callee)),
        Ok(Outcome::HandoverRequested)
    );
}

#[test]
fn a_handover_pending_when_the_call_ended_can_still_be_closed() {
    for approved in [false, true] {
        let mut table = up_call();
        table
            .apply(&requested(A, H1, LegRole::Caller))
            .expect("request");
        if approved {
            table.apply(&decided(A, H1, APPROVE)).expect("decide");
        }
        table.apply(&ended(A, HANGUP, T0 + 220)).expect("end");
        assert_eq!(
            table.apply(&abandoned(A, H1, AbandonReason::CallEnded)),
            Ok(Outcome::HandoverAbandoned(AbandonReason::CallEnded))
        );
        let record = table.get(A).expect("call");
        assert!(record.pending_handover.is_none());
        assert!(!record.is_active(), "the call stays ended");
        assert_eq!(
            record.handovers[0].abandoned.map(|a| a.reason),
            Some(AbandonReason::CallEnded)
        );
        assert_unchanged(&mut table, abandoned(A, H1, AbandonReason::CallEnded));
        assert_rejected(
            &mut table,
            requested(A, H2, LegRole::Caller),
            Rejection::CallEnded { call: A },
        );
    }
}

#[test]
fn abandon_needs_a_matching_unfinished_handover() {
    assert_rejected(
        &mut CallTable::new(),
        abandoned(A, H1, AbandonReason::Cancelled),
        Rejection::UnknownCall { call: A },
    );
    let mut table = up_call();
    assert_rejected(
        &mut table,
        abandoned(A, H1, AbandonReason::Cancelled),
        Rejection::UnknownHandover {
            call: A,
            handover: H1,
        },
    );
    table
        .apply(&requested(A, H1, LegRole::Caller))
        .expect("request");
    // Another attempt's id leaves the pending one alone.
    assert_rejected(
        &mut table,
        abandoned(A, H2, AbandonReason::Cancelled),
        Rejection::UnknownHandover {
            call: A,
            handover: H2,
        },
    );
    // Swapped or denied attempts are finished: no abandon afterwards.
    table.apply(&decided(A, H1, APPROVE)).expect("decide");
    table.apply(&swapped(A, H1)).expect("swap");
    assert_rejected(
        &mut table,
        abandoned(A, H1, AbandonReason::RolledBack),
        Rejection::HandoverFinished {
            call: A,
            handover: H1,
        },
    );
    table
        .apply(&requested(A, H2, LegRole::Caller))
        .expect("request");
    table
        .apply(&decided(A, H2, HandoverDecision::Denied))
        .expect("deny");
    assert_rejected(
        &mut table,
        abandoned(A, H2, AbandonReason::Cancelled),
        Rejection::HandoverFinished {
            call: A,
            handover: H2,
        },
    );
}

// --- EndedCallsPurged ------------------------------------------------------

#[test]
fn purge_drops_only_old_tombstones() {
    let mut table = table_with(&[
        created(A, N1),
        created(B, N1),
        created(CallId(0xc), N2),
        ended(A, HANGUP, T0 + 10),
        ended(B, HANGUP, T0 + 20),
    ]);
    let purge = |before| Command::EndedCallsPurged {
        ended_before_ms: before,
    };
    assert_unchanged(&mut table, purge(T0 + 10));
    assert_eq!(
        table.apply(&purge(T0 + 11)),
        Ok(Outcome::Purged { calls: 1 })
    );
    assert!(table.get(A).is_none());
    assert!(table.get(B).is_some());
    assert_eq!(
        table.apply(&purge(u64::MAX)),
        Ok(Outcome::Purged { calls: 1 })
    );
    assert_eq!(table.len(), 1, "the active call stays");
    assert_eq!(table.active_calls().count(), 1);
    // A purged call is gone: commands about it are refused.
    assert_rejected(
        &mut table,
        confirmed(A, LegRole::Caller, "x"),
        Rejection::UnknownCall { call: A },
    );
}

#[test]
fn command_call_accessor() {
    assert_eq!(created(A, N1).call(), Some(A));
    assert_eq!(swapped(B, H1).call(), Some(B));
    assert_eq!(abandoned(B, H1, AbandonReason::Cancelled).call(), Some(B));
    assert_eq!(
        Command::EndedCallsPurged { ended_before_ms: 0 }.call(),
        None
    );
}

// --- Sequences -------------------------------------------------------------

/// xorshift64*: a tiny deterministic generator, so that failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        // usize::try_from cannot fail for an index below a slice length.
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)].clone()
    }
}

/// A random command over a handful of calls, nodes and handover ids, so
/// that every transition (valid or not) gets exercised.
fn random_command(rng: &mut Rng) -> Command {
    let call = CallId(u128::from(rng.below(4)));
    let leg = rng.pick(&[LegRole::Caller, LegRole::Callee]);
    let handover = HandoverId(rng.below(3));
    let at = T0 + rng.below(50);
    match rng.below(11) {
        0 => created(call, NodeId(rng.below(3))),
        1 => Command::LegConfirmed {
            call,
            leg,
            dialog: dialog(rng.pick(&["a", "b"])),
            media: media(20_000 + 2 * u16::try_from(rng.below(2)).unwrap_or(0)),
        },
        2 => updated(
            call,
            leg,
            LegUpdate {
                local_cseq: rng.pick(&[None, Some(0), Some(1), Some(5)]),
                remote_cseq: rng.pick(&[None, Some(9), Some(10), Some(20)]),
                local_sdp: rng.pick(&[None, Some("v=0 x".to_owned())]),
                remote_sdp: rng.pick(&[None, Some("v=0 y".to_owned())]),
                remote_rtp: rng.pick(&[None, Some("203.0.113.9:4000".to_owned())]),
                codec: rng.pick(&[None, Some("G722/8000".to_owned())]),
            },
        ),
        3 => ended(call, rng.pick(&[HANGUP, EndReason::Timeout]), at),
        4 => Command::CallAdopted {
            call,
            by: NodeId(rng.below(3)),
            at_ms: at,
        },
        5 | 6 => requested(call, handover, leg),
        7 => decided(
            call,
            handover,
            rng.pick(&[APPROVE, APPROVE_LISTEN, HandoverDecision::Denied]),
        ),
        8 => swapped(call, handover),
        9 => Command::HandoverAbandoned {
            call,
            handover,
            reason: rng.pick(&[
                AbandonReason::Cancelled,
                AbandonReason::CallEnded,
                AbandonReason::RolledBack,
            ]),
            at_ms: at,
        },
        _ => Command::EndedCallsPurged {
            ended_before_ms: T0 + rng.below(60),
        },
    }
}

#[test]
fn random_sequences_are_deterministic_and_rejections_change_nothing() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let commands: Vec<Command> = (0..300).map(|_| random_command(&mut rng)).collect();
        let mut left = CallTable::new();
        let mut right = CallTable::new();
        for command in &commands {
            let before = left.clone();
            let result = left.apply(command);
            assert_eq!(result, right.apply(command), "seed {seed}: {command:?}");
            seen.insert(variant_name(&result));
            if matches!(result, Err(_) | Ok(Outcome::Unchanged)) {
                assert_eq!(left, before, "seed {seed}: {command:?} gave {result:?}");
            } else {
                assert_ne!(left, before, "seed {seed}: {command:?} changed nothing");
            }
            check_invariants(&left);
        }
        assert_eq!(left, right, "seed {seed}");
    }
    // The generator must reach every answer the table can give, or this
    // test proves less than it claims.
    let every = [
        "Created",
        "LegConfirmed",
        "LegUpdated",
        "Ended",
        "Adopted",
        "HandoverRequested",
        "HandoverDecided",
        "BridgeSwapped",
        "HandoverAbandoned",
        "Purged",
        "Unchanged",
        "UnknownCall",
        "CallExists",
        "CallEnded",
        "LegAlreadyConfirmed",
        "LegNotConfirmed",
        "CSeqRegression",
        "HandoverPending",
        "UnknownHandover",
        "HandoverFinished",
        "HandoverAlreadyDecided",
        "HandoverNotApproved",
    ];
    for name in every {
        assert!(
            seen.contains(name),
            "random sequences never produced {name}: {seen:?}"
        );
    }
}

fn variant_name(result: &ApplyResult) -> String {
    let debug = match result {
        Ok(o) => format!("{o:?}"),
        Err(r) => format!("{r:?}"),
    };
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// What must hold after any sequence of commands.
fn check_invariants(table: &CallTable) {
    for record in table.calls.values() {
        if let Some(pending) = &record.pending_handover {
            // A pending attempt is undecided or approved, never swapped, and
            // its id is not also in the trail.
            assert!(pending.swapped_at_ms.is_none());
            assert!(pending.abandoned.is_none());
            assert!(matches!(
                pending.decided.as_ref().map(|d| d.decision),
                None | Some(HandoverDecision::Approved { .. })
            ));
            assert!(record.handovers.iter().all(|h| h.id != pending.id));
        }
        for done in &record.handovers {
            // Every finished attempt was decided or abandoned; swapped ones
            // approved; abandoned ones neither swapped nor refused.
            let decision = done.decided.as_ref().map(|d| d.decision);
            assert!(decision.is_some() || done.abandoned.is_some());
            if done.swapped_at_ms.is_some() {
                assert!(matches!(decision, Some(HandoverDecision::Approved { .. })));
                assert!(done.abandoned.is_none());
            }
            if done.abandoned.is_some() {
                assert!(matches!(
                    decision,
                    None | Some(HandoverDecision::Approved { .. })
                ));
            }
        }
        // Attempt ids are never reused within a call.
        let mut ids: Vec<_> = record.handovers.iter().map(|h| h.id).collect();
        ids.extend(record.pending_handover.as_ref().map(|p| p.id));
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
        assert!(record.listeners.len() <= record.handovers.len());
        if let Some(last) = record.anchor_history.last() {
            assert_eq!(last.to, record.anchor);
        }
    }
    for active in table.active_calls() {
        assert!(active.ended.is_none());
    }
}

#[test]
fn the_audit_trail_keeps_the_last_attempts_only() {
    let mut table = up_call();
    let attempts = AUDIT_TRAIL as u64 + 10;
    for n in 1..=attempts {
        let h = HandoverId(n);
        for command in [
            requested(A, h, LegRole::Caller),
            decided(A, h, HandoverDecision::Denied),
        ] {
            assert!(table.apply(&command).is_ok(), "{command:?}");
        }
    }
    let trail = &table.get(A).expect("the call").handovers;
    assert_eq!(trail.len(), AUDIT_TRAIL, "bounded whatever the devices do");
    assert_eq!(trail[0].id, HandoverId(attempts - AUDIT_TRAIL as u64 + 1));
    assert_eq!(
        trail[AUDIT_TRAIL - 1].id,
        HandoverId(attempts),
        "newest kept"
    );
}
