//! Server-level conformance: every RFC 4475 / RFC 5118 torture message is
//! sent to a running `baton serve` over UDP (and the framing cases over TCP),
//! and the answer, or the silence, is what `tests/conformance/rfc4475/README.md`
//! asks for. After all of them the node still answers OPTIONS.

use baton_system_tests::{Baton, TcpAgent, UdpAgent, REPLY_TIMEOUT};
use std::path::PathBuf;
use std::time::Duration;

/// `None` means the node must stay silent (responses that match nothing).
const EXPECTED: &[(&str, Option<u16>)] = &[
    ("badaspec.sip", Some(400)),
    ("badbranch.sip", Some(400)),
    ("baddate.sip", Some(407)), // a valid INVITE: Date is ignored, auth is asked
    ("baddn.sip", Some(400)),
    ("badinv01.sip", Some(400)),
    ("badvers.sip", Some(505)),
    ("bcast.sip", None),
    ("bext01.sip", Some(420)),
    ("bigcode.sip", None),
    ("clerr.sip", Some(400)),
    ("cparam01.sip", Some(401)),
    ("cparam02.sip", Some(401)),
    ("dblreq.sip", Some(401)),
    ("esc01.sip", Some(407)),
    ("esc02.sip", Some(501)),
    ("escnull.sip", Some(401)),
    ("escruri.sip", Some(400)),
    ("insuf.sip", Some(400)),
    ("intmeth.sip", Some(501)),
    ("inv2543.sip", Some(407)),
    ("invut.sip", Some(415)),
    ("longreq.sip", Some(407)),
    ("ltgtruri.sip", Some(400)),
    ("lwsdisp.sip", Some(200)),
    ("lwsruri.sip", Some(400)),
    ("lwsstart.sip", Some(400)),
    ("mcl01.sip", Some(400)),
    ("mismatch01.sip", Some(400)),
    ("mismatch02.sip", Some(501)),
    ("mpart01.sip", Some(405)),
    ("multi01.sip", Some(400)),
    ("ncl.sip", Some(400)),
    ("noreason.sip", None),
    ("novelsc.sip", Some(416)),
    ("quotbal.sip", Some(400)),
    ("regaut01.sip", Some(401)),
    ("regbadct.sip", Some(400)),
    ("regescrt.sip", Some(401)),
    ("scalar02.sip", Some(400)),
    ("scalarlg.sip", None),
    ("sdp01.sip", Some(406)),
    ("semiuri.sip", Some(200)),
    ("transports.sip", Some(200)),
    ("trws.sip", Some(400)),
    ("unkscm.sip", Some(416)),
    ("unksm2.sip", Some(400)),
    ("unreason.sip", None),
    ("wsinv.sip", Some(481)), // carries a To tag: a re-INVITE for no dialog
    ("zeromf.sip", Some(200)),
    ("rfc5118/ipv4-mapped-ipv6.sip", Some(407)),
    ("rfc5118/ipv6-bad.sip", Some(400)),
    ("rfc5118/ipv6-bug-abnf-3-colons.sip", Some(200)),
    ("rfc5118/ipv6-correct-abnf-2-colons.sip", Some(200)),
    ("rfc5118/ipv6-good.sip", Some(401)),
    ("rfc5118/ipv6-in-sdp.sip", Some(407)),
    ("rfc5118/mult-ip-in-header.sip", Some(481)),
    ("rfc5118/mult-ip-in-sdp.sip", Some(407)),
    ("rfc5118/port-ambiguous.sip", Some(401)),
    ("rfc5118/port-unambiguous.sip", Some(401)),
    ("rfc5118/via-received-param-no-delim.sip", Some(200)),
    ("rfc5118/via-received-param-with-delim.sip", Some(481)),
];

fn corpus(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("conformance/rfc4475")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn options(agent_port: u16, branch: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{agent_port};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=p1\r\nTo: <sip:example.com>\r\n\
         Call-ID: probe-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn start() -> Baton {
    Baton::start("example.com", "tcp_body_timeout = \"1s\"\n", "")
}

/// Sends each message to `baton` from a fresh socket and collects the
/// mismatches with the table.
fn check_all(baton: &Baton, table: &[(&str, Option<u16>)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, expected) in table {
        // A fresh socket per message, so that a late answer cannot be taken
        // for the next message's.
        let agent = UdpAgent::new(baton.udp);
        agent.send(&corpus(name));
        let wait = if expected.is_some() {
            REPLY_TIMEOUT
        } else {
            Duration::from_millis(300)
        };
        let got = agent.recv_status(wait);
        if got != *expected {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        // A datagram carries one message: dblreq's trailing INVITE must not
        // start a second transaction.
        if *name == "dblreq.sip" && agent.recv_status(Duration::from_millis(300)).is_some() {
            wrong.push("dblreq.sip: a second answer came".into());
        }
    }
    wrong
}

#[test]
fn every_corpus_message_gets_the_answer_its_table_asks_for_over_udp() {
    // Several corpus messages share a branch and sent-by (cparam01 and
    // cparam02, for one): to one node the later is a retransmission of the
    // earlier, rightly absorbed. So the messages are spread over nodes such
    // that no node sees two messages with the same transaction key.
    let mut batches: Vec<Vec<(&str, Option<u16>)>> = Vec::new();
    let mut keys_per_batch: Vec<std::collections::HashSet<String>> = Vec::new();
    for (name, expected) in EXPECTED {
        let key = transaction_key(&corpus(name));
        match keys_per_batch.iter().position(|keys| !keys.contains(&key)) {
            Some(i) => {
                keys_per_batch[i].insert(key);
                batches[i].push((name, *expected));
            }
            None => {
                keys_per_batch.push([key].into_iter().collect());
                batches.push(vec![(name, *expected)]);
            }
        }
    }
    let mut wrong = Vec::new();
    for batch in &batches {
        let baton = start();
        wrong.extend(check_all(&baton, batch));
        let probe = UdpAgent::new(baton.udp);
        let answer = probe.request(&options(probe.local_addr().port(), "after-corpus"));
        if answer.and_then(|m| m.status()) != Some(200) {
            wrong.push("OPTIONS after the corpus was not answered 200".into());
        }
    }
    assert!(batches.len() <= 8, "{} nodes were needed", batches.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The top Via's branch and sent-by, as raw text (enough to tell
/// transaction keys apart in the corpus).
fn transaction_key(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let via = text
        .split("\r\n")
        .find(|l| l.starts_with("Via:") || l.starts_with("v:") || l.starts_with("Via :"))
        .unwrap_or("");
    via.split([','])
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<String>()
}

#[test]
fn the_count_of_parse_errors_grows_with_malformed_input() {
    let baton = start();
    let before = baton.metric_sum("baton_sip_parse_errors_total", &[]);
    let agent = UdpAgent::new(baton.udp);
    for name in ["badinv01.sip", "quotbal.sip", "scalarlg.sip", "bigcode.sip"] {
        agent.send(&corpus(name));
    }
    let _ = agent.recv(REPLY_TIMEOUT);
    let after = baton.wait_metric("baton_sip_parse_errors_total", &[], before + 4.0);
    assert!(
        after >= before + 4.0,
        "parse errors went from {before} to {after}"
    );
}

#[test]
fn tcp_framing_cases_close_the_connection() {
    let baton = start();
    // Negative and conflicting Content-Length: the stream cannot be framed.
    for name in ["ncl.sip", "mcl01.sip"] {
        let mut agent = TcpAgent::connect(baton.tcp);
        agent.send(&corpus(name));
        assert!(
            agent.wait_closed(REPLY_TIMEOUT),
            "{name}: connection left open"
        );
    }
    // Content-Length larger than what is sent: wait (bounded), then close.
    let mut agent = TcpAgent::connect(baton.tcp);
    agent.send(&corpus("clerr.sip"));
    let started = std::time::Instant::now();
    assert!(
        agent.wait_closed(Duration::from_secs(5)),
        "clerr: connection left open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "clerr: closed before the body timer"
    );
    // And the node still serves TCP.
    let mut agent = TcpAgent::connect(baton.tcp);
    let port = 5999;
    let mut req = String::from_utf8(options(port, "tcp-probe")).expect("utf8");
    req = req.replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    agent.send(req.as_bytes());
    let answer = agent
        .recv(REPLY_TIMEOUT)
        .expect("OPTIONS over TCP answered");
    assert_eq!(answer.status(), Some(200));
    let closed = baton.wait_metric("baton_sip_parse_errors_total", &["transport=\"tcp\""], 3.0);
    assert!(closed >= 3.0, "tcp parse errors counted: {closed}");
}
