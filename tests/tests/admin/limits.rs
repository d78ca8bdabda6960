//! The metrics listener's limits: a connection over `max_connections` is
//! closed at once, a client that does not finish its request head (or sits
//! idle between requests) within `header_timeout` is cut off; both counted.

use super::{config, get, parse, wait_until, T};
use baton_system_tests::Baton;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the peer closes (or resets) the connection; true if it did
/// within `timeout`.
fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn series(baton: &Baton, line_prefix: &str) -> f64 {
    get(baton.metrics, "/metrics", None)
        .body
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn one_connection_over_the_cap_is_closed_at_once_and_counted() {
    let data = tempfile::tempdir().expect("tempdir");
    let baton = Baton::start_toml(&config(
        "127.0.0.1:0",
        "max_connections = 2\nheader_timeout = \"30s\"\n",
        data.path(),
        "",
    ));
    // Two clients connect and say nothing: they hold both places.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&baton.metrics, T).expect("connect"))
        .collect();
    // The third is closed at once, before it sends anything.
    let mut third = TcpStream::connect_timeout(&baton.metrics, T).expect("connect");
    assert!(
        closed_within(&mut third, T),
        "the connection over the cap is closed at once"
    );
    // The held ones are served.
    write!(
        held[0],
        "GET /healthz HTTP/1.1\r\nHost: baton\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    held[0].set_read_timeout(Some(T)).expect("timeout");
    held[0].read_to_string(&mut text).expect("read");
    assert_eq!(parse(&text).status, 200, "{text}");
    // Once they go, the listener serves again (the places are given back)
    // and has counted the refusal.
    drop(held);
    let mut refused = 0.0;
    let counted = wait_until(T, || {
        let Ok(mut s) = TcpStream::connect_timeout(&baton.metrics, T) else {
            return false;
        };
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: baton\r\nConnection: close\r\n\r\n"
        );
        let mut text = String::new();
        let _ = s.set_read_timeout(Some(T));
        let _ = s.read_to_string(&mut text);
        refused = parse(&text)
            .body
            .lines()
            .find(|l| l.starts_with("baton_http_connections_total{outcome=\"over_cap\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0);
        refused >= 1.0
    });
    assert!(counted, "over_cap counted: {refused}");
}

#[test]
fn a_slow_or_idle_client_is_cut_off_after_the_header_timeout() {
    let data = tempfile::tempdir().expect("tempdir");
    let baton = Baton::start_toml(&config(
        "127.0.0.1:0",
        "header_timeout = \"1s\"\n",
        data.path(),
        "",
    ));
    // Slow: half a request head, then nothing.
    let mut slow = TcpStream::connect_timeout(&baton.metrics, T).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: ba")
        .expect("write");
    let started = Instant::now();
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)),
        "the slow client is disconnected"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout: {:?}",
        started.elapsed()
    );
    // Idle: one request answered on a kept-alive connection, then silence.
    let mut idle = TcpStream::connect_timeout(&baton.metrics, T).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n\r\n")
        .expect("write");
    idle.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).expect("the answer");
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(parse(&answer).status, 200, "{answer}");
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)),
        "the idle kept-alive connection is closed"
    );
    let counted = wait_until(T, || {
        series(
            &baton,
            "baton_http_connections_total{outcome=\"header_timeout\"}",
        ) >= 2.0
    });
    assert!(counted, "both cut-offs counted");
}

#[test]
fn a_connection_is_closed_at_its_deadline_whatever_it_does() {
    let data = tempfile::tempdir().expect("tempdir");
    let baton = Baton::start_toml(&config(
        "127.0.0.1:0",
        "header_timeout = \"30s\"\nconnection_timeout = \"1s\"\n",
        data.path(),
        "",
    ));
    // A client that keeps asking on one connection: served, then cut off
    // at the deadline rather than kept forever.
    let mut s = TcpStream::connect_timeout(&baton.metrics, T).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    let started = Instant::now();
    let mut served = 0;
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(10) {
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n\r\n")
            .is_err()
        {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => served += 1,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 1, "served before the deadline");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed at the deadline"
    );
    let counted = wait_until(T, || {
        series(&baton, "baton_http_connections_total{outcome=\"deadline\"}") >= 1.0
    });
    assert!(counted, "the deadline counted");
}
