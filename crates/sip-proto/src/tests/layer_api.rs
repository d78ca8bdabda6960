//! The layer's API contract: refusals, transport errors, stray messages.

use super::pair::{ms, Pair};
use crate::{
    Config, Event, Flow, RequestOutcome, ResponseOutcome, Role, TransactionError, TransactionLayer,
    TransportKind,
};
use sip_message::{HeaderName, Method, ResponseBuilder};
use std::time::Instant;

fn flow() -> Flow {
    Flow::new("10.0.0.2:5060".parse().expect("addr"), TransportKind::Udp)
}

#[test]
fn send_request_refuses_ack_reused_branches_and_missing_cookies() {
    let mut p = Pair::new(TransportKind::Udp);
    let now = p.now;
    let request = p.build_request(&Method::OPTIONS);
    p.client
        .send_request(now, request.clone(), flow(), false)
        .expect("first");
    assert_eq!(
        p.client.send_request(now, request.clone(), flow(), false),
        Err(TransactionError::DuplicateTransaction)
    );
    let ack = p.build_request(&Method::ACK);
    assert_eq!(
        p.client.send_request(now, ack, flow(), false),
        Err(TransactionError::AckNotATransaction)
    );
    let mut old = p.build_request(&Method::OPTIONS);
    old.headers
        .set(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;branch=1");
    assert_eq!(
        p.client.send_request(now, old, flow(), false),
        Err(TransactionError::MissingBranch)
    );
    let response = ResponseBuilder::to_request(&request, 200).build();
    assert_eq!(
        p.client.send_request(now, response, flow(), false),
        Err(TransactionError::NotARequest)
    );
    assert_eq!(p.client.len(), 1);
}

#[test]
fn send_response_refusals() {
    let mut p = Pair::new(TransportKind::Udp);
    let client_key = p.send_request(&Method::OPTIONS);
    p.drive_until(ms(100));
    let server_key = p.server_request_keys()[0].clone();
    assert_eq!(server_key.role(), Role::Server);
    let request = p.wire[0].message();
    let now = p.now;
    let ok = ResponseBuilder::to_request(&request, 200).build();
    assert_eq!(
        p.server.send_response(now, &client_key, &ok),
        Err(TransactionError::NotAServerTransaction)
    );
    assert_eq!(
        p.server.send_response(now, &server_key, &request),
        Err(TransactionError::NotAResponse)
    );
    let mut weird = ok.clone();
    if let sip_message::StartLine::Response(s) = &mut weird.start {
        s.code = 99;
    }
    assert_eq!(
        p.server.send_response(now, &server_key, &weird),
        Err(TransactionError::InvalidStatus(99))
    );
    p.server
        .send_response(now, &server_key, &ok)
        .expect("first final");
    assert_eq!(
        p.server.send_response(now, &server_key, &ok),
        Err(TransactionError::FinalAlreadySent)
    );
}

#[test]
fn transport_error_ends_the_transaction_and_tells_the_tu() {
    let mut layer = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let mut p = Pair::new(TransportKind::Udp);
    let request = p.build_request(&Method::INVITE);
    let key = layer
        .send_request(now, request, flow(), false)
        .expect("started");
    let t = layer.poll_transmit().expect("INVITE sent");
    assert_eq!(t.key.as_ref(), Some(&key));
    layer.handle_transport_error(now, &key);
    let events: Vec<Event> = std::iter::from_fn(|| layer.poll_event()).collect();
    assert!(matches!(&events[..], [
        Event::TransportError { key: a },
        Event::Terminated { key: b },
    ] if *a == key && *b == key));
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    // Reporting again is harmless.
    layer.handle_transport_error(now, &key);
    assert!(layer.poll_event().is_none());
}

#[test]
fn stray_responses_and_acks_are_handed_back() {
    let mut layer = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let mut p = Pair::new(TransportKind::Udp);
    let request = p.build_request(&Method::INVITE);
    let response = ResponseBuilder::to_request(&request, 200).build();
    assert!(matches!(
        layer.handle_response(now, response),
        Ok(ResponseOutcome::Stray(_))
    ));
    let ack = p.build_request(&Method::ACK);
    assert!(matches!(
        layer.handle_request(now, ack, flow()),
        Ok(RequestOutcome::StrayAck(_))
    ));
    assert_eq!(
        layer.handle_response(now, request.clone()).err(),
        Some(TransactionError::NotAResponse)
    );
    // A hand-built message with no Via cannot be matched.
    let mut bare = request;
    bare.headers.remove(&HeaderName::Via);
    assert_eq!(
        layer.handle_request(now, bare.clone(), flow()).err(),
        Some(TransactionError::MissingVia)
    );
    let no_via = ResponseBuilder::to_request(&bare, 200).build();
    assert!(matches!(
        layer.handle_response(now, no_via),
        Ok(ResponseOutcome::Stray(_))
    ));
    assert!(layer.is_empty());
    assert!(layer.poll_transmit().is_none());
}

#[test]
fn responses_to_another_method_with_the_same_branch_do_not_match() {
    // RFC 3261 §17.1.3: branch and CSeq method together.
    let mut p = Pair::new(TransportKind::Udp);
    p.server_tu.ringing = true;
    let key = p.send_request(&Method::INVITE);
    p.drive_until(ms(200));
    let invite = p.wire[0].message();
    let mut for_cancel = ResponseBuilder::to_request(&invite, 200).build();
    let seq = invite.cseq().expect("CSeq").seq;
    for_cancel
        .headers
        .set(HeaderName::CSeq, format!("{seq} CANCEL"));
    let now = p.now;
    assert!(matches!(
        p.client.handle_response(now, for_cancel),
        Ok(ResponseOutcome::Stray(_))
    ));
    assert!(p.client.get(&key).is_some());
}

#[test]
fn new_branch_is_rfc3261_and_unique() {
    let mut layer = TransactionLayer::new(Config::default());
    let a = layer.new_branch();
    let b = layer.new_branch();
    assert!(a.is_rfc3261() && b.is_rfc3261());
    assert_ne!(a, b);
}

#[test]
fn terminate_removes_an_unanswered_server_transaction() {
    let mut p = Pair::new(TransportKind::Udp);
    p.send_request(&Method::OPTIONS);
    p.drive_until(ms(100));
    let key = p.server_request_keys()[0].clone();
    assert_eq!(p.server.len(), 1);
    p.server.terminate(&key);
    assert!(p.server.is_empty());
    assert!(matches!(p.server.poll_event(), Some(Event::Terminated { key: k }) if k == key));
    // A retransmission now looks new again: the TU chose to forget it.
    p.drive_until(ms(600));
    assert_eq!(p.server_request_keys().len(), 2);
}

#[test]
fn degenerate_timer_values_are_clamped() {
    let timers = crate::Timers {
        t1: std::time::Duration::ZERO,
        t2: std::time::Duration::ZERO,
        t4: std::time::Duration::MAX,
    };
    let mut layer = TransactionLayer::new(Config {
        timers,
        ..Config::default()
    });
    let t = *layer.timers();
    assert!(t.t1 > std::time::Duration::ZERO && t.t2 >= t.t1);
    let now = Instant::now();
    let mut p = Pair::new(TransportKind::Udp);
    let request = p.build_request(&Method::OPTIONS);
    layer
        .send_request(now, request, flow(), false)
        .expect("started");
    // Runs to Timer F without spinning or overflowing.
    let mut steps = 0;
    while let Some(at) = layer.poll_timeout() {
        layer.handle_timeout(at);
        steps += 1;
        assert!(steps < 1_000);
    }
    assert!(layer.is_empty());
}
