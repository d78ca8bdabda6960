use thiserror::Error;

/// Why bytes could not be cut into a message (RFC 3261 §18.3).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FramingError {
    /// No empty line ends the header section within the cap.
    #[error("header section exceeds {limit} bytes")]
    HeadTooLarge {
        /// The cap that was hit.
        limit: usize,
    },
    /// The datagram ended before the empty line that closes the header section.
    #[error("header section is not terminated")]
    HeadNotTerminated,
    /// Content-Length is not a non-negative decimal number.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length headers with different values (a smuggling vector).
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// Content-Length announces more bytes than the datagram holds.
    #[error("Content-Length {declared} exceeds the {available} bytes present")]
    ContentLengthExceedsDatagram {
        /// Declared length.
        declared: usize,
        /// Bytes after the header section.
        available: usize,
    },
    /// A stream message without Content-Length cannot be framed.
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// The body is over the cap.
    #[error("body of {declared} bytes exceeds {limit} bytes")]
    BodyTooLarge {
        /// Declared length.
        declared: usize,
        /// The cap that was hit.
        limit: usize,
    },
}

/// What is wrong with the syntax or the mandatory content of a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// The first line is neither a request line nor a status line.
    #[error("malformed start line")]
    StartLine,
    /// The Request-URI is malformed (LWS inside, `<>` around it, a bad host…).
    #[error("malformed Request-URI")]
    RequestUri,
    /// The Request-URI carries `?headers`, which a request line must not.
    #[error("Request-URI must not carry headers")]
    RequestUriHeaders,
    /// A SIP version other than 2.0.
    #[error("unsupported SIP version")]
    Version,
    /// A status code outside 100–699.
    #[error("status code out of range")]
    StatusCode,
    /// A header line without a colon or with an invalid name.
    #[error("malformed header line")]
    HeaderLine,
    /// More header fields than the cap allows.
    #[error("too many header fields")]
    TooManyHeaders,
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that must appear once appears several times.
    #[error("several {0} headers")]
    Duplicate(&'static str),
    /// A header value does not parse.
    #[error("malformed {0} header")]
    Header(&'static str),
    /// The CSeq method differs from the request method (RFC 4475 mismatch01).
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    /// A number is out of its range (CSeq over 2^32-1, Max-Forwards over 255…).
    #[error("{0} out of range")]
    Range(&'static str),
}

/// A message that could not be parsed. Carries what a server needs to
/// answer statelessly (RFC 3261 §8.2.6.2): whether it was a request, and the
/// raw header fields that a response copies.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Framing failed; `head` holds what could be tokenized of the header section.
    #[error("framing: {error}")]
    Framing {
        /// The cause.
        error: FramingError,
        /// The header section, when it could be read (to build a `400`).
        head: Option<Box<crate::Headers>>,
        /// True when the start line looked like a request.
        is_request: bool,
    },
    /// The message is framed but invalid.
    #[error("syntax: {error}")]
    Syntax {
        /// The cause.
        error: SyntaxError,
        /// The header fields that tokenized, for a stateless response.
        head: Option<Box<crate::Headers>>,
        /// True when the start line looked like a request.
        is_request: bool,
    },
}

impl ParseError {
    /// True when the bytes were a request and a stateless error response
    /// should be attempted; responses in error are dropped silently.
    pub fn is_request(&self) -> bool {
        match self {
            ParseError::Framing { is_request, .. } | ParseError::Syntax { is_request, .. } => {
                *is_request
            }
        }
    }

    /// The header fields that could be read, if any.
    pub fn headers(&self) -> Option<&crate::Headers> {
        match self {
            ParseError::Framing { head, .. } | ParseError::Syntax { head, .. } => head.as_deref(),
        }
    }

    /// The status a UAS answers with: `505` for a foreign SIP version,
    /// `413` for a body over the cap, `513` for too many headers, `400`
    /// otherwise.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Syntax {
                error: SyntaxError::Version,
                ..
            } => 505,
            ParseError::Framing {
                error: FramingError::BodyTooLarge { .. },
                ..
            } => 413,
            ParseError::Syntax {
                error: SyntaxError::TooManyHeaders,
                ..
            } => 513,
            _ => 400,
        }
    }
}

/// A header value, URI or parameter list that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("malformed {what}")]
pub struct InvalidValue {
    /// What was being parsed (`URI`, `Via`, `name-addr` …).
    pub what: &'static str,
}

impl InvalidValue {
    pub(crate) fn new(what: &'static str) -> Self {
        InvalidValue { what }
    }
}
