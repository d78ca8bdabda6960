//! G.711 (ITU-T, 1988) µ-law and A-law: 8-bit codes to 16-bit linear
//! samples and back, for the few places the relay touches audio (prompt
//! tones, the monitor mix).
//!
//! Written here rather than taken from crates.io: the registry's search
//! was not reachable to vet a crate, and the codec is two short,
//! well-known algorithms (the reference `g711.c`), checked below against
//! the standard's table values and by round trips over every code.
//! Decoding is a table built at compile time; encoding is a few shifts.

/// A G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU, static RTP payload type 0).
    Mu,
    /// A-law (PCMA, static RTP payload type 8).
    A,
}

impl Law {
    /// The law of a static RTP payload type (RFC 3551): 0 is PCMU, 8 is
    /// PCMA; `None` for any other.
    pub fn of_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Mu),
            8 => Some(Law::A),
            _ => None,
        }
    }

    /// The static payload type carrying this law.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The linear sample a code stands for.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mu => MU_TABLE[usize::from(code)],
            Law::A => A_TABLE[usize::from(code)],
        }
    }

    /// The code nearest to a linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => mu_encode(sample),
            Law::A => a_encode(sample),
        }
    }
}

const MU_BIAS: i32 = 0x84;
const MU_CLIP: i32 = 32_636; // 8159 in the 14-bit domain

const MU_TABLE: [i16; 256] = table(Law::Mu);
const A_TABLE: [i16; 256] = table(Law::A);

const fn table(law: Law) -> [i16; 256] {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Mu => mu_decode(i as u8),
            Law::A => a_decode(i as u8),
        };
        i += 1;
    }
    t
}

const fn mu_decode(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + MU_BIAS) << exponent) - MU_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

fn mu_encode(sample: i16) -> u8 {
    // 14-bit magnitude, as the reference coder works: the shift comes
    // before the sign is taken, so negative values round away from zero.
    let s = i32::from(sample) >> 2;
    let (mask, magnitude) = if s < 0 { (0x7f, -s) } else { (0xff, s) };
    let biased = magnitude.min(MU_CLIP >> 2) + (MU_BIAS >> 2); // 0x21..=0x2000
                                                               // The segment is where the highest set bit sits above bit 5.
    let segment = 31 - biased.leading_zeros() as i32 - 5;
    if segment > 7 {
        return 0x7f ^ mask;
    }
    let code = ((segment << 4) | ((biased >> (segment + 1)) & 0x0f)) as u8;
    code ^ mask
}

const fn a_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    t = match segment {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (segment - 1),
    };
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

fn a_encode(sample: i16) -> u8 {
    // 13-bit magnitude, as the reference coder works.
    let s = i32::from(sample) >> 3;
    let (mask, magnitude) = if s >= 0 { (0xd5, s) } else { (0x55, -s - 1) };
    if magnitude > 0xfff {
        return 0x7f ^ mask;
    }
    // Segment 0 and 1 share a step size; above, each doubles it.
    let segment = 32 - (magnitude >> 5).leading_zeros() as i32;
    let step = if segment < 2 { 1 } else { segment };
    let code = ((segment << 4) | ((magnitude >> step) & 0x0f)) as u8;
    code ^ mask
}

/// Adds `b` to `a`, clipped to the 16-bit range.
pub(crate) fn mix(a: i16, b: i16) -> i16 {
    a.saturating_add(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mu_law_matches_the_standard_table() {
        // Values of the reference ulaw2linear table (16-bit scale).
        for (code, linear) in [
            (0x00, -32_124),
            (0x01, -31_100),
            (0x0f, -16_764),
            (0x10, -15_996),
            (0x7e, -8),
            (0x7f, 0),
            (0x80, 32_124),
            (0xe0, 372),
            (0xe7, 260),
            (0xf0, 120),
            (0xfe, 8),
            (0xff, 0),
        ] {
            assert_eq!(Law::Mu.decode(code), linear, "code {code:#04x}");
        }
        assert_eq!(Law::Mu.encode(0), 0xff);
        assert_eq!(Law::Mu.encode(i16::MAX), 0x80);
        assert_eq!(Law::Mu.encode(i16::MIN), 0x00);
        assert_eq!(Law::Mu.encode(1000), 0xce);
        assert_eq!(Law::Mu.encode(-1000), 0x4e);
    }

    #[test]
    fn a_law_matches_the_standard_table() {
        // Values of the reference alaw2linear table (16-bit scale).
        for (code, linear) in [
            (0x00, -5504),
            (0x2a, -32_256),
            (0x55, -8),
            (0x80, 5504),
            (0xaa, 32_256),
            (0xd5, 8),
            (0xd4, 24),
            (0xff, 848),
        ] {
            assert_eq!(Law::A.decode(code), linear, "code {code:#04x}");
        }
        assert_eq!(Law::A.encode(0), 0xd5);
        assert_eq!(Law::A.encode(-1), 0x55);
        assert_eq!(Law::A.encode(i16::MAX), 0xaa);
        assert_eq!(Law::A.encode(i16::MIN), 0x2a);
        assert_eq!(Law::A.encode(1000), 0xfa);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(Law::A.encode(Law::A.decode(code)), code, "A {code:#04x}");
            // µ-law has two zeros; 0x7f (negative zero) comes back as 0xff.
            let mu = if code == 0x7f { 0xff } else { code };
            assert_eq!(Law::Mu.encode(Law::Mu.decode(code)), mu, "µ {code:#04x}");
        }
    }

    #[test]
    fn encoding_picks_a_code_whose_value_is_near() {
        for law in [Law::Mu, Law::A] {
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let back = i32::from(law.decode(law.encode(s)));
                let s = i32::from(s);
                // Quantisation error stays within one step of the segment:
                // at most 1/16 of the magnitude plus the smallest step.
                let bound = s.abs() / 16 + 40;
                assert!((back - s).abs() <= bound, "{law:?} {s} -> {back}");
            }
        }
    }

    #[test]
    fn whole_tables_agree_with_an_independent_coder() {
        // Weighted sums over every code and every sample, computed with
        // CPython's `audioop` (ulaw2lin, alaw2lin, lin2ulaw, lin2alaw).
        let decoded = |law: Law| -> i64 {
            (0..=255u8)
                .map(|c| (i64::from(c) + 1) * i64::from(law.decode(c)))
                .sum()
        };
        assert_eq!(decoded(Law::Mu), 98_107_392);
        assert_eq!(decoded(Law::A), 100_139_008);
        let encoded = |law: Law| -> i64 {
            (i16::MIN..=i16::MAX)
                .map(|s| ((i64::from(s) + 32_768) % 997) * i64::from(law.encode(s)))
                .sum()
        };
        assert_eq!(encoded(Law::Mu), 2_831_842_386);
        assert_eq!(encoded(Law::A), 3_464_935_143);
    }

    #[test]
    fn payload_types_name_their_law() {
        assert_eq!(Law::of_payload_type(0), Some(Law::Mu));
        assert_eq!(Law::of_payload_type(8), Some(Law::A));
        assert_eq!(Law::of_payload_type(101), None);
        assert_eq!(Law::A.payload_type(), 8);
        assert_eq!(mix(30_000, 30_000), i16::MAX);
        assert_eq!(mix(-30_000, -30_000), i16::MIN);
    }
}
