//! Chains and variety: A→B→A→C on one call, and many pulls at once on
//! different calls.

use super::*;

#[test]
fn a_call_moves_a_to_b_to_a_to_c_and_r_hears_one_stream_throughout() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    // A → B.
    let b_call = granted_pull(&s, s.pull(), started);
    // B → A (A again, as a new dialog), naming B's dialog.
    let a2_rtp = RtpStream::loopback();
    let back = s.a.call_with_headers(
        "sip:alice@example.test",
        Some(a2_rtp.sdp()),
        &[(HeaderName::Replaces, replaces_of(&b_call, false))],
    );
    grant_when_asked(&b_call);
    let a2_call = back.wait_answer(T).expect("A has the call back");
    a2_rtp.start_sending(RtpSend::new(
        a2_call.remote_sdp().expect("sdp").rtp_addr(),
        0xA2,
        Payload::Pattern(0xA2),
    ));
    b_call.wait_bye(T).expect("B is hung up");
    assert!(a2_rtp.wait_packets(10, T), "A hears R again");
    // A → C.
    let c = phone(&s.baton, "alice-C", "alice", "wonderland");
    let c_rtp = RtpStream::loopback();
    let to_c = c.call("sip:*11@example.test", Some(c_rtp.sdp()));
    grant_when_asked(&a2_call);
    let c_call = to_c.wait_answer(T).expect("C has the call");
    c_rtp.start_sending(RtpSend::new(
        c_call.remote_sdp().expect("sdp").rtp_addr(),
        0xC,
        Payload::Pattern(0xC1),
    ));
    a2_call.wait_bye(T).expect("A is hung up again");
    assert!(c_rtp.wait_packets(10, T), "C hears R");
    let before = count_from(&s.r_rtp, 0xC1);
    assert!(s.r_rtp.wait_more_packets(10, T));
    assert!(count_from(&s.r_rtp, 0xC1) > before, "R hears C");
    s.assert_r_untouched(started);
    assert_eq!(
        s.baton
            .wait_metric("baton_handovers_total", &["result=\"granted\""], 3.0),
        3.0
    );
    // The audit trail names the side that moved each time: the caller's.
    let (_, body) = s.baton.http_get("/calls");
    let calls: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let trail = calls
        .as_array()
        .and_then(|a| a.iter().find_map(|c| c["handovers"].as_array().cloned()))
        .unwrap_or_default();
    assert_eq!(trail.len(), 3, "{body}");
    assert!(trail.iter().all(|h| h["leg"] == "caller"), "{body}");
}

#[test]
fn many_pulls_at_once_on_different_calls_all_land() {
    const N: usize = 6;
    let mut users = String::new();
    for i in 0..N {
        users.push_str(&format!(
            "[[users]]\nname = \"u{i}\"\npassword = \"p{i}\"\n\n[[users]]\nname = \"r{i}\"\npassword = \"q{i}\"\n\n"
        ));
    }
    let baton = Baton::start(
        "example.test",
        "",
        &format!("[media]\nports = \"{}\"\n\n{users}", media_ports()),
    );
    let reg = |name: &str, user: &str, pw: &str| {
        let p = Phone::new(name, user, pw, "example.test", baton.udp, Transport::Udp);
        assert_eq!(p.register(600).expect("register").status(), Some(200));
        p
    };
    let mut calls = Vec::new();
    for i in 0..N {
        let a = reg(&format!("u{i}-A"), &format!("u{i}"), &format!("p{i}"));
        let b = reg(&format!("u{i}-B"), &format!("u{i}"), &format!("p{i}"));
        let r = reg(&format!("r{i}"), &format!("r{i}"), &format!("q{i}"));
        let out = a.call(
            &format!("sip:r{i}@example.test"),
            Some(RtpStream::loopback().sdp()),
        );
        let r_call = r
            .wait_incoming(T)
            .expect("rings")
            .answer(Some(RtpStream::loopback().sdp()))
            .expect("answers");
        let a_call = out.wait_answer(T).expect("answered");
        calls.push((a, b, r, a_call, r_call));
    }
    let started = Instant::now();
    let pulls: Vec<OutgoingCall> = calls
        .iter()
        .map(|(_, b, _, a_call, _)| {
            b.call_with_headers(
                "sip:x@example.test",
                Some(RtpStream::loopback().sdp()),
                &[(HeaderName::Replaces, replaces_of(a_call, false))],
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for (_, _, _, a_call, _) in &calls {
            scope.spawn(move || {
                grant_when_asked(a_call);
            });
        }
    });
    for (pull, (_, _, _, a_call, r_call)) in pulls.iter().zip(&calls) {
        pull.wait_answer(T).expect("every B gets its call");
        a_call.wait_bye(T).expect("every A is hung up");
        assert!(r_call.received_requests_since(started).is_empty());
    }
}

#[test]
fn a_pull_without_sdp_gets_baton_s_offer_in_the_200_and_answers_in_the_ack() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.b.call_late_offer_with_headers(
        "sip:alice@example.test",
        s.b_rtp.sdp(),
        &[(HeaderName::Replaces, s.replaces())],
    );
    let id = s.asked();
    assert_eq!(s.decide(&id, "grant"), 200);
    let b_call = pull.wait_answer(T).expect("B gets 200 with an offer");
    let offer = b_call.remote_sdp().expect("Baton's offer in the 200");
    assert_ne!(
        offer.rtp_addr(),
        s.r_rtp.local_addr(),
        "anchored at the relay"
    );
    s.b_rtp.only_from(offer.rtp_addr());
    s.b_rtp.start_sending(RtpSend::new(
        offer.rtp_addr(),
        B_SSRC,
        Payload::Pattern(0xB1),
    ));
    s.a_call.wait_bye(T).expect("A is hung up");
    assert!(s.b_rtp.wait_more_packets(10, T), "B hears R");
    let before = count_from(&s.r_rtp, 0xB1);
    assert!(s.r_rtp.wait_more_packets(10, T));
    assert!(
        count_from(&s.r_rtp, 0xB1) > before,
        "R hears B (its answer came in the ACK)"
    );
    s.assert_r_untouched(started);
}

#[test]
fn the_feature_code_skips_a_call_on_hold() {
    let baton = start("");
    let a1 = phone(&baton, "alice-A1", "alice", "wonderland");
    let a2 = phone(&baton, "alice-A2", "alice", "wonderland");
    let bob = phone(&baton, "bob", "bob", "builder");
    let carol = phone(&baton, "carol", "carol", "cheshire");
    // The older call: alice (A1) with bob.
    let out = a1.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    bob.wait_incoming(T)
        .expect("bob rings")
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("answers");
    let a1_call = out.wait_answer(T).expect("answered");
    // The newer one: alice (A2) with carol, then put on hold.
    let out = a2.call("sip:carol@example.test", Some(RtpStream::loopback().sdp()));
    carol
        .wait_incoming(T)
        .expect("carol rings")
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("answers");
    let a2_call = out.wait_answer(T).expect("answered");
    assert_eq!(a2_call.hold().expect("hold"), 200);
    // The feature code takes the latest call not on hold: bob's.
    let b = phone(&baton, "alice-B", "alice", "wonderland");
    let pull = b.call("sip:*11@example.test", Some(RtpStream::loopback().sdp()));
    a1_call
        .wait_info(JSON, T)
        .expect("A1 (bob's call) is asked");
    assert!(
        a2_call.infos(JSON).is_empty(),
        "the held call is not pulled"
    );
    let _ = pull.cancel();
    // Resumed, the call with carol is the latest again.
    assert_eq!(a2_call.resume().expect("resume"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 487);
    let pull = b.call("sip:*11@example.test", Some(RtpStream::loopback().sdp()));
    a2_call
        .wait_info(JSON, T)
        .expect("A2 (carol's call) is asked now");
    let _ = pull.cancel();
}
