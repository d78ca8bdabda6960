//! Each admission limit, configured low, hit over real sockets and counted.

use super::{challenge_for, invite, options, register, start, Peer, DOMAIN, T};
use baton_system_tests::ua::{Phone, RtpStream};
use baton_system_tests::{authorization, TcpAgent};
use sip_message::HeaderName;
use std::time::{Duration, Instant};

/// `count` REGISTERs of `user` from `peer` with a wrong password against a
/// real nonce; each is challenged again.
fn guess(peer: &Peer, user: &str, count: u32) {
    let first = peer.request(&register(peer, user, 1, &format!("g{user}0"), None));
    assert_eq!(first.status(), Some(401));
    let challenge = challenge_for(&first, "SHA-256");
    for nc in 1..=count {
        let auth = authorization(
            &challenge,
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            user,
            "not-the-password",
            nc,
        );
        let branch = format!("g{user}{nc}");
        let answer = peer.request(&register(peer, user, nc + 1, &branch, Some(&auth)));
        assert_eq!(answer.status(), Some(401), "guess {nc}");
    }
}

/// Registers `user` from `peer` with the right password: the final status.
/// Every call uses fresh branches and CSeqs.
fn register_ok(peer: &Peer, user: &str, password: &str) -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(100);
    let n = NEXT.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    let first = peer.request(&register(peer, user, n, &format!("ok{n}"), None));
    assert_eq!(first.status(), Some(401));
    let auth = authorization(
        &challenge_for(&first, "SHA-256"),
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        user,
        password,
        1,
    );
    let answer = peer.request(&register(
        peer,
        user,
        n + 1,
        &format!("ok{}", n + 1),
        Some(&auth),
    ));
    answer.status().unwrap_or(0)
}

#[test]
fn failed_digests_ban_the_source_whose_requests_are_then_dropped_unanswered() {
    let _serial = super::shared();
    let baton = start("source_failures = 3");
    let guesser = Peer::bind("127.0.0.3", baton.udp);
    guess(&guesser, "alice", 3);
    assert_eq!(
        baton.wait_metric("baton_auth_banned_total", &["scope=\"source\""], 1.0),
        1.0
    );
    assert_eq!(
        baton.metric_sum("baton_auth_failures_total", &["reason=\"wrong_password\""]),
        3.0
    );
    // Anything from the banned address is dropped, counted, unanswered:
    // once the drop is counted nothing more comes for it.
    guesser.send(&options(&guesser, "banned-probe", "b1"));
    assert!(baton.wait_metric("baton_admission_dropped_total", &["reason=\"banned\""], 1.0) >= 1.0);
    assert!(guesser.recv(Duration::from_millis(300)).is_none());
    // Other sources are served, for the same user too.
    let phone = Peer::bind("127.0.0.1", baton.udp);
    assert_eq!(register_ok(&phone, "alice", "wonderland"), 200);
}

#[test]
fn a_user_locked_by_guesses_from_many_sources_stays_reachable_from_its_own() {
    let _serial = super::shared();
    let baton = start("source_failures = 100\nuser_failures = 3");
    let phone = Peer::bind("127.0.0.1", baton.udp);
    assert_eq!(register_ok(&phone, "alice", "wonderland"), 200);
    for ip in ["127.0.0.4", "127.0.0.5", "127.0.0.6"] {
        guess(&Peer::bind(ip, baton.udp), "alice", 1);
    }
    assert_eq!(
        baton.wait_metric("baton_auth_banned_total", &["scope=\"user\""], 1.0),
        1.0
    );
    // The right password from a new address is refused while locked ...
    let stranger = Peer::bind("127.0.0.7", baton.udp);
    assert_eq!(register_ok(&stranger, "alice", "wonderland"), 403);
    // ... but alice's own phone goes on, and other users are untouched.
    assert_eq!(register_ok(&phone, "alice", "wonderland"), 200);
    assert_eq!(register_ok(&stranger, "bob", "builder"), 200);
    assert!(baton.metric_sum("baton_admission_refused_total", &["reason=\"user_locked\""]) >= 1.0);
}

#[test]
fn invites_and_registers_over_the_source_rate_get_503_then_nothing() {
    let _serial = super::shared();
    // A token every 1,000 s: none comes back during the test.
    let baton = start("source_rate = 0.001\nsource_burst = 2");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    const SENT: usize = 6;
    for i in 0..SENT {
        peer.send(&invite(
            &peer,
            "alice",
            "bob",
            &format!("rate-{i}"),
            &format!("r{i}"),
        ));
    }
    // Two tokens: 407, 407; then 503 with Retry-After while refusals stay
    // within a burst (two); then silence, counted.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let m = peer.recv(T).expect("an answer");
        if m.status() == Some(503) {
            let retry: u64 = m
                .header(&HeaderName::RetryAfter)
                .and_then(|v| v.trim().parse().ok())
                .expect("a Retry-After in seconds");
            assert!(retry >= 1);
        }
        statuses.push(m.status().unwrap_or(0));
    }
    assert_eq!(statuses, [407, 407, 503, 503]);
    assert_eq!(
        baton.wait_metric(
            "baton_admission_dropped_total",
            &["reason=\"source_flood\""],
            2.0
        ),
        2.0
    );
    assert_eq!(
        baton.metric_sum("baton_admission_refused_total", &["reason=\"source_rate\""]),
        2.0
    );
    // Other requests from the source are not rate-limited.
    let ok = peer.request(&options(&peer, "rate-options", "ro"));
    assert_eq!(ok.status(), Some(200));
    // REGISTERs share the budget, per source: another address has its own.
    let other = Peer::bind("127.0.0.5", baton.udp);
    let mut codes = Vec::new();
    for i in 0..3 {
        codes.push(
            other
                .request(&register(&other, "bob", i + 1, &format!("rr{i}"), None))
                .status()
                .unwrap_or(0),
        );
    }
    assert_eq!(codes[..2], [401, 401], "{codes:?}");
    assert_eq!(codes[2], 503, "{codes:?}");
}

#[test]
fn calls_per_user_refuse_the_caller_403_and_the_callee_486() {
    let _serial = super::shared();
    let baton = start("calls_per_user = 1");
    let phone = |user: &str, pw: &str| Phone::registered(user, user, pw, DOMAIN, baton.udp);
    let (alice, bob, carol) = (
        phone("alice", "wonderland"),
        phone("bob", "builder"),
        phone("carol", "cheshire"),
    );
    let first = alice.call(
        &format!("sip:bob@{DOMAIN}"),
        Some(RtpStream::loopback().sdp()),
    );
    bob.wait_incoming(T)
        .expect("bob rings")
        .answer(Some(RtpStream::loopback().sdp()))
        .expect("bob answers");
    let up = first.wait_answer(T).expect("the first call is up");
    // alice has her one call: she may place no other.
    let second = alice.call(
        &format!("sip:carol@{DOMAIN}"),
        Some(RtpStream::loopback().sdp()),
    );
    assert_eq!(second.wait_final(T).expect("a final answer"), 403);
    // bob has his: a call to him is busy.
    let third = carol.call(
        &format!("sip:bob@{DOMAIN}"),
        Some(RtpStream::loopback().sdp()),
    );
    assert_eq!(third.wait_final(T).expect("a final answer"), 486);
    assert_eq!(
        baton.metric_sum(
            "baton_admission_refused_total",
            &["reason=\"caller_calls\""]
        ),
        1.0
    );
    assert_eq!(
        baton.metric_sum(
            "baton_admission_refused_total",
            &["reason=\"callee_calls\""]
        ),
        1.0
    );
    // The first call ends: its count is given back once its actors stop
    // (a moment after the BYE's 200), so alice may call again.
    assert_eq!(up.bye().expect("bye"), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next = alice.call(
            &format!("sip:carol@{DOMAIN}"),
            Some(RtpStream::loopback().sdp()),
        );
        if carol.wait_incoming(Duration::from_millis(500)).is_ok() {
            break;
        }
        assert_eq!(next.wait_final(T).expect("a final answer"), 403);
        assert!(
            Instant::now() < deadline,
            "alice's call count never came back"
        );
    }
}

#[test]
fn a_user_over_its_call_rate_gets_503() {
    let _serial = super::shared();
    let baton = start("user_call_rate = 0.001\nuser_call_burst = 1");
    let phone = |user: &str, pw: &str| Phone::registered(user, user, pw, DOMAIN, baton.udp);
    let (alice, bob, _carol) = (
        phone("alice", "wonderland"),
        phone("bob", "builder"),
        phone("carol", "cheshire"),
    );
    let _first = alice.call(
        &format!("sip:bob@{DOMAIN}"),
        Some(RtpStream::loopback().sdp()),
    );
    bob.wait_incoming(T).expect("bob rings");
    // One token, none back for 1,000 s: the next call is refused.
    let second = alice.call(
        &format!("sip:carol@{DOMAIN}"),
        Some(RtpStream::loopback().sdp()),
    );
    assert_eq!(second.wait_final(T).expect("a final answer"), 503);
    let busy = second.final_response().expect("the 503");
    assert!(busy.header(&HeaderName::RetryAfter).is_some());
    assert_eq!(
        baton.metric_sum("baton_admission_refused_total", &["reason=\"user_rate\""]),
        1.0
    );
}

#[test]
fn a_full_transaction_table_gets_a_stateless_503() {
    let _serial = super::shared();
    let baton = start("max_transactions = 2");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    // Two OPTIONS transactions stay live for Timer J (32 s on UDP).
    assert_eq!(
        peer.request(&options(&peer, "tx-a", "a")).status(),
        Some(200)
    );
    assert_eq!(
        peer.request(&options(&peer, "tx-b", "b")).status(),
        Some(200)
    );
    let busy = peer.request(&options(&peer, "tx-c", "c"));
    assert_eq!(busy.status(), Some(503));
    assert!(busy.header(&HeaderName::RetryAfter).is_some());
    // A retransmission of a live one is still absorbed by its transaction.
    assert_eq!(
        peer.request(&options(&peer, "tx-a", "a")).status(),
        Some(200)
    );
    assert_eq!(
        baton.metric_sum(
            "baton_admission_refused_total",
            &["reason=\"transactions\""]
        ),
        1.0
    );
    assert_eq!(baton.metric_sum("baton_sip_transactions_active", &[]), 2.0);
}

#[test]
fn tcp_connections_over_the_per_source_cap_are_closed_and_counted() {
    let _serial = super::shared();
    let baton = start("tcp_connections_per_source = 2");
    let mut open = Vec::new();
    for i in 0..2 {
        let mut agent = TcpAgent::connect(baton.tcp);
        let request = format!(
            "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKtcp{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag=t{i}\r\nTo: <sip:{DOMAIN}>\r\n\
             Call-ID: tcp-{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(agent.send(request.as_bytes()));
        let answer = agent.recv(T).expect("an answer over TCP");
        assert_eq!(answer.status(), Some(200));
        open.push(agent);
    }
    let mut third = TcpAgent::connect(baton.tcp);
    assert!(third.wait_closed(T), "the third connection stays open");
    assert_eq!(
        baton.wait_metric(
            "baton_sip_transport_connections_rejected_total",
            &["reason=\"per_source\""],
            1.0
        ),
        1.0
    );
}
