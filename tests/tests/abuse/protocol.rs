//! Protocol-level defects: the stateless `407`, digest `qop` and `uri`,
//! merged requests, malformed ACKs, stray responses' status labels.

use super::{challenge_for, invite, options, register, start, Peer, DOMAIN, T};
use baton_system_tests::authorization;
use sip_auth::{Credentials, Secret};
use sip_message::{HeaderName, Message, Method};
use std::time::Duration;

/// The RFC 2069 form (no `qop`, `nc`, `cnonce`) with the right password.
fn digest_without_qop(challenge: &str, method: &str, uri: &str, user: &str, pw: &str) -> String {
    let param = |name: &str| -> String {
        challenge
            .trim_start_matches("Digest")
            .split(',')
            .find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                k.eq_ignore_ascii_case(name)
                    .then(|| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("no {name} in {challenge}"))
    };
    let (realm, nonce, algorithm) = (param("realm"), param("nonce"), param("algorithm"));
    let mut creds = Credentials::parse(&format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={algorithm}, response=\"\""
    ))
    .expect("credentials");
    creds.response =
        sip_auth::expected_response(&creds, method, Secret::Password(pw)).expect("digest");
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={algorithm}, response=\"{}\"",
        creds.response
    )
}

#[test]
fn an_unauthenticated_invite_gets_one_stateless_407_and_its_ack_is_absorbed() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    let text = invite(&peer, "alice", "bob", "stateless-407", "inv1");
    peer.send(&text);
    let raw = peer.recv_raw(T).expect("an answer to the INVITE");
    let challenge = Message::parse(&raw).expect("the 407 parses");
    assert_eq!(challenge.status(), Some(407));
    assert!(
        raw.len() <= text.len(),
        "a {}-byte 407 to a {}-byte INVITE",
        raw.len(),
        text.len()
    );
    let tag = challenge.to_tag().expect("a To tag");

    // No ACK is sent. A 407 on an INVITE server transaction would be
    // retransmitted after T1 = 500 ms and again 1 s later (Timer G).
    // Past 2·T1, another request from the same socket: the next datagram
    // is its answer, not a retransmitted 407.
    std::thread::sleep(Duration::from_millis(1_200));
    peer.send(&options(&peer, "stateless-407-probe", "opt1"));
    let next = peer.recv(T).expect("an answer to the OPTIONS");
    assert_eq!(next.status(), Some(200), "{next:?}");
    assert_eq!(next.cseq().map(|c| c.method), Some(Method::OPTIONS));
    assert_eq!(
        baton.metric_sum(
            "baton_sip_messages_total",
            &["direction=\"out\"", "status=\"407\""]
        ),
        1.0
    );
    // The core holds the OPTIONS's transaction only: none for the INVITE.
    // (The gauge is set just after the answer leaves: wait for it.)
    assert_eq!(
        baton.wait_metric("baton_sip_transactions_active", &[], 1.0),
        1.0
    );

    // A retransmitted INVITE gets the same 407 (the same To tag: the
    // stateless tag is a function of the request).
    peer.send(&text);
    let again = peer.recv(T).expect("a second 407");
    assert_eq!(again.status(), Some(407));
    assert_eq!(again.to_tag().as_deref(), Some(tag.as_str()));

    // Its ACK is absorbed quietly: counted as such, not as a stray ACK.
    let a = peer.addr();
    peer.send(&format!(
        "ACK sip:bob@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@{DOMAIN}>;tag=i{port}\r\n\
         To: <sip:bob@{DOMAIN}>;tag={tag}\r\nCall-ID: stateless-407\r\nCSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n",
        port = a.port()
    ));
    assert_eq!(
        baton.wait_metric("baton_sip_stateless_acks_total", &[], 1.0),
        1.0
    );
    assert_eq!(
        baton.metric_sum("baton_sip_stray_total", &["kind=\"ack\""]),
        0.0
    );
}

#[test]
fn refusals_before_digest_are_stateless_too() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    // Max-Forwards 0 (RFC 3261 §16.3): refused with 483 before any digest,
    // from an address that may be spoofed: one packet, no transaction.
    let text = invite(&peer, "alice", "bob", "stateless-483", "mf0")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    peer.send(&text);
    let first = peer.recv(T).expect("an answer to the INVITE");
    assert_eq!(first.status(), Some(483));
    let tag = first.to_tag().expect("a To tag");
    // The probe's answer comes with the core holding its transaction only:
    // none was made for the INVITE (an INVITE server transaction would
    // retransmit the 483 until Timer H).
    peer.send(&options(&peer, "stateless-483-probe", "opt483"));
    let next = peer.recv(T).expect("an answer to the OPTIONS");
    assert_eq!(next.cseq().map(|c| c.method), Some(Method::OPTIONS));
    // (The gauge is set just after the answer leaves: wait for it.)
    assert_eq!(
        baton.wait_metric("baton_sip_transactions_active", &[], 1.0),
        1.0
    );
    // A retransmission is answered again, the same way (same To tag), and
    // the ACK of the 483 is absorbed as a stateless one's.
    peer.send(&text);
    let again = peer.recv(T).expect("a second 483");
    assert_eq!(again.status(), Some(483));
    assert_eq!(again.to_tag().as_deref(), Some(tag.as_str()));
    let a = peer.addr();
    peer.send(&format!(
        "ACK sip:bob@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKmf0\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@{DOMAIN}>;tag=i{port}\r\n\
         To: <sip:bob@{DOMAIN}>;tag={tag}\r\nCall-ID: stateless-483\r\nCSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n",
        port = a.port()
    ));
    assert_eq!(
        baton.wait_metric("baton_sip_stateless_acks_total", &[], 1.0),
        1.0
    );
}

#[test]
fn a_digest_answer_without_qop_is_challenged_again() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    let first = peer.request(&register(&peer, "alice", 1, "q1", None));
    assert_eq!(first.status(), Some(401));
    let challenge = challenge_for(&first, "SHA-256");
    assert!(challenge.contains("qop=\"auth\""), "{challenge}");
    // The right password, but RFC 2069 style: no qop, nc, cnonce.
    let auth = digest_without_qop(
        &challenge,
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        "alice",
        "wonderland",
    );
    let refused = peer.request(&register(&peer, "alice", 2, "q2", Some(&auth)));
    assert_eq!(refused.status(), Some(401));
    assert!(refused.header(&HeaderName::WwwAuthenticate).is_some());
    assert_eq!(
        baton.wait_metric(
            "baton_auth_failures_total",
            &["reason=\"qop_missing\""],
            1.0
        ),
        1.0
    );
    assert_eq!(baton.metric_sum("baton_registrations_active", &[]), 0.0);
    // With qop the same password is accepted.
    let auth = authorization(
        &challenge_for(&refused, "SHA-256"),
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        "alice",
        "wonderland",
        1,
    );
    let ok = peer.request(&register(&peer, "alice", 3, "q3", Some(&auth)));
    assert_eq!(ok.status(), Some(200));
}

#[test]
fn a_digest_for_another_uri_gets_400_and_an_equivalent_uri_is_accepted() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    let first = peer.request(&register(&peer, "alice", 1, "u1", None));
    let challenge = challenge_for(&first, "SHA-256");
    // A valid digest, computed over another resource than the Request-URI
    // (a captured answer replayed elsewhere, or a broken client).
    let auth = authorization(
        &challenge,
        "REGISTER",
        "sip:other.test",
        "alice",
        "wonderland",
        1,
    );
    let refused = peer.request(&register(&peer, "alice", 2, "u2", Some(&auth)));
    assert_eq!(refused.status(), Some(400), "{refused:?}");
    assert_eq!(
        baton.wait_metric(
            "baton_auth_failures_total",
            &["reason=\"uri_mismatch\""],
            1.0
        ),
        1.0
    );
    assert_eq!(baton.metric_sum("baton_registrations_active", &[]), 0.0);
    // The same URI written differently (RFC 3261 §19.1.4: the host is
    // case-insensitive) names the same resource.
    let auth = authorization(
        &challenge,
        "REGISTER",
        "sip:EXAMPLE.test",
        "alice",
        "wonderland",
        2,
    );
    let ok = peer.request(&register(&peer, "alice", 3, "u3", Some(&auth)));
    assert_eq!(ok.status(), Some(200), "{ok:?}");
}

#[test]
fn a_merged_request_gets_482() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    let first = peer.request(&options(&peer, "merged", "path1"));
    assert_eq!(first.status(), Some(200));
    // The same request (From tag, Call-ID, CSeq) by another path: another
    // branch, while the first one's transaction is live (Timer J, 32 s).
    let merged = peer.request(&options(&peer, "merged", "path2"));
    assert_eq!(merged.status(), Some(482), "{merged:?}");
    assert!(merged.to_tag().is_some());
    // A retransmission of the first is still answered 200, not 482.
    let again = peer.request(&options(&peer, "merged", "path1"));
    assert_eq!(again.status(), Some(200));
    assert_eq!(
        baton.metric_sum("baton_sip_stray_total", &["kind=\"merged\""]),
        1.0
    );
}

/// A request whose Max-Forwards does not parse: `method` and its CSeq.
fn malformed(peer: &Peer, method: &str, branch: &str) -> String {
    let a = peer.addr();
    format!(
        "{method} sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: many\r\nFrom: <sip:probe@{DOMAIN}>;tag=m{port}\r\nTo: <sip:{DOMAIN}>;tag=x\r\n\
         Call-ID: malformed-{branch}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n",
        port = a.port()
    )
}

/// The status code of a raw datagram (a 400 echoes the malformed headers,
/// so it may not parse as a whole).
fn status_of(raw: &[u8]) -> Option<u16> {
    std::str::from_utf8(raw)
        .ok()?
        .strip_prefix("SIP/2.0 ")?
        .get(..3)?
        .parse()
        .ok()
}

#[test]
fn a_malformed_ack_is_never_answered() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    // The same malformation in an OPTIONS is answered 400 ...
    peer.send(&malformed(&peer, "OPTIONS", "bad1"));
    let raw = peer.recv_raw(T).expect("a 400 to the malformed OPTIONS");
    assert_eq!(status_of(&raw), Some(400));
    // ... but in an ACK it gets nothing: the next datagram is the answer
    // to the OPTIONS sent after it.
    peer.send(&malformed(&peer, "ACK", "bad2"));
    peer.send(&options(&peer, "after-bad-ack", "ok1"));
    let raw = peer.recv_raw(T).expect("an answer");
    assert_eq!(
        status_of(&raw),
        Some(200),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let answer = Message::parse(&raw).expect("parses");
    assert_eq!(answer.call_id(), Some("after-bad-ack"));
    assert!(baton.metric_sum("baton_sip_parse_errors_total", &[]) >= 2.0);
}

#[test]
fn stray_responses_with_odd_status_codes_mint_no_series() {
    let _serial = super::shared();
    let baton = start("");
    let peer = Peer::bind("127.0.0.1", baton.udp);
    let a = peer.addr();
    let codes = [299u16, 499, 556, 699, 180];
    for (i, code) in codes.iter().enumerate() {
        peer.send(&format!(
            "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKstray{i}\r\n\
             From: <sip:x@{DOMAIN}>;tag=a\r\nTo: <sip:y@{DOMAIN}>;tag=b\r\n\
             Call-ID: stray-{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ));
    }
    assert_eq!(
        baton.wait_metric("baton_sip_stray_total", &["kind=\"response\""], 5.0),
        5.0
    );
    let (_, body) = baton.http_get("/metrics");
    for code in ["299", "499", "556", "699"] {
        assert!(
            !body.contains(&format!("status=\"{code}\"")),
            "a series for {code}"
        );
    }
    assert_eq!(
        baton.metric_sum(
            "baton_sip_messages_total",
            &["direction=\"in\"", "status=\"other\""]
        ),
        4.0
    );
    assert_eq!(
        baton.metric_sum(
            "baton_sip_messages_total",
            &["direction=\"in\"", "status=\"180\""]
        ),
        1.0
    );
}
