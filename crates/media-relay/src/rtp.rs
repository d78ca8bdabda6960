//! The RTP header fields the relay reads and rewrites. Parsing and writing
//! go through `rtp-types` (version 2, CSRC list, extension and padding
//! lengths all checked against the datagram length). Forwarding never
//! looks at the payload, so telephone-events (RFC 4733) and any codec pass
//! untouched; only the handover extras (a key watch, a prompt tone, a
//! monitor mix) read or change it, on the legs they are turned on for.

use crate::Ssrc;
use rtp_types::{RtpPacket, RtpPacketMut};
use std::ops::Range;

/// The fixed-header fields of one RTP packet (RFC 3550 §5.1) that latching,
/// loss accounting and stream rewriting need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Synchronisation source.
    pub ssrc: Ssrc,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp, in the payload's clock.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
}

impl RtpHeader {
    /// Parses and validates `data` as one RTP packet; `None` if it is not
    /// a well-formed RTP version 2 packet.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let p = RtpPacket::parse(data).ok()?;
        Some(RtpHeader {
            ssrc: Ssrc(p.ssrc()),
            sequence: p.sequence_number(),
            timestamp: p.timestamp(),
            marker: p.marker_bit(),
            payload_type: p.payload_type(),
        })
    }

    /// Writes SSRC, sequence number, timestamp and marker into `data`, an
    /// RTP packet that [`RtpHeader::parse`] accepted. Returns false (and
    /// leaves `data` alone) if it is not one.
    pub fn write(&self, data: &mut [u8]) -> bool {
        let Ok(mut p) = RtpPacketMut::parse(data) else {
            return false;
        };
        p.set_ssrc(self.ssrc.0);
        p.set_sequence_number(self.sequence);
        p.set_timestamp(self.timestamp);
        p.set_marker_bit(self.marker);
        true
    }
}

/// Where the payload of the RTP packet `data` lies (after CSRCs and
/// extension, before padding); `None` if it is not RTP.
pub(crate) fn payload_range(data: &[u8]) -> Option<Range<usize>> {
    let p = RtpPacket::parse(data).ok()?;
    let start = p.payload_offset();
    Some(start..start + p.payload_len())
}

/// Whether a datagram that arrived on an RTP port is RTCP multiplexed on it
/// (RFC 5761 §4: the second octet of RTCP is a packet type in 192..=223,
/// which RTP avoids by not using payload types 64..=95 under rtcp-mux).
pub fn is_rtcp_mux(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 12-byte RTP header followed by `payload`.
    pub(crate) fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80, pt];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn reads_the_fixed_header() {
        let p = packet(0x80 | 8, 7, 160, 0xdead_beef, &[0; 160]);
        let h = RtpHeader::parse(&p).expect("rtp");
        assert_eq!(h.ssrc, Ssrc(0xdead_beef));
        assert_eq!(
            (h.sequence, h.timestamp, h.marker, h.payload_type),
            (7, 160, true, 8)
        );
    }

    #[test]
    fn refuses_short_wrong_version_and_lying_lengths() {
        assert!(
            RtpHeader::parse(&[0x80, 0, 0, 1]).is_none(),
            "shorter than 12"
        );
        let mut v1 = packet(0, 1, 1, 1, &[]);
        v1[0] = 0x40;
        assert!(RtpHeader::parse(&v1).is_none(), "version 1");
        let mut csrc = packet(0, 1, 1, 1, &[0; 4]);
        csrc[0] |= 0x02; // two CSRCs announced, one word present
        assert!(RtpHeader::parse(&csrc).is_none(), "CSRC list past the end");
        let mut ext = packet(0, 1, 1, 1, &[0xbe, 0xde, 0x00, 0x04]);
        ext[0] |= 0x10; // extension of 4 words announced, none present
        assert!(RtpHeader::parse(&ext).is_none(), "extension past the end");
        let mut pad = packet(0, 1, 1, 1, &[0, 0, 200]);
        pad[0] |= 0x20; // 200 bytes of padding in a 15-byte packet
        assert!(RtpHeader::parse(&pad).is_none(), "padding past the start");
    }

    #[test]
    fn accepts_csrcs_and_extensions_that_fit() {
        let mut p = packet(
            0,
            1,
            1,
            1,
            &[0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0xaa],
        );
        p[0] |= 0x10 | 0x01;
        assert!(RtpHeader::parse(&p).is_some());
    }

    #[test]
    fn write_changes_only_the_rewritten_fields() {
        let mut p = packet(101, 1, 2, 3, &[1, 2, 3, 4]);
        let mut h = RtpHeader::parse(&p).expect("rtp");
        h.ssrc = Ssrc(9);
        h.sequence = 10;
        h.timestamp = 11;
        h.marker = true;
        assert!(h.write(&mut p));
        assert_eq!(RtpHeader::parse(&p), Some(h));
        assert_eq!(&p[12..], &[1, 2, 3, 4], "payload untouched");
    }

    #[test]
    fn the_payload_range_skips_csrcs_and_padding() {
        let mut p = packet(0, 1, 1, 1, &[0, 0, 0, 9, 0xaa, 0xbb, 0, 0, 3]);
        p[0] |= 0x20 | 0x01; // one CSRC, three bytes of padding
        assert_eq!(payload_range(&p), Some(16..18));
        assert_eq!(payload_range(b"junk"), None);
    }

    #[test]
    fn rtcp_mux_is_told_apart_by_packet_type() {
        assert!(is_rtcp_mux(&[0x80, 200, 0, 6]));
        assert!(
            !is_rtcp_mux(&packet(0x80 | 8, 1, 1, 1, &[])),
            "PT 8 with marker"
        );
        assert!(!is_rtcp_mux(&packet(101, 1, 1, 1, &[])));
    }
}
