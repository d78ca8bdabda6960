use crate::{ConnectionId, RefusedReason, TransportError, TransportKind};
use std::net::{IpAddr, SocketAddr};

/// Where to send bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The transport to use.
    pub kind: TransportKind,
    /// The destination address.
    pub remote: SocketAddr,
    /// For a stream: the connection to prefer, if it is still open.
    pub connection: Option<ConnectionId>,
}

impl Target {
    /// A UDP destination.
    pub fn udp(remote: SocketAddr) -> Self {
        Target {
            kind: TransportKind::Udp,
            remote,
            connection: None,
        }
    }

    /// A TCP destination, reusing or opening a connection to `remote`.
    pub fn tcp(remote: SocketAddr) -> Self {
        Target {
            kind: TransportKind::Tcp,
            remote,
            connection: None,
        }
    }
}

/// The amplification guard: a server that answers where a Via or a Contact
/// points must never let one packet fan out to a whole network (RFC 4475
/// `bcast`) or be aimed at no host at all.
///
/// Subnet-directed broadcasts (`192.0.2.255`) cannot be told apart without
/// knowing the netmask; the OS refuses them unless `SO_BROADCAST` is set,
/// which this crate never does.
pub(crate) fn check_destination(remote: SocketAddr) -> Result<(), TransportError> {
    let refuse = |reason| Err(TransportError::DestinationRefused { remote, reason });
    // An IPv4-mapped IPv6 address reaches the IPv4 host: judge that one.
    match remote.ip().to_canonical() {
        IpAddr::V4(ip) if ip.is_broadcast() => return refuse(RefusedReason::Broadcast),
        IpAddr::V4(ip) if ip.is_multicast() => return refuse(RefusedReason::Multicast),
        IpAddr::V6(ip) if ip.is_multicast() => return refuse(RefusedReason::Multicast),
        ip if ip.is_unspecified() => return refuse(RefusedReason::Unspecified),
        _ => {}
    }
    if remote.port() == 0 {
        return refuse(RefusedReason::PortZero);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(addr: &str) -> Option<RefusedReason> {
        match check_destination(addr.parse().expect("addr")) {
            Ok(()) => None,
            Err(TransportError::DestinationRefused { reason, .. }) => Some(reason),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn refuses_fan_out_and_non_hosts() {
        assert_eq!(
            reason("255.255.255.255:5060"),
            Some(RefusedReason::Broadcast)
        );
        assert_eq!(
            reason("[::ffff:255.255.255.255]:5060"),
            Some(RefusedReason::Broadcast)
        );
        assert_eq!(reason("224.0.1.75:5060"), Some(RefusedReason::Multicast));
        assert_eq!(reason("[ff02::1]:5060"), Some(RefusedReason::Multicast));
        assert_eq!(reason("0.0.0.0:5060"), Some(RefusedReason::Unspecified));
        assert_eq!(reason("[::]:5060"), Some(RefusedReason::Unspecified));
        assert_eq!(reason("192.0.2.1:0"), Some(RefusedReason::PortZero));
        assert_eq!(reason("192.0.2.1:5060"), None);
        assert_eq!(reason("[2001:db8::1]:5060"), None);
    }
}
