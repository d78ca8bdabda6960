use crate::InvalidValue;
use crate::Params;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host: a domain name or an IP literal. IPv6 literals are written in
/// brackets on the wire (RFC 3261 §25.1, RFC 5118).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Domain(String),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 literal.
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host: `[v6]`, a dotted IPv4 address or a domain name.
    /// RFC 5118 §4.10: `2001:db8:::192.0.2.1` (three colons) is tolerated and
    /// read as `2001:db8::192.0.2.1`.
    pub fn parse(s: &str) -> Result<Host, InvalidValue> {
        Self::parse_raw(s).map_err(|()| InvalidValue::new("host"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(s: &str) -> Result<Host, ()> {
        Ok(match HostRef::parse(s)? {
            HostRef::Domain(d) => Host::Domain(d.to_string()),
            HostRef::Ip(ip) => ip.into(),
        })
    }

    /// Parses a host that may be an unbracketed IPv6 address, as the Via
    /// `received` parameter may be (RFC 5118 §4.5).
    pub fn parse_lenient(s: &str) -> Result<Host, InvalidValue> {
        Self::parse_lenient_raw(s).map_err(|()| InvalidValue::new("host"))
    }

    /// [`Self::parse_lenient`] with a unit error, for the parser's own use.
    pub(crate) fn parse_lenient_raw(s: &str) -> Result<Host, ()> {
        if s.contains(':') && !s.starts_with('[') {
            return parse_v6(s).map(Host::V6);
        }
        Host::parse_raw(s)
    }

    /// The IP address, if the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

/// A host checked but not copied (the parser's validation path).
#[derive(Debug, Clone, Copy)]
pub(crate) enum HostRef<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

impl<'a> HostRef<'a> {
    pub(crate) fn parse(s: &'a str) -> Result<HostRef<'a>, ()> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(())?;
            return parse_v6(inner).map(|a| HostRef::Ip(IpAddr::V6(a)));
        }
        if s.is_empty() {
            return Err(());
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s
                .parse()
                .map(|a| HostRef::Ip(IpAddr::V4(a)))
                .map_err(|_| ());
        }
        if s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Ok(HostRef::Domain(s));
        }
        Err(())
    }
}

fn parse_v6(s: &str) -> Result<Ipv6Addr, ()> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    if s.contains(":::") && !s.contains("::::") {
        return s.replacen(":::", "::", 1).parse().map_err(|_| ());
    }
    Err(())
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, still %-escaped as on the wire.
    pub user: Option<String>,
    /// The password part, if any.
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, if written.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: Params,
    /// The `?headers` part, without the `?`.
    pub headers: Option<String>,
}

impl SipUri {
    /// A plain `sip:` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> Self {
        SipUri {
            secure: false,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: None,
        }
    }
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number, as written.
    pub number: String,
    /// Parameters (`phone-context` …).
    pub params: Params,
}

/// A URI of another scheme, kept opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsoluteUri {
    /// The scheme, as written.
    pub scheme: String,
    /// Everything after the colon.
    pub rest: String,
}

/// A URI as found in a Request-URI or a name-addr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` / `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Any other scheme.
    Other(AbsoluteUri),
}

impl Uri {
    /// Parses a URI. No whitespace is allowed anywhere in it.
    pub fn parse(s: &str) -> Result<Uri, InvalidValue> {
        Self::parse_raw(s).map_err(|()| InvalidValue::new("URI"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(s: &str) -> Result<Uri, ()> {
        Ok(match UriRef::parse(s)? {
            UriRef::Sip(p) => Uri::Sip(SipUri {
                secure: p.secure,
                user: p.user.map(str::to_string),
                password: p.password.map(str::to_string),
                host: match p.host {
                    HostRef::Domain(d) => Host::Domain(d.to_string()),
                    HostRef::Ip(ip) => ip.into(),
                },
                port: p.port,
                params: Params::parse_raw(p.params)?,
                headers: p.headers.map(str::to_string),
            }),
            UriRef::Tel { number, params } => Uri::Tel(TelUri {
                number: number.to_string(),
                params: Params::parse_raw(params)?,
            }),
            UriRef::Other { scheme, rest } => Uri::Other(AbsoluteUri {
                scheme: scheme.to_string(),
                rest: rest.to_string(),
            }),
        })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The user part of a SIP URI or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip(u) => u.user.as_deref(),
            Uri::Tel(t) => Some(&t.number),
            Uri::Other(_) => None,
        }
    }
}

/// A URI checked but not copied: the validation path of the parser uses
/// it alone, [`Uri::parse`] turns it into owned parts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UriRef<'a> {
    Sip(SipUriRef<'a>),
    Tel { number: &'a str, params: &'a str },
    Other { scheme: &'a str, rest: &'a str },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SipUriRef<'a> {
    secure: bool,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: HostRef<'a>,
    port: Option<u16>,
    params: &'a str,
    headers: Option<&'a str>,
}

impl<'a> UriRef<'a> {
    pub(crate) fn parse(s: &'a str) -> Result<UriRef<'a>, ()> {
        let colon = s.bytes().position(|b| b == b':').ok_or(())?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme || rest.is_empty() {
            return Err(());
        }
        if rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(());
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return parse_sip(scheme.eq_ignore_ascii_case("sips"), rest).map(UriRef::Sip);
        }
        if scheme.eq_ignore_ascii_case("tel") {
            let end = rest.find(';').unwrap_or(rest.len());
            let number = &rest[..end];
            let ok = !number.is_empty()
                && number
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b"+-.()*#pwPW".contains(&b));
            if !ok {
                return Err(());
            }
            crate::params::scan(&rest[end..], |_, _| {})?;
            return Ok(UriRef::Tel {
                number,
                params: &rest[end..],
            });
        }
        Ok(UriRef::Other { scheme, rest })
    }
}

fn parse_sip(secure: bool, rest: &str) -> Result<SipUriRef<'_>, ()> {
    // '@' can only appear as the userinfo delimiter: user, parameter and
    // header characters exclude it (RFC 3261 §25.1).
    let (user, password, hostpart) = match rest.bytes().position(|b| b == b'@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.bytes().position(|b| b == b':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(());
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let (hostport, tail) = if hostpart.starts_with('[') {
        let close = hostpart.find(']').ok_or(())?;
        let after = &hostpart[close + 1..];
        let end = after.find([';', '?']).unwrap_or(after.len());
        (&hostpart[..close + 1 + end], &after[end..])
    } else {
        let end = hostpart
            .bytes()
            .position(|b| b == b';' || b == b'?')
            .unwrap_or(hostpart.len());
        (&hostpart[..end], &hostpart[end..])
    };
    let (host, port) = split_host_port_ref(hostport)?;
    let (params, headers) = match tail.bytes().position(|b| b == b'?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    if headers.is_some_and(str::is_empty) {
        return Err(());
    }
    crate::params::scan(params, |_, _| {})?;
    Ok(SipUriRef {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Splits `host[:port]`, where host may be `[v6]`.
pub(crate) fn split_host_port(s: &str) -> Result<(Host, Option<u16>), ()> {
    let (host, port) = split_host_port_ref(s)?;
    let host = match host {
        HostRef::Domain(d) => Host::Domain(d.to_string()),
        HostRef::Ip(ip) => ip.into(),
    };
    Ok((host, port))
}

pub(crate) fn split_host_port_ref(s: &str) -> Result<(HostRef<'_>, Option<u16>), ()> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(())?;
        match &s[close + 1..] {
            "" => (&s[..=close], None),
            p => (&s[..=close], Some(p.strip_prefix(':').ok_or(())?)),
        }
    } else {
        match s.bytes().position(|b| b == b':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| ())?)
        }
        Some(_) => return Err(()),
        None => None,
    };
    Ok((HostRef::parse(host)?, port))
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(t) => write!(f, "tel:{}{}", t.number, t.params),
            Uri::Other(o) => write!(f, "{}:{}", o.scheme, o.rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn bracketed_ipv6_hosts_with_and_without_port() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().expect("v6")));
        assert_eq!(u.port, Some(5070));
        // RFC 5118 §4.3: the port-looking tail is part of the address.
        let u = sip("sip:user@[2001:db8::10:5070]");
        assert_eq!(u.host, Host::V6("2001:db8::10:5070".parse().expect("v6")));
        assert_eq!(u.port, None);
        assert_eq!(u.to_string(), "sip:user@[2001:db8::10:5070]");
    }

    #[test]
    fn unbracketed_ipv6_is_refused_and_three_colons_tolerated() {
        assert!(Uri::parse("sip:user@2001:db8::10").is_err());
        let u = sip("sip:[2001:db8:::192.0.2.1]");
        assert_eq!(u.host, Host::V6("2001:db8::192.0.2.1".parse().expect("v6")));
    }

    #[test]
    fn user_part_may_hold_semicolons_question_marks_and_escapes() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(u.host, Host::Domain("example.com".into()));
    }

    #[test]
    fn tel_and_other_schemes() {
        assert!(
            matches!(Uri::parse("tel:+1-201-555-0123;phone-context=x"), Ok(Uri::Tel(t)) if t.number == "+1-201-555-0123")
        );
        assert!(
            matches!(Uri::parse("soap.beep://192.0.2.103:3002"), Ok(Uri::Other(o)) if o.scheme == "soap.beep")
        );
        assert!(Uri::parse("sip:user@example.com extra").is_err());
        assert!(Uri::parse("<sip:user@example.com>").is_err());
    }

    #[test]
    fn params_and_headers_round_trip() {
        let u = sip("sip:a@b.example:5062;transport=tcp;lr?Route=%3Csip:x%3E");
        assert_eq!(u.params.value("transport"), Some("tcp"));
        assert_eq!(u.headers.as_deref(), Some("Route=%3Csip:x%3E"));
        assert_eq!(
            u.to_string(),
            "sip:a@b.example:5062;transport=tcp;lr?Route=%3Csip:x%3E"
        );
    }
}
