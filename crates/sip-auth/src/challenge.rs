//! Building `WWW-Authenticate` / `Proxy-Authenticate` header values.

use std::fmt;

use crate::algorithm::Algorithm;

/// A Digest challenge, rendered by [`Display`](fmt::Display) as a
/// `WWW-Authenticate` / `Proxy-Authenticate` header value:
///
/// `Digest realm="..", nonce="..", opaque="..", algorithm=SHA-256, qop="auth"`
///
/// with `, stale=true` appended when [`stale`](Self::stale) is set. The
/// challenge always offers `qop="auth"` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space shown to the user; compared exactly on the way back.
    pub realm: String,
    /// A nonce from [`NonceIssuer::issue`](crate::NonceIssuer::issue).
    pub nonce: String,
    /// Opaque data the client echoes back unchanged; omitted when `None`.
    pub opaque: Option<String>,
    /// The algorithm the client is asked to use.
    pub algorithm: Algorithm,
    /// `stale=true`: the previous nonce expired but the password was right,
    /// so the client may retry silently with the new nonce.
    pub stale: bool,
}

impl Challenge {
    /// A challenge for one algorithm, not stale.
    #[must_use]
    pub fn new(
        realm: impl Into<String>,
        nonce: impl Into<String>,
        opaque: Option<String>,
        algorithm: Algorithm,
    ) -> Self {
        Self {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque,
            algorithm,
            stale: false,
        }
    }

    /// The header value (same as `to_string()`).
    #[must_use]
    pub fn header_value(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        write!(f, ", algorithm={}, qop=\"auth\"", self.algorithm)?;
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// Writes `s` as a quoted-string, escaping `"` and `\`. Control characters
/// that a quoted-string cannot carry (CR, LF, NUL, ...) are dropped so the
/// result can never break the header line.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write as _;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            '\t' => f.write_char(c)?,
            c if c.is_control() => {}
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// One challenge header value per algorithm, in the given order, all
/// sharing `realm`, `nonce` and `opaque`.
///
/// A registrar typically passes `&[Algorithm::Sha256, Algorithm::Md5]` and
/// sends each value as its own `WWW-Authenticate` header (RFC 8760 §2.4:
/// preferred algorithm first).
#[must_use]
pub fn challenges(
    realm: &str,
    nonce: &str,
    opaque: Option<&str>,
    algorithms: &[Algorithm],
    stale: bool,
) -> Vec<String> {
    algorithms
        .iter()
        .map(|&algorithm| {
            Challenge {
                realm: realm.to_owned(),
                nonce: nonce.to_owned(),
                opaque: opaque.map(str::to_owned),
                algorithm,
                stale,
            }
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse_params, split_scheme};

    #[test]
    fn renders_sha256_challenge() {
        let c = Challenge::new("baton", "abc", Some("xyz".into()), Algorithm::Sha256);
        assert_eq!(
            c.header_value(),
            r#"Digest realm="baton", nonce="abc", opaque="xyz", algorithm=SHA-256, qop="auth""#
        );
    }

    #[test]
    fn renders_stale_and_no_opaque() {
        let c = Challenge {
            stale: true,
            ..Challenge::new("r", "n", None, Algorithm::Md5)
        };
        assert_eq!(
            c.to_string(),
            r#"Digest realm="r", nonce="n", algorithm=MD5, qop="auth", stale=true"#
        );
    }

    #[test]
    fn escapes_quotes_and_drops_controls() {
        let c = Challenge::new("a\"b\\c\r\nd", "n", None, Algorithm::Md5);
        let v = c.to_string();
        assert!(v.starts_with(r#"Digest realm="a\"b\\cd", "#), "{v}");
        // Round-trips through our own tokeniser.
        let (_, at) = split_scheme(&v).expect("scheme");
        let params = parse_params(&v, at).expect("params");
        assert_eq!(params.first().map(|p| p.value.as_ref()), Some("a\"b\\cd"));
    }

    #[test]
    fn one_value_per_algorithm_in_order() {
        let v = challenges(
            "baton",
            "n1",
            Some("o"),
            &[Algorithm::Sha256, Algorithm::Md5],
            false,
        );
        assert_eq!(
            v,
            vec![
                r#"Digest realm="baton", nonce="n1", opaque="o", algorithm=SHA-256, qop="auth""#
                    .to_owned(),
                r#"Digest realm="baton", nonce="n1", opaque="o", algorithm=MD5, qop="auth""#
                    .to_owned(),
            ]
        );
        let stale = challenges("baton", "n2", None, &[Algorithm::Sha256], true);
        assert_eq!(
            stale,
            vec![
                r#"Digest realm="baton", nonce="n2", algorithm=SHA-256, qop="auth", stale=true"#
                    .to_owned()
            ]
        );
        assert!(challenges("r", "n", None, &[], false).is_empty());
    }
}
