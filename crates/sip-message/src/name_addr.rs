use crate::normalize::{is_token_byte, trim_lws};
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
    pub fn parse(value: &str) -> Result<NameAddr, ()> {
        let s = trim_lws(value);
        let (display, rest) = if let Some(after_quote) = s.strip_prefix('"') {
            let (text, rest) = read_quoted(after_quote)?;
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err(());
            }
            (Some(text), rest)
        } else if let Some(lt) = s.find('<') {
            let name = trim_lws(&s[..lt]);
            let words_ok = name
                .split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .all(|w| w.bytes().all(is_token_byte));
            if !words_ok {
                return Err(());
            }
            ((!name.is_empty()).then(|| name.to_string()), &s[lt..])
        } else {
            // addr-spec: everything up to the first ';' is the URI.
            let end = s.find(';').unwrap_or(s.len());
            let uri_text = trim_lws(&s[..end]);
            if uri_text.contains(['?', ',']) {
                return Err(());
            }
            let uri = Uri::parse(uri_text)?;
            return Ok(NameAddr {
                display: None,
                uri,
                params: Params::parse(&s[end..])?,
            });
        };
        let inner = rest.strip_prefix('<').ok_or(())?;
        let gt = inner.find('>').ok_or(())?;
        let uri = Uri::parse(&inner[..gt])?;
        let params = Params::parse(&inner[gt + 1..])?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

/// Reads a quoted string body (after the opening quote) up to the closing
/// quote, resolving `\` escapes. Returns the text and what follows.
fn read_quoted(s: &str) -> Result<(String, &str), ()> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(())?.1),
            '"' => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err(())
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
    pub fn parse(value: &str) -> Result<ContactValue, ()> {
        if trim_lws(value) == "*" {
            return Ok(ContactValue::Star);
        }
        NameAddr::parse(value).map(ContactValue::Addr)
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
