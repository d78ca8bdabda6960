//! The `Replaces` header of a switch request (RFC 3891 §6.1) and the
//! device comparison the handover checks make.

use sip_message::{ContactValue, Message};

/// A parsed `Replaces: call-id;to-tag=…;from-tag=…[;early-only]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// The recipient's (Baton's) tag.
    pub to_tag: String,
    /// The other party's (the device's) tag.
    pub from_tag: String,
    /// Only an early dialog may be replaced.
    pub early_only: bool,
}

impl Replaces {
    /// Parses one header value; `None` when it is malformed (no Call-ID, a
    /// tag missing or given twice, a list of several values).
    pub fn parse(value: &str) -> Option<Replaces> {
        if value.contains(',') {
            return None; // two values in one header: RFC 3891 §3 says 400
        }
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return None;
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for part in parts {
            let (name, v) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part.trim(), None),
            };
            let slot = if name.eq_ignore_ascii_case("to-tag") {
                &mut to_tag
            } else if name.eq_ignore_ascii_case("from-tag") {
                &mut from_tag
            } else {
                if name.eq_ignore_ascii_case("early-only") {
                    early_only = true;
                }
                continue;
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(v.filter(|v| !v.is_empty())?.to_string());
        }
        Some(Replaces {
            call_id: call_id.to_string(),
            to_tag: to_tag?,
            from_tag: from_tag?,
            early_only,
        })
    }
}

/// The first Contact URI of a message, as written (empty if none).
pub fn contact_uri(message: &Message) -> String {
    message
        .contacts()
        .into_iter()
        .find_map(|c| match c {
            ContactValue::Addr(a) => Some(a.uri.to_string()),
            ContactValue::Star => None,
        })
        .unwrap_or_default()
}

/// Two Contact URIs name the same device: the same URI up to parameters,
/// brackets and case.
pub fn same_device(a: &str, b: &str) -> bool {
    let core = |s: &str| {
        let s = s.trim().trim_start_matches('<');
        s.split(['>', ';'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    !a.is_empty() && core(a) == core(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaces_value_parses_with_its_tags_and_flags() {
        let r = Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff")
            .expect("parses");
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(r.to_tag, "ff87ff");
        assert_eq!(r.from_tag, "r33th4x0r");
        assert!(!r.early_only);
        let r = Replaces::parse("a@b ; to-tag = x ; from-tag = y ; early-only").expect("parses");
        assert!(r.early_only);
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("x", "y"));
    }

    #[test]
    fn malformed_replaces_values_are_refused() {
        for bad in [
            "",
            ";to-tag=a;from-tag=b",
            "id;to-tag=a",
            "id;from-tag=b",
            "id;to-tag=;from-tag=b",
            "id;to-tag=a;to-tag=c;from-tag=b",
            "id;to-tag=a;from-tag=b, id2;to-tag=c;from-tag=d",
            "two words;to-tag=a;from-tag=b",
        ] {
            assert_eq!(Replaces::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn devices_compare_by_uri_without_parameters() {
        assert!(same_device(
            "sip:a@127.0.0.1:5070",
            "<sip:a@127.0.0.1:5070;transport=udp>"
        ));
        assert!(!same_device("sip:a@127.0.0.1:5070", "sip:a@127.0.0.1:5072"));
        assert!(!same_device("", ""));
    }
}
