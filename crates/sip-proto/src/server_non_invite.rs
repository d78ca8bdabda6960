use crate::timers::due;
use crate::transaction::Ctx;
use crate::{Flow, TransactionError};
use bytes::Bytes;
use sip_message::Message;
use std::time::Instant;

/// States of the non-INVITE server transaction (RFC 3261 Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// The request went to the TU; no response yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; Timer J absorbs retransmissions.
    Completed,
    /// Finished; the layer removes the transaction.
    Terminated,
}

/// The non-INVITE server transaction (RFC 3261 §17.2.2).
///
/// Absorbs retransmitted requests, re-sending the last response if there
/// is one, and after the final response lingers for Timer J (64·T1 on
/// unreliable transports, zero on reliable ones).
///
/// RFC 3261 gives Trying and Proceeding no timer: the TU must answer every
/// request (or call [`crate::TransactionLayer::terminate`]), else the
/// transaction stays.
#[derive(Debug)]
pub struct ServerNonInviteTransaction {
    state: ServerNonInviteState,
    reliable: bool,
    flow: Flow,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerNonInviteTransaction {
    /// Enters Trying for a new request.
    pub(crate) fn start(flow: Flow) -> Self {
        ServerNonInviteTransaction {
            state: ServerNonInviteState::Trying,
            reliable: flow.is_reliable(),
            flow,
            last_response: None,
            timer_j: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
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

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timer_j
    }

    /// A retransmission of the request: Trying discards it, Proceeding and
    /// Completed re-send the last response (RFC 3261 §17.2.2).
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>) {
        if let (ServerNonInviteState::Proceeding | ServerNonInviteState::Completed, Some(r)) =
            (self.state, &self.last_response)
        {
            ctx.transmit(self.flow, r.clone());
        }
    }

    /// A response from the TU.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: u16,
        response: &Message,
    ) -> Result<(), TransactionError> {
        use ServerNonInviteState::*;
        if !matches!(self.state, Trying | Proceeding) {
            // "Any other final responses passed by the TU to the server
            // transaction MUST be discarded while in the Completed state."
            return Err(TransactionError::FinalAlreadySent);
        }
        let payload = Bytes::from(response.to_bytes());
        ctx.transmit(self.flow, payload.clone());
        self.last_response = Some(payload);
        if code < 200 {
            self.state = Proceeding;
            return Ok(());
        }
        let j = ctx.timers.j(self.reliable);
        if j.is_zero() {
            self.state = Terminated;
        } else {
            self.state = Completed;
            self.timer_j = Some(ctx.now + j);
        }
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if due(self.timer_j, ctx.now) {
            self.timer_j = None;
            self.state = ServerNonInviteState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        self.timer_j = None;
        self.state = ServerNonInviteState::Terminated;
        ctx.transport_error_event();
    }
}
