use crate::framing::{content_length_of, datagram_body, split_head};
use crate::normalize::{static_name, tokenize_head, trim_lws};
use crate::{
    CSeq, ContactValue, HeaderName, Headers, Limits, Method, NameAddr, ParseError, SyntaxError,
    Uri, Via,
};
use bytes::Bytes;
use std::fmt::Write as _;

/// `Method SP Request-URI SP SIP/2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
}

/// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// 100–699.
    pub code: u16,
    /// The reason phrase, possibly empty.
    pub reason: String,
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request.
    Request(RequestLine),
    /// A response.
    Response(StatusLine),
}

/// A parsed SIP message whose mandatory headers are known to be well formed.
///
/// Headers are kept as normalised strings; typed views (`cseq()`,
/// `top_via()` …) parse on access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Header fields in wire order (comma lists split).
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

impl Message {
    /// Parses one datagram with the default caps.
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        Self::parse_with(buf, &Limits::DEFAULT)
    }

    /// Parses one datagram (or one message cut from a stream by
    /// [`crate::framing::StreamFramer`]) with these caps.
    pub fn parse_with(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
        let is_request = looks_like_request(buf);
        let framing = |error, head: Option<Headers>| ParseError::Framing {
            error,
            head: head.map(Box::new),
            is_request,
        };
        let syntax = |error, head: Option<Headers>| ParseError::Syntax {
            error,
            head: head.map(Box::new),
            is_request,
        };
        let (head, rest) = split_head(buf, limits).map_err(|e| framing(e, None))?;
        let text = std::str::from_utf8(head).map_err(|_| syntax(SyntaxError::NotUtf8, None))?;
        // Tokenize before reading Content-Length, so that even a message
        // with a bad length keeps its headers for a stateless 400.
        let (start, headers) = tokenize_head(text, limits).map_err(|e| syntax(e, None))?;
        let body = match content_length_of(&headers).and_then(|cl| datagram_body(cl, rest, limits))
        {
            Ok(body) => body,
            Err(e) => return Err(framing(e, Some(headers))),
        };
        let start = match parse_start_line(start) {
            Ok(s) => s,
            Err(e) => return Err(syntax(e, Some(headers))),
        };
        if let Err(e) = validate(&start, &headers) {
            return Err(syntax(e, Some(headers)));
        }
        Ok(Message {
            start,
            headers,
            body: Bytes::copy_from_slice(body),
        })
    }

    /// A request with no headers yet.
    pub fn request(method: Method, uri: Uri) -> Message {
        Message {
            start: StartLine::Request(RequestLine { method, uri }),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request(r) => Some(&r.method),
            StartLine::Response(_) => None,
        }
    }

    /// The Request-URI, or `None` for a response.
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request(r) => Some(&r.uri),
            StartLine::Response(_) => None,
        }
    }

    /// The status code, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name)
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get(&HeaderName::CallId)
    }

    /// CSeq, parsed.
    pub fn cseq(&self) -> Option<CSeq> {
        self.headers
            .get(&HeaderName::CSeq)
            .and_then(|v| CSeq::parse(v).ok())
    }

    /// The top Via, parsed.
    pub fn top_via(&self) -> Option<Via> {
        self.headers
            .get(&HeaderName::Via)
            .and_then(|v| Via::parse(v).ok())
    }

    /// From, parsed.
    pub fn from(&self) -> Option<NameAddr> {
        self.headers
            .get(&HeaderName::From)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    /// To, parsed.
    pub fn to(&self) -> Option<NameAddr> {
        self.headers
            .get(&HeaderName::To)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<String> {
        self.from().and_then(|f| f.tag().map(str::to_string))
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<String> {
        self.to().and_then(|t| t.tag().map(str::to_string))
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Option<u8> {
        self.headers
            .get(&HeaderName::MaxForwards)
            .and_then(|v| v.parse().ok())
    }

    /// Every Contact value, parsed (invalid ones skipped; the parser already
    /// refused messages with invalid ones).
    pub fn contacts(&self) -> Vec<ContactValue> {
        self.headers
            .get_all(&HeaderName::Contact)
            .filter_map(|v| ContactValue::parse(v).ok())
            .collect()
    }

    /// True when the CSeq method equals the request method (RFC 4475 mismatch01).
    pub fn cseq_matches_method(&self) -> bool {
        match (self.method(), self.cseq()) {
            (Some(m), Some(c)) => *m == c.method,
            _ => true,
        }
    }

    /// Serialises the message. Content-Length is always written, from the
    /// actual body, replacing any stale value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.headers.len() * 48);
        match &self.start {
            StartLine::Request(r) => {
                let _ = write!(out, "{} {} SIP/2.0\r\n", r.method, r.uri);
            }
            StartLine::Response(s) => {
                let _ = write!(out, "SIP/2.0 {} {}\r\n", s.code, s.reason);
            }
        }
        for h in &self.headers {
            if h.name != HeaderName::ContentLength {
                let _ = write!(out, "{}: {}\r\n", h.name, h.value);
            }
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn looks_like_request(buf: &[u8]) -> bool {
    let buf = &buf[buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()..];
    !buf.starts_with(b"SIP/")
}

fn parse_start_line(line: &str) -> Result<StartLine, SyntaxError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        // SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = rest.split_once(' ').ok_or(SyntaxError::StartLine)?;
        if version != "2.0" {
            return Err(SyntaxError::Version);
        }
        let (code, reason) = rest.split_once(' ').ok_or(SyntaxError::StartLine)?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SyntaxError::StatusCode);
        }
        let code: u16 = code.parse().map_err(|_| SyntaxError::StatusCode)?;
        if !(100..=699).contains(&code) {
            return Err(SyntaxError::StatusCode);
        }
        return Ok(StartLine::Response(StatusLine {
            code,
            reason: reason.to_string(),
        }));
    }
    // Method SP Request-URI SP SIP-Version: exactly two single spaces
    // (RFC 4475 lwsstart, trws, lwsruri are refused).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SyntaxError::StartLine);
    };
    let method = Method::parse(method).ok_or(SyntaxError::StartLine)?;
    if !version.starts_with("SIP/") {
        return Err(SyntaxError::StartLine);
    }
    if version != "SIP/2.0" {
        return Err(SyntaxError::Version);
    }
    let uri = Uri::parse(uri).map_err(|_| SyntaxError::RequestUri)?;
    if matches!(&uri, Uri::Sip(u) if u.headers.is_some()) {
        return Err(SyntaxError::RequestUriHeaders);
    }
    Ok(StartLine::Request(RequestLine { method, uri }))
}

/// The checks every message must pass before any layer sees it
/// (RFC 3261 §8.1.1 mandatory headers, RFC 4475 §3.1.2 and §3.3).
fn validate(start: &StartLine, headers: &Headers) -> Result<(), SyntaxError> {
    // One pass: count the single-valued headers and check every typed one.
    let (mut call_id, mut cseq, mut from, mut to, mut via, mut max_forwards) = (0, 0, 0, 0, 0, 0);
    for h in headers {
        let v = h.value.as_str();
        let ok = match h.name {
            HeaderName::CallId => {
                call_id += 1;
                !v.is_empty() && !v.contains([' ', '\t'])
            }
            HeaderName::CSeq => {
                cseq += 1;
                CSeq::parse(v).is_ok()
            }
            HeaderName::From => {
                from += 1;
                NameAddr::is_valid(v)
            }
            HeaderName::To => {
                to += 1;
                NameAddr::is_valid(v)
            }
            HeaderName::Via => {
                via += 1;
                Via::is_valid(v)
            }
            HeaderName::Contact => ContactValue::is_valid(v),
            HeaderName::MaxForwards => {
                max_forwards += 1;
                let digits = trim_lws(v);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    if digits.len() > 10 || digits.parse::<u64>().map_or(true, |n| n > 255) {
                        return Err(SyntaxError::Range("Max-Forwards"));
                    }
                    true
                } else {
                    false
                }
            }
            _ => true,
        };
        if !ok {
            return Err(SyntaxError::Header(static_name(&h.name)));
        }
    }
    for (n, name) in [
        (call_id, "Call-ID"),
        (cseq, "CSeq"),
        (from, "From"),
        (to, "To"),
    ] {
        match n {
            0 => return Err(SyntaxError::Missing(name)),
            1 => {}
            _ => return Err(SyntaxError::Duplicate(name)),
        }
    }
    if via == 0 {
        return Err(SyntaxError::Missing("Via"));
    }
    if max_forwards > 1 {
        return Err(SyntaxError::Duplicate("Max-Forwards"));
    }
    if let StartLine::Request(r) = start {
        // An extension method with a mismatched CSeq is left to the UAS,
        // which answers 501 first (RFC 4475 mismatch02).
        let cseq = headers
            .get(&HeaderName::CSeq)
            .and_then(|v| CSeq::parse(v).ok());
        if let (
            Method::Standard(m),
            Some(CSeq {
                method: Method::Standard(c),
                ..
            }),
        ) = (&r.method, cseq)
        {
            if *m != c {
                return Err(SyntaxError::CSeqMethod);
            }
        }
    }
    Ok(())
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}
