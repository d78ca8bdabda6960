//! Transaction-layer throughput: complete non-INVITE and INVITE
//! transactions between a client and a server `TransactionLayer`, with
//! every message crossing as bytes (serialise + parse), on TCP flows so that
//! each transaction ends as soon as its final response is through.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_message::{HeaderName, Host, Message, Method, ResponseBuilder, SipUri, Uri};
use sip_proto::{Config, Event, Flow, TransactionLayer, TransportKind};
use std::time::Instant;

struct Pair {
    client: TransactionLayer,
    server: TransactionLayer,
    n: u64,
    to_client: Flow,
    to_server: Flow,
}

impl Pair {
    fn new() -> Self {
        Pair {
            client: TransactionLayer::new(Config::default()),
            server: TransactionLayer::new(Config::default()),
            n: 0,
            to_client: Flow::new("127.0.0.1:5061".parse().expect("addr"), TransportKind::Tcp),
            to_server: Flow::new("127.0.0.1:5060".parse().expect("addr"), TransportKind::Tcp),
        }
    }

    fn request(&mut self, method: Method) -> Message {
        self.n += 1;
        let uri = Uri::Sip(SipUri::new(
            Some("bob"),
            Host::Domain("example.com".into()),
            None,
        ));
        let mut m = Message::request(method.clone(), uri);
        let branch = self.client.new_branch();
        m.headers.push(
            HeaderName::Via,
            format!("SIP/2.0/TCP 127.0.0.1:5061;branch={branch}"),
        );
        m.headers.push(HeaderName::MaxForwards, "70");
        m.headers
            .push(HeaderName::From, "<sip:alice@example.com>;tag=a1");
        m.headers.push(HeaderName::To, "<sip:bob@example.com>");
        m.headers
            .push(HeaderName::CallId, format!("bench-{}@example.com", self.n));
        m.headers.push(HeaderName::CSeq, format!("1 {method}"));
        m
    }

    /// One complete transaction; returns the final status seen by the client.
    fn transaction(&mut self, method: Method, code: u16) -> u16 {
        let now = Instant::now();
        let request = self.request(method);
        self.client
            .send_request(now, request, self.to_server, true)
            .expect("sent");
        let mut status = 0;
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                let m = Message::parse(&t.payload).expect("request parses");
                let _ = self
                    .server
                    .handle_request(now, m, self.to_client)
                    .expect("handled");
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                if let Event::Request { key, message, .. } = e {
                    let r = ResponseBuilder::to_request(&message, code)
                        .to_tag("s1")
                        .build();
                    self.server.send_response(now, &key, &r).expect("responded");
                }
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                let m = Message::parse(&t.payload).expect("response parses");
                let _ = self.client.handle_response(now, m).expect("handled");
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                if let Event::Response { message, .. } = e {
                    status = message.status().unwrap_or(0);
                }
            }
            if !moved {
                break;
            }
        }
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        status
    }
}

fn transactions(c: &mut Criterion) {
    let mut group = c.benchmark_group("transactions");
    group.throughput(Throughput::Elements(1));
    let mut pair = Pair::new();
    group.bench_function("options_200_round_trip", |b| {
        b.iter(|| assert_eq!(pair.transaction(Method::OPTIONS, 200), 200))
    });
    // A non-2xx final to INVITE: the client transaction builds the ACK.
    let mut pair = Pair::new();
    group.bench_function("invite_486_round_trip_with_ack", |b| {
        b.iter(|| assert_eq!(pair.transaction(Method::INVITE, 486), 486))
    });
    group.finish();
    // Nothing may pile up across iterations.
    assert!(
        pair.client.len() < 16 && pair.server.len() < 16,
        "{} {}",
        pair.client.len(),
        pair.server.len()
    );
}

criterion_group!(benches, transactions);
criterion_main!(benches);
