//! Consent that cannot be forged (issue 8): a decision counts only from
//! the asked device's flow, with the attempt id only that device was
//! sent; every request that could move or end a call is bound to its
//! device's flow, which moves only when the device re-registers.

use super::*;
use baton_system_tests::ua::Sdp;
use sip_message::Method;

const FORGED: &str = "baton_handover_forged_decisions_total";
const MISMATCH: &str = "baton_sip_flow_mismatch_total";

/// An INFO `Signal=1` (a grant) in A's dialog, with a CSeq far above
/// A's, sent from `sender`'s socket.
fn forged_grant_from(s: &Scene, sender: &Phone) -> u16 {
    s.a_call
        .request_via(
            sender,
            Method::INFO,
            &[(HeaderName::CSeq, "90000 INFO")],
            Some(("application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n")),
        )
        .expect("the forged INFO is answered")
        .status()
        .unwrap_or(0)
}

/// Nothing was granted: A keeps the call, B has no answer yet, R saw no
/// request.
fn assert_nothing_granted(s: &Scene, pull: &OutgoingCall, started: Instant) {
    assert!(
        s.a_call.wait_bye(Duration::from_millis(500)).is_err(),
        "A must not be hung up"
    );
    assert!(pull.final_response().is_none(), "B got no answer yet");
    s.assert_r_untouched(started);
}

/// Waits for a security event on the node's log (a `WARN` line of target
/// `security` containing `what`).
fn wait_security_log(baton: &Baton, what: &str) -> String {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    loop {
        seen.extend(baton.stderr_lines().iter().map(|l| without_ansi(l)));
        if let Some(line) = seen
            .iter()
            .find(|l| l.contains("WARN") && l.contains("security") && l.contains(what))
        {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no security event with {what:?} in {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A log line without its terminal colours (`ESC [ … m`).
fn without_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_grant_forged_by_b_from_its_own_socket_is_refused_and_a_still_decides() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    // B holds alice's password and, from the dialog package, A's Call-ID
    // and tags: still not A's flow.
    assert_eq!(forged_grant_from(&s, &s.b), 403);
    assert_nothing_granted(&s, &pull, started);
    assert!(s.baton.wait_metric(FORGED, &[], 1.0) >= 1.0);
    assert!(s.baton.wait_metric(MISMATCH, &["method=\"INFO\""], 1.0) >= 1.0);
    let line = wait_security_log(&s.baton, "forged_decision=true");
    assert!(
        line.contains(&s.b.source_addr().to_string()),
        "the event names the source: {line}"
    );
    a_denies(&s, &pull, &id, started);
}

#[test]
fn a_second_device_registering_a_contact_uri_does_not_take_its_dialog() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    // B (same user, same password) registers A's Contact URI from its own
    // socket, hoping A's dialog follows the "rebinding": the REGISTER is
    // accepted (it may replace the binding), but it is B's registration
    // (its own Call-ID), not a refresh of A's, so the dialog stays on A.
    assert_eq!(
        s.b.register_contact(&format!("<{}>", s.a.contact_uri()), 600)
            .expect("register")
            .status(),
        Some(200)
    );
    assert_eq!(forged_grant_from(&s, &s.b), 403);
    assert_nothing_granted(&s, &pull, started);
    a_denies(&s, &pull, &id, started);
}

#[test]
fn a_grant_forged_from_r_socket_is_refused() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    assert_eq!(forged_grant_from(&s, &s.r), 403);
    assert_nothing_granted(&s, &pull, started);
    assert!(s.baton.wait_metric(FORGED, &[], 1.0) >= 1.0);
    a_denies(&s, &pull, &id, started);
}

#[test]
fn a_json_decision_with_a_wrong_id_from_a_is_refused_as_forged() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "the attempt id is 128 random bits in hex: {id:?}"
    );
    assert_eq!(s.baton.metric_sum(FORGED, &[]), 0.0, "exported at 0");
    // A guess: another 32 hex digits, and the old log-number shape.
    let first = if id.starts_with('0') { '1' } else { '0' };
    let guess: String = std::iter::once(first).chain(id.chars().skip(1)).collect();
    assert_eq!(s.decide(&guess, "grant"), 403);
    assert_eq!(s.decide("h1", "grant"), 403);
    assert_nothing_granted(&s, &pull, started);
    assert!(s.baton.wait_metric(FORGED, &[], 2.0) >= 2.0);
    a_denies(&s, &pull, &id, started);
    // The real id once decided: stale, not forged.
    assert_eq!(s.decide(&id, "grant"), 481);
}

#[test]
fn a_second_device_cannot_reinvite_a_dialog_to_itself_nor_a_stranger_end_it() {
    let s = Scene::new(start(""), true);
    let started = Instant::now();
    // B offers its own media address in A's dialog.
    let offer = s.b_rtp.sdp().render(7, 1);
    let reinvite = s
        .a_call
        .request_via(
            &s.b,
            Method::INVITE,
            &[(HeaderName::CSeq, "90000 INVITE")],
            Some(("application/sdp", offer.as_bytes())),
        )
        .expect("answered");
    assert_eq!(reinvite.status(), Some(403));
    // The media did not move: R and A still hear each other, B nothing.
    let before = count_from(&s.r_rtp, 0xA1);
    assert!(s.r_rtp.wait_more_packets(10, T), "R still hears");
    assert!(count_from(&s.r_rtp, 0xA1) > before, "R still hears A");
    assert!(s.a_rtp.wait_more_packets(10, T), "A still hears R");
    assert_eq!(s.b_rtp.received_count(), 0, "nothing reaches B's media");
    // A stranger (another user, another socket) ends nothing.
    let stranger = Phone::new(
        "stranger",
        "carol",
        "cheshire",
        "example.test",
        s.baton.udp,
        Transport::Udp,
    );
    let bye = s
        .a_call
        .request_via(&stranger, Method::BYE, &[], None)
        .expect("answered");
    assert_eq!(bye.status(), Some(403));
    assert!(
        s.r_call.wait_bye(Duration::from_millis(300)).is_err(),
        "R is not hung up"
    );
    s.assert_a_keeps_call();
    s.assert_r_untouched(started);
    assert!(s.baton.wait_metric(MISMATCH, &["method=\"INVITE\""], 1.0) >= 1.0);
    assert!(s.baton.wait_metric(MISMATCH, &["method=\"BYE\""], 1.0) >= 1.0);
    // A's own re-INVITE still works (the refused ones changed no CSeq).
    let local: Sdp = s.a_call.local_sdp().expect("A's SDP");
    assert_eq!(s.a_call.reinvite(local).expect("answered"), 200);
}

#[test]
fn a_device_that_rebinds_is_followed_once_it_registers_again() {
    let s = Scene::new(start(""), true);
    let old = s.a.source_addr();
    let new = s.a.rebind();
    assert_ne!(old, new);
    // Before A re-registers, its new address is a stranger's.
    let refused = s.a_call.request(Method::BYE, &[], None).expect("answered");
    assert_eq!(refused.status(), Some(403));
    assert!(
        s.r_call.wait_bye(Duration::from_millis(300)).is_err(),
        "R is not hung up"
    );
    // The NAT rebinding is told the usual way: a REGISTER.
    assert_eq!(
        s.a.register(600).expect("register").status(),
        Some(200),
        "A re-registers from its new address"
    );
    assert_eq!(s.a_call.bye().expect("A hangs up"), 200);
    s.r_call.wait_bye(T).expect("R is hung up by A's BYE");
}

#[test]
fn a_device_with_an_instance_id_is_followed_by_its_instance_not_by_its_uri() {
    let baton = start("");
    // A names itself with +sip.instance and reg-id (RFC 5626).
    let a = Phone::new(
        "alice-A",
        "alice",
        "wonderland",
        "example.test",
        baton.udp,
        Transport::Udp,
    );
    a.set_instance("00000000-0000-4000-8000-00000000000a", 1);
    assert_eq!(a.register(600).expect("register").status(), Some(200));
    let b = phone(&baton, "alice-B", "alice", "wonderland");
    let r = phone(&baton, "bob-R", "bob", "builder");
    let (a_rtp, r_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let out = a.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let r_call = r
        .wait_incoming(T)
        .expect("bob rings")
        .answer(Some(r_rtp.sdp()))
        .expect("bob answers");
    let a_call = out.wait_answer(T).expect("answered");
    // B (same user, same password) registers A's Contact URI without the
    // instance, from B's socket: A's dialog does not follow it.
    assert_eq!(
        b.register_contact(&format!("<{}>", a.contact_uri()), 600)
            .expect("register")
            .status(),
        Some(200)
    );
    let bye = a_call
        .request_via(&b, Method::BYE, &[], None)
        .expect("answered");
    assert_eq!(
        bye.status(),
        Some(403),
        "B is still a stranger to A's dialog"
    );
    assert!(r_call.wait_bye(Duration::from_millis(300)).is_err());
    // A moves and re-registers with its instance: the dialog follows A.
    a.rebind();
    assert_eq!(a.register(600).expect("register").status(), Some(200));
    assert_eq!(a_call.bye().expect("A hangs up"), 200);
    r_call.wait_bye(T).expect("R is hung up by A's BYE");
}

/// A phone of `user` on TCP, registered through the node's TCP listener:
/// its requests go over the one connection it opened (from an ephemeral
/// port), which is its signalling flow.
fn tcp_phone(baton: &Baton, name: &str, user: &str, password: &str) -> Phone {
    let p = Phone::new(
        name,
        user,
        password,
        "example.test",
        baton.tcp,
        Transport::Tcp,
    );
    assert_eq!(
        p.register(600).expect("register").status(),
        Some(200),
        "{name} registers over TCP"
    );
    p
}

/// A and B (alice's two devices) on TCP, R on UDP, A and R in a call
/// (placed by A when `alice_calls`, else by R and answered by A).
fn tcp_scene(alice_calls: bool) -> Scene {
    let baton = start("");
    let a = tcp_phone(&baton, "alice-A", "alice", "wonderland");
    let b = tcp_phone(&baton, "alice-B", "alice", "wonderland");
    let r = phone(&baton, "bob-R", "bob", "builder");
    Scene::with_phones(baton, a, b, r, alice_calls)
}

/// Over TCP the flow is the connection: B's grant, sent into A's dialog on
/// B's own connection to the node, is refused; A's deny, re-INVITE and BYE
/// on A's connection are accepted.
fn forged_on_b_connection_refused_and_a_decides(s: &Scene) {
    let started = Instant::now();
    let pull = s.pull();
    let id = s.asked();
    assert_eq!(forged_grant_from(s, &s.b), 403);
    assert_nothing_granted(s, &pull, started);
    assert!(s.baton.wait_metric(FORGED, &[], 1.0) >= 1.0);
    assert!(s.baton.wait_metric(MISMATCH, &["method=\"INFO\""], 1.0) >= 1.0);
    wait_security_log(&s.baton, "forged_decision=true");
    // A's deny is an in-dialog INFO on A's own connection: accepted.
    a_denies(s, &pull, &id, started);
    // A's own re-INVITE and BYE on its connection are accepted too.
    let local: Sdp = s.a_call.local_sdp().expect("A's SDP");
    assert_eq!(s.a_call.reinvite(local).expect("answered"), 200);
    assert_eq!(s.a_call.bye().expect("A hangs up"), 200);
    s.r_call.wait_bye(T).expect("R is hung up by A's BYE");
    assert_eq!(
        s.baton.metric_sum(FORGED, &[]),
        1.0,
        "only B's INFO was a forged decision"
    );
}

#[test]
fn over_tcp_a_grant_forged_on_b_connection_is_refused_and_a_keeps_its_dialog() {
    forged_on_b_connection_refused_and_a_decides(&tcp_scene(true));
}

#[test]
fn over_tcp_a_callee_keeps_its_dialog_against_a_grant_forged_on_b_connection() {
    forged_on_b_connection_refused_and_a_decides(&tcp_scene(false));
}
