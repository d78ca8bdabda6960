//! Handover with a real phone: baresip 1.0 (Debian) as the new device B
//! pulling a call by the feature code, and as the device A granting a pull
//! with an RFC 4733 key. The project's test agent plays the other parties;
//! R (bob) must notice nothing: no SIP request, one SSRC, audio going on.

use super::have;
use baton_system_tests::ua::{Call, Payload, Phone, RtpSend, RtpStream};
use baton_system_tests::{Baresip, Baton};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
const JSON: &str = "application/vnd.baton.handover+json";
const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                     [[users]]\nname = \"bob\"\npassword = \"builder\"\n";
const A_SSRC: u32 = 0xA;
const B_SSRC: u32 = 0xB;
const R_SSRC: u32 = 0x5;
/// The first byte of every packet the agent's A and R send.
const A_MARK: u8 = 0xA1;
const R_MARK: u8 = 0x51;
const B_MARK: u8 = 0xB1;

/// A node for baresip 1.0 (MD5 only, see NOTES.md) with its own relay
/// ports, so that it does not compete with the other interop tests.
fn start(ports: &str) -> Baton {
    Baton::start(
        "example.test",
        "digest = [\"MD5\"]\n",
        &format!("[media]\nports = \"{ports}\"\n\n[handover]\n\n{USERS}"),
    )
}

fn phone(baton: &Baton, name: &str, user: &str, password: &str) -> Phone {
    Phone::registered(name, user, password, "example.test", baton.udp)
}

fn baresip_alice(baton: &Baton) -> Baresip {
    let phone =
        Baresip::start("alice", "wonderland", "example.test", baton.udp).expect("baresip starts");
    phone
        .wait_registered(T)
        .unwrap_or_else(|e| panic!("{e}: {}", phone.log_tail(30)));
    phone
}

/// R saw no SIP request since `since`.
fn assert_no_request_at_r(r_call: &Call, since: Instant) {
    let requests: Vec<String> = r_call
        .received_requests_since(since)
        .iter()
        .map(|m| m.method().map_or("?".into(), |m| m.to_string()))
        .collect();
    assert!(requests.is_empty(), "R received {requests:?}");
}

/// One SSRC and no sequence-number step other than 1 at R, across the swap.
fn assert_r_stream_unbroken(rtp: &RtpStream) {
    let ssrcs = rtp.ssrcs();
    assert_eq!(ssrcs.len(), 1, "R hears one SSRC: {ssrcs:x?}");
    assert_eq!(rtp.max_seq_gap(), Some(1), "R's sequence numbers run on");
}

/// The level and the dominant frequency (from zero crossings at 8 kHz) of
/// the G.711 audio R received after `since` that is not the agent's own
/// pattern: what a real phone's microphone (baresip's ausine) sounds like.
fn foreign_audio_at(rtp: &RtpStream, since: Instant) -> (usize, f64, f64) {
    let packets: Vec<_> = rtp
        .packets()
        .into_iter()
        .filter(|p| p.at >= since && p.payload_type == 0)
        .filter(|p| ![A_MARK, R_MARK, B_MARK].contains(&p.payload()[0]))
        .collect();
    let samples: Vec<i16> = packets
        .iter()
        .filter_map(|p| p.samples())
        .flatten()
        .collect();
    if samples.is_empty() {
        return (0, 0.0, 0.0);
    }
    let rms =
        (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 / 2.0 / (samples.len() as f64 / 8000.0);
    (packets.len(), rms, hz)
}

/// Acceptance: alice's second device, a real baresip, dials the feature
/// code `*11` while alice's device A (the agent) talks to bob (R). A is
/// asked, grants by JSON; baresip's call is established with its own
/// audio reaching R on R's unchanged stream; A is hung up with the Reason.
#[test]
fn baresip_as_b_pulls_the_call_by_the_feature_code() {
    if !have("baresip") {
        return;
    }
    let baton = start("52000-52999");
    let a = phone(&baton, "alice-A", "alice", "wonderland");
    let r = phone(&baton, "bob-R", "bob", "builder");
    let (a_rtp, r_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let out = a.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let r_call = r
        .wait_incoming(T)
        .expect("bob rings")
        .answer(Some(r_rtp.sdp()))
        .expect("bob answers");
    let a_call = out.wait_answer(T).expect("answered");
    a_rtp.start_sending(RtpSend::new(
        a_call.remote_sdp().expect("A's answer").rtp_addr(),
        A_SSRC,
        Payload::Pattern(A_MARK),
    ));
    let relay_to_r = r_call.remote_sdp().expect("R's offer").rtp_addr();
    r_rtp.start_sending(RtpSend::new(relay_to_r, R_SSRC, Payload::Pattern(R_MARK)));
    assert!(r_rtp.wait_packets(10, T), "R hears A before the pull");
    assert!(a_rtp.wait_packets(10, T), "A hears R before the pull");

    let b = baresip_alice(&baton);
    let started = Instant::now();
    b.dial("sip:*11@example.test").expect("dial *11");
    let info = a_call
        .wait_info(JSON, T)
        .unwrap_or_else(|e| panic!("{e}: baresip: {}", b.log_tail(40)));
    let body: serde_json::Value = serde_json::from_slice(&info.body).expect("JSON");
    let id = body["handover"].as_str().expect("a handover id");
    let ringing = b
        .wait_event("CALL_RINGING", T)
        .unwrap_or_else(|e| panic!("{e}: {}", b.log_tail(40)));
    assert!(
        ringing["peeruri"]
            .as_str()
            .is_some_and(|u| u.contains("*11@example.test")),
        "{ringing}"
    );
    assert_eq!(
        a_call
            .info_json(&format!(r#"{{"handover":"{id}","decision":"grant"}}"#))
            .expect("INFO answered"),
        200
    );
    b.wait_event("CALL_ESTABLISHED", T)
        .unwrap_or_else(|e| panic!("{e}: {}", b.log_tail(40)));
    let swapped = Instant::now();
    b.wait_event("CALL_RTPESTAB", T)
        .unwrap_or_else(|e| panic!("baresip hears R: {e}: {}", b.log_tail(40)));
    a_call.wait_bye(T).expect("A is hung up");
    let reason = a_call.bye_reason().unwrap_or_default();
    assert!(
        reason.contains("cause=200") && reason.contains("Call completed elsewhere"),
        "Reason: {reason:?}"
    );

    // R keeps hearing audio, now baresip's 440 Hz sine, from the relay.
    let deadline = Instant::now() + T;
    let (packets, rms, hz) = loop {
        let heard = foreign_audio_at(&r_rtp, swapped);
        if heard.0 >= 50 || Instant::now() >= deadline {
            break heard;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        packets >= 50,
        "R hears baresip: {packets} packets of its audio"
    );
    assert!(rms > 1000.0, "baresip's sine is audible at R: rms {rms:.0}");
    assert!(
        (380.0..=500.0).contains(&hz),
        "baresip's 440 Hz sine at R: {hz:.0} Hz"
    );
    let late = count_a_after(&r_rtp, swapped + Duration::from_millis(200));
    assert_eq!(late, 0, "A's audio no longer reaches R");
    assert!(r_rtp.wait_more_packets(25, T), "R's audio keeps arriving");
    assert_eq!(
        r_rtp.sources(),
        vec![relay_to_r],
        "R hears only the relay, from the address in its SDP"
    );
    assert_r_stream_unbroken(&r_rtp);
    assert_no_request_at_r(&r_call, started);

    // The moved call works end to end: baresip hangs up, R gets the BYE.
    b.hangup().expect("hangup");
    r_call.wait_bye(T).expect("R is hung up by baresip's BYE");
    b.wait_event("CALL_CLOSED", T)
        .expect("baresip's call closed");
    assert_eq!(
        baton.wait_metric("baton_handovers_total", &["result=\"granted\""], 1.0),
        1.0
    );
}

fn count_a_after(rtp: &RtpStream, after: Instant) -> usize {
    rtp.packets()
        .iter()
        .filter(|p| p.at >= after && p.payload().first() == Some(&A_MARK))
        .count()
}

/// Acceptance: a real baresip is alice's device A in a call with bob (R);
/// the agent's B dials `*11`; baresip grants with the key 1, sent by
/// `sndcode` as an RFC 4733 telephone event. B gets 200, baresip's call is
/// closed, R notices nothing.
#[test]
fn baresip_as_a_grants_with_an_rfc4733_key() {
    if !have("baresip") {
        return;
    }
    let baton = start("53000-53999");
    let r = phone(&baton, "bob-R", "bob", "builder");
    let a = baresip_alice(&baton);
    let r_rtp = RtpStream::loopback();
    let started_call = Instant::now();
    a.dial("sip:bob@example.test").expect("dial bob");
    let incoming = r.wait_incoming(T).expect("bob rings");
    let offer = incoming.remote_sdp().expect("baresip's offer, anchored");
    let r_call = incoming.answer(Some(r_rtp.sdp())).expect("bob answers");
    r_rtp.start_sending(RtpSend::new(
        offer.rtp_addr(),
        R_SSRC,
        Payload::Pattern(R_MARK),
    ));
    a.wait_event("CALL_ESTABLISHED", T)
        .unwrap_or_else(|e| panic!("{e}: {}", a.log_tail(40)));
    assert!(r_rtp.wait_packets(25, T), "R hears baresip before the pull");
    let (packets, rms, hz) = foreign_audio_at(&r_rtp, started_call);
    assert!(
        packets >= 20 && rms > 1000.0 && (380.0..=500.0).contains(&hz),
        "R hears baresip's 440 Hz sine: {packets} packets, rms {rms:.0}, {hz:.0} Hz"
    );

    let b = phone(&baton, "alice-B", "alice", "wonderland");
    let b_rtp = RtpStream::loopback();
    let started = Instant::now();
    let pull = b.call("sip:*11@example.test", Some(b_rtp.sdp()));
    pull.wait_provisional(180, T)
        .expect("B rings back: A is being asked");
    // The question reaches baresip (it answers the INFO 488: baresip 1.0
    // takes only application/dtmf-relay INFOs); its user presses 1.
    a.wait_log("Content-Type: application/vnd.baton.handover+json", T)
        .unwrap_or_else(|e| panic!("{e}: {}", a.log_tail(40)));
    a.send_dtmf("1")
        .unwrap_or_else(|e| panic!("{e}: {}", a.log_tail(40)));
    let b_call = pull
        .wait_answer(T)
        .unwrap_or_else(|e| panic!("{e}: baresip: {}", a.log_tail(60)));
    b_rtp.start_sending(RtpSend::new(
        b_call.remote_sdp().expect("Baton's answer").rtp_addr(),
        B_SSRC,
        Payload::Pattern(B_MARK),
    ));
    let closed = a
        .wait_event("CALL_CLOSED", T)
        .unwrap_or_else(|e| panic!("{e}: {}", a.log_tail(40)));
    assert!(
        closed["param"]
            .as_str()
            .is_some_and(|p| p.contains("reset by peer")),
        "baresip was hung up by Baton: {closed}"
    );
    let before = r_rtp.count_marker(B_MARK);
    assert!(r_rtp.wait_more_packets(25, T), "R's audio keeps arriving");
    assert!(r_rtp.count_marker(B_MARK) > before, "R hears B");
    assert!(b_rtp.wait_more_packets(10, T), "B hears R");
    assert!(b_rtp.count_marker(R_MARK) > 0, "B hears R's audio");
    let events: Vec<String> = r_rtp
        .packets()
        .iter()
        .filter(|p| p.payload_type == 101)
        .map(|p| {
            format!(
                "seq {} ts {} ssrc {:x} payload {:x?} at {:?}",
                p.seq,
                p.timestamp,
                p.ssrc,
                p.payload(),
                p.at.duration_since(started)
            )
        })
        .collect();
    assert!(
        events.is_empty(),
        "the decision key never reaches R: {events:#?}; baresip: {}",
        a.log_tail(80)
    );
    assert_r_stream_unbroken(&r_rtp);
    assert_no_request_at_r(&r_call, started);
    // The grant came in the RTP stream: baresip sent no INFO (its trace).
    assert!(
        !a.log().contains("INFO sip:baton@"),
        "baresip decided by INFO: {}",
        a.log_tail(60)
    );
    assert_eq!(b_call.bye().expect("B hangs up"), 200);
    r_call.wait_bye(T).expect("R is hung up by B's BYE");
    assert_eq!(
        baton.wait_metric("baton_handovers_total", &["result=\"granted\""], 1.0),
        1.0
    );
}
