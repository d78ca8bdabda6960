//! Odd and hostile bodies: typed refusals and stream classification.

mod samples;

use baton_sdp::{Limits, SdpError, SessionDescription, StreamState, SyntaxFault};

fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    SessionDescription::parse(&samples::crlf(text))
}

const HEAD: &str = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n";

#[test]
fn port_zero_is_a_disabled_stream() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\nm=video 0 RTP/AVP 31\n"
    ))
    .expect("parse");
    assert!(sdp.media(1).expect("video").is_disabled());
    assert_eq!(
        sdp.validate(),
        Ok(vec![StreamState::Active, StreamState::Disabled])
    );
}

#[test]
fn disabled_stream_needs_no_address() {
    let sdp = parse(&format!("{HEAD}t=0 0\nm=audio 0 RTP/AVP 0\n")).expect("parse");
    assert_eq!(sdp.validate(), Ok(vec![StreamState::Disabled]));
}

#[test]
fn legacy_hold_is_classified_not_refused() {
    let sdp = samples::parse("legacy-hold-c0.sdp");
    assert_eq!(sdp.validate(), Ok(vec![StreamState::LegacyHold]));
}

#[test]
fn forbidden_session_addresses() {
    for address in [
        "IP4 224.2.17.12/127",
        "IP4 239.255.255.250",
        "IP4 255.255.255.255",
        "IP6 ff0e::101",
        "IP6 ::",
        "IP6 ::ffff:224.0.0.1",
    ] {
        let sdp = parse(&format!(
            "{HEAD}c=IN {address}\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
        ))
        .unwrap_or_else(|e| panic!("{address}: {e}"));
        assert!(
            matches!(
                sdp.validate(),
                Err(SdpError::ForbiddenAddress { media: None, .. })
            ),
            "{address}"
        );
    }
}

#[test]
fn forbidden_media_address() {
    let sdp = parse(&format!(
        "{HEAD}c=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\nm=video 4002 RTP/AVP 31\nc=IN IP4 233.252.0.1/16\n"
    ))
    .expect("parse");
    assert_eq!(
        sdp.validate(),
        Err(SdpError::ForbiddenAddress {
            media: Some(1),
            address: "233.252.0.1".parse().expect("literal"),
        })
    );
}

#[test]
fn missing_connection_for_an_active_stream() {
    let sdp = parse(&format!(
        "{HEAD}t=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.1\nm=video 4002 RTP/AVP 31\n"
    ))
    .expect("parse");
    assert_eq!(
        sdp.validate(),
        Err(SdpError::MissingConnection { media: 1 })
    );
}

#[test]
fn connection_must_be_an_ip_literal_of_its_family() {
    for (connection, media) in [
        (
            "c=IN IP4 host.example.com\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
            None,
        ),
        (
            "c=IN IP4 2001:db8::1\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
            None,
        ),
        ("c=IN IP6 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n", None),
        ("c=ATM NSAP 47.0091\nt=0 0\nm=audio 4000 RTP/AVP 0\n", None),
        (
            "t=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 999.1.1.1\n",
            Some(0),
        ),
    ] {
        assert_eq!(
            parse(&format!("{HEAD}{connection}")),
            Err(SdpError::InvalidConnection { media }),
            "{connection}"
        );
    }
}

#[test]
fn payload_types_out_of_range() {
    for fmt in ["128", "300", "-1", "0 8 abc", "99999999999999999999", ""] {
        let body = format!("{HEAD}c=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP {fmt}\n");
        assert_eq!(
            parse(&body),
            Err(SdpError::InvalidPayloadType { media: 0 }),
            "{fmt:?}"
        );
    }
    // 127 is the last payload type.
    assert!(parse(&format!(
        "{HEAD}c=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 127\n"
    ))
    .is_ok());
}

#[test]
fn absurd_ports_are_syntax_errors() {
    for port in ["65536", "99999", "-1", "4000/99999", "0x10"] {
        let body = format!("{HEAD}c=IN IP4 192.0.2.1\nt=0 0\nm=audio {port} RTP/AVP 0\n");
        assert!(
            matches!(
                parse(&body),
                Err(SdpError::Syntax {
                    line: 6,
                    fault: SyntaxFault::BadField { .. }
                })
            ),
            "{port}"
        );
    }
}

#[test]
fn missing_version_is_refused() {
    let body = "o=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
    assert_eq!(parse(body), Err(SdpError::MissingVersion));
    assert_eq!(
        SessionDescription::parse(b""),
        Err(SdpError::MissingVersion)
    );
    assert_eq!(
        parse("v=1\n"),
        Err(SdpError::Syntax {
            line: 1,
            fault: SyntaxFault::UnsupportedVersion
        })
    );
}

#[test]
fn syntax_faults_are_typed() {
    assert_eq!(
        parse(&format!("{HEAD}c=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2\n")),
        Err(SdpError::Syntax {
            line: 5,
            fault: SyntaxFault::Duplicate { kind: 'c' }
        })
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\ns=a\0b\r\n"),
        Err(SdpError::Syntax {
            line: 2,
            fault: SyntaxFault::MalformedLine
        })
    );
    assert!(matches!(
        SessionDescription::parse(b"v=0\r\ns=caf\xe9\r\n"),
        Err(SdpError::Syntax {
            line: 2,
            fault: SyntaxFault::NotUtf8 { .. }
        })
    ));
    assert_eq!(
        parse("v=0\nr=7d 1h 0 25h\n"),
        Err(SdpError::Syntax {
            line: 2,
            fault: SyntaxFault::RepeatWithoutTime
        })
    );
    assert!(matches!(
        parse(&format!("{HEAD}m=audio\n")),
        Err(SdpError::Syntax { line: 4, .. })
    ));
}

#[test]
fn lenient_where_phones_are_sloppy() {
    // Out-of-order lines, missing o=/s=/t=, blank lines, trailing spaces,
    // unknown line types: all seen in the field, all accepted.
    for body in [
        "v=0\nc=IN IP4 192.0.2.1\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\na=sendrecv\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
        "v=0\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\n",
        "v=0\no=- 1 1 IN IP4 192.0.2.1\n\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 8 \n",
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 4000 RTP/AVP 96\na=rtpmap:96 PS/90000\ny=0100000001\nf=v/2/5/25/1/4000a/1/8/1\n",
    ] {
        let sdp = parse(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(sdp.validate().map(|s| s.len()), Ok(1), "{body}");
    }
}

#[test]
fn body_over_the_size_cap() {
    let mut body = samples::bytes("sipp-uac.sdp");
    body.extend_from_slice(b"a=x-huge:");
    body.extend(std::iter::repeat_n(b'A', 1 << 20));
    body.extend_from_slice(b"\r\n");
    assert_eq!(
        SessionDescription::parse(&body),
        Err(SdpError::TooLarge {
            size: body.len(),
            limit: Limits::DEFAULT.max_bytes
        })
    );
}

#[test]
fn huge_attribute_within_a_raised_cap_survives_untouched() {
    let mut body = samples::bytes("sipp-uac.sdp");
    let value = "A".repeat(100_000);
    body.extend_from_slice(format!("a=x-huge:{value}\r\n").as_bytes());
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::DEFAULT
    };
    let sdp = SessionDescription::parse_with_limits(&body, &limits).expect("parse");
    let huge = sdp.media(0).expect("m").attributes().last().expect("a=");
    assert_eq!(huge.value, Some(value.as_str()));
}

#[test]
fn ten_thousand_media_lines_are_refused_before_parsing() {
    let mut body = String::from_utf8(samples::bytes("sipp-uac.sdp")).expect("utf-8");
    for i in 0..10_000 {
        body.push_str(&format!("m=audio {} RTP/AVP 0\r\n", 10_000 + i));
    }
    assert_eq!(
        SessionDescription::parse_with_limits(
            body.as_bytes(),
            &Limits {
                max_bytes: usize::MAX,
                ..Limits::DEFAULT
            }
        ),
        Err(SdpError::TooManyMedia {
            limit: Limits::DEFAULT.max_media
        })
    );
    assert!(matches!(
        SessionDescription::parse(body.as_bytes()),
        Err(SdpError::TooLarge { .. })
    ));
}

#[test]
fn media_and_attribute_caps_are_exact() {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_media: 3,
        max_attributes: 5,
    };
    let media = |n: usize| {
        let mut body = format!("{HEAD}c=IN IP4 192.0.2.1\nt=0 0\n");
        for i in 0..n {
            body.push_str(&format!("m=audio {} RTP/AVP 0\n", 4000 + 2 * i));
        }
        samples::crlf(&body)
    };
    assert!(SessionDescription::parse_with_limits(&media(3), &limits).is_ok());
    assert_eq!(
        SessionDescription::parse_with_limits(&media(4), &limits),
        Err(SdpError::TooManyMedia { limit: 3 })
    );
    let attributes = |n: usize| {
        let mut body = format!("{HEAD}c=IN IP4 192.0.2.1\nt=0 0\na=s\nm=audio 4000 RTP/AVP 0\n");
        for _ in 1..n {
            body.push_str("a=x\n");
        }
        samples::crlf(&body)
    };
    assert!(SessionDescription::parse_with_limits(&attributes(5), &limits).is_ok());
    assert_eq!(
        SessionDescription::parse_with_limits(&attributes(6), &limits),
        Err(SdpError::TooManyAttributes { limit: 5 })
    );
}

#[test]
fn errors_read_well() {
    assert_eq!(
        SdpError::ForbiddenAddress {
            media: None,
            address: "224.0.0.1".parse().expect("literal")
        }
        .to_string(),
        "forbidden connection address 224.0.0.1 at session level"
    );
    assert_eq!(
        SdpError::Syntax {
            line: 3,
            fault: SyntaxFault::Duplicate { kind: 'o' }
        }
        .to_string(),
        "SDP line 3: duplicate o= line"
    );
    assert_eq!(
        SdpError::InvalidConnection { media: Some(2) }.to_string(),
        "invalid connection address at media 2"
    );
}
