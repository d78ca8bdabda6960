//! Digest algorithms (`MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`) and the
//! hash functions behind them.

use std::fmt;
use std::str::FromStr;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::error::AuthError;

/// The hash function `H()` under a digest [`Algorithm`].
///
/// A precomputed HA1 is tied to one of these: an MD5 HA1 serves `MD5` and
/// `MD5-sess`, a SHA-256 HA1 serves `SHA-256` and `SHA-256-sess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestHash {
    /// MD5 (RFC 1321), 32 hex digits.
    Md5,
    /// SHA-256 (FIPS 180-4), 64 hex digits.
    Sha256,
}

impl DigestHash {
    /// Length of the lowercase hex encoding of one hash value.
    #[must_use]
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 => 64,
        }
    }

    /// `H(data)` as lowercase hex, as the digest computations need it.
    #[must_use]
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Self::Md5 => hex::encode(Md5::digest(data)),
            Self::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }

    /// `H(p1:p2:...:pn)`: the parts joined with `:` and hashed, lowercase hex.
    #[must_use]
    pub fn hex_joined(self, parts: &[&[u8]]) -> String {
        match self {
            Self::Md5 => hex::encode(joined::<Md5>(parts)),
            Self::Sha256 => hex::encode(joined::<Sha256>(parts)),
        }
    }
}

fn joined<D: md5::Digest>(parts: &[&[u8]]) -> md5::digest::Output<D> {
    let mut hasher = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    hasher.finalize()
}

/// A digest `algorithm` parameter value.
///
/// Parsing is case-insensitive; an absent parameter means [`Algorithm::Md5`]
/// (RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `MD5`, the default.
    #[default]
    Md5,
    /// `MD5-sess`: HA1 is re-hashed with the nonce and cnonce.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess` (RFC 7616, RFC 8760).
    Sha256Sess,
}

impl Algorithm {
    /// Every supported algorithm, strongest first.
    pub const ALL: [Self; 4] = [Self::Sha256, Self::Sha256Sess, Self::Md5, Self::Md5Sess];

    /// The canonical spelling used in challenges.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// The hash function `H()` of this algorithm.
    #[must_use]
    pub const fn hash(self) -> DigestHash {
        match self {
            Self::Md5 | Self::Md5Sess => DigestHash::Md5,
            Self::Sha256 | Self::Sha256Sess => DigestHash::Sha256,
        }
    }

    /// Whether this is a `-sess` variant (HA1 depends on nonce and cnonce).
    #[must_use]
    pub const fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    /// Case-insensitive; an unknown name is [`AuthError::UnknownAlgorithm`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| AuthError::UnknownAlgorithm(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("md5".parse::<Algorithm>(), Ok(Algorithm::Md5));
        assert_eq!("MD5-SESS".parse::<Algorithm>(), Ok(Algorithm::Md5Sess));
        assert_eq!("sha-256".parse::<Algorithm>(), Ok(Algorithm::Sha256));
        assert_eq!(
            "Sha-256-Sess".parse::<Algorithm>(),
            Ok(Algorithm::Sha256Sess)
        );
        assert_eq!(
            "SHA-512-256".parse::<Algorithm>(),
            Err(AuthError::UnknownAlgorithm("SHA-512-256".into()))
        );
        assert_eq!(
            "".parse::<Algorithm>(),
            Err(AuthError::UnknownAlgorithm(String::new()))
        );
    }

    #[test]
    fn round_trips_display() {
        for a in Algorithm::ALL {
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        }
    }

    #[test]
    fn hashes_known_vectors() {
        assert_eq!(DigestHash::Md5.hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            DigestHash::Sha256.hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            DigestHash::Md5.hex_joined(&[b"a", b"b", b"c"]),
            DigestHash::Md5.hex(b"a:b:c")
        );
        assert_eq!(
            DigestHash::Sha256.hex(b"x").len(),
            DigestHash::Sha256.hex_len()
        );
        assert_eq!(DigestHash::Md5.hex(b"x").len(), DigestHash::Md5.hex_len());
    }
}
