use thiserror::Error;

/// Why the transaction layer refused an input from the TU or the wire.
///
/// A refusal never changes any transaction: the call had no effect.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A response was given where a request was expected.
    #[error("message is not a request")]
    NotARequest,
    /// A request was given where a response was expected.
    #[error("message is not a response")]
    NotAResponse,
    /// The message has no top Via, or it does not parse.
    #[error("missing or malformed top Via")]
    MissingVia,
    /// The message has no CSeq, or it does not parse.
    #[error("missing or malformed CSeq")]
    MissingCSeq,
    /// The message has no Call-ID (needed for RFC 2543 matching).
    #[error("missing Call-ID")]
    MissingCallId,
    /// A request the TU sends must carry an RFC 3261 branch
    /// (`z9hG4bK…`) in its top Via (RFC 3261 §8.1.1.7).
    #[error("top Via has no RFC 3261 branch")]
    MissingBranch,
    /// ACK never starts a client transaction: the ACK to a non-2xx is made
    /// by the INVITE client transaction, the ACK to a 2xx is sent by the TU
    /// without one (RFC 3261 §17.1.1.3, §13.2.2.4).
    #[error("ACK does not create a client transaction")]
    AckNotATransaction,
    /// A transaction with the same key exists (the branch is reused).
    #[error("a transaction with this key already exists")]
    DuplicateTransaction,
    /// No transaction has this key (it never existed or has terminated).
    #[error("no such transaction")]
    UnknownTransaction,
    /// A response was sent on a client transaction.
    #[error("responses are sent on server transactions only")]
    NotAServerTransaction,
    /// The status code is outside 100–699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// The transaction already sent a final response, so it takes no other
    /// (RFC 3261 §17.2.1, §17.2.2). Only further 2xx are allowed, in the
    /// Accepted state of an INVITE (RFC 6026 §8.6).
    #[error("a final response was already sent")]
    FinalAlreadySent,
}
