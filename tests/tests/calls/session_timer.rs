//! Session timers (RFC 4028) kept per leg: a caller that asks for a session
//! timer and never refreshes loses the call; an interval under Min-SE gets 422.

use super::bad_input::{invite_raw, GOOD_SDP};
use super::{phone, T, USERS};
use baton_system_tests::ua::{RtpStream, Transport};
use baton_system_tests::{Baton, UdpAgent};
use sip_message::{HeaderName, Method};
use std::time::{Duration, Instant};

fn start() -> Baton {
    Baton::start(
        "example.test",
        "session_expires = \"4s\"\nmin_se = \"2s\"\n",
        &format!("[media]\nports = \"40000-49999\"\n\n{USERS}"),
    )
}

#[test]
fn a_caller_that_never_refreshes_loses_the_call_on_both_sides() {
    let baton = start();
    let bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let answering = std::thread::spawn(move || {
        let call = bob
            .wait_incoming(T)
            .expect("rings")
            .answer_no_wait(Some(RtpStream::loopback().sdp()))
            .expect("answered");
        let waited = Instant::now();
        call.wait_bye(Duration::from_secs(8))
            .expect("bob is hung up when the session expires");
        waited.elapsed()
    });
    let caller = UdpAgent::new(baton.udp);
    let ok = invite_raw(
        &caller,
        GOOD_SDP,
        "timer",
        "Supported: timer\r\nSession-Expires: 3\r\n",
    )
    .expect("final");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("3;refresher=uac")
    );
    assert!(ok
        .headers
        .tokens(&HeaderName::Require)
        .any(|t| t == "timer"));
    // The caller never refreshes (and never ACKs): Baton ends the session
    // at 3 s - min(32, 3/3) = 2 s, with a BYE to the caller too.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut bye = None;
    while bye.is_none() && Instant::now() < deadline {
        if let Some(m) = caller.recv(Duration::from_millis(500)) {
            if m.method() == Some(&Method::BYE) {
                bye = Some(m);
            }
        }
    }
    assert!(bye.is_some(), "the caller got a BYE");
    let after = answering.join().expect("bob's side");
    assert!(after < Duration::from_secs(6), "ended after {after:?}");
    assert!(baton.wait_metric("baton_calls_session_expired_total", &[], 1.0) >= 1.0);
}

#[test]
fn an_interval_under_min_se_gets_422() {
    let baton = start();
    let _bob = phone(&baton, "bob", "bob", "builder", Transport::Udp);
    let caller = UdpAgent::new(baton.udp);
    let refused = invite_raw(
        &caller,
        GOOD_SDP,
        "short",
        "Supported: timer\r\nSession-Expires: 1\r\n",
    )
    .expect("final");
    assert_eq!(refused.status(), Some(422));
    assert_eq!(refused.header(&HeaderName::MinSe), Some("2"));
}

#[test]
fn baton_refreshes_the_legs_it_creates_when_it_is_the_refresher() {
    use super::prack::{register, wait_request};
    use sip_message::ResponseBuilder;
    let baton = start();
    let alice = phone(&baton, "alice", "alice", "wonderland", Transport::Udp);
    let bob = UdpAgent::new(baton.udp);
    register(&bob);
    let outgoing = alice.call("sip:bob@example.test", Some(RtpStream::loopback().sdp()));
    let invite = wait_request(&bob, Method::INVITE);
    assert_eq!(
        invite.header(&HeaderName::SessionExpires),
        Some("4"),
        "Baton asks for its configured interval"
    );
    let ok = ResponseBuilder::to_request(&invite, 200)
        .to_tag("b-tag")
        .header(
            HeaderName::Contact,
            format!("<sip:bob@{}>", bob.local_addr()),
        )
        .header(HeaderName::SessionExpires, "4;refresher=uac")
        .header(HeaderName::Require, "timer")
        .body(
            "application/sdp",
            RtpStream::loopback().sdp().render(1, 1).into(),
        )
        .build();
    bob.send(&ok.to_bytes());
    wait_request(&bob, Method::ACK);
    let answered = Instant::now();
    let _call = outgoing.wait_answer(T).expect("answered");
    // Baton, the refresher, refreshes at half the interval.
    let update = wait_request(&bob, Method::UPDATE);
    let after = answered.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(4),
        "refreshed after {after:?}"
    );
    assert_eq!(
        update.header(&HeaderName::SessionExpires),
        Some("4;refresher=uac")
    );
    bob.send(&ResponseBuilder::to_request(&update, 200).build().to_bytes());
}
