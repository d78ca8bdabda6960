//! Where a server sends a response (RFC 3261 §18.2.2, RFC 3581 §4).

use crate::flow::canonical;
use crate::{Flow, Target};
use sip_message::Via;
use std::net::SocketAddr;

/// The port a Via sent-by means when it has none (RFC 3261 §18.2.2: "the
/// default port for that transport"); 5060 for UDP and TCP alike.
const DEFAULT_SIP_PORT: u16 = 5060;

/// Where to send a response to the request whose top Via (as stamped on
/// receipt) is `via` and which arrived on `flow`.
///
/// - Reliable transport: the connection the request came in on; if the
///   caller has no connection, a connection to `received` (else the
///   sent-by host) at the sent-by port. [`crate::TransportHandle::send`]
///   falls back the same way when the connection has closed since.
/// - Unreliable transport, `rport` with a value (or `force_rport`): the
///   source of the request, `received` : `rport`.
/// - Unreliable otherwise: `received` (else the sent-by host) at the sent-by
///   port, 5060 by default.
///
/// `maddr` is ignored: a response sent to a multicast group would be refused
/// by the amplification guard anyway, and §18.2.2's multicast case is not
/// something a B2BUA on the public Internet should honour.
///
/// Returns `None` when the address is a domain name: that needs RFC 3263
/// §6 resolution (SRV/A lookups of the sent-by), which this crate does not
/// do yet. With `received` stamped on every request whose sent-by is not an
/// IP, that only happens for a Via that did not come through
/// [`crate::stamp_via`].
pub fn response_target(via: &Via, flow: &Flow, force_rport: bool) -> Option<Target> {
    let received = via.received().and_then(|h| h.ip());
    let sent_by_port = via.port.unwrap_or(DEFAULT_SIP_PORT);
    let sent_by = || received.or_else(|| via.host.ip());

    if flow.kind.is_reliable() {
        if flow.connection.is_some() {
            return Some(flow.reply_target());
        }
        let ip = sent_by()?;
        return Some(Target {
            kind: flow.kind,
            remote: canonical(SocketAddr::new(ip, sent_by_port)),
            connection: None,
        });
    }

    let remote = match via.rport() {
        Some(Some(port)) => SocketAddr::new(received.unwrap_or(flow.remote.ip()), port),
        // force_rport: answer the observed source even if the Via did not
        // get stamped (a Via built by hand, or a stamp that was stripped).
        _ if force_rport => flow.remote,
        _ => SocketAddr::new(sent_by()?, sent_by_port),
    };
    Some(Target {
        kind: flow.kind,
        remote: canonical(remote),
        connection: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectionId, TransportKind};

    fn via(s: &str) -> Via {
        Via::parse(s).expect("via parses")
    }

    fn udp_flow(remote: &str) -> Flow {
        Flow {
            kind: TransportKind::Udp,
            local: "192.0.2.100:5060".parse().expect("addr"),
            remote: remote.parse().expect("addr"),
            connection: None,
        }
    }

    fn remote(t: Option<Target>) -> Option<SocketAddr> {
        t.map(|t| t.remote)
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        s.parse().ok()
    }

    #[test]
    fn rport_with_value_goes_to_the_source() {
        let v = via("SIP/2.0/UDP 10.0.0.1:5070;rport=41000;received=203.0.113.5;branch=z9hG4bK1");
        let flow = udp_flow("203.0.113.5:41000");
        let t = response_target(&v, &flow, false).expect("target");
        assert_eq!(t, Target::udp("203.0.113.5:41000".parse().expect("addr")));
    }

    #[test]
    fn force_rport_uses_the_source_even_without_rport() {
        let v = via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1");
        let flow = udp_flow("203.0.113.5:41000");
        assert_eq!(
            remote(response_target(&v, &flow, true)),
            addr("203.0.113.5:41000")
        );
    }

    #[test]
    fn received_with_sent_by_port() {
        let v = via("SIP/2.0/UDP 10.0.0.1:5070;received=203.0.113.5;branch=z9hG4bK1");
        let flow = udp_flow("203.0.113.5:41000");
        assert_eq!(
            remote(response_target(&v, &flow, false)),
            addr("203.0.113.5:5070")
        );
    }

    #[test]
    fn sent_by_port_defaults_to_5060() {
        let v = via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
        let flow = udp_flow("192.0.2.1:41000");
        assert_eq!(
            remote(response_target(&v, &flow, false)),
            addr("192.0.2.1:5060")
        );
        let v = via("SIP/2.0/UDP [2001:db8::1];received=2001:db8::2;branch=z9hG4bK1");
        let flow = udp_flow("[2001:db8::2]:41000");
        assert_eq!(
            remote(response_target(&v, &flow, false)),
            addr("[2001:db8::2]:5060")
        );
    }

    #[test]
    fn domain_sent_by_without_received_needs_dns() {
        let v = via("SIP/2.0/UDP pc.example.com:5070;branch=z9hG4bK1");
        let flow = udp_flow("192.0.2.1:41000");
        assert_eq!(response_target(&v, &flow, false), None);
        // Once stamped, received makes the domain irrelevant.
        let v = via("SIP/2.0/UDP pc.example.com:5070;branch=z9hG4bK1;received=192.0.2.1");
        assert_eq!(
            remote(response_target(&v, &flow, false)),
            addr("192.0.2.1:5070")
        );
    }

    #[test]
    fn reliable_reuses_the_connection() {
        let v = via("SIP/2.0/TCP 10.0.0.1:5070;received=203.0.113.5;branch=z9hG4bK1");
        let flow = Flow {
            kind: TransportKind::Tcp,
            local: "192.0.2.100:5060".parse().expect("addr"),
            remote: "203.0.113.5:41000".parse().expect("addr"),
            connection: Some(ConnectionId(7)),
        };
        let t = response_target(&v, &flow, true).expect("target");
        assert_eq!(t.kind, TransportKind::Tcp);
        assert_eq!(t.connection, Some(ConnectionId(7)));
        assert_eq!(Some(t.remote), addr("203.0.113.5:41000"));
    }

    #[test]
    fn reliable_without_connection_connects_to_received_and_sent_by_port() {
        let v = via("SIP/2.0/TCP 10.0.0.1:5070;rport=41000;received=203.0.113.5;branch=z9hG4bK1");
        let flow = Flow {
            kind: TransportKind::Tcp,
            local: "192.0.2.100:5060".parse().expect("addr"),
            remote: "203.0.113.5:41000".parse().expect("addr"),
            connection: None,
        };
        let t = response_target(&v, &flow, true).expect("target");
        assert_eq!(t.connection, None);
        assert_eq!(Some(t.remote), addr("203.0.113.5:5070"));
    }
}
