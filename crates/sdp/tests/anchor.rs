//! Anchoring: every stream that crosses Baton points at the relay.

mod samples;

use std::net::IpAddr;

use baton_sdp::{Rtcp, SdpError, SessionDescription, StreamState};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("IP literal")
}

fn lines(sdp: &SessionDescription) -> Vec<String> {
    sdp.to_string().lines().map(str::to_owned).collect()
}

/// The `c=` lines; the device's address stays in `o=` until
/// `OriginRewriter` replaces it.
fn connection_lines(sdp: &SessionDescription) -> String {
    lines(sdp)
        .into_iter()
        .filter(|line| line.starts_with("c="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn single_stream_keeps_its_shape() {
    let mut sdp = samples::parse("yealink-t46-offer.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    let mut expected: Vec<String> = lines(&samples::parse("yealink-t46-offer.sdp"));
    expected[3] = "c=IN IP4 203.0.113.1".into();
    expected[5] = "m=audio 20000 RTP/AVP 0 8 18 9 101".into();
    assert_eq!(lines(&sdp), expected);
}

#[test]
fn session_and_media_connection_both_become_the_relay() {
    let mut sdp = samples::parse("grandstream-rtcp.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    let text = connection_lines(&sdp);
    assert!(
        !text.contains("198.51.100."),
        "device address leaked:\n{text}"
    );
    assert_eq!(sdp.connection_address(), Some(ip("203.0.113.1")));
    let media = sdp.media(0).expect("m");
    assert_eq!(media.connection_address(), Some(ip("203.0.113.1")));
    assert_eq!(media.port(), 20000);
    assert_eq!(
        text.matches("c=").count(),
        1,
        "redundant media c= dropped:\n{text}"
    );
}

#[test]
fn rtcp_attribute_moves_to_port_plus_one_at_the_relay() {
    let mut sdp = samples::parse("grandstream-rtcp.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    let media = sdp.media(0).expect("m");
    assert_eq!(
        media.rtcp(),
        Some(Rtcp {
            port: 20001,
            address: Some(ip("203.0.113.1"))
        })
    );
    assert!(sdp
        .to_string()
        .contains("a=rtcp:20001 IN IP4 203.0.113.1\r\n"));
}

#[test]
fn rtcp_attribute_without_address_gets_one() {
    let mut sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtcp:4001\n",
    );
    sdp.anchor(0, ip("2001:db8::99"), 30000).expect("anchor");
    assert!(sdp
        .to_string()
        .contains("a=rtcp:30001 IN IP6 2001:db8::99\r\n"));
    assert!(sdp.to_string().contains("c=IN IP6 2001:db8::99\r\n"));
}

#[test]
fn no_rtcp_attribute_is_added() {
    let mut sdp = samples::parse("sipp-uac.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    assert!(!sdp.media(0).expect("m").has_attribute("rtcp"));
}

#[test]
fn ice_is_removed_and_everything_else_kept_in_order() {
    let original = samples::parse("webrtc-jssip-offer.sdp");
    let mut sdp = original.clone();
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    let media = sdp.media(0).expect("m");
    assert!(media.attributes().all(|a| !a.is_ice()));
    for name in [
        "candidate",
        "end-of-candidates",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
    ] {
        assert!(!media.has_attribute(name), "{name}");
    }
    let kept: Vec<(String, Option<String>)> = original
        .media(0)
        .expect("m")
        .attributes()
        .filter(|a| !a.is_ice() && a.name != "rtcp")
        .map(|a| (a.name.to_owned(), a.value.map(str::to_owned)))
        .collect();
    let after: Vec<(String, Option<String>)> = media
        .attributes()
        .filter(|a| a.name != "rtcp")
        .map(|a| (a.name.to_owned(), a.value.map(str::to_owned)))
        .collect();
    assert_eq!(after, kept);
    assert_eq!(media.rtcp().map(|r| r.port), Some(20001));
    // The session level keeps its non-ICE attributes.
    assert_eq!(sdp.attributes().count(), 3);
}

#[test]
fn session_level_ice_is_removed() {
    let mut sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         a=ice-lite\na=ice-ufrag:abcd\na=tool:x\nm=audio 4000 RTP/AVP 0\n\
         a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host\na=remote-candidates:1 192.0.2.1 4000\n",
    );
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    let names: Vec<&str> = sdp.attributes().map(|a| a.name).collect();
    assert_eq!(names, ["tool"]);
    assert_eq!(sdp.media(0).expect("m").attributes().count(), 0);
}

#[test]
fn media_level_only_connections_stay_media_level() {
    let mut sdp = samples::parse("rfc5118-mult-ip-in-sdp.sdp");
    sdp.anchor(1, ip("2001:db8::99"), 30000).expect("anchor");
    assert_eq!(sdp.connection_address(), None);
    let audio = sdp.media(0).expect("audio");
    let video = sdp.media(1).expect("video");
    assert_eq!(
        audio.connection_address(),
        Some(ip("192.0.2.1")),
        "untouched"
    );
    assert_eq!(video.connection_address(), Some(ip("2001:db8::99")));
    assert_eq!(video.port(), 30000);
}

#[test]
fn other_streams_keep_their_address_until_anchored() {
    let mut sdp = samples::parse("baresip-1.0-offer.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000)
        .expect("anchor audio");
    let video = sdp.media(1).expect("video");
    assert_eq!(video.connection_address(), Some(ip("192.168.1.23")));
    assert_eq!(video.port(), 10940);

    sdp.anchor(1, ip("203.0.113.1"), 20002)
        .expect("anchor video");
    let text = connection_lines(&sdp);
    assert!(!text.contains("192.168.1.23"), "{text}");
    assert_eq!(
        text.matches("c=").count(),
        1,
        "back to one session c=:\n{text}"
    );
}

#[test]
fn streams_on_different_relays() {
    let mut sdp = samples::parse("baresip-1.0-offer.sdp");
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("audio");
    sdp.anchor(1, ip("203.0.113.2"), 20002).expect("video");
    let addresses: Vec<Option<IpAddr>> = sdp.medias().map(|m| m.connection_address()).collect();
    assert_eq!(
        addresses,
        [Some(ip("203.0.113.1")), Some(ip("203.0.113.2"))]
    );
    assert!(!connection_lines(&sdp).contains("192.168.1.23"));
    let reparsed = SessionDescription::parse(&sdp.to_bytes()).expect("reparse");
    assert_eq!(reparsed, sdp);
}

#[test]
fn anchoring_twice_is_idempotent() {
    let mut once = samples::parse("baresip-1.0-offer.sdp");
    once.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    once.anchor(1, ip("203.0.113.1"), 20002).expect("anchor");
    let mut twice = once.clone();
    twice.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    twice.anchor(1, ip("203.0.113.1"), 20002).expect("anchor");
    assert_eq!(once, twice);
}

#[test]
fn legacy_hold_and_missing_session_connection() {
    let mut hold = samples::parse("legacy-hold-c0.sdp");
    hold.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    assert_eq!(hold.validate().expect("valid"), [StreamState::Active]);

    let mut webrtc = samples::parse("webrtc-jssip-offer.sdp");
    webrtc.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    assert_eq!(
        webrtc.connection_address(),
        None,
        "no session c= is invented"
    );
    assert_eq!(
        webrtc.media(0).expect("m").own_connection_address(),
        Some(ip("203.0.113.1"))
    );
}

#[test]
fn port_count_is_dropped() {
    let mut sdp = samples::parse_text(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000/2 RTP/AVP 0\n",
    );
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    assert_eq!(sdp.media(0).expect("m").port_count(), None);
}

#[test]
fn refused_anchors() {
    let mut sdp = samples::parse("sipp-uac.sdp");
    let before = sdp.clone();
    assert_eq!(
        sdp.anchor(1, ip("203.0.113.1"), 20000),
        Err(SdpError::NoSuchMedia { index: 1, count: 1 })
    );
    for port in [0, u16::MAX] {
        assert_eq!(
            sdp.anchor(0, ip("203.0.113.1"), port),
            Err(SdpError::InvalidRelayPort { port })
        );
    }
    for address in ["224.0.0.1", "255.255.255.255", "0.0.0.0", "::", "ff02::1"] {
        assert!(
            matches!(
                sdp.anchor(0, ip(address), 20000),
                Err(SdpError::ForbiddenAddress { media: Some(0), .. })
            ),
            "{address}"
        );
    }
    assert_eq!(sdp, before, "a refused anchor changes nothing");
}
