//! RFC 3262 on the legs Baton creates: a callee that sends its 183
//! reliably gets a PRACK in the early dialog, and the confirmed dialog
//! carries on the CSeq the PRACK used.

use super::{phone, start, T};
use baton_system_tests::ua::{RtpStream, Transport};
use baton_system_tests::{authorization, UdpAgent};
use sip_message::{HeaderName, Message, Method, ResponseBuilder};
use std::time::{Duration, Instant};

/// REGISTER bob from a raw socket (digest answered), so that Baton's INVITE
/// comes to this socket.
pub(crate) fn register(agent: &UdpAgent) {
    let port = agent.local_addr().port();
    let request = |cseq: u32, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprreg{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:bob@example.test>;tag=r1\r\nTo: <sip:bob@example.test>\r\n\
             Call-ID: prack-reg@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:bob@127.0.0.1:{port}>\r\n{auth}\
             Content-Length: 0\r\n\r\n"
        )
    };
    let challenge = agent.request(request(1, None).as_bytes()).expect("401");
    let offer = challenge
        .header(&HeaderName::WwwAuthenticate)
        .expect("challenge")
        .to_string();
    let auth = authorization(&offer, "REGISTER", "sip:example.test", "bob", "builder", 1);
    assert_eq!(
        agent
            .request(request(2, Some(&auth)).as_bytes())
            .and_then(|m| m.status()),
        Some(200)
    );
}

pub(crate) fn wait_request(agent: &UdpAgent, method: Method) -> Message {
    let deadline = Instant::now() + T;
    loop {
        let m = agent
            .recv(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|| panic!("no {method}"));
        if m.method() == Some(&method) {
            return m;
        }
    }
}

#[test]
fn a_reliable_183_is_pracked_and_the_dialog_goes_on() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = UdpAgent::new(baton.udp);
    register(&bob);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let invite = wait_request(&bob, Method::INVITE);
    assert!(
        invite
            .headers
            .tokens(&HeaderName::Supported)
            .any(|t| t == "100rel"),
        "Baton offers 100rel"
    );
    let invite_seq = invite.cseq().expect("cseq").seq;
    let contact = format!("<sip:bob@{}>", bob.local_addr());
    let sdp = RtpStream::loopback().sdp().render(1, 1);
    let progress = ResponseBuilder::to_request(&invite, 183)
        .to_tag("b-tag")
        .header(HeaderName::Contact, contact.clone())
        .header(HeaderName::Require, "100rel")
        .header(HeaderName::RSeq, "1")
        .body("application/sdp", sdp.clone().into())
        .build();
    bob.send(&progress.to_bytes());
    let prack = wait_request(&bob, Method::PRACK);
    assert_eq!(
        prack.header(&HeaderName::RAck),
        Some(format!("1 {invite_seq} INVITE").as_str())
    );
    assert_eq!(
        prack.to_tag().as_deref(),
        Some("b-tag"),
        "in the early dialog"
    );
    let prack_seq = prack.cseq().expect("cseq").seq;
    assert!(prack_seq > invite_seq);
    bob.send(&ResponseBuilder::to_request(&prack, 200).build().to_bytes());
    outgoing
        .wait_provisional(183, T)
        .expect("alice hears the progress");
    // A retransmission of the same reliable 183 gets no second PRACK.
    bob.send(&progress.to_bytes());
    let ok = ResponseBuilder::to_request(&invite, 200)
        .to_tag("b-tag")
        .header(HeaderName::Contact, contact)
        .body("application/sdp", sdp.into())
        .build();
    bob.send(&ok.to_bytes());
    let ack = wait_request(&bob, Method::ACK);
    assert_eq!(
        ack.cseq().map(|c| c.seq),
        Some(invite_seq),
        "the ACK keeps the INVITE's CSeq"
    );
    let a_call = outgoing.wait_answer(T).expect("answered");
    assert_eq!(a_call.bye().expect("bye"), 200);
    let bye = wait_request(&bob, Method::BYE);
    assert!(
        bye.cseq().expect("cseq").seq > prack_seq,
        "the dialog's CSeq went on past the PRACK"
    );
    bob.send(&ResponseBuilder::to_request(&bye, 200).build().to_bytes());
    assert!(bob
        .recv(Duration::from_millis(300))
        .is_none_or(|m| m.method() != Some(&Method::PRACK)));
}

#[test]
fn a_caller_that_requires_100rel_gets_reliable_ringing_until_it_pracks() {
    use super::bad_input::GOOD_SDP;
    let baton = start();
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let caller = UdpAgent::new(baton.udp);
    let port = caller.local_addr().port();
    let answering = std::thread::spawn(move || {
        let incoming = bob.wait_incoming(T).expect("rings");
        incoming.ring().expect("180");
        std::thread::sleep(Duration::from_millis(1500));
        let _ = incoming.answer(Some(RtpStream::loopback().sdp()));
    });
    // The INVITE, its 407, and the retry requiring 100rel.
    let invite = |cseq: u32, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrel{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=rel\r\nTo: <sip:bob@example.test>\r\n\
             Call-ID: rel@test\r\nCSeq: {cseq} INVITE\r\nContact: <sip:alice@127.0.0.1:{port}>\r\nRequire: 100rel\r\n{auth}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{GOOD_SDP}",
            GOOD_SDP.len()
        )
    };
    let challenge = caller.request(invite(1, None).as_bytes()).expect("407");
    assert_eq!(
        challenge.status(),
        Some(407),
        "Require: 100rel is supported, not refused with 420"
    );
    let to = challenge.header(&HeaderName::To).expect("To").to_string();
    caller.send(format!("ACK sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrel1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=rel\r\nTo: {to}\r\nCall-ID: rel@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").as_bytes());
    let offer = challenge
        .header(&HeaderName::ProxyAuthenticate)
        .expect("challenge")
        .to_string();
    let auth = authorization(
        &offer,
        "INVITE",
        "sip:bob@example.test",
        "alice",
        "wonderland",
        1,
    );
    caller.send(invite(2, Some(&auth)).as_bytes());
    // The 180 comes reliably, and again until the PRACK.
    let mut ringing = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < deadline {
        if let Some(m) = caller.recv(deadline.saturating_duration_since(Instant::now())) {
            if m.status() == Some(180) {
                ringing.push(m);
            }
        }
    }
    assert!(
        ringing.len() >= 2,
        "the reliable 180 is retransmitted until PRACKed ({} seen)",
        ringing.len()
    );
    let first = &ringing[0];
    assert!(first
        .headers
        .tokens(&HeaderName::Require)
        .any(|t| t == "100rel"));
    assert_eq!(first.header(&HeaderName::RSeq), Some("1"));
    assert!(
        ringing
            .iter()
            .all(|m| m.header(&HeaderName::RSeq) == Some("1")),
        "the same RSeq each time"
    );
    let tag = first.to_tag().expect("to tag");
    let prack = format!(
        "PRACK sip:baton@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprack1\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@example.test>;tag=rel\r\nTo: <sip:bob@example.test>;tag={tag}\r\nCall-ID: rel@test\r\n\
         CSeq: 3 PRACK\r\nRAck: 1 2 INVITE\r\nContent-Length: 0\r\n\r\n",
        baton.udp
    );
    let prack_answer = caller.request(prack.as_bytes()).expect("PRACK answered");
    assert_eq!(prack_answer.status(), Some(200));
    // After the PRACK: no more 180s, then the 200 once bob answers.
    let deadline = Instant::now() + 2 * T;
    let mut final_status = None;
    while final_status.is_none() && Instant::now() < deadline {
        if let Some(m) = caller.recv(deadline.saturating_duration_since(Instant::now())) {
            assert_ne!(m.status(), Some(180), "no 180 after the PRACK");
            final_status = m.status().filter(|s| *s >= 200);
        }
    }
    assert_eq!(final_status, Some(200));
    answering.join().expect("bob's side");
}

#[test]
fn crossing_reoffers_get_491_glare() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = UdpAgent::new(baton.udp);
    register(&bob);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let invite = wait_request(&bob, Method::INVITE);
    let contact = format!("<sip:bob@{}>", bob.local_addr());
    let sdp = RtpStream::loopback().sdp().render(1, 1);
    let ok = ResponseBuilder::to_request(&invite, 200)
        .to_tag("g-tag")
        .header(HeaderName::Contact, contact.clone())
        .body("application/sdp", sdp.clone().into())
        .build();
    bob.send(&ok.to_bytes());
    wait_request(&bob, Method::ACK);
    let a_call = outgoing.wait_answer(T).expect("answered");
    // alice puts the call on hold; Baton's re-INVITE reaches bob…
    let holding = std::thread::spawn(move || {
        let status = a_call.hold().expect("hold answered");
        (a_call, status)
    });
    let reinvite = wait_request(&bob, Method::INVITE);
    // …while bob, before answering it, sends his own re-offer: glare.
    let from = invite.to().expect("To").uri.to_string();
    let to = invite.from().expect("From").to_string();
    let target = invite.contacts().into_iter().find_map(|c| match c {
        sip_message::ContactValue::Addr(a) => Some(a.uri.to_string()),
        sip_message::ContactValue::Star => None,
    });
    let mine = format!(
        "INVITE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKglare1\r\nMax-Forwards: 70\r\n\
         From: <{from}>;tag=g-tag\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: {contact}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        target.expect("Baton's Contact"),
        bob.local_addr(),
        invite.call_id().expect("Call-ID"),
        sdp.len()
    );
    let glare = bob
        .request(mine.as_bytes())
        .expect("an answer to bob's re-offer");
    assert_eq!(
        glare.status(),
        Some(491),
        "RFC 3261 §14.2: an offer while one is pending"
    );
    // bob then answers Baton's re-INVITE, and alice's hold completes.
    bob.send(
        &ResponseBuilder::to_request(&reinvite, 200)
            .header(HeaderName::Contact, contact)
            .body("application/sdp", sdp.into())
            .build()
            .to_bytes(),
    );
    wait_request(&bob, Method::ACK);
    let (a_call, status) = holding.join().expect("alice's side");
    assert_eq!(status, 200);
    assert_eq!(a_call.bye().expect("bye"), 200);
}
