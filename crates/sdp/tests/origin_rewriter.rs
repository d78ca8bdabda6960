//! Baton's own `o=` line per leg, versioned as RFC 3264 §8 requires.

mod samples;

use std::net::IpAddr;

use baton_sdp::{Direction, OriginRewriter, SessionDescription};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("IP literal")
}

fn anchored(name: &str) -> SessionDescription {
    let mut sdp = samples::parse(name);
    sdp.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    sdp
}

#[test]
fn origin_is_ours() {
    let mut rewriter = OriginRewriter::new(7_777_777, ip("203.0.113.1"));
    let mut sdp = anchored("yealink-t46-offer.sdp");
    rewriter.rewrite(&mut sdp);
    let origin = sdp.origin();
    assert_eq!(origin.username.as_deref(), Some("baton"));
    assert_eq!(origin.session_id, "7777777");
    assert_eq!(origin.session_version, OriginRewriter::FIRST_VERSION);
    assert_eq!(origin.address, "203.0.113.1");
    assert!(sdp
        .to_string()
        .contains("o=baton 7777777 1 IN IP4 203.0.113.1\r\n"));
    assert_eq!(rewriter.origin(), origin);
}

#[test]
fn ipv6_address() {
    let mut rewriter = OriginRewriter::new(1, ip("2001:db8::1"));
    let mut sdp = samples::parse("rfc5118-ipv6-in-sdp.sdp");
    rewriter.rewrite(&mut sdp);
    assert!(sdp
        .to_string()
        .contains("o=baton 1 1 IN IP6 2001:db8::1\r\n"));
}

#[test]
fn unchanged_description_keeps_the_version() {
    let mut rewriter = OriginRewriter::new(42, ip("203.0.113.1"));
    let mut first = anchored("yealink-t46-offer.sdp");
    rewriter.rewrite(&mut first);
    // The device re-sends the same session with its own version bumped.
    let mut refresh = samples::parse_text(
        &String::from_utf8(samples::bytes("yealink-t46-offer.sdp"))
            .expect("utf-8")
            .replace("20021 20021", "20021 20099")
            .replace("\r\n", "\n"),
    );
    refresh.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    rewriter.rewrite(&mut refresh);
    assert_eq!(refresh.origin().session_version, 1);
    assert_eq!(refresh.to_bytes(), first.to_bytes());
}

#[test]
fn changed_description_increments_by_one() {
    let mut rewriter = OriginRewriter::new(42, ip("203.0.113.1"));
    let mut offer = anchored("yealink-t46-offer.sdp");
    rewriter.rewrite(&mut offer);
    assert_eq!(offer.origin().session_version, 1);

    let mut hold = anchored("yealink-t46-hold.sdp");
    rewriter.rewrite(&mut hold);
    assert_eq!(hold.origin().session_version, 2);
    rewriter.rewrite(&mut hold);
    assert_eq!(
        hold.origin().session_version,
        2,
        "rewritten again, unchanged"
    );

    let mut resume = offer.clone();
    resume.set_direction(0, Direction::SendRecv).expect("media");
    rewriter.rewrite(&mut resume);
    assert_eq!(
        resume.origin().session_version,
        3,
        "back to the first body is a change"
    );
    assert_eq!(rewriter.origin().session_version, 3);
}

#[test]
fn handover_to_another_device_is_invisible_when_media_match() {
    // Two devices, same relay port: the far side sees one unchanged session.
    let mut rewriter = OriginRewriter::new(9, ip("203.0.113.1"));
    let mut old = anchored("sipp-uac.sdp");
    rewriter.rewrite(&mut old);
    let mut new = samples::parse_text(
        "v=0\no=other 1 1 IN IP4 10.9.9.9\ns=-\nc=IN IP4 10.9.9.9\nt=0 0\nm=audio 7000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n",
    );
    new.anchor(0, ip("203.0.113.1"), 20000).expect("anchor");
    rewriter.rewrite(&mut new);
    assert_eq!(new.to_bytes(), old.to_bytes());
}
