//! Stateless nonces: the issue time plus an HMAC-SHA256 tag under a server
//! key, so any node holding the key can validate them without shared state.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::error::AuthError;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for the tag, so the key can't be confused with any
/// other use of it.
const TAG_CONTEXT: &[u8] = b"baton-sip-auth nonce v1\0";
/// Bytes of the HMAC-SHA256 output kept in the nonce (128 bits).
const TAG_LEN: usize = 16;
/// `issued_at (8) || salt (8) || tag (16)`.
const RAW_LEN: usize = 8 + 8 + TAG_LEN;
/// Length of a nonce string: the raw bytes as lowercase hex.
const NONCE_LEN: usize = RAW_LEN * 2;

/// Mints and validates stateless nonces.
///
/// A nonce is 64 lowercase hex digits encoding the issue time (Unix
/// seconds), a random salt (so two challenges in the same second differ) and
/// a 128-bit HMAC-SHA256 tag over both. Every node of a cluster given the
/// same key accepts the others' nonces. Time is always passed in: this type
/// reads no clock.
#[derive(Clone)]
pub struct NonceIssuer {
    mac: HmacSha256,
    max_age_secs: u64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("key", &"<redacted>")
            .field("max_age_secs", &self.max_age_secs)
            .finish_non_exhaustive()
    }
}

impl NonceIssuer {
    /// How long a nonce stays fresh unless set otherwise: 5 minutes.
    pub const DEFAULT_MAX_AGE_SECS: u64 = 300;

    /// An issuer keyed with `key`, which must be secret random bytes (the
    /// same on every node that should accept the nonces).
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC zero-pads keys shorter than the block (64 bytes for
        // SHA-256), so this is exactly HMAC with the 32-byte key; building
        // from a full block avoids the fallible `new_from_slice`.
        let mut block = [0u8; 64];
        for (dst, src) in block.iter_mut().zip(key) {
            *dst = src;
        }
        Self {
            mac: <HmacSha256 as KeyInit>::new(&block.into()),
            max_age_secs: Self::DEFAULT_MAX_AGE_SECS,
        }
    }

    /// An issuer with a fresh random key from the thread-local CSPRNG: fine
    /// for a single node, not for a cluster (the nodes would not share it).
    #[must_use]
    pub fn with_random_key() -> Self {
        Self::new(rand::random())
    }

    /// Sets how many seconds after issue a nonce is still fresh.
    #[must_use]
    pub fn with_max_age_secs(mut self, secs: u64) -> Self {
        self.max_age_secs = secs;
        self
    }

    /// How many seconds after issue a nonce is still fresh.
    #[must_use]
    pub fn max_age_secs(&self) -> u64 {
        self.max_age_secs
    }

    /// A new nonce issued at `now_unix_secs`, with a random salt.
    #[must_use]
    pub fn issue(&self, now_unix_secs: u64) -> String {
        self.issue_with_salt(now_unix_secs, rand::random())
    }

    /// A nonce issued at `now_unix_secs` with the given salt: deterministic,
    /// for tests. Use [`issue`](Self::issue) otherwise.
    #[must_use]
    pub fn issue_with_salt(&self, now_unix_secs: u64, salt: u64) -> String {
        let issued = now_unix_secs.to_be_bytes();
        let salt = salt.to_be_bytes();
        let tag = self.tag(issued, salt);
        let mut raw = [0u8; RAW_LEN];
        for (dst, src) in raw
            .iter_mut()
            .zip(issued.iter().chain(salt.iter()).chain(tag.iter()))
        {
            *dst = *src;
        }
        hex::encode(raw)
    }

    /// Checks that `nonce` was minted with this key and is not older than
    /// the maximum age at `now_unix_secs`. Returns its issue time.
    ///
    /// A nonce stamped in the future (another node's clock running ahead)
    /// counts as fresh.
    ///
    /// # Errors
    /// [`AuthError::InvalidNonce`] if the nonce is malformed or its tag does
    /// not match (forged, tampered, or from another key);
    /// [`AuthError::StaleNonce`] if it is authentic but too old, in which
    /// case the caller re-challenges with `stale=true` when the response
    /// was otherwise correct.
    pub fn validate(&self, nonce: &str, now_unix_secs: u64) -> Result<u64, AuthError> {
        if nonce.len() != NONCE_LEN
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(AuthError::InvalidNonce);
        }
        let mut issued = [0u8; 8];
        let mut salt = [0u8; 8];
        let mut tag = [0u8; TAG_LEN];
        for (range, out) in [
            (0..16, issued.as_mut_slice()),
            (16..32, salt.as_mut_slice()),
            (32..NONCE_LEN, tag.as_mut_slice()),
        ] {
            let digits = nonce.get(range).ok_or(AuthError::InvalidNonce)?;
            hex::decode_to_slice(digits, out).map_err(|_| AuthError::InvalidNonce)?;
        }
        let expected = self.tag(issued, salt);
        if !bool::from(expected.ct_eq(&tag)) {
            return Err(AuthError::InvalidNonce);
        }
        let issued_at = u64::from_be_bytes(issued);
        if now_unix_secs.saturating_sub(issued_at) > self.max_age_secs {
            return Err(AuthError::StaleNonce);
        }
        Ok(issued_at)
    }

    fn tag(&self, issued: [u8; 8], salt: [u8; 8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(TAG_CONTEXT);
        mac.update(&issued);
        mac.update(&salt);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        for (dst, src) in tag.iter_mut().zip(full) {
            *dst = src;
        }
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const T0: u64 = 1_700_000_000;

    #[test]
    fn padded_key_is_plain_hmac() {
        // RFC 4231 test case 2 shape, with a 32-byte key: our padded
        // construction must equal the library's variable-length one.
        let ours = {
            let mut m = NonceIssuer::new(KEY).mac;
            m.update(b"what do ya want for nothing?");
            m.finalize().into_bytes()
        };
        let lib = {
            let mut m = <HmacSha256 as KeyInit>::new_from_slice(&KEY).expect("any key length");
            m.update(b"what do ya want for nothing?");
            m.finalize().into_bytes()
        };
        assert_eq!(ours, lib);
    }

    #[test]
    fn fresh_nonce_validates() {
        let issuer = NonceIssuer::new(KEY);
        let n = issuer.issue(T0);
        assert_eq!(n.len(), 64);
        assert_eq!(issuer.validate(&n, T0), Ok(T0));
        assert_eq!(issuer.validate(&n, T0 + 300), Ok(T0));
        // Clock behind the issuer (another node): still fresh.
        assert_eq!(issuer.validate(&n, T0 - 10), Ok(T0));
    }

    #[test]
    fn nonces_differ_within_a_second() {
        let issuer = NonceIssuer::new(KEY);
        assert_ne!(issuer.issue(T0), issuer.issue(T0));
        assert_eq!(issuer.issue_with_salt(T0, 1), issuer.issue_with_salt(T0, 1));
        assert_ne!(issuer.issue_with_salt(T0, 1), issuer.issue_with_salt(T0, 2));
    }

    #[test]
    fn stale_nonce_detected() {
        let issuer = NonceIssuer::new(KEY).with_max_age_secs(60);
        assert_eq!(issuer.max_age_secs(), 60);
        let n = issuer.issue_with_salt(T0, 42);
        assert_eq!(issuer.validate(&n, T0 + 60), Ok(T0));
        assert_eq!(issuer.validate(&n, T0 + 61), Err(AuthError::StaleNonce));
        assert_eq!(issuer.validate(&n, u64::MAX), Err(AuthError::StaleNonce));
    }

    #[test]
    fn tampered_nonce_rejected() {
        let issuer = NonceIssuer::new(KEY);
        let n = issuer.issue_with_salt(T0, 42);
        // Flip each hex digit in turn: time, salt and tag are all covered.
        for i in 0..n.len() {
            let mut bytes = n.clone().into_bytes();
            if let Some(b) = bytes.get_mut(i) {
                *b = if *b == b'0' { b'1' } else { b'0' };
            }
            let t = String::from_utf8(bytes).expect("ascii");
            assert_eq!(issuer.validate(&t, T0), Err(AuthError::InvalidNonce), "{i}");
        }
        // Pushing the issue time forward (to dodge staleness) breaks the tag.
        let forged = format!("{:016x}{}", T0 + 1000, n.get(16..).unwrap_or_default());
        assert_eq!(
            issuer.validate(&forged, T0 + 1000),
            Err(AuthError::InvalidNonce)
        );
        // Another key's nonce.
        let other = NonceIssuer::new([8; 32]).issue(T0);
        assert_eq!(issuer.validate(&other, T0), Err(AuthError::InvalidNonce));
        // Uppercase spelling of a valid nonce is not canonical.
        assert_eq!(
            issuer.validate(&n.to_ascii_uppercase(), T0),
            Err(AuthError::InvalidNonce)
        );
    }

    #[test]
    fn garbage_nonces_rejected_without_panic() {
        let issuer = NonceIssuer::new(KEY);
        let long = "a".repeat(10_000);
        let multibyte = "é".repeat(32);
        for s in [
            "",
            "0",
            "zz",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            &long,
            &multibyte,
        ] {
            assert_eq!(issuer.validate(s, T0), Err(AuthError::InvalidNonce), "{s}");
        }
        let n = issuer.issue(T0);
        let mut bad = n.get(..63).unwrap_or_default().to_owned();
        bad.push('g');
        assert_eq!(issuer.validate(&bad, T0), Err(AuthError::InvalidNonce));
    }

    #[test]
    fn debug_hides_key() {
        let s = format!("{:?}", NonceIssuer::new(KEY));
        assert!(s.contains("redacted"));
        assert!(!s.contains("mac"));
    }

    #[test]
    fn random_key_issuers_disagree() {
        let a = NonceIssuer::with_random_key();
        let b = NonceIssuer::with_random_key();
        assert_eq!(b.validate(&a.issue(T0), T0), Err(AuthError::InvalidNonce));
    }
}
