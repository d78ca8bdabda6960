//! Nothing a peer sends makes the parser or the rewrites panic.

mod samples;

use std::net::IpAddr;

use baton_sdp::{codec_matches, negotiate, Codec, CodecSpec, OriginRewriter, SessionDescription};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Everything a body can go through after it parsed.
fn exercise(sdp: &SessionDescription) {
    let relay: IpAddr = "203.0.113.1".parse().expect("literal");
    let _ = sdp.validate();
    let _ = sdp.origin();
    let _ = (
        sdp.connection_address(),
        sdp.direction(),
        sdp.attributes().count(),
    );
    for media in sdp.medias() {
        let _ = (
            media.kind(),
            media.protocol(),
            media.port(),
            media.port_count(),
        );
        let _ = (
            media.codecs(),
            media.telephone_event(),
            media.ptime(),
            media.rtcp(),
        );
        let _ = (
            media.connection_address(),
            media.direction(),
            media.is_legacy_hold(),
        );
    }
    let _ = negotiate(sdp, &[CodecSpec::PCMU, CodecSpec::OPUS]);
    let pcmu = Codec::from_static(0).expect("static");
    let _ = codec_matches(&pcmu, sdp);
    let mut rewritten = sdp.clone();
    for index in 0..sdp.media_count() {
        let _ = rewritten.anchor(index, relay, 20000 + 2 * index as u16);
    }
    OriginRewriter::new(1, relay).rewrite(&mut rewritten);
    let printed = rewritten.to_bytes();
    // What we print, we parse back the same.
    let reparsed = SessionDescription::parse_with_limits(
        &printed,
        &baton_sdp::Limits {
            max_bytes: usize::MAX,
            ..baton_sdp::Limits::DEFAULT
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&printed)));
    assert_eq!(reparsed, rewritten);
}

fn feed(bytes: &[u8]) {
    if let Ok(sdp) = SessionDescription::parse(bytes) {
        exercise(&sdp);
    }
}

#[test]
fn binary_garbage() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for _ in 0..200 {
        let len = rng.random_range(0..4096);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        feed(&bytes);
        let mut prefixed = b"v=0\r\n".to_vec();
        prefixed.extend_from_slice(&bytes);
        feed(&prefixed);
    }
}

#[test]
fn odd_but_parseable_bodies_survive_every_operation() {
    for body in [
        "v=0\n",
        "v=0\nm=audio 1 RTP/AVP 0\n",
        "v=0\nc=IN IP4 0.0.0.0\nm=audio 65535 RTP/AVP 127\na=rtcp:65535\n",
        "v=0\nc=IN IP6 ::1\nm=audio 1/65535 RTP/AVP 0\na=rtpmap:0 x/4294967295/65535\n",
        "v=0\nm=audio 1 RTP/AVP 0\nc=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2\n",
        "v=0\nm=message 1 TCP/MSRP *\nm=audio 2 rtp/avp 000 0127\n",
        "v=0\na=:\na=rtpmap\na=fmtp:\nm=audio 2 RTP/AVP 1\na=fmtp:1\na=rtpmap: \n",
    ] {
        let sdp = SessionDescription::parse(&samples::crlf(body))
            .unwrap_or_else(|e| panic!("{e}: {body}"));
        exercise(&sdp);
    }
}

#[test]
fn the_corpus_survives_every_operation() {
    for name in samples::ALL {
        exercise(&samples::parse(name));
    }
}

#[test]
fn truncation_at_every_byte() {
    for name in samples::ALL {
        let bytes = samples::bytes(name);
        for end in 0..=bytes.len() {
            feed(&bytes[..end]);
        }
    }
}

#[test]
fn seeded_byte_flips() {
    let corpus: Vec<Vec<u8>> = samples::ALL
        .iter()
        .map(|name| samples::bytes(name))
        .collect();
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..20_000 {
        let mut bytes = corpus[rng.random_range(0..corpus.len())].clone();
        for _ in 0..rng.random_range(1..=4) {
            let at = rng.random_range(0..bytes.len());
            // Half the time a byte that means something in SDP.
            bytes[at] = if rng.random() {
                *b"\r\n =:/0123456789amcv-"
                    .get(rng.random_range(0..21))
                    .unwrap_or(&b' ')
            } else {
                rng.random()
            };
        }
        feed(&bytes);
    }
}
