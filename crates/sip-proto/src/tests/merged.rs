//! Merged requests (RFC 3261 §8.2.2.2): the same request reaching the
//! server twice by different paths, told apart from a retransmission by
//! its branch.

use super::pair::{ms, request_text, CLIENT_ADDR};
use crate::{Branch, Config, Event, Flow, RequestOutcome, TransactionLayer, TransportKind};
use sip_message::{HeaderName, Message, Method};
use std::time::Instant;

fn flow() -> Flow {
    Flow::new(CLIENT_ADDR.parse().expect("addr"), TransportKind::Udp)
}

fn request(method: &Method, branch: &str) -> Message {
    request_text(method, &Branch::new(branch), 7, TransportKind::Udp)
}

/// The status lines the layer queued, in order.
fn sent(layer: &mut TransactionLayer) -> Vec<u16> {
    std::iter::from_fn(|| layer.poll_transmit())
        .map(|t| {
            Message::parse(&t.payload)
                .expect("a response")
                .status()
                .expect("status")
        })
        .collect()
}

fn requests_seen(layer: &mut TransactionLayer) -> usize {
    std::iter::from_fn(|| layer.poll_event())
        .filter(|e| matches!(e, Event::Request { .. }))
        .count()
}

#[test]
fn a_second_branch_of_a_live_request_gets_482_and_never_reaches_the_tu() {
    for method in [Method::OPTIONS, Method::INVITE, Method::REGISTER] {
        let mut layer = TransactionLayer::new(Config {
            send_100_trying: false,
            ..Config::default()
        });
        let now = Instant::now();
        let first = layer
            .handle_request(now, request(&method, "z9hG4bKpath1"), flow())
            .expect("first");
        assert!(matches!(first, RequestOutcome::New(_)), "{method}");
        assert_eq!(requests_seen(&mut layer), 1);

        // The same request by another path: a new branch.
        let merged = layer
            .handle_request(now + ms(5), request(&method, "z9hG4bKpath2"), flow())
            .expect("merged");
        let RequestOutcome::Merged(key) = merged else {
            panic!("{method}: expected Merged, got {merged:?}");
        };
        assert_eq!(sent(&mut layer), vec![482], "{method}");
        assert_eq!(requests_seen(&mut layer), 0, "{method}");
        assert_eq!(layer.len(), 2);

        // Its retransmission is absorbed by its own transaction, which
        // answers 482 again; the first request is untouched.
        let again = layer
            .handle_request(now + ms(500), request(&method, "z9hG4bKpath2"), flow())
            .expect("retransmission");
        assert!(matches!(again, RequestOutcome::Absorbed), "{method}");
        assert_eq!(sent(&mut layer), vec![482], "{method}");
        assert!(layer.get(&key).is_some());
    }
}

#[test]
fn a_retransmission_an_in_dialog_request_or_a_new_cseq_is_not_merged() {
    let mut layer = TransactionLayer::new(Config::default());
    let now = Instant::now();
    layer
        .handle_request(now, request(&Method::OPTIONS, "z9hG4bKa"), flow())
        .expect("first");
    // Same branch: a retransmission.
    assert!(layer.has_server_transaction(&request(&Method::OPTIONS, "z9hG4bKa")));
    assert!(!layer.has_server_transaction(&request(&Method::OPTIONS, "z9hG4bKz")));
    let retransmission = layer
        .handle_request(now, request(&Method::OPTIONS, "z9hG4bKa"), flow())
        .expect("retransmission");
    assert!(matches!(retransmission, RequestOutcome::Absorbed));
    // Another CSeq: a new request.
    let mut next = request(&Method::OPTIONS, "z9hG4bKb");
    next.headers.set(HeaderName::CSeq, "8 OPTIONS");
    assert!(matches!(
        layer.handle_request(now, next, flow()).expect("next"),
        RequestOutcome::New(_)
    ));
    // A To tag: inside a dialog, §8.2.2.2 does not apply.
    let mut in_dialog = request(&Method::OPTIONS, "z9hG4bKc");
    in_dialog
        .headers
        .set(HeaderName::To, "<sip:bob@example.com>;tag=x");
    assert!(matches!(
        layer
            .handle_request(now, in_dialog, flow())
            .expect("in dialog"),
        RequestOutcome::New(_)
    ));
}

#[test]
fn once_the_first_transaction_ends_the_same_fields_are_new_again() {
    let mut layer = TransactionLayer::new(Config::default());
    let now = Instant::now();
    let RequestOutcome::New(key) = layer
        .handle_request(now, request(&Method::OPTIONS, "z9hG4bKa"), flow())
        .expect("first")
    else {
        panic!("new");
    };
    layer.terminate(&key);
    assert!(matches!(
        layer
            .handle_request(now, request(&Method::OPTIONS, "z9hG4bKb"), flow())
            .expect("later"),
        RequestOutcome::New(_)
    ));
}
