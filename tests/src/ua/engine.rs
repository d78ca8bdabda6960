//! The phone's engine: one lock over all its SIP state, driven by three
//! kinds of input — a message from a reader thread ([`Engine::receive`]),
//! the 10 ms tick of the timer thread ([`Engine::tick`]), and the test's
//! own calls through [`Phone`](super::Phone) and the call handles. Every
//! input ends with a notification of the condition variable the blocking
//! calls wait on, each with a deadline.
//!
//! What it does on its own, as a phone would:
//! - retransmits its requests every 500 ms until a response (UDP, bounded);
//! - answers a `401`/`407` once with digest credentials (RFC 3261 §22);
//! - ACKs every final response to its INVITEs: a non-2xx inside the
//!   transaction (§17.1.1.3), a 2xx from the dialog (§13.2.2.4), and again
//!   for each retransmitted final;
//! - absorbs retransmitted requests by repeating its last response;
//! - retransmits its 2xx to an INVITE until the ACK (§13.3.1.4, bounded);
//! - answers CANCEL with 200 and the INVITE with 487 (§9.2);
//! - answers in-dialog BYE, re-INVITE (with SDP), UPDATE, INFO and others
//!   as each call is scripted (200 by default), and refuses requests for
//!   unknown dialogs with 481;
//! - answers the NOTIFYs of its subscriptions with 200 and records them
//!   (even before the SUBSCRIBE's 2xx), and any other NOTIFY with 481.

use super::call::{CallState, CallStatus, ReinviteAnswer, Role};
use super::log::{Direction, LogEntry};
use super::subscription::{highest_sent_seq, raise_local_seq, SubscriptionState};
use super::wire::{Peer, Transport, Wire};
use super::{Sdp, UaError};
use sip_auth::Algorithm;
use sip_message::{HeaderName, Message, Method, ResponseBuilder};
use sip_proto::dialog::{Dialog, DialogError};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The retransmission interval (RFC 3261's T1).
pub(crate) const T1: Duration = Duration::from_millis(500);
/// Retransmissions of a request, of a 2xx and of a non-2xx final before
/// giving up: 11 s of trying. A loopback answer takes milliseconds on a
/// quiet machine, but seconds when the cores are busy with other work
/// (`scripts/test-busy.sh`); RFC 3261's own limit is 64·T1 = 32 s.
const MAX_RETRANSMITS: u32 = 22;
/// How long a blocking request waits for its final response (after
/// retransmissions give up at 11.5 s).
pub(crate) const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(12);

/// One number for every branch, tag and Call-ID made in this process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A transaction's key as RFC 3261 §17.1.3 / §17.2.3 match it: the top Via
/// branch and the CSeq method (CANCEL shares its INVITE's branch).
pub(crate) type TxKey = (String, String);

/// One request we sent and what came back.
#[derive(Debug)]
struct ClientTx {
    request: Message,
    bytes: Vec<u8>,
    next_resend: Option<Instant>,
    resends: u32,
    final_response: Option<Message>,
    timed_out: bool,
    /// The ACK sent for the final response (INVITE only), repeated for
    /// each retransmission of that final.
    ack: Option<Vec<u8>>,
    call: Option<usize>,
    /// The SDP offered in this request, adopted as the call's local SDP
    /// once a 2xx accepts it.
    offer: Option<Sdp>,
    /// Credentials were already sent: a second challenge is final.
    authorized: bool,
    /// The retry with credentials that replaced this transaction.
    followed_by: Option<TxKey>,
}

/// One request we received and our last answer to it.
#[derive(Debug)]
struct ServerTx {
    peer: Peer,
    last_response: Option<Vec<u8>>,
    final_status: Option<u16>,
    /// A non-2xx final to an INVITE is repeated until its ACK (UDP).
    retransmit: Option<(Instant, u32)>,
    call: Option<usize>,
}

/// A 2xx to an INVITE, repeated until its ACK (§13.3.1.4).
#[derive(Debug)]
struct Pending2xx {
    call: usize,
    cseq: u32,
    peer: Peer,
    bytes: Vec<u8>,
    next: Option<Instant>,
    sent: u32,
    acked: bool,
}

/// Everything under the engine's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) server: SocketAddr,
    pub(crate) algorithm: Algorithm,
    pub(crate) auto_trying: bool,
    pub(crate) log: Vec<LogEntry>,
    /// Every request received, in or out of a dialog, retransmissions not
    /// included.
    pub(crate) requests: Vec<(Instant, Message)>,
    pub(crate) calls: Vec<CallState>,
    pub(crate) incoming: VecDeque<usize>,
    /// Subscriptions we hold (RFC 6665 subscriber side).
    pub(crate) subscriptions: Vec<SubscriptionState>,
    clients: HashMap<TxKey, ClientTx>,
    servers: HashMap<TxKey, ServerTx>,
    two_xx: Vec<Pending2xx>,
    nonce_counts: HashMap<String, u32>,
    /// REGISTER keeps one Call-ID and a rising CSeq (§10.2).
    pub(crate) register_call_id: String,
    pub(crate) register_cseq: u32,
}

impl State {
    /// Every request we sent as a client transaction (retries with
    /// credentials included, ACKs not).
    pub(crate) fn sent_requests(&self) -> impl Iterator<Item = &Message> {
        self.clients.values().map(|tx| &tx.request)
    }
}

/// The phone's engine, shared by the phone, its call handles and its
/// threads.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) name: String,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) domain: String,
    pub(crate) wire: Wire,
    pub(crate) shutdown: AtomicBool,
    me: Weak<Engine>,
    state: Mutex<State>,
    changed: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    trace: bool,
    /// Header parameters of our Contact (`+sip.instance`, `reg-id`), if
    /// set. A lock of its own: the Contact is built under the state lock.
    pub(crate) contact_params: Mutex<String>,
}

impl Engine {
    pub(crate) fn start(
        name: &str,
        user: &str,
        password: &str,
        domain: &str,
        server: SocketAddr,
        transport: Transport,
    ) -> std::io::Result<Arc<Engine>> {
        let wire = Wire::bind(transport)?;
        let port = wire.local_addr().port();
        let engine = Arc::new_cyclic(|me| Engine {
            name: name.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            domain: domain.to_string(),
            wire,
            shutdown: AtomicBool::new(false),
            me: me.clone(),
            state: Mutex::new(State {
                server,
                algorithm: Algorithm::Sha256,
                auto_trying: false,
                log: Vec::new(),
                requests: Vec::new(),
                calls: Vec::new(),
                incoming: VecDeque::new(),
                subscriptions: Vec::new(),
                clients: HashMap::new(),
                servers: HashMap::new(),
                two_xx: Vec::new(),
                nonce_counts: HashMap::new(),
                register_call_id: format!("reg-{}-{port}@127.0.0.1", next_id()),
                register_cseq: 0,
            }),
            changed: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            trace: std::env::var_os("BATON_UA_TRACE").is_some(),
            contact_params: Mutex::new(String::new()),
        });
        engine.wire.start(&engine);
        let timer = Arc::clone(&engine);
        engine.spawn("sip-timer", move || {
            while !timer.shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                timer.tick(Instant::now());
            }
        });
        Ok(engine)
    }

    /// A strong reference to ourselves, for threads we start.
    pub(crate) fn handle(&self) -> Option<Arc<Engine>> {
        self.me.upgrade()
    }

    pub(crate) fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) {
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{}", self.name))
            .spawn(f)
            .expect("spawn phone thread");
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Stops every thread of the phone (each wakes within 20 ms).
    pub(crate) fn stop(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `check` returns something, at most `timeout`.
    pub(crate) fn wait<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(v) = check(&mut st) {
                return Some(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(crate) fn timeout(&self, waiting_for: &'static str) -> UaError {
        UaError::Timeout {
            phone: self.name.clone(),
            waiting_for,
        }
    }

    // ── Addresses and header values ─────────────────────────────────────

    /// `127.0.0.1:PORT` of our SIP socket (the listener for TCP).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.wire.local_addr()
    }

    /// The URI in our Contact.
    pub(crate) fn contact_uri(&self) -> String {
        let transport = if self.wire.is_reliable() {
            ";transport=tcp"
        } else {
            ""
        };
        format!("sip:{}@{}{transport}", self.user, self.local_addr())
    }

    pub(crate) fn contact(&self) -> String {
        let params = self
            .contact_params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        format!("<{}>{params}", self.contact_uri())
    }

    /// Our address of record, `sip:user@domain`.
    pub(crate) fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    /// Puts a fresh top Via (and Max-Forwards if missing) on a request.
    pub(crate) fn stamp(&self, request: &mut Message) -> String {
        let branch = format!("z9hG4bK-ua{}-{}", next_id(), self.local_addr().port());
        request.headers.remove(&HeaderName::Via);
        request.headers.push_front(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};rport;branch={branch}",
                self.wire.token(),
                self.local_addr()
            ),
        );
        if request.headers.get(&HeaderName::MaxForwards).is_none() {
            request.headers.push(HeaderName::MaxForwards, "70");
        }
        if request.headers.get(&HeaderName::UserAgent).is_none() {
            request.headers.push(HeaderName::UserAgent, "baton-test-ua");
        }
        branch
    }

    // ── Sending ─────────────────────────────────────────────────────────

    pub(crate) fn transmit(&self, st: &mut State, peer: Peer, bytes: &[u8]) {
        let server = st.server;
        let (addr, failure) = match self.wire.send(self, peer, server, bytes) {
            Ok(addr) => (addr, None),
            Err(e) => (self.wire.peer_addr(peer, server), Some(e)),
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut first_line = text.lines().next().unwrap_or_default().to_string();
        if let Some(e) = failure {
            first_line.push_str(&format!(" [send failed: {e}]"));
        }
        if self.trace {
            eprintln!("[{} -> {addr}] {first_line}\n{text}", self.name);
        }
        st.log.push(LogEntry {
            at: Instant::now(),
            phone: self.name.clone(),
            direction: Direction::Sent,
            peer: addr,
            first_line,
            text,
        });
    }

    /// Sends a stamped request to the server as a new client transaction.
    pub(crate) fn start_client(
        &self,
        st: &mut State,
        request: Message,
        call: Option<usize>,
        offer: Option<Sdp>,
        authorized: bool,
    ) -> TxKey {
        let branch = request
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        let method = request
            .method()
            .map(ToString::to_string)
            .unwrap_or_default();
        let key = (branch, method);
        let bytes = request.to_bytes();
        self.transmit(st, Peer::Server, &bytes);
        let next_resend = (!self.wire.is_reliable()).then(|| Instant::now() + T1);
        st.clients.insert(
            key.clone(),
            ClientTx {
                request,
                bytes,
                next_resend,
                resends: 0,
                final_response: None,
                timed_out: false,
                ack: None,
                call,
                offer,
                authorized,
                followed_by: None,
            },
        );
        key
    }

    /// The final response of a transaction, following retries with
    /// credentials: `Some(Ok)` once answered, `Some(Err)` once it gave up.
    pub(crate) fn final_of(st: &State, key: &TxKey) -> Option<Result<Message, ()>> {
        let mut key = key;
        loop {
            let tx = st.clients.get(key)?;
            if let Some(next) = &tx.followed_by {
                key = next;
                continue;
            }
            if let Some(f) = &tx.final_response {
                return Some(Ok(f.clone()));
            }
            return tx.timed_out.then_some(Err(()));
        }
    }

    /// Sends a stamped request and blocks until its final response.
    pub(crate) fn request(
        &self,
        request: Message,
        call: Option<usize>,
        offer: Option<Sdp>,
        waiting_for: &'static str,
    ) -> Result<Message, UaError> {
        let key = {
            let mut st = self.lock();
            self.start_client(&mut st, request, call, offer, false)
        };
        self.wait(TRANSACTION_TIMEOUT, |st| Self::final_of(st, &key))
            .and_then(Result::ok)
            .ok_or_else(|| self.timeout(waiting_for))
    }

    /// Our answer to a request we received, remembered for its
    /// retransmissions.
    fn respond(&self, st: &mut State, key: &TxKey, response: &Message) {
        let Some(peer) = st.servers.get(key).map(|s| s.peer) else {
            return;
        };
        let bytes = response.to_bytes();
        self.transmit(st, peer, &bytes);
        let status = response.status().unwrap_or(500);
        if let Some(s) = st.servers.get_mut(key) {
            s.last_response = Some(bytes);
            if status >= 200 {
                s.final_status = Some(status);
            }
        }
    }

    fn respond_simple(&self, st: &mut State, key: &TxKey, request: &Message, code: u16) {
        let mut builder = ResponseBuilder::to_request(request, code);
        if code > 100 && request.to_tag().is_none() {
            builder = builder.to_tag(&format!("ua{}", next_id()));
        }
        self.respond(st, key, &builder.build());
    }

    /// Answers the INVITE that opened call `idx` (UAS): a provisional, the
    /// 2xx (retransmitted until ACK) or a failure (retransmitted until ACK).
    pub(crate) fn respond_to_invite(
        &self,
        st: &mut State,
        idx: usize,
        code: u16,
        sdp: Option<&Sdp>,
    ) -> Result<Message, UaError> {
        let key = st.calls[idx].invite_key.clone();
        if let Some(status) = st.servers.get(&key).and_then(|s| s.final_status) {
            return Err(UaError::AlreadyFinal(status));
        }
        let contact = self.contact();
        let call = &mut st.calls[idx];
        let mut builder = ResponseBuilder::to_request(&call.invite, code);
        if code > 100 {
            builder = builder.to_tag(&call.local_tag);
        }
        if (101..300).contains(&code) {
            builder = builder.header(HeaderName::Contact, contact);
        }
        if let Some(sdp) = sdp {
            let body = call.sdp_body(sdp);
            builder = builder.body("application/sdp", body.into());
            call.local_sdp = Some(sdp.clone());
        }
        let response = builder.build();
        if (200..300).contains(&code) {
            call.dialog = Some(Dialog::uas(&call.invite, &call.local_tag, true)?);
            call.status = CallStatus::Established;
        } else if code >= 300 {
            call.status = CallStatus::Failed(code);
        } else if code > 100 {
            call.status = CallStatus::Early;
        }
        if code >= 200 {
            call.final_response = Some(response.clone());
        }
        let cseq = call.invite.cseq().map_or(0, |c| c.seq);
        let peer = call.invite_peer;
        self.respond(st, &key, &response);
        let next = (!self.wire.is_reliable()).then(|| Instant::now() + T1);
        if (200..300).contains(&code) {
            st.two_xx.push(Pending2xx {
                call: idx,
                cseq,
                peer,
                bytes: response.to_bytes(),
                next,
                sent: 0,
                acked: false,
            });
        } else if code >= 300 {
            if let Some(s) = st.servers.get_mut(&key) {
                s.retransmit = next.map(|n| (n, 0));
            }
        }
        self.changed.notify_all();
        Ok(response)
    }

    /// Sends CANCEL for call `idx`'s INVITE (§9.1): same Request-URI,
    /// Call-ID, From, To, Route and top Via; CSeq method CANCEL.
    pub(crate) fn cancel(&self, st: &mut State, idx: usize) -> TxKey {
        let invite = st.calls[idx].invite.clone();
        let uri = invite.request_uri().cloned().expect("an INVITE has a URI");
        let mut cancel = Message::request(Method::CANCEL, uri);
        copy_headers(&invite, &mut cancel, |n| {
            if *n == HeaderName::Via {
                CopyWhich::First
            } else if matches!(
                n,
                HeaderName::MaxForwards
                    | HeaderName::Route
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
            ) {
                CopyWhich::All
            } else {
                CopyWhich::None
            }
        });
        let seq = invite.cseq().map_or(1, |c| c.seq);
        cancel
            .headers
            .push(HeaderName::CSeq, format!("{seq} CANCEL"));
        self.start_client(st, cancel, Some(idx), None, false)
    }

    // ── Receiving ───────────────────────────────────────────────────────

    /// One message from a reader thread.
    pub(crate) fn receive(&self, bytes: &[u8], peer: Peer) {
        if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return; // a keep-alive
        }
        let parsed = Message::parse(bytes);
        let mut st = self.lock();
        let addr = self.wire.peer_addr(peer, st.server);
        let text = String::from_utf8_lossy(bytes).into_owned();
        let first_line = text.lines().next().unwrap_or_default().to_string();
        if self.trace {
            eprintln!("[{} <- {addr}] {first_line}\n{text}", self.name);
        }
        st.log.push(LogEntry {
            at: Instant::now(),
            phone: self.name.clone(),
            direction: Direction::Received,
            peer: addr,
            first_line,
            text,
        });
        if let Ok(message) = parsed {
            if message.is_request() {
                self.on_request(&mut st, message, peer);
            } else {
                self.on_response(&mut st, message);
            }
        }
        drop(st);
        self.changed.notify_all();
    }

    fn on_response(&self, st: &mut State, response: Message) {
        let (Some(via), Some(cseq), Some(status)) =
            (response.top_via(), response.cseq(), response.status())
        else {
            return;
        };
        let key: TxKey = (
            via.branch().unwrap_or_default().to_string(),
            cseq.method.to_string(),
        );
        let Some(tx) = st.clients.get_mut(&key) else {
            return; // stray
        };
        let is_invite = cseq.method == Method::INVITE;
        if status < 200 {
            tx.next_resend = None;
            if let Some(idx) = tx.call.filter(|_| is_invite) {
                let call = &mut st.calls[idx];
                if call.invite_key == key {
                    if status > 100 && call.status == CallStatus::Calling {
                        call.status = CallStatus::Early;
                    }
                    if let Some(sdp) = sdp_of(&response) {
                        call.remote_sdp = Some(sdp);
                    }
                    call.provisional.push(response);
                }
            }
            return;
        }
        if tx.final_response.is_some() {
            // A retransmitted final: repeat our ACK (§17.1.1.2, §13.2.2.4).
            if let Some(ack) = tx.ack.clone() {
                self.transmit(st, Peer::Server, &ack);
            }
            return;
        }
        tx.final_response = Some(response.clone());
        tx.next_resend = None;
        let call = tx.call;
        if is_invite {
            if (200..300).contains(&status) {
                self.on_invite_2xx(st, &key, &response, cseq.seq);
            } else {
                let ack = non_2xx_ack(&st.clients[&key].request, &response).to_bytes();
                self.transmit(st, Peer::Server, &ack);
                if let Some(tx) = st.clients.get_mut(&key) {
                    tx.ack = Some(ack);
                }
            }
        }
        if matches!(status, 401 | 407)
            && !matches!(cseq.method, Method::ACK | Method::CANCEL)
            && self.retry_with_credentials(st, &key, &response).is_some()
        {
            return;
        }
        if cseq.method == Method::SUBSCRIBE && (200..300).contains(&status) {
            let call_id = response.call_id().unwrap_or_default().to_string();
            let from_tag = response.from_tag();
            let highest = highest_sent_seq(st, &call_id);
            if let Some(sub) = st
                .subscriptions
                .iter_mut()
                .find(|s| s.call_id == call_id && Some(&s.local_tag) == from_tag.as_ref())
            {
                sub.on_2xx(&response, highest);
            }
        }
        let Some(idx) = call else {
            return;
        };
        let c = &mut st.calls[idx];
        if c.invite_key == key {
            c.final_response = Some(response.clone());
            if status >= 300 {
                c.status = CallStatus::Failed(status);
            }
        } else if cseq.method == Method::BYE {
            c.status = CallStatus::Terminated;
        } else if (200..300).contains(&status) && cseq.method == Method::UPDATE {
            if let Some(sdp) = sdp_of(&response) {
                c.remote_sdp = Some(sdp);
            }
            if let Some(offer) = st.clients.get(&key).and_then(|t| t.offer.clone()) {
                st.calls[idx].local_sdp = Some(offer);
            }
        }
    }

    /// A 2xx to one of our INVITEs: the dialog is made or refreshed, the
    /// offer adopted, and the ACK built from the dialog (§13.2.2.4).
    fn on_invite_2xx(&self, st: &mut State, key: &TxKey, response: &Message, seq: u32) {
        let Some(tx) = st.clients.get(key) else {
            return;
        };
        let (request, offer) = (tx.request.clone(), tx.offer.clone());
        let Some(idx) = tx.call else {
            return;
        };
        let call = &mut st.calls[idx];
        match call.dialog.as_mut() {
            Some(d) => d.confirm(response),
            None => match Dialog::uac(&request, response) {
                Ok(d) => call.dialog = Some(d),
                // No dialog, no ACK to build: the test sees the 2xx and fails.
                Err(_) => return,
            },
        }
        if call.invite_key == *key {
            call.status = CallStatus::Established;
        }
        if let Some(offer) = offer {
            call.local_sdp = Some(offer);
        }
        let answer_needed = request.body.is_empty();
        if let Some(sdp) = sdp_of(response) {
            call.remote_sdp = Some(sdp);
        }
        let Some(dialog) = call.dialog.as_ref() else {
            return;
        };
        let mut ack = dialog.ack(seq);
        // An offerless INVITE gets the offer in the 2xx: answer in the ACK.
        if answer_needed && !response.body.is_empty() {
            if let Some(local) = call.local_sdp.clone() {
                let body = call.sdp_body(&local);
                ack.headers.push(HeaderName::ContentType, "application/sdp");
                ack.body = body.into();
            }
        }
        self.stamp(&mut ack);
        let bytes = ack.to_bytes();
        self.transmit(st, Peer::Server, &bytes);
        if let Some(tx) = st.clients.get_mut(key) {
            tx.ack = Some(bytes);
        }
    }

    /// Answers a 401/407 once: the same request with credentials for the
    /// challenge of our preferred algorithm (else the first one), a new
    /// branch and the next CSeq.
    fn retry_with_credentials(
        &self,
        st: &mut State,
        key: &TxKey,
        response: &Message,
    ) -> Option<TxKey> {
        let tx = st.clients.get(key)?;
        if tx.authorized {
            return None;
        }
        let (mut request, call, offer) = (tx.request.clone(), tx.call, tx.offer.clone());
        let (challenge_name, answer_name) = if response.status() == Some(401) {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        } else {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        };
        let challenges: Vec<&str> = response.headers.get_all(&challenge_name).collect();
        let preferred = st.algorithm.as_str();
        let challenge = challenges
            .iter()
            .find(|c| {
                challenge_param(c, "algorithm").is_some_and(|a| a.eq_ignore_ascii_case(preferred))
            })
            .or(challenges.first())?
            .to_string();
        let nonce = challenge_param(&challenge, "nonce")?;
        let nc = {
            let n = st.nonce_counts.entry(nonce).or_insert(0);
            *n += 1;
            *n
        };
        let method = request.method()?.clone();
        let in_dialog = request.to_tag().is_some();
        match call.and_then(|c| st.calls[c].dialog.as_mut()) {
            Some(dialog) if in_dialog => {
                // Rebuilt from the dialog, so its CSeq stays in step.
                let mut fresh = dialog.new_request(method.clone()).ok()?;
                for h in &request.headers {
                    if !matches!(
                        h.name,
                        HeaderName::Via
                            | HeaderName::From
                            | HeaderName::To
                            | HeaderName::CallId
                            | HeaderName::CSeq
                            | HeaderName::Route
                    ) {
                        fresh.headers.push(h.name.clone(), h.value.clone());
                    }
                }
                fresh.body = request.body.clone();
                request = fresh;
            }
            _ => {
                let seq = request.cseq()?.seq + 1;
                request
                    .headers
                    .set(HeaderName::CSeq, format!("{seq} {method}"));
                if method == Method::REGISTER {
                    st.register_cseq = seq;
                }
            }
        }
        request.headers.remove(&HeaderName::Authorization);
        request.headers.remove(&HeaderName::ProxyAuthorization);
        let uri = request.request_uri()?.to_string();
        request.headers.push(
            answer_name,
            crate::authorization(
                &challenge,
                &method.to_string(),
                &uri,
                &self.user,
                &self.password,
                nc,
            ),
        );
        self.stamp(&mut request);
        let new_key = self.start_client(st, request.clone(), call, offer, true);
        if let Some(tx) = st.clients.get_mut(key) {
            tx.followed_by = Some(new_key.clone());
        }
        if let Some(c) = call.map(|c| &mut st.calls[c]) {
            if c.invite_key == *key {
                c.invite = request;
                c.invite_key = new_key.clone();
            }
        }
        Some(new_key)
    }

    fn on_request(&self, st: &mut State, request: Message, peer: Peer) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        let branch = request
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_default();
        if method == Method::ACK {
            st.requests.push((Instant::now(), request.clone()));
            self.on_ack(st, &branch, request);
            return;
        }
        let key: TxKey = (branch.clone(), method.to_string());
        if let Some(s) = st.servers.get(&key) {
            // A retransmission: repeat our last answer, if any yet.
            if let Some(last) = s.last_response.clone() {
                let peer = s.peer;
                self.transmit(st, peer, &last);
            }
            return;
        }
        st.requests.push((Instant::now(), request.clone()));
        st.servers.insert(
            key.clone(),
            ServerTx {
                peer,
                last_response: None,
                final_status: None,
                retransmit: None,
                call: None,
            },
        );
        if method == Method::CANCEL {
            self.on_cancel(st, &key, &request);
        } else if method == Method::NOTIFY {
            self.on_notify(st, &key, request);
        } else if request.to_tag().is_some() {
            self.on_in_dialog(st, &key, request, method);
        } else if method == Method::INVITE {
            self.on_new_invite(st, key, request, peer);
        } else if matches!(method, Method::OPTIONS | Method::MESSAGE) {
            self.respond_simple(st, &key, &request, 200);
        } else if matches!(method, Method::BYE | Method::INFO | Method::UPDATE) {
            // Requests that only exist inside a dialog (RFC 6086 §4.2.1).
            self.respond_simple(st, &key, &request, 481);
        } else {
            self.respond_simple(st, &key, &request, 405);
        }
    }

    /// A NOTIFY: `200` and recorded when it belongs to one of our
    /// subscriptions (making its dialog if the SUBSCRIBE's 2xx has not
    /// come yet, RFC 6665 §4.1.2.4), `481` otherwise (§4.1.3). A CSeq
    /// below the dialog's last is refused with `500` (RFC 3261 §12.2.2).
    fn on_notify(&self, st: &mut State, key: &TxKey, request: Message) {
        let Some(i) = st.subscriptions.iter().position(|s| s.matches(&request)) else {
            self.respond_simple(st, key, &request, 481);
            return;
        };
        let highest = highest_sent_seq(st, &st.subscriptions[i].call_id);
        let sub = &mut st.subscriptions[i];
        let from_tag = request.from_tag();
        match sub.dialog.as_mut() {
            Some(d) if Some(&d.id().remote_tag) == from_tag.as_ref() => {
                if let Err(DialogError::CSeqOutOfOrder { .. }) = d.receive_request(&request) {
                    self.respond_simple(st, key, &request, 500);
                    return;
                }
            }
            // A NOTIFY from another notifier (a forked SUBSCRIBE) is
            // accepted without a dialog of its own.
            Some(_) => {}
            None => {
                if let Ok(mut d) = Dialog::uas(&request, &sub.local_tag, true) {
                    raise_local_seq(&mut d, highest);
                    sub.dialog = Some(d);
                }
            }
        }
        sub.notifies.push((Instant::now(), request.clone()));
        self.respond_simple(st, key, &request, 200);
    }

    fn on_new_invite(&self, st: &mut State, key: TxKey, request: Message, peer: Peer) {
        let idx = st.calls.len();
        let mut call = CallState::new(
            Role::Uas,
            request.call_id().unwrap_or_default().to_string(),
            format!("ua{}", next_id()),
            request.clone(),
            key.clone(),
            peer,
        );
        call.status = CallStatus::Incoming;
        call.remote_sdp = sdp_of(&request);
        st.calls.push(call);
        if let Some(s) = st.servers.get_mut(&key) {
            s.call = Some(idx);
        }
        st.calls[idx].received.push((Instant::now(), request));
        st.incoming.push_back(idx);
        if st.auto_trying {
            let _ = self.respond_to_invite(st, idx, 100, None);
        }
    }

    fn on_ack(&self, st: &mut State, branch: &str, ack: Message) {
        // The ACK of a non-2xx final shares the INVITE's branch (§17.2.1).
        let invite_key: TxKey = (branch.to_string(), Method::INVITE.to_string());
        if let Some(s) = st.servers.get_mut(&invite_key) {
            if s.final_status.is_some_and(|f| f >= 300) {
                s.retransmit = None;
                if let Some(idx) = s.call {
                    st.calls[idx].received.push((Instant::now(), ack));
                }
                return;
            }
        }
        // The ACK of a 2xx is a request of the dialog (§13.2.2.4).
        let Some(idx) = find_dialog(st, &ack) else {
            return;
        };
        let seq = ack.cseq().map_or(0, |c| c.seq);
        let call = &mut st.calls[idx];
        if let Some(d) = call.dialog.as_mut() {
            d.refresh_target(&ack);
        }
        if call.invite.cseq().map(|c| c.seq) == Some(seq) && call.role == Role::Uas {
            call.acked = true;
        }
        if let Some(sdp) = sdp_of(&ack) {
            call.remote_sdp = Some(sdp);
        }
        call.received.push((Instant::now(), ack));
        for p in st.two_xx.iter_mut() {
            if p.call == idx && p.cseq == seq {
                p.acked = true;
                p.next = None;
            }
        }
    }

    fn on_cancel(&self, st: &mut State, key: &TxKey, cancel: &Message) {
        let invite_key: TxKey = (key.0.clone(), Method::INVITE.to_string());
        let Some(idx) = st.servers.get(&invite_key).and_then(|s| s.call) else {
            self.respond_simple(st, key, cancel, 481);
            return;
        };
        st.calls[idx]
            .received
            .push((Instant::now(), cancel.clone()));
        // §9.2: the same To tag in the 200 to CANCEL and the 487.
        let ok = ResponseBuilder::to_request(cancel, 200)
            .to_tag(&st.calls[idx].local_tag)
            .build();
        self.respond(st, key, &ok);
        if self.respond_to_invite(st, idx, 487, None).is_ok() {
            st.calls[idx].cancelled = true;
        }
    }

    fn on_in_dialog(&self, st: &mut State, key: &TxKey, request: Message, method: Method) {
        let Some(idx) = find_dialog(st, &request) else {
            self.respond_simple(st, key, &request, 481);
            return;
        };
        if let Some(s) = st.servers.get_mut(key) {
            s.call = Some(idx);
        }
        let contact = self.contact();
        let call = &mut st.calls[idx];
        let checked = call
            .dialog
            .as_mut()
            .map_or(Err(DialogError::WrongDialog), |d| {
                d.receive_request(&request)
            });
        match checked {
            Ok(()) => {}
            Err(DialogError::CSeqOutOfOrder { .. }) => {
                self.respond_simple(st, key, &request, 500);
                return;
            }
            Err(_) => {
                self.respond_simple(st, key, &request, 481);
                return;
            }
        }
        call.received.push((Instant::now(), request.clone()));
        let scripted = call.answer_codes.get(&method.to_string()).copied();
        let mut builder = ResponseBuilder::to_request(&request, scripted.unwrap_or(200));
        if method == Method::BYE {
            call.status = CallStatus::Terminated;
            call.bye_received = true;
            for p in st.two_xx.iter_mut().filter(|p| p.call == idx) {
                p.next = None;
            }
        } else if method == Method::INVITE || method == Method::UPDATE {
            let offer = sdp_of(&request);
            let answer = match (&call.reinvite_answer, scripted) {
                (_, Some(code)) if code >= 300 => None,
                (ReinviteAnswer::Reject(code), _) => {
                    builder = ResponseBuilder::to_request(&request, *code);
                    None
                }
                (ReinviteAnswer::With(sdp), _) => Some(sdp.clone()),
                (ReinviteAnswer::Mirror, _) => {
                    let base = call.local_sdp.clone();
                    match (&offer, base) {
                        (Some(o), Some(b)) => Some(b.with_direction(o.direction.answer())),
                        (None, Some(b)) => Some(b),
                        (_, None) => None,
                    }
                }
            };
            let accepting = scripted.is_none_or(|c| c < 300)
                && !matches!(call.reinvite_answer, ReinviteAnswer::Reject(_));
            if accepting && offer.is_some() && answer.is_none() {
                // An offer we have no media to answer with (RFC 3261 §14.2).
                builder = ResponseBuilder::to_request(&request, 488);
            } else if accepting {
                // An accepted target refresh moves the target (§12.2.2).
                if let Some(d) = call.dialog.as_mut() {
                    d.accept_target_refresh(&request);
                }
                builder = builder.header(HeaderName::Contact, contact);
                if offer.is_some() {
                    call.remote_sdp = offer;
                }
                if let Some(sdp) = answer {
                    let body = call.sdp_body(&sdp);
                    call.local_sdp = Some(sdp);
                    builder = builder.body("application/sdp", body.into());
                }
            }
        } else if method == Method::INFO {
            if let Some(d) = dtmf_relay_digit(&request) {
                call.info_dtmf.push(d);
            }
        }
        let response = builder.build();
        self.respond(st, key, &response);
        let status = response.status().unwrap_or(500);
        if method == Method::INVITE {
            let next = (!self.wire.is_reliable()).then(|| Instant::now() + T1);
            if (200..300).contains(&status) {
                let peer = st.servers.get(key).map_or(Peer::Server, |s| s.peer);
                st.two_xx.push(Pending2xx {
                    call: idx,
                    cseq: request.cseq().map_or(0, |c| c.seq),
                    peer,
                    bytes: response.to_bytes(),
                    next,
                    sent: 0,
                    acked: false,
                });
            } else if let Some(s) = st.servers.get_mut(key) {
                s.retransmit = next.map(|n| (n, 0));
            }
        }
    }

    // ── Time ────────────────────────────────────────────────────────────

    /// Retransmissions that are due; requests that gave up.
    pub(crate) fn tick(&self, now: Instant) {
        let mut st = self.lock();
        let mut out: Vec<(Peer, Vec<u8>)> = Vec::new();
        let mut gave_up = Vec::new();
        for tx in st.clients.values_mut() {
            if tx.next_resend.is_some_and(|t| t <= now) {
                if tx.resends < MAX_RETRANSMITS {
                    tx.resends += 1;
                    tx.next_resend = Some(now + T1);
                    out.push((Peer::Server, tx.bytes.clone()));
                } else {
                    tx.next_resend = None;
                    tx.timed_out = true;
                    gave_up.push(
                        tx.call
                            .filter(|_| tx.request.method() == Some(&Method::INVITE)),
                    );
                }
            }
        }
        for s in st.servers.values_mut() {
            if let Some((_, n)) = s.retransmit.filter(|(t, _)| *t <= now) {
                s.retransmit = (n + 1 < MAX_RETRANSMITS).then_some((now + T1, n + 1));
                if let Some(b) = &s.last_response {
                    out.push((s.peer, b.clone()));
                }
            }
        }
        for p in st.two_xx.iter_mut() {
            if !p.acked && p.next.is_some_and(|t| t <= now) {
                p.sent += 1;
                p.next = (p.sent < MAX_RETRANSMITS).then_some(now + T1);
                out.push((p.peer, p.bytes.clone()));
            }
        }
        for (peer, bytes) in out {
            self.transmit(&mut st, peer, &bytes);
        }
        let mut changed = false;
        for idx in gave_up.into_iter().flatten() {
            let call = &mut st.calls[idx];
            if matches!(call.status, CallStatus::Calling | CallStatus::Early) {
                call.status = CallStatus::Failed(408);
            }
            changed = true;
        }
        drop(st);
        if changed {
            self.changed.notify_all();
        }
    }
}

/// The call whose dialog a request from the peer belongs to: its To tag is
/// our local tag.
fn find_dialog(st: &State, request: &Message) -> Option<usize> {
    let call_id = request.call_id()?;
    let to_tag = request.to_tag()?;
    st.calls
        .iter()
        .position(|c| c.call_id == call_id && c.local_tag == to_tag && c.dialog.is_some())
}

enum CopyWhich {
    None,
    First,
    All,
}

fn copy_headers(from: &Message, to: &mut Message, which: impl Fn(&HeaderName) -> CopyWhich) {
    let mut seen_first: Vec<HeaderName> = Vec::new();
    for h in &from.headers {
        match which(&h.name) {
            CopyWhich::None => {}
            CopyWhich::All => to.headers.push(h.name.clone(), h.value.clone()),
            CopyWhich::First => {
                if !seen_first.contains(&h.name) {
                    seen_first.push(h.name.clone());
                    to.headers.push(h.name.clone(), h.value.clone());
                }
            }
        }
    }
}

/// The ACK of a non-2xx final (§17.1.1.3): the INVITE's Request-URI, top
/// Via, Route, From and Call-ID, the response's To, CSeq number with ACK.
fn non_2xx_ack(invite: &Message, response: &Message) -> Message {
    let uri = invite.request_uri().cloned().expect("an INVITE has a URI");
    let mut ack = Message::request(Method::ACK, uri);
    copy_headers(invite, &mut ack, |n| match n {
        HeaderName::Via => CopyWhich::First,
        HeaderName::MaxForwards | HeaderName::Route | HeaderName::From | HeaderName::CallId => {
            CopyWhich::All
        }
        _ => CopyWhich::None,
    });
    if let Some(to) = response.headers.get(&HeaderName::To) {
        ack.headers.push(HeaderName::To, to);
    }
    let seq = invite.cseq().map_or(1, |c| c.seq);
    ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
    ack
}

/// The SDP body of a message, if it has one we can read.
pub(crate) fn sdp_of(message: &Message) -> Option<Sdp> {
    let is_sdp = message
        .headers
        .get(&HeaderName::ContentType)
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp || message.body.is_empty() {
        return None;
    }
    Sdp::parse(&String::from_utf8_lossy(&message.body))
}

/// The digit of an `application/dtmf-relay` INFO (`Signal=5`).
fn dtmf_relay_digit(request: &Message) -> Option<char> {
    let ct = request.headers.get(&HeaderName::ContentType)?;
    if !ct.trim().eq_ignore_ascii_case("application/dtmf-relay") {
        return None;
    }
    let body = String::from_utf8_lossy(&request.body).into_owned();
    body.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("signal")
            .then(|| v.trim().chars().next())
            .flatten()
    })
}

/// A parameter of a `Digest …` challenge, unquoted.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let rest = challenge.trim().strip_prefix("Digest")?.trim();
    rest.split(',').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_read_unquoted() {
        let c = "Digest realm=\"example.test\", nonce=\"abc,def\", algorithm=SHA-256, qop=\"auth\"";
        assert_eq!(challenge_param(c, "realm").as_deref(), Some("example.test"));
        assert_eq!(challenge_param(c, "algorithm").as_deref(), Some("SHA-256"));
    }

    #[test]
    fn a_dtmf_relay_body_gives_its_digit() {
        let info = Message::parse(
            b"INFO sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n\
              From: <sip:b@x>;tag=1\r\nTo: <sip:a@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INFO\r\n\
              Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=#\r\nDuration=160\r\n",
        )
        .expect("parses");
        assert_eq!(dtmf_relay_digit(&info), Some('#'));
    }
}
