//! Framing: where a message ends (RFC 3261 §18.3).
//!
//! On a datagram, Content-Length is optional and the datagram bounds the
//! message; bytes after the announced body are ignored. On a stream,
//! Content-Length is mandatory and the only delimiter, so a negative or
//! conflicting value leaves the stream unframeable: the transport must close
//! the connection.

use crate::{FramingError, Limits};
use bytes::{Buf, Bytes, BytesMut};

/// A message cut out of a datagram: its header section (without the empty
/// line) and its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Start line and header fields.
    pub head: &'a [u8],
    /// The body, exactly Content-Length bytes when the header is present.
    pub body: &'a [u8],
}

/// True when a datagram holds only CRLFs: an RFC 5626 keep-alive.
pub fn is_keepalive(buf: &[u8]) -> bool {
    buf.iter().all(|b| *b == b'\r' || *b == b'\n')
}

fn skip_leading_crlf(buf: &[u8]) -> &[u8] {
    let n = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    &buf[n..]
}

/// Finds the end of the header section: returns (head length, body start).
/// CRLF CRLF is the rule; bare LF LF is accepted from sloppy peers.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    for i in memchr::memchr_iter(b'\n', buf) {
        match buf.get(i + 1) {
            Some(b'\n') => {
                return Some((
                    if i > 0 && buf[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    },
                    i + 2,
                ))
            }
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => {
                let head_len = if i > 0 && buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                return Some((head_len, i + 3));
            }
            _ => {}
        }
    }
    None
}

/// Cuts one message out of a datagram.
pub fn frame_datagram<'a>(buf: &'a [u8], limits: &Limits) -> Result<Frame<'a>, FramingError> {
    let (head, rest) = split_head(buf, limits)?;
    let body = datagram_body(content_length(head)?, rest, limits)?;
    Ok(Frame { head, body })
}

/// Splits a datagram into its header section and everything after the
/// empty line, enforcing the head cap.
pub(crate) fn split_head<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<(&'a [u8], &'a [u8]), FramingError> {
    let buf = skip_leading_crlf(buf);
    let (head_len, body_start) = match find_head_end(buf) {
        Some(found) => found,
        None if buf.len() > limits.max_head_bytes => {
            return Err(FramingError::HeadTooLarge {
                limit: limits.max_head_bytes,
            })
        }
        // A datagram whose header section runs to its very end, without
        // the empty line: the datagram bounds it (RFC 5118 archive files).
        None if buf.ends_with(b"\r\n") => (buf.len() - 2, buf.len()),
        None => return Err(FramingError::HeadNotTerminated),
    };
    if head_len > limits.max_head_bytes {
        return Err(FramingError::HeadTooLarge {
            limit: limits.max_head_bytes,
        });
    }
    Ok((&buf[..head_len], &buf[body_start..]))
}

/// The body of a datagram: Content-Length bytes when declared (extra bytes
/// are ignored, RFC 3261 §18.3), else the rest of the datagram.
pub(crate) fn datagram_body<'a>(
    declared: Option<usize>,
    rest: &'a [u8],
    limits: &Limits,
) -> Result<&'a [u8], FramingError> {
    match declared {
        Some(n) if n > limits.max_body_bytes => Err(FramingError::BodyTooLarge {
            declared: n,
            limit: limits.max_body_bytes,
        }),
        Some(n) if n > rest.len() => Err(FramingError::ContentLengthExceedsDatagram {
            declared: n,
            available: rest.len(),
        }),
        Some(n) => Ok(&rest[..n]),
        None if rest.len() > limits.max_body_bytes => Err(FramingError::BodyTooLarge {
            declared: rest.len(),
            limit: limits.max_body_bytes,
        }),
        None => Ok(rest),
    }
}

/// Content-Length from tokenized header fields, with the same rules as
/// [`content_length`].
pub(crate) fn content_length_of(headers: &crate::Headers) -> Result<Option<usize>, FramingError> {
    let mut found = None;
    for value in headers.get_all(&crate::HeaderName::ContentLength) {
        let n = parse_length(value.as_bytes())?;
        match found {
            Some(prev) if prev != n => return Err(FramingError::ConflictingContentLength),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

fn parse_length(value: &[u8]) -> Result<usize, FramingError> {
    let value = trim(value);
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return Err(FramingError::InvalidContentLength);
    }
    Ok(value
        .iter()
        .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0')))
}

/// Reads Content-Length (or its compact form `l`) from a raw header section.
/// Several fields with one value are accepted; different values are a
/// [`FramingError::ConflictingContentLength`].
pub fn content_length(head: &[u8]) -> Result<Option<usize>, FramingError> {
    let mut found: Option<usize> = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::InvalidContentLength);
        }
        let n = value
            .iter()
            .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
        match found {
            Some(prev) if prev != n => return Err(FramingError::ConflictingContentLength),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// What a stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A complete message (header section, empty line and body).
    Message(Bytes),
    /// A CRLF CRLF keep-alive ping (RFC 5626 §3.5.1): answer with one CRLF.
    Ping,
}

/// Cuts a byte stream into messages, buffering at most one message (capped
/// by [`Limits`]). Sans-IO: feed bytes with [`StreamFramer::push`], then
/// drain [`StreamFramer::poll_item`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
}

impl StreamFramer {
    /// An empty framer with these caps.
    pub fn new(limits: Limits) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            limits,
        }
    }

    /// The most bytes the framer will ever hold.
    pub fn capacity_limit(&self) -> usize {
        self.limits.max_head_bytes + 4 + self.limits.max_body_bytes
    }

    /// Appends bytes read from the stream. Fails, without storing them, when
    /// the buffer would exceed the cap: the caller closes the connection.
    pub fn push(&mut self, data: &[u8]) -> Result<(), FramingError> {
        if self.buf.len() + data.len() > self.capacity_limit() {
            return Err(FramingError::HeadTooLarge {
                limit: self.limits.max_head_bytes,
            });
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// True when part of a message is buffered: the caller runs a bounded
    /// timer and closes the connection if the rest never comes.
    pub fn is_partial(&self) -> bool {
        !is_keepalive(&self.buf)
    }

    /// The next complete item, `Ok(None)` when more bytes are needed. An
    /// error means the stream can no longer be framed: close it.
    pub fn poll_item(&mut self) -> Result<Option<StreamItem>, FramingError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(StreamItem::Ping));
        }
        let lead = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if lead == self.buf.len() {
            // Only CRLFs so far: wait, unless it is a lone pong CRLF.
            if self.buf.as_ref() == b"\r\n" {
                self.buf.clear();
            }
            return Ok(None);
        }
        self.buf.advance(lead);
        let Some((head_len, body_start)) = find_head_end(&self.buf) else {
            if self.buf.len() > self.limits.max_head_bytes {
                return Err(FramingError::HeadTooLarge {
                    limit: self.limits.max_head_bytes,
                });
            }
            return Ok(None);
        };
        if head_len > self.limits.max_head_bytes {
            return Err(FramingError::HeadTooLarge {
                limit: self.limits.max_head_bytes,
            });
        }
        let len =
            content_length(&self.buf[..head_len])?.ok_or(FramingError::MissingContentLength)?;
        if len > self.limits.max_body_bytes {
            return Err(FramingError::BodyTooLarge {
                declared: len,
                limit: self.limits.max_body_bytes,
            });
        }
        if self.buf.len() < body_start + len {
            return Ok(None);
        }
        Ok(Some(StreamItem::Message(
            self.buf.split_to(body_start + len).freeze(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello";

    #[test]
    fn datagram_body_is_cut_at_content_length() {
        let mut dgram = OPTIONS.to_vec();
        dgram.extend_from_slice(b"INVITE sip:x SIP/2.0\r\n\r\n");
        let f = frame_datagram(&dgram, &Limits::DEFAULT).expect("frames");
        assert_eq!(f.body, b"hello");
    }

    #[test]
    fn datagram_content_length_errors() {
        let l = Limits::DEFAULT;
        let too_long = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99\r\n\r\nshort";
        assert!(matches!(
            frame_datagram(too_long, &l),
            Err(FramingError::ContentLengthExceedsDatagram { .. })
        ));
        let negative = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert_eq!(
            frame_datagram(negative, &l),
            Err(FramingError::InvalidContentLength)
        );
        let conflicting = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd";
        assert_eq!(
            frame_datagram(conflicting, &l),
            Err(FramingError::ConflictingContentLength)
        );
        let agreeing = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 3\r\n\r\nabc";
        assert!(frame_datagram(agreeing, &l).is_ok());
    }

    #[test]
    fn datagram_head_cap() {
        let mut big = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        big.resize(70_000, b'a');
        assert!(matches!(
            frame_datagram(&big, &Limits::DEFAULT),
            Err(FramingError::HeadTooLarge { .. })
        ));
    }

    #[test]
    fn stream_frames_messages_split_anywhere() {
        let two: Vec<u8> = [OPTIONS, OPTIONS].concat();
        for cut in 0..two.len() {
            let mut framer = StreamFramer::new(Limits::DEFAULT);
            let mut got = Vec::new();
            for part in [&two[..cut], &two[cut..]] {
                framer.push(part).expect("fits");
                while let Some(item) = framer.poll_item().expect("frames") {
                    got.push(item);
                }
            }
            assert_eq!(
                got,
                vec![StreamItem::Message(Bytes::from_static(OPTIONS)); 2],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn stream_keepalive_ping() {
        let mut framer = StreamFramer::new(Limits::DEFAULT);
        framer.push(b"\r\n\r\n").expect("fits");
        assert_eq!(framer.poll_item(), Ok(Some(StreamItem::Ping)));
        assert_eq!(framer.poll_item(), Ok(None));
        assert!(!framer.is_partial());
    }

    #[test]
    fn stream_refuses_unframeable_input() {
        let mut framer = StreamFramer::new(Limits::DEFAULT);
        framer
            .push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n")
            .expect("fits");
        assert_eq!(framer.poll_item(), Err(FramingError::InvalidContentLength));
        let mut framer = StreamFramer::new(Limits::DEFAULT);
        framer
            .push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
            .expect("fits");
        assert_eq!(framer.poll_item(), Err(FramingError::MissingContentLength));
    }

    #[test]
    fn stream_header_section_that_never_ends_is_cut_off() {
        let mut framer = StreamFramer::new(Limits::DEFAULT);
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\n").expect("fits");
        let line =
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut failed = false;
        for _ in 0..20_000 {
            if framer.push(line).is_err() || framer.poll_item().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "a never-ending header section must hit the cap");
    }
}
