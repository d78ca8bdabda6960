//! Parser-level conformance: every RFC 4475 / RFC 5118 torture message is
//! parsed or refused as `tests/conformance/rfc4475/README.md` says.

use baton_sip_message::{Message, ParseError, SyntaxError};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/rfc4475")
}

fn load(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Messages that must parse.
const VALID: &[&str] = &[
    "wsinv.sip",
    "intmeth.sip",
    "esc01.sip",
    "escnull.sip",
    "esc02.sip",
    "lwsdisp.sip",
    "longreq.sip",
    "dblreq.sip",
    "semiuri.sip",
    "transports.sip",
    "mpart01.sip",
    "unreason.sip",
    "noreason.sip",
    "badbranch.sip",
    "unkscm.sip",
    "novelsc.sip",
    "unksm2.sip",
    "bext01.sip",
    "invut.sip",
    "regaut01.sip",
    "zeromf.sip",
    "cparam01.sip",
    "cparam02.sip",
    "regescrt.sip",
    "sdp01.sip",
    "inv2543.sip",
    "baddate.sip",
    "mismatch02.sip",
    "bcast.sip",
    "rfc5118/ipv6-good.sip",
    "rfc5118/port-ambiguous.sip",
    "rfc5118/port-unambiguous.sip",
    "rfc5118/via-received-param-with-delim.sip",
    "rfc5118/via-received-param-no-delim.sip",
    "rfc5118/ipv6-in-sdp.sip",
    "rfc5118/mult-ip-in-header.sip",
    "rfc5118/mult-ip-in-sdp.sip",
    "rfc5118/ipv4-mapped-ipv6.sip",
    "rfc5118/ipv6-bug-abnf-3-colons.sip",
    "rfc5118/ipv6-correct-abnf-2-colons.sip",
];

/// Messages that must be refused.
const INVALID: &[&str] = &[
    "badinv01.sip",
    "clerr.sip",
    "ncl.sip",
    "scalar02.sip",
    "scalarlg.sip",
    "quotbal.sip",
    "ltgtruri.sip",
    "lwsruri.sip",
    "lwsstart.sip",
    "trws.sip",
    "escruri.sip",
    "regbadct.sip",
    "badaspec.sip",
    "baddn.sip",
    "badvers.sip",
    "mismatch01.sip",
    "bigcode.sip",
    "insuf.sip",
    "multi01.sip",
    "mcl01.sip",
    "rfc5118/ipv6-bad.sip",
];

#[test]
fn every_corpus_file_is_classified() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["", "rfc5118/"] {
        for entry in std::fs::read_dir(corpus_dir().join(dir)).expect("corpus dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8 name");
            if name.ends_with(".sip") {
                files.push(format!("{dir}{name}"));
            }
        }
    }
    files.sort();
    let mut listed: Vec<String> = VALID.iter().chain(INVALID).map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "the tables here must name every corpus file once"
    );
    assert_eq!(files.len(), 61);
}

#[test]
fn valid_messages_parse() {
    let failures: Vec<String> = VALID
        .iter()
        .filter_map(|f| {
            Message::parse(&load(f))
                .err()
                .map(|e| format!("{f}: {e:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn invalid_messages_are_refused() {
    let accepted: Vec<&str> = INVALID
        .iter()
        .copied()
        .filter(|f| Message::parse(&load(f)).is_ok())
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn badvers_is_a_version_error() {
    let err = Message::parse(&load("badvers.sip")).expect_err("refused");
    assert!(matches!(
        err,
        ParseError::Syntax {
            error: SyntaxError::Version,
            ..
        }
    ));
    assert_eq!(err.status(), 505);
}

#[test]
fn responses_in_error_are_not_answered() {
    for f in ["scalarlg.sip", "bigcode.sip"] {
        assert!(!Message::parse(&load(f)).expect_err(f).is_request(), "{f}");
    }
}

#[test]
fn requests_in_error_keep_headers_for_a_stateless_400() {
    for f in [
        "badinv01.sip",
        "clerr.sip",
        "scalar02.sip",
        "quotbal.sip",
        "mismatch01.sip",
        "insuf.sip",
    ] {
        let err = Message::parse(&load(f)).expect_err(f);
        assert!(err.is_request(), "{f}");
        assert!(
            err.headers()
                .is_some_and(|h| h.count(&baton_sip_message::HeaderName::Via) > 0),
            "{f}: {err:?}"
        );
    }
}

#[test]
fn archive_lf_copies_never_panic() {
    for entry in std::fs::read_dir(corpus_dir().join("rfc5118/archive-lf")).expect("dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        let _ = Message::parse(&bytes);
    }
}
