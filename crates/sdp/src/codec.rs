/// One payload format of an RTP stream: what `a=rtpmap` says about a payload
/// type (RFC 8866 §6.6), or what RFC 3551 assigns to a static one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The payload type number, 0–127.
    pub payload_type: u8,
    /// Encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels; 1 when the rtpmap names none (RFC 8866 §6.6).
    pub channels: u16,
    /// The `a=fmtp` parameters for this payload type, as written.
    pub fmtp: Option<String>,
}

/// RFC 3551 §6 tables 4 and 5: the static payload types, which a description
/// may list without `a=rtpmap`.
const STATIC: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    // G.722 samples at 16 kHz but its RTP clock is 8000 (RFC 3551 §4.5.2).
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
    (25, "CelB", 90000, 1),
    (26, "JPEG", 90000, 1),
    (28, "nv", 90000, 1),
    (31, "H261", 90000, 1),
    (32, "MPV", 90000, 1),
    (33, "MP2T", 90000, 1),
    (34, "H263", 90000, 1),
];

impl Codec {
    /// The codec RFC 3551 assigns to a static payload type (0 = PCMU/8000,
    /// 8 = PCMA/8000, 9 = G722/8000, 18 = G729/8000, …); `None` for a
    /// dynamic or unassigned one.
    pub fn from_static(payload_type: u8) -> Option<Codec> {
        STATIC.iter().find(|(pt, ..)| *pt == payload_type).map(
            |&(payload_type, name, clock_rate, channels)| Codec {
                payload_type,
                name: name.to_owned(),
                clock_rate,
                channels,
                fmtp: None,
            },
        )
    }

    /// Whether both describe the same format: encoding name (ignoring case),
    /// clock rate and channels. The payload type number may differ, as it
    /// does between the two legs of a call.
    pub fn same_format(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// Whether this is RFC 4733 DTMF (`telephone-event`).
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// Reads an `a=rtpmap` value with sdp-types; `None` when it does not
    /// parse or its channel count is not a number.
    pub(crate) fn from_rtpmap(value: &str) -> Option<Codec> {
        let rtpmap: sdp_types::RtpMap = value.trim().parse().ok()?;
        let channels = match rtpmap.encoding_params.as_deref() {
            None => 1,
            Some(channels) => channels.trim().parse().ok()?,
        };
        let name = rtpmap.encoding_name.trim();
        if name.is_empty() {
            return None;
        }
        Some(Codec {
            payload_type: rtpmap.payload_type,
            name: name.to_owned(),
            clock_rate: rtpmap.clock_rate,
            channels,
            fmtp: None,
        })
    }

    /// The `a=rtpmap` value for this codec: `<pt> <name>/<rate>[/<channels>]`.
    pub(crate) fn rtpmap_value(&self) -> String {
        let mut rtpmap =
            sdp_types::RtpMap::new(self.payload_type, self.name.as_str(), self.clock_rate);
        if self.channels != 1 {
            rtpmap.set_encoding_params(self.channels);
        }
        rtpmap.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_payload_types_are_known_without_rtpmap() {
        for (pt, name) in [(0, "PCMU"), (8, "PCMA"), (9, "G722"), (18, "G729")] {
            let codec = Codec::from_static(pt).expect("static");
            assert_eq!((codec.name.as_str(), codec.clock_rate), (name, 8000));
        }
        assert_eq!(Codec::from_static(96), None);
        assert_eq!(Codec::from_static(2), None, "2 was withdrawn by RFC 3551");
    }

    #[test]
    fn rtpmap_is_read_with_channels_and_tolerates_extra_spaces() {
        let opus = Codec::from_rtpmap("96 opus/48000/2").expect("rtpmap");
        assert_eq!((opus.payload_type, opus.channels), (96, 2));
        let pcmu = Codec::from_rtpmap("0  pcmu/8000").expect("rtpmap");
        assert_eq!(pcmu.name, "pcmu");
        assert_eq!(Codec::from_rtpmap("200 PCMU/8000"), None);
        assert_eq!(Codec::from_rtpmap("96 opus/48000/stereo"), None);
        assert_eq!(Codec::from_rtpmap("96 /8000"), None);
    }

    #[test]
    fn same_format_ignores_case_and_payload_type() {
        let a = Codec::from_rtpmap("101 telephone-event/8000").expect("rtpmap");
        let b = Codec::from_rtpmap("126 Telephone-Event/8000").expect("rtpmap");
        let c = Codec::from_rtpmap("110 telephone-event/48000").expect("rtpmap");
        assert!(a.same_format(&b) && a.is_telephone_event());
        assert!(!a.same_format(&c));
    }

    #[test]
    fn rtpmap_value_writes_channels_only_when_not_one() {
        let opus = Codec::from_rtpmap("96 opus/48000/2").expect("rtpmap");
        assert_eq!(opus.rtpmap_value(), "96 opus/48000/2");
        let pcma = Codec::from_static(8).expect("static");
        assert_eq!(pcma.rtpmap_value(), "8 PCMA/8000");
    }
}
