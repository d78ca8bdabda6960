//! A phone: one SIP socket, a user with a password in a domain, and a
//! server it sends every request to (Baton, or the other phone of a direct
//! call).

use super::call::{CallState, CallStatus, IncomingCall, OutgoingCall, Role};
use super::engine::{next_id, Engine};
use super::log::LogEntry;
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
    engine: Arc<Engine>,
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

    /// The phone's name.
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    /// Our SIP address (the listener for TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.engine.local_addr()
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

    /// Removes our binding (`Expires: 0`) and returns the final response.
    pub fn unregister(&self) -> Result<Message, UaError> {
        self.send_register(0)
    }

    fn send_register(&self, expires: u32) -> Result<Message, UaError> {
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
            r.headers.push(HeaderName::Contact, self.engine.contact());
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
        self.place(target, sdp, None)
    }

    /// Places a call with a late offer (RFC 3261 §13.2.1): an INVITE
    /// without SDP; the offer comes in the 2xx and `answer` goes in the ACK.
    pub fn call_late_offer(&self, target: &str, answer: Sdp) -> OutgoingCall {
        self.place(target, None, Some(answer))
    }

    fn place(&self, target: &str, sdp: Option<Sdp>, late_answer: Option<Sdp>) -> OutgoingCall {
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
