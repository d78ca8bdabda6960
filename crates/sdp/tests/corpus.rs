//! The real-world corpus: every body parses, validates, and prints back as
//! it came.

mod samples;

use std::collections::BTreeSet;

use baton_sdp::{SessionDescription, StreamState};

/// The `a=` lines of a body as received, in order.
fn attribute_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| line.starts_with("a="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_sample_parses_and_validates() {
    for name in samples::ALL {
        let sdp = samples::parse(name);
        let states = sdp.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(states.len(), sdp.media_count(), "{name}");
    }
}

#[test]
fn the_corpus_lists_every_file_in_the_data_folder() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("tests/data")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let listed: BTreeSet<String> = samples::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_attribute_comes_back_untouched_and_in_order() {
    for name in samples::ALL {
        let original = samples::bytes(name);
        let printed = samples::parse(name).to_bytes();
        assert_eq!(
            attribute_lines(&printed),
            attribute_lines(&original),
            "{name}"
        );
    }
}

#[test]
fn round_trip_is_stable() {
    for name in samples::ALL {
        let first = samples::parse(name);
        let printed = first.to_bytes();
        let second = SessionDescription::parse(&printed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(first, second, "{name}: parse → print → parse");
        assert_eq!(second.to_bytes(), printed, "{name}: print is idempotent");
        assert_eq!(
            first.to_string().as_bytes(),
            printed,
            "{name}: Display = to_bytes"
        );
    }
}

#[test]
fn crlf_samples_print_back_byte_for_byte() {
    // Bodies already in RFC order with CRLF come back identical.
    for name in [
        "sipp-uac.sdp",
        "baresip-1.0-offer.sdp",
        "polycom-vvx-offer.sdp",
        "yealink-t46-offer.sdp",
        "snom-srtp.sdp",
        "webrtc-jssip-offer.sdp",
        "rfc5118-ipv6-in-sdp.sdp",
        "rfc5118-mult-ip-in-sdp.sdp",
    ] {
        assert_eq!(
            String::from_utf8_lossy(&samples::parse(name).to_bytes()),
            String::from_utf8_lossy(&samples::bytes(name)),
            "{name}"
        );
    }
}

#[test]
fn lf_only_bodies_are_printed_with_crlf() {
    let printed = samples::parse("linphone-lf-only.sdp").to_bytes();
    let text = String::from_utf8(printed).expect("utf-8");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "{text}"
    );
    assert_eq!(text.matches('\n').count(), 16);
}

#[test]
fn media_c_after_attributes_is_read_and_moved_before_them() {
    let sdp = samples::parse("gateway-media-c-after-a.sdp");
    let media = sdp.media(0).expect("media");
    assert_eq!(
        media.connection_address(),
        Some("192.0.2.200".parse().expect("literal"))
    );
    let text = sdp.to_string();
    let c = text.find("c=IN IP4 192.0.2.200").expect("c=");
    assert!(c < text.find("a=rtpmap").expect("a="), "{text}");
}

#[test]
fn stream_states_of_the_corpus() {
    let states = |name| samples::parse(name).validate().expect(name);
    assert_eq!(
        states("asterisk-answer.sdp"),
        vec![StreamState::Active, StreamState::Disabled]
    );
    assert_eq!(states("legacy-hold-c0.sdp"), vec![StreamState::LegacyHold]);
    assert_eq!(
        states("rfc5118-mult-ip-in-sdp.sdp"),
        vec![StreamState::Active, StreamState::Active]
    );
}
