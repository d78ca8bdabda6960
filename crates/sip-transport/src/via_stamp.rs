//! Server-side Via processing on receipt (RFC 3261 §18.2.1, RFC 3581 §4).

use sip_message::{Header, HeaderName, Message, Via};
use std::net::SocketAddr;

/// Records in `via` where a request really came from, so the response can
/// find its way back through NAT.
///
/// - `received=<source ip>` is added when the sent-by host is not the source
///   IP (a domain name never is), and always when `rport` is in play (RFC
///   3581 §4: "MUST add a received parameter" even if it equals sent-by).
/// - `rport=<source port>` is written when `rport` is present, or always
///   when `force_rport` is on (Kamailio's `force_rport()`, for clients behind
///   NAT that do not ask for it).
///
/// Values the client wrote itself are overwritten: a client-chosen
/// `received` or `rport=<n>` would otherwise steer our responses anywhere
/// (a reflection vector), and only the observed source is trustworthy.
pub fn stamp_via(via: &mut Via, source: SocketAddr, force_rport: bool) {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    let ip = source.ip().to_canonical();
    let rport = force_rport || via.params.has("rport");
    if rport {
        via.params.set("rport", Some(source.port().to_string()));
    }
    let sent_by_is_source = via.host.ip().map(|h| h.to_canonical()) == Some(ip);
    if rport || !sent_by_is_source || via.params.has("received") {
        // IPv6 without brackets: the RFC 3261 `received` grammar.
        via.params.set("received", Some(ip.to_string()));
    }
}

/// Applies [`stamp_via`] to the top Via of a request, in place, keeping the
/// position of every header field. Responses are left alone (§18.1.2: the
/// client only checks sent-by). A message without a usable top Via is left
/// alone too; the parser refuses those anyway.
pub(crate) fn stamp_request(message: &mut Message, source: SocketAddr, force_rport: bool) {
    if !message.is_request() {
        return;
    }
    let Some(mut via) = message.top_via() else {
        return;
    };
    stamp_via(&mut via, source, force_rport);
    let stamped = via.to_string();
    // Headers offers no in-place edit; rebuilding keeps the top Via exactly
    // where it was, which push_front after remove_first would not.
    let mut top = Some(stamped);
    message.headers = message
        .headers
        .iter()
        .map(|h| match top.take_if(|_| h.name == HeaderName::Via) {
            Some(value) => Header::new(HeaderName::Via, value),
            None => h.clone(),
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(via: &str, source: &str, force: bool) -> String {
        let mut v = Via::parse(via).expect("via parses");
        stamp_via(&mut v, source.parse().expect("addr"), force);
        v.to_string()
    }

    #[test]
    fn received_only_when_sent_by_differs() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            ),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1"
        );
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            ),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1"
        );
        assert_eq!(
            stamped(
                "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            ),
            "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1;received=192.0.2.1"
        );
    }

    #[test]
    fn rport_is_filled_and_forces_received() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1",
                "192.0.2.1:41000",
                false
            ),
            "SIP/2.0/UDP 192.0.2.1:5060;rport=41000;branch=z9hG4bK1;received=192.0.2.1"
        );
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:41000",
                true
            ),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=41000;received=192.0.2.1"
        );
    }

    #[test]
    fn client_written_values_are_overwritten() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1;received=203.0.113.9;rport=9;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            ),
            "SIP/2.0/UDP 192.0.2.1;received=192.0.2.1;rport=5060;branch=z9hG4bK1"
        );
    }

    #[test]
    fn ipv6_and_mapped_sources() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1",
                "[2001:db8::2]:5060",
                false
            ),
            "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::2"
        );
        let v = stamped(
            "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1",
            "[2001:db8::2]:5060",
            true,
        );
        let v = Via::parse(&v).expect("stamped via still parses");
        assert_eq!(
            v.received().and_then(|h| h.ip()),
            "2001:db8::2".parse().ok()
        );
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
                "[::ffff:192.0.2.1]:5060",
                false
            ),
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"
        );
    }

    #[test]
    fn only_the_top_via_of_a_request_changes() {
        let raw = "INVITE sip:b@example.com SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bKtop\r\n\
                   Max-Forwards: 70\r\n\
                   Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKsecond\r\n\
                   From: <sip:a@example.com>;tag=1\r\n\
                   To: <sip:b@example.com>\r\n\
                   Call-ID: c1\r\n\
                   CSeq: 1 INVITE\r\n\
                   Content-Length: 0\r\n\r\n";
        let mut m = Message::parse(raw.as_bytes()).expect("parses");
        stamp_request(&mut m, "192.0.2.7:40000".parse().expect("addr"), false);
        let names: Vec<_> = m.headers.iter().map(|h| h.name.clone()).collect();
        assert_eq!(names[0], HeaderName::Via);
        assert_eq!(names[1], HeaderName::MaxForwards);
        assert_eq!(names[2], HeaderName::Via);
        let vias: Vec<_> = m.headers.get_all(&HeaderName::Via).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 10.0.0.1:5070;rport=40000;branch=z9hG4bKtop;received=192.0.2.7",
                "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKsecond",
            ]
        );
    }
}
