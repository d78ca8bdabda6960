use std::net::IpAddr;

/// The `a=rtcp` attribute (RFC 3605): where the writer receives RTCP when
/// it is not the RTP port plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when the attribute names one; otherwise RTCP goes
    /// to the media's connection address.
    pub address: Option<IpAddr>,
}

impl Rtcp {
    /// Reads an `a=rtcp` value; `None` when it does not parse or names an
    /// address that is not an IP literal.
    pub(crate) fn parse(value: &str) -> Option<Rtcp> {
        let rtcp: sdp_types::Rtcp = value.trim().parse().ok()?;
        let address = match rtcp.try_address() {
            None => None,
            Some(Ok(address)) => Some(address.ip),
            Some(Err(_)) => return None,
        };
        Some(Rtcp {
            port: rtcp.port,
            address,
        })
    }

    /// The attribute value for a relay: `<port> IN IP4|IP6 <address>`.
    pub(crate) fn value_for(port: u16, address: IpAddr) -> String {
        sdp_types::Rtcp::with_ip_addr(port, address).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_port_with_and_without_address() {
        assert_eq!(
            Rtcp::parse("53021 IN IP4 126.16.64.4"),
            Some(Rtcp {
                port: 53021,
                address: Some("126.16.64.4".parse().expect("literal"))
            })
        );
        assert_eq!(
            Rtcp::parse("5005"),
            Some(Rtcp {
                port: 5005,
                address: None
            })
        );
        assert_eq!(Rtcp::parse("70000"), None);
        assert_eq!(Rtcp::parse("9 IN IP4 host.example.com"), None);
    }

    #[test]
    fn writes_the_ipv6_form() {
        let address: IpAddr = "2001:db8::1".parse().expect("literal");
        assert_eq!(Rtcp::value_for(20001, address), "20001 IN IP6 2001:db8::1");
    }
}
