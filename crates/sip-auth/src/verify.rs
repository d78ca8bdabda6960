//! Checking a digest `response` against a stored password or HA1.

use std::fmt;

use subtle::ConstantTimeEq as _;

use crate::algorithm::{Algorithm, DigestHash};
use crate::credentials::Credentials;
use crate::error::AuthError;
use crate::qop::Qop;

/// What the server stores for a user.
///
/// A password works with every [`Algorithm`]. A precomputed HA1
/// (`H(username:realm:password)`, hex) works only with the algorithms of its
/// [`DigestHash`]: an MD5 HA1 for `MD5` / `MD5-sess`, a SHA-256 HA1 for
/// `SHA-256` / `SHA-256-sess`. The HA1 also fixes the realm and username.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The clear-text password.
    Password(&'a str),
    /// A precomputed `H(username:realm:password)` in hex (either case).
    Ha1 {
        /// The hash function the HA1 was computed with.
        hash: DigestHash,
        /// The HA1 as hex digits.
        hex: &'a str,
    },
}

impl Secret<'_> {
    /// Whether credentials using `algorithm` can be verified with this secret.
    /// A registrar uses it to offer only algorithms a user can answer.
    #[must_use]
    pub fn supports(&self, algorithm: Algorithm) -> bool {
        match self {
            Self::Password(_) => true,
            Self::Ha1 { hash, .. } => *hash == algorithm.hash(),
        }
    }
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::Ha1 { hash, .. } => f
                .debug_struct("Ha1")
                .field("hash", hash)
                .field("hex", &"<redacted>")
                .finish(),
        }
    }
}

/// `HA1 = H(username:realm:password)` as lowercase hex, for provisioning a
/// user with a stored HA1 instead of a password.
#[must_use]
pub fn ha1(hash: DigestHash, username: &str, realm: &str, password: &str) -> String {
    hash.hex_joined(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// Checks the `response` of `creds` for a request with method `method`
/// (e.g. `"REGISTER"`, `"INVITE"`), against the user's `secret` and the
/// realm this server challenges for.
///
/// Only `qop=auth` and RFC 2069-style credentials without `qop` are
/// accepted. The nonce itself is *not* checked here: see
/// [`NonceIssuer::validate`](crate::NonceIssuer::validate) and
/// [`NonceCounter::check`](crate::NonceCounter::check). Nor is the `uri`
/// compared with the Request-URI: that is the caller's policy.
///
/// # Errors
/// [`AuthError::RealmMismatch`] if `creds.realm != expected_realm`,
/// [`AuthError::UnsupportedQop`] for `auth-int`,
/// [`AuthError::AlgorithmMismatch`] / [`AuthError::InvalidHa1`] for an
/// unusable stored HA1, [`AuthError::MissingParam`] for hand-built
/// credentials lacking `cnonce` / `nc`, and [`AuthError::ResponseMismatch`]
/// when the digest does not match (wrong password). The comparison is
/// constant-time.
pub fn verify(
    creds: &Credentials,
    method: &str,
    secret: Secret<'_>,
    expected_realm: &str,
) -> Result<(), AuthError> {
    if creds.realm != expected_realm {
        return Err(AuthError::RealmMismatch);
    }
    let expected = expected_response(creds, method, secret)?;
    let given = creds.response.to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::ResponseMismatch)
    }
}

/// The lowercase hex `response` a client holding `secret` computes for
/// `creds` (whose own `response` field is ignored) and `method`.
///
/// Useful on the client side of a B2BUA (answering an upstream challenge)
/// and in tests.
///
/// # Errors
/// As [`verify`], except for the realm and response checks.
pub fn expected_response(
    creds: &Credentials,
    method: &str,
    secret: Secret<'_>,
) -> Result<String, AuthError> {
    let algorithm = creds.algorithm;
    let hash = algorithm.hash();

    if let Some(qop @ Qop::AuthInt) = creds.qop {
        return Err(AuthError::UnsupportedQop(qop));
    }

    let mut ha1 = match secret {
        Secret::Password(password) => ha1(hash, &creds.username, &creds.realm, password),
        Secret::Ha1 { hash: stored, hex } => {
            if stored != hash {
                return Err(AuthError::AlgorithmMismatch);
            }
            if hex.len() != hash.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthError::InvalidHa1);
            }
            hex.to_ascii_lowercase()
        }
    };

    if algorithm.is_session() {
        let cnonce = creds
            .cnonce
            .as_deref()
            .ok_or(AuthError::MissingParam("cnonce"))?;
        ha1 = hash.hex_joined(&[ha1.as_bytes(), creds.nonce.as_bytes(), cnonce.as_bytes()]);
    }

    let ha2 = hash.hex_joined(&[method.as_bytes(), creds.uri.as_bytes()]);

    Ok(match creds.qop {
        Some(qop) => {
            let cnonce = creds
                .cnonce
                .as_deref()
                .ok_or(AuthError::MissingParam("cnonce"))?;
            let nc = creds.nc.ok_or(AuthError::MissingParam("nc"))?;
            let nc = format!("{nc:08x}");
            hash.hex_joined(&[
                ha1.as_bytes(),
                creds.nonce.as_bytes(),
                nc.as_bytes(),
                cnonce.as_bytes(),
                qop.as_str().as_bytes(),
                ha2.as_bytes(),
            ])
        }
        None => hash.hex_joined(&[ha1.as_bytes(), creds.nonce.as_bytes(), ha2.as_bytes()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5.
    const RFC2617: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    const RFC7616_REALM: &str = "http-auth@example.org";
    const RFC7616_PASSWORD: &str = "Circle of Life";

    /// RFC 7616 §3.9.1, with the algorithm and response filled in.
    fn rfc7616(algorithm: &str, nc: &str, response: &str) -> Credentials {
        let v = format!(
            r#"Digest username="Mufasa", realm="http-auth@example.org",
               uri="/dir/index.html", algorithm={algorithm},
               nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               nc={nc}, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
               qop=auth, response="{response}",
               opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        );
        Credentials::parse(&v).expect("parse")
    }

    #[test]
    fn rfc2617_md5_example() {
        let c = Credentials::parse(RFC2617).expect("parse");
        assert_eq!(
            verify(
                &c,
                "GET",
                Secret::Password("Circle Of Life"),
                "testrealm@host.com"
            ),
            Ok(())
        );
    }

    #[test]
    fn rfc7616_sha256_example() {
        let c = rfc7616(
            "SHA-256",
            "00000001",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        );
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    #[test]
    fn rfc7616_md5_example() {
        let c = rfc7616("MD5", "00000001", "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    // The -sess vectors below were computed independently (Python hashlib)
    // from the RFC 7616 example inputs.
    #[test]
    fn md5_sess() {
        let c = rfc7616("MD5-sess", "00000001", "e783283f46242139c486a698fec7211d");
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    #[test]
    fn sha256_sess() {
        let c = rfc7616(
            "SHA-256-sess",
            "00000001",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
        );
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    #[test]
    fn hex_nc_is_hashed_as_sent() {
        let c = rfc7616(
            "SHA-256-sess",
            "0000000a",
            "748317db84c65271b7674b657f77b6d9e80249588df09466740f18f44e8d43d2",
        );
        assert_eq!(c.nc, Some(10));
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
        let c = rfc7616("MD5-sess", "0000000a", "48e6908908a125e4c864052b1b4373d8");
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    #[test]
    fn without_qop() {
        let base = r#"Digest username="Mufasa", realm="http-auth@example.org",
               uri="/dir/index.html", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v""#;
        let c = Credentials::parse(&format!(
            "{base}, response=\"7b2cc3b30e75b4777ea31027084363fd\""
        ))
        .expect("parse");
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
        let c = Credentials::parse(&format!(
            "{base}, algorithm=SHA-256, \
             response=\"a1306b0595a6c7fe96c448631fb5cfbd5107bd1fe1da729d978dd7446b812363\""
        ))
        .expect("parse");
        assert_eq!(
            verify(&c, "GET", Secret::Password(RFC7616_PASSWORD), RFC7616_REALM),
            Ok(())
        );
    }

    #[test]
    fn sip_register_with_hex_nc() {
        // Python: md5(ha1:abc:0000000a:xyz:auth:md5("REGISTER:sip:baton.example"))
        let v = r#"Digest username="alice", realm="baton", nonce="abc",
                   uri="sip:baton.example", qop=auth, nc=0000000a, cnonce="xyz",
                   response="5AE9CBCE5C3A8E6F315A994E263FEEEE", algorithm=md5"#;
        let c = Credentials::parse(v).expect("parse");
        assert_eq!(
            verify(&c, "REGISTER", Secret::Password("secret"), "baton"),
            Ok(())
        );
        assert_eq!(
            verify(&c, "INVITE", Secret::Password("secret"), "baton"),
            Err(AuthError::ResponseMismatch)
        );
    }

    #[test]
    fn wrong_password_rejected() {
        let c = Credentials::parse(RFC2617).expect("parse");
        assert_eq!(
            verify(
                &c,
                "GET",
                Secret::Password("Circle of Life"),
                "testrealm@host.com"
            ),
            Err(AuthError::ResponseMismatch)
        );
        let c = rfc7616(
            "SHA-256",
            "00000001",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        );
        assert_eq!(
            verify(&c, "GET", Secret::Password("circle of life"), RFC7616_REALM),
            Err(AuthError::ResponseMismatch)
        );
        let mut truncated = c.clone();
        truncated.response.truncate(10);
        assert_eq!(
            verify(
                &truncated,
                "GET",
                Secret::Password(RFC7616_PASSWORD),
                RFC7616_REALM
            ),
            Err(AuthError::ResponseMismatch)
        );
    }

    #[test]
    fn realm_mismatch_rejected() {
        let c = Credentials::parse(RFC2617).expect("parse");
        assert_eq!(
            verify(&c, "GET", Secret::Password("Circle Of Life"), "other"),
            Err(AuthError::RealmMismatch)
        );
    }

    #[test]
    fn stored_ha1_md5_and_sha256() {
        let md5_ha1 = ha1(DigestHash::Md5, "Mufasa", RFC7616_REALM, RFC7616_PASSWORD);
        assert_eq!(md5_ha1, "3d78807defe7de2157e2b0b6573a855f");
        let sha_ha1 = ha1(
            DigestHash::Sha256,
            "Mufasa",
            RFC7616_REALM,
            RFC7616_PASSWORD,
        );
        assert_eq!(
            sha_ha1,
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
        let md5_secret = Secret::Ha1 {
            hash: DigestHash::Md5,
            hex: &md5_ha1,
        };
        let upper = sha_ha1.to_ascii_uppercase();
        let sha_secret = Secret::Ha1 {
            hash: DigestHash::Sha256,
            hex: &upper,
        };

        let md5 = rfc7616("MD5", "00000001", "8ca523f5e9506fed4657c9700eebdbec");
        let md5_sess = rfc7616("MD5-sess", "00000001", "e783283f46242139c486a698fec7211d");
        let sha = rfc7616(
            "SHA-256",
            "00000001",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        );
        let sha_sess = rfc7616(
            "SHA-256-sess",
            "00000001",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
        );

        assert_eq!(verify(&md5, "GET", md5_secret, RFC7616_REALM), Ok(()));
        assert_eq!(verify(&md5_sess, "GET", md5_secret, RFC7616_REALM), Ok(()));
        assert_eq!(verify(&sha, "GET", sha_secret, RFC7616_REALM), Ok(()));
        assert_eq!(verify(&sha_sess, "GET", sha_secret, RFC7616_REALM), Ok(()));

        assert_eq!(
            verify(&sha, "GET", md5_secret, RFC7616_REALM),
            Err(AuthError::AlgorithmMismatch)
        );
        assert_eq!(
            verify(&md5, "GET", sha_secret, RFC7616_REALM),
            Err(AuthError::AlgorithmMismatch)
        );
        assert!(md5_secret.supports(Algorithm::Md5Sess));
        assert!(!md5_secret.supports(Algorithm::Sha256));
        assert!(Secret::Password("x").supports(Algorithm::Sha256Sess));

        for bad in [
            "",
            "3d78807defe7de2157e2b0b6573a855",
            "zz78807defe7de2157e2b0b6573a855f",
        ] {
            assert_eq!(
                verify(
                    &md5,
                    "GET",
                    Secret::Ha1 {
                        hash: DigestHash::Md5,
                        hex: bad
                    },
                    RFC7616_REALM
                ),
                Err(AuthError::InvalidHa1)
            );
        }
    }

    #[test]
    fn auth_int_rejected() {
        let v = r#"Digest username="a", realm="r", nonce="n", uri="sip:x",
                   qop=auth-int, nc=00000001, cnonce="c", response="00""#;
        let c = Credentials::parse(v).expect("parse");
        assert_eq!(
            verify(&c, "INVITE", Secret::Password("p"), "r"),
            Err(AuthError::UnsupportedQop(Qop::AuthInt))
        );
    }

    #[test]
    fn hand_built_credentials_missing_fields() {
        let mut c = rfc7616("SHA-256-sess", "00000001", "00");
        c.cnonce = None;
        assert_eq!(
            verify(&c, "GET", Secret::Password("p"), RFC7616_REALM),
            Err(AuthError::MissingParam("cnonce"))
        );
        let mut c = rfc7616("SHA-256", "00000001", "00");
        c.nc = None;
        assert_eq!(
            verify(&c, "GET", Secret::Password("p"), RFC7616_REALM),
            Err(AuthError::MissingParam("nc"))
        );
    }

    #[test]
    fn expected_response_matches_client_side() {
        let c = rfc7616("SHA-256", "00000001", "");
        assert_eq!(
            expected_response(&c, "GET", Secret::Password(RFC7616_PASSWORD)).as_deref(),
            Ok("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = format!("{:?}", Secret::Password("hunter2"));
        assert!(!s.contains("hunter2"));
        let s = format!(
            "{:?}",
            Secret::Ha1 {
                hash: DigestHash::Md5,
                hex: "deadbeef"
            }
        );
        assert!(!s.contains("deadbeef"));
    }
}
