use crate::timers::{due, earliest, TRYING_DELAY};
use crate::transaction::{Ctx, Disposition};
use crate::{Flow, Timer, TransactionError};
use bytes::Bytes;
use sip_message::{HeaderName, Headers, Message, ResponseBuilder};
use std::time::{Duration, Instant};

/// States of the INVITE server transaction (RFC 3261 Figure 7, with the
/// Accepted state of RFC 6026 Figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// The INVITE went to the TU; provisional responses may follow.
    Proceeding,
    /// A 300–699 was sent; Timer G retransmits it until the ACK, Timer H
    /// gives up.
    Completed,
    /// The ACK arrived; Timer I absorbs ACK retransmissions.
    Confirmed,
    /// A 2xx was sent (RFC 6026); INVITE retransmissions are absorbed until
    /// Timer L. The TU retransmits the 2xx itself.
    Accepted,
    /// Finished; the layer removes the transaction.
    Terminated,
}

/// The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §8.5–8.7).
///
/// Answers `100 Trying` after 200 ms of TU silence (if enabled), re-sends
/// its last response to a retransmitted INVITE, retransmits a non-2xx final
/// on Timer G (T1 doubling to T2, unreliable transports only) until the
/// ACK or Timer H (64·T1), then absorbs ACKs for Timer I (T4, or zero).
/// After a 2xx it waits in Accepted for Timer L (64·T1).
#[derive(Debug)]
pub struct ServerInviteTransaction {
    state: ServerInviteState,
    reliable: bool,
    flow: Flow,
    last_response: Option<Bytes>,
    /// To tag of the last response, kept only for RFC 2543 ACK matching.
    response_to_tag: Option<Box<str>>,
    /// The request headers a `100 Trying` copies, while one may be due.
    trying_headers: Option<Box<Headers>>,
    timer_trying: Option<Instant>,
    timer_g: Option<Instant>,
    interval_g: Duration,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl ServerInviteTransaction {
    /// Enters Proceeding for a new INVITE; with `send_100_trying`, arms the
    /// 200 ms Trying timer.
    pub(crate) fn start(
        ctx: &mut Ctx<'_>,
        request: &Message,
        flow: Flow,
        send_100_trying: bool,
    ) -> Self {
        let trying_headers = send_100_trying.then(|| {
            // RFC 3261 §8.2.6.1: the 100 copies Timestamp as well as the
            // §8.2.6.2 headers.
            let mut h = Headers::with_capacity(8);
            for field in &request.headers {
                if matches!(
                    field.name,
                    HeaderName::Via
                        | HeaderName::From
                        | HeaderName::To
                        | HeaderName::CallId
                        | HeaderName::CSeq
                        | HeaderName::Timestamp
                ) {
                    h.push(field.name.clone(), field.value.clone());
                }
            }
            Box::new(h)
        });
        ServerInviteTransaction {
            state: ServerInviteState::Proceeding,
            reliable: flow.is_reliable(),
            flow,
            last_response: None,
            response_to_tag: None,
            timer_trying: trying_headers.is_some().then(|| ctx.now + TRYING_DELAY),
            trying_headers,
            timer_g: None,
            interval_g: ctx.timers.t1,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// True over a reliable transport.
    pub fn is_reliable(&self) -> bool {
        self.reliable
    }

    /// The flow responses go back on.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The last response sent, serialised.
    pub fn last_response(&self) -> Option<&Bytes> {
        self.last_response.as_ref()
    }

    pub(crate) fn response_to_tag(&self) -> Option<&str> {
        self.response_to_tag.as_deref()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.timer_trying,
            self.timer_g,
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// A retransmitted INVITE, or an ACK, matched this transaction.
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>, is_ack: bool) -> Disposition {
        use ServerInviteState::*;
        if is_ack {
            return match self.state {
                Completed => {
                    self.timer_g = None;
                    self.timer_h = None;
                    let i = ctx.timers.i(self.reliable);
                    if i.is_zero() {
                        self.state = Terminated;
                    } else {
                        self.state = Confirmed;
                        self.timer_i = Some(ctx.now + i);
                    }
                    Disposition::Absorbed
                }
                // RFC 6026 §8.7: an ACK in Accepted (a 2xx ACK reusing the
                // INVITE branch) belongs to the TU.
                Accepted => Disposition::ToTu,
                Proceeding | Confirmed | Terminated => Disposition::Absorbed,
            };
        }
        match self.state {
            // RFC 3261 §17.2.1: re-send the last provisional (Proceeding) or
            // the final (Completed). RFC 6026 §8.5: absorb in Accepted.
            Proceeding | Completed => {
                if let Some(r) = &self.last_response {
                    ctx.transmit(self.flow, r.clone());
                }
            }
            Confirmed | Accepted | Terminated => {}
        }
        Disposition::Absorbed
    }

    /// A response from the TU.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: u16,
        response: &Message,
    ) -> Result<(), TransactionError> {
        use ServerInviteState::*;
        match (self.state, code) {
            (Proceeding, _) | (Accepted, 200..=299) => {}
            _ => return Err(TransactionError::FinalAlreadySent),
        }
        let payload = Bytes::from(response.to_bytes());
        ctx.transmit(self.flow, payload.clone());
        self.last_response = Some(payload);
        if ctx.key.is_rfc2543() {
            self.response_to_tag = response.to_tag().map(Into::into);
        }
        self.timer_trying = None;
        self.trying_headers = None;
        match (self.state, code) {
            (Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timer_l = Some(ctx.now + ctx.timers.t1x64());
            }
            (Proceeding, 300..=699) => {
                self.state = Completed;
                if !self.reliable {
                    self.interval_g = ctx.timers.t1;
                    self.timer_g = Some(ctx.now + self.interval_g);
                }
                self.timer_h = Some(ctx.now + ctx.timers.t1x64());
            }
            // A provisional in Proceeding, or a 2xx retransmission passed
            // down by the TU in Accepted (RFC 6026 §8.6): sent, no change.
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        use ServerInviteState::*;
        let now = ctx.now;
        if due(self.timer_trying, now) {
            self.timer_trying = None;
            if let (Proceeding, None, Some(h)) =
                (self.state, &self.last_response, self.trying_headers.take())
            {
                let mut builder = ResponseBuilder::from_headers(&h, 100);
                if let Some(ts) = h.get(&HeaderName::Timestamp) {
                    builder = builder.header(HeaderName::Timestamp, ts);
                }
                let payload = Bytes::from(builder.build().to_bytes());
                ctx.transmit(self.flow, payload.clone());
                self.last_response = Some(payload);
            }
        }
        if due(self.timer_h, now) {
            // RFC 3261 §17.2.1: no ACK ever came; tell the TU.
            self.timer_g = None;
            self.timer_h = None;
            self.state = Terminated;
            ctx.timeout_event(Timer::H);
            return;
        }
        if due(self.timer_g, now) {
            if let Some(r) = &self.last_response {
                ctx.transmit(self.flow, r.clone());
            }
            self.interval_g = ctx.timers.backoff_capped(self.interval_g);
            self.timer_g = Some(now + self.interval_g);
        }
        if due(self.timer_i, now) || due(self.timer_l, now) {
            self.timer_i = None;
            self.timer_l = None;
            self.state = Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        self.timer_trying = None;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
        self.state = ServerInviteState::Terminated;
        ctx.transport_error_event();
    }
}
