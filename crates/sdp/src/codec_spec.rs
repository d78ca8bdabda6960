use std::borrow::Cow;

use crate::Codec;

/// A format we are able to use, for [`negotiate`](crate::negotiate): a
/// codec without a payload type number, since the answer keeps the
/// offerer's numbers (RFC 3264 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodecSpec {
    /// Encoding name, compared without case.
    pub name: Cow<'static, str>,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: u16,
}

impl CodecSpec {
    /// G.711 µ-law.
    pub const PCMU: CodecSpec = CodecSpec::new_static("PCMU", 8000, 1);
    /// G.711 A-law.
    pub const PCMA: CodecSpec = CodecSpec::new_static("PCMA", 8000, 1);
    /// G.722 (RTP clock 8000, RFC 3551 §4.5.2).
    pub const G722: CodecSpec = CodecSpec::new_static("G722", 8000, 1);
    /// G.729.
    pub const G729: CodecSpec = CodecSpec::new_static("G729", 8000, 1);
    /// Opus (always `opus/48000/2`, RFC 7587 §7).
    pub const OPUS: CodecSpec = CodecSpec::new_static("opus", 48000, 2);

    /// A spec with a name known at compile time.
    pub const fn new_static(name: &'static str, clock_rate: u32, channels: u16) -> Self {
        CodecSpec {
            name: Cow::Borrowed(name),
            clock_rate,
            channels,
        }
    }

    /// A spec with a name read at run time (from configuration).
    pub fn new(name: impl Into<Cow<'static, str>>, clock_rate: u32, channels: u16) -> Self {
        CodecSpec {
            name: name.into(),
            clock_rate,
            channels,
        }
    }

    /// Whether `codec` is this format (name without case, clock rate,
    /// channels).
    pub fn matches(&self, codec: &Codec) -> bool {
        codec.name.eq_ignore_ascii_case(&self.name)
            && codec.clock_rate == self.clock_rate
            && codec.channels == self.channels
    }
}

impl From<&Codec> for CodecSpec {
    fn from(codec: &Codec) -> Self {
        CodecSpec::new(codec.name.clone(), codec.clock_rate, codec.channels)
    }
}
