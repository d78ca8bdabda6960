use thiserror::Error;

/// Why a dialog could not be created or a request did not fit it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The message lacks a header the dialog needs (Call-ID, CSeq, a tag…).
    #[error("missing or malformed {0}")]
    Missing(&'static str),
    /// The establishing request or response has no usable Contact (§12.1).
    #[error("no usable Contact to target")]
    NoContact,
    /// A remote request's CSeq is lower than the last one (§12.2.2): `500`.
    #[error("CSeq {got} is lower than the last remote CSeq {last}")]
    CSeqOutOfOrder {
        /// The request's CSeq.
        got: u32,
        /// The highest seen.
        last: u32,
    },
    /// The message belongs to another dialog.
    #[error("the message belongs to another dialog")]
    WrongDialog,
    /// The local CSeq would overflow 2^31 (RFC 3261 §8.1.1.5).
    #[error("local CSeq exhausted")]
    CSeqExhausted,
}
