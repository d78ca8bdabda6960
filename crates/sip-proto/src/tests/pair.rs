//! A two-party simulation on a virtual clock, modelled on quinn-proto's
//! `Pair`: a client and a server `TransactionLayer` joined by a `Link` with
//! latency and a deterministic drop plan. Messages cross as bytes
//! (`to_bytes` then `Message::parse`), so the codec is exercised too.
//! `drive` jumps `now` to the earliest pending delivery, timer or scripted
//! TU action; nothing sleeps.

use crate::{
    Branch, Config, Event, Flow, RequestOutcome, ResponseOutcome, TransactionKey, TransactionLayer,
    TransportKind, TwoXxEvent, TwoXxRetransmitter,
};
use sip_message::{HeaderName, Message, Method, ResponseBuilder};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) const CLIENT_ADDR: &str = "10.0.0.1:5060";
pub(crate) const SERVER_ADDR: &str = "10.0.0.2:5060";
pub(crate) const SERVER_TAG: &str = "srv-tag";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// Which way a message crosses the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    ToServer,
    ToClient,
}

/// Drop the `nth` (1-based) message going `dir` whose first line starts
/// with `prefix` (any message when `None`); with `and_later`, every later
/// matching one too.
#[derive(Debug, Clone)]
pub(crate) struct DropRule {
    dir: Dir,
    prefix: Option<&'static str>,
    nth: usize,
    and_later: bool,
    seen: usize,
}

impl DropRule {
    fn hits(&mut self, dir: Dir, first_line: &str) -> bool {
        if dir != self.dir || self.prefix.is_some_and(|p| !first_line.starts_with(p)) {
            return false;
        }
        self.seen += 1;
        self.seen == self.nth || (self.and_later && self.seen > self.nth)
    }
}

/// A link with fixed latency and a drop plan.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) latency: Duration,
    pub(crate) transport: TransportKind,
    rules: Vec<DropRule>,
    in_flight: Vec<InFlight>,
    seq: u64,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    dir: Dir,
    bytes: bytes::Bytes,
}

/// One message as it was put on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub(crate) at: Duration,
    pub(crate) dir: Dir,
    pub(crate) first_line: String,
    pub(crate) bytes: bytes::Bytes,
    pub(crate) dropped: bool,
}

impl Wire {
    pub(crate) fn message(&self) -> Message {
        Message::parse(&self.bytes).expect("wire message parses")
    }
}

/// What the server's TU does, scripted.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerTu {
    /// Final status for INVITEs and the delay before sending it.
    pub(crate) invite: Option<(u16, Duration)>,
    /// Final status for other requests and the delay before sending it.
    pub(crate) non_invite: Option<(u16, Duration)>,
    /// Send 180 at once to every INVITE.
    pub(crate) ringing: bool,
    /// Answer CANCEL: 200 to it, 487 to the INVITE it targets.
    pub(crate) answer_cancel: bool,
}

/// What the client's TU does.
#[derive(Debug, Clone)]
pub(crate) struct ClientTu {
    /// ACK every 2xx to an INVITE (RFC 3261 §13.2.2.4).
    pub(crate) ack_2xx: bool,
}

pub(crate) struct Pair {
    pub(crate) client: TransactionLayer,
    pub(crate) server: TransactionLayer,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) link: Link,
    pub(crate) server_tu: ServerTu,
    pub(crate) client_tu: ClientTu,
    pub(crate) wire: Vec<Wire>,
    pub(crate) client_events: Vec<(Duration, Event)>,
    pub(crate) server_events: Vec<(Duration, Event)>,
    pub(crate) server_absorbed: usize,
    pub(crate) server_stray_acks: Vec<Duration>,
    pub(crate) client_stray_responses: usize,
    pub(crate) two_xx: Vec<TwoXxRetransmitter>,
    pub(crate) two_xx_events: Vec<(Duration, TwoXxEvent)>,
    /// Server keys of INVITEs the server TU cancelled.
    pub(crate) cancelled: Vec<TransactionKey>,
    /// Requests each side knows by key (sent by the client, received by the
    /// server), to build ACKs and responses.
    client_requests: HashMap<TransactionKey, Message>,
    server_requests: HashMap<TransactionKey, (Message, Flow)>,
    scripted: Vec<(Instant, TransactionKey, u16)>,
    calls: u32,
}

impl Pair {
    pub(crate) fn new(transport: TransportKind) -> Self {
        Self::with_configs(
            Config {
                branch_seed: Some(1),
                ..Config::default()
            },
            Config {
                branch_seed: Some(2),
                ..Config::default()
            },
            transport,
        )
    }

    pub(crate) fn with_configs(client: Config, server: Config, transport: TransportKind) -> Self {
        let start = Instant::now();
        Pair {
            client: TransactionLayer::new(client),
            server: TransactionLayer::new(server),
            start,
            now: start,
            link: Link {
                latency: Duration::from_millis(50),
                transport,
                rules: Vec::new(),
                in_flight: Vec::new(),
                seq: 0,
            },
            server_tu: ServerTu::default(),
            client_tu: ClientTu { ack_2xx: true },
            wire: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_absorbed: 0,
            server_stray_acks: Vec::new(),
            client_stray_responses: 0,
            two_xx: Vec::new(),
            two_xx_events: Vec::new(),
            cancelled: Vec::new(),
            client_requests: HashMap::new(),
            server_requests: HashMap::new(),
            scripted: Vec::new(),
            calls: 0,
        }
    }

    // ---- drop plan ----

    pub(crate) fn drop_nth(&mut self, dir: Dir, prefix: Option<&'static str>, nth: usize) {
        self.link.rules.push(DropRule {
            dir,
            prefix,
            nth,
            and_later: false,
            seen: 0,
        });
    }

    pub(crate) fn drop_all(&mut self, dir: Dir, prefix: Option<&'static str>) {
        self.link.rules.push(DropRule {
            dir,
            prefix,
            nth: 1,
            and_later: true,
            seen: 0,
        });
    }

    // ---- client TU actions ----

    pub(crate) fn server_flow(&self) -> Flow {
        Flow::new(addr(SERVER_ADDR), self.link.transport)
    }

    fn client_flow(&self) -> Flow {
        Flow::new(addr(CLIENT_ADDR), self.link.transport)
    }

    /// A request as a UA would build it, with a fresh branch and Call-ID.
    pub(crate) fn build_request(&mut self, method: &Method) -> Message {
        self.calls += 1;
        let branch = self.client.new_branch();
        request_text(method, &branch, self.calls, self.link.transport)
    }

    pub(crate) fn send_request(&mut self, method: &Method) -> TransactionKey {
        let request = self.build_request(method);
        self.send(request)
    }

    pub(crate) fn send(&mut self, request: Message) -> TransactionKey {
        let flow = self.server_flow();
        let key = self
            .client
            .send_request(self.now, request.clone(), flow, flow.is_reliable())
            .expect("client transaction starts");
        self.client_requests.insert(key.clone(), request);
        key
    }

    // ---- running ----

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Runs until nothing is pending at all.
    pub(crate) fn drive(&mut self) {
        self.run(None);
    }

    /// Runs until `at` (from the start), leaving `now` there.
    pub(crate) fn drive_until(&mut self, at: Duration) {
        self.run(Some(self.start + at));
        self.now = self.now.max(self.start + at);
    }

    fn run(&mut self, end: Option<Instant>) {
        for _ in 0..100_000 {
            self.flush();
            let next = [
                self.link.in_flight.iter().map(|m| m.at).min(),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.two_xx.iter().filter_map(|t| t.poll_timeout()).min(),
                self.scripted.iter().map(|s| s.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return };
            if end.is_some_and(|end| next > end) {
                return;
            }
            self.now = self.now.max(next);
            self.step();
        }
        panic!("simulation did not settle");
    }

    /// Everything due at `now`: deliveries, timers, scripted TU actions.
    fn step(&mut self) {
        let now = self.now;
        self.link.in_flight.sort_by_key(|m| (m.at, m.seq));
        while self.link.in_flight.first().is_some_and(|m| m.at <= now) {
            let m = self.link.in_flight.remove(0);
            self.deliver(m);
            self.flush();
        }
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        for t in &mut self.two_xx {
            if t.poll_timeout().is_some_and(|at| at <= now) {
                t.handle_timeout(now);
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = self.scripted.drain(..).partition(|s| s.0 <= now);
        self.scripted = later;
        for (_, key, code) in due {
            self.respond(&key, code);
        }
    }

    fn deliver(&mut self, m: InFlight) {
        let message = Message::parse(&m.bytes).expect("message crosses the link intact");
        match m.dir {
            Dir::ToServer => {
                let flow = self.client_flow();
                match self.server.handle_request(self.now, message, flow) {
                    Ok(RequestOutcome::Absorbed) => self.server_absorbed += 1,
                    Ok(RequestOutcome::New(_)) | Ok(RequestOutcome::Merged(_)) => {}
                    Ok(RequestOutcome::StrayAck(_)) => {
                        self.server_stray_acks.push(self.elapsed());
                        for t in &mut self.two_xx {
                            t.ack_received();
                        }
                    }
                    Err(e) => panic!("server refused a request: {e}"),
                }
            }
            Dir::ToClient => match self.client.handle_response(self.now, message) {
                Ok(ResponseOutcome::Matched(_)) => {}
                Ok(ResponseOutcome::Stray(_)) => self.client_stray_responses += 1,
                Err(e) => panic!("client refused a response: {e}"),
            },
        }
    }

    /// Drains both layers (and the 2xx retransmitters) until quiet, letting
    /// the scripted TUs react to events.
    fn flush(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.client.poll_transmit() {
                self.put_on_wire(Dir::ToServer, t.payload);
                progress = true;
            }
            while let Some(t) = self.server.poll_transmit() {
                self.put_on_wire(Dir::ToClient, t.payload);
                progress = true;
            }
            let mut retransmits = Vec::new();
            for t in &mut self.two_xx {
                while let Some(x) = t.poll_transmit() {
                    retransmits.push(x.payload);
                }
                while let Some(e) = t.poll_event() {
                    self.two_xx_events.push((self.now - self.start, e));
                }
            }
            for payload in retransmits {
                self.put_on_wire(Dir::ToClient, payload);
                progress = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_tu_reacts(&e);
                self.client_events.push((self.elapsed(), e));
                progress = true;
            }
            while let Some(e) = self.server.poll_event() {
                self.server_tu_reacts(&e);
                self.server_events.push((self.elapsed(), e));
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    /// Puts raw bytes on the link now, as a peer outside the layers would
    /// (an RFC 2543 client, say).
    pub(crate) fn inject(&mut self, dir: Dir, bytes: bytes::Bytes) {
        self.put_on_wire(dir, bytes);
    }

    fn put_on_wire(&mut self, dir: Dir, bytes: bytes::Bytes) {
        let first_line = String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        // Every rule sees every message (each counts its matches), so no
        // short-circuiting `any`.
        let mut dropped = false;
        for rule in &mut self.link.rules {
            dropped |= rule.hits(dir, &first_line);
        }
        self.wire.push(Wire {
            at: self.elapsed(),
            dir,
            first_line,
            bytes: bytes.clone(),
            dropped,
        });
        if !dropped {
            self.link.seq += 1;
            self.link.in_flight.push(InFlight {
                at: self.now + self.link.latency,
                seq: self.link.seq,
                dir,
                bytes,
            });
        }
    }

    fn client_tu_reacts(&mut self, event: &Event) {
        let Event::Response { key, message } = event else {
            return;
        };
        let is_2xx = message.status().is_some_and(|c| (200..300).contains(&c));
        if !(is_2xx && *key.method() == Method::INVITE && self.client_tu.ack_2xx) {
            return;
        }
        let Some(invite) = self.client_requests.get(key) else {
            return;
        };
        // RFC 3261 §13.2.2.4: the ACK to a 2xx is a new transaction of the
        // TU's, with a new branch, sent outside the transaction layer.
        let branch = self.client.new_branch();
        let mut ack = Message::request(Method::ACK, invite.request_uri().expect("request").clone());
        ack.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {CLIENT_ADDR};branch={branch}",
                self.link.transport
            ),
        );
        ack.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::CallId] {
            let value = invite.header(&name).expect("header").to_string();
            ack.headers.push(name, value);
        }
        let to = message.header(&HeaderName::To).expect("To").to_string();
        ack.headers.push(HeaderName::To, to);
        let seq = invite.cseq().expect("CSeq").seq;
        ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
        let flow = self.server_flow();
        self.client.send_stateless(&ack, flow);
    }

    fn server_tu_reacts(&mut self, event: &Event) {
        let Event::Request { key, message, flow } = event else {
            return;
        };
        self.server_requests
            .insert(key.clone(), (message.clone(), *flow));
        let method = key.method().clone();
        if method == Method::CANCEL {
            if self.server_tu.answer_cancel {
                self.respond(key, 200);
                if let Some(invite) = self.server.find_invite_for_cancel(message) {
                    self.cancelled.push(invite.clone());
                    self.respond(&invite, 487);
                }
            }
            return;
        }
        let answer = if method == Method::INVITE {
            if self.server_tu.ringing {
                self.respond(key, 180);
            }
            self.server_tu.invite
        } else {
            self.server_tu.non_invite
        };
        if let Some((code, delay)) = answer {
            if delay.is_zero() {
                self.respond(key, code);
            } else {
                self.scripted.push((self.now + delay, key.clone(), code));
            }
        }
    }

    /// The server TU answers a server transaction.
    pub(crate) fn respond(&mut self, key: &TransactionKey, code: u16) {
        let Some((request, flow)) = self.server_requests.get(key) else {
            return;
        };
        let flow = *flow;
        let response = ResponseBuilder::to_request(request, code)
            .to_tag(SERVER_TAG)
            .build();
        let now = self.now;
        if self.server.send_response(now, key, &response).is_err() {
            return;
        }
        if *key.method() == Method::INVITE && (200..300).contains(&code) {
            let payload = self.server.last_response(key).expect("2xx was sent");
            let timers = *self.server.timers();
            self.two_xx
                .push(TwoXxRetransmitter::new(now, payload, flow, &timers));
        }
    }

    // ---- observations ----

    /// Times (ms from start) at which messages whose first line starts with
    /// `prefix` went on the wire in `dir`, dropped or not.
    pub(crate) fn sent_ms(&self, dir: Dir, prefix: &str) -> Vec<u128> {
        self.wire
            .iter()
            .filter(|w| w.dir == dir && w.first_line.starts_with(prefix))
            .map(|w| w.at.as_millis())
            .collect()
    }

    /// Times (ms) of Response events with this status at the client TU.
    pub(crate) fn client_responses_ms(&self, code: u16) -> Vec<u128> {
        self.client_events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Response { message, .. } if message.status() == Some(code) => {
                    Some(at.as_millis())
                }
                _ => None,
            })
            .collect()
    }

    /// Server keys of Request events, in order.
    pub(crate) fn server_request_keys(&self) -> Vec<TransactionKey> {
        self.server_events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Request { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    /// When (ms) each side reported `key` terminated.
    pub(crate) fn terminated_ms(
        events: &[(Duration, Event)],
        key: &TransactionKey,
    ) -> Option<u128> {
        events.iter().find_map(|(at, e)| match e {
            Event::Terminated { key: k } if k == key => Some(at.as_millis()),
            _ => None,
        })
    }

    /// Timeout events as (ms, timer letter).
    pub(crate) fn timeouts(events: &[(Duration, Event)]) -> Vec<(u128, crate::Timer)> {
        events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Timeout { timer, .. } => Some((at.as_millis(), *timer)),
                _ => None,
            })
            .collect()
    }
}

/// A request with the shape a UA sends (RFC 3261 §8.1.1), through the parser.
pub(crate) fn request_text(
    method: &Method,
    branch: &Branch,
    call: u32,
    transport: TransportKind,
) -> Message {
    let text = format!(
        "{method} sip:bob@{SERVER_ADDR} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {CLIENT_ADDR};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         From: <sip:alice@example.com>;tag=alice{call}\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: call{call}@{CLIENT_ADDR}\r\n\
         CSeq: {call} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(text.as_bytes()).expect("test request parses")
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
