//! The UAS core's checks on a new request, in RFC 3261 §8.2 order: method,
//! headers, extensions, content. Pure functions: a request in, a verdict out.

use sip_message::{HeaderName, Message, Method, Uri};

/// Methods this node accepts, advertised in `Allow`.
pub const ALLOWED: &[Method] = &[
    Method::INVITE,
    Method::ACK,
    Method::CANCEL,
    Method::BYE,
    Method::OPTIONS,
    Method::REGISTER,
    Method::INFO,
    Method::UPDATE,
    Method::PRACK,
    Method::SUBSCRIBE,
    Method::NOTIFY,
];

/// Option tags this node implements (none are claimed before they work).
pub const SUPPORTED: &[&str] = &["100rel", "timer"];

/// The `Allow` header value.
pub fn allow_value() -> String {
    ALLOWED
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A refusal: the status and the headers that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Status code.
    pub code: u16,
    /// A reason phrase more precise than the standard one, if any.
    pub reason: Option<&'static str>,
    /// Headers the response must carry (`Allow`, `Unsupported`, `Accept`).
    pub headers: Vec<(HeaderName, String)>,
}

impl Refusal {
    fn new(code: u16) -> Self {
        Refusal {
            code,
            reason: None,
            headers: Vec::new(),
        }
    }
    fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
    fn header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The checks every new request passes, whatever its method (§8.2.1–§8.2.2).
pub fn check_request(request: &Message) -> Result<(), Refusal> {
    let Some(method) = request.method() else {
        return Ok(());
    };
    // §8.2.1: an extension method is 501; a known one we do not serve is 405.
    if !ALLOWED.contains(method) {
        let code = if matches!(method, Method::Extension(_)) {
            501
        } else {
            405
        };
        return Err(Refusal::new(code).header(HeaderName::Allow, allow_value()));
    }
    if !request.cseq_matches_method() {
        return Err(Refusal::new(400).reason("CSeq Method Mismatch"));
    }
    // RFC 4475 §3.2.1: the magic cookie with no identifier is neither an
    // RFC 3261 branch nor a usable RFC 2543 one.
    if request
        .top_via()
        .and_then(|v| v.branch().map(|b| b == "z9hG4bK"))
        .unwrap_or(false)
    {
        return Err(Refusal::new(400).reason("Invalid Branch"));
    }
    // §8.2.2.1: schemes we cannot route.
    if matches!(request.request_uri(), Some(Uri::Other(_))) {
        return Err(Refusal::new(416));
    }
    // §8.2.2.3: every Require option must be supported.
    let unsupported: Vec<&str> = request
        .headers
        .get_all(&HeaderName::Require)
        .filter(|opt| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(opt)))
        .collect();
    if !unsupported.is_empty() && *method != Method::ACK && *method != Method::CANCEL {
        return Err(Refusal::new(420).header(HeaderName::Unsupported, unsupported.join(", ")));
    }
    Ok(())
}

/// The content checks for a request that carries or negotiates an SDP
/// session (§8.2.3): the body must be SDP, and the peer must accept SDP.
pub fn check_session_content(request: &Message) -> Result<(), Refusal> {
    if !request.body.is_empty() {
        let content_type = request.header(&HeaderName::ContentType).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/sdp") {
            return Err(Refusal::new(415).header(HeaderName::Accept, "application/sdp".into()));
        }
    }
    let accepts: Vec<&str> = request.headers.get_all(&HeaderName::Accept).collect();
    if !accepts.is_empty() && !accepts.iter().any(|a| accepts_sdp(a)) {
        return Err(Refusal::new(406).header(
            HeaderName::Warning,
            "399 baton \"SDP is the only session description offered\"".into(),
        ));
    }
    Ok(())
}

fn accepts_sdp(accept: &str) -> bool {
    let mime = accept.split(';').next().unwrap_or("").trim();
    ["application/sdp", "application/*", "*/*"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(mime))
}

/// RFC 3261 §16.3 item 2 for a request the B2BUA would relay to a B-leg.
pub fn check_relayable(request: &Message) -> Result<(), Refusal> {
    if request.max_forwards() == Some(0) {
        return Err(Refusal::new(483));
    }
    Ok(())
}

/// A registrar refuses an address of record that is not a SIP/SIPS URI
/// (RFC 3261 §10.3 item 3; RFC 4475 unksm2).
pub fn check_register_aor(request: &Message) -> Result<(), Refusal> {
    match request.to() {
        Some(to) if matches!(to.uri, Uri::Sip(_)) => Ok(()),
        _ => Err(Refusal::new(400).reason("Address of Record Must Be a SIP URI")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Message {
        Message::parse(text.as_bytes()).expect("test request parses")
    }

    const BASE: &str = "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c1\r\n";

    #[test]
    fn unknown_and_unserved_methods() {
        let r = check_request(&req(&format!(
            "FOO sip:b@example.com SIP/2.0\r\n{BASE}CSeq: 1 FOO\r\n\r\n"
        )));
        assert_eq!(r.as_ref().map_err(|e| e.code), Err(501));
        assert!(r
            .expect_err("refused")
            .headers
            .iter()
            .any(|(n, v)| *n == HeaderName::Allow && v.contains("INVITE")));
        let r = check_request(&req(&format!(
            "MESSAGE sip:b@example.com SIP/2.0\r\n{BASE}CSeq: 1 MESSAGE\r\n\r\n"
        )));
        assert_eq!(r.map_err(|e| e.code), Err(405));
    }

    #[test]
    fn require_with_unknown_options_is_420() {
        let r = check_request(&req(&format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\n{BASE}CSeq: 1 OPTIONS\r\nRequire: foo, bar\r\n\r\n"
        )))
        .expect_err("refused");
        assert_eq!(r.code, 420);
        assert_eq!(
            r.headers,
            vec![(HeaderName::Unsupported, "foo, bar".to_string())]
        );
    }

    #[test]
    fn content_checks() {
        let invite = |extra: &str, body: &str| {
            req(&format!("INVITE sip:b@example.com SIP/2.0\r\n{BASE}CSeq: 1 INVITE\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len()))
        };
        assert_eq!(
            check_session_content(&invite("Content-Type: text/foo\r\n", "x")).map_err(|e| e.code),
            Err(415)
        );
        assert_eq!(
            check_session_content(&invite("Accept: text/nobody\r\n", "")).map_err(|e| e.code),
            Err(406)
        );
        assert!(check_session_content(&invite("Content-Type: application/SDP\r\n", "v=0")).is_ok());
    }
}
