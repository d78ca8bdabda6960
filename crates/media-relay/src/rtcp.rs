//! RTCP is passed through: the relay checks that a datagram is a sane
//! compound packet and, after a re-point, renames the sender so the far end
//! keeps hearing about one source.
//!
//! Hand-written rather than a full RTCP parser: walking the common headers
//! (RFC 3550 §6.4.1 / A.2) is all pass-through needs, and it costs a few
//! loads per packet where parsing every report block would cost far more.

use crate::Ssrc;

/// RTCP packet types (RFC 3550 §12.1).
const SR: u8 = 200;
const RR: u8 = 201;

/// Whether `data` is a valid compound RTCP packet: every packet version 2
/// with a packet type in 192..=223, and the length fields adding up to the
/// datagram length exactly (RFC 3550 A.2, without the "first is SR/RR"
/// rule so that reduced-size RTCP, RFC 5506, passes).
pub fn is_valid_compound(data: &[u8]) -> bool {
    let mut rest = data;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 || !(192..=223).contains(&rest[1]) {
            return false;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return false;
        }
        rest = &rest[len..];
    }
    true
}

/// Rewrites, in a compound packet [`is_valid_compound`] accepted, the
/// sender SSRC of each SR and RR whose sender is `from` to `to`, and
/// shifts an SR's RTP timestamp by `timestamp_offset` so that it stays in
/// step with the rewritten RTP stream (RFC 3550 §6.4.1 uses it for
/// lip-sync). Report blocks about the far end's own stream are left alone:
/// they describe a stream this relay does not rewrite.
pub fn rewrite_sender(data: &mut [u8], from: Ssrc, to: Ssrc, timestamp_offset: u32) {
    let mut at = 0;
    while at + 8 <= data.len() {
        let pt = data[at + 1];
        let len = (usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]])) + 1) * 4;
        if pt == SR || pt == RR {
            let ssrc = &mut data[at + 4..at + 8];
            if u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]) == from.0 {
                ssrc.copy_from_slice(&to.0.to_be_bytes());
                if pt == SR && at + 20 <= data.len() {
                    let ts = &mut data[at + 16..at + 20];
                    let old = u32::from_be_bytes([ts[0], ts[1], ts[2], ts[3]]);
                    ts.copy_from_slice(&old.wrapping_add(timestamp_offset).to_be_bytes());
                }
            }
        }
        at += len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sender report of `ssrc` with RTP timestamp `ts` and no report
    /// blocks (28 bytes).
    pub(crate) fn sender_report(ssrc: u32, ts: u32) -> Vec<u8> {
        let mut v = vec![0x80, SR, 0, 6];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[0; 8]); // NTP timestamp
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&[0; 8]); // packet and octet counts
        v
    }

    fn sdes(ssrc: u32) -> Vec<u8> {
        let mut v = vec![0x81, 202, 0, 2];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[1, 1, b'x', 0]); // CNAME "x", end
        v
    }

    #[test]
    fn accepts_compound_sr_plus_sdes() {
        let mut p = sender_report(1, 2);
        p.extend(sdes(1));
        assert!(is_valid_compound(&p));
    }

    #[test]
    fn refuses_wrong_version_type_and_length() {
        let good = sender_report(1, 2);
        let mut v = good.clone();
        v[0] = 0x40;
        assert!(!is_valid_compound(&v), "version 1");
        let mut v = good.clone();
        v[1] = 96;
        assert!(!is_valid_compound(&v), "an RTP payload type");
        let mut v = good.clone();
        v[3] = 7;
        assert!(!is_valid_compound(&v), "length past the end");
        let mut v = good.clone();
        v.extend_from_slice(&[0x80, 201]);
        assert!(!is_valid_compound(&v), "trailing fragment");
        assert!(!is_valid_compound(&[]));
    }

    #[test]
    fn rewrites_only_the_named_sender() {
        let mut p = sender_report(7, 1000);
        p.extend(sdes(7));
        rewrite_sender(&mut p, Ssrc(7), Ssrc(9), 500);
        assert_eq!(&p[4..8], &9u32.to_be_bytes());
        assert_eq!(&p[16..20], &1500u32.to_be_bytes());
        let mut q = sender_report(8, 1000);
        rewrite_sender(&mut q, Ssrc(7), Ssrc(9), 500);
        assert_eq!(q, sender_report(8, 1000));
    }
}
