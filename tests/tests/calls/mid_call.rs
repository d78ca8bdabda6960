//! Mid-call requests: UPDATE crossing with its SDP anchored, and a BYE that
//! overtakes the ACK.

use super::bad_input::{invite_raw, GOOD_SDP};
use super::{phone, start, T};
use baton_system_tests::ua::{RtpStream, Sdp, Transport};
use baton_system_tests::UdpAgent;
use sip_message::{HeaderName, Method};
use std::time::Instant;

#[test]
fn update_crosses_with_its_sdp_anchored() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let a_rtp = RtpStream::loopback();
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let b_call = bob
        .wait_incoming(T)
        .expect("rings")
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    let relay_to_bob = b_call.remote_sdp().expect("sdp").rtp_addr();
    let since = Instant::now();
    let offer = a_rtp.sdp().render(7, 2).replace("a=sendrecv", "a=sendonly");
    let answer = a_call
        .request(
            Method::UPDATE,
            &[],
            Some(("application/sdp", offer.as_bytes())),
        )
        .expect("UPDATE answered");
    assert_eq!(answer.status(), Some(200));
    let update = bob
        .received_requests_since(since)
        .into_iter()
        .find(|m| m.method() == Some(&Method::UPDATE))
        .expect("bob sees the UPDATE");
    let seen = Sdp::parse(&String::from_utf8_lossy(&update.body)).expect("sdp");
    assert_eq!(
        seen.rtp_addr(),
        relay_to_bob,
        "anchored at the relay, not alice's address"
    );
    assert_ne!(seen.rtp_addr(), a_rtp.local_addr());
    assert_eq!(a_call.bye().expect("bye"), 200);
}

#[test]
fn a_bye_that_overtakes_the_ack_ends_the_call() {
    let baton = start();
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let caller = UdpAgent::new(baton.udp);
    let port = caller.local_addr().port();
    let answering = std::thread::spawn(move || {
        let call = bob
            .wait_incoming(T)
            .expect("rings")
            .answer_no_wait(Some(RtpStream::loopback().sdp()))
            .expect("answered");
        call.wait_bye(T).expect("bob is hung up");
    });
    let ok = invite_raw(&caller, GOOD_SDP, "overtake", "").expect("a final response");
    assert_eq!(ok.status(), Some(200));
    let to = ok.header(&HeaderName::To).expect("To").to_string();
    let target = ok.contacts().into_iter().find_map(|c| match c {
        sip_message::ContactValue::Addr(a) => Some(a.uri.to_string()),
        sip_message::ContactValue::Star => None,
    });
    let target = target.expect("Baton's Contact");
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:alice@example.test>;tag=overtake\r\nTo: {to}\r\nCall-ID: overtake@test\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    // BYE first, then the ACK that should have preceded it.
    let bye = caller
        .request(in_dialog("BYE", 3, "bye-first").as_bytes())
        .expect("BYE answered");
    assert_eq!(bye.status(), Some(200));
    caller.send(in_dialog("ACK", 2, "late-ack").as_bytes());
    answering.join().expect("bob's side finished");
    // Baton stops retransmitting its 200 once the BYE is in: nothing more comes.
    let late = caller.recv(std::time::Duration::from_millis(1500));
    assert!(
        late.is_none(),
        "no 2xx retransmission after the BYE: {late:?}"
    );
}

#[test]
fn a_late_offer_crosses_with_the_answer_in_the_ack() {
    use baton_system_tests::ua::{Payload, RtpSend};
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call_late_offer("sip:bob@example.test", a_rtp.sdp());
    let incoming = bob.wait_incoming(T).expect("rings");
    assert!(
        incoming.remote_sdp().is_none(),
        "no offer reaches bob: he makes it"
    );
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    let offer_to_alice = a_call.remote_sdp().expect("the offer, in the 200");
    assert_ne!(
        offer_to_alice.rtp_addr(),
        b_rtp.local_addr(),
        "anchored at the relay"
    );
    let deadline = Instant::now() + T;
    while b_call.remote_sdp().is_none() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let answer_to_bob = b_call.remote_sdp().expect("alice's answer, in the ACK");
    assert_ne!(
        answer_to_bob.rtp_addr(),
        a_rtp.local_addr(),
        "anchored at the relay"
    );
    a_rtp.start_sending(RtpSend::new(
        offer_to_alice.rtp_addr(),
        0xA1,
        Payload::Pattern(b'A'),
    ));
    b_rtp.start_sending(RtpSend::new(
        answer_to_bob.rtp_addr(),
        0xB1,
        Payload::Pattern(b'B'),
    ));
    assert!(
        b_rtp.wait_packets(10, T) && a_rtp.wait_packets(10, T),
        "audio both ways"
    );
    assert!(b_rtp.payloads_match(b'A') && a_rtp.payloads_match(b'B'));
    a_rtp.stop();
    b_rtp.stop();
    assert_eq!(a_call.bye().expect("bye"), 200);
}

#[test]
fn a_reoffer_that_cannot_be_anchored_gets_488_and_never_crosses() {
    let baton = start();
    let (_alice, bob, a_call, b_call) = super::establish(&baton);
    let since = Instant::now();
    let hostile = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 224.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let answer = a_call
        .request(
            Method::INVITE,
            &[],
            Some(("application/sdp", hostile.as_bytes())),
        )
        .expect("answered");
    assert_eq!(answer.status(), Some(488));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !bob.received_requests_since(since)
            .iter()
            .any(|m| m.method() == Some(&Method::INVITE)),
        "the hostile re-offer never reached bob"
    );
    assert_eq!(a_call.bye().expect("bye"), 200);
    b_call.wait_bye(T).expect("hung up");
}
