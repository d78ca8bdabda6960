//! The transaction layer's input path: the fuzz input is cut into messages
//! (at NUL bytes); each that parses is fed to a layer as a request or a
//! response, with virtual time advancing between inputs, and every output is
//! drained. The layer already holds client transactions (INVITE and
//! non-INVITE) for fuzzed responses to match. Nothing may panic, and the
//! layer must not grow past the messages fed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::{HeaderName, Host, Message, Method, ResponseBuilder, SipUri, Uri};
use sip_proto::{Config, Event, Flow, TransactionLayer, TransportKind};
use std::time::{Duration, Instant};

fn client_request(layer: &mut TransactionLayer, method: Method, branch: &str) -> Message {
    let uri = Uri::Sip(SipUri::new(
        Some("bob"),
        Host::Domain("example.com".into()),
        None,
    ));
    let mut m = Message::request(method.clone(), uri);
    m.headers.push(
        HeaderName::Via,
        format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
    );
    m.headers
        .push(HeaderName::From, "<sip:a@example.com>;tag=1");
    m.headers.push(HeaderName::To, "<sip:bob@example.com>");
    m.headers.push(HeaderName::CallId, "fuzz-call");
    m.headers.push(HeaderName::CSeq, format!("1 {method}"));
    let _ = layer;
    m
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let mut layer = TransactionLayer::new(Config {
        branch_seed: Some(7),
        ..Config::default()
    });
    let flow = Flow::new("192.0.2.1:5060".parse().expect("addr"), TransportKind::Udp);
    for (method, branch) in [
        (Method::INVITE, "z9hG4bKinv"),
        (Method::OPTIONS, "z9hG4bKopt"),
        (Method::BYE, "z9hG4bKbye"),
    ] {
        let request = client_request(&mut layer, method, branch);
        let _ = layer.send_request(now, request, flow, false);
    }
    let mut fed = 3usize;
    for chunk in data.split(|b| *b == 0) {
        let step = chunk.first().copied().unwrap_or(0);
        now += Duration::from_millis(u64::from(step) * 37);
        layer.handle_timeout(now);
        if let Ok(message) = Message::parse(chunk) {
            fed += 1;
            if message.is_request() {
                let _ = layer.handle_request(now, message, flow);
            } else {
                let _ = layer.handle_response(now, message);
            }
        }
        while layer.poll_transmit().is_some() {}
        while let Some(event) = layer.poll_event() {
            if let Event::Request { key, message, .. } = event {
                // Answer some finally, some provisionally, some not at all.
                let code = [100u16, 180, 200, 486, 0][usize::from(step) % 5];
                if code != 0 {
                    let response = ResponseBuilder::to_request(&message, code)
                        .to_tag("t")
                        .build();
                    let _ = layer.send_response(now, &key, &response);
                }
            }
        }
        if let Some(at) = layer.poll_timeout() {
            assert!(at >= start, "a deadline in the past of the layer's start");
        }
    }
    assert!(
        layer.len() <= fed,
        "{} transactions from {} messages",
        layer.len(),
        fed
    );
    // Long after every timer, every transaction has ended.
    now += Duration::from_secs(3600);
    layer.handle_timeout(now);
    layer.handle_timeout(now + Duration::from_secs(3600));
    while layer.poll_transmit().is_some() {}
    while layer.poll_event().is_some() {}
});
