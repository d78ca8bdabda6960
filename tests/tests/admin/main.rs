//! The admin surface of the metrics listener, its limits, readiness, and a
//! node that fails closed when its log cannot be written: a real `baton`
//! process, real sockets, the project's test agent as the phones.
//!
//! - `/metrics`, `/healthz`, `/readyz` answer anyone; `/calls` needs the
//!   admin token, or without one a loopback peer (the non-loopback peer is
//!   a network namespace of this test's own, see `netns.rs`).
//! - `/calls` never shows a dialog's Call-ID, tags, remote target or relay
//!   ports.
//! - The listener closes one connection over `metrics.max_connections` at
//!   once, and a client that does not finish its request head within
//!   `metrics.header_timeout`.
//! - A full disk (a small tmpfs as `data_dir`, see `full_disk.rs`) turns
//!   `/readyz` and new calls to `503` while calls up keep their media.

use baton_system_tests::ua::{Call, Phone, RtpStream, Transport};
use baton_system_tests::Baton;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

mod container;
mod full_disk;
mod limits;
mod netns;

const T: Duration = Duration::from_secs(5);
const DOMAIN: &str = "example.test";
const USERS: &str = "[[users]]\nname = \"alice\"\npassword = \"wonderland\"\n\n\
                     [[users]]\nname = \"bob\"\npassword = \"builder\"\n";

/// A configuration: SIP on loopback (ephemeral), metrics on `metrics`,
/// the log in `data_dir`, alice and bob, plus `extra` (more tables).
fn config(metrics: &str, metrics_extra: &str, data_dir: &Path, extra: &str) -> String {
    format!(
        "[sip]\ndomain = \"{DOMAIN}\"\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n\n\
         [metrics]\nlisten = \"{metrics}\"\n{metrics_extra}\n\n\
         [cluster]\ndata_dir = \"{}\"\n\n{extra}\n{USERS}",
        data_dir.display()
    )
}

/// One HTTP response.
#[derive(Debug)]
struct Http {
    status: u16,
    head: String,
    body: String,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// `GET path` on `addr` with an optional `Authorization` value, one
/// request per connection.
fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Http {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect to the metrics listener");
    s.set_read_timeout(Some(T)).expect("timeout");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: baton\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    parse(&text)
}

fn parse(text: &str) -> Http {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Http {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Polls `f` until it is true or `timeout` passes; returns its last value.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn registered(baton: &Baton, user: &str, password: &str) -> Phone {
    let p = Phone::new(user, user, password, DOMAIN, baton.udp, Transport::Udp);
    assert_eq!(
        p.register(600).expect("register").status(),
        Some(200),
        "{user} registers"
    );
    p
}

/// A call alice places and bob answers, with media streams on both sides
/// that send to the relay: (alice's call, bob's call, alice's stream,
/// bob's stream).
fn call_with_media(alice: &Phone, bob: &Phone) -> (Call, Call, RtpStream, RtpStream) {
    let (a_rtp, b_rtp) = (RtpStream::loopback(), RtpStream::loopback());
    let outgoing = alice.call("sip:bob@example.test", Some(a_rtp.sdp()));
    let b_call = bob
        .wait_incoming(T)
        .expect("bob's phone rings")
        .answer(Some(b_rtp.sdp()))
        .expect("bob answers");
    let a_call = outgoing.wait_answer(T).expect("alice's call is answered");
    let to_bob = a_call.remote_sdp().expect("answer").rtp_addr();
    let to_alice = b_call.remote_sdp().expect("offer").rtp_addr();
    a_rtp.start_sending(baton_system_tests::RtpSend::new(
        to_bob,
        0xA1,
        baton_system_tests::Payload::Pattern(b'A'),
    ));
    b_rtp.start_sending(baton_system_tests::RtpSend::new(
        to_alice,
        0xB1,
        baton_system_tests::Payload::Pattern(b'B'),
    ));
    (a_call, b_call, a_rtp, b_rtp)
}

/// The active calls `/calls` lists, by a client on loopback (no token).
fn calls(baton: &Baton) -> Vec<serde_json::Value> {
    let r = get(baton.metrics, "/calls", None);
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// Waits until `/calls` lists `n` calls with both legs confirmed.
fn wait_confirmed_calls(baton: &Baton, n: usize) -> Vec<serde_json::Value> {
    let mut last = Vec::new();
    let complete = wait_until(T, || {
        last = calls(baton);
        last.len() == n
            && last
                .iter()
                .all(|c| !c["caller"].is_null() && !c["callee"].is_null())
    });
    assert!(complete, "{n} confirmed calls expected: {last:#?}");
    last
}

/// Every string and number in a JSON value.
fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            leaves(x, out);
        }),
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

#[test]
fn calls_answers_on_loopback_without_a_token_and_shows_no_dialog_ids() {
    let data = tempfile::tempdir().expect("tempdir");
    let baton = Baton::start_toml(&config("127.0.0.1:0", "", data.path(), ""));
    let alice = registered(&baton, "alice", "wonderland");
    let bob = registered(&baton, "bob", "builder");
    let (a_call, b_call, a_rtp, b_rtp) = call_with_media(&alice, &bob);
    assert!(b_rtp.wait_packets(10, T), "media flows");
    let listed = wait_confirmed_calls(&baton, 1);

    // What the operator needs is there.
    let call = &listed[0];
    assert_eq!(call["state"], "confirmed", "{call}");
    assert!(call["caller_aor"]
        .as_str()
        .is_some_and(|a| a.contains("alice")));
    assert!(call["callee_aor"]
        .as_str()
        .is_some_and(|a| a.contains("bob")));
    assert!(call["created_at_ms"].as_u64().is_some_and(|t| t > 0));

    // Nothing that lets a reader act on either dialog: the test agent knows
    // both legs' Call-IDs and tags, and the relay ports Baton gave them.
    let mut secrets = Vec::new();
    for c in [&a_call, &b_call] {
        let id = c.dialog_id().expect("a confirmed dialog");
        secrets.extend([id.call_id, id.local_tag, id.remote_tag]);
    }
    let relay_ports = [
        a_call.remote_sdp().expect("sdp").rtp_addr().port(),
        b_call.remote_sdp().expect("sdp").rtp_addr().port(),
    ];
    let body = get(baton.metrics, "/calls", None).body;
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut values = Vec::new();
    leaves(&json, &mut values);
    for secret in &secrets {
        assert!(!body.contains(secret.as_str()), "{secret} in {body}");
    }
    for port in relay_ports {
        assert!(
            !values.iter().any(|v| *v == port.to_string()),
            "relay port {port} in {body}"
        );
    }
    for key in [
        "call_id",
        "local_tag",
        "remote_tag",
        "remote_target",
        "relay_port",
    ] {
        assert!(!values.iter().any(|v| v == key), "{key} in {body}");
    }
    // The phones' own addresses (remote targets) are not listed either.
    for phone in [&alice, &bob] {
        let addr = phone.local_addr().to_string();
        assert!(!body.contains(&addr), "{addr} in {body}");
    }

    // The anonymous endpoints.
    assert_eq!(get(baton.metrics, "/metrics", None).status, 200);
    assert_eq!(get(baton.metrics, "/healthz", None).status, 200);
    let ready = get(baton.metrics, "/readyz", None);
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    a_rtp.stop();
    b_rtp.stop();
    assert_eq!(a_call.bye().expect("bye"), 200);
}

#[test]
fn with_a_token_the_admin_endpoints_ask_every_client_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, "k3y-0f-the-0perator\n").expect("token file");
    let baton = Baton::start_toml(&config(
        "127.0.0.1:0",
        "",
        &dir.path().join("data"),
        &format!("[admin]\ntoken_file = \"{}\"\n", token_file.display()),
    ));

    let none = get(baton.metrics, "/calls", None);
    assert_eq!(none.status, 401, "{none:?}");
    assert!(
        none.header("WWW-Authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{none:?}"
    );
    assert!(!none.body.starts_with('['), "no table without the token");
    let wrong = get(baton.metrics, "/calls", Some("Bearer k3y-0f-someone-else"));
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(wrong.header("WWW-Authenticate").is_some());
    let basic = get(baton.metrics, "/calls", Some("Basic YWRtaW46YWRtaW4="));
    assert_eq!(basic.status, 401, "{basic:?}");
    let right = get(baton.metrics, "/calls", Some("Bearer k3y-0f-the-0perator"));
    assert_eq!(right.status, 200, "{right:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&right.body).expect("JSON"),
        serde_json::json!([])
    );

    // The anonymous endpoints stay anonymous.
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(baton.metrics, path, None).status, 200, "{path}");
    }
    assert_eq!(get(baton.metrics, "/nothing", None).status, 404);
    assert!(
        baton.wait_metric(
            "baton_http_admin_denied_total",
            &["reason=\"missing_token\""],
            2.0
        ) >= 2.0
    );
    assert!(
        baton.wait_metric(
            "baton_http_admin_denied_total",
            &["reason=\"wrong_token\""],
            1.0
        ) >= 1.0
    );
}

#[test]
fn a_token_file_that_cannot_be_used_stops_the_node_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").expect("write");
    let missing = dir.path().join("missing.token");
    for file in [&missing, &empty] {
        let path = dir.path().join("baton.toml");
        std::fs::write(
            &path,
            config(
                "127.0.0.1:0",
                "",
                &dir.path().join("data"),
                &format!("[admin]\ntoken_file = \"{}\"\n", file.display()),
            ),
        )
        .expect("config");
        let out = std::process::Command::new(baton_system_tests::baton_bin())
            .args(["serve", "--config"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run baton");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{stdout}");
        assert!(!stdout.contains("ready"), "nothing started: {stdout}");
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains("admin.token_file"),
            "the error names the key and the file: {stderr}"
        );
    }
}
