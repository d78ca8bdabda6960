//! SIP HTTP-Digest authentication, sans-IO.
//!
//! Implements the server side of Digest authentication for SIP (RFC 3261
//! §22) with the `MD5`, `MD5-sess`, `SHA-256` and `SHA-256-sess` algorithms
//! (RFC 7616, RFC 8760), `qop=auth`. Nothing here touches a socket or reads
//! a clock: header *values* (the text after the colon) go in and come out as
//! strings, and the current time is passed in as Unix seconds.
//!
//! # Call order
//!
//! 1. **Challenge.** For a request without credentials, mint a nonce with
//!    [`NonceIssuer::issue`] and answer 401 (registrar, `WWW-Authenticate`)
//!    or 407 (proxy, `Proxy-Authenticate`) with one header per value of
//!    [`challenges`] (e.g. SHA-256 then MD5).
//! 2. **Parse.** Turn the `Authorization` / `Proxy-Authorization` value into
//!    [`Credentials`] with [`Credentials::parse`]. Errors mean 400 or a fresh
//!    challenge; [`AuthError::UnsupportedScheme`] means the client offered a
//!    scheme other than Digest.
//! 3. **Verify.** Look the user up by `username` and call [`verify`] with
//!    the request method, its [`Secret`] (password or precomputed HA1) and
//!    the realm. [`AuthError::ResponseMismatch`] is a wrong password: fresh
//!    challenge, no `stale`.
//! 4. **Nonce.** [`NonceIssuer::validate`] the credentials' nonce at the
//!    current time. [`AuthError::InvalidNonce`] means forged or foreign: fresh
//!    challenge. [`AuthError::StaleNonce`] after a successful `verify` means
//!    the password was right but the nonce expired: re-challenge with
//!    `stale=true` so the client retries without prompting the user.
//! 5. **Replay.** If the credentials carry `nc`, pass it to
//!    [`NonceCounter::check`]; [`AuthError::Replay`] means the same
//!    (nonce, nc) was seen before. Credentials without `qop` carry no `nc`
//!    and get no replay protection: a server whose challenges offered
//!    `qop="auth"` (all of this crate's do) refuses them with
//!    [`Credentials::require_qop`], before step 3.
//!
//! Checking the response before the nonce lets step 4 set `stale=true` only
//! for a client that knows the password, as RFC 7616 §3.3 requires.
//! Comparing the digest `uri` with the Request-URI and the `opaque` with what
//! was sent is left to the caller.
//!
//! ```
//! # use baton_sip_auth as sip_auth; // dependents name it `sip_auth`
//! use sip_auth::{challenges, verify, Algorithm, Credentials, NonceCounter, NonceIssuer, Secret};
//!
//! let now = 1_700_000_000;
//! let issuer = NonceIssuer::new([42; 32]);
//! let mut counter = NonceCounter::default();
//!
//! let nonce = issuer.issue(now);
//! let www_authenticate = challenges("baton", &nonce, None, &[Algorithm::Sha256, Algorithm::Md5], false);
//! assert_eq!(www_authenticate.len(), 2);
//!
//! // ... the client answers (here computed with the same code) ...
//! let mut creds = Credentials::parse(&format!(
//!     r#"Digest username="alice", realm="baton", nonce="{nonce}", uri="sip:baton.example",
//!        algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c0ffee", response="""#
//! ))?;
//! creds.response = sip_auth::expected_response(&creds, "REGISTER", Secret::Password("s3cret"))?;
//!
//! verify(&creds, "REGISTER", Secret::Password("s3cret"), "baton")?;
//! issuer.validate(&creds.nonce, now + 5)?;
//! if let Some(nc) = creds.nc {
//!     counter.check(&creds.nonce, nc)?;
//! }
//! # Ok::<(), sip_auth::AuthError>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod algorithm;
mod challenge;
mod credentials;
mod error;
mod nonce;
mod nonce_counter;
mod params;
mod qop;
mod verify;

pub use algorithm::{Algorithm, DigestHash};
pub use challenge::{challenges, Challenge};
pub use credentials::Credentials;
pub use error::{AuthError, SyntaxError};
pub use nonce::NonceIssuer;
pub use nonce_counter::NonceCounter;
pub use qop::Qop;
pub use verify::{expected_response, ha1, verify, Secret};

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const REALM: &str = "baton";

    fn client_answer(nonce: &str, algorithm: Algorithm, nc: &str, password: &str) -> Credentials {
        let mut creds = Credentials::parse(&format!(
            r#"Digest username="alice", realm="baton", nonce="{nonce}",
               uri="sip:baton.example", algorithm={algorithm}, qop=auth,
               nc={nc}, cnonce="0a4f113b", response="""#
        ))
        .expect("parse");
        creds.response =
            expected_response(&creds, "REGISTER", Secret::Password(password)).expect("respond");
        creds
    }

    /// Steps 2-5 of the documented call order.
    fn authenticate(
        issuer: &NonceIssuer,
        counter: &mut NonceCounter,
        header: &str,
        secret: Secret<'_>,
        now: u64,
    ) -> Result<(), AuthError> {
        let creds = Credentials::parse(header)?;
        verify(&creds, "REGISTER", secret, REALM)?;
        issuer.validate(&creds.nonce, now)?;
        counter.check(&creds.nonce, creds.nc.ok_or(AuthError::MissingParam("nc"))?)
    }

    fn header(c: &Credentials) -> String {
        format!(
            r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", algorithm={}, qop=auth, nc={:08x}, cnonce="{}", response="{}""#,
            c.username,
            c.realm,
            c.nonce,
            c.uri,
            c.algorithm,
            c.nc.unwrap_or_default(),
            c.cnonce.as_deref().unwrap_or_default(),
            c.response
        )
    }

    #[test]
    fn end_to_end_register_flow() {
        let issuer = NonceIssuer::new([1; 32]).with_max_age_secs(120);
        let mut counter = NonceCounter::new(16);
        let nonce = issuer.issue(NOW);
        let values = challenges(
            REALM,
            &nonce,
            None,
            &[Algorithm::Sha256, Algorithm::Md5],
            false,
        );
        assert!(values
            .first()
            .is_some_and(|v| v.contains("algorithm=SHA-256")));
        assert!(values.get(1).is_some_and(|v| v.contains("algorithm=MD5")));

        let stored = ha1(DigestHash::Sha256, "alice", REALM, "pw");
        let by_ha1 = Secret::Ha1 {
            hash: DigestHash::Sha256,
            hex: &stored,
        };

        for alg in Algorithm::ALL {
            let nonce = issuer.issue(NOW);
            let c1 = client_answer(&nonce, alg, "00000001", "pw");
            assert_eq!(
                authenticate(
                    &issuer,
                    &mut counter,
                    &header(&c1),
                    Secret::Password("pw"),
                    NOW + 1
                ),
                Ok(()),
                "{alg}"
            );
            // Same (nonce, nc) again: replay.
            assert_eq!(
                authenticate(
                    &issuer,
                    &mut counter,
                    &header(&c1),
                    Secret::Password("pw"),
                    NOW + 2
                ),
                Err(AuthError::Replay)
            );
            // Next nc on the same nonce is fine; with the HA1 only for SHA-256.
            let c2 = client_answer(&nonce, alg, "00000002", "pw");
            let secret = if by_ha1.supports(alg) {
                by_ha1
            } else {
                Secret::Password("pw")
            };
            assert_eq!(
                authenticate(&issuer, &mut counter, &header(&c2), secret, NOW + 3),
                Ok(())
            );
            // Wrong password.
            let bad = client_answer(&nonce, alg, "00000003", "wrong");
            assert_eq!(
                authenticate(
                    &issuer,
                    &mut counter,
                    &header(&bad),
                    Secret::Password("pw"),
                    NOW + 4
                ),
                Err(AuthError::ResponseMismatch)
            );
            // Right password, expired nonce: re-challenge with stale=true.
            let late = client_answer(&nonce, alg, "00000004", "pw");
            assert_eq!(
                authenticate(
                    &issuer,
                    &mut counter,
                    &header(&late),
                    Secret::Password("pw"),
                    NOW + 121
                ),
                Err(AuthError::StaleNonce)
            );
        }
        let stale = challenges(
            REALM,
            &issuer.issue(NOW + 121),
            None,
            &[Algorithm::Sha256],
            true,
        );
        assert!(stale.first().is_some_and(|v| v.ends_with("stale=true")));
    }

    #[test]
    fn forged_nonce_with_correct_password_is_invalid() {
        let issuer = NonceIssuer::new([1; 32]);
        let mut counter = NonceCounter::default();
        let c = client_answer(
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Algorithm::Md5,
            "00000001",
            "pw",
        );
        assert_eq!(
            authenticate(
                &issuer,
                &mut counter,
                &header(&c),
                Secret::Password("pw"),
                NOW
            ),
            Err(AuthError::InvalidNonce)
        );
        assert!(counter.is_empty());
    }

    #[test]
    fn errors_display() {
        assert_eq!(AuthError::Replay.to_string(), "nonce count replayed");
        assert_eq!(
            AuthError::from(SyntaxError::MissingScheme).to_string(),
            "malformed authorization header: no authentication scheme"
        );
        assert_eq!(
            AuthError::UnsupportedQop(Qop::AuthInt).to_string(),
            "qop `auth-int` is not supported"
        );
    }
}
