use crate::normalize::{is_token_byte, trim_lws};
use crate::InvalidValue;
use std::fmt;

/// One `;name[=value]` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name, as written.
    pub name: String,
    /// The value, as written (a quoted value keeps its quotes).
    pub value: Option<String>,
}

/// A parameter list, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Parses `;a=1;b;c="x;y"` (the text starting at the first `;`; an
    /// empty string is an empty list). Names are tokens; an empty name
    /// (`;;`) is an error.
    pub fn parse(text: &str) -> Result<Params, InvalidValue> {
        Self::parse_raw(text).map_err(|()| InvalidValue::new("parameter list"))
    }

    /// [`Self::parse`] with a unit error, for the parser's own use.
    pub(crate) fn parse_raw(text: &str) -> Result<Params, ()> {
        let mut params = Vec::new();
        scan(text, |name, value| {
            params.push(Param {
                name: name.to_string(),
                value: value.map(str::to_string),
            })
        })?;
        Ok(Params(params))
    }

    /// The value of the first parameter called `name` (case-insensitive);
    /// `Some(None)` for a flag parameter without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of `name`, if present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// True when `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, replacing an earlier one.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

/// Checks `;a=1;b` and calls `f` for each parameter, allocating nothing:
/// the validation path of the parser uses it alone.
pub(crate) fn scan<'a>(
    text: &'a str,
    mut f: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), ()> {
    let text = trim_lws(text);
    if text.is_empty() {
        return Ok(());
    }
    let mut body = text.strip_prefix(';').ok_or(())?;
    loop {
        let (raw, rest) = split_semicolon(body)?;
        let raw = trim_lws(raw);
        let (name, value) = match raw.find('=') {
            Some(eq) => (trim_lws(&raw[..eq]), Some(trim_lws(&raw[eq + 1..]))),
            None => (raw, None),
        };
        if name.is_empty() || !name.bytes().all(is_param_name_byte) {
            return Err(());
        }
        if let Some(v) = value {
            if v.is_empty() || !valid_value(v) {
                return Err(());
            }
        }
        f(name, value);
        match rest {
            Some(r) => body = r,
            None => return Ok(()),
        }
    }
}

/// URI parameter names also allow the `param-unreserved` set and `%` escapes.
fn is_param_name_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn valid_value(v: &str) -> bool {
    if let Some(inner) = v.strip_prefix('"') {
        return inner.ends_with('"') && !inner.is_empty();
    }
    // Unquoted values: no whitespace, no delimiters of the enclosing syntax.
    !v.bytes()
        .any(|b| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'"' | b','))
}

/// Splits at the first `;` outside a quoted string.
fn split_semicolon(s: &str) -> Result<(&str, Option<&str>), ()> {
    let bytes = s.as_bytes();
    let (mut i, mut quoted) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted => return Ok((&s[..i], Some(&s[i + 1..]))),
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err(());
    }
    Ok((s, None))
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn parses_flags_values_and_quoted_values() {
        let p = Params::parse(";lr;branch=z9hG4bK1;x=\"a;b\"").expect("parses");
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.value("BRANCH"), Some("z9hG4bK1"));
        assert_eq!(p.value("x"), Some("\"a;b\""));
        assert_eq!(p.to_string(), ";lr;branch=z9hG4bK1;x=\"a;b\"");
    }

    #[test]
    fn refuses_empty_names_and_values() {
        for bad in [";;", ";a=", ";=b", "a", ";a;;b", ";x=\"open"] {
            assert!(Params::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_received_without_brackets_keeps_following_params() {
        let p = Params::parse(";received=2001:db8::9:255;branch=z9hG4bKas3").expect("parses");
        assert_eq!(p.value("received"), Some("2001:db8::9:255"));
        assert_eq!(p.value("branch"), Some("z9hG4bKas3"));
    }
}
