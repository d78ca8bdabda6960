//! Calls through Baton, end to end over loopback with the project's test
//! agent playing the phones: ring, answer, two-way RTP through the relay
//! (payloads checked), hold/resume by re-INVITE, BYE from each side,
//! CANCEL, parallel forking, callee errors, unknown and unregistered users.

use baton_system_tests::ua::{
    Call, MediaDirection, Payload, Phone, RtpSend, RtpStream, Sdp, Transport, UaError,
};
use baton_system_tests::Baton;
use sip_message::{HeaderName, Method};
use std::time::{Duration, Instant};

mod bad_input;
mod mid_call;
mod prack;
mod restart;
mod session_timer;
mod strict_latching;

/// How long an expected event may take: generous for busy machines (a
/// passing test never waits it out).
const T: Duration = Duration::from_secs(15);
const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                     [[users]]\nname = \"bob\"\npassword = \"builder\"\n\n\
                     [[users]]\nname = \"carol\"\npassword = \"cheshire\"\n";

fn start() -> Baton {
    Baton::start(
        "example.test",
        "",
        &format!("[media]\nports = \"40000-49999\"\n\n{USERS}"),
    )
}

fn phone(baton: &Baton, name: &str, user: &str, password: &str, transport: Transport) -> Phone {
    let server = if transport == Transport::Tcp {
        baton.tcp
    } else {
        baton.udp
    };
    let p = Phone::new(name, user, password, "example.test", server, transport);
    assert_eq!(
        p.register(600).expect("register").status(),
        Some(200),
        "{name} registers"
    );
    p
}

/// alice and bob registered over UDP, in a call alice placed and bob
/// answered (media descriptions from throwaway loopback streams).
fn establish(baton: &Baton) -> (Phone, Phone, Call, Call) {
    let alice = phone(baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(baton, "bob", "bob", "builder", Transport::Udp);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let b_call = bob
        .wait_incoming(T)
        .expect("rings")
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    (alice, bob, a_call, b_call)
}

/// The RTP address a description names.
fn rtp_of(sdp: &Sdp) -> std::net::SocketAddr {
    sdp.rtp_addr()
}

#[test]
fn a_call_rings_is_answered_carries_rtp_both_ways_and_ends_with_the_callers_bye() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let incoming = bob.wait_incoming(T).expect("bob's phone rings");
    // Topology hiding: bob sees Baton's relay, not alice's media address.
    let offer = incoming.remote_sdp().expect("an SDP offer");
    assert_ne!(
        rtp_of(&offer),
        a_rtp.local_addr(),
        "the offer points at the relay"
    );
    incoming.ring().expect("180");
    outgoing
        .wait_provisional(180, T)
        .expect("alice hears ringing");
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("alice's call is answered");
    let answer = a_call.remote_sdp().expect("an SDP answer");
    assert_ne!(
        rtp_of(&answer),
        b_rtp.local_addr(),
        "the answer points at the relay"
    );
    assert_ne!(
        b_call.call_id(),
        a_call.call_id(),
        "each leg is Baton's own dialog"
    );

    a_rtp.start_sending(RtpSend::new(
        rtp_of(&answer),
        0xA11CE,
        Payload::Pattern(b'A'),
    ));
    b_rtp.start_sending(RtpSend::new(rtp_of(&offer), 0xB0B, Payload::Pattern(b'B')));
    assert!(b_rtp.wait_packets(25, T), "bob receives alice's audio");
    assert!(a_rtp.wait_packets(25, T), "alice receives bob's audio");
    assert!(
        b_rtp.payloads_match(b'A') && a_rtp.payloads_match(b'B'),
        "payloads cross intact"
    );
    assert_eq!(b_rtp.ssrcs(), vec![0xA11CE]);
    // RFC 4733 telephone-events pass through the relay untouched.
    a_rtp.send_dtmf('7').expect("dtmf");
    let deadline = Instant::now() + T;
    while !b_rtp.dtmf_digits().contains(&'7') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        b_rtp.dtmf_digits(),
        vec!['7'],
        "bob hears the digit as an event"
    );
    a_rtp.stop();
    b_rtp.stop();

    assert_eq!(a_call.bye().expect("bye"), 200);
    b_call.wait_bye(T).expect("bob is hung up");
    assert!(baton.wait_metric("baton_calls_total", &["result=\"answered\""], 1.0) >= 1.0);
    assert!(baton.wait_metric("baton_rtp_packets_total", &["direction=\"in\""], 50.0) >= 50.0);
}

#[test]
fn the_callee_hangs_up() {
    let baton = start();
    let (_alice, _bob, a_call, b_call) = establish(&baton);
    assert_eq!(b_call.bye().expect("bye"), 200);
    a_call.wait_bye(T).expect("alice is hung up");
}

#[test]
fn hold_and_resume_by_reinvite_cross_with_sdp_rewritten() {
    let baton = start();
    let (_alice, bob, a_call, b_call) = establish(&baton);
    let relay_to_bob = b_call.remote_sdp().expect("sdp").rtp_addr();

    let since = Instant::now();
    assert_eq!(a_call.hold().expect("hold"), 200);
    let reinvite = bob
        .received_requests_since(since)
        .into_iter()
        .find(|m| m.method() == Some(&Method::INVITE))
        .expect("bob sees the re-INVITE");
    let seen = Sdp::parse(&String::from_utf8_lossy(&reinvite.body)).expect("sdp in the re-INVITE");
    assert_eq!(seen.direction, MediaDirection::SendOnly);
    assert_eq!(seen.rtp_addr(), relay_to_bob, "still the relay's address");
    assert_eq!(
        a_call.remote_sdp().expect("answer").direction,
        MediaDirection::RecvOnly
    );
    assert_eq!(a_call.resume().expect("resume"), 200);
    assert_eq!(
        bob.received_requests_since(since)
            .iter()
            .filter(|m| m.method() == Some(&Method::INVITE))
            .count(),
        2
    );
    // And from the other side.
    assert_eq!(b_call.hold().expect("hold from bob"), 200);
    assert_eq!(b_call.resume().expect("resume from bob"), 200);
    assert_eq!(
        a_call
            .info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
            .expect("info"),
        200
    );
    assert_eq!(a_call.bye().expect("bye"), 200);
}

#[test]
fn cancel_before_answer() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let incoming = bob.wait_incoming(T).expect("rings");
    incoming.ring().expect("180");
    outgoing.wait_provisional(180, T).expect("ringing");
    assert_eq!(
        outgoing.cancel().expect("cancel"),
        200,
        "the CANCEL itself succeeds"
    );
    assert_eq!(
        outgoing.wait_final(T).expect("final"),
        487,
        "and the INVITE ends in 487"
    );
    incoming
        .wait_cancelled(T)
        .expect("bob's INVITE is cancelled");
    assert!(baton.wait_metric("baton_calls_total", &["result=\"cancelled\""], 1.0) >= 1.0);
}

#[test]
fn parallel_fork_to_two_devices_the_loser_gets_cancel() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let desk = phone(&baton, "bob-desk", "bob", "builder", Transport::Udp);
    let mobile = phone(&baton, "bob-mobile", "bob", "builder", Transport::Udp);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let on_desk = desk.wait_incoming(T).expect("the desk phone rings");
    let on_mobile = mobile.wait_incoming(T).expect("the mobile rings too");
    on_desk.ring().expect("180");
    on_mobile.ring().expect("180");
    let m_call = on_mobile
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("the mobile answers");
    let a_call = outgoing.wait_answer(T).expect("answered");
    on_desk
        .wait_cancelled(T)
        .expect("the desk phone is cancelled");
    assert_eq!(a_call.bye().expect("bye"), 200);
    m_call.wait_bye(T).expect("the mobile is hung up");
}

#[test]
fn callee_errors_are_mapped_back() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    bob.wait_incoming(T)
        .expect("rings")
        .reject(486)
        .expect("busy");
    assert_eq!(outgoing.wait_final(T).expect("final"), 486);
    assert!(matches!(outgoing.wait_answer(T), Err(UaError::Failed(486))));
}

#[test]
fn unknown_users_get_404_and_unregistered_ones_480() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let nobody = alice.call(
        "sip:mallory@example.test",
        Some(RtpStream::loopback().sdp()),
    );
    assert_eq!(nobody.wait_final(T).expect("final"), 404);
    let carol = alice.call("sip:carol@example.test", Some(RtpStream::loopback().sdp()));
    assert_eq!(carol.wait_final(T).expect("final"), 480);
}

#[test]
fn a_wrong_password_cannot_place_a_call() {
    let baton = start();
    let _bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let mallory = Phone::new(
        "mallory",
        "alice",
        "guessed",
        "example.test",
        baton.udp,
        Transport::Udp,
    );
    let attempt = mallory.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    assert_eq!(attempt.wait_final(T).expect("final"), 407);
}

#[test]
fn a_call_over_tcp() {
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Tcp);
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Tcp);
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let incoming = bob.wait_incoming(T).expect("rings");
    let offer = incoming.remote_sdp().expect("offer");
    let b_call = incoming.answer(Some(b_rtp.sdp())).expect("answered");
    let a_call = outgoing.wait_answer(T).expect("answered");
    a_rtp.start_sending(RtpSend::new(
        a_call.remote_sdp().expect("answer").rtp_addr(),
        1,
        Payload::Pattern(b'T'),
    ));
    b_rtp.start_sending(RtpSend::new(offer.rtp_addr(), 2, Payload::Pattern(b'U')));
    assert!(b_rtp.wait_packets(10, T) && a_rtp.wait_packets(10, T));
    a_rtp.stop();
    b_rtp.stop();
    assert_eq!(b_call.bye().expect("bye"), 200);
    a_call.wait_bye(T).expect("hung up");
}

#[test]
fn sigterm_ends_the_calls_with_bye_and_the_node_exits_cleanly() {
    let mut baton = start();
    let (_alice, _bob, a_call, b_call) = establish(&baton);
    let status = baton.terminate().expect("exits within the grace");
    assert!(status.success(), "{status:?}");
    a_call.wait_bye(T).expect("alice got BYE");
    b_call.wait_bye(T).expect("bob got BYE");
}

#[test]
fn a_draining_node_refuses_new_calls_with_503_and_retry_after() {
    let mut baton = start();
    let (alice, _bob, _a_call, _b_call) = establish(&baton);
    baton.send_sigterm();
    // Liveness turns 503 when the drain starts; the node keeps serving
    // signalling while its calls end.
    let deadline = Instant::now() + T;
    while baton.http_get("/healthz").0 != 503 {
        assert!(Instant::now() < deadline, "the drain never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let attempt = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    assert_eq!(attempt.wait_final(T).expect("final"), 503);
    let refusal = attempt.final_response().expect("the 503");
    assert!(
        refusal.header(&HeaderName::RetryAfter).is_some(),
        "{refusal:?}"
    );
    assert!(baton.terminate().expect("exits").success());
}
