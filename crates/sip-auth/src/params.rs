//! Tokeniser for `scheme name=value, name="quoted", ...` header values
//! (the `credentials` / `challenge` grammar of RFC 3261 §25.1 and RFC 7235).
//!
//! Whitespace is tolerated around `=` and `,`, empty list elements
//! (`a=1,,b=2`) are skipped, quoted strings honour backslash escapes.
//! Unquoted values are taken up to the next whitespace or comma, which also
//! accepts the occasional client that leaves `uri` unquoted.

use std::borrow::Cow;

use crate::error::SyntaxError;

/// One `name=value` pair, value already unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Cow<'a, str>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 `token` characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// A byte cursor over a `&str`. Every position it stops at is either the end
/// or just before/after an ASCII byte, so slicing is always on a char
/// boundary; `str::get` is used anyway so nothing can panic.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }

    /// Reads a quoted string; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        let open = self.pos;
        let body = self.s.get(open + 1..).unwrap_or_default();
        let mut owned: Option<String> = None;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = open + 1 + i + 1;
                    return Ok(match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(body.get(..i).unwrap_or_default()),
                    });
                }
                '\\' => {
                    let buf =
                        owned.get_or_insert_with(|| body.get(..i).unwrap_or_default().to_owned());
                    match chars.next() {
                        Some((_, escaped)) => buf.push(escaped),
                        None => break,
                    }
                }
                other => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(other);
                    }
                }
            }
        }
        Err(SyntaxError::UnterminatedQuote { offset: open })
    }
}

/// Splits `value` into its auth scheme and the byte offset where the
/// parameters start. The scheme must be a token followed by whitespace or
/// the end of the value.
pub(crate) fn split_scheme(value: &str) -> Result<(&str, usize), SyntaxError> {
    let mut cur = Cursor { s: value, pos: 0 };
    cur.skip_ws();
    let scheme = cur.take_while(is_token);
    if scheme.is_empty() {
        return Err(match cur.peek() {
            None => SyntaxError::MissingScheme,
            Some(_) => SyntaxError::ExpectedParamName { offset: cur.pos },
        });
    }
    match cur.peek() {
        None => Ok((scheme, cur.pos)),
        Some(b) if is_ws(b) => Ok((scheme, cur.pos)),
        Some(_) => Err(SyntaxError::ExpectedWhitespace { offset: cur.pos }),
    }
}

/// Parses the comma-separated `name=value` list of `value` from byte `start`.
pub(crate) fn parse_params(value: &str, start: usize) -> Result<Vec<Param<'_>>, SyntaxError> {
    let mut cur = Cursor {
        s: value,
        pos: start,
    };
    let mut out = Vec::new();
    loop {
        // Skip whitespace and empty list elements.
        while cur.peek().is_some_and(|b| is_ws(b) || b == b',') {
            cur.pos += 1;
        }
        if cur.peek().is_none() {
            return Ok(out);
        }
        let name = cur.take_while(is_token);
        if name.is_empty() {
            return Err(SyntaxError::ExpectedParamName { offset: cur.pos });
        }
        cur.skip_ws();
        if cur.peek() != Some(b'=') {
            return Err(SyntaxError::ExpectedEquals { offset: cur.pos });
        }
        cur.pos += 1;
        cur.skip_ws();
        let value = if cur.peek() == Some(b'"') {
            cur.quoted()?
        } else {
            let raw = cur.take_while(|b| !is_ws(b) && b != b',' && b != b'"');
            if raw.is_empty() {
                return Err(SyntaxError::ExpectedValue { offset: cur.pos });
            }
            Cow::Borrowed(raw)
        };
        out.push(Param { name, value });
        cur.skip_ws();
        match cur.peek() {
            None => return Ok(out),
            Some(b',') => cur.pos += 1,
            Some(_) => return Err(SyntaxError::ExpectedComma { offset: cur.pos }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &str) -> Vec<(String, String)> {
        let (_, at) = split_scheme(v).expect("scheme");
        parse_params(v, at)
            .expect("params")
            .into_iter()
            .map(|p| (p.name.to_owned(), p.value.into_owned()))
            .collect()
    }

    #[test]
    fn tolerant_whitespace_and_empty_elements() {
        assert_eq!(
            pairs("Digest  a = 1 ,b=\"x y\"\t,, c =\r\n \"z\" ,"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "z".into()),
            ]
        );
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            pairs(r#"Digest a="q\"uo\\te\d", b="é\"""#),
            vec![
                ("a".into(), r#"q"uo\ted"#.into()),
                ("b".into(), "é\"".into()),
            ]
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(split_scheme(""), Err(SyntaxError::MissingScheme));
        assert_eq!(split_scheme("   "), Err(SyntaxError::MissingScheme));
        assert_eq!(
            split_scheme("Digest=x"),
            Err(SyntaxError::ExpectedWhitespace { offset: 6 })
        );
        assert_eq!(
            parse_params("a", 0),
            Err(SyntaxError::ExpectedEquals { offset: 1 })
        );
        assert_eq!(
            parse_params("a=", 0),
            Err(SyntaxError::ExpectedValue { offset: 2 })
        );
        assert_eq!(
            parse_params("a=\"x", 0),
            Err(SyntaxError::UnterminatedQuote { offset: 2 })
        );
        assert_eq!(
            parse_params("a=\"x\\", 0),
            Err(SyntaxError::UnterminatedQuote { offset: 2 })
        );
        assert_eq!(
            parse_params("a=x y=z", 0),
            Err(SyntaxError::ExpectedComma { offset: 4 })
        );
        assert_eq!(
            parse_params("=x", 0),
            Err(SyntaxError::ExpectedParamName { offset: 0 })
        );
    }
}
