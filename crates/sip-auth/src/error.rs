//! The error type shared by every step of digest authentication.

use crate::qop::Qop;

/// Why a header value could not be tokenised into `scheme param=value, ...`.
///
/// Offsets are byte offsets into the header value that was given to the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The value is empty or only whitespace: there is no auth scheme.
    #[error("no authentication scheme")]
    MissingScheme,
    /// The scheme token is followed by something other than whitespace.
    #[error("expected whitespace after the scheme at byte {offset}")]
    ExpectedWhitespace {
        /// Where the offending byte is.
        offset: usize,
    },
    /// A parameter name (a token) was expected.
    #[error("expected a parameter name at byte {offset}")]
    ExpectedParamName {
        /// Where the offending byte is.
        offset: usize,
    },
    /// A parameter name is not followed by `=`.
    #[error("expected `=` at byte {offset}")]
    ExpectedEquals {
        /// Where the offending byte is.
        offset: usize,
    },
    /// Nothing follows `=`.
    #[error("expected a parameter value at byte {offset}")]
    ExpectedValue {
        /// Where the offending byte is.
        offset: usize,
    },
    /// A parameter value is followed by something other than `,`.
    #[error("expected `,` at byte {offset}")]
    ExpectedComma {
        /// Where the offending byte is.
        offset: usize,
    },
    /// A quoted string has no closing quote.
    #[error("unterminated quoted string starting at byte {offset}")]
    UnterminatedQuote {
        /// Where the opening quote is.
        offset: usize,
    },
}

/// Every reason digest authentication can fail, one variant per cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The credentials use a scheme other than `Digest` (e.g. `Basic`).
    #[error("authorization scheme is not Digest")]
    UnsupportedScheme,
    /// The header value is not well-formed `Digest param=value, ...`.
    #[error("malformed authorization header: {0}")]
    Syntax(#[from] SyntaxError),
    /// A parameter appears twice (names compare case-insensitively).
    #[error("duplicate parameter `{0}`")]
    DuplicateParam(String),
    /// A parameter the credentials cannot do without is absent.
    #[error("missing required parameter `{0}`")]
    MissingParam(&'static str),
    /// The `algorithm` parameter names an algorithm this crate does not know.
    #[error("unknown digest algorithm `{0}`")]
    UnknownAlgorithm(String),
    /// The `qop` parameter is neither `auth` nor `auth-int`.
    #[error("unknown qop `{0}`")]
    UnknownQop(String),
    /// The `qop` is known but not supported for verification (`auth-int`).
    #[error("qop `{0}` is not supported")]
    UnsupportedQop(Qop),
    /// The `nc` parameter is not exactly 8 hexadecimal digits, or is zero.
    #[error("nonce count is not 8 hexadecimal digits greater than zero")]
    InvalidNonceCount,
    /// The `realm` in the credentials is not the realm the server expects.
    #[error("realm does not match")]
    RealmMismatch,
    /// A stored HA1 was computed with another hash than the credentials use.
    #[error("stored HA1 does not match the requested algorithm")]
    AlgorithmMismatch,
    /// A stored HA1 is not lowercase/uppercase hex of the hash's length.
    #[error("stored HA1 is not hex of the expected length")]
    InvalidHa1,
    /// The `response` does not match: wrong password (or wrong method/uri).
    #[error("digest response does not match")]
    ResponseMismatch,
    /// The nonce was not minted by this server's key (forged or tampered).
    #[error("nonce was not issued by this server")]
    InvalidNonce,
    /// The nonce is authentic but too old: re-challenge with `stale=true`.
    #[error("nonce has expired")]
    StaleNonce,
    /// The nonce count was already used, or did not increase, for this nonce.
    #[error("nonce count replayed")]
    Replay,
    /// The challenge offered `qop="auth"` but the credentials carry no
    /// `qop` (RFC 2069 style): without `nc` and `cnonce` they have no replay
    /// protection, so a server that offered qop refuses them
    /// (RFC 7616 §3.4: the client MUST use a qop the server offered).
    #[error("qop was offered but the credentials carry none")]
    QopRequired,
}
