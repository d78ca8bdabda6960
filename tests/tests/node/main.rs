//! The `baton` binary as an operator meets it: the command line, the
//! configuration, OPTIONS and unknown methods, the metrics listener, bad
//! input of every size, and a clean shutdown.

use baton_system_tests::{Baton, TcpAgent, UdpAgent, REPLY_TIMEOUT};
use sip_message::HeaderName;
use std::process::Command;
use std::time::Duration;

fn request(method: &str, port: u16, branch: &str, transport: &str) -> String {
    format!(
        "{method} sip:localhost SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@localhost>;tag=p1\r\nTo: <sip:localhost>\r\n\
         Call-ID: {branch}@test\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn start() -> Baton {
    Baton::start("localhost", "tcp_body_timeout = \"1s\"\n", "")
}

#[test]
fn options_is_answered_with_allow_accept_and_supported() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let r = agent
        .request(request("OPTIONS", agent.local_addr().port(), "o1", "UDP").as_bytes())
        .expect("answer");
    assert_eq!(r.status(), Some(200));
    let allow = r.header(&HeaderName::Allow).expect("Allow");
    for m in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"] {
        assert!(allow.contains(m), "Allow lacks {m}: {allow}");
    }
    assert_eq!(r.header(&HeaderName::Accept), Some("application/sdp"));
    assert!(
        r.header(&HeaderName::Supported).is_some(),
        "Supported missing"
    );
    assert!(r.to_tag().is_some(), "a final response carries a To tag");
    // The same over TCP.
    let mut tcp = TcpAgent::connect(baton.tcp);
    tcp.send(request("OPTIONS", 5999, "o2", "TCP").as_bytes());
    assert_eq!(tcp.recv(REPLY_TIMEOUT).and_then(|m| m.status()), Some(200));
}

#[test]
fn unknown_methods_get_501_with_allow_and_unserved_ones_405() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let r = agent
        .request(request("FROBNICATE", agent.local_addr().port(), "u1", "UDP").as_bytes())
        .expect("answer");
    assert_eq!(r.status(), Some(501));
    assert!(r
        .header(&HeaderName::Allow)
        .is_some_and(|a| a.contains("OPTIONS")));
    let r = agent
        .request(request("MESSAGE", agent.local_addr().port(), "u2", "UDP").as_bytes())
        .expect("answer");
    assert_eq!(r.status(), Some(405));
}

#[test]
fn register_is_challenged_with_sha256_first_then_md5() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let r = agent
        .request(request("REGISTER", agent.local_addr().port(), "r1", "UDP").as_bytes())
        .expect("answer");
    assert_eq!(r.status(), Some(401));
    let challenges: Vec<&str> = r.headers.get_all(&HeaderName::WwwAuthenticate).collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(
        challenges[0].contains("algorithm=SHA-256")
            && challenges[0].contains("realm=\"localhost\"")
    );
    assert!(challenges[1].contains("algorithm=MD5"));
}

#[test]
fn a_retransmitted_request_is_absorbed_and_answered_again() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let req = request("OPTIONS", agent.local_addr().port(), "rtx1", "UDP");
    let first = agent.request(req.as_bytes()).expect("answer");
    let second = agent
        .request(req.as_bytes())
        .expect("answer to the retransmission");
    // The transaction re-sends its last response: same To tag.
    assert_eq!(first.to_tag(), second.to_tag());
}

#[test]
fn metrics_and_healthz_are_served() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    agent
        .request(request("OPTIONS", agent.local_addr().port(), "m1", "UDP").as_bytes())
        .expect("answer");
    let (status, body) = baton.http_get("/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = baton.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("baton_sip_parse_errors_total"), "{body}");
    let options_in = baton.metric_sum(
        "baton_sip_messages_total",
        &["direction=\"in\"", "method=\"OPTIONS\""],
    );
    let ok_out = baton.metric_sum(
        "baton_sip_messages_total",
        &["direction=\"out\"", "method=\"OPTIONS\"", "status=\"200\""],
    );
    assert!(
        options_in >= 1.0 && ok_out >= 1.0,
        "in {options_in}, out {ok_out}"
    );
    assert!(!body.contains("quantile="), "histograms, never summaries");
    assert!(
        body.contains("baton_sip_request_seconds_bucket{method=\"OPTIONS\",le=\"0.001\"}"),
        "{body}"
    );
    assert_eq!(baton.http_get("/nothing").0, 404);
}

#[test]
fn garbage_and_oversize_datagrams_are_counted_and_harmless() {
    let baton = start();
    let agent = UdpAgent::new(baton.udp);
    let before = baton.metric_sum("baton_sip_parse_errors_total", &["transport=\"udp\""]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200u32 {
        let len = 1 + (i as usize * 37) % 1400;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        agent.send(&bytes);
        // Sync every 20 datagrams, so that no burst outruns the socket buffer.
        if i % 20 == 19 {
            let sync = request(
                "OPTIONS",
                agent.local_addr().port(),
                &format!("sync{i}"),
                "UDP",
            );
            assert_eq!(
                agent.request(sync.as_bytes()).and_then(|m| m.status()),
                Some(200)
            );
        }
    }
    // 64 KiB-ish datagrams: the largest UDP payload, over every cap.
    let mut big = b"OPTIONS sip:localhost SIP/2.0\r\nX-Pad: ".to_vec();
    big.resize(65_000, b'a');
    agent.send(&big);
    let mut big_body = request("OPTIONS", 1, "big", "UDP")
        .replace("Content-Length: 0", "Content-Length: 60000")
        .into_bytes();
    big_body.resize(big_body.len() + 60_000, b'b');
    agent.send(&big_body);
    assert_eq!(
        agent.recv_status(REPLY_TIMEOUT),
        Some(413),
        "an oversize body is refused as such"
    );
    let probe = UdpAgent::new(baton.udp);
    let r = probe.request(request("OPTIONS", probe.local_addr().port(), "g1", "UDP").as_bytes());
    assert_eq!(
        r.and_then(|m| m.status()),
        Some(200),
        "the node answers after the garbage"
    );
    let after = baton.wait_metric(
        "baton_sip_parse_errors_total",
        &["transport=\"udp\""],
        before + 150.0,
    );
    assert!(
        after - before >= 150.0,
        "parse errors counted: {before} -> {after}"
    );
}

#[test]
fn tcp_header_floods_are_cut_off_and_counted() {
    let baton = start();
    // A header section that never ends.
    let mut agent = TcpAgent::connect(baton.tcp);
    agent.send(b"OPTIONS sip:localhost SIP/2.0\r\n");
    let line = format!("X-Flood: {}\r\n", "f".repeat(1000));
    let mut written = 0usize;
    while written < 1_048_576 {
        if !agent.send(line.as_bytes()) {
            break;
        }
        written += line.len();
    }
    assert!(
        agent.wait_closed(REPLY_TIMEOUT),
        "the connection must be closed"
    );
    // 1 MB of headers in one go.
    let mut agent = TcpAgent::connect(baton.tcp);
    let mut blob = b"OPTIONS sip:localhost SIP/2.0\r\n".to_vec();
    while blob.len() < 1_048_576 {
        blob.extend_from_slice(line.as_bytes());
    }
    let _ = agent.send(&blob);
    assert!(
        agent.wait_closed(REPLY_TIMEOUT),
        "the connection must be closed"
    );
    let counted = baton.wait_metric("baton_sip_parse_errors_total", &["transport=\"tcp\""], 2.0);
    assert!(counted >= 2.0, "tcp parse errors: {counted}");
    // The node still serves.
    let udp = UdpAgent::new(baton.udp);
    let r =
        udp.request(request("OPTIONS", udp.local_addr().port(), "after-flood", "UDP").as_bytes());
    assert_eq!(r.and_then(|m| m.status()), Some(200));
}

#[test]
fn sigterm_stops_the_node_cleanly() {
    let mut baton = start();
    let status = baton.terminate().expect("exits within 10 s");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[sip]\ndomain = \"x.test\"\n\n[media]\nports = \"30001-20000\"\n",
    )
    .expect("write");
    let out = Command::new(baton_system_tests::baton_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(
        lines[0].contains("bad.toml:5") && lines[0].contains("media.ports"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing started");
}

#[test]
fn help_describes_every_flag() {
    let out = Command::new(baton_system_tests::baton_bin())
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("--config") && text.contains("--print-default-config"),
        "{text}"
    );
    let out = Command::new(baton_system_tests::baton_bin())
        .arg("--help")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("serve"));
}

#[test]
fn the_embedded_default_serves_on_5060_and_9090() {
    // The README's first command. Skipped (with a message) only when another
    // process already holds the default ports.
    if std::net::UdpSocket::bind("127.0.0.1:5060").is_err()
        || std::net::TcpListener::bind("127.0.0.1:9090").is_err()
    {
        eprintln!("default ports are busy; not starting a second default node");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(baton_system_tests::baton_bin())
        .arg("serve")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let agent = UdpAgent::new("127.0.0.1:5060".parse().expect("addr"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut answered = None;
    while answered.is_none() && std::time::Instant::now() < deadline {
        agent.send(request("OPTIONS", agent.local_addr().port(), "default1", "UDP").as_bytes());
        answered = agent.recv(Duration::from_millis(300));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(answered.and_then(|m| m.status()), Some(200));
    assert!(status.success());
}
