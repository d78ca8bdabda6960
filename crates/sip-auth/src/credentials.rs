//! Typed `Authorization` / `Proxy-Authorization` credentials.

use std::collections::HashSet;
use std::str::FromStr;

use crate::algorithm::Algorithm;
use crate::error::AuthError;
use crate::params::{parse_params, split_scheme};
use crate::qop::Qop;

/// Digest credentials sent by a client in an `Authorization` or
/// `Proxy-Authorization` header (RFC 3261 §22.4, RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username`, unescaped.
    pub username: String,
    /// `realm`, unescaped.
    pub realm: String,
    /// `nonce`, as received in the challenge.
    pub nonce: String,
    /// `uri` (the digest-uri: the Request-URI in SIP).
    pub uri: String,
    /// `response`, the hex digest the client computed.
    pub response: String,
    /// `algorithm`; [`Algorithm::Md5`] when the parameter is absent.
    pub algorithm: Algorithm,
    /// `cnonce`; required when `qop` is present or the algorithm is `-sess`.
    pub cnonce: Option<String>,
    /// `opaque`, echoed from the challenge.
    pub opaque: Option<String>,
    /// `qop`; `None` for RFC 2069-style credentials.
    pub qop: Option<Qop>,
    /// `nc`, the nonce count (sent as 8 hex digits); required with `qop`.
    pub nc: Option<u32>,
}

impl Credentials {
    /// Parses a header value, i.e. the text after `Authorization:` or
    /// `Proxy-Authorization:`.
    ///
    /// # Errors
    /// [`AuthError::UnsupportedScheme`] for a scheme other than `Digest`,
    /// [`AuthError::Syntax`] for malformed text,
    /// [`AuthError::DuplicateParam`], [`AuthError::MissingParam`],
    /// [`AuthError::UnknownAlgorithm`], [`AuthError::UnknownQop`] and
    /// [`AuthError::InvalidNonceCount`] for bad parameters. Unknown
    /// parameters are ignored.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let (scheme, at) = split_scheme(value)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(AuthError::UnsupportedScheme);
        }
        let params = parse_params(value, at)?;

        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = None;
        let mut cnonce = None;
        let mut opaque = None;
        let mut qop = None;
        let mut nc = None;
        let mut unknown: HashSet<String> = HashSet::new();

        for p in params {
            let name = p.name.to_ascii_lowercase();
            let (slot, key): (&mut Option<String>, &'static str) = match name.as_str() {
                "username" => (&mut username, "username"),
                "realm" => (&mut realm, "realm"),
                "nonce" => (&mut nonce, "nonce"),
                "uri" => (&mut uri, "uri"),
                "response" => (&mut response, "response"),
                "algorithm" => (&mut algorithm, "algorithm"),
                "cnonce" => (&mut cnonce, "cnonce"),
                "opaque" => (&mut opaque, "opaque"),
                "qop" => (&mut qop, "qop"),
                "nc" => (&mut nc, "nc"),
                _ => {
                    if !unknown.insert(name.clone()) {
                        return Err(AuthError::DuplicateParam(name));
                    }
                    continue;
                }
            };
            if slot.is_some() {
                return Err(AuthError::DuplicateParam(key.to_owned()));
            }
            *slot = Some(p.value.into_owned());
        }

        let algorithm = algorithm
            .as_deref()
            .map(Algorithm::from_str)
            .transpose()?
            .unwrap_or_default();
        let qop = qop.as_deref().map(Qop::from_str).transpose()?;
        let nc = nc.as_deref().map(parse_nc).transpose()?;

        if qop.is_some() {
            if cnonce.is_none() {
                return Err(AuthError::MissingParam("cnonce"));
            }
            if nc.is_none() {
                return Err(AuthError::MissingParam("nc"));
            }
        }
        if algorithm.is_session() && cnonce.is_none() {
            return Err(AuthError::MissingParam("cnonce"));
        }

        Ok(Self {
            username: username.ok_or(AuthError::MissingParam("username"))?,
            realm: realm.ok_or(AuthError::MissingParam("realm"))?,
            nonce: nonce.ok_or(AuthError::MissingParam("nonce"))?,
            uri: uri.ok_or(AuthError::MissingParam("uri"))?,
            response: response.ok_or(AuthError::MissingParam("response"))?,
            algorithm,
            cnonce,
            opaque,
            qop,
            nc,
        })
    }
}

impl Credentials {
    /// Checks that the credentials answer a challenge that offered
    /// `qop="auth"` (every [`crate::Challenge`] does): `qop`, `nc` and
    /// `cnonce` must all be there. [`Credentials::parse`] already refuses a
    /// `qop` without `nc` or `cnonce`; this refuses the RFC 2069 form
    /// without any of them, which a downgrading client or attacker sends to
    /// escape the nonce-count replay check.
    ///
    /// # Errors
    /// [`AuthError::QopRequired`].
    pub fn require_qop(&self) -> Result<(), AuthError> {
        match (self.qop, self.nc, &self.cnonce) {
            (Some(_), Some(_), Some(_)) => Ok(()),
            _ => Err(AuthError::QopRequired),
        }
    }
}

impl FromStr for Credentials {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `nc-value = 8LHEX`: exactly eight hex digits (uppercase tolerated), read
/// as hexadecimal.
fn parse_nc(s: &str) -> Result<u32, AuthError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::InvalidNonceCount);
    }
    u32::from_str_radix(s, 16).map_err(|_| AuthError::InvalidNonceCount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SyntaxError;

    const RFC2617: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn parses_rfc2617_example() {
        let c = Credentials::parse(RFC2617).expect("parse");
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(c.uri, "/dir/index.html");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc, Some(1));
        assert_eq!(c.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(c.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(c.algorithm, Algorithm::Md5);
    }

    #[test]
    fn credentials_without_qop_are_refused_where_qop_was_offered() {
        let with = Credentials::parse(RFC2617).expect("parse");
        assert_eq!(with.require_qop(), Ok(()));
        let without =
            Credentials::parse("Digest username=a, realm=r, nonce=n, uri=\"sip:x\", response=00")
                .expect("RFC 2069 credentials still parse");
        assert_eq!(without.require_qop(), Err(AuthError::QopRequired));
        let mut hand_built = with;
        hand_built.nc = None;
        assert_eq!(hand_built.require_qop(), Err(AuthError::QopRequired));
    }

    #[test]
    fn nc_is_hexadecimal() {
        let v = "Digest username=a, realm=r, nonce=n, uri=u, response=x, \
                 qop=auth, cnonce=c, nc=0000000a";
        assert_eq!(Credentials::parse(v).expect("parse").nc, Some(10));
        let v = v.replace("0000000a", "0000001F");
        assert_eq!(Credentials::parse(&v).expect("parse").nc, Some(31));
        let v = v.replace("0000001F", "FFFFFFFF");
        assert_eq!(Credentials::parse(&v).expect("parse").nc, Some(u32::MAX));
        for bad in ["1", "000000001", "+0000001", "0000000g", "\"\""] {
            let v = v.replace("FFFFFFFF", bad);
            assert_eq!(
                Credentials::parse(&v),
                Err(AuthError::InvalidNonceCount),
                "{bad}"
            );
        }
    }

    #[test]
    fn scheme_and_names_case_insensitive() {
        let v = "dIgEsT USERNAME=\"a\", Realm=r, NONCE=n, Uri=\"sip:x\", \
                 Response=x, ALGORITHM=sha-256-SESS, CNonce=c";
        let c = Credentials::parse(v).expect("parse");
        assert_eq!(c.algorithm, Algorithm::Sha256Sess);
        assert_eq!(c.uri, "sip:x");
        assert_eq!(c.qop, None);
        assert_eq!(c.nc, None);
    }

    #[test]
    fn non_digest_scheme_rejected() {
        assert_eq!(
            Credentials::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Err(AuthError::UnsupportedScheme)
        );
        assert_eq!(
            Credentials::parse("Bearer abc.def"),
            Err(AuthError::UnsupportedScheme)
        );
        assert_eq!(
            Credentials::parse("Digestive username=a"),
            Err(AuthError::UnsupportedScheme)
        );
        assert_eq!(
            Credentials::parse(""),
            Err(AuthError::Syntax(SyntaxError::MissingScheme))
        );
    }

    #[test]
    fn duplicates_rejected() {
        let base = "Digest username=a, realm=r, nonce=n, uri=u, response=x";
        assert_eq!(
            Credentials::parse(&format!("{base}, REALM=r")),
            Err(AuthError::DuplicateParam("realm".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, foo=1, Foo=2")),
            Err(AuthError::DuplicateParam("foo".into()))
        );
    }

    #[test]
    fn unknown_params_ignored() {
        let v = "Digest username=a, realm=r, nonce=n, uri=u, response=x, \
                 userhash=false, x-extra=\"what, ever\"";
        assert!(Credentials::parse(v).is_ok());
    }

    #[test]
    fn missing_and_bad_params() {
        assert_eq!(
            Credentials::parse("Digest realm=r, nonce=n, uri=u, response=x"),
            Err(AuthError::MissingParam("username"))
        );
        assert_eq!(
            Credentials::parse("Digest username=a, realm=r, nonce=n, uri=u"),
            Err(AuthError::MissingParam("response"))
        );
        assert_eq!(
            Credentials::parse("Digest"),
            Err(AuthError::MissingParam("username"))
        );
        let base = "Digest username=a, realm=r, nonce=n, uri=u, response=x";
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, nc=00000001")),
            Err(AuthError::MissingParam("cnonce"))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, cnonce=c")),
            Err(AuthError::MissingParam("nc"))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, algorithm=MD5-sess")),
            Err(AuthError::MissingParam("cnonce"))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, algorithm=SHA-1")),
            Err(AuthError::UnknownAlgorithm("SHA-1".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth-conf, nc=00000001, cnonce=c")),
            Err(AuthError::UnknownQop("auth-conf".into()))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth-int, nc=00000001, cnonce=c"))
                .expect("parse")
                .qop,
            Some(Qop::AuthInt)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let odd = [
            "",
            " ",
            "\0",
            "Digest",
            "Digest ",
            "Digest ,",
            "Digest ,,,,",
            "Digest =",
            "Digest a",
            "Digest a=",
            "Digest a=\"",
            "Digest a=\"\\",
            "Digest a=\"\\\"",
            "Digest a==b",
            "Digest a=b=c",
            "Digest \"a\"=b",
            "Digest a=\"é",
            "Digest é=1",
            "Digest a=é, b=\u{1F600}",
            "Digest\tusername=\"\u{1F600}\"",
            "Digest nc=ffffffffff",
            "Digest nc=\u{0660}\u{0661}\u{0662}\u{0663}\u{0664}\u{0665}\u{0666}\u{0667}",
            "Digest algorithm=",
            "Digest username=a,realm=b,nonce=c,uri=d,response=e,nc=-0000001",
            "\u{FEFF}Digest username=a",
            "Digest\u{00A0}username=a",
            "digest,username=a",
            ",",
            "\"",
            "\\",
            "Digest \\\"",
            "Digest a=\"\"\"",
            "Digest a=\"x\"y",
        ];
        for s in odd {
            let _ = Credentials::parse(s);
        }
        // Every prefix (on char boundaries) and every byte-level truncation of
        // a real header must not panic either.
        for (i, _) in RFC2617.char_indices() {
            let _ = Credentials::parse(RFC2617.get(..i).unwrap_or_default());
            let _ = Credentials::parse(RFC2617.get(i..).unwrap_or_default());
        }
        // Pseudo-random strings from a small alphabet of significant bytes.
        let alphabet = [
            'D', 'i', 'g', 'e', 's', 't', ' ', '=', ',', '"', '\\', 'n', 'c', 'é',
        ];
        let mut state: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut s = String::from("Digest ");
            for _ in 0..(state % 24) {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let idx = (state >> 16) as usize % alphabet.len();
                if let Some(c) = alphabet.get(idx) {
                    s.push(*c);
                }
            }
            let _ = Credentials::parse(&s);
        }
    }
}
