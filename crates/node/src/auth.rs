//! Digest authentication of requests against the configured users
//! (RFC 3261 §22, RFC 8760), on top of `sip-auth`.

use crate::config::{DigestAlgorithm, UserConfig, UserSecret};
use sip_auth::{Algorithm, AuthError, Credentials, DigestHash, NonceCounter, NonceIssuer, Secret};
use sip_message::{HeaderName, Host, Message, Params, SipUri, Uri};
use std::collections::HashMap;

/// What authentication concluded about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials are valid for this user.
    Authenticated(String),
    /// Send a challenge; `stale` when only the nonce was too old (RFC 7616 §3.3).
    Challenge {
        /// Set `stale=true`.
        stale: bool,
        /// Why, for the metrics label (`none` when no credentials came).
        reason: &'static str,
        /// The user name the credentials claimed, if any came (it may be
        /// invented: only for the capped failure tables).
        user: Option<String>,
    },
    /// The credentials' digest `uri` is not the Request-URI: `400 Bad
    /// Request` (RFC 2617 §3.2.2.5, RFC 7616 §3.4.6). Not a challenge: a
    /// client that computed its digest over another URI would fail again.
    BadRequest {
        /// The reason phrase.
        reason: &'static str,
    },
}

impl AuthOutcome {
    /// True for a failure that counts toward a ban: a wrong password or a
    /// user that does not exist. A foreign or replayed nonce comes with a
    /// response that was right for it (the response is checked first), so
    /// whoever sent it knows the password: after a restart every phone
    /// behind an SBC sends one such answer, which must not ban the SBC.
    /// Missing or malformed credentials, a stale nonce or an unoffered
    /// algorithm are client bugs or the normal first round trip.
    pub fn is_guess(&self) -> bool {
        matches!(
            self,
            AuthOutcome::Challenge {
                reason: "wrong_password" | "unknown_user",
                ..
            }
        )
    }
}

/// Checks credentials and mints challenges for one realm.
#[derive(Debug)]
pub struct Authenticator {
    realm: String,
    issuer: NonceIssuer,
    counter: NonceCounter,
    users: HashMap<String, UserSecret>,
    algorithms: Vec<Algorithm>,
}

impl Authenticator {
    /// An authenticator for `realm` (the domain), offering `offered` in order.
    pub fn new(realm: &str, users: &[UserConfig], offered: &[DigestAlgorithm]) -> Self {
        let algorithms = offered
            .iter()
            .map(|a| match a {
                DigestAlgorithm::Sha256 => Algorithm::Sha256,
                DigestAlgorithm::Md5 => Algorithm::Md5,
            })
            .collect();
        Authenticator {
            realm: realm.to_string(),
            issuer: NonceIssuer::with_random_key(),
            counter: NonceCounter::default(),
            users: users
                .iter()
                .map(|u| (u.name.clone(), u.secret.clone()))
                .collect(),
            algorithms,
        }
    }

    /// True when `user` is configured.
    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// The challenge header values to send (one per algorithm).
    pub fn challenges(&self, stale: bool, now_unix: u64) -> Vec<String> {
        let nonce = self.issuer.issue(now_unix);
        sip_auth::challenges(&self.realm, &nonce, None, &self.algorithms, stale)
    }

    /// Checks the credentials carried in `header` (Authorization for a
    /// registrar, Proxy-Authorization otherwise).
    pub fn check(&mut self, request: &Message, header: &HeaderName, now_unix: u64) -> AuthOutcome {
        let Some(method) = request.method().map(ToString::to_string) else {
            return AuthOutcome::Challenge {
                stale: false,
                reason: "none",
                user: None,
            };
        };
        let mut reason = "none";
        for value in request.headers.get_all(header) {
            let creds = match Credentials::parse(value) {
                Ok(c) => c,
                Err(_) => {
                    reason = "malformed";
                    continue;
                }
            };
            if creds.realm != self.realm {
                reason = "realm";
                continue;
            }
            if !self
                .algorithms
                .iter()
                .any(|a| a.hash() == creds.algorithm.hash())
            {
                reason = "algorithm";
                continue;
            }
            let user = Some(creds.username.clone());
            // Our challenges always offer qop="auth": an answer without it
            // would escape the nonce-count replay check.
            if creds.require_qop().is_err() {
                return AuthOutcome::Challenge {
                    stale: false,
                    reason: "qop_missing",
                    user,
                };
            }
            if !request
                .request_uri()
                .is_some_and(|r| digest_uri_matches(&creds.uri, r))
            {
                return AuthOutcome::BadRequest {
                    reason: "Digest URI Mismatch",
                };
            }
            let Some(secret) = self.users.get(&creds.username) else {
                return AuthOutcome::Challenge {
                    stale: false,
                    reason: "unknown_user",
                    user,
                };
            };
            let secret = match secret {
                UserSecret::Password(p) => Secret::Password(p),
                UserSecret::Ha1(h) => Secret::Ha1 {
                    hash: if h.len() == 64 {
                        DigestHash::Sha256
                    } else {
                        DigestHash::Md5
                    },
                    hex: h,
                },
            };
            if let Err(e) = sip_auth::verify(&creds, &method, secret, &self.realm) {
                return AuthOutcome::Challenge {
                    stale: false,
                    reason: label(&e),
                    user,
                };
            }
            match self.issuer.validate(&creds.nonce, now_unix) {
                Ok(_) => {}
                Err(AuthError::StaleNonce) => {
                    return AuthOutcome::Challenge {
                        stale: true,
                        reason: "stale",
                        user,
                    }
                }
                Err(e) => {
                    return AuthOutcome::Challenge {
                        stale: false,
                        reason: label(&e),
                        user,
                    }
                }
            }
            if let Some(nc) = creds.nc {
                if let Err(e) = self.counter.check(&creds.nonce, nc) {
                    return AuthOutcome::Challenge {
                        stale: false,
                        reason: label(&e),
                        user,
                    };
                }
            }
            return AuthOutcome::Authenticated(creds.username);
        }
        AuthOutcome::Challenge {
            stale: false,
            reason,
            user: None,
        }
    }
}

/// Whether the digest `uri` names the same resource as the Request-URI
/// (RFC 3261 §22.4, RFC 7616 §3.4.6), compared as URIs by the rules of
/// RFC 3261 §19.1.4: scheme, user and password exactly (after
/// %-unescaping), host case-insensitively, the port only when both or
/// neither carry one, the `user`, `ttl`, `method`, `maddr` and `transport`
/// parameters when either side has them, other parameters when both have
/// them, headers exactly. A digest uri that does not parse never matches.
pub fn digest_uri_matches(digest_uri: &str, request_uri: &Uri) -> bool {
    let Ok(digest) = Uri::parse(digest_uri.trim()) else {
        return false;
    };
    match (&digest, request_uri) {
        (Uri::Sip(a), Uri::Sip(b)) => sip_uris_equal(a, b),
        (Uri::Tel(a), Uri::Tel(b)) => {
            a.number == b.number && params_equal(&a.params, &b.params, &[])
        }
        (Uri::Other(a), Uri::Other(b)) => {
            a.scheme.eq_ignore_ascii_case(&b.scheme) && a.rest == b.rest
        }
        _ => false,
    }
}

fn sip_uris_equal(a: &SipUri, b: &SipUri) -> bool {
    let host_equal = match (&a.host, &b.host) {
        (Host::Domain(x), Host::Domain(y)) => x.eq_ignore_ascii_case(y),
        (x, y) => x == y,
    };
    a.secure == b.secure
        && unescape(a.user.as_deref()) == unescape(b.user.as_deref())
        && unescape(a.password.as_deref()) == unescape(b.password.as_deref())
        && host_equal
        && a.port == b.port
        && params_equal(
            &a.params,
            &b.params,
            &["user", "ttl", "method", "maddr", "transport"],
        )
        && a.headers == b.headers
}

/// §19.1.4: a parameter in both URIs must match (case-insensitively); one
/// of `must_match` present in only one URI makes them differ; any other
/// parameter present in only one is ignored.
fn params_equal(a: &Params, b: &Params, must_match: &[&str]) -> bool {
    let differ = |x: &Params, y: &Params| {
        x.0.iter().any(|p| match y.get(&p.name) {
            Some(other) => !match (p.value.as_deref(), other) {
                (Some(v), Some(w)) => v.eq_ignore_ascii_case(w),
                (None, None) => true,
                _ => false,
            },
            None => must_match.iter().any(|m| m.eq_ignore_ascii_case(&p.name)),
        })
    };
    !differ(a, b) && !differ(b, a)
}

/// %-unescapes a user or password part (RFC 3261 §19.1.4: `sip:%61lice@x`
/// is `sip:alice@x`). Invalid escapes are kept as written.
fn unescape(part: Option<&str>) -> Option<Vec<u8>> {
    let part = part?.as_bytes();
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            part[i],
            part.get(i + 1).copied().and_then(hex),
            part.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

fn label(e: &AuthError) -> &'static str {
    match e {
        AuthError::ResponseMismatch => "wrong_password",
        AuthError::Replay => "replay",
        AuthError::InvalidNonce => "bad_nonce",
        AuthError::StaleNonce => "stale",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(digest: &str, request: &str) -> bool {
        digest_uri_matches(digest, &Uri::parse(request).expect("request uri"))
    }

    #[test]
    fn digest_uris_compare_as_uris() {
        assert!(matches("sip:bob@example.test", "sip:bob@example.test"));
        assert!(matches("sip:bob@EXAMPLE.test", "sip:bob@example.test"));
        assert!(matches("sip:%62ob@example.test", "sip:bob@example.test"));
        assert!(matches(
            "sip:bob@example.test;transport=UDP",
            "sip:bob@example.test;transport=udp"
        ));
        // A parameter only one side has is ignored, unless §19.1.4 says not.
        assert!(matches(
            "sip:bob@example.test;foo=1",
            "sip:bob@example.test"
        ));
        assert!(!matches(
            "sip:bob@example.test;transport=tcp",
            "sip:bob@example.test"
        ));
        assert!(!matches("sip:Bob@example.test", "sip:bob@example.test"));
        assert!(!matches("sip:carol@example.test", "sip:bob@example.test"));
        assert!(!matches(
            "sip:bob@example.test:5060",
            "sip:bob@example.test"
        ));
        assert!(!matches("sips:bob@example.test", "sip:bob@example.test"));
        assert!(!matches("sip:bob@other.test", "sip:bob@example.test"));
        assert!(!matches("not a uri", "sip:bob@example.test"));
        assert!(matches("tel:+15551234", "tel:+15551234"));
        assert!(!matches("tel:+15551234", "sip:+15551234@example.test"));
    }
}
