use crate::{HeaderName, Headers, Message, StartLine, StatusLine};
use bytes::Bytes;

/// The standard reason phrase for a status code (RFC 3261 §21 and the
/// extensions Baton uses); `"Unknown"` for others.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

/// Builds a response to a request (RFC 3261 §8.2.6.2): Via, From, To,
/// Call-ID and CSeq are copied; a To tag is added when given and absent.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    message: Message,
}

impl ResponseBuilder {
    /// A response to a parsed request.
    pub fn to_request(request: &Message, code: u16) -> Self {
        Self::from_headers(&request.headers, code)
    }

    /// A response built from raw header fields, for a request that did not
    /// fully parse (a stateless `400`): whatever of Via, From, To, Call-ID
    /// and CSeq is present is copied.
    pub fn from_headers(request_headers: &Headers, code: u16) -> Self {
        let mut headers = Headers::with_capacity(8);
        for h in request_headers {
            if matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) {
                headers.push(h.name.clone(), h.value.clone());
            }
        }
        ResponseBuilder {
            message: Message {
                start: StartLine::Response(StatusLine {
                    code,
                    reason: reason_phrase(code).to_string(),
                }),
                headers,
                body: Bytes::new(),
            },
        }
    }

    /// Adds `;tag=` to To unless it already has one.
    pub fn to_tag(mut self, tag: &str) -> Self {
        let to = self
            .message
            .headers
            .get(&HeaderName::To)
            .map(str::to_string);
        if let Some(to) = to {
            let has_tag = crate::NameAddr::parse(&to)
                .ok()
                .is_some_and(|n| n.tag().is_some());
            if !has_tag {
                self.message
                    .headers
                    .set(HeaderName::To, format!("{to};tag={tag}"));
            }
        }
        self
    }

    /// Replaces the reason phrase.
    pub fn reason(mut self, reason: &str) -> Self {
        if let StartLine::Response(s) = &mut self.message.start {
            s.reason = reason.to_string();
        }
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.message.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Bytes) -> Self {
        self.message
            .headers
            .set(HeaderName::ContentType, content_type);
        self.message.body = body;
        self
    }

    /// The response.
    pub fn build(self) -> Message {
        self.message
    }
}
