//! Benchmarks for Baton live in `benches/`; this library only holds the
//! inputs they share.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// A typical INVITE with an SDP offer (about 800 bytes), as a phone sends it.
pub const TYPICAL_INVITE: &[u8] = include_bytes!("../data/invite.sip");

/// Every message of the RFC 4475 / RFC 5118 torture corpus, as bytes.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/rfc4475");
    let mut out = Vec::new();
    for sub in [PathBuf::new(), PathBuf::from("rfc5118")] {
        let Ok(entries) = std::fs::read_dir(dir.join(&sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sip") {
                if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path.display().to_string(), bytes));
                }
            }
        }
    }
    out.sort();
    out
}
