use crate::Flow;
use sip_message::{Message, ParseError};

/// What the transport reports to the layer above, in arrival order per flow.
#[derive(Debug)]
pub enum TransportEvent {
    /// A message that framed and parsed. For a request, the top Via already
    /// carries `received`/`rport` (RFC 3261 §18.2.1, RFC 3581 §4).
    Message {
        /// The message.
        message: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// Bytes that did not frame or parse. The UAS decides whether a
    /// stateless `400` is worth sending ([`ParseError::is_request`]); on a
    /// stream that cannot be framed any more, `closed` is true and no answer
    /// is possible.
    Malformed {
        /// What is wrong.
        error: ParseError,
        /// Where it came from.
        flow: Flow,
        /// True when the connection was closed because of it; a
        /// [`TransportEvent::ConnectionClosed`] follows.
        closed: bool,
    },
    /// A TCP connection ended. Sent exactly once per connection, inbound or
    /// outbound, and after every other event of that connection.
    ConnectionClosed {
        /// The connection's flow.
        flow: Flow,
        /// Why it ended.
        reason: CloseReason,
    },
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The peer closed its end (read returned end-of-stream).
    PeerClosed,
    /// Nothing arrived for [`crate::TransportConfig::tcp_idle_timeout`].
    IdleTimeout,
    /// A message started but did not complete within
    /// [`crate::TransportConfig::tcp_body_timeout`].
    IncompleteMessage,
    /// The stream could not be framed (bad Content-Length, caps exceeded).
    Malformed,
    /// Reading failed (reset by the peer, …).
    ReadFailed,
    /// Writing failed.
    WriteFailed,
    /// A write did not complete within
    /// [`crate::TransportConfig::tcp_write_timeout`]: the peer stopped reading.
    WriteTimeout,
    /// The event receiver was dropped: nobody listens any more.
    EventsClosed,
    /// The transport is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A stable snake_case name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::IncompleteMessage => "incomplete_message",
            CloseReason::Malformed => "malformed",
            CloseReason::ReadFailed => "read_failed",
            CloseReason::WriteFailed => "write_failed",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::EventsClosed => "events_closed",
            CloseReason::Shutdown => "shutdown",
        }
    }
}
