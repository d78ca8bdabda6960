use crate::TransportKind;
use std::fmt;
use std::net::SocketAddr;

/// `[::ffff:a.b.c.d]:p` becomes `a.b.c.d:p`. A dual-stack socket reports
/// IPv4 peers in the mapped form; flows, the connection table and the
/// amplification guard all use the plain one, so that one host has one
/// address.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Names one TCP connection for as long as the transport runs; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a message came from: what a response, or the next request on the
/// same connection, needs to find its way back (RFC 3261 §18.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport it arrived on.
    pub kind: TransportKind,
    /// Our address (the listener's, or the local end of the connection).
    pub local: SocketAddr,
    /// The peer's address: the packet source, or the connection's far end.
    /// An IPv4 peer seen through a dual-stack socket appears as plain IPv4.
    pub remote: SocketAddr,
    /// The connection, for stream transports.
    pub connection: Option<ConnectionId>,
}

impl Flow {
    /// A target that sends back along this flow: on the same connection for
    /// a stream, to the source address for a datagram.
    pub fn reply_target(&self) -> crate::Target {
        crate::Target {
            kind: self.kind,
            remote: self.remote,
            connection: self.connection,
        }
    }
}
