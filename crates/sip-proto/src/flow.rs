use std::fmt;
use std::net::SocketAddr;

/// The transport protocol under a flow (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP: unreliable, so transactions retransmit.
    Udp,
    /// TCP: reliable, no transaction retransmissions.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
}

impl TransportKind {
    /// True for stream transports, where RFC 3261 §17 turns retransmissions
    /// off and sets Timers D, I, J and K to zero.
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The Via transport token (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opaque identifier the transport gives one stream connection, so that
/// a response can go back over the connection its request came in on
/// (RFC 3261 §18.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

/// Where a message came from, or where it must go: the remote address, the
/// transport, and for stream transports the connection to use.
///
/// The transaction layer never opens anything: it only hands a `Flow` back
/// to the driver in each [`crate::Transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The remote socket address.
    pub remote: SocketAddr,
    /// The transport protocol.
    pub transport: TransportKind,
    /// The connection, when the transport has one and it is known.
    pub connection: Option<ConnectionId>,
}

impl Flow {
    /// A flow with no connection pinned.
    pub fn new(remote: SocketAddr, transport: TransportKind) -> Self {
        Flow {
            remote,
            transport,
            connection: None,
        }
    }

    /// True when the transport is reliable.
    pub fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}
