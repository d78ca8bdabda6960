//! What every transport test needs: a transport on ephemeral ports, SIP
//! messages to send, and bounded waits. Every wait here gives up after
//! [`WAIT`], so a broken transport fails a test instead of hanging it.
#![allow(dead_code)] // each test binary uses a different part

use baton_sip_transport::{Flow, Transport, TransportConfig, TransportEvent, TransportHandle};
use bytes::Bytes;
use sip_message::framing::{StreamFramer, StreamItem};
use sip_message::{Limits, Message, ResponseBuilder};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The longest any test waits for anything.
pub const WAIT: Duration = Duration::from_secs(5);

/// Starts a transport on `listen` (ephemeral ports), after `configure`.
pub async fn start(
    listen: &[&str],
    configure: impl FnOnce(&mut TransportConfig),
) -> (TransportHandle, mpsc::Receiver<TransportEvent>) {
    let specs = listen
        .iter()
        .map(|s| s.parse().expect("listen spec"))
        .collect();
    let mut config = TransportConfig::new(specs);
    configure(&mut config);
    Transport::start(config).await.expect("transport starts")
}

/// The next event, within [`WAIT`].
pub async fn next_event(events: &mut mpsc::Receiver<TransportEvent>) -> TransportEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("an event within the wait")
        .expect("event channel open")
}

/// The next event, which must be a parsed message.
pub async fn next_message(events: &mut mpsc::Receiver<TransportEvent>) -> (Message, Flow) {
    match next_event(events).await {
        TransportEvent::Message { message, flow } => (message, flow),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// An OPTIONS request whose top Via is `SIP/2.0/<transport> <sent_by>;branch=<branch><params>`.
pub fn options(transport: &str, sent_by: &str, branch: &str, params: &str) -> String {
    format!(
        "OPTIONS sip:baton@example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch={branch}{params}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:baton@example.com>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A `200 OK` to `request`, serialized.
pub fn ok(request: &Message) -> Bytes {
    Bytes::from(
        ResponseBuilder::to_request(request, 200)
            .to_tag("b1")
            .build()
            .to_bytes(),
    )
}

/// Connects a client to `addr`, with Nagle off so that each write is a
/// segment of its own.
pub async fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect within the wait")
        .expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads one SIP message from a stream, within [`WAIT`].
pub async fn read_message(stream: &mut TcpStream, framer: &mut StreamFramer) -> Message {
    let mut chunk = [0u8; 4096];
    timeout(WAIT, async {
        loop {
            match framer.poll_item().expect("peer frames") {
                Some(StreamItem::Message(bytes)) => {
                    return Message::parse(&bytes).expect("peer's message parses")
                }
                Some(StreamItem::Ping) => continue,
                None => {}
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "stream closed before a whole message");
            framer.push(&chunk[..n]).expect("fits");
        }
    })
    .await
    .expect("a message within the wait")
}

/// A framer for the client side of a test.
pub fn framer() -> StreamFramer {
    StreamFramer::new(Limits::DEFAULT)
}

/// Waits until the server closes the stream: a read returns 0 or fails
/// (ECONNRESET when it closed with unread data). Whatever the server sends
/// before that is discarded.
pub async fn expect_closed(stream: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    timeout(WAIT, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .expect("the server closes the connection within the wait");
}

/// Writes all of `bytes`, within [`WAIT`].
pub async fn write(stream: &mut TcpStream, bytes: &[u8]) {
    timeout(WAIT, stream.write_all(bytes))
        .await
        .expect("write within the wait")
        .expect("write");
}
