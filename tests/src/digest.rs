//! The client side of digest, for the test agent: answer a challenge the
//! way a phone does (RFC 3261 §22.4, RFC 8760), with the response computed
//! by the same `sip-auth` crate the server verifies with.

use sip_auth::{Algorithm, Credentials, Qop, Secret};

/// The `Authorization` (or `Proxy-Authorization`) value answering
/// `challenge` (a `WWW-Authenticate` value) for `method` and `uri`, with
/// nonce count `nc`.
pub fn authorization(
    challenge: &str,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    let param = |name: &str| -> Option<String> {
        let rest = challenge.strip_prefix("Digest")?.trim();
        rest.split(',').map(str::trim).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    };
    let realm = param("realm").expect("challenge realm");
    let nonce = param("nonce").expect("challenge nonce");
    let algorithm: Algorithm =
        param("algorithm").map_or(Algorithm::Md5, |a| a.parse().expect("algorithm"));
    let opaque = param("opaque");
    let cnonce = format!("{:08x}", nc.wrapping_mul(2_654_435_761));
    let creds = Credentials {
        username: user.to_string(),
        realm: realm.clone(),
        nonce: nonce.clone(),
        uri: uri.to_string(),
        response: String::new(),
        algorithm,
        cnonce: Some(cnonce.clone()),
        opaque: opaque.clone(),
        qop: Some(Qop::Auth),
        nc: Some(nc),
    };
    let response = sip_auth::expected_response(&creds, method, Secret::Password(password))
        .expect("computable");
    let mut value = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={algorithm}, qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""
    );
    if let Some(o) = opaque {
        value.push_str(&format!(", opaque=\"{o}\""));
    }
    value
}
