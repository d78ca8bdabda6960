use std::net::IpAddr;

use thiserror::Error;

/// Why an SDP body was refused or an operation on it could not be done.
///
/// A failure the peer should see becomes a SIP response in the layer above:
/// [`SdpError::NoCommonCodec`] is a `488 Not Acceptable Here`, everything
/// raised by [`SessionDescription::parse`](crate::SessionDescription::parse)
/// and [`SessionDescription::validate`](crate::SessionDescription::validate)
/// a `400` or `488` as that layer decides.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("SDP body of {size} bytes exceeds {limit} bytes")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The cap that was hit.
        limit: usize,
    },
    /// More `m=` lines than [`Limits::max_media`](crate::Limits::max_media).
    #[error("more than {limit} media descriptions")]
    TooManyMedia {
        /// The cap that was hit.
        limit: usize,
    },
    /// More `a=` lines than [`Limits::max_attributes`](crate::Limits::max_attributes).
    #[error("more than {limit} attributes")]
    TooManyAttributes {
        /// The cap that was hit.
        limit: usize,
    },
    /// The body does not start with `v=` (RFC 8866 §5.1).
    #[error("SDP does not start with a v= line")]
    MissingVersion,
    /// A line breaks the SDP grammar (RFC 8866 §9).
    #[error("SDP line {line}: {fault}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        fault: SyntaxFault,
    },
    /// A `c=` line is not `IN IP4 <IPv4>` or `IN IP6 <IPv6>` (a host name, a
    /// mismatched address family, a foreign network type). Baton relays
    /// media only to literal addresses, so it refuses the others at parse.
    #[error("invalid connection address at {}", Level(*.media))]
    InvalidConnection {
        /// The media index, or `None` for the session-level `c=`.
        media: Option<usize>,
    },
    /// An RTP media description lists a format that is not a payload type
    /// in 0–127 (RFC 3551 §3), or lists none.
    #[error("invalid RTP payload type in media {media}")]
    InvalidPayloadType {
        /// The media index.
        media: usize,
    },
    /// A connection address Baton will not send media to: multicast,
    /// the IPv4 limited broadcast, or the IPv6 unspecified address.
    #[error("forbidden connection address {address} at {}", Level(*.media))]
    ForbiddenAddress {
        /// The media index, or `None` for the session level.
        media: Option<usize>,
        /// The address.
        address: IpAddr,
    },
    /// An active stream (port not 0) has no connection address, neither its
    /// own nor a session-level one (RFC 8866 §5.7).
    #[error("media {media} has no connection address")]
    MissingConnection {
        /// The media index.
        media: usize,
    },
    /// A media index past the last `m=` line.
    #[error("no media {index}: the description has {count}")]
    NoSuchMedia {
        /// The index asked for.
        index: usize,
        /// How many media descriptions there are.
        count: usize,
    },
    /// A relay port of 0 (that would disable the stream) or 65535 (RTCP
    /// would have no port above it).
    #[error("relay port {port} cannot carry RTP and RTCP")]
    InvalidRelayPort {
        /// The port.
        port: u16,
    },
    /// No offered stream has a codec in common with what we support
    /// (RFC 3264 §6: answered with `488 Not Acceptable Here`).
    #[error("no common codec")]
    NoCommonCodec,
}

/// What is wrong with one line, as the underlying parser reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SyntaxFault {
    /// Not `<letter>=<value>`, or the line holds a NUL or a bare CR.
    #[error("malformed line")]
    MalformedLine,
    /// A field is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// The field, as the parser names it.
        field: &'static str,
    },
    /// A field is missing, malformed (an out-of-range port, a non-numeric
    /// version) or followed by trailing data.
    #[error("bad {field}")]
    BadField {
        /// The field, as the parser names it.
        field: &'static str,
    },
    /// `v=` holds something other than `0`.
    #[error("unsupported version")]
    UnsupportedVersion,
    /// A line that may appear once per section appears again.
    #[error("duplicate {kind}= line")]
    Duplicate {
        /// The line's type letter.
        kind: char,
    },
    /// An `r=` line before any `t=` line.
    #[error("r= line without a t= line")]
    RepeatWithoutTime,
}

/// Formats a `media: Option<usize>` as "session level" or "media N".
struct Level(Option<usize>);

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("session level"),
            Some(index) => write!(f, "media {index}"),
        }
    }
}

impl SdpError {
    /// Maps the parser's error onto ours, so that its type stays out of
    /// our API.
    pub(crate) fn from_parser(error: sdp_types::ParserError) -> Self {
        use sdp_types::ParserError as P;
        let syntax = |line, fault| SdpError::Syntax { line, fault };
        #[allow(deprecated)] // the deprecated variants are no longer produced, but still exist
        match error {
            P::NoVersion => SdpError::MissingVersion,
            P::InvalidVersion(line, _) => syntax(line, SyntaxFault::UnsupportedVersion),
            P::UnexpectedLine(line, _) | P::InvalidLineFormat(line, _) => {
                syntax(line, SyntaxFault::MalformedLine)
            }
            P::InvalidFieldEncoding(line, field) => syntax(line, SyntaxFault::NotUtf8 { field }),
            P::InvalidFieldFormat(line, field)
            | P::MissingField(line, field)
            | P::FieldTrailingData(line, field) => syntax(line, SyntaxFault::BadField { field }),
            P::MultipleVersions(line) => syntax(line, SyntaxFault::Duplicate { kind: 'v' }),
            P::MultipleOrigins(line) => syntax(line, SyntaxFault::Duplicate { kind: 'o' }),
            P::MultipleSessionNames(line) => syntax(line, SyntaxFault::Duplicate { kind: 's' }),
            P::MultipleSessionDescription(line) | P::MultipleMediaTitles(line) => {
                syntax(line, SyntaxFault::Duplicate { kind: 'i' })
            }
            P::MultipleUris(line) => syntax(line, SyntaxFault::Duplicate { kind: 'u' }),
            P::MultipleConnections(line) => syntax(line, SyntaxFault::Duplicate { kind: 'c' }),
            P::MultipleTimeZones(line) => syntax(line, SyntaxFault::Duplicate { kind: 'z' }),
            P::MultipleKeys(line) => syntax(line, SyntaxFault::Duplicate { kind: 'k' }),
            P::RepeatWithoutTime(line) => syntax(line, SyntaxFault::RepeatWithoutTime),
            P::NoOrigin => syntax(0, SyntaxFault::BadField { field: "Origin" }),
            P::NoSessionName => syntax(
                0,
                SyntaxFault::BadField {
                    field: "Session Name",
                },
            ),
        }
    }
}
