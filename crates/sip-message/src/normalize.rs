//! The normaliser: turns a raw header section into a start line and a list
//! of clean header fields.
//!
//! It unfolds continuation lines (RFC 3261 §7.3.1), tolerates whitespace
//! before the colon, expands compact names, and splits comma lists into one
//! field per value while respecting quoted strings and `<…>`. Everything
//! after it sees one canonical shape.

use crate::{HeaderName, Headers, InvalidValue, Limits, SyntaxError};
use std::borrow::Cow;

/// Splits a header section (without the closing empty line) into its start
/// line and normalised header fields.
pub fn tokenize_head<'a>(
    head: &'a str,
    limits: &Limits,
) -> Result<(&'a str, Headers), SyntaxError> {
    let mut lines = LineIter { rest: Some(head) };
    let start = lines.next().ok_or(SyntaxError::StartLine)?;
    let mut headers = Headers::with_capacity(16);
    let mut current: Option<(&'a str, Cow<'a, str>)> = None;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // A continuation line: RFC 3261 §7.3.1 replaces the fold with one SP.
            let (_, value) = current.as_mut().ok_or(SyntaxError::HeaderLine)?;
            let folded = trim_lws(line);
            if !folded.is_empty() {
                let v = value.to_mut();
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(folded);
            }
            continue;
        }
        if let Some((name, value)) = current.take() {
            push_field(&mut headers, name, value, limits)?;
        }
        if line.is_empty() {
            continue;
        }
        let colon = memchr::memchr(b':', line.as_bytes()).ok_or(SyntaxError::HeaderLine)?;
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(SyntaxError::HeaderLine);
        }
        current = Some((name, Cow::Borrowed(trim_lws(&line[colon + 1..]))));
    }
    if let Some((name, value)) = current.take() {
        push_field(&mut headers, name, value, limits)?;
    }
    Ok((start, headers))
}

/// Lines split at LF with a trailing CR removed, found with memchr.
struct LineIter<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        self.rest = next;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }
}

fn push_field(
    headers: &mut Headers,
    name: &str,
    value: Cow<'_, str>,
    limits: &Limits,
) -> Result<(), SyntaxError> {
    let name = HeaderName::from_wire(name);
    let whole = trim_lws(&value);
    // A list that does not split cleanly (unbalanced quote or `<`) is kept
    // whole; validation of the typed header then refuses it.
    let items = match name.is_address_list() && !(name == HeaderName::Contact && whole == "*") {
        true if whole.contains(',') => split_list_raw(whole).ok(),
        _ => None,
    };
    match items {
        Some(items) => {
            for item in items {
                check_room(headers, limits)?;
                headers.push(name.clone(), item);
            }
        }
        None => {
            check_room(headers, limits)?;
            headers.push(name, whole);
        }
    }
    Ok(())
}

fn check_room(headers: &Headers, limits: &Limits) -> Result<(), SyntaxError> {
    if headers.len() >= limits.max_headers {
        return Err(SyntaxError::TooManyHeaders);
    }
    Ok(())
}

/// A `'static` name for error messages (extension headers share one label).
pub(crate) fn static_name(name: &HeaderName) -> &'static str {
    match name {
        HeaderName::Via => "Via",
        HeaderName::Contact => "Contact",
        HeaderName::Route => "Route",
        HeaderName::RecordRoute => "Record-Route",
        HeaderName::From => "From",
        HeaderName::To => "To",
        HeaderName::CallId => "Call-ID",
        HeaderName::CSeq => "CSeq",
        HeaderName::MaxForwards => "Max-Forwards",
        HeaderName::ContentLength => "Content-Length",
        HeaderName::ContentType => "Content-Type",
        HeaderName::Expires => "Expires",
        _ => "list",
    }
}

/// Splits a comma list at top-level commas: commas inside a quoted string
/// (with `\` escapes) or inside `<…>` do not count. Items are trimmed.
/// Fails on an unterminated quote or an unbalanced `<`.
pub fn split_list(value: &str) -> Result<Vec<&str>, InvalidValue> {
    split_list_raw(value).map_err(|()| InvalidValue::new("comma list"))
}

fn split_list_raw(value: &str) -> Result<Vec<&str>, ()> {
    let mut items = Vec::new();
    let bytes = value.as_bytes();
    let (mut start, mut i) = (0, 0);
    let (mut in_quotes, mut in_angle) = (false, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => {
                items.push(trim_lws(&value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quotes || in_angle {
        return Err(());
    }
    items.push(trim_lws(&value[start..]));
    Ok(items)
}

/// Trims SP and HTAB (and a stray CR) from both ends.
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r');
    let start = b.iter().position(|c| !lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !lws(c)).map_or(start, |e| e + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    &s[start..end]
}

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// A lookup table: the parser asks this for every byte of every name.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(head: &str) -> (String, Vec<(String, String)>) {
        let (start, headers) = tokenize_head(head, &Limits::DEFAULT).expect("tokenizes");
        let fields = headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.clone()))
            .collect();
        (start.to_string(), fields)
    }

    #[test]
    fn unfolds_continuation_lines() {
        let (_, f) = tok("OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\n\tthree\r\n");
        assert_eq!(f[0], ("Subject".into(), "one two three".into()));
    }

    #[test]
    fn tolerates_whitespace_before_colon() {
        let (_, f) = tok("OPTIONS sip:a@b SIP/2.0\r\nCall-ID   \t: abc\r\n");
        assert_eq!(f[0], ("Call-ID".into(), "abc".into()));
    }

    #[test]
    fn splits_via_list_into_separate_fields() {
        let (_, f) =
            tok("OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b\r\n");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1], ("Via".into(), "SIP/2.0/TCP b".into()));
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        let items = split_list(r#""a, \"b" <sip:x?h=1,2>;q=1, <sip:y>"#).expect("splits");
        assert_eq!(items, vec![r#""a, \"b" <sip:x?h=1,2>;q=1"#, "<sip:y>"]);
        assert!(split_list(r#""open, <sip:x>"#).is_err());
    }

    #[test]
    fn contact_star_and_non_list_headers_are_not_split() {
        let (_, f) =
            tok("REGISTER sip:b SIP/2.0\r\nContact: *\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].1, "Sat, 13 Nov 2010 23:29:00 GMT");
    }

    #[test]
    fn empty_list_items_are_kept_for_validation_to_refuse() {
        let (_, f) = tok("A sip:b SIP/2.0\r\nVia: SIP/2.0/UDP a;;,;,,\r\n");
        assert_eq!(f.len(), 4);
        assert_eq!(f[3].1, "");
    }

    #[test]
    fn header_cap_is_enforced() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::DEFAULT
        };
        let head = "A sip:b SIP/2.0\r\nRoute: <sip:1>, <sip:2>, <sip:3>, <sip:4>\r\n";
        assert_eq!(
            tokenize_head(head, &limits).err(),
            Some(SyntaxError::TooManyHeaders)
        );
    }

    #[test]
    fn bad_header_lines_are_refused() {
        for head in [
            "A sip:b SIP/2.0\r\nno colon here\r\n",
            "A sip:b SIP/2.0\r\n : x\r\n",
            "A sip:b SIP/2.0\r\nBad Name: x\r\n",
        ] {
            assert_eq!(
                tokenize_head(head, &Limits::DEFAULT).err(),
                Some(SyntaxError::HeaderLine),
                "{head:?}"
            );
        }
    }
}
