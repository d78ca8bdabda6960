//! Who may speak in a device's dialog: the pure rules behind binding every
//! in-dialog request to the device's signalling flow (issue 8), behind a
//! NAT rebinding (RFC 5626: a device re-registering from a new flow moves
//! its dialogs there), and behind the unguessable id of a handover attempt.
//!
//! A second device of the same user holds the same password and, from the
//! dialog event package, the dialog's Call-ID and tags: neither proves
//! anything. What it cannot do is send from the original device's
//! transport address (UDP: the source address; TCP/TLS: the connection),
//! nor guess 128 random bits.

use sip_message::{ContactValue, HeaderName, Message, Method, NameAddr};
use sip_proto::Flow;
use subtle::ConstantTimeEq;

/// True when `got` (the source of a request) is the device's signalling
/// flow `bound`. UDP: the same source address, exactly. TCP/TLS: the same
/// connection, or (a connection opened again, or a flow learnt without its
/// connection id, such as a registration's) the same remote address.
pub fn same_flow(bound: &Flow, got: &Flow) -> bool {
    if bound.is_reliable() != got.is_reliable() {
        return false;
    }
    if !got.is_reliable() {
        return bound.remote == got.remote;
    }
    match (bound.connection, got.connection) {
        (Some(a), Some(b)) if a == b => true,
        _ => bound.remote == got.remote,
    }
}

/// An INFO whose body could decide a handover (a DTMF key, a JSON
/// decision): from a foreign flow it is a forged decision.
pub fn decision_shaped(method: &Method, content_type: Option<&str>) -> bool {
    if *method != Method::INFO {
        return false;
    }
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/dtmf-relay" | "application/dtmf" | crate::pull::HANDOVER_JSON
    )
}

/// A bounded label for a method: extension methods collapse to `other`
/// (metric label values never come from what a peer wrote).
pub fn method_label(method: &Method) -> &'static str {
    method.standard_name().unwrap_or("other")
}

/// How a device names itself in its Contact: the URI, and the RFC 5626
/// `+sip.instance` and `reg-id` when it sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceContact {
    /// The Contact URI, as printed.
    pub uri: String,
    /// `+sip.instance`, without its quotes.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<String>,
}

impl DeviceContact {
    /// Reads a Contact name-addr.
    pub fn of(addr: &NameAddr) -> DeviceContact {
        DeviceContact {
            uri: addr.uri.to_string(),
            instance: addr
                .params
                .value("+sip.instance")
                .map(|v| v.trim_matches('"').to_string()),
            reg_id: addr.params.value("reg-id").map(|v| v.trim().to_string()),
        }
    }

    /// The first Contact of a message (a dialog-creating INVITE or 2xx).
    pub fn of_message(message: &Message) -> Option<DeviceContact> {
        message.contacts().into_iter().find_map(|c| match c {
            ContactValue::Addr(a) => Some(DeviceContact::of(&a)),
            ContactValue::Star => None,
        })
    }

    /// Whether a registered contact (`registered`) is this dialog's device:
    /// by `+sip.instance` (and `reg-id` when the dialog's Contact had one)
    /// when the dialog's device sent an instance, else by the URI.
    pub fn is_device(&self, registered: &DeviceContact) -> bool {
        match &self.instance {
            Some(instance) => {
                registered.instance.as_deref() == Some(instance.as_str())
                    && (self.reg_id.is_none() || self.reg_id == registered.reg_id)
            }
            None => self.uri.eq_ignore_ascii_case(&registered.uri),
        }
    }
}

/// The contacts an accepted REGISTER binds (not those it removes), for a
/// NAT rebinding: `expires` on the contact, else the Expires header, else
/// bound.
pub fn registered_contacts(register: &Message) -> Vec<DeviceContact> {
    let header_expires = register
        .header(&HeaderName::Expires)
        .and_then(|v| v.trim().parse::<u64>().ok());
    register
        .contacts()
        .into_iter()
        .filter_map(|c| match c {
            ContactValue::Addr(a) => {
                let expires = a
                    .params
                    .value("expires")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .or(header_expires);
                (expires != Some(0)).then(|| DeviceContact::of(&a))
            }
            ContactValue::Star => None,
        })
        .collect()
}

/// A fresh handover attempt id: 128 random bits, 32 lower-case hex digits.
pub fn attempt_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Compares an attempt id a device sent with the real one in constant
/// time (the time taken says nothing about how much of a guess was right).
pub fn token_matches(expected: &str, got: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(got.as_bytes())) && !expected.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_proto::{ConnectionId, TransportKind};

    fn udp(addr: &str) -> Flow {
        Flow::new(addr.parse().expect("addr"), TransportKind::Udp)
    }

    fn tcp(addr: &str, conn: Option<u64>) -> Flow {
        Flow {
            connection: conn.map(ConnectionId),
            ..Flow::new(addr.parse().expect("addr"), TransportKind::Tcp)
        }
    }

    #[test]
    fn udp_flows_compare_by_exact_source() {
        assert!(same_flow(&udp("127.0.0.1:5070"), &udp("127.0.0.1:5070")));
        assert!(!same_flow(&udp("127.0.0.1:5070"), &udp("127.0.0.1:5071")));
        assert!(!same_flow(&udp("127.0.0.1:5070"), &udp("127.0.0.2:5070")));
        assert!(!same_flow(
            &udp("127.0.0.1:5070"),
            &tcp("127.0.0.1:5070", Some(1))
        ));
    }

    #[test]
    fn tcp_flows_compare_by_connection_or_remote() {
        let bound = tcp("127.0.0.1:40000", Some(7));
        assert!(same_flow(&bound, &tcp("127.0.0.1:40000", Some(7))));
        // The same far end on a new connection: the same device socket.
        assert!(same_flow(&bound, &tcp("127.0.0.1:40000", Some(8))));
        assert!(!same_flow(&bound, &tcp("127.0.0.1:40001", Some(9))));
        // A registration flow carries no connection id.
        assert!(same_flow(
            &tcp("127.0.0.1:40000", None),
            &tcp("127.0.0.1:40000", Some(3))
        ));
    }

    #[test]
    fn decision_shaped_infos_are_recognised() {
        assert!(decision_shaped(
            &Method::INFO,
            Some("application/dtmf-relay")
        ));
        assert!(decision_shaped(&Method::INFO, Some("Application/DTMF ")));
        assert!(decision_shaped(
            &Method::INFO,
            Some("application/vnd.baton.handover+json; charset=utf-8")
        ));
        assert!(!decision_shaped(&Method::INFO, Some("text/plain")));
        assert!(!decision_shaped(&Method::INFO, None));
        assert!(!decision_shaped(&Method::BYE, Some("application/dtmf")));
    }

    #[test]
    fn extension_methods_get_a_bounded_label() {
        let m = Method::parse("XYZZY").expect("a token");
        assert_eq!(method_label(&m), "other");
        assert_eq!(method_label(&Method::BYE), "BYE");
    }

    fn contact(value: &str) -> DeviceContact {
        DeviceContact::of(&NameAddr::parse(value).expect("name-addr"))
    }

    #[test]
    fn devices_match_by_instance_and_reg_id_else_by_uri() {
        let inst = "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-00000000000a>\"";
        let dialog = contact(&format!("<sip:a@10.0.0.1:5060>;{inst};reg-id=1"));
        // Same instance and reg-id from another address: the device.
        assert!(dialog.is_device(&contact(&format!("<sip:a@192.0.2.9:6000>;{inst};reg-id=1"))));
        // Another reg-id: another flow of the device, not this one.
        assert!(!dialog.is_device(&contact(&format!("<sip:a@10.0.0.1:5060>;{inst};reg-id=2"))));
        // The URI alone does not do when the dialog named an instance.
        assert!(!dialog.is_device(&contact("<sip:a@10.0.0.1:5060>")));
        let plain = contact("<sip:a@10.0.0.1:5060>");
        assert!(plain.is_device(&contact("<sip:a@10.0.0.1:5060>;expires=600")));
        assert!(!plain.is_device(&contact("<sip:a@10.0.0.1:5061>")));
    }

    #[test]
    fn only_contacts_kept_bound_rebind() {
        let register = Message::parse(
            b"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr\r\n\
              From: <sip:a@example.test>;tag=1\r\nTo: <sip:a@example.test>\r\nCall-ID: r\r\n\
              CSeq: 2 REGISTER\r\nContact: <sip:a@127.0.0.1:5070>\r\n\
              Contact: <sip:a@127.0.0.1:5071>;expires=0\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("parses");
        let bound = registered_contacts(&register);
        assert_eq!(bound.len(), 1);
        assert_eq!(bound[0].uri, "sip:a@127.0.0.1:5070");
    }

    #[test]
    fn attempt_tokens_are_128_bit_hex_and_compare_exactly() {
        let t = attempt_token();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(t, attempt_token());
        assert!(token_matches(&t, &t.clone()));
        assert!(!token_matches(&t, &t[..31]));
        assert!(!token_matches(&t, "1"));
        assert!(!token_matches("", ""));
    }
}
