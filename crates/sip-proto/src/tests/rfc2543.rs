//! RFC 2543 fallback matching (RFC 3261 §17.2.3, requests without the
//! magic cookie), on a server layer fed by hand.

use crate::{
    Config, Event, Flow, RequestOutcome, ServerInviteState, TransactionLayer, TransactionState,
    TransportKind,
};
use sip_message::{Message, ResponseBuilder};
use std::time::{Duration, Instant};

fn old_style(method: &str, to_tag: Option<&str>, cseq: u32, via_params: &str) -> Message {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "{method} sip:bob@10.0.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060{via_params}\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>{to_tag}\r\n\
         Call-ID: old@10.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(text.as_bytes()).expect("test request parses")
}

fn layer() -> (TransactionLayer, Flow, Instant) {
    let layer = TransactionLayer::new(Config {
        send_100_trying: false,
        ..Config::default()
    });
    let flow = Flow::new("10.0.0.1:5060".parse().expect("addr"), TransportKind::Udp);
    (layer, flow, Instant::now())
}

fn drain(layer: &mut TransactionLayer) -> (Vec<String>, usize) {
    let mut sent = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        let text = String::from_utf8_lossy(&t.payload).to_string();
        sent.push(text.lines().next().unwrap_or_default().to_string());
    }
    let mut requests = 0;
    while let Some(e) = layer.poll_event() {
        if matches!(e, Event::Request { .. }) {
            requests += 1;
        }
    }
    (sent, requests)
}

#[test]
fn rfc2543_retransmission_matches_without_cookie() {
    for via_params in ["", ";branch=1234abcd", ";branch=z9hG4bK"] {
        let (mut layer, flow, now) = layer();
        let invite = old_style("INVITE", None, 1, via_params);
        let RequestOutcome::New(key) = layer
            .handle_request(now, invite.clone(), flow)
            .expect("handled")
        else {
            panic!("a new transaction for {via_params:?}");
        };
        assert!(key.is_rfc2543());
        let busy = ResponseBuilder::to_request(&invite, 486)
            .to_tag("b1")
            .build();
        layer.send_response(now, &key, &busy).expect("sent");
        assert_eq!(drain(&mut layer), (vec!["SIP/2.0 486 Busy Here".into()], 1));

        // The same INVITE again: a retransmission, answered with the 486.
        let later = now + Duration::from_millis(100);
        let outcome = layer.handle_request(later, invite.clone(), flow);
        assert!(matches!(outcome, Ok(RequestOutcome::Absorbed)));
        assert_eq!(drain(&mut layer), (vec!["SIP/2.0 486 Busy Here".into()], 0));

        // Another CSeq is another request.
        let next = old_style("INVITE", None, 2, via_params);
        let outcome = layer.handle_request(later, next, flow);
        assert!(matches!(outcome, Ok(RequestOutcome::New(_))));
        assert_eq!(layer.len(), 2);
    }
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_of_the_response() {
    let (mut layer, flow, now) = layer();
    let invite = old_style("INVITE", None, 1, "");
    let Ok(RequestOutcome::New(key)) = layer.handle_request(now, invite.clone(), flow) else {
        panic!("a new transaction");
    };
    let busy = ResponseBuilder::to_request(&invite, 486)
        .to_tag("b1")
        .build();
    layer.send_response(now, &key, &busy).expect("sent");
    drain(&mut layer);

    // An ACK with another To tag acknowledges some other response.
    let wrong = old_style("ACK", Some("zz"), 1, "");
    let outcome = layer.handle_request(now, wrong, flow);
    assert!(matches!(outcome, Ok(RequestOutcome::StrayAck(_))));
    assert_eq!(
        layer.state(&key),
        Some(TransactionState::ServerInvite(ServerInviteState::Completed))
    );

    // The ACK carrying the tag of our 486 matches (its CSeq method differs
    // from the INVITE's, its To differs from the INVITE's: both allowed).
    let ack = old_style("ACK", Some("b1"), 1, "");
    let outcome = layer.handle_request(now, ack.clone(), flow);
    assert!(matches!(outcome, Ok(RequestOutcome::Absorbed)));
    assert_eq!(
        layer.state(&key),
        Some(TransactionState::ServerInvite(ServerInviteState::Confirmed))
    );
    // Retransmitted ACKs are absorbed in Confirmed.
    let outcome = layer.handle_request(now, ack, flow);
    assert!(matches!(outcome, Ok(RequestOutcome::Absorbed)));
    assert_eq!(drain(&mut layer), (vec![], 0));
}

#[test]
fn rfc2543_reinvite_ack_and_cancel_match() {
    let (mut layer, flow, now) = layer();
    // A re-INVITE already carries the To tag; its response keeps it.
    let reinvite = old_style("INVITE", Some("d1"), 5, "");
    let Ok(RequestOutcome::New(key)) = layer.handle_request(now, reinvite.clone(), flow) else {
        panic!("a new transaction");
    };
    // CANCEL: same fields, method ignored (RFC 3261 §9.2).
    let cancel = old_style("CANCEL", Some("d1"), 5, "");
    assert_eq!(layer.find_invite_for_cancel(&cancel), Some(key.clone()));
    let other = old_style("CANCEL", Some("d1"), 6, "");
    assert_eq!(layer.find_invite_for_cancel(&other), None);

    let pending = ResponseBuilder::to_request(&reinvite, 491).build();
    layer.send_response(now, &key, &pending).expect("sent");
    let ack = old_style("ACK", Some("d1"), 5, "");
    assert!(matches!(
        layer.handle_request(now, ack, flow),
        Ok(RequestOutcome::Absorbed)
    ));
    assert_eq!(
        layer.state(&key),
        Some(TransactionState::ServerInvite(ServerInviteState::Confirmed))
    );
}

#[test]
fn rfc2543_fallback_through_the_simulated_link() {
    // An RFC 2543 client is only bytes here: it sends its INVITE, resends
    // the very same bytes 300 ms later, then ACKs the final.
    use super::pair::{ms, Dir, Pair, SERVER_TAG};
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.invite = Some((480, ms(0)));
    p.drop_nth(Dir::ToClient, None, 1);
    let invite = bytes::Bytes::from(old_style("INVITE", None, 1, "").to_bytes());
    p.inject(Dir::ToServer, invite.clone());
    p.drive_until(ms(300));
    p.inject(Dir::ToServer, invite);
    p.drive_until(ms(1_000));
    let ack = old_style("ACK", Some(SERVER_TAG), 1, "");
    p.inject(Dir::ToServer, bytes::Bytes::from(ack.to_bytes()));
    p.drive_until(ms(1_100));
    let keys = p.server_request_keys();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].is_rfc2543());
    // The first 480 was lost; the retransmitted INVITE (arriving at 350 ms)
    // got it again, and so did Timer G at 550.
    assert_eq!(p.sent_ms(Dir::ToClient, "SIP/2.0 480"), [50, 350, 550]);
    assert_eq!(p.server_absorbed, 2);
    assert!(p.server_stray_acks.is_empty());
    assert_eq!(
        p.server.state(&keys[0]),
        Some(TransactionState::ServerInvite(ServerInviteState::Confirmed))
    );
    p.drive();
    // Timer I after the ACK at 1050 ms; no Timer H.
    assert_eq!(Pair::terminated_ms(&p.server_events, &keys[0]), Some(6_050));
    assert!(Pair::timeouts(&p.server_events).is_empty());
}
