//! A phone: one SIP socket, a user with a password in a domain, and a
//! server it sends every request to (Baton, or the other phone of a direct
//! call).

use super::call::{CallState, CallStatus, IncomingCall, OutgoingCall, Role};
use super::engine::{next_id, Engine};
use super::log::LogEntry;
use super::subscription::{Subscription, SubscriptionState};
use super::wire::{Peer, Transport};
use super::{Call, Sdp, UaError};
use sip_auth::Algorithm;
use sip_message::{HeaderName, Message, Method, Uri};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scriptable SIP phone for the system tests.
///
/// Background threads receive, answer what a phone answers on its own and
/// retransmit; the test drives everything else with blocking calls, each
/// bounded by a timeout. Dropping the phone stops its threads (call
/// handles still held then only report the past).
#[derive(Debug)]
pub struct Phone {
    pub(crate) engine: Arc<Engine>,
}

impl Phone {
    /// A phone `name` (for logs: `A`, `B`, `R`) for `user`@`domain` with
    /// `password`, on an ephemeral loopback port, sending its requests to
    /// `server`.
    ///
    /// # Panics
    /// If no loopback socket can be bound.
    pub fn new(
        name: &str,
        user: &str,
        password: &str,
        domain: &str,
        server: SocketAddr,
        transport: Transport,
    ) -> Phone {
        let engine = Engine::start(name, user, password, domain, server, transport)
            .expect("bind the phone's SIP socket");
        Phone { engine }
    }

    /// A phone on UDP registered (for 600 s) with `server`.
    ///
    /// # Panics
    /// If the registration does not get `200`: a test cannot go on.
    pub fn registered(
        name: &str,
        user: &str,
        password: &str,
        domain: &str,
        server: SocketAddr,
    ) -> Phone {
        let p = Phone::new(name, user, password, domain, server, Transport::Udp);
        assert_eq!(
            p.register(600).expect("register").status(),
            Some(200),
            "{name} registers"
        );
        p
    }

    /// The phone's name.
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    /// Our SIP address (the listener for TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    /// Where our datagrams come from now: [`Self::local_addr`] until
    /// [`Self::rebind`] moves the phone to another socket.
    pub fn source_addr(&self) -> SocketAddr {
        self.engine.wire.source_addr()
    }

    /// A NAT rebinding (UDP only): the phone sends and receives on a fresh
    /// loopback socket from now on, and the old one closes; its Contact
    /// and Via keep the first address (a device behind a NAT keeps its
    /// private address, the server sees a new public one). Returns the
    /// new source address. Re-register ([`Self::register`]) to tell the
    /// server.
    ///
    /// # Panics
    /// On a TCP phone, or if no socket can be bound.
    pub fn rebind(&self) -> SocketAddr {
        self.engine
            .wire
            .rebind()
            .expect("a UDP phone rebinds to a fresh loopback socket")
    }

    /// The URI of our Contact, `sip:user@127.0.0.1:PORT` (a direct call
    /// targets it).
    pub fn contact_uri(&self) -> String {
        self.engine.contact_uri()
    }

    /// Our address of record, `sip:user@domain`.
    pub fn aor(&self) -> String {
        self.engine.aor()
    }

    /// Where our requests go.
    pub fn server(&self) -> SocketAddr {
        self.engine.lock().server
    }

    /// Sends our requests elsewhere from now on (a direct call between two
    /// phones needs both addresses before either is known).
    pub fn set_server(&self, server: SocketAddr) {
        self.engine.lock().server = server;
    }

    /// The digest algorithm picked among the server's challenges
    /// [SHA-256]; the first challenge is used when ours is not offered.
    pub fn set_digest_algorithm(&self, algorithm: Algorithm) {
        self.engine.lock().algorithm = algorithm;
    }

    /// Whether an incoming INVITE is answered `100 Trying` at once [false].
    pub fn set_auto_trying(&self, on: bool) {
        self.engine.lock().auto_trying = on;
    }

    /// REGISTERs our Contact for `expires` seconds, answering the `401`
    /// with digest credentials, and returns the final response.
    pub fn register(&self, expires: u32) -> Result<Message, UaError> {
        self.send_register(expires)
    }

    /// Names this phone as one device across addresses (RFC 5626): every
    /// Contact it sends from now on (REGISTER, INVITE, answers) carries
    /// `+sip.instance="<urn:uuid:UUID>"` and `reg-id=REG_ID`.
    pub fn set_instance(&self, uuid: &str, reg_id: u32) {
        *self
            .engine
            .contact_params
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            format!(";+sip.instance=\"<urn:uuid:{uuid}>\";reg-id={reg_id}");
    }

    /// REGISTERs `contact` (a Contact header value, e.g. another phone's
    /// `<sip:alice@127.0.0.1:5070>`) instead of ours, from our socket, for
    /// `expires` seconds, answering the `401`; returns the final response.
    /// What a second device claiming another device's Contact sends.
    pub fn register_contact(&self, contact: &str, expires: u32) -> Result<Message, UaError> {
        self.send_register_with(expires, Some(contact))
    }

    /// Removes our binding (`Expires: 0`) and returns the final response.
    pub fn unregister(&self) -> Result<Message, UaError> {
        self.send_register(0)
    }

    fn send_register(&self, expires: u32) -> Result<Message, UaError> {
        self.send_register_with(expires, None)
    }

    fn send_register_with(&self, expires: u32, contact: Option<&str>) -> Result<Message, UaError> {
        let request = {
            let mut st = self.engine.lock();
            st.register_cseq += 1;
            let domain = Uri::parse(&format!("sip:{}", self.engine.domain))
                .map_err(|_| UaError::BadUri(self.engine.domain.clone()))?;
            let mut r = Message::request(Method::REGISTER, domain);
            let aor = self.engine.aor();
            let tag = format!("ua{}", next_id());
            r.headers
                .push(HeaderName::From, format!("<{aor}>;tag={tag}"));
            r.headers.push(HeaderName::To, format!("<{aor}>"));
            r.headers
                .push(HeaderName::CallId, st.register_call_id.clone());
            r.headers
                .push(HeaderName::CSeq, format!("{} REGISTER", st.register_cseq));
            let contact = contact.map_or_else(|| self.engine.contact(), str::to_string);
            r.headers.push(HeaderName::Contact, contact);
            r.headers.push(HeaderName::Expires, expires.to_string());
            self.engine.stamp(&mut r);
            r
        };
        self.engine
            .request(request, None, None, "the final response to REGISTER")
    }

    /// Places a call: an INVITE to `target` (`sip:bob@example.test`),
    /// offering `sdp` if given. A `401`/`407` is answered with credentials;
    /// every final response is ACKed by the phone.
    ///
    /// # Panics
    /// If `target` is not a URI.
    pub fn call(&self, target: &str, sdp: Option<Sdp>) -> OutgoingCall {
        self.place(target, sdp, None, &[])
    }

    /// [`Self::call`] with extra headers on the INVITE, after the phone's
    /// own (e.g. `Replaces` from [`super::replaces_value`], RFC 3891). They
    /// are kept on the retry with credentials after a `401`/`407`; none of
    /// them should be one the phone sets itself (From, To, Call-ID, CSeq,
    /// Via, Contact, Content-Type).
    ///
    /// # Panics
    /// If `target` is not a URI.
    pub fn call_with_headers(
        &self,
        target: &str,
        sdp: Option<Sdp>,
        headers: &[(HeaderName, String)],
    ) -> OutgoingCall {
        self.place(target, sdp, None, headers)
    }

    /// A late offer ([`Phone::call_late_offer`]) with extra headers (a
    /// switch request without SDP).
    pub fn call_late_offer_with_headers(
        &self,
        target: &str,
        answer: Sdp,
        headers: &[(HeaderName, String)],
    ) -> OutgoingCall {
        self.place(target, None, Some(answer), headers)
    }

    /// Places a call with a late offer (RFC 3261 §13.2.1): an INVITE
    /// without SDP; the offer comes in the 2xx and `answer` goes in the ACK.
    pub fn call_late_offer(&self, target: &str, answer: Sdp) -> OutgoingCall {
        self.place(target, None, Some(answer), &[])
    }

    fn place(
        &self,
        target: &str,
        sdp: Option<Sdp>,
        late_answer: Option<Sdp>,
        extra: &[(HeaderName, String)],
    ) -> OutgoingCall {
        let uri = Uri::parse(target).unwrap_or_else(|_| panic!("{target:?} is not a URI"));
        let mut st = self.engine.lock();
        let idx = st.calls.len();
        let local_tag = format!("ua{}", next_id());
        let call_id = format!("call{}-{}@127.0.0.1", next_id(), self.local_addr().port());
        let mut invite = Message::request(Method::INVITE, uri);
        invite.headers.push(
            HeaderName::From,
            format!(
                "\"{}\" <{}>;tag={local_tag}",
                self.engine.name,
                self.engine.aor()
            ),
        );
        invite.headers.push(HeaderName::To, format!("<{target}>"));
        invite.headers.push(HeaderName::CallId, call_id.clone());
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite
            .headers
            .push(HeaderName::Contact, self.engine.contact());
        invite.headers.push(
            HeaderName::Allow,
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY",
        );
        for (name, value) in extra {
            invite.headers.push(name.clone(), value.clone());
        }
        let mut state = CallState::new(
            Role::Uac,
            call_id,
            local_tag,
            invite.clone(),
            (String::new(), String::new()),
            Peer::Server,
        );
        if let Some(sdp) = &sdp {
            let body = state.sdp_body(sdp);
            invite
                .headers
                .push(HeaderName::ContentType, "application/sdp");
            invite.body = body.into();
            state.local_sdp = Some(sdp.clone());
        }
        if let Some(answer) = late_answer {
            state.local_sdp = Some(answer);
        }
        self.engine.stamp(&mut invite);
        state.invite = invite.clone();
        st.calls.push(state);
        let key = self
            .engine
            .start_client(&mut st, invite, Some(idx), sdp, false);
        st.calls[idx].invite_key = key;
        OutgoingCall {
            engine: Arc::clone(&self.engine),
            idx,
        }
    }

    /// Subscribes to the dialog event package of our own address of
    /// record (RFC 4235): `SUBSCRIBE sip:user@domain`, `Event: dialog`,
    /// `Accept: application/dialog-info+xml`, `Expires: expires`; a
    /// `401`/`407` is answered once with credentials. Blocks until the
    /// final response; a refusal is still `Ok` (see
    /// [`Subscription::status`]), only a timeout is `Err`. NOTIFYs are
    /// answered `200` and recorded from the moment the SUBSCRIBE is sent,
    /// so those that overtake the 2xx count too.
    pub fn subscribe_dialog(&self, expires: u32) -> Result<Subscription, UaError> {
        self.subscribe_to(
            &self.aor(),
            "dialog",
            Some("application/dialog-info+xml"),
            expires,
        )
    }

    /// Subscribes to any event package at `target` (our AOR, or another
    /// user's to see a `403`), with `accept` as the Accept header if given.
    /// Same behaviour as [`Self::subscribe_dialog`].
    ///
    /// # Errors
    /// [`UaError::BadUri`] if `target` is not a URI; a timeout if no final
    /// response came.
    pub fn subscribe_to(
        &self,
        target: &str,
        event: &str,
        accept: Option<&str>,
        expires: u32,
    ) -> Result<Subscription, UaError> {
        let uri = Uri::parse(target).map_err(|_| UaError::BadUri(target.to_string()))?;
        let (request, idx) = {
            let mut st = self.engine.lock();
            let local_tag = format!("ua{}", next_id());
            let call_id = format!("sub{}-{}@127.0.0.1", next_id(), self.local_addr().port());
            let aor = self.engine.aor();
            let mut r = Message::request(Method::SUBSCRIBE, uri);
            r.headers.push(
                HeaderName::From,
                format!("\"{}\" <{aor}>;tag={local_tag}", self.engine.name),
            );
            r.headers.push(HeaderName::To, format!("<{target}>"));
            r.headers.push(HeaderName::CallId, call_id.clone());
            r.headers.push(HeaderName::CSeq, "1 SUBSCRIBE");
            r.headers.push(HeaderName::Contact, self.engine.contact());
            r.headers.push(HeaderName::Event, event);
            if let Some(accept) = accept {
                r.headers.push(HeaderName::Accept, accept);
            }
            r.headers.push(HeaderName::Expires, expires.to_string());
            self.engine.stamp(&mut r);
            st.subscriptions.push(SubscriptionState {
                event: event.to_string(),
                accept: accept.map(str::to_string),
                call_id,
                local_tag,
                request: r.clone(),
                dialog: None,
                final_response: None,
                notifies: Vec::new(),
            });
            (r, st.subscriptions.len() - 1)
        };
        let response =
            self.engine
                .request(request, None, None, "the final response to SUBSCRIBE")?;
        self.engine.lock().subscriptions[idx].final_response = Some(response);
        Ok(Subscription {
            engine: Arc::clone(&self.engine),
            idx,
        })
    }

    /// Subscribes to `event` at our own AOR with no Accept header and
    /// returns the final response: for packages the server may not support
    /// (`489 Bad Event`, RFC 6665 §8.3.1). A 2xx leaves the subscription
    /// running, its NOTIFYs answered `200`.
    pub fn subscribe(&self, event: &str, expires: u32) -> Result<Message, UaError> {
        let sub = self.subscribe_to(&self.aor(), event, None, expires)?;
        sub.final_response()
            .ok_or_else(|| self.engine.timeout("the final response to SUBSCRIBE"))
    }

    /// Every NOTIFY this phone received, for a subscription or not (those
    /// refused with `481` included), in order.
    pub fn received_notifies(&self) -> Vec<Message> {
        self.received_requests()
            .into_iter()
            .filter(|m| m.method() == Some(&Method::NOTIFY))
            .collect()
    }

    /// Waits for the next INVITE that opens a call at this phone.
    pub fn wait_incoming(&self, timeout: Duration) -> Result<IncomingCall, UaError> {
        self.engine
            .wait(timeout, |st| st.incoming.pop_front())
            .map(|idx| IncomingCall {
                engine: Arc::clone(&self.engine),
                idx,
            })
            .ok_or_else(|| self.engine.timeout("an incoming INVITE"))
    }

    /// Every call of this phone, placed or received, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        let n = self.engine.lock().calls.len();
        (0..n)
            .map(|idx| Call {
                engine: Arc::clone(&self.engine),
                idx,
            })
            .collect()
    }

    /// Calls that are established now.
    pub fn established_calls(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.status() == CallStatus::Established)
            .collect()
    }

    /// Every request the phone received, in or out of a dialog, in order
    /// (retransmissions excluded).
    pub fn received_requests(&self) -> Vec<Message> {
        self.engine
            .lock()
            .requests
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// [`Self::received_requests`] that arrived after `instant`: "R received
    /// no SIP request" is `received_requests_since(t).is_empty()`.
    pub fn received_requests_since(&self, instant: Instant) -> Vec<Message> {
        self.engine
            .lock()
            .requests
            .iter()
            .filter(|(at, _)| *at > instant)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Every message sent and received, retransmissions included.
    pub fn log(&self) -> Vec<LogEntry> {
        self.engine.lock().log.clone()
    }

    /// This phone's log as a text ladder (see [`super::ladder`]).
    pub fn ladder(&self) -> String {
        super::ladder(&[self.log()])
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.engine.stop();
    }
}
