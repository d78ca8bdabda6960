//! The errors of this crate: one enum per operation, one variant per cause.

use crate::{ConnectionId, ListenSpec, TransportKind};
use std::io;
use std::net::{AddrParseError, SocketAddr};
use thiserror::Error;

/// Why a listen spec string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ListenSpecError {
    /// No `kind:` prefix.
    #[error("missing transport prefix (expected `udp:` or `tcp:`)")]
    MissingTransport,
    /// A prefix other than `udp` or `tcp`.
    #[error("unknown transport `{found}` (expected `udp` or `tcp`)")]
    UnknownTransport {
        /// The prefix that was given.
        found: String,
    },
    /// The part after the prefix is not an `ip:port` socket address.
    #[error("invalid socket address: {source}")]
    InvalidAddress {
        /// The parser's complaint.
        source: AddrParseError,
    },
}

/// Why a destination is refused before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// The IPv4 limited broadcast address (RFC 4475 `bcast`).
    Broadcast,
    /// A multicast group: one request would fan out to many hosts.
    Multicast,
    /// `0.0.0.0` or `::`: not a host.
    Unspecified,
    /// Port 0: not a service.
    PortZero,
}

/// Why the transport could not start or could not send.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// [`crate::Transport::start`] was called outside a tokio runtime.
    #[error("no tokio runtime is running")]
    NoRuntime,
    /// A listener could not be bound.
    #[error("cannot bind {spec}: {source}")]
    Bind {
        /// The listener that failed.
        spec: ListenSpec,
        /// The OS error.
        source: io::Error,
    },
    /// The destination is one we never send to (amplification guard).
    #[error("refusing to send to {remote}: {reason:?}")]
    DestinationRefused {
        /// The refused address.
        remote: SocketAddr,
        /// Why.
        reason: RefusedReason,
    },
    /// No listener of this kind and address family to send from.
    #[error("no {kind} listener for the address family of {remote}")]
    NoListener {
        /// The transport asked for.
        kind: TransportKind,
        /// The destination.
        remote: SocketAddr,
    },
    /// Sending a datagram failed.
    #[error("sending to {remote} failed: {source}")]
    Send {
        /// The destination.
        remote: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// An outbound TCP connection could not be established.
    #[error("connecting to {remote} failed: {source}")]
    Connect {
        /// The destination.
        remote: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// An outbound TCP connection was not established in time.
    #[error("connecting to {remote} timed out")]
    ConnectTimeout {
        /// The destination.
        remote: SocketAddr,
    },
    /// The connection cap is reached.
    #[error("{limit} TCP connections are already open")]
    TooManyConnections {
        /// [`crate::TransportConfig::max_tcp_connections`].
        limit: usize,
    },
    /// The connection's write queue is full: the peer is not reading.
    #[error("write queue of connection {connection} is full")]
    SendQueueFull {
        /// The congested connection.
        connection: ConnectionId,
    },
    /// The connection closed before the bytes could be queued.
    #[error("connection {connection} closed")]
    ConnectionClosed {
        /// The connection.
        connection: ConnectionId,
    },
    /// [`crate::TransportHandle::shutdown`] has been called.
    #[error("the transport is shut down")]
    Shutdown,
}
