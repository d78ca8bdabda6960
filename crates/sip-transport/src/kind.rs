use std::fmt;

/// Which transport protocol a listener, flow or target uses.
///
/// TLS (RFC 3261 §26.2) will be a third variant; it reuses the stream path
/// (see [`crate`] docs), so adding it touches the listener and the connector
/// only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Datagrams: unreliable, one message per datagram (RFC 3261 §18.1.1).
    Udp,
    /// A byte stream: reliable, framed by Content-Length (RFC 3261 §18.3).
    Tcp,
}

impl TransportKind {
    /// True for stream transports, where RFC 3261 §18.2.2 sends a response
    /// back on the connection the request came in on.
    pub fn is_reliable(self) -> bool {
        match self {
            TransportKind::Udp => false,
            TransportKind::Tcp => true,
        }
    }

    /// The token used in a Via header (`UDP`, `TCP`).
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        }
    }

    /// The lower-case name used in listen specs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}
