//! ITU-T G.711 companding, for asserting on the audio a phone hears:
//! µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
//!
//! Samples are 16-bit linear PCM. The encoders are the reference
//! algorithms (the tables of G.711 as coded in the public-domain Sun
//! `g711.c`): µ-law clips at ±32635 before biasing and decodes to at most
//! ±32124; A-law works on the top 13 bits and decodes to at most ±32256.
//! Decoding then encoding gives back every code, except µ-law's negative
//! zero `0x7F`, which decodes to 0 and encodes as `0xFF`.

/// µ-law's bias, added before the segment search (G.711 table 2a).
const ULAW_BIAS: i32 = 0x84;
/// The largest magnitude µ-law encodes before its bias would overflow.
const ULAW_CLIP: i32 = 32_635;
/// The top of each A-law segment, on 13-bit magnitudes.
const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// The µ-law code of a linear sample: `0` → `0xFF`, `32124` → `0x80`,
/// `-32124` → `0x00`; magnitudes past 32635 saturate.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign = if magnitude < 0 {
        magnitude = -magnitude;
        0x80
    } else {
        0
    };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // The segment is where the highest set bit lies above bit 7.
    let highest = 31 - biased.leading_zeros() as i32;
    let exponent = (highest - 7).clamp(0, 7);
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// The linear sample of a µ-law code: `0xFF` → 0, `0x80` → 32124,
/// `0x00` → -32124.
pub fn ulaw_decode(code: u8) -> i16 {
    let u = i32::from(!code);
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0F;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    let value = if u & 0x80 != 0 { -magnitude } else { magnitude };
    value as i16
}

/// The A-law code of a linear sample (even bits inverted, as sent):
/// `0` → `0xD5`, `-1` → `0x55`, `i16::MAX` → `0xAA`, `i16::MIN` → `0x2A`.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let Some(segment) = ALAW_SEGMENT_END.iter().position(|end| value <= *end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment as i32) << 4) | ((value >> shift) & 0x0F);
    (code as u8) ^ mask
}

/// The linear sample of an A-law code: `0xD5` → 8, `0x55` → -8,
/// `0xAA` → 32256, `0x2A` → -32256.
pub fn alaw_decode(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut magnitude = (a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => magnitude += 8,
        1 => magnitude += 0x108,
        _ => {
            magnitude += 0x108;
            magnitude <<= segment - 1;
        }
    }
    let value = if a & 0x80 != 0 { magnitude } else { -magnitude };
    value as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ulaw_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(32124), 0x80);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn known_alaw_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }
}
