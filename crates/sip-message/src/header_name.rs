use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal, $lower:literal, compact: $compact:expr, list: $list:expr; )*) => {
        /// A header field name. Known names are variants (compared without
        /// allocation); any other name is kept as written in `Other`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canonical, "`")]
                $variant,
            )*
            /// An extension header, as written on the wire.
            Other(Box<str>),
        }

        impl HeaderName {
            /// The canonical spelling (`Call-ID`, `CSeq`, `WWW-Authenticate`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(name) => name,
                }
            }

            /// True when RFC 3261 §7.3.1 lets the header carry a comma list
            /// that may be split into one field per value.
            pub fn is_list(&self) -> bool {
                match self {
                    $( HeaderName::$variant => $list, )*
                    HeaderName::Other(_) => false,
                }
            }

            /// The name for a token as found on the wire: case-insensitive,
            /// with compact forms (RFC 3261 §7.3.3 and later RFCs) expanded.
            pub fn from_wire(name: &str) -> HeaderName {
                if name.len() == 1 {
                    let c = name.as_bytes()[0].to_ascii_lowercase();
                    $( if $compact == Some(c) { return HeaderName::$variant; } )*
                }
                let mut buf = [0u8; 24];
                if name.len() <= buf.len() {
                    let lower = &mut buf[..name.len()];
                    lower.copy_from_slice(name.as_bytes());
                    lower.make_ascii_lowercase();
                    // A match on string literals compiles to a length and
                    // byte decision tree, not a chain of comparisons.
                    if let Ok(lower) = std::str::from_utf8(lower) {
                        match lower {
                            $( $lower => return HeaderName::$variant, )*
                            _ => {}
                        }
                    }
                }
                HeaderName::Other(name.into())
            }
        }
    };
}

header_names! {
    Accept => "Accept", "accept", compact: None, list: true;
    AcceptContact => "Accept-Contact", "accept-contact", compact: Some(b'a'), list: true;
    AcceptEncoding => "Accept-Encoding", "accept-encoding", compact: None, list: true;
    AcceptLanguage => "Accept-Language", "accept-language", compact: None, list: true;
    AlertInfo => "Alert-Info", "alert-info", compact: None, list: true;
    Allow => "Allow", "allow", compact: None, list: true;
    AllowEvents => "Allow-Events", "allow-events", compact: Some(b'u'), list: true;
    AuthenticationInfo => "Authentication-Info", "authentication-info", compact: None, list: false;
    Authorization => "Authorization", "authorization", compact: None, list: false;
    CallId => "Call-ID", "call-id", compact: Some(b'i'), list: false;
    CallInfo => "Call-Info", "call-info", compact: None, list: true;
    Contact => "Contact", "contact", compact: Some(b'm'), list: true;
    ContentDisposition => "Content-Disposition", "content-disposition", compact: None, list: false;
    ContentEncoding => "Content-Encoding", "content-encoding", compact: Some(b'e'), list: true;
    ContentLanguage => "Content-Language", "content-language", compact: None, list: true;
    ContentLength => "Content-Length", "content-length", compact: Some(b'l'), list: false;
    ContentType => "Content-Type", "content-type", compact: Some(b'c'), list: false;
    CSeq => "CSeq", "cseq", compact: None, list: false;
    Date => "Date", "date", compact: None, list: false;
    ErrorInfo => "Error-Info", "error-info", compact: None, list: true;
    Event => "Event", "event", compact: Some(b'o'), list: false;
    Expires => "Expires", "expires", compact: None, list: false;
    From => "From", "from", compact: Some(b'f'), list: false;
    Identity => "Identity", "identity", compact: Some(b'y'), list: false;
    InReplyTo => "In-Reply-To", "in-reply-to", compact: None, list: true;
    MaxForwards => "Max-Forwards", "max-forwards", compact: None, list: false;
    MimeVersion => "MIME-Version", "mime-version", compact: None, list: false;
    MinExpires => "Min-Expires", "min-expires", compact: None, list: false;
    MinSe => "Min-SE", "min-se", compact: None, list: false;
    Organization => "Organization", "organization", compact: None, list: false;
    Path => "Path", "path", compact: None, list: true;
    Priority => "Priority", "priority", compact: None, list: false;
    ProxyAuthenticate => "Proxy-Authenticate", "proxy-authenticate", compact: None, list: false;
    ProxyAuthorization => "Proxy-Authorization", "proxy-authorization", compact: None, list: false;
    ProxyRequire => "Proxy-Require", "proxy-require", compact: None, list: true;
    RAck => "RAck", "rack", compact: None, list: false;
    Reason => "Reason", "reason", compact: None, list: true;
    RecordRoute => "Record-Route", "record-route", compact: None, list: true;
    ReferTo => "Refer-To", "refer-to", compact: Some(b'r'), list: false;
    ReferredBy => "Referred-By", "referred-by", compact: Some(b'b'), list: false;
    RejectContact => "Reject-Contact", "reject-contact", compact: Some(b'j'), list: true;
    Replaces => "Replaces", "replaces", compact: None, list: false;
    ReplyTo => "Reply-To", "reply-to", compact: None, list: false;
    RequestDisposition => "Request-Disposition", "request-disposition", compact: Some(b'd'), list: true;
    Require => "Require", "require", compact: None, list: true;
    RetryAfter => "Retry-After", "retry-after", compact: None, list: false;
    Route => "Route", "route", compact: None, list: true;
    RSeq => "RSeq", "rseq", compact: None, list: false;
    Server => "Server", "server", compact: None, list: false;
    ServiceRoute => "Service-Route", "service-route", compact: None, list: true;
    SessionExpires => "Session-Expires", "session-expires", compact: Some(b'x'), list: false;
    Subject => "Subject", "subject", compact: Some(b's'), list: false;
    SubscriptionState => "Subscription-State", "subscription-state", compact: None, list: false;
    Supported => "Supported", "supported", compact: Some(b'k'), list: true;
    Timestamp => "Timestamp", "timestamp", compact: None, list: false;
    To => "To", "to", compact: Some(b't'), list: false;
    Unsupported => "Unsupported", "unsupported", compact: None, list: true;
    UserAgent => "User-Agent", "user-agent", compact: None, list: false;
    Via => "Via", "via", compact: Some(b'v'), list: true;
    Warning => "Warning", "warning", compact: None, list: true;
    WwwAuthenticate => "WWW-Authenticate", "www-authenticate", compact: None, list: false;
}

impl HeaderName {
    /// True for the lists of addresses whose every element matters to
    /// routing (Via hops, Route, Record-Route, Contact): the normaliser
    /// splits these into one field per element. Other lists (Allow,
    /// Supported …) stay whole; read them with [`crate::Headers::tokens`].
    pub fn is_address_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Contact
                | HeaderName::Path
                | HeaderName::ServiceRoute
        )
    }

    /// Case-insensitive comparison with a name as written.
    pub fn is(&self, name: &str) -> bool {
        self.as_str().eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn compact_forms_expand() {
        for (c, full) in [
            ("v", HeaderName::Via),
            ("f", HeaderName::From),
            ("t", HeaderName::To),
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("k", HeaderName::Supported),
            ("s", HeaderName::Subject),
            ("e", HeaderName::ContentEncoding),
            ("o", HeaderName::Event),
            ("r", HeaderName::ReferTo),
            ("x", HeaderName::SessionExpires),
            ("V", HeaderName::Via),
        ] {
            assert_eq!(HeaderName::from_wire(c), full, "{c}");
        }
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_names_kept() {
        assert_eq!(HeaderName::from_wire("cALL-iD"), HeaderName::CallId);
        assert_eq!(
            HeaderName::from_wire("www-authenticate").as_str(),
            "WWW-Authenticate"
        );
        let other = HeaderName::from_wire("C%6Fntact");
        assert_eq!(other, HeaderName::Other("C%6Fntact".into()));
        assert_ne!(other, HeaderName::Contact);
    }
}
