use crate::normalize::{is_token_byte, trim_lws};
use crate::uri::UriRef;
use crate::InvalidValue;
use crate::{Params, Uri};
use std::fmt;

/// A `name-addr` or `addr-spec` with header parameters: the value of From,
/// To, Contact, Route, Record-Route, Refer-To (RFC 3261 §20.10, §25.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (after the `>`), such as `tag` or `expires`.
    pub params: Params,
}

impl NameAddr {
    /// A bare URI with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses a header value. Strict where RFC 4475 asks for strictness: an
    /// unterminated quote, an unquoted display name with non-token
    /// characters, spaces inside `<…>` and an addr-spec carrying `?` or `,`
    /// are errors.
    pub fn parse(value: &str) -> Result<NameAddr, InvalidValue> {
        Self::parse_raw(value).map_err(|()| InvalidValue::new("name-addr"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(value: &str) -> Result<NameAddr, ()> {
        let parts = NameAddrRef::parse(value)?;
        Ok(NameAddr {
            display: parts.display.map(|d| match d {
                Display::Quoted(raw) => unescape(raw),
                Display::Tokens(t) => t.to_string(),
            }),
            uri: Uri::parse_raw(parts.uri)?,
            params: Params::parse_raw(parts.params)?,
        })
    }

    /// True when `value` parses, checked without allocating.
    pub(crate) fn is_valid(value: &str) -> bool {
        NameAddrRef::parse(value).is_ok()
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

enum Display<'a> {
    /// The text between the quotes, escapes unresolved.
    Quoted(&'a str),
    /// Unquoted token words.
    Tokens(&'a str),
}

/// A name-addr split and checked, nothing copied.
pub(crate) struct NameAddrRef<'a> {
    display: Option<Display<'a>>,
    pub(crate) uri: &'a str,
    params: &'a str,
}

impl<'a> NameAddrRef<'a> {
    pub(crate) fn parse(value: &'a str) -> Result<NameAddrRef<'a>, ()> {
        let s = trim_lws(value);
        let (display, rest) = if let Some(after_quote) = s.strip_prefix('"') {
            let end = quoted_end(after_quote)?;
            let rest = trim_lws(&after_quote[end + 1..]);
            if !rest.starts_with('<') {
                return Err(());
            }
            (Some(Display::Quoted(&after_quote[..end])), rest)
        } else if let Some(lt) = s.find('<') {
            let name = trim_lws(&s[..lt]);
            let words_ok = name
                .split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .all(|w| w.bytes().all(is_token_byte));
            if !words_ok {
                return Err(());
            }
            (
                (!name.is_empty()).then_some(Display::Tokens(name)),
                &s[lt..],
            )
        } else {
            // addr-spec: everything up to the first ';' is the URI.
            let end = s.find(';').unwrap_or(s.len());
            let uri = trim_lws(&s[..end]);
            if uri.contains(['?', ',']) {
                return Err(());
            }
            UriRef::parse(uri)?;
            let params = &s[end..];
            crate::params::scan(params, |_, _| {})?;
            return Ok(NameAddrRef {
                display: None,
                uri,
                params,
            });
        };
        let inner = rest.strip_prefix('<').ok_or(())?;
        let gt = inner.find('>').ok_or(())?;
        let uri = &inner[..gt];
        UriRef::parse(uri)?;
        let params = &inner[gt + 1..];
        crate::params::scan(params, |_, _| {})?;
        Ok(NameAddrRef {
            display,
            uri,
            params,
        })
    }
}

/// The index of the closing quote of a quoted-string body.
fn quoted_end(s: &str) -> Result<usize, ()> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i),
            _ => i += 1,
        }
    }
    Err(())
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// A Contact value: `*` (unregister all) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactValue {
    /// `Contact: *`.
    Star,
    /// An address with its parameters (`expires`, `q`, `+sip.instance` …).
    Addr(NameAddr),
}

impl ContactValue {
    /// Parses one Contact value.
    pub fn parse(value: &str) -> Result<ContactValue, InvalidValue> {
        Self::parse_raw(value).map_err(|()| InvalidValue::new("Contact"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(value: &str) -> Result<ContactValue, ()> {
        if trim_lws(value) == "*" {
            return Ok(ContactValue::Star);
        }
        NameAddr::parse_raw(value).map(ContactValue::Addr)
    }

    /// True when `value` parses, checked without allocating.
    pub(crate) fn is_valid(value: &str) -> bool {
        trim_lws(value) == "*" || NameAddr::is_valid(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_names_with_escapes_and_controls() {
        let na = NameAddr::parse("\"BEL:\\\u{7} NUL:\\\0 DEL:\\\u{7f}\" <sip:a@example.com>")
            .expect("parses");
        assert_eq!(na.display.as_deref(), Some("BEL:\u{7} NUL:\0 DEL:\u{7f}"));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let na = NameAddr::parse("sip:caller@example.net;tag=134161461246").expect("parses");
        assert_eq!(na.tag(), Some("134161461246"));
        assert!(na.uri.as_sip().expect("sip").params.is_empty());
    }

    #[test]
    fn token_display_names_and_missing_space_before_angle() {
        let na = NameAddr::parse("token1~` token2'+_ <sip:m@example.com>;p=1").expect("parses");
        assert_eq!(na.display.as_deref(), Some("token1~` token2'+_"));
        assert!(NameAddr::parse("\"caller\"<sip:caller@example.com>;tag=323").is_ok());
    }

    #[test]
    fn rfc4475_invalid_forms_are_refused() {
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>", // quotbal
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43", // baddn
            "\"Watson, Thomas\" < sip:t.watson@example.org >", // badaspec
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E", // regbadct
            "\"Joe\" <sip:joe@example.org>;;;;",      // badinv01
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contact_star() {
        assert_eq!(ContactValue::parse(" * "), Ok(ContactValue::Star));
    }
}
