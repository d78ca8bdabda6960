use thiserror::Error;

/// What a REGISTER achieved: the AOR's bindings after it, for the `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// `(contact value, seconds left)` for every current binding.
    pub bindings: Vec<(String, u64)>,
    /// Bindings added.
    pub added: usize,
    /// Bindings removed.
    pub removed: usize,
}

/// Why a REGISTER was refused, with the status the node answers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// `Contact: *` with other contacts or a non-zero Expires (§10.3 step 6): `400`.
    #[error("Contact * needs Expires: 0 and no other Contact")]
    BadWildcard,
    /// A Contact does not parse or is not a SIP/SIPS/tel URI: `400`.
    #[error("malformed Contact")]
    BadContact,
    /// The AOR (To) is not a SIP URI: `400`.
    #[error("the address of record must be a SIP URI")]
    BadAor,
    /// Expiration shorter than the minimum: `423` with `Min-Expires`.
    #[error("interval too brief; at least {min_secs} s")]
    IntervalTooBrief {
        /// The minimum, for `Min-Expires`.
        min_secs: u64,
    },
    /// More contacts than the AOR may hold (a Contact storm): `403`.
    #[error("at most {limit} contacts per address of record")]
    TooManyBindings {
        /// The cap.
        limit: usize,
    },
    /// Same Call-ID and a CSeq not above the stored one (§10.3 step 7):
    /// an old request arriving late; `500` with Retry-After per the RFC's "fails".
    #[error("out-of-order REGISTER (CSeq not above the binding's)")]
    OutOfOrder,
}

impl Refusal {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadWildcard | Refusal::BadContact | Refusal::BadAor => 400,
            Refusal::IntervalTooBrief { .. } => 423,
            Refusal::TooManyBindings { .. } => 403,
            Refusal::OutOfOrder => 500,
        }
    }
}
