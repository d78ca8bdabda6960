use crate::timers::{due, earliest};
use crate::transaction::Ctx;
use crate::{Flow, Timer};
use bytes::Bytes;
use sip_message::Message;
use std::time::{Duration, Instant};

/// States of the non-INVITE client transaction (RFC 3261 Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// The request was sent; Timers E and F run.
    Trying,
    /// A provisional response arrived; E keeps firing, every T2.
    Proceeding,
    /// A final response arrived; Timer K absorbs retransmissions.
    Completed,
    /// Finished; the layer removes the transaction.
    Terminated,
}

/// The non-INVITE client transaction (RFC 3261 §17.1.2).
///
/// Retransmits on Timer E (T1 doubling, capped at T2; T2 in Proceeding)
/// over unreliable transports, gives up on Timer F (64·T1), and after a
/// final response absorbs retransmissions for Timer K (T4, or zero).
#[derive(Debug)]
pub struct ClientNonInviteTransaction {
    state: ClientNonInviteState,
    reliable: bool,
    destination: Flow,
    request: Bytes,
    timer_e: Option<Instant>,
    interval_e: Duration,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInviteTransaction {
    /// Sends the request and enters Trying.
    pub(crate) fn start(
        ctx: &mut Ctx<'_>,
        request: &Message,
        destination: Flow,
        reliable: bool,
    ) -> Self {
        let payload = Bytes::from(request.to_bytes());
        ctx.transmit(destination, payload.clone());
        let t1 = ctx.timers.t1;
        ClientNonInviteTransaction {
            state: ClientNonInviteState::Trying,
            reliable,
            destination,
            request: payload,
            timer_e: (!reliable).then(|| ctx.now + t1),
            interval_e: t1,
            timer_f: Some(ctx.now + ctx.timers.t1x64()),
            timer_k: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// True over a reliable transport.
    pub fn is_reliable(&self) -> bool {
        self.reliable
    }

    /// Where the request goes.
    pub fn destination(&self) -> Flow {
        self.destination
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([self.timer_e, self.timer_f, self.timer_k])
    }

    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: Message) {
        let Some(code) = response.status() else {
            return;
        };
        use ClientNonInviteState::*;
        match (self.state, code) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                ctx.response_event(response);
            }
            (Trying | Proceeding, 200..=699) => {
                self.timer_e = None;
                self.timer_f = None;
                ctx.response_event(response);
                let k = ctx.timers.k(self.reliable);
                if k.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_k = Some(ctx.now + k);
                }
            }
            // Completed absorbs retransmitted responses.
            _ => {}
        }
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if due(self.timer_f, now) {
            self.timer_e = None;
            self.timer_f = None;
            self.state = ClientNonInviteState::Terminated;
            ctx.timeout_event(Timer::F);
            return;
        }
        if due(self.timer_e, now) {
            ctx.transmit(self.destination, self.request.clone());
            self.interval_e = match self.state {
                ClientNonInviteState::Proceeding => ctx.timers.t2,
                _ => ctx.timers.backoff_capped(self.interval_e),
            };
            self.timer_e = Some(now + self.interval_e);
        }
        if due(self.timer_k, now) {
            self.timer_k = None;
            self.state = ClientNonInviteState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
        self.state = ClientNonInviteState::Terminated;
        ctx.transport_error_event();
    }
}
