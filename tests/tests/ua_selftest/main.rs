//! The test agent tested on its own: two phones call each other directly on
//! loopback (each one's server is the other), so every behaviour the
//! end-to-end tests rely on is proven before Baton sits in the middle. One
//! test registers against a real node.

use baton_system_tests::ua::{ladder, Direction};
use baton_system_tests::{
    Baton, Call, CallStatus, MediaDirection, Payload, Phone, ReinviteAnswer, RtpSend, RtpStream,
    Transport, UdpAgent, REPLY_TIMEOUT,
};
use sip_auth::Algorithm;
use sip_message::{HeaderName, Message, Method};
use std::time::{Duration, Instant};

mod handover_support;

const T: Duration = REPLY_TIMEOUT;

/// Two phones pointed at each other.
fn pair(transport: Transport) -> (Phone, Phone) {
    let placeholder = "127.0.0.1:9".parse().expect("addr");
    let a = Phone::new("A", "alice", "pw", "example.test", placeholder, transport);
    let b = Phone::new("B", "bob", "pw", "example.test", placeholder, transport);
    a.set_server(b.local_addr());
    b.set_server(a.local_addr());
    (a, b)
}

/// A calls B with RTP streams on both sides; B rings then answers.
fn establish(a: &Phone, b: &Phone, rtp_a: &RtpStream, rtp_b: &RtpStream) -> (Call, Call) {
    let out = a.call(&b.contact_uri(), Some(rtp_a.sdp()));
    let inc = b.wait_incoming(T).expect("B sees the INVITE");
    assert_eq!(inc.remote_sdp(), Some(rtp_a.sdp()), "A's offer as sent");
    inc.ring().expect("180");
    out.wait_provisional(180, T).expect("A sees 180");
    let b_call = inc.answer(Some(rtp_b.sdp())).expect("200, then ACK");
    let a_call = out.wait_answer(T).expect("A sees 200");
    assert_eq!(a_call.status(), CallStatus::Established);
    assert_eq!(b_call.status(), CallStatus::Established);
    (a_call, b_call)
}

/// What a phone sent or received, one label per message (`INVITE`,
/// `180 INVITE`), retransmissions folded.
fn labels(phone: &Phone, direction: Direction) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in phone.log().iter().filter(|e| e.direction == direction) {
        let label = match Message::parse(e.text.as_bytes()) {
            Ok(m) if m.is_request() => m.method().map(ToString::to_string).unwrap_or_default(),
            Ok(m) => format!(
                "{} {}",
                m.status().unwrap_or(0),
                m.cseq().map(|c| c.method.to_string()).unwrap_or_default()
            ),
            Err(_) => e.first_line.clone(),
        };
        if out.last() != Some(&label) {
            out.push(label);
        }
    }
    out
}

#[test]
fn a_direct_call_rings_answers_acks_carries_rtp_both_ways_and_ends_with_bye() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    assert_eq!(a_call.remote_sdp(), Some(rtp_b.sdp()));
    assert_eq!(b_call.remote_sdp(), Some(rtp_a.sdp()));
    assert_eq!(
        a_call.dialog_id().map(|d| d.call_id),
        Some(b_call.call_id())
    );

    rtp_a.start_sending(RtpSend::new(
        a_call.remote_sdp().expect("sdp").rtp_addr(),
        0xa1a1_a1a1,
        Payload::Pattern(b'A'),
    ));
    rtp_b.start_sending(RtpSend::new(
        b_call.remote_sdp().expect("sdp").rtp_addr(),
        0xb2b2_b2b2,
        Payload::Pattern(b'B'),
    ));
    let started = Instant::now();
    assert!(rtp_b.wait_packets(15, T), "B hears A");
    assert!(rtp_a.wait_packets(15, T), "A hears B");
    rtp_a.stop();
    rtp_b.stop();
    assert!(rtp_b.payloads_match(b'A') && rtp_a.payloads_match(b'B'));
    assert_eq!(rtp_b.ssrcs(), [0xa1a1_a1a1]);
    assert_eq!(rtp_a.ssrcs(), [0xb2b2_b2b2]);
    assert_eq!(rtp_b.sources(), [rtp_a.local_addr()], "symmetric RTP");
    assert_eq!(rtp_b.max_seq_gap(), Some(1));
    assert!(rtp_b.first_arrival_after(started).is_some());
    assert!(rtp_b.max_arrival_gap().expect("gaps") < Duration::from_millis(500));
    let packets = rtp_b.packets();
    assert!(packets[0].marker && !packets[1].marker);
    assert_eq!(packets[1].timestamp.wrapping_sub(packets[0].timestamp), 160);

    assert_eq!(a_call.bye().expect("BYE answered"), 200);
    b_call.wait_bye(T).expect("B got the BYE");
    assert_eq!(b_call.status(), CallStatus::Terminated);
    assert_eq!(a_call.status(), CallStatus::Terminated);

    let b_methods: Vec<Method> = b_call
        .received_requests()
        .iter()
        .filter_map(|m| m.method().cloned())
        .collect();
    assert_eq!(b_methods, [Method::INVITE, Method::ACK, Method::BYE]);
    assert_eq!(
        labels(&a, Direction::Sent),
        ["INVITE", "ACK", "BYE"],
        "{}",
        a.ladder()
    );
    assert_eq!(
        labels(&b, Direction::Sent),
        ["180 INVITE", "200 INVITE", "200 BYE"],
        "{}",
        b.ladder()
    );
    let merged = ladder(&[a.log(), b.log()]);
    assert!(
        merged.contains("  A -> ") && merged.contains("  B <- "),
        "{merged}"
    );
}

#[test]
fn the_callee_hangs_up() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    let before = Instant::now();
    assert_eq!(b_call.bye().expect("BYE answered"), 200);
    a_call.wait_bye(T).expect("A got the BYE");
    let bye = a_call.received_requests_since(before);
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].method(), Some(&Method::BYE));
    // The UAS's BYE is built from its dialog: the caller's tags swapped.
    assert_eq!(bye[0].to_tag(), a_call.dialog_id().map(|d| d.local_tag));
    assert_eq!(a.received_requests_since(before).len(), 1);
}

#[test]
fn hold_and_resume_by_reinvite_from_either_side() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);

    assert_eq!(a_call.hold().expect("re-INVITE answered"), 200);
    assert_eq!(
        a_call.local_sdp().map(|s| s.direction),
        Some(MediaDirection::SendOnly)
    );
    assert_eq!(
        a_call.remote_sdp().map(|s| s.direction),
        Some(MediaDirection::RecvOnly),
        "B answered sendonly with recvonly"
    );
    assert!(b_call.remote_sdp().expect("offer").is_hold());
    let reinvite = b_call
        .wait_request(Method::INVITE, T)
        .expect("the initial INVITE");
    assert!(reinvite.to_tag().is_none());
    let reinvite = b_call.wait_request(Method::INVITE, T).expect("re-INVITE");
    assert!(reinvite.to_tag().is_some());
    assert_eq!(reinvite.cseq().map(|c| c.seq), Some(2));
    b_call.wait_request(Method::ACK, T).expect("first ACK");
    b_call
        .wait_request(Method::ACK, T)
        .expect("ACK of the re-INVITE");

    assert_eq!(a_call.resume().expect("resumed"), 200);
    assert_eq!(
        b_call.local_sdp().map(|s| s.direction),
        Some(MediaDirection::SendRecv)
    );

    // B, the callee, holds A the same way: recvonly this time.
    let offer = b_call
        .local_sdp()
        .expect("sdp")
        .with_direction(MediaDirection::RecvOnly);
    assert_eq!(b_call.reinvite(offer).expect("answered"), 200);
    assert_eq!(
        a_call.local_sdp().map(|s| s.direction),
        Some(MediaDirection::SendOnly)
    );
    assert_eq!(
        a_call.remote_sdp().map(|s| s.direction),
        Some(MediaDirection::RecvOnly)
    );

    // Each new description raised the origin version (RFC 3264 §8).
    let versions: Vec<String> = a
        .log()
        .iter()
        .filter(|e| e.direction == Direction::Sent)
        .filter_map(|e| {
            e.text
                .lines()
                .find(|l| l.starts_with("o="))
                .map(str::to_string)
        })
        .collect();
    let numbers: Vec<u64> = versions
        .iter()
        .filter_map(|o| o.split(' ').nth(2)?.parse().ok())
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] >= w[0]), "{versions:?}");
    assert!(numbers.last() > numbers.first(), "{versions:?}");
}

#[test]
fn a_refused_reinvite_keeps_the_previous_session() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    b_call.set_reinvite_answer(ReinviteAnswer::Reject(488));
    assert_eq!(a_call.hold().expect("answered"), 488);
    assert_eq!(
        a_call.local_sdp().map(|s| s.direction),
        Some(MediaDirection::SendRecv)
    );
    assert_eq!(a_call.status(), CallStatus::Established);
    // The failure was ACKed inside its transaction (same branch).
    b_call.wait_request(Method::ACK, T).expect("ACK of the 200");
    let ack = b_call.wait_request(Method::ACK, T).expect("ACK of the 488");
    let reinvite = b_call
        .received_requests()
        .into_iter()
        .rfind(|m| m.method() == Some(&Method::INVITE))
        .expect("re-INVITE");
    assert_eq!(
        ack.top_via().and_then(|v| v.branch().map(str::to_string)),
        reinvite
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
    );
    assert_eq!(a_call.bye().expect("still up"), 200);
}

#[test]
fn info_is_answered_and_dtmf_relay_is_read() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    assert_eq!(
        a_call
            .info("application/x-test", "hello")
            .expect("answered"),
        200
    );
    let info = b_call.wait_request(Method::INFO, T).expect("INFO");
    assert_eq!(&info.body[..], b"hello");
    assert_eq!(a_call.info_dtmf('7').expect("answered"), 200);
    assert_eq!(b_call.info_dtmf('#').expect("answered"), 200);
    assert_eq!(b_call.dtmf_info_received(), ['7']);
    assert_eq!(a_call.dtmf_info_received(), ['#']);
    b_call.set_answer_code(Method::INFO, 415);
    assert_eq!(
        a_call
            .info("application/x-test", "again")
            .expect("answered"),
        415
    );
}

#[test]
fn cancel_before_answer_ends_in_487_on_both_sides() {
    let (a, b) = pair(Transport::Udp);
    let out = a.call(&b.contact_uri(), None);
    let inc = b.wait_incoming(T).expect("INVITE");
    inc.ring().expect("180");
    assert_eq!(out.cancel().expect("CANCEL answered"), 200);
    assert_eq!(out.wait_final(T).expect("final"), 487);
    inc.wait_cancelled(T).expect("B saw the CANCEL");
    assert_eq!(inc.status(), CallStatus::Failed(487));
    assert!(inc.answer(None).is_err(), "too late to answer");
    // B gets the ACK of its 487, in the INVITE's transaction.
    let ack = inc.call().wait_request(Method::ACK, T).expect("ACK");
    assert_eq!(ack.top_via(), inc.request().top_via());
    assert_eq!(labels(&a, Direction::Sent), ["INVITE", "CANCEL", "ACK"]);
    // A retransmitted INVITE (a slow machine) gets the 180 again.
    let provisional = out.provisional_statuses();
    assert!(
        !provisional.is_empty() && provisional.iter().all(|c| *c == 180),
        "{provisional:?}"
    );
}

#[test]
fn a_busy_callee_rejects_with_486() {
    let (a, b) = pair(Transport::Udp);
    let out = a.call(&b.contact_uri(), None);
    let inc = b.wait_incoming(T).expect("INVITE");
    inc.reject(486).expect("486 ACKed");
    assert_eq!(out.wait_final(T).expect("final"), 486);
    assert!(matches!(
        out.wait_answer(T),
        Err(baton_system_tests::UaError::Failed(486))
    ));
    assert_eq!(out.status(), CallStatus::Failed(486));
}

#[test]
fn rfc4733_digits_arrive_as_digits_in_the_audio_stream() {
    let (a, b) = pair(Transport::Udp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, _b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    let sdp = a_call.remote_sdp().expect("sdp");
    let te = sdp.payload_type_of("telephone-event").expect("offered");
    rtp_a.start_sending(RtpSend::new(sdp.rtp_addr(), 0x0d7f, Payload::Silence).telephone_event(te));
    assert!(rtp_b.wait_packets(3, T));
    rtp_a.send_dtmf('5').expect("sent");
    rtp_a.send_dtmf('#').expect("sent");
    assert_eq!(rtp_b.wait_dtmf(2, T), ['5', '#']);
    rtp_a.stop();

    let events: Vec<_> = rtp_b
        .packets()
        .into_iter()
        .filter(|p| p.payload_type == te)
        .collect();
    let five: Vec<_> = events
        .iter()
        .filter(|p| p.telephone_event().map(|e| e.0) == Some(5))
        .collect();
    assert!(five[0].marker && five[1..].iter().all(|p| !p.marker));
    assert!(five.iter().all(|p| p.timestamp == five[0].timestamp));
    let ends = five
        .iter()
        .filter(|p| p.telephone_event().is_some_and(|e| e.1))
        .count();
    assert_eq!(ends, 3, "the end packet three times");
    assert_eq!(rtp_b.ssrcs(), [0x0d7f], "one stream for audio and events");
    assert_eq!(rtp_b.max_seq_gap(), Some(1));
}

#[test]
fn requests_and_2xx_are_retransmitted_until_answered() {
    // A's INVITE goes to a raw socket that answers nothing at first.
    let a = Phone::new(
        "A",
        "alice",
        "pw",
        "example.test",
        "127.0.0.1:9".parse().expect("addr"),
        Transport::Udp,
    );
    let silent = UdpAgent::new(a.local_addr());
    a.set_server(silent.local_addr());
    let out = a.call("sip:bob@127.0.0.1", None);
    let first = silent.recv(T).expect("INVITE");
    let again = silent
        .recv(Duration::from_millis(800))
        .expect("retransmission");
    assert_eq!(first.top_via(), again.top_via(), "same transaction");
    let ringing = sip_message::ResponseBuilder::to_request(&first, 180)
        .to_tag("x1")
        .build();
    silent.send(&ringing.to_bytes());
    out.wait_provisional(180, T).expect("180");
    while silent.recv(Duration::from_millis(50)).is_some() {}
    assert!(
        silent.recv(Duration::from_millis(700)).is_none(),
        "a provisional stops the retransmissions"
    );

    // B's 200 is repeated until an ACK arrives.
    let b = Phone::new(
        "B",
        "bob",
        "pw",
        "example.test",
        "127.0.0.1:9".parse().expect("addr"),
        Transport::Udp,
    );
    let caller = UdpAgent::new(b.local_addr());
    let port = caller.local_addr().port();
    caller.send(
        format!(
            "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKraw1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: raw-1\r\nCSeq: 1 INVITE\r\nContact: <sip:raw@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let inc = b.wait_incoming(T).expect("INVITE");
    let b_call = inc.answer_no_wait(None).expect("200 sent");
    let ok = caller.recv(T).expect("200");
    let ok_again = caller.recv(Duration::from_millis(800)).expect("200 again");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok_again.to_tag(), ok.to_tag());
    let tag = ok.to_tag().expect("tag");
    caller.send(
        format!(
            "ACK sip:bob@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKraw2\r\n\
             Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>;tag={tag}\r\n\
             Call-ID: raw-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            b.local_addr()
        )
        .as_bytes(),
    );
    b_call.wait_request(Method::ACK, T).expect("ACK seen");
    while caller.recv(Duration::from_millis(50)).is_some() {}
    assert!(
        caller.recv(Duration::from_millis(700)).is_none(),
        "the ACK stops the 200"
    );
    // A request of an unknown dialog is refused.
    caller.send(
        format!(
            "BYE sip:bob@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKraw3\r\n\
             Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>;tag=nope\r\n\
             Call-ID: raw-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            b.local_addr()
        )
        .as_bytes(),
    );
    assert_eq!(caller.recv_status(T), Some(481));
}

#[test]
fn a_direct_call_over_tcp() {
    let (a, b) = pair(Transport::Tcp);
    let (rtp_a, rtp_b) = (RtpStream::loopback(), RtpStream::loopback());
    let (a_call, b_call) = establish(&a, &b, &rtp_a, &rtp_b);
    assert!(a_call
        .received_requests()
        .iter()
        .all(|m| m.method() != Some(&Method::INVITE)));
    assert_eq!(
        b_call.hold().expect("re-INVITE over B's own connection"),
        200
    );
    assert_eq!(b_call.bye().expect("BYE"), 200);
    a_call.wait_bye(T).expect("A got it");
    let invite = a
        .log()
        .into_iter()
        .find(|e| e.direction == Direction::Sent && e.first_line.starts_with("INVITE"))
        .expect("sent");
    assert!(invite.text.contains("SIP/2.0/TCP"), "{}", invite.text);
    // No retransmissions over TCP.
    let sent_invites = a
        .log()
        .iter()
        .filter(|e| e.direction == Direction::Sent && e.first_line.starts_with("INVITE"))
        .count();
    assert_eq!(sent_invites, 1);
}

#[test]
fn a_phone_registers_with_baton_using_sha256_or_md5() {
    let baton = Baton::start(
        "example.test",
        "",
        "[[users]]\nname = \"alice\"\npassword = \"pw\"\n",
    );
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let a = Phone::new(
            "A",
            "alice",
            "pw",
            "example.test",
            baton.udp,
            Transport::Udp,
        );
        a.set_digest_algorithm(algorithm);
        let ok = a.register(600).expect("answered");
        assert_eq!(ok.status(), Some(200), "{}", a.ladder());
        let contacts: Vec<&str> = ok.headers.get_all(&HeaderName::Contact).collect();
        assert!(
            contacts
                .iter()
                .any(|c| c.contains(&a.local_addr().to_string())),
            "{contacts:?}"
        );
        let answered = a
            .log()
            .into_iter()
            .filter(|e| e.direction == Direction::Sent)
            .nth(1)
            .expect("the REGISTER with credentials");
        assert!(
            answered
                .text
                .contains(&format!("algorithm={}", algorithm.as_str())),
            "{}",
            answered.text
        );
        assert_eq!(a.unregister().expect("answered").status(), Some(200));
    }
    let tcp = Phone::new(
        "T",
        "alice",
        "pw",
        "example.test",
        baton.tcp,
        Transport::Tcp,
    );
    assert_eq!(tcp.register(600).expect("answered").status(), Some(200));
}

#[test]
fn an_invite_to_baton_answers_its_proxy_challenge() {
    let baton = Baton::start(
        "example.test",
        "",
        "[[users]]\nname = \"alice\"\npassword = \"pw\"\n",
    );
    let a = Phone::new(
        "A",
        "alice",
        "pw",
        "example.test",
        baton.udp,
        Transport::Udp,
    );
    let rtp = RtpStream::loopback();
    let out = a.call("sip:nobody@example.test", Some(rtp.sdp()));
    let status = out.wait_final(T).expect("final");
    assert_ne!(status, 407, "{}", a.ladder());
    assert!(status >= 400, "nobody is registered: {status}");
    assert_eq!(
        labels(&a, Direction::Sent),
        ["INVITE", "ACK", "INVITE", "ACK"],
        "{}",
        a.ladder()
    );
    assert!(out
        .invite()
        .headers
        .get(&HeaderName::ProxyAuthorization)
        .is_some());
    assert_eq!(out.invite().cseq().map(|c| c.seq), Some(2));
}
