//! Rules of a device's dialog that guard the call (issue 8): no transfer
//! behind the holder's back, a refused re-INVITE changes nothing, and a
//! session interval too large to add to a clock is clamped, not fatal.

use super::*;
use baton_system_tests::ua::Sdp;
use sip_message::Method;

#[test]
fn refer_inside_a_call_gets_405_with_allow() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let response = s
        .a_call
        .request(
            Method::REFER,
            &[(HeaderName::ReferTo, "<sip:carol@example.test>")],
            None,
        )
        .expect("answered");
    assert_eq!(response.status(), Some(405));
    let allow = response
        .header(&HeaderName::Allow)
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        allow.contains("INVITE") && allow.contains("BYE") && !allow.contains("REFER"),
        "Allow: {allow:?}"
    );
    s.assert_a_keeps_call();
    s.assert_r_untouched(started);
}

#[test]
fn a_refused_reinvite_leaves_the_remote_target_unchanged() {
    let s = Scene::new(start(""), true);
    // A re-INVITE naming a new Contact, with an SDP Baton cannot anchor:
    // refused (488), so its Contact must not become the target.
    let moved = "<sip:alice@127.0.0.1:9>";
    let refused = s
        .a_call
        .request_via(
            &s.a,
            Method::INVITE,
            &[(HeaderName::Contact, moved)],
            Some(("application/sdp", b"v=0\r\nnot an offer\r\n")),
        )
        .expect("answered");
    assert_eq!(refused.status(), Some(488));
    // Where Baton's next request in A's dialog goes: R's INFO, relayed.
    assert_eq!(
        s.r_call
            .info("application/x-note", "after the refused re-INVITE")
            .expect("answered"),
        200
    );
    let info = s.a_call.wait_request(Method::INFO, T).expect("A gets it");
    let uri = info
        .request_uri()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        uri,
        s.a.contact_uri(),
        "the target stays A's Contact from the INVITE"
    );
    s.assert_a_keeps_call();
}

#[test]
fn an_overflowing_session_expires_is_clamped_and_the_call_ends_normally() {
    let mut baton = start("");
    let a = phone(&baton, "alice-A", "alice", "wonderland");
    let r = phone(&baton, "bob-R", "bob", "builder");
    let (a_rtp, r_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let out = a.call_with_headers(
        "sip:bob@example.test",
        Some(a_rtp.sdp()),
        &[
            (
                HeaderName::SessionExpires,
                "18446744073709551615".to_string(),
            ),
            (HeaderName::Supported, "timer".to_string()),
        ],
    );
    let r_call = r
        .wait_incoming(T)
        .expect("bob rings")
        .answer(Some(r_rtp.sdp()))
        .expect("bob answers");
    let a_call = out.wait_answer(T).expect("A's call is answered");
    // The call stays up (no leg died on the deadline)…
    assert!(
        a_call.wait_bye(Duration::from_millis(500)).is_err(),
        "A is not hung up"
    );
    assert!(r_call.wait_bye(Duration::from_millis(10)).is_err());
    let local: Sdp = a_call.local_sdp().expect("A's SDP");
    assert_eq!(a_call.reinvite(local).expect("answered"), 200);
    // …and ends normally.
    assert_eq!(a_call.bye().expect("A hangs up"), 200);
    r_call.wait_bye(T).expect("R is hung up");
    assert!(baton.is_running(), "the node is alive");
    assert_eq!(baton.http_get("/healthz").0, 200);
    // What Baton agreed to: a sane interval.
    let ok = out.final_response().expect("the 200");
    let interval = ok
        .header(&HeaderName::SessionExpires)
        .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
        .expect("Session-Expires in the 200");
    assert!(interval <= 24 * 3600, "the interval is clamped: {interval}");
}
