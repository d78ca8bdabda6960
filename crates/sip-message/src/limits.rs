/// Hard caps applied while framing and parsing. Anything over a cap is refused,
/// never buffered: a hostile peer cannot make the parser allocate without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header section (start line to the empty line), in bytes.
    pub max_head_bytes: usize,
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Most header fields in one message, after comma lists are split.
    pub max_headers: usize,
}

impl Limits {
    /// The caps Baton uses on the wire: generous for real phones (RFC 4475
    /// `longreq` is 3.5 KiB) and small enough that a flood costs little.
    pub const DEFAULT: Limits = Limits {
        max_head_bytes: 16 * 1024,
        max_body_bytes: 32 * 1024,
        max_headers: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
