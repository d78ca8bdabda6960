//! Bad input against calls: each gets the right error or a silent drop, is
//! counted, and an established call is not hurt.

use super::{phone, start, T};
use baton_system_tests::ua::{Payload, RtpSend, RtpStream, Transport};
use baton_system_tests::{authorization, UdpAgent};
use sip_message::HeaderName;

/// INVITE alice → bob with `body` as SDP, answering the 407; returns the
/// final status.
fn invite_with_sdp(agent: &UdpAgent, body: &str, tag: &str) -> Option<u16> {
    invite_raw(agent, body, tag, "").and_then(|m| m.status())
}

/// The same with `extra` header lines (each ending in CRLF), returning the
/// final response (provisional ones are skipped).
pub(crate) fn invite_raw(
    agent: &UdpAgent,
    body: &str,
    tag: &str,
    extra: &str,
) -> Option<sip_message::Message> {
    let port = agent.local_addr().port();
    let request = |cseq: u32, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{tag}{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag={tag}\r\nTo: <sip:bob@example.test>\r\n\
             Call-ID: {tag}@test\r\nCSeq: {cseq} INVITE\r\nContact: <sip:alice@127.0.0.1:{port}>\r\n{extra}{auth}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let challenge = agent.request(request(1, None).as_bytes())?;
    assert_eq!(challenge.status(), Some(407));
    // The ACK for the 407 (same branch: part of the INVITE transaction).
    let to = challenge.header(&HeaderName::To)?.to_string();
    agent.send(
        format!(
            "ACK sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{tag}1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag={tag}\r\nTo: {to}\r\n\
             Call-ID: {tag}@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let offer = challenge
        .header(&HeaderName::ProxyAuthenticate)?
        .to_string();
    let auth = authorization(
        &offer,
        "INVITE",
        "sip:bob@example.test",
        "alice",
        "wonderland",
        1,
    );
    agent.send(request(2, Some(&auth)).as_bytes());
    let deadline = std::time::Instant::now() + 2 * T;
    loop {
        let m = agent.recv(deadline.saturating_duration_since(std::time::Instant::now()))?;
        if m.status().is_some_and(|s| s >= 200) {
            return Some(m);
        }
    }
}

pub(crate) const GOOD_SDP: &str = GOOD;

const GOOD: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

#[test]
fn hostile_offers_get_488_and_are_counted_while_a_call_goes_on() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    // An established call with audio flowing.
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let incoming = bob.wait_incoming(T).expect("rings");
    let offer = incoming.remote_sdp().expect("offer");
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    a_rtp.start_sending(RtpSend::new(
        a_call.remote_sdp().expect("sdp").rtp_addr(),
        7,
        Payload::Pattern(b'A'),
    ));
    assert!(b_rtp.wait_packets(10, T));

    let agent = UdpAgent::new(baton.udp);
    let cases = [
        ("garbage", "this is not SDP at all".to_string()),
        ("no-version", GOOD.replace("v=0\r\n", "")),
        ("port-zero", GOOD.replace("m=audio 40000", "m=audio 0")),
        (
            "broadcast",
            GOOD.replace("c=IN IP4 127.0.0.1", "c=IN IP4 255.255.255.255"),
        ),
        (
            "multicast",
            GOOD.replace("c=IN IP4 127.0.0.1", "c=IN IP4 224.0.0.1"),
        ),
        ("video-only", GOOD.replace("m=audio", "m=video")),
    ];
    for (i, (name, body)) in cases.iter().enumerate() {
        let status = invite_with_sdp(&agent, body, &format!("bad{i}x"));
        assert_eq!(status, Some(488), "{name}");
    }
    assert!(
        baton.wait_metric("baton_sdp_rejected_total", &[], cases.len() as f64)
            >= cases.len() as f64
    );
    // No INVITE reached bob, and the call is unhurt.
    assert!(
        bob.wait_incoming(std::time::Duration::from_millis(300))
            .is_err(),
        "nothing was forked"
    );
    let before = b_rtp.received_count();
    assert!(b_rtp.wait_more_packets(10, T), "audio still flows");
    assert!(b_rtp.received_count() > before);
    let _ = offer;
    a_rtp.stop();
    assert_eq!(a_call.bye().expect("bye"), 200);
    b_call.wait_bye(T).expect("hung up");
}

#[test]
fn rtp_from_an_unexpected_source_is_dropped_and_counted() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let (a_rtp, b_rtp, intruder) = (
        RtpStream::loopback(),
        RtpStream::loopback(),
        RtpStream::loopback(),
    );
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let incoming = bob.wait_incoming(T).expect("rings");
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    let relay_for_alice = a_call.remote_sdp().expect("sdp").rtp_addr();
    a_rtp.start_sending(RtpSend::new(relay_for_alice, 0xA, Payload::Pattern(b'A')));
    assert!(b_rtp.wait_packets(10, T), "alice's audio latched");
    // Someone else sprays the same relay port.
    intruder.start_sending(RtpSend::new(relay_for_alice, 0xBAD, Payload::Pattern(b'X')));
    assert!(
        baton.wait_metric(
            "baton_rtp_dropped_total",
            &["reason=\"unexpected_source\""],
            10.0
        ) >= 10.0
    );
    intruder.stop();
    assert_eq!(b_rtp.count_marker(b'X'), 0, "no intruder audio reached bob");
    assert_eq!(b_rtp.ssrcs(), vec![0xA]);
    a_rtp.stop();
    assert_eq!(b_call.bye().expect("bye"), 200);
    a_call.wait_bye(T).expect("hung up");
}

#[test]
fn requests_for_unknown_dialogs_get_481() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let port = agent.local_addr().port();
    for (i, method) in ["BYE", "INFO", "UPDATE", "INVITE"].iter().enumerate() {
        let request = format!(
            "{method} sip:baton@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKunk{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=f{i}\r\nTo: <sip:bob@example.test>;tag=nobody{i}\r\n\
             Call-ID: unknown-{i}@test\r\nCSeq: 5 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            agent.request(request.as_bytes()).and_then(|m| m.status()),
            Some(481),
            "{method}"
        );
    }
}
