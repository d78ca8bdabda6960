use crate::normalize::is_token_byte;
use std::fmt;

/// A request method: one of rsip's standard methods, or an extension token.
/// Methods are case-sensitive (RFC 3261 §7.1): `invite` is an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// A method rsip knows (RFC 3261 and its extensions).
    Standard(rsip::Method),
    /// Any other token.
    Extension(Box<str>),
}

// rsip::Method does not implement Hash; the printed name identifies a method.
impl std::hash::Hash for Method {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Method::Standard(m) => m.to_string().hash(state),
            Method::Extension(t) => t.hash(state),
        }
    }
}

impl Method {
    /// INVITE
    pub const INVITE: Method = Method::Standard(rsip::Method::Invite);
    /// ACK
    pub const ACK: Method = Method::Standard(rsip::Method::Ack);
    /// BYE
    pub const BYE: Method = Method::Standard(rsip::Method::Bye);
    /// CANCEL
    pub const CANCEL: Method = Method::Standard(rsip::Method::Cancel);
    /// REGISTER
    pub const REGISTER: Method = Method::Standard(rsip::Method::Register);
    /// OPTIONS
    pub const OPTIONS: Method = Method::Standard(rsip::Method::Options);
    /// INFO
    pub const INFO: Method = Method::Standard(rsip::Method::Info);
    /// UPDATE
    pub const UPDATE: Method = Method::Standard(rsip::Method::Update);
    /// PRACK
    pub const PRACK: Method = Method::Standard(rsip::Method::PRack);
    /// SUBSCRIBE
    pub const SUBSCRIBE: Method = Method::Standard(rsip::Method::Subscribe);
    /// NOTIFY
    pub const NOTIFY: Method = Method::Standard(rsip::Method::Notify);
    /// REFER
    pub const REFER: Method = Method::Standard(rsip::Method::Refer);
    /// MESSAGE
    pub const MESSAGE: Method = Method::Standard(rsip::Method::Message);
    /// PUBLISH
    pub const PUBLISH: Method = Method::Standard(rsip::Method::Publish);

    /// Parses a method token, case-sensitively. `None` if it is not a token.
    pub fn parse(token: &str) -> Option<Method> {
        if token.is_empty() || !token.bytes().all(is_token_byte) {
            return None;
        }
        let standard = match token {
            "INVITE" => rsip::Method::Invite,
            "ACK" => rsip::Method::Ack,
            "BYE" => rsip::Method::Bye,
            "CANCEL" => rsip::Method::Cancel,
            "REGISTER" => rsip::Method::Register,
            "OPTIONS" => rsip::Method::Options,
            "INFO" => rsip::Method::Info,
            "UPDATE" => rsip::Method::Update,
            "PRACK" => rsip::Method::PRack,
            "SUBSCRIBE" => rsip::Method::Subscribe,
            "NOTIFY" => rsip::Method::Notify,
            "REFER" => rsip::Method::Refer,
            "MESSAGE" => rsip::Method::Message,
            "PUBLISH" => rsip::Method::Publish,
            other => return Some(Method::Extension(other.into())),
        };
        Some(Method::Standard(standard))
    }

    /// The name of a standard method (`"INVITE"`), `None` for an
    /// extension: a bounded set, for metric labels and logs that a peer's
    /// tokens must not extend.
    pub fn standard_name(&self) -> Option<&'static str> {
        let Method::Standard(m) = self else {
            return None;
        };
        Some(match m {
            rsip::Method::Ack => "ACK",
            rsip::Method::Bye => "BYE",
            rsip::Method::Cancel => "CANCEL",
            rsip::Method::Info => "INFO",
            rsip::Method::Invite => "INVITE",
            rsip::Method::Message => "MESSAGE",
            rsip::Method::Notify => "NOTIFY",
            rsip::Method::Options => "OPTIONS",
            rsip::Method::PRack => "PRACK",
            rsip::Method::Publish => "PUBLISH",
            rsip::Method::Refer => "REFER",
            rsip::Method::Register => "REGISTER",
            rsip::Method::Subscribe => "SUBSCRIBE",
            rsip::Method::Update => "UPDATE",
        })
    }

    /// The method as rsip names it, if it is a standard one.
    pub fn as_rsip(&self) -> Option<rsip::Method> {
        match self {
            Method::Standard(m) => Some(*m),
            Method::Extension(_) => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // rsip prints PRack as "PRACK" and every other name upper-cased.
            Method::Standard(m) => write!(f, "{m}"),
            Method::Extension(t) => f.write_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn methods_are_case_sensitive_and_round_trip() {
        assert_eq!(Method::parse("INVITE"), Some(Method::INVITE));
        assert_eq!(
            Method::parse("invite"),
            Some(Method::Extension("invite".into()))
        );
        assert_eq!(
            Method::parse("RE%47IST%45R"),
            Some(Method::Extension("RE%47IST%45R".into()))
        );
        assert_eq!(
            Method::parse("PRACK").map(|m| m.to_string()).as_deref(),
            Some("PRACK")
        );
        assert_eq!(Method::parse("IN VITE"), None);
    }

    #[test]
    fn standard_names_are_the_printed_names_and_extensions_have_none() {
        for token in [
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "REGISTER",
            "OPTIONS",
            "INFO",
            "UPDATE",
            "PRACK",
            "SUBSCRIBE",
            "NOTIFY",
            "REFER",
            "MESSAGE",
            "PUBLISH",
        ] {
            let m = Method::parse(token).expect("a token");
            assert_eq!(m.standard_name(), Some(token));
            assert_eq!(m.to_string(), token);
        }
        assert_eq!(
            Method::parse("XYZZY").expect("a token").standard_name(),
            None
        );
    }
}
