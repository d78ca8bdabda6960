use crate::{ListenSpecError, TransportKind};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// One socket to listen on: `udp:127.0.0.1:5060`, `tcp:[::1]:5060`.
///
/// Port 0 asks the OS for a free port; the address actually bound is
/// reported by [`crate::TransportHandle::local_addrs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    /// The transport protocol.
    pub kind: TransportKind,
    /// The local address and port.
    pub addr: SocketAddr,
}

impl ListenSpec {
    /// A UDP listener on `addr`.
    pub fn udp(addr: SocketAddr) -> Self {
        ListenSpec {
            kind: TransportKind::Udp,
            addr,
        }
    }

    /// A TCP listener on `addr`.
    pub fn tcp(addr: SocketAddr) -> Self {
        ListenSpec {
            kind: TransportKind::Tcp,
            addr,
        }
    }
}

impl FromStr for ListenSpec {
    type Err = ListenSpecError;

    /// Parses `<kind>:<socket address>`; the kind is case-insensitive and an
    /// IPv6 address takes brackets (`tcp:[::1]:5060`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, addr) = s
            .trim()
            .split_once(':')
            .ok_or(ListenSpecError::MissingTransport)?;
        let kind = if kind.eq_ignore_ascii_case("udp") {
            TransportKind::Udp
        } else if kind.eq_ignore_ascii_case("tcp") {
            TransportKind::Tcp
        } else {
            return Err(ListenSpecError::UnknownTransport {
                found: kind.to_string(),
            });
        };
        let addr = addr
            .parse()
            .map_err(|source| ListenSpecError::InvalidAddress { source })?;
        Ok(ListenSpec { kind, addr })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_ipv6() {
        let s: ListenSpec = "udp:127.0.0.1:5060".parse().expect("parses");
        assert_eq!(s, ListenSpec::udp("127.0.0.1:5060".parse().expect("addr")));
        let s: ListenSpec = "TCP:[::1]:5070".parse().expect("parses");
        assert_eq!(s, ListenSpec::tcp("[::1]:5070".parse().expect("addr")));
        assert_eq!(s.to_string(), "tcp:[::1]:5070");
        assert_eq!(s.to_string().parse::<ListenSpec>(), Ok(s));
    }

    #[test]
    fn refuses_bad_specs() {
        assert_eq!(
            "127.0.0.1".parse::<ListenSpec>(),
            Err(ListenSpecError::MissingTransport)
        );
        assert_eq!(
            "sctp:127.0.0.1:5060".parse::<ListenSpec>(),
            Err(ListenSpecError::UnknownTransport {
                found: "sctp".to_string()
            })
        );
        for bad in ["udp:127.0.0.1", "tcp:", "udp:::1:5060", "udp:host:5060"] {
            assert!(
                matches!(
                    bad.parse::<ListenSpec>(),
                    Err(ListenSpecError::InvalidAddress { .. })
                ),
                "{bad}"
            );
        }
    }
}
