//! Digest authentication of requests against the configured users
//! (RFC 3261 §22, RFC 8760), on top of `sip-auth`.

use crate::config::{DigestAlgorithm, UserConfig, UserSecret};
use sip_auth::{Algorithm, AuthError, Credentials, DigestHash, NonceCounter, NonceIssuer, Secret};
use sip_message::{HeaderName, Message};
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
    },
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
            let Some(secret) = self.users.get(&creds.username) else {
                return AuthOutcome::Challenge {
                    stale: false,
                    reason: "unknown_user",
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
                };
            }
            match self.issuer.validate(&creds.nonce, now_unix) {
                Ok(_) => {}
                Err(AuthError::StaleNonce) => {
                    return AuthOutcome::Challenge {
                        stale: true,
                        reason: "stale",
                    }
                }
                Err(e) => {
                    return AuthOutcome::Challenge {
                        stale: false,
                        reason: label(&e),
                    }
                }
            }
            if let Some(nc) = creds.nc {
                if let Err(e) = self.counter.check(&creds.nonce, nc) {
                    return AuthOutcome::Challenge {
                        stale: false,
                        reason: label(&e),
                    };
                }
            }
            return AuthOutcome::Authenticated(creds.username);
        }
        AuthOutcome::Challenge {
            stale: false,
            reason,
        }
    }
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
