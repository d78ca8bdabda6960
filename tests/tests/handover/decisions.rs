//! Every decision method of the contract (§4): RFC 4733 keys, INFO
//! `application/dtmf-relay`, INFO `application/dtmf`, JSON — and keys
//! other than 1, 2, 3 passing through while a pull is pending.

use super::*;

const TE: u8 = 101;

/// Telephone events R received with this event code.
fn events_at(rtp: &RtpStream, code: u8) -> usize {
    rtp.packets()
        .iter()
        .filter(|p| p.payload_type == TE && p.payload().first() == Some(&code))
        .count()
}

#[test]
fn an_rfc4733_key_1_grants_and_r_never_hears_the_key() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    s.a_rtp.send_dtmf('1').expect("A presses 1");
    let (_b_call, _) = s.answered(&pull);
    s.a_call.wait_bye(T).expect("A is hung up");
    assert!(s
        .a_call
        .bye_reason()
        .is_some_and(|r| r.contains("Call completed elsewhere")));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        events_at(&s.r_rtp, 1),
        0,
        "the decision key never reaches R"
    );
    s.assert_r_untouched(started);
}

#[test]
fn an_rfc4733_key_2_denies_and_other_keys_still_reach_r() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    // Not a decision key: passes through to R as usual.
    s.a_rtp.send_dtmf('5').expect("A presses 5");
    std::thread::sleep(Duration::from_millis(300));
    assert!(events_at(&s.r_rtp, 5) > 0, "key 5 reaches R while pending");
    assert!(pull.final_response().is_none(), "5 decides nothing");
    s.a_rtp.send_dtmf('2').expect("A presses 2");
    assert_eq!(pull.wait_final(T).expect("final"), 603);
    assert_eq!(
        events_at(&s.r_rtp, 2),
        0,
        "the decision key never reaches R"
    );
    s.assert_a_keeps_call();
    s.assert_r_untouched(started);
}

#[test]
fn an_info_dtmf_relay_signal_1_grants() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    assert_eq!(
        s.a_call
            .info("application/dtmf-relay", "Signal=1\r\nDuration=160\r\n")
            .expect("INFO"),
        200
    );
    let (_b, _) = s.answered(&pull);
    s.a_call.wait_bye(T).expect("A is hung up");
    assert!(
        s.r_call.dtmf_info_received().is_empty(),
        "the decision INFO never reaches R"
    );
    s.assert_r_untouched(started);
}

#[test]
fn an_info_dtmf_2_denies() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    assert_eq!(s.a_call.info("application/dtmf", "2").expect("INFO"), 200);
    assert_eq!(pull.wait_final(T).expect("final"), 603);
    s.assert_a_keeps_call();
    s.assert_r_untouched(started);
}

#[test]
fn key_3_grants_with_monitor_a_hears_the_mix_and_can_hang_up_alone() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let _ = s.asked();
    s.a_rtp.send_dtmf('3').expect("A presses 3");
    let b_call = pull.wait_answer(T).expect("B gets 200");
    s.b_rtp
        .only_from(b_call.remote_sdp().expect("sdp").rtp_addr());
    // Levels the mix can be checked by: R at 1000, B at 2000.
    s.r_rtp.start_sending(RtpSend::new(
        s.r_call.remote_sdp().expect("sdp").rtp_addr(),
        R_SSRC,
        Payload::ConstantUlaw(1000),
    ));
    s.b_rtp.start_sending(RtpSend::new(
        b_call.remote_sdp().expect("sdp").rtp_addr(),
        B_SSRC,
        Payload::ConstantUlaw(2000),
    ));
    assert!(
        s.a_call.wait_bye(Duration::from_millis(500)).is_err(),
        "a listener is not hung up"
    );
    std::thread::sleep(Duration::from_millis(400));
    let since = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    let mixed: Vec<i16> = s
        .a_rtp
        .packets()
        .iter()
        .filter(|p| p.at >= since)
        .filter_map(|p| p.samples())
        .flatten()
        .collect();
    assert!(
        mixed.len() >= 160 * 10,
        "A hears audio: {} samples",
        mixed.len()
    );
    let near = |x: i16, want: i16| (i32::from(x) - i32::from(want)).abs() <= 200;
    let mix_share = mixed.iter().filter(|x| near(**x, 3000)).count() as f64 / mixed.len() as f64;
    assert!(
        mix_share > 0.8,
        "A hears R+B (3000) in {:.0} % of its samples",
        mix_share * 100.0
    );
    // A's own audio goes nowhere.
    let from_a = count_from(&s.r_rtp, 0xA1) + count_from(&s.b_rtp, 0xA1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        count_from(&s.r_rtp, 0xA1) + count_from(&s.b_rtp, 0xA1),
        from_a,
        "a listener's audio is dropped"
    );
    // The listener hangs up; R and B carry on.
    assert_eq!(s.a_call.bye().expect("A hangs up"), 200);
    assert!(s.r_rtp.wait_more_packets(10, T), "R still hears B");
    assert!(s.b_rtp.wait_more_packets(10, T), "B still hears R");
    assert!(b_call.wait_bye(Duration::from_millis(300)).is_err());
    s.assert_r_untouched(started);
    assert_eq!(
        s.baton.wait_metric(
            "baton_handovers_total",
            &["result=\"granted_monitor\""],
            1.0
        ),
        1.0
    );
}

#[test]
fn a_listener_can_pull_the_call_back_later() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    assert_eq!(s.decide(&id, "grant-monitor"), 200);
    let (b_call, _) = s.answered(&pull);
    assert!(s.a_call.wait_bye(Duration::from_millis(300)).is_err());
    // A (listening) takes the call back with the feature code; B decides.
    let back_rtp = RtpStream::loopback();
    let back = s.a.call("sip:*11@example.test", Some(back_rtp.sdp()));
    grant_when_asked(&b_call);
    let a_again = back.wait_answer(T).expect("A has the call again");
    back_rtp.start_sending(RtpSend::new(
        a_again.remote_sdp().expect("sdp").rtp_addr(),
        0xA3,
        Payload::Pattern(0xA3),
    ));
    b_call.wait_bye(T).expect("B is hung up");
    s.a_call.wait_bye(T).expect("the listening dialog ends");
    assert!(back_rtp.wait_packets(10, T), "A hears R again");
    let before = count_from(&s.r_rtp, 0xA3);
    assert!(s.r_rtp.wait_more_packets(10, T));
    assert!(count_from(&s.r_rtp, 0xA3) > before, "R hears A again");
    s.assert_r_untouched(started);
}

#[test]
fn a_prompt_tone_is_heard_by_a_while_it_is_asked_and_stops() {
    let s = Scene::new(start(""), true);
    // R sends digital silence, so anything A hears is Baton's prompt.
    s.r_rtp.start_sending(RtpSend::new(
        s.r_call.remote_sdp().expect("sdp").rtp_addr(),
        R_SSRC,
        Payload::ConstantUlaw(0),
    ));
    std::thread::sleep(Duration::from_millis(200));
    let quiet_from = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let quiet = s.a_rtp.rms_since(quiet_from).expect("A hears R");
    assert!(quiet < 50.0, "silence before the pull: rms {quiet}");
    let pull = s.pull();
    let _ = s.asked();
    let asked_at = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let prompt = s.a_rtp.rms_since(asked_at).expect("A hears audio");
    assert!(prompt > 1000.0, "the prompt tone at A: rms {prompt}");
    // The prompt ends (1.5 s) while A still has not decided.
    std::thread::sleep(Duration::from_millis(1300));
    let after_from = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let after = s.a_rtp.rms_since(after_from).expect("A hears R");
    assert!(after < 50.0, "the prompt stopped: rms {after}");
    let _ = pull.cancel();
}

#[test]
fn without_monitoring_allowed_a_3_is_a_plain_grant() {
    let s = Scene::new(start("monitor_allowed = false"), true);
    let pull = s.pull();
    let id = s.asked();
    assert_eq!(s.decide(&id, "grant-monitor"), 200);
    let _ = s.answered(&pull);
    s.a_call
        .wait_bye(T)
        .expect("A is hung up: no listening allowed");
    assert_eq!(
        s.baton
            .wait_metric("baton_handovers_total", &["result=\"granted\""], 1.0),
        1.0
    );
}
