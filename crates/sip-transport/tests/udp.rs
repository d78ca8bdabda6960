//! UDP: receipt, Via stamping, responses, malformed datagrams, overload.

mod harness;

use baton_sip_transport::{
    response_target, RefusedReason, Target, TransportError, TransportEvent, TransportKind,
};
use harness::{next_event, next_message, ok, options, start, WAIT};
use sip_message::{FramingError, Message, ParseError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

async fn client() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("client binds");
    let addr = socket.local_addr().expect("client addr");
    (socket, addr)
}

async fn recv(socket: &UdpSocket) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("a datagram within the wait")
        .expect("recv");
    (Message::parse(&buf[..n]).expect("response parses"), from)
}

#[tokio::test]
async fn request_gets_received_and_rport_and_the_response_comes_back() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0"], |c| c.force_rport = false).await;
    let server = handle.local_addr(TransportKind::Udp).expect("udp listener");
    assert_ne!(server.port(), 0, "the bound port is reported");
    let (socket, client_addr) = client().await;

    // A client behind NAT: its Via names a private address and asks for rport.
    let req = options("UDP", "10.0.0.1:5070", "z9hG4bKudp1", ";rport");
    socket.send_to(req.as_bytes(), server).await.expect("send");

    let (message, flow) = next_message(&mut events).await;
    assert_eq!(flow.kind, TransportKind::Udp);
    assert_eq!(flow.remote, client_addr);
    assert_eq!(flow.local, server);
    assert_eq!(flow.connection, None);
    let via = message.top_via().expect("top via");
    assert_eq!(via.received().and_then(|h| h.ip()), Some(client_addr.ip()));
    assert_eq!(via.rport(), Some(Some(client_addr.port())));

    let target = response_target(&via, &flow, false).expect("routable");
    assert_eq!(target, Target::udp(client_addr));
    handle.send(&target, ok(&message)).await.expect("sent");
    let (response, from) = recv(&socket).await;
    assert_eq!(response.status(), Some(200));
    assert_eq!(from, server, "the response leaves from the listener");
    assert_eq!(response.top_via(), Some(via), "the stamped Via is echoed");
}

#[tokio::test]
async fn force_rport_stamps_a_via_that_did_not_ask() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Udp).expect("udp listener");
    let (socket, client_addr) = client().await;
    let req = options("UDP", "10.0.0.1:5070", "z9hG4bKudp2", "");
    socket.send_to(req.as_bytes(), server).await.expect("send");

    let (message, flow) = next_message(&mut events).await;
    let via = message.top_via().expect("top via");
    assert_eq!(via.rport(), Some(Some(client_addr.port())));
    assert_eq!(via.received().and_then(|h| h.ip()), Some(client_addr.ip()));
    // Without rport, RFC 3261 alone would answer 10.0.0.1:5070; NAT-safe
    // routing answers the source.
    assert_eq!(
        response_target(&via, &flow, true).map(|t| t.remote),
        Some(client_addr)
    );
}

#[tokio::test]
async fn garbage_and_oversize_datagrams_are_malformed_and_the_transport_keeps_working() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Udp).expect("udp listener");
    let (socket, client_addr) = client().await;

    socket
        .send_to(b"\x00\x01garbage\xff\r\n\r\n", server)
        .await
        .expect("send");
    match next_event(&mut events).await {
        TransportEvent::Malformed {
            flow,
            closed: false,
            ..
        } => assert_eq!(flow.remote, client_addr),
        other => panic!("expected Malformed, got {other:?}"),
    }

    // 64 KiB on the wire (the most a loopback datagram carries), far over
    // the 16 KiB head cap.
    let mut big = b"OPTIONS sip:baton@example.com SIP/2.0\r\nX-Pad: ".to_vec();
    big.resize(65_000, b'a');
    socket.send_to(&big, server).await.expect("send big");
    match next_event(&mut events).await {
        TransportEvent::Malformed {
            error:
                ParseError::Framing {
                    error: FramingError::HeadTooLarge { .. },
                    ..
                },
            closed: false,
            ..
        } => {}
        other => panic!("expected an oversize Malformed, got {other:?}"),
    }

    // A CRLF keep-alive is silently absorbed, and a good request still passes.
    socket
        .send_to(b"\r\n\r\n", server)
        .await
        .expect("send ping");
    let req = options("UDP", "127.0.0.1:5070", "z9hG4bKudp3", "");
    socket.send_to(req.as_bytes(), server).await.expect("send");
    let (message, _) = next_message(&mut events).await;
    assert_eq!(message.call_id(), Some("z9hG4bKudp3@test"));
    assert_eq!(handle.stats().malformed, 2);
}

#[tokio::test]
async fn a_full_event_queue_drops_datagrams_and_counts_them() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0"], |c| c.event_queue = 2).await;
    let server = handle.local_addr(TransportKind::Udp).expect("udp listener");
    let (socket, _) = client().await;
    for i in 0..10 {
        let req = options("UDP", "127.0.0.1:5070", &format!("z9hG4bKq{i}"), "");
        socket.send_to(req.as_bytes(), server).await.expect("send");
    }
    // Nothing reads the queue yet: 2 fit, 8 are dropped without blocking
    // the receive loop.
    timeout(WAIT, async {
        while handle.stats().dropped_queue_full < 8 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("8 drops counted");
    assert_eq!(handle.stats().dropped_queue_full, 8);
    for _ in 0..2 {
        next_message(&mut events).await;
    }
    let req = options("UDP", "127.0.0.1:5070", "z9hG4bKafter", "");
    socket.send_to(req.as_bytes(), server).await.expect("send");
    let (message, _) = next_message(&mut events).await;
    assert_eq!(message.call_id(), Some("z9hG4bKafter@test"));
}

#[tokio::test]
async fn sending_to_broadcast_or_multicast_is_refused() {
    let (handle, _events) = start(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {}).await;
    let bytes = bytes::Bytes::from_static(b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    for (target, expected) in [
        (
            Target::udp("255.255.255.255:5060".parse().expect("addr")),
            RefusedReason::Broadcast,
        ),
        (
            Target::tcp("255.255.255.255:5060".parse().expect("addr")),
            RefusedReason::Broadcast,
        ),
        (
            Target::udp("224.0.0.1:5060".parse().expect("addr")),
            RefusedReason::Multicast,
        ),
        (
            Target::udp("0.0.0.0:5060".parse().expect("addr")),
            RefusedReason::Unspecified,
        ),
    ] {
        match handle.send(&target, bytes.clone()).await {
            Err(TransportError::DestinationRefused { reason, .. }) => {
                assert_eq!(reason, expected, "{target:?}")
            }
            other => panic!("{target:?} must be refused, got {other:?}"),
        }
    }
    assert_eq!(handle.stats().connections_open, 0, "nothing was opened");
}

#[tokio::test]
async fn sending_without_a_listener_of_the_family_is_an_error() {
    let (handle, _events) = start(&["udp:127.0.0.1:0"], |_| {}).await;
    let target = Target::udp("[2001:db8::1]:5060".parse().expect("addr"));
    assert!(matches!(
        handle.send(&target, bytes::Bytes::new()).await,
        Err(TransportError::NoListener { .. })
    ));
}

#[tokio::test]
async fn a_dual_stack_listener_sees_and_answers_ipv4_peers_as_ipv4() {
    // Needs IPv6 with dual-stack sockets (Linux default); where the host has
    // no IPv6 at all the scenario cannot arise, so there is nothing to test.
    let config =
        baton_sip_transport::TransportConfig::new(vec!["udp:[::]:0".parse().expect("spec")]);
    let (handle, mut events) = match baton_sip_transport::Transport::start(config).await {
        Ok(started) => started,
        Err(TransportError::Bind { .. }) => return,
        Err(other) => panic!("unexpected {other}"),
    };
    let port = handle.local_addr(TransportKind::Udp).expect("udp").port();
    let (socket, client_addr) = client().await;
    let req = options("UDP", "127.0.0.1:5070", "z9hG4bKdual", "");
    socket
        .send_to(req.as_bytes(), ("127.0.0.1", port))
        .await
        .expect("send");

    let (message, flow) = next_message(&mut events).await;
    assert_eq!(flow.remote, client_addr, "plain IPv4, not ::ffff:127.0.0.1");
    let via = message.top_via().expect("via");
    assert_eq!(via.received().and_then(|h| h.ip()), Some(client_addr.ip()));
    let target = response_target(&via, &flow, true).expect("routable");
    handle.send(&target, ok(&message)).await.expect("sent");
    let (response, _) = recv(&socket).await;
    assert_eq!(response.status(), Some(200));
}
