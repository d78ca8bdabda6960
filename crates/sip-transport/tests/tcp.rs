//! TCP: framing across writes, keep-alive pings, responses on the same
//! connection.

mod harness;

use baton_sip_transport::{response_target, TransportKind};
use harness::{connect, framer, next_message, ok, options, read_message, start, write, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

#[tokio::test]
async fn two_messages_in_one_write_are_both_parsed() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let client_addr = stream.local_addr().expect("client addr");
    let both = [
        options("TCP", "127.0.0.1:5070", "z9hG4bKt1", ""),
        options("TCP", "127.0.0.1:5070", "z9hG4bKt2", ""),
    ]
    .concat();
    write(&mut stream, both.as_bytes()).await;

    let (first, flow1) = next_message(&mut events).await;
    let (second, flow2) = next_message(&mut events).await;
    assert_eq!(first.call_id(), Some("z9hG4bKt1@test"));
    assert_eq!(second.call_id(), Some("z9hG4bKt2@test"));
    assert_eq!(flow1, flow2, "same connection, same flow");
    assert_eq!(flow1.kind, TransportKind::Tcp);
    assert_eq!(flow1.remote, client_addr);
    assert!(flow1.connection.is_some());
    // Via stamping applies on streams too (force_rport is on by default).
    let via = first.top_via().expect("via");
    assert_eq!(via.rport(), Some(Some(client_addr.port())));
}

#[tokio::test]
async fn a_message_split_byte_by_byte_is_parsed() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKbytes", "");
    for byte in req.as_bytes() {
        write(&mut stream, std::slice::from_ref(byte)).await;
        stream.flush().await.expect("flush");
    }
    let (message, _) = next_message(&mut events).await;
    assert_eq!(message.call_id(), Some("z9hG4bKbytes@test"));
    assert_eq!(message.to_bytes(), {
        // Byte-identical apart from the stamped Via.
        let mut m = sip_message::Message::parse(req.as_bytes()).expect("parses");
        m.headers.set(
            sip_message::HeaderName::Via,
            message
                .headers
                .get(&sip_message::HeaderName::Via)
                .unwrap_or_default(),
        );
        m.to_bytes()
    });
}

#[tokio::test]
async fn a_crlf_crlf_ping_gets_a_crlf_pong() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    write(&mut stream, b"\r\n\r\n").await;
    let mut pong = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut pong))
        .await
        .expect("pong within the wait")
        .expect("read pong");
    assert_eq!(&pong, b"\r\n");

    // The connection still carries messages after a ping.
    let req = options("TCP", "127.0.0.1:5070", "z9hG4bKafterping", "");
    write(&mut stream, req.as_bytes()).await;
    let (message, _) = next_message(&mut events).await;
    assert_eq!(message.call_id(), Some("z9hG4bKafterping@test"));
}

#[tokio::test]
async fn the_response_goes_back_on_the_same_connection() {
    let (handle, mut events) = start(&["tcp:127.0.0.1:0"], |_| {}).await;
    let server = handle.local_addr(TransportKind::Tcp).expect("tcp listener");
    let mut stream = connect(server).await;
    // The sent-by port is not listening: only the connection itself leads
    // back to the client.
    let req = options("TCP", "127.0.0.1:9", "z9hG4bKreuse", "");
    write(&mut stream, req.as_bytes()).await;
    let (request, flow) = next_message(&mut events).await;

    let via = request.top_via().expect("via");
    let target = response_target(&via, &flow, true).expect("routable");
    assert_eq!(target.connection, flow.connection);
    handle.send(&target, ok(&request)).await.expect("sent");

    let mut client_framer = framer();
    let response = read_message(&mut stream, &mut client_framer).await;
    assert_eq!(response.status(), Some(200));
    assert_eq!(response.call_id(), Some("z9hG4bKreuse@test"));
    assert_eq!(handle.stats().connections_open, 1, "no new connection");

    // A target naming only the remote address finds the same connection.
    let by_remote = baton_sip_transport::Target::tcp(flow.remote);
    handle.send(&by_remote, ok(&request)).await.expect("sent");
    let again = read_message(&mut stream, &mut client_framer).await;
    assert_eq!(again.status(), Some(200));
    assert_eq!(
        handle.stats().connections_open,
        1,
        "still no new connection"
    );
}
