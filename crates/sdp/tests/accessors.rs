//! What the accessors read from real and hand-made bodies.

mod samples;

use std::net::IpAddr;

use baton_sdp::{Codec, Direction, MediaKind, Rtcp, TransportProtocol};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("IP literal")
}

#[test]
fn origin_fields() {
    let origin = samples::parse("sipp-uac.sdp").origin();
    assert_eq!(origin.username.as_deref(), Some("user1"));
    assert_eq!(origin.session_id, "53655765");
    assert_eq!(origin.session_version, 2353687637);
    assert_eq!(origin.address, "127.0.1.1");
    assert_eq!(origin.ip(), Some(ip("127.0.1.1")));

    let dash = samples::parse("baresip-1.0-offer.sdp").origin();
    assert_eq!(dash.username, None, "o=- has no user name");

    let host = samples::parse("rfc5118-mult-ip-in-sdp.sdp").origin();
    assert_eq!(host.address, "host.example.com");
    assert_eq!(host.ip(), None);
}

#[test]
fn session_ids_longer_than_64_bits_are_kept() {
    let sdp = samples::parse_text(
        "v=0\no=- 1234567890123456789012345 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
    );
    assert_eq!(sdp.origin().session_id, "1234567890123456789012345");
}

#[test]
fn session_connection_is_the_default_for_media() {
    let sdp = samples::parse("sipp-uac.sdp");
    assert_eq!(sdp.connection_address(), Some(ip("127.0.1.1")));
    let media = sdp.media(0).expect("media");
    assert_eq!(media.connection_address(), Some(ip("127.0.1.1")));
    assert_eq!(media.own_connection_address(), None);
}

#[test]
fn media_connection_overrides_session_connection() {
    let sdp = samples::parse("grandstream-rtcp.sdp");
    assert_eq!(sdp.connection_address(), Some(ip("198.51.100.44")));
    let media = sdp.media(0).expect("media");
    assert_eq!(media.connection_address(), Some(ip("198.51.100.45")));
}

#[test]
fn rfc5118_ipv6_session_connection() {
    let sdp = samples::parse("rfc5118-ipv6-in-sdp.sdp");
    assert_eq!(sdp.connection_address(), Some(ip("2001:db8::20")));
    assert_eq!(sdp.origin().ip(), Some(ip("2001:db8::20")));
    let ports: Vec<u16> = sdp.medias().map(|m| m.port()).collect();
    assert_eq!(ports, [6000, 6024]);
    assert!(sdp
        .medias()
        .all(|m| m.connection_address() == Some(ip("2001:db8::20"))));
}

#[test]
fn rfc5118_mixed_families_per_media() {
    let sdp = samples::parse("rfc5118-mult-ip-in-sdp.sdp");
    assert_eq!(sdp.connection_address(), None);
    assert_eq!(sdp.session_name(), "");
    let audio = sdp.media(0).expect("audio");
    let video = sdp.media(1).expect("video");
    assert_eq!(audio.connection_address(), Some(ip("192.0.2.1")));
    assert_eq!(video.connection_address(), Some(ip("2001:db8::1")));
    assert_eq!(
        (audio.kind(), video.kind()),
        (MediaKind::Audio, MediaKind::Video)
    );
}

#[test]
fn kinds_ports_and_protocols() {
    let sdp = samples::parse("baresip-1.0-offer.sdp");
    assert_eq!(sdp.media_count(), 2);
    let audio = sdp.media(0).expect("audio");
    assert_eq!(audio.index(), 0);
    assert_eq!(audio.kind(), MediaKind::Audio);
    assert_eq!(audio.media_type(), "audio");
    assert_eq!(audio.port(), 10938);
    assert_eq!(audio.port_count(), None);
    assert_eq!(audio.protocol(), TransportProtocol::RtpAvp);
    assert_eq!(audio.protocol_name(), "RTP/AVP");
    assert!(sdp.media(2).is_none());

    let snom = samples::parse("snom-srtp.sdp");
    assert_eq!(
        snom.media(0).expect("media").protocol(),
        TransportProtocol::RtpSavp
    );
    let webrtc = samples::parse("webrtc-jssip-offer.sdp");
    assert_eq!(
        webrtc.media(0).expect("media").protocol(),
        TransportProtocol::UdpTlsRtpSavpf
    );
}

#[test]
fn other_media_kinds_and_non_rtp_formats() {
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=image 4002 udptl t38\na=T38FaxVersion:0\n\
         m=application 5000/2 TCP/MSRP *\n",
    );
    let fax = sdp.media(0).expect("image");
    assert_eq!(fax.kind(), MediaKind::Other);
    assert_eq!(fax.protocol(), TransportProtocol::Udptl);
    assert_eq!(fax.formats().collect::<Vec<_>>(), ["t38"]);
    assert!(fax.payload_types().is_empty() && fax.codecs().is_empty());
    let msrp = sdp.media(1).expect("application");
    assert_eq!(msrp.protocol(), TransportProtocol::Other);
    assert_eq!(msrp.port_count(), Some(2));
}

#[test]
fn payload_types_in_offer_order() {
    let sdp = samples::parse("polycom-vvx-offer.sdp");
    let media = sdp.media(0).expect("media");
    assert_eq!(media.payload_types(), [9, 102, 0, 8, 18, 127]);
}

#[test]
fn codecs_from_rtpmap_with_channels_and_fmtp() {
    let sdp = samples::parse("baresip-1.0-offer.sdp");
    let codecs = sdp.media(0).expect("audio").codecs();
    let summary: Vec<(u8, &str, u32, u16)> = codecs
        .iter()
        .map(|c| (c.payload_type, c.name.as_str(), c.clock_rate, c.channels))
        .collect();
    assert_eq!(
        summary,
        [
            (96, "opus", 48000, 2),
            (97, "L16", 48000, 2),
            (9, "G722", 8000, 1),
            (0, "PCMU", 8000, 1),
            (8, "PCMA", 8000, 1),
            (101, "telephone-event", 8000, 1),
        ]
    );
    assert_eq!(codecs[0].fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(codecs[5].fmtp.as_deref(), Some("0-15"));
    assert_eq!(codecs[3].fmtp, None);

    // The video stream reuses PT 101 for VP8: PTs are per media.
    let video = sdp.media(1).expect("video").codec(101).expect("vp8");
    assert_eq!((video.name.as_str(), video.clock_rate), ("VP8", 90000));
    assert_eq!(video.fmtp.as_deref(), Some("max-fs=3600;max-fr=30"));
}

#[test]
fn static_payload_types_without_rtpmap() {
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 8 18 9 96\n",
    );
    let names: Vec<String> = sdp
        .media(0)
        .expect("media")
        .codecs()
        .into_iter()
        .map(|c| format!("{}/{}", c.name, c.clock_rate))
        .collect();
    // 96 has no rtpmap, so nobody can know what it is.
    assert_eq!(names, ["PCMU/8000", "PCMA/8000", "G729/8000", "G722/8000"]);
}

#[test]
fn rtpmap_overrides_the_static_assignment() {
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 18\na=rtpmap:18 G729a/8000\na=fmtp:18 annexb=no\n",
    );
    let codec = sdp.media(0).expect("media").codec(18).expect("codec");
    assert_eq!(codec.name, "G729a");
    assert_eq!(codec.fmtp.as_deref(), Some("annexb=no"));
}

#[test]
fn unreadable_rtpmap_falls_back_or_drops_the_codec() {
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 97\na=rtpmap:0 PCMU/eight\na=rtpmap:97 iLBC\n",
    );
    let media = sdp.media(0).expect("media");
    assert_eq!(media.codecs(), vec![Codec::from_static(0).expect("static")]);
}

#[test]
fn telephone_event_payload_type() {
    let polycom = samples::parse("polycom-vvx-offer.sdp");
    assert_eq!(polycom.media(0).expect("m").telephone_event(), Some(127));
    let sipp = samples::parse("sipp-uac.sdp");
    assert_eq!(sipp.media(0).expect("m").telephone_event(), None);
    // Opus at 48 kHz is preferred, so the 48 kHz event wins over 8 kHz.
    let webrtc = samples::parse("webrtc-jssip-offer.sdp");
    assert_eq!(webrtc.media(0).expect("m").telephone_event(), Some(110));
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0 110 126\na=rtpmap:110 telephone-event/48000\na=rtpmap:126 telephone-event/8000\n",
    );
    assert_eq!(sdp.media(0).expect("m").telephone_event(), Some(126));
}

#[test]
fn ptime_and_rtcp() {
    let grandstream = samples::parse("grandstream-rtcp.sdp");
    let media = grandstream.media(0).expect("media");
    assert_eq!(media.ptime(), Some(30));
    assert_eq!(
        media.rtcp(),
        Some(Rtcp {
            port: 5005,
            address: Some(ip("198.51.100.45"))
        })
    );
    let webrtc = samples::parse("webrtc-jssip-offer.sdp");
    assert_eq!(
        webrtc.media(0).expect("media").rtcp(),
        Some(Rtcp {
            port: 9,
            address: Some(ip("0.0.0.0"))
        })
    );
    let sipp = samples::parse("sipp-uac.sdp");
    assert_eq!(sipp.media(0).expect("m").ptime(), None);
    assert_eq!(sipp.media(0).expect("m").rtcp(), None);
    let bare = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtcp:4001\na=ptime:abc\n",
    );
    let media = bare.media(0).expect("m");
    assert_eq!(
        media.rtcp(),
        Some(Rtcp {
            port: 4001,
            address: None
        })
    );
    assert_eq!(media.ptime(), None);
}

#[test]
fn direction_defaults_to_sendrecv() {
    let sdp = samples::parse("sipp-uac.sdp");
    assert_eq!(sdp.direction(), None);
    let media = sdp.media(0).expect("m");
    assert_eq!(media.declared_direction(), None);
    assert_eq!(media.direction(), Direction::SendRecv);
}

#[test]
fn media_direction_read_from_each_sample() {
    let direction = |name| samples::parse(name).media(0).expect(name).direction();
    assert_eq!(direction("yealink-t46-hold.sdp"), Direction::SendOnly);
    assert_eq!(direction("grandstream-rtcp.sdp"), Direction::RecvOnly);
    assert_eq!(direction("yealink-t46-offer.sdp"), Direction::SendRecv);
}

#[test]
fn session_direction_is_the_default_and_media_overrides_it() {
    let sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=inactive\n\
         m=audio 4000 RTP/AVP 0\n\
         m=video 4002 RTP/AVP 31\na=recvonly\n",
    );
    assert_eq!(sdp.direction(), Some(Direction::Inactive));
    assert_eq!(
        sdp.media(0).expect("audio").direction(),
        Direction::Inactive
    );
    assert_eq!(
        sdp.media(1).expect("video").direction(),
        Direction::RecvOnly
    );
}

#[test]
fn legacy_hold_with_zero_address() {
    let sdp = samples::parse("legacy-hold-c0.sdp");
    let media = sdp.media(0).expect("m");
    assert!(media.is_legacy_hold());
    assert_eq!(media.declared_direction(), None);
    // Nobody can send to 0.0.0.0: the holder only sends.
    assert_eq!(media.direction(), Direction::SendOnly);

    let recvonly = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\na=recvonly\n",
    );
    assert_eq!(
        recvonly.media(0).expect("m").direction(),
        Direction::Inactive
    );
    let sipp = samples::parse("sipp-uac.sdp");
    assert!(!sipp.media(0).expect("m").is_legacy_hold());
}

#[test]
fn attributes_in_order_at_both_levels() {
    let sdp = samples::parse("webrtc-jssip-offer.sdp");
    let session: Vec<(&str, Option<&str>)> = sdp.attributes().map(|a| (a.name, a.value)).collect();
    assert_eq!(
        session,
        [
            ("group", Some("BUNDLE 0")),
            ("extmap-allow-mixed", None),
            (
                "msid-semantic",
                Some(" WMS 0f3f6d5e-4c8a-4a4b-9d3c-5b8f4e2a1c7d")
            ),
        ]
    );
    let media = sdp.media(0).expect("m");
    assert!(media.has_attribute("ICE-UFRAG"));
    assert_eq!(media.attributes().filter(|a| a.is_ice()).count(), 7);
}

#[test]
fn set_direction_replaces_the_attribute_in_place() {
    let mut sdp = samples::parse("yealink-t46-offer.sdp");
    sdp.set_direction(0, Direction::SendOnly).expect("media 0");
    let media = sdp.media(0).expect("m");
    assert_eq!(media.direction(), Direction::SendOnly);
    let names: Vec<&str> = media.attributes().map(|a| a.name).collect();
    assert_eq!(names.last(), Some(&"sendonly"));
    assert_eq!(names.iter().filter(|n| **n == "sendrecv").count(), 0);

    let mut sipp = samples::parse("sipp-uac.sdp");
    sipp.set_direction(0, Direction::Inactive).expect("media 0");
    assert!(sipp
        .to_string()
        .ends_with("a=rtpmap:0 PCMU/8000\r\na=inactive\r\n"));
    assert!(sipp.set_direction(1, Direction::Inactive).is_err());
}
