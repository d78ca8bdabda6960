//! Outbound TCP: a send to a new peer opens a connection, the peer's reply
//! comes back as an event, and later sends reuse the connection.

mod harness;

use baton_sip_transport::{CloseReason, Target, TransportError, TransportEvent, TransportKind};
use bytes::Bytes;
use harness::{framer, next_event, next_message, ok, options, read_message, start, write, WAIT};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

async fn accept(listener: &TcpListener) -> TcpStream {
    timeout(WAIT, listener.accept())
        .await
        .expect("a connection within the wait")
        .expect("accept")
        .0
}

#[tokio::test]
async fn a_send_to_a_new_peer_connects_and_the_reply_comes_back() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.expect("peer binds");
    let peer_addr = peer.local_addr().expect("peer addr");

    let req = options("TCP", "127.0.0.1:5060", "z9hG4bKout1", "");
    handle
        .send(&Target::tcp(peer_addr), Bytes::from(req.clone()))
        .await
        .expect("sent");
    let mut conn = accept(&peer).await;
    let mut peer_framer = framer();
    let request = read_message(&mut conn, &mut peer_framer).await;
    assert_eq!(request.call_id(), Some("z9hG4bKout1@test"));

    write(&mut conn, &ok(&request)).await;
    let (response, flow) = next_message(&mut events).await;
    assert_eq!(response.status(), Some(200));
    assert_eq!(flow.kind, TransportKind::Tcp);
    assert_eq!(flow.remote, peer_addr);
    assert!(flow.connection.is_some());
    // Responses are not stamped: only the client's own Via is in them.
    assert_eq!(response.top_via(), request.top_via());

    // The next request to the same peer reuses the connection.
    let req2 = options("TCP", "127.0.0.1:5060", "z9hG4bKout2", "");
    handle
        .send(&Target::tcp(peer_addr), Bytes::from(req2))
        .await
        .expect("sent again");
    let second = read_message(&mut conn, &mut peer_framer).await;
    assert_eq!(second.call_id(), Some("z9hG4bKout2@test"));
    assert_eq!(handle.stats().connections_open, 1);
    // And so does a target naming the connection.
    handle
        .send(&flow.reply_target(), ok(&second))
        .await
        .expect("sent on the connection");
    let third = read_message(&mut conn, &mut peer_framer).await;
    assert_eq!(third.status(), Some(200));
}

#[tokio::test]
async fn a_closed_connection_is_reported_and_the_next_send_reconnects() {
    let (handle, mut events) = start(&[], |_| {}).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.expect("peer binds");
    let peer_addr = peer.local_addr().expect("peer addr");
    let req = Bytes::from(options("TCP", "127.0.0.1:5060", "z9hG4bKre", ""));

    handle
        .send(&Target::tcp(peer_addr), req.clone())
        .await
        .expect("sent");
    let mut conn = accept(&peer).await;
    read_message(&mut conn, &mut framer()).await;
    drop(conn);
    let closed = match next_event(&mut events).await {
        TransportEvent::ConnectionClosed { flow, reason } => {
            assert_eq!(reason, CloseReason::PeerClosed);
            assert_eq!(flow.remote, peer_addr);
            flow
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    };
    assert_eq!(handle.stats().connections_open, 0);

    // The stale connection id falls back to a new connection to the remote.
    handle
        .send(&closed.reply_target(), req)
        .await
        .expect("sent on a new connection");
    let mut conn = accept(&peer).await;
    let again = read_message(&mut conn, &mut framer()).await;
    assert_eq!(again.call_id(), Some("z9hG4bKre@test"));
    assert_eq!(handle.stats().connections_open, 1);
}

#[tokio::test]
async fn a_refused_connection_is_an_error() {
    let (handle, _events) = start(&[], |_| {}).await;
    // A port that was free a moment ago: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds")
        .local_addr()
        .expect("addr");
    match handle.send(&Target::tcp(addr), Bytes::new()).await {
        Err(TransportError::Connect { remote, .. }) => assert_eq!(remote, addr),
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert_eq!(handle.stats().connections_open, 0);
}

#[tokio::test]
async fn the_connection_cap_bounds_outbound_connections_too() {
    let (handle, _events) = start(&[], |c| c.max_tcp_connections = 1).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.expect("peer binds");
    let peer_addr = peer.local_addr().expect("peer addr");
    let other = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let other_addr = other.local_addr().expect("addr");
    handle
        .send(&Target::tcp(peer_addr), Bytes::from_static(b"\r\n\r\n"))
        .await
        .expect("first connection");
    match handle
        .send(&Target::tcp(other_addr), Bytes::from_static(b"\r\n\r\n"))
        .await
    {
        Err(TransportError::TooManyConnections { limit: 1 }) => {}
        other => panic!("expected the cap, got {other:?}"),
    }
}
