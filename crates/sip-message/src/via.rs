use crate::normalize::trim_lws;
use crate::uri::{split_host_port, split_host_port_ref};
use crate::InvalidValue;
use crate::{Host, Params};
use std::fmt;

/// One Via value (RFC 3261 §20.42, RFC 3581 `rport`, RFC 5118 IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport token, upper-cased (`UDP`, `TCP`, `TLS`, `SCTP`, or an unknown one).
    pub transport: String,
    /// sent-by host.
    pub host: Host,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters (`branch`, `received`, `rport`, `maddr`, `ttl` …).
    pub params: Params,
}

impl Via {
    /// Parses one Via value: `SIP/2.0/UDP host[:port];params`.
    pub fn parse(value: &str) -> Result<Via, InvalidValue> {
        Self::parse_raw(value).map_err(|()| InvalidValue::new("Via"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(value: &str) -> Result<Via, ()> {
        let (transport, hostport, params) = split(value)?;
        let (host, port) = split_host_port(hostport)?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: Params::parse_raw(params)?,
        })
    }

    /// True when `value` parses, checked without allocating.
    pub(crate) fn is_valid(value: &str) -> bool {
        split(value)
            .and_then(|(_, hostport, _)| split_host_port_ref(hostport))
            .is_ok()
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// True when the branch carries the RFC 3261 magic cookie and an identifier after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter, brackets optional (RFC 5118 §4.5).
    pub fn received(&self) -> Option<Host> {
        self.params
            .value("received")
            .and_then(|r| Host::parse_lenient(r).ok())
    }

    /// `rport`: `None` when absent, `Some(None)` when present without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }
}

/// Splits a Via value into transport, sent-by and parameter text, and
/// checks the parameters that have a syntax of their own.
fn split(value: &str) -> Result<(&str, &str, &str), ()> {
    let s = trim_lws(value);
    let (transport, rest) = split_protocol(s)?;
    let rest = trim_lws(rest);
    let end = rest.find(';').unwrap_or(rest.len());
    let params = &rest[end..];
    let mut ok = true;
    crate::params::scan(params, |name, value| {
        if name.eq_ignore_ascii_case("received") {
            ok &= value.is_some_and(|r| Host::parse_lenient(r).is_ok());
        } else if name.eq_ignore_ascii_case("rport") {
            ok &= value.is_none_or(|p| p.parse::<u16>().is_ok());
        }
    })?;
    if !ok {
        return Err(());
    }
    Ok((transport, trim_lws(&rest[..end]), params))
}

/// Reads `SIP / 2.0 / UDP` (LWS allowed around the slashes, RFC 4475 wsinv).
fn split_protocol(s: &str) -> Result<(&str, &str), ()> {
    let mut rest = s;
    let mut parts = [""; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        rest = trim_lws(rest);
        let end = rest.find(['/', ' ', '\t']).unwrap_or(rest.len());
        *part = &rest[..end];
        rest = trim_lws(&rest[end..]);
        if i < 2 {
            rest = rest.strip_prefix('/').ok_or(())?;
        }
    }
    let [name, version, transport] = parts;
    let transport_ok =
        !transport.is_empty() && transport.bytes().all(crate::normalize::is_token_byte);
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || !transport_ok {
        return Err(());
    }
    if rest.is_empty() {
        return Err(());
    }
    Ok((transport, rest))
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tortuous_whitespace_and_params() {
        let v =
            Via::parse("SIP  /   2.0  /  UDP  192.0.2.2;branch=390skdjuw;rport").expect("parses");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().expect("v4")));
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn ipv6_sent_by_and_received_forms() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111",
        )
        .expect("parses");
        assert_eq!(v.port, None);
        assert_eq!(
            v.received(),
            Some(Host::V6("2001:db8::9:255".parse().expect("v6")))
        );
        let v =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
                .expect("parses");
        assert_eq!(v.branch(), Some("z9hG4bKas3"));
        assert_eq!(
            v.received(),
            Some(Host::V6("2001:db8::9:255".parse().expect("v6")))
        );
    }

    #[test]
    fn invalid_vias_are_refused() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP",
            "SIP/3.0/UDP a",
            "SIP/2.0/UDP a:99999",
            "garbage",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn magic_cookie_alone_is_not_an_rfc3261_branch() {
        assert!(!Via::parse("SIP/2.0/UDP a;branch=z9hG4bK")
            .expect("parses")
            .has_rfc3261_branch());
        assert!(Via::parse("SIP/2.0/UDP a;branch=z9hG4bKx")
            .expect("parses")
            .has_rfc3261_branch());
    }
}
