//! Start and shutdown: bind errors, ports reported, everything closed.

mod harness;

use baton_sip_transport::{
    CloseReason, ListenSpec, Target, Transport, TransportConfig, TransportError, TransportEvent,
    TransportKind,
};
use bytes::Bytes;
use harness::{connect, expect_closed, next_message, options, start, write, WAIT};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

#[tokio::test]
async fn shutdown_closes_listeners_and_connections_and_ends_the_event_stream() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {}).await;
    let udp = handle.local_addr(TransportKind::Udp).expect("udp");
    let tcp = handle.local_addr(TransportKind::Tcp).expect("tcp");
    let mut stream = connect(tcp).await;
    write(
        &mut stream,
        options("TCP", "127.0.0.1:5070", "z9hG4bKdown", "").as_bytes(),
    )
    .await;
    next_message(&mut events).await;

    timeout(WAIT, handle.shutdown())
        .await
        .expect("shutdown within the wait");
    expect_closed(&mut stream).await;

    // Queued events stay readable, then the stream ends.
    let rest = timeout(WAIT, async {
        let mut rest = Vec::new();
        while let Some(event) = events.recv().await {
            rest.push(event);
        }
        rest
    })
    .await
    .expect("the event stream ends");
    assert!(
        rest.iter().all(|e| matches!(
            e,
            TransportEvent::ConnectionClosed {
                reason: CloseReason::Shutdown,
                ..
            }
        )),
        "{rest:?}"
    );

    assert!(TcpStream::connect(tcp).await.is_err(), "listener closed");
    UdpSocket::bind(udp)
        .await
        .expect("the UDP port is free again");
    TcpListener::bind(tcp)
        .await
        .expect("the TCP port is free again");
    assert!(matches!(
        handle.send(&Target::udp(udp), Bytes::new()).await,
        Err(TransportError::Shutdown)
    ));
    timeout(WAIT, handle.shutdown())
        .await
        .expect("a second shutdown returns at once");
}

#[tokio::test]
async fn dropping_the_last_handle_shuts_the_transport_down() {
    let (handle, mut events) = start(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {}).await;
    let tcp = handle.local_addr(TransportKind::Tcp).expect("tcp");
    let clone = handle.clone();
    drop(handle);
    assert!(!clone.is_shut_down(), "a clone keeps it running");
    drop(clone);
    let end = timeout(WAIT, async { while events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the event stream ends");
    assert!(TcpStream::connect(tcp).await.is_err(), "listener closed");
}

#[tokio::test]
async fn local_addrs_report_the_bound_ports_in_order() {
    let (handle, _events) = start(&["tcp:127.0.0.1:0", "udp:127.0.0.1:0"], |_| {}).await;
    let local = handle.local_addrs();
    assert_eq!(local.len(), 2);
    assert_eq!(local[0].kind, TransportKind::Tcp);
    assert_eq!(local[1].kind, TransportKind::Udp);
    assert!(local.iter().all(|s| s.addr.port() != 0));
}

#[tokio::test]
async fn a_taken_port_fails_start_with_the_spec() {
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let spec = ListenSpec::tcp(taken.local_addr().expect("addr"));
    let config = TransportConfig::new(vec!["udp:127.0.0.1:0".parse().expect("spec"), spec]);
    match Transport::start(config).await {
        Err(TransportError::Bind { spec: failed, .. }) => assert_eq!(failed, spec),
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[test]
fn the_handle_can_be_shared_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<baton_sip_transport::TransportHandle>();
}
