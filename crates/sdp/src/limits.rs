/// Hard caps applied before the body reaches the parser. Anything over a cap
/// is refused, so a hostile peer cannot make the parser allocate without
/// bound (10,000 `m=` lines, a megabyte of attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_bytes: usize,
    /// Most media descriptions (`m=` lines).
    pub max_media: usize,
    /// Most attributes (`a=` lines), session and media levels together.
    pub max_attributes: usize,
}

impl Limits {
    /// The caps Baton uses: the SIP body cap of `sip-message` (32 KiB), room
    /// for a WebRTC offer with audio, video and a dozen ICE candidates each,
    /// and far below what would cost anything to parse.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 32 * 1024,
        max_media: 32,
        max_attributes: 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
