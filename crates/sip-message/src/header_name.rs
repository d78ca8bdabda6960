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
                    // A match on byte-string literals compiles to a length
                    // and byte decision tree, not a chain of comparisons.
                    match &*lower {
                        $( $lower => return HeaderName::$variant, )*
                        _ => {}
                    }
                }
                HeaderName::Other(name.into())
            }
        }
    };
}

header_names! {
    Accept => "Accept", b"accept", compact: None, list: true;
    AcceptContact => "Accept-Contact", b"accept-contact", compact: Some(b'a'), list: true;
    AcceptEncoding => "Accept-Encoding", b"accept-encoding", compact: None, list: true;
    AcceptLanguage => "Accept-Language", b"accept-language", compact: None, list: true;
    AlertInfo => "Alert-Info", b"alert-info", compact: None, list: true;
    Allow => "Allow", b"allow", compact: None, list: true;
    AllowEvents => "Allow-Events", b"allow-events", compact: Some(b'u'), list: true;
    AuthenticationInfo => "Authentication-Info", b"authentication-info", compact: None, list: false;
    Authorization => "Authorization", b"authorization", compact: None, list: false;
    CallId => "Call-ID", b"call-id", compact: Some(b'i'), list: false;
    CallInfo => "Call-Info", b"call-info", compact: None, list: true;
    Contact => "Contact", b"contact", compact: Some(b'm'), list: true;
    ContentDisposition => "Content-Disposition", b"content-disposition", compact: None, list: false;
    ContentEncoding => "Content-Encoding", b"content-encoding", compact: Some(b'e'), list: true;
    ContentLanguage => "Content-Language", b"content-language", compact: None, list: true;
    ContentLength => "Content-Length", b"content-length", compact: Some(b'l'), list: false;
    ContentType => "Content-Type", b"content-type", compact: Some(b'c'), list: false;
    CSeq => "CSeq", b"cseq", compact: None, list: false;
    Date => "Date", b"date", compact: None, list: false;
    ErrorInfo => "Error-Info", b"error-info", compact: None, list: true;
    Event => "Event", b"event", compact: Some(b'o'), list: false;
    Expires => "Expires", b"expires", compact: None, list: false;
    From => "From", b"from", compact: Some(b'f'), list: false;
    Identity => "Identity", b"identity", compact: Some(b'y'), list: false;
    InReplyTo => "In-Reply-To", b"in-reply-to", compact: None, list: true;
    MaxForwards => "Max-Forwards", b"max-forwards", compact: None, list: false;
    MimeVersion => "MIME-Version", b"mime-version", compact: None, list: false;
    MinExpires => "Min-Expires", b"min-expires", compact: None, list: false;
    MinSe => "Min-SE", b"min-se", compact: None, list: false;
    Organization => "Organization", b"organization", compact: None, list: false;
    Path => "Path", b"path", compact: None, list: true;
    Priority => "Priority", b"priority", compact: None, list: false;
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate", compact: None, list: false;
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization", compact: None, list: false;
    ProxyRequire => "Proxy-Require", b"proxy-require", compact: None, list: true;
    RAck => "RAck", b"rack", compact: None, list: false;
    Reason => "Reason", b"reason", compact: None, list: true;
    RecordRoute => "Record-Route", b"record-route", compact: None, list: true;
    ReferTo => "Refer-To", b"refer-to", compact: Some(b'r'), list: false;
    ReferredBy => "Referred-By", b"referred-by", compact: Some(b'b'), list: false;
    RejectContact => "Reject-Contact", b"reject-contact", compact: Some(b'j'), list: true;
    Replaces => "Replaces", b"replaces", compact: None, list: false;
    ReplyTo => "Reply-To", b"reply-to", compact: None, list: false;
    RequestDisposition => "Request-Disposition", b"request-disposition", compact: Some(b'd'), list: true;
    Require => "Require", b"require", compact: None, list: true;
    RetryAfter => "Retry-After", b"retry-after", compact: None, list: false;
    Route => "Route", b"route", compact: None, list: true;
    RSeq => "RSeq", b"rseq", compact: None, list: false;
    Server => "Server", b"server", compact: None, list: false;
    ServiceRoute => "Service-Route", b"service-route", compact: None, list: true;
    SessionExpires => "Session-Expires", b"session-expires", compact: Some(b'x'), list: false;
    Subject => "Subject", b"subject", compact: Some(b's'), list: false;
    SubscriptionState => "Subscription-State", b"subscription-state", compact: None, list: false;
    Supported => "Supported", b"supported", compact: Some(b'k'), list: true;
    Timestamp => "Timestamp", b"timestamp", compact: None, list: false;
    To => "To", b"to", compact: Some(b't'), list: false;
    Unsupported => "Unsupported", b"unsupported", compact: None, list: true;
    UserAgent => "User-Agent", b"user-agent", compact: None, list: false;
    Via => "Via", b"via", compact: Some(b'v'), list: true;
    Warning => "Warning", b"warning", compact: None, list: true;
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate", compact: None, list: false;
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
