//! Refused switch requests (contract §3), each answered with its code
//! after `100 Trying`, the call R<->A surviving every one of them.

use super::*;
use baton_system_tests::ua::{Codec, Sdp};

/// B's INVITE with these headers; its final status, after checking
/// that `100 Trying` came first.
fn refused(s: &Scene, from: &Phone, target: &str, headers: &[(HeaderName, String)]) -> u16 {
    let pull = from.call_with_headers(target, Some(s.b_rtp.sdp()), headers);
    let code = pull.wait_final(T).expect("a final response");
    let provisional = pull.provisional_statuses();
    assert_eq!(provisional.first(), Some(&100), "100 before any check");
    code
}

#[test]
fn every_refused_pull_gets_its_code_and_the_call_survives() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let replaces = |v: String| vec![(HeaderName::Replaces, v)];
    let d = s.a_call.dialog_id().expect("dialog");

    // Tags swapped (compared exactly): 481.
    let swapped = replaces_value(&d.call_id, &d.local_tag, &d.remote_tag, false);
    assert_eq!(
        refused(&s, &s.b, "sip:alice@example.test", &replaces(swapped)),
        481
    );
    // No such call: 481.
    let unknown = replaces_value("nope@nowhere", &d.remote_tag, &d.local_tag, false);
    assert_eq!(
        refused(&s, &s.b, "sip:alice@example.test", &replaces(unknown)),
        481
    );
    // early-only on a confirmed call: 486.
    let early = replaces_of(&s.a_call, true);
    assert_eq!(
        refused(&s, &s.b, "sip:alice@example.test", &replaces(early)),
        486
    );
    // Two Replaces headers: 400.
    let two = vec![
        (HeaderName::Replaces, s.replaces()),
        (HeaderName::Replaces, s.replaces()),
    ];
    assert_eq!(refused(&s, &s.b, "sip:alice@example.test", &two), 400);
    // A malformed one: 400.
    let bad = replaces(format!("{};to-tag={}", d.call_id, d.remote_tag));
    assert_eq!(refused(&s, &s.b, "sip:alice@example.test", &bad), 400);
    // Another user (bob's second device) naming alice's dialog: 403.
    let other = phone(&s.baton, "bob-2", "bob", "builder");
    assert_eq!(
        refused(&s, &other, "sip:bob@example.test", &replaces(s.replaces())),
        403
    );
    // Naming another user's dialog (R's side of the call, as bob sees
    // it) from alice's device: not alice's, so 403 or 481 — the dialog
    // Baton has with R is bob's.
    let r_d = s.r_call.dialog_id().expect("R's dialog");
    let bobs = replaces_value(&r_d.call_id, &r_d.remote_tag, &r_d.local_tag, false);
    assert_eq!(
        refused(&s, &s.b, "sip:alice@example.test", &replaces(bobs)),
        403,
        "bob's dialog named by alice"
    );
    // Not authenticated (a wrong password): the challenge stands.
    let intruder = Phone::new(
        "alice-intruder",
        "alice",
        "guess",
        "example.test",
        s.baton.udp,
        Transport::Udp,
    );
    assert_eq!(
        refused(
            &s,
            &intruder,
            "sip:alice@example.test",
            &replaces(s.replaces())
        ),
        407
    );
    // A pulling from itself: 403.
    assert_eq!(
        refused(&s, &s.a, "sip:alice@example.test", &replaces(s.replaces())),
        403
    );
    // No codec of B's offer matches the call's (PCMU): 488.
    let pcma_only = Sdp {
        codecs: vec![Codec::pcma()],
        ..s.b_rtp.sdp()
    };
    let pull = s.b.call_with_headers(
        "sip:alice@example.test",
        Some(pcma_only),
        &replaces(s.replaces()),
    );
    assert_eq!(pull.wait_final(T).expect("final"), 488);

    s.assert_a_keeps_call();
    s.assert_r_untouched(started);
    assert!(
        s.baton
            .wait_metric("baton_handovers_total", &["result=\"rejected\""], 9.0)
            >= 9.0
    );
}

#[test]
fn a_second_pull_while_one_is_pending_gets_486() {
    let s = Scene::new(start(""), true);
    let first = s.pull();
    let _ = s.asked();
    let c = phone(&s.baton, "alice-C", "alice", "wonderland");
    let second = c.call_with_headers(
        "sip:alice@example.test",
        Some(RtpStream::loopback().sdp()),
        &[(HeaderName::Replaces, s.replaces())],
    );
    assert_eq!(second.wait_final(T).expect("final"), 486);
    assert!(first.final_response().is_none(), "the first still waits");
}

#[test]
fn decisions_from_b_or_r_are_ignored() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    let grant = format!(r#"{{"handover":"{id}","decision":"grant"}}"#);
    // R's DTMF INFO is relayed to A like any INFO and its key to A like
    // any key; R's JSON decision is answered 481 (it has no pull pending).
    // None of them decides.
    assert_eq!(s.r_call.info(JSON, &grant).expect("answered"), 481);
    let _ = s.r_call.info("application/dtmf-relay", "Signal=1\r\n");
    s.r_rtp.send_dtmf('1').expect("R presses 1");
    std::thread::sleep(Duration::from_millis(500));
    assert!(pull.final_response().is_none(), "nothing decided by R");
    // B's decision, sent in its early dialog (the 180 has Baton's tag).
    let _ = pull.call().info_json(&grant);
    std::thread::sleep(Duration::from_millis(300));
    assert!(pull.final_response().is_none(), "nothing decided by B");
    assert_trying_then_ringing(&pull);
    // A still decides.
    assert_eq!(s.decide(&id, "deny"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 603);
    s.assert_a_keeps_call();
    let _ = started;
}

#[test]
fn malformed_json_decisions_get_400_and_never_cross_to_r() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    assert_eq!(s.a_call.info(JSON, "not json").expect("answered"), 400);
    assert_eq!(
        s.a_call
            .info(JSON, &format!(r#"{{"handover":"{id}"}}"#))
            .expect("answered"),
        400
    );
    assert_eq!(
        s.a_call
            .info(
                JSON,
                &format!(r#"{{"handover":"{id}","decision":"maybe"}}"#)
            )
            .expect("answered"),
        400
    );
    assert!(pull.final_response().is_none(), "nothing decided");
    assert!(
        s.r_call.infos(JSON).is_empty(),
        "Baton's content type never reaches R"
    );
    assert_eq!(s.decide(&id, "deny"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 603);
    s.assert_r_untouched(started);
}
