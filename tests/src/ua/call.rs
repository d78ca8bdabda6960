//! Calls as a test holds them: an [`OutgoingCall`] until it is answered,
//! an [`IncomingCall`] until the test answers it, and the established
//! [`Call`] both sides share. Each handle is a cheap clone pointing into
//! its phone's engine; every blocking method has a deadline.

use super::engine::{next_id, Engine, TxKey, TRANSACTION_TIMEOUT};
use super::wire::Peer;
use super::{MediaDirection, Sdp, UaError};
use sip_message::{HeaderName, Message, Method};
use sip_proto::dialog::{Dialog, DialogId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Our INVITE is out, nothing but `100` back yet.
    Calling,
    /// An INVITE arrived and the test has not answered it.
    Incoming,
    /// A provisional (`180`, `183`) was sent or received.
    Early,
    /// A 2xx was sent or received.
    Established,
    /// The INVITE failed with this status (`487` after CANCEL; `408` when
    /// nothing answered).
    Failed(u16),
    /// A BYE ended it, from either side.
    Terminated,
}

/// Which side of the INVITE we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Uac,
    Uas,
}

/// How the phone answers a re-INVITE (or UPDATE) from the peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReinviteAnswer {
    /// 200 with our current SDP, its direction the answer to the offered
    /// one (`sendonly` → `recvonly`, RFC 3264 §6.1).
    #[default]
    Mirror,
    /// 200 with exactly this SDP.
    With(Sdp),
    /// A failure status (`488`, `491` …).
    Reject(u16),
}

/// The state of one call, under the engine's lock.
#[derive(Debug)]
pub(crate) struct CallState {
    pub(crate) role: Role,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    /// The dialog-creating INVITE: ours (the latest, after a challenge) or
    /// the peer's.
    pub(crate) invite: Message,
    pub(crate) invite_key: TxKey,
    /// Where our responses to the peer's INVITE go.
    pub(crate) invite_peer: Peer,
    pub(crate) status: CallStatus,
    pub(crate) provisional: Vec<Message>,
    /// The final response to the dialog-creating INVITE (sent or received).
    pub(crate) final_response: Option<Message>,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) local_sdp: Option<Sdp>,
    pub(crate) remote_sdp: Option<Sdp>,
    sdp_session: u64,
    sdp_version: u64,
    last_sent_sdp: Option<Sdp>,
    /// Every request of this call received, with its arrival time.
    pub(crate) received: Vec<(Instant, Message)>,
    /// Indices of `received` already returned by `Call::wait_request`.
    taken: Vec<usize>,
    pub(crate) bye_received: bool,
    /// The ACK for our 2xx to the peer's INVITE arrived.
    pub(crate) acked: bool,
    pub(crate) cancelled: bool,
    pub(crate) reinvite_answer: ReinviteAnswer,
    /// Scripted status codes for in-dialog requests, by method.
    pub(crate) answer_codes: HashMap<String, u16>,
    pub(crate) info_dtmf: Vec<char>,
}

impl CallState {
    pub(crate) fn new(
        role: Role,
        call_id: String,
        local_tag: String,
        invite: Message,
        invite_key: TxKey,
        invite_peer: Peer,
    ) -> CallState {
        CallState {
            role,
            call_id,
            local_tag,
            invite,
            invite_key,
            invite_peer,
            status: CallStatus::Calling,
            provisional: Vec::new(),
            final_response: None,
            dialog: None,
            local_sdp: None,
            remote_sdp: None,
            sdp_session: next_id(),
            sdp_version: 0,
            last_sent_sdp: None,
            received: Vec::new(),
            taken: Vec::new(),
            bye_received: false,
            acked: false,
            cancelled: false,
            reinvite_answer: ReinviteAnswer::Mirror,
            answer_codes: HashMap::new(),
            info_dtmf: Vec::new(),
        }
    }

    /// The body for `sdp`, its origin version raised when it changed since
    /// the last one we sent (RFC 3264 §8).
    pub(crate) fn sdp_body(&mut self, sdp: &Sdp) -> String {
        if self.last_sent_sdp.as_ref() != Some(sdp) {
            self.sdp_version += 1;
            self.last_sent_sdp = Some(sdp.clone());
        }
        sdp.render(self.sdp_session, self.sdp_version)
    }
}

/// A call this phone placed, from the INVITE until its final response.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    pub(crate) engine: Arc<Engine>,
    pub(crate) idx: usize,
}

impl OutgoingCall {
    /// The INVITE as last sent (with credentials after a challenge).
    pub fn invite(&self) -> Message {
        self.engine.lock().calls[self.idx].invite.clone()
    }

    /// Every provisional response received, in order.
    pub fn provisional_responses(&self) -> Vec<Message> {
        self.engine.lock().calls[self.idx].provisional.clone()
    }

    /// The status codes of [`Self::provisional_responses`].
    pub fn provisional_statuses(&self) -> Vec<u16> {
        self.engine.lock().calls[self.idx]
            .provisional
            .iter()
            .filter_map(Message::status)
            .collect()
    }

    /// Waits for a provisional response with this status (`180`, `183`).
    pub fn wait_provisional(&self, code: u16, timeout: Duration) -> Result<Message, UaError> {
        self.engine
            .wait(timeout, |st| {
                st.calls[self.idx]
                    .provisional
                    .iter()
                    .find(|m| m.status() == Some(code))
                    .cloned()
            })
            .ok_or_else(|| self.engine.timeout("a provisional response"))
    }

    /// Waits for the final response to the INVITE (a challenge answered
    /// with credentials is not final) and returns its status.
    pub fn wait_final(&self, timeout: Duration) -> Result<u16, UaError> {
        self.engine
            .wait(timeout, |st| {
                let c = &st.calls[self.idx];
                match c.status {
                    CallStatus::Failed(code) => Some(code),
                    _ => c.final_response.as_ref().and_then(Message::status),
                }
            })
            .ok_or_else(|| self.engine.timeout("the final response to INVITE"))
    }

    /// The final response, once received.
    pub fn final_response(&self) -> Option<Message> {
        self.engine.lock().calls[self.idx].final_response.clone()
    }

    /// Waits for a 2xx (already ACKed by the phone) and returns the call;
    /// a failure status is [`UaError::Failed`].
    pub fn wait_answer(&self, timeout: Duration) -> Result<Call, UaError> {
        match self.wait_final(timeout)? {
            200..=299 => Ok(self.call()),
            code => Err(UaError::Failed(code)),
        }
    }

    /// Cancels the INVITE (RFC 3261 §9.1) and returns the status of the
    /// CANCEL's own response (`200`); the INVITE then ends with `487`, seen
    /// by [`Self::wait_final`]. Waits first for a provisional response,
    /// since a CANCEL must not precede one.
    pub fn cancel(&self) -> Result<u16, UaError> {
        self.engine.wait(crate::REPLY_TIMEOUT, |st| {
            (!st.calls[self.idx].provisional.is_empty()).then_some(())
        });
        let key = {
            let mut st = self.engine.lock();
            self.engine.cancel(&mut st, self.idx)
        };
        self.engine
            .wait(TRANSACTION_TIMEOUT, |st| Engine::final_of(st, &key))
            .and_then(Result::ok)
            .and_then(|m| m.status())
            .ok_or_else(|| self.engine.timeout("the response to CANCEL"))
    }

    /// The call handle (usable once established).
    pub fn call(&self) -> Call {
        Call {
            engine: Arc::clone(&self.engine),
            idx: self.idx,
        }
    }

    /// Where the call is.
    pub fn status(&self) -> CallStatus {
        self.engine.lock().calls[self.idx].status
    }
}

/// An INVITE that arrived at this phone, until the test answers it.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub(crate) engine: Arc<Engine>,
    pub(crate) idx: usize,
}

impl IncomingCall {
    /// The INVITE.
    pub fn request(&self) -> Message {
        self.engine.lock().calls[self.idx].invite.clone()
    }

    /// The caller's offer.
    pub fn remote_sdp(&self) -> Option<Sdp> {
        self.engine.lock().calls[self.idx].remote_sdp.clone()
    }

    /// Sends `180 Ringing`.
    pub fn ring(&self) -> Result<(), UaError> {
        self.provisional(180, None)
    }

    /// Sends any provisional (`183` with SDP for early media).
    pub fn provisional(&self, code: u16, sdp: Option<Sdp>) -> Result<(), UaError> {
        let mut st = self.engine.lock();
        self.engine
            .respond_to_invite(&mut st, self.idx, code, sdp.as_ref())
            .map(drop)
    }

    /// Sends `200 OK` (with `sdp` as the answer), retransmits it until the
    /// ACK and waits for that ACK.
    pub fn answer(&self, sdp: Option<Sdp>) -> Result<Call, UaError> {
        {
            let mut st = self.engine.lock();
            self.engine
                .respond_to_invite(&mut st, self.idx, 200, sdp.as_ref())?;
        }
        self.engine
            .wait(TRANSACTION_TIMEOUT, |st| {
                st.calls[self.idx].acked.then_some(())
            })
            .ok_or_else(|| self.engine.timeout("the ACK of our 200"))?;
        Ok(self.call())
    }

    /// Sends `200 OK` without waiting for the ACK.
    pub fn answer_no_wait(&self, sdp: Option<Sdp>) -> Result<Call, UaError> {
        let mut st = self.engine.lock();
        self.engine
            .respond_to_invite(&mut st, self.idx, 200, sdp.as_ref())?;
        Ok(self.call())
    }

    /// Refuses with a failure status (`486`, `603` …), retransmitted until
    /// the ACK, and waits for that ACK.
    pub fn reject(&self, code: u16) -> Result<(), UaError> {
        let key = {
            let mut st = self.engine.lock();
            self.engine
                .respond_to_invite(&mut st, self.idx, code, None)?;
            st.calls[self.idx].invite_key.0.clone()
        };
        self.engine
            .wait(TRANSACTION_TIMEOUT, |st| {
                st.calls[self.idx]
                    .received
                    .iter()
                    .any(|(_, m)| {
                        m.method() == Some(&Method::ACK)
                            && m.top_via().and_then(|v| v.branch().map(str::to_string))
                                == Some(key.clone())
                    })
                    .then_some(())
            })
            .ok_or_else(|| self.engine.timeout("the ACK of our failure response"))
    }

    /// True once a CANCEL was answered (200, and 487 to the INVITE).
    pub fn is_cancelled(&self) -> bool {
        self.engine.lock().calls[self.idx].cancelled
    }

    /// Waits for the caller's CANCEL.
    pub fn wait_cancelled(&self, timeout: Duration) -> Result<(), UaError> {
        self.engine
            .wait(timeout, |st| st.calls[self.idx].cancelled.then_some(()))
            .ok_or_else(|| self.engine.timeout("a CANCEL"))
    }

    /// Where the call is.
    pub fn status(&self) -> CallStatus {
        self.engine.lock().calls[self.idx].status
    }

    /// The call handle (usable once answered).
    pub fn call(&self) -> Call {
        Call {
            engine: Arc::clone(&self.engine),
            idx: self.idx,
        }
    }
}

/// An established call, from either side: in-dialog requests out, a log of
/// those that came in, and the session descriptions.
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) engine: Arc<Engine>,
    pub(crate) idx: usize,
}

impl Call {
    /// Where the call is.
    pub fn status(&self) -> CallStatus {
        self.engine.lock().calls[self.idx].status
    }

    /// The Call-ID.
    pub fn call_id(&self) -> String {
        self.engine.lock().calls[self.idx].call_id.clone()
    }

    /// The dialog's identity, once there is one.
    pub fn dialog_id(&self) -> Option<DialogId> {
        self.engine.lock().calls[self.idx]
            .dialog
            .as_ref()
            .map(|d| d.id().clone())
    }

    /// The peer's current session description.
    pub fn remote_sdp(&self) -> Option<Sdp> {
        self.engine.lock().calls[self.idx].remote_sdp.clone()
    }

    /// Ours, as last accepted (an offer rejected leaves the previous one).
    pub fn local_sdp(&self) -> Option<Sdp> {
        self.engine.lock().calls[self.idx].local_sdp.clone()
    }

    /// Sends an in-dialog request built from the dialog (RFC 3261
    /// §12.2.1.1) with these extra headers and body (content type, bytes),
    /// and waits for its final response.
    pub fn request(
        &self,
        method: Method,
        headers: &[(HeaderName, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Message, UaError> {
        self.send(method, headers, body, None)
    }

    /// Sends a request of *this* call's dialog (its Call-ID, tags, route
    /// and next CSeq, built as [`Self::request`] does) from `sender`'s
    /// socket, stamped with `sender`'s Via (and Contact for INVITE and
    /// UPDATE), and waits at `sender` for its final response: what a second
    /// device, or anyone who learnt the dialog's identifiers, can send (or,
    /// with `sender` the call's own phone, a request with a hand-picked
    /// CSeq or Contact). A `CSeq` among `headers` replaces the dialog's, a
    /// `Contact` the sender's; other headers are added.
    pub fn request_via(
        &self,
        sender: &super::Phone,
        method: Method,
        headers: &[(HeaderName, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Message, UaError> {
        let mut request = {
            let mut st = self.engine.lock();
            let dialog = st.calls[self.idx]
                .dialog
                .as_mut()
                .ok_or(UaError::NoDialog)?;
            dialog.new_request(method.clone())?
        };
        let own_contact = headers.iter().any(|(n, _)| *n == HeaderName::Contact);
        if matches!(method, Method::INVITE | Method::UPDATE) && !own_contact {
            request
                .headers
                .push(HeaderName::Contact, sender.engine.contact());
        }
        for (name, value) in headers {
            if *name == HeaderName::CSeq {
                request.headers.set(HeaderName::CSeq, *value);
            } else {
                request.headers.push(name.clone(), *value);
            }
        }
        if let Some((content_type, bytes)) = body {
            request.headers.push(HeaderName::ContentType, content_type);
            request.body = bytes.to_vec().into();
        }
        sender.engine.stamp(&mut request);
        sender.engine.request(
            request,
            None,
            None,
            "the final response to a request sent into another phone's dialog",
        )
    }

    fn send(
        &self,
        method: Method,
        headers: &[(HeaderName, &str)],
        body: Option<(&str, &[u8])>,
        offer: Option<Sdp>,
    ) -> Result<Message, UaError> {
        let request = {
            let mut st = self.engine.lock();
            let call = &mut st.calls[self.idx];
            let dialog = call.dialog.as_mut().ok_or(UaError::NoDialog)?;
            let mut request = dialog.new_request(method.clone())?;
            if matches!(method, Method::INVITE | Method::UPDATE) {
                request
                    .headers
                    .push(HeaderName::Contact, self.engine.contact());
            }
            for (name, value) in headers {
                request.headers.push(name.clone(), *value);
            }
            if let Some(sdp) = &offer {
                let body = call.sdp_body(sdp);
                request
                    .headers
                    .push(HeaderName::ContentType, "application/sdp");
                request.body = body.into();
            } else if let Some((content_type, bytes)) = body {
                request.headers.push(HeaderName::ContentType, content_type);
                request.body = bytes.to_vec().into();
            }
            self.engine.stamp(&mut request);
            request
        };
        self.engine.request(
            request,
            Some(self.idx),
            offer,
            "the final response to an in-dialog request",
        )
    }

    /// Sends BYE and returns the status of its response (expect `200`).
    /// The call is over either way.
    pub fn bye(&self) -> Result<u16, UaError> {
        let result = self.request(Method::BYE, &[], None);
        self.engine.lock().calls[self.idx].status = CallStatus::Terminated;
        Ok(result?.status().unwrap_or(0))
    }

    /// Waits for the peer's BYE (answered 200 by the phone) and returns
    /// it, e.g. to read its `Reason` header.
    pub fn wait_bye(&self, timeout: Duration) -> Result<Message, UaError> {
        self.engine
            .wait(timeout, |st| {
                let call = &st.calls[self.idx];
                if !call.bye_received {
                    return None;
                }
                call.received
                    .iter()
                    .map(|(_, m)| m)
                    .find(|m| m.method() == Some(&Method::BYE))
                    .cloned()
            })
            .ok_or_else(|| self.engine.timeout("a BYE"))
    }

    /// The peer's BYE, once received (the first, if it came more than
    /// once with different branches).
    pub fn bye_request(&self) -> Option<Message> {
        self.engine.lock().calls[self.idx]
            .received
            .iter()
            .map(|(_, m)| m)
            .find(|m| m.method() == Some(&Method::BYE))
            .cloned()
    }

    /// The `Reason` header of the peer's BYE (`SIP;cause=200;text="Call
    /// completed elsewhere"`), once received and if it has one.
    pub fn bye_reason(&self) -> Option<String> {
        self.bye_request()
            .and_then(|m| m.header(&HeaderName::Reason).map(str::to_string))
    }

    /// Sends a re-INVITE offering `sdp`; the phone ACKs its final
    /// response. Returns the status; on 2xx `sdp` becomes the local SDP
    /// and the answer the remote one.
    pub fn reinvite(&self, sdp: Sdp) -> Result<u16, UaError> {
        let response = self.send(Method::INVITE, &[], None, Some(sdp))?;
        Ok(response.status().unwrap_or(0))
    }

    /// Puts the peer on hold: a re-INVITE with our SDP as `sendonly`.
    pub fn hold(&self) -> Result<u16, UaError> {
        self.reinvite_direction(MediaDirection::SendOnly)
    }

    /// Takes the peer off hold: a re-INVITE with our SDP as `sendrecv`.
    pub fn resume(&self) -> Result<u16, UaError> {
        self.reinvite_direction(MediaDirection::SendRecv)
    }

    fn reinvite_direction(&self, direction: MediaDirection) -> Result<u16, UaError> {
        let local = self.local_sdp().ok_or(UaError::NoSdp)?;
        self.reinvite(local.with_direction(direction))
    }

    /// Sends INFO with this body; returns the status.
    pub fn info(&self, content_type: &str, body: &str) -> Result<u16, UaError> {
        let response = self.request(Method::INFO, &[], Some((content_type, body.as_bytes())))?;
        Ok(response.status().unwrap_or(0))
    }

    /// Sends INFO `application/vnd.baton.handover+json` with this body
    /// (e.g. `{"handover":"h1","decision":"grant"}`); returns the status.
    pub fn info_json(&self, body: &str) -> Result<u16, UaError> {
        self.info(super::HANDOVER_CONTENT_TYPE, body)
    }

    /// Waits for an INFO of this call whose Content-Type has this media
    /// type (compared case-insensitively, parameters on either side
    /// ignored) and returns the first one received, earlier arrivals
    /// included; the phone has already answered it (200 unless scripted
    /// with [`Self::set_answer_code`]).
    pub fn wait_info(&self, content_type: &str, timeout: Duration) -> Result<Message, UaError> {
        let wanted = media_type(content_type);
        self.engine
            .wait(timeout, |st| {
                st.calls[self.idx]
                    .received
                    .iter()
                    .map(|(_, m)| m)
                    .find(|m| {
                        m.method() == Some(&Method::INFO)
                            && m.header(&HeaderName::ContentType)
                                .is_some_and(|ct| media_type(ct) == wanted)
                    })
                    .cloned()
            })
            .ok_or_else(|| self.engine.timeout("an INFO of that content type"))
    }

    /// Every INFO of this call received with this media type (as in
    /// [`Self::wait_info`]), in order.
    pub fn infos(&self, content_type: &str) -> Vec<Message> {
        let wanted = media_type(content_type);
        self.engine.lock().calls[self.idx]
            .received
            .iter()
            .map(|(_, m)| m)
            .filter(|m| {
                m.method() == Some(&Method::INFO)
                    && m.header(&HeaderName::ContentType)
                        .is_some_and(|ct| media_type(ct) == wanted)
            })
            .cloned()
            .collect()
    }

    /// Sends one DTMF digit as INFO `application/dtmf-relay`
    /// (`Signal=5`, `Duration=160`).
    pub fn info_dtmf(&self, digit: char) -> Result<u16, UaError> {
        self.info(
            "application/dtmf-relay",
            &format!("Signal={digit}\r\nDuration=160\r\n"),
        )
    }

    /// The digits received as INFO `application/dtmf-relay`.
    pub fn dtmf_info_received(&self) -> Vec<char> {
        self.engine.lock().calls[self.idx].info_dtmf.clone()
    }

    /// Every request of this call the phone received (INVITE, ACK, BYE,
    /// re-INVITE, INFO, CANCEL …), in order; retransmissions excluded.
    pub fn received_requests(&self) -> Vec<Message> {
        self.engine.lock().calls[self.idx]
            .received
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// [`Self::received_requests`] that arrived after `instant`.
    pub fn received_requests_since(&self, instant: Instant) -> Vec<Message> {
        self.engine.lock().calls[self.idx]
            .received
            .iter()
            .filter(|(at, _)| *at > instant)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Waits for the next request of `method` in this call not yet
    /// returned by an earlier call of this method (already answered as
    /// scripted) and returns it.
    pub fn wait_request(&self, method: Method, timeout: Duration) -> Result<Message, UaError> {
        self.engine
            .wait(timeout, |st| {
                let call = &mut st.calls[self.idx];
                let i = call.received.iter().enumerate().position(|(i, (_, m))| {
                    m.method() == Some(&method) && !call.taken.contains(&i)
                })?;
                call.taken.push(i);
                Some(call.received[i].1.clone())
            })
            .ok_or_else(|| self.engine.timeout("an in-dialog request"))
    }

    /// How the phone answers the peer's next re-INVITEs and UPDATEs.
    pub fn set_reinvite_answer(&self, answer: ReinviteAnswer) {
        self.engine.lock().calls[self.idx].reinvite_answer = answer;
    }

    /// The status the phone answers the peer's in-dialog requests of
    /// `method` with (200 by default; a failure refuses a re-INVITE).
    pub fn set_answer_code(&self, method: Method, code: u16) {
        self.engine.lock().calls[self.idx]
            .answer_codes
            .insert(method.to_string(), code);
    }
}

/// The media type of a Content-Type value, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
