//! TCP under abuse: unframeable streams, endless headers, slow bodies, idle
//! connections and the connection cap. Each ends with the server closing the
//! connection and reporting it.

mod harness;

use baton_sip_transport::{CloseReason, TransportEvent, TransportKind};
use harness::{connect, expect_closed, next_event, next_message, options, start, write, WAIT};
use sip_message::{FramingError, ParseError};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// Expects `Malformed { closed: true }` with this framing cause, then the
/// `ConnectionClosed` that always follows.
async fn expect_malformed_close(
    events: &mut mpsc::Receiver<TransportEvent>,
    cause: impl Fn(&FramingError) -> bool,
    reason: CloseReason,
) {
    match next_event(events).await {
        TransportEvent::Malformed {
            error: ParseError::Framing { error, .. },
            closed: true,
            ..
        } => assert!(cause(&error), "unexpected cause {error:?}"),
        other => panic!("expected Malformed {{ closed: true }}, got {other:?}"),
    }
    match next_event(events).await {
        TransportEvent::ConnectionClosed { reason: r, .. } => assert_eq!(r, reason),
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

#[tokio::test]
async fn negative_content_length_closes_the_connection() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKneg", "")
        .replace("Content-Length: 0", "Content-Length: -5");
    write(&mut stream, req.as_bytes()).await;

    expect_malformed_close(
        &mut events,
        |e| *e == FramingError::InvalidContentLength,
        CloseReason::Malformed,
    )
    .await;
    expect_closed(&mut stream).await;
    assert_eq!(handle.stats().connections_open, 0);
    assert_eq!(handle.stats().connections_closed, 1);
}

#[tokio::test]
async fn conflicting_content_lengths_close_the_connection() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKconf", "")
        .replace("Content-Length: 0", "Content-Length: 0\r\nl: 4");
    write(&mut stream, req.as_bytes()).await;
    expect_malformed_close(
        &mut events,
        |e| *e == FramingError::ConflictingContentLength,
        CloseReason::Malformed,
    )
    .await;
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_header_section_that_never_ends_is_cut_off() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    write(&mut stream, b"OPTIONS sip:baton@example.com SIP/2.0\r\n").await;

    // Up to ~1 MB of header lines, 64 times the head cap; the server gives
    // up long before, and our writes start failing once it has reset.
    let line = format!("X-Filler: {}\r\n", "a".repeat(100));
    let mut written = 0usize;
    timeout(WAIT, async {
        while written < 1_000_000 {
            if stream.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            written += line.len();
        }
    })
    .await
    .expect("the flood ends within the wait");

    expect_malformed_close(
        &mut events,
        |e| matches!(e, FramingError::HeadTooLarge { limit: 16_384 }),
        CloseReason::Malformed,
    )
    .await;
    expect_closed(&mut stream).await;
    assert_eq!(handle.stats().connections_open, 0);
}

#[tokio::test]
async fn a_body_that_never_completes_is_closed_after_the_body_timeout() {
    let body_timeout = Duration::from_millis(300);
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| {
        c.tcp_body_timeout = body_timeout;
    })
    .await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKslow", "")
        .replace("Content-Length: 0", "Content-Length: 100");
    let started = Instant::now();
    write(&mut stream, format!("{req}only ten b").as_bytes()).await;

    expect_malformed_close(
        &mut events,
        |e| *e == FramingError::HeadNotTerminated,
        CloseReason::IncompleteMessage,
    )
    .await;
    assert!(started.elapsed() >= body_timeout, "not before the timeout");
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn trickling_bytes_does_not_extend_the_body_timeout() {
    let body_timeout = Duration::from_millis(200);
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| {
        c.tcp_body_timeout = body_timeout;
    })
    .await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let started = Instant::now();
    // One header byte every 40 ms: each byte is "activity", but the
    // message as a whole must still complete within the timeout.
    let trickle = async {
        for byte in b"OPTIONS sip:baton@example.com SIP/2.0\r\n".iter().take(20) {
            if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    };
    let closed_after = async {
        expect_malformed_close(
            &mut events,
            |e| *e == FramingError::HeadNotTerminated,
            CloseReason::IncompleteMessage,
        )
        .await;
        started.elapsed()
    };
    let ((), elapsed) = tokio::join!(trickle, closed_after);
    assert!(
        elapsed >= body_timeout && elapsed < body_timeout * 3,
        "closed after {elapsed:?}, trickling kept it open"
    );
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| {
        c.tcp_idle_timeout = Duration::from_millis(300);
    })
    .await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let client_addr = stream.local_addr().expect("client addr");
    expect_closed(&mut stream).await;
    match next_event(&mut events).await {
        TransportEvent::ConnectionClosed { flow, reason } => {
            assert_eq!(reason, CloseReason::IdleTimeout);
            assert_eq!(flow.remote, client_addr);
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
    assert_eq!(handle.stats().connections_open, 0);
}

#[tokio::test]
async fn traffic_keeps_a_connection_from_idling_out() {
    let idle = Duration::from_millis(300);
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| c.tcp_idle_timeout = idle).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    // Pings at 2/3 of the idle timeout, for twice the idle timeout.
    for _ in 0..3 {
        tokio::time::sleep(idle * 2 / 3).await;
        write(&mut stream, b"\r\n\r\n").await;
    }
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKalive", "");
    write(&mut stream, req.as_bytes()).await;
    let (message, _) = next_message(&mut events).await;
    assert_eq!(message.call_id(), Some("z9hG4bKalive@test"));
}

#[tokio::test]
async fn connections_over_the_cap_are_refused() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| c.max_tcp_connections = 1).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut first = connect(server).await;
    // A message proves the first connection is registered.
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKcap", "");
    write(&mut first, req.as_bytes()).await;
    next_message(&mut events).await;

    let mut second = connect(server).await;
    expect_closed(&mut second).await;
    assert_eq!(handle.stats().connections_rejected, 1);
    assert_eq!(handle.stats().connections_open, 1);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_and_others_still_accepted() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |c| {
        c.max_tcp_connections_per_ip = 2;
    })
    .await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut open = Vec::new();
    for i in 0..2 {
        let mut stream = connect(server).await;
        let req = options("TCP", "127.0.0.1:5070", &format!("z9hG4bKip{i}"), "");
        write(&mut stream, req.as_bytes()).await;
        next_message(&mut events).await;
        open.push(stream);
    }
    // A third from 127.0.0.1 is closed at once.
    let mut third = connect(server).await;
    expect_closed(&mut third).await;
    assert_eq!(handle.stats().connections_rejected_per_ip, 1);
    assert_eq!(handle.stats().connections_open, 2);
    // Another address is not affected: bind the client to 127.0.0.2.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut other = socket.connect(server).await.expect("connect");
    let req = options("TCP", "127.0.0.2:5070", "z9hG4bKother", "");
    other.write_all(req.as_bytes()).await.expect("write");
    next_message(&mut events).await;
    assert_eq!(handle.stats().connections_open, 3);
    // Closing one of the first two makes room again.
    drop(open.pop());
    match next_event(&mut events).await {
        TransportEvent::ConnectionClosed { .. } => {}
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
    let mut again = connect(server).await;
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKagain", "");
    write(&mut again, req.as_bytes()).await;
    next_message(&mut events).await;
    assert_eq!(handle.stats().connections_rejected_per_ip, 1);
}
