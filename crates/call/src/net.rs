//! What a leg needs of the network: the transport handle and the local
//! addresses to put in Via and Contact.

use sip_proto::Flow;
use sip_transport::{Target, TransportHandle, TransportKind};
use std::net::SocketAddr;

/// The transport and Baton's own signalling addresses.
#[derive(Debug, Clone)]
pub struct SignallingContext {
    /// Sends bytes.
    pub transport: TransportHandle,
    /// The UDP listener.
    pub udp: SocketAddr,
    /// The TCP listener, if any.
    pub tcp: Option<SocketAddr>,
    /// Session timers (RFC 4028) Baton asks for on its own INVITEs.
    pub session_expires: std::time::Duration,
    /// The smallest session interval Baton accepts (Min-SE).
    pub min_se: std::time::Duration,
}

impl SignallingContext {
    fn local(&self, reliable: bool) -> (SocketAddr, &'static str) {
        match (reliable, self.tcp) {
            (true, Some(tcp)) => (tcp, "TCP"),
            _ => (self.udp, "UDP"),
        }
    }

    /// A Via value for a request sent over this transport.
    pub fn via(&self, reliable: bool, branch: &str) -> String {
        let (addr, proto) = self.local(reliable);
        format!("SIP/2.0/{proto} {addr};branch={branch};rport")
    }

    /// Baton's Contact for a dialog over this transport.
    pub fn contact(&self, reliable: bool) -> String {
        let (addr, _) = self.local(reliable);
        if reliable {
            format!("<sip:baton@{addr};transport=tcp>")
        } else {
            format!("<sip:baton@{addr}>")
        }
    }

    /// The host part Baton uses in Call-IDs it mints.
    pub fn host(&self) -> String {
        self.udp.ip().to_string()
    }
}

/// The transport's target for a transaction layer's flow.
pub fn to_target(flow: &Flow) -> Target {
    Target {
        kind: if flow.is_reliable() {
            TransportKind::Tcp
        } else {
            TransportKind::Udp
        },
        remote: flow.remote,
        connection: flow.connection.map(|c| sip_transport::ConnectionId(c.0)),
    }
}

/// The transaction layer's flow for a transport target.
pub fn to_flow(target: &Target) -> Flow {
    Flow {
        remote: target.remote,
        transport: match target.kind {
            TransportKind::Udp => sip_proto::TransportKind::Udp,
            _ => sip_proto::TransportKind::Tcp,
        },
        connection: target.connection.map(|c| sip_proto::ConnectionId(c.0)),
    }
}
