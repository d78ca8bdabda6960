//! The real-world corpus in `tests/data`, shared by the test files.
#![allow(dead_code)] // each test file uses part of it

use std::path::PathBuf;

use baton_sdp::SessionDescription;

/// Every sample in `tests/data`, by file name.
pub const ALL: &[&str] = &[
    "asterisk-answer.sdp",
    "baresip-1.0-offer.sdp",
    "gateway-media-c-after-a.sdp",
    "grandstream-rtcp.sdp",
    "legacy-hold-c0.sdp",
    "linphone-lf-only.sdp",
    "polycom-vvx-offer.sdp",
    "rfc5118-ipv6-in-sdp.sdp",
    "rfc5118-mult-ip-in-sdp.sdp",
    "sipp-uac.sdp",
    "snom-srtp.sdp",
    "webrtc-jssip-offer.sdp",
    "yealink-t46-hold.sdp",
    "yealink-t46-offer.sdp",
];

/// The bytes of one sample.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One sample, parsed.
pub fn parse(name: &str) -> SessionDescription {
    SessionDescription::parse(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A body given inline with `\n` line ends, sent as CRLF.
pub fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

/// An inline body, parsed.
pub fn parse_text(text: &str) -> SessionDescription {
    SessionDescription::parse(&crlf(text)).unwrap_or_else(|e| panic!("{e}: {text}"))
}
