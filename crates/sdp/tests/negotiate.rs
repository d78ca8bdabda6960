//! RFC 3264 offer/answer for the descriptions Baton answers itself.

mod samples;

use std::net::IpAddr;

use baton_sdp::{
    codec_matches, negotiate, Codec, CodecSpec, Direction, OriginRewriter, SdpError,
    SessionDescription, StreamState, UNANCHORED_PORT,
};

const G711: &[CodecSpec] = &[CodecSpec::PCMU, CodecSpec::PCMA];

fn ip(text: &str) -> IpAddr {
    text.parse().expect("IP literal")
}

fn codec_names(answer: &SessionDescription, media: usize) -> Vec<String> {
    answer
        .media(media)
        .expect("media")
        .codecs()
        .into_iter()
        .map(|c| format!("{} {}/{}", c.payload_type, c.name, c.clock_rate))
        .collect()
}

#[test]
fn intersection_in_the_offerers_order_with_its_payload_types() {
    let offer = samples::parse("polycom-vvx-offer.sdp");
    // Our preference order differs; the offerer's wins (RFC 3264 §6.1).
    let answer =
        negotiate(&offer, &[CodecSpec::PCMA, CodecSpec::G722, CodecSpec::PCMU]).expect("answer");
    assert_eq!(
        codec_names(&answer, 0),
        [
            "9 G722/8000",
            "0 PCMU/8000",
            "8 PCMA/8000",
            "127 telephone-event/8000"
        ]
    );
    assert_eq!(answer.media(0).expect("m").payload_types(), [9, 0, 8, 127]);
}

#[test]
fn dynamic_payload_types_and_fmtp_are_the_offerers() {
    let offer = samples::parse("baresip-1.0-offer.sdp");
    let answer = negotiate(&offer, &[CodecSpec::OPUS, CodecSpec::PCMU]).expect("answer");
    let codecs = answer.media(0).expect("audio").codecs();
    assert_eq!(codecs[0].payload_type, 96);
    assert_eq!(codecs[0].fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(codecs[2].payload_type, 101);
    assert_eq!(codecs[2].fmtp.as_deref(), Some("0-15"));
}

#[test]
fn telephone_event_is_kept_when_offered() {
    let answer =
        negotiate(&samples::parse("yealink-t46-offer.sdp"), &[CodecSpec::PCMU]).expect("answer");
    let media = answer.media(0).expect("m");
    assert_eq!(media.payload_types(), [0, 101]);
    assert_eq!(media.telephone_event(), Some(101));

    let without = negotiate(&samples::parse("sipp-uac.sdp"), G711).expect("answer");
    assert_eq!(without.media(0).expect("m").telephone_event(), None);
}

#[test]
fn telephone_event_at_the_kept_codecs_rate() {
    let offer = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 111 0 110 126\na=rtpmap:111 opus/48000/2\n\
         a=rtpmap:110 telephone-event/48000\na=rtpmap:126 telephone-event/8000\n",
    );
    let g711 = negotiate(&offer, G711).expect("answer");
    assert_eq!(g711.media(0).expect("m").payload_types(), [0, 126]);
    let opus = negotiate(&offer, &[CodecSpec::OPUS]).expect("answer");
    assert_eq!(opus.media(0).expect("m").payload_types(), [111, 110]);
}

#[test]
fn static_payload_types_get_an_rtpmap_and_ptime_is_echoed() {
    let offer = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 18 8\na=ptime:30\n",
    );
    let answer = negotiate(&offer, G711).expect("answer");
    let text = answer.to_string();
    assert!(
        text.contains(
            "m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:30\r\na=sendrecv\r\n"
        ),
        "{text}"
    );
}

#[test]
fn direction_is_answered() {
    let cases = [
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
        ("sendrecv", Direction::SendRecv),
    ];
    for (offered, answered) in cases {
        let offer = samples::parse_text(&format!(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na={offered}\n"
        ));
        let answer = negotiate(&offer, G711).expect("answer");
        let media = answer.media(0).expect("m");
        assert_eq!(media.declared_direction(), Some(answered), "{offered}");
    }
}

#[test]
fn session_level_and_legacy_hold_directions_are_answered() {
    let session = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=sendonly\nm=audio 4000 RTP/AVP 0\n",
    );
    let answer = negotiate(&session, G711).expect("answer");
    assert_eq!(
        answer.media(0).expect("m").declared_direction(),
        Some(Direction::RecvOnly)
    );

    let hold = negotiate(&samples::parse("legacy-hold-c0.sdp"), G711).expect("answer");
    assert_eq!(
        hold.media(0).expect("m").declared_direction(),
        Some(Direction::RecvOnly)
    );
}

#[test]
fn rejected_streams_are_answered_with_port_zero_in_place() {
    let offer = samples::parse("baresip-1.0-offer.sdp");
    let answer = negotiate(&offer, G711).expect("answer");
    assert_eq!(answer.media_count(), 2, "one m= per offered m=");
    let video = answer.media(1).expect("video");
    assert!(video.is_disabled());
    assert_eq!(video.media_type(), "video");
    assert_eq!(video.formats().collect::<Vec<_>>(), ["100", "101"]);
    assert_eq!(video.attributes().count(), 0);
}

#[test]
fn disabled_non_rtp_and_srtp_streams_are_rejected() {
    let offer = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 0 RTP/AVP 0\n\
         m=image 4002 udptl t38\n\
         m=audio 4004 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n\
         m=audio 4006 RTP/AVP 0\n",
    );
    let answer = negotiate(&offer, G711).expect("answer");
    let ports: Vec<u16> = answer.medias().map(|m| m.port()).collect();
    assert_eq!(ports, [0, 0, 0, UNANCHORED_PORT]);
    assert_eq!(answer.media(1).expect("image").protocol_name(), "udptl");
}

#[test]
fn no_common_codec() {
    let offer = samples::parse("sipp-uac.sdp");
    assert_eq!(
        negotiate(&offer, &[CodecSpec::G729]).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
    // telephone-event alone is not a usable stream.
    let dtmf_only = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n",
    );
    assert_eq!(
        negotiate(&dtmf_only, &[CodecSpec::G729]).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
    let webrtc = samples::parse("webrtc-jssip-offer.sdp");
    assert_eq!(
        negotiate(&webrtc, G711).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
    let empty = samples::parse_text("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n");
    assert_eq!(
        negotiate(&empty, G711).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn codec_names_match_without_case_and_by_rate_and_channels() {
    let offer = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 96 97\na=rtpmap:96 OPUS/48000/2\na=rtpmap:97 pcmu/16000\n",
    );
    let answer = negotiate(&offer, &[CodecSpec::OPUS, CodecSpec::PCMU]).expect("answer");
    assert_eq!(answer.media(0).expect("m").payload_types(), [96]);
    let mono_opus = CodecSpec::new(String::from("opus"), 48000, 1);
    assert_eq!(
        negotiate(&offer, &[mono_opus]).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn the_answer_must_be_anchored_and_rewritten_before_it_is_sent() {
    let offer = samples::parse("asterisk-answer.sdp");
    let mut answer = negotiate(&offer, G711).expect("answer");
    assert_eq!(
        answer.validate(),
        Err(SdpError::MissingConnection { media: 0 })
    );
    assert_eq!(answer.origin().username.as_deref(), Some("baton"));
    answer.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    OriginRewriter::new(5, ip("203.0.113.1")).rewrite(&mut answer);
    assert_eq!(
        answer.validate(),
        Ok(vec![StreamState::Active, StreamState::Disabled])
    );
    assert_eq!(
        answer.to_string(),
        "v=0\r\no=baton 5 1 IN IP4 203.0.113.1\r\ns=-\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 0 101\r\nc=IN IP4 203.0.113.1\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
         a=ptime:20\r\na=sendrecv\r\nm=video 0 RTP/AVP 99\r\n"
    );
    let reparsed = SessionDescription::parse(&answer.to_bytes()).expect("reparse");
    assert_eq!(reparsed, answer);
}

#[test]
fn handover_offer_must_carry_the_calls_codec() {
    let call_codec = samples::parse("yealink-t46-offer.sdp")
        .media(0)
        .expect("m")
        .codec(8)
        .expect("PCMA");
    // Another device offers PCMA under another payload type number.
    let renumbered = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 96\na=rtpmap:96 pcma/8000\n",
    );
    assert!(codec_matches(&call_codec, &renumbered));
    assert!(codec_matches(
        &call_codec,
        &samples::parse("polycom-vvx-offer.sdp")
    ));
    assert!(
        !codec_matches(&call_codec, &samples::parse("sipp-uac.sdp")),
        "PCMU only: 488"
    );
    let disabled = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 0 RTP/AVP 8\n",
    );
    assert!(!codec_matches(&call_codec, &disabled));
    let stereo = Codec {
        channels: 2,
        ..call_codec.clone()
    };
    assert!(!codec_matches(&stereo, &renumbered));
}
