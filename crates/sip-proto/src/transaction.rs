use crate::{
    ClientInviteState, ClientInviteTransaction, ClientNonInviteState, ClientNonInviteTransaction,
    Event, Flow, ServerInviteState, ServerInviteTransaction, ServerNonInviteState,
    ServerNonInviteTransaction, Timers, TransactionError, TransactionKey, Transmit,
};
use bytes::Bytes;
use sip_message::Message;
use std::collections::VecDeque;
use std::time::Instant;

/// One transaction of any of the four RFC 3261 kinds.
#[derive(Debug)]
pub enum Transaction {
    /// RFC 3261 §17.1.1, RFC 6026 §8.4.
    ClientInvite(ClientInviteTransaction),
    /// RFC 3261 §17.1.2.
    ClientNonInvite(ClientNonInviteTransaction),
    /// RFC 3261 §17.2.1, RFC 6026 §8.5–8.7.
    ServerInvite(ServerInviteTransaction),
    /// RFC 3261 §17.2.2.
    ServerNonInvite(ServerNonInviteTransaction),
}

/// The state of a transaction, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// State of an INVITE client transaction.
    ClientInvite(ClientInviteState),
    /// State of a non-INVITE client transaction.
    ClientNonInvite(ClientNonInviteState),
    /// State of an INVITE server transaction.
    ServerInvite(ServerInviteState),
    /// State of a non-INVITE server transaction.
    ServerNonInvite(ServerNonInviteState),
}

/// What a server transaction did with a request that matched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Swallowed (a retransmission, or the ACK of a non-2xx).
    Absorbed,
    /// To be passed to the TU (an ACK in the Accepted state).
    ToTu,
}

impl Transaction {
    /// The current state.
    pub fn state(&self) -> TransactionState {
        match self {
            Transaction::ClientInvite(t) => TransactionState::ClientInvite(t.state()),
            Transaction::ClientNonInvite(t) => TransactionState::ClientNonInvite(t.state()),
            Transaction::ServerInvite(t) => TransactionState::ServerInvite(t.state()),
            Transaction::ServerNonInvite(t) => TransactionState::ServerNonInvite(t.state()),
        }
    }

    /// True when the transport is reliable (no retransmissions, zero wait
    /// timers).
    pub fn is_reliable(&self) -> bool {
        match self {
            Transaction::ClientInvite(t) => t.is_reliable(),
            Transaction::ClientNonInvite(t) => t.is_reliable(),
            Transaction::ServerInvite(t) => t.is_reliable(),
            Transaction::ServerNonInvite(t) => t.is_reliable(),
        }
    }

    /// The last response a server transaction sent, serialised; `None` for
    /// client transactions and before the first response.
    pub fn last_response(&self) -> Option<&Bytes> {
        match self {
            Transaction::ServerInvite(t) => t.last_response(),
            Transaction::ServerNonInvite(t) => t.last_response(),
            _ => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        match self {
            Transaction::ClientInvite(t) => t.state() == ClientInviteState::Terminated,
            Transaction::ClientNonInvite(t) => t.state() == ClientNonInviteState::Terminated,
            Transaction::ServerInvite(t) => t.state() == ServerInviteState::Terminated,
            Transaction::ServerNonInvite(t) => t.state() == ServerNonInviteState::Terminated,
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self {
            Transaction::ClientInvite(t) => t.next_deadline(),
            Transaction::ClientNonInvite(t) => t.next_deadline(),
            Transaction::ServerInvite(t) => t.next_deadline(),
            Transaction::ServerNonInvite(t) => t.next_deadline(),
        }
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Transaction::ClientInvite(t) => t.on_timeout(ctx),
            Transaction::ClientNonInvite(t) => t.on_timeout(ctx),
            Transaction::ServerInvite(t) => t.on_timeout(ctx),
            Transaction::ServerNonInvite(t) => t.on_timeout(ctx),
        }
    }

    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Transaction::ClientInvite(t) => t.on_transport_error(ctx),
            Transaction::ClientNonInvite(t) => t.on_transport_error(ctx),
            Transaction::ServerInvite(t) => t.on_transport_error(ctx),
            Transaction::ServerNonInvite(t) => t.on_transport_error(ctx),
        }
    }

    /// A response from the wire; server transactions ignore it (the layer
    /// never routes one there).
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: Message) {
        match self {
            Transaction::ClientInvite(t) => t.on_response(ctx, response),
            Transaction::ClientNonInvite(t) => t.on_response(ctx, response),
            Transaction::ServerInvite(_) | Transaction::ServerNonInvite(_) => {}
        }
    }

    /// A request from the wire that matched this server transaction.
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>, is_ack: bool) -> Disposition {
        match self {
            Transaction::ServerInvite(t) => t.on_request(ctx, is_ack),
            Transaction::ServerNonInvite(t) => {
                if !is_ack {
                    t.on_request(ctx);
                }
                Disposition::Absorbed
            }
            Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_) => Disposition::Absorbed,
        }
    }

    /// A response from the TU.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: u16,
        response: &Message,
    ) -> Result<(), TransactionError> {
        match self {
            Transaction::ServerInvite(t) => t.send_response(ctx, code, response),
            Transaction::ServerNonInvite(t) => t.send_response(ctx, code, response),
            Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_) => {
                Err(TransactionError::NotAServerTransaction)
            }
        }
    }

    /// For RFC 2543 ACK matching: the To tag of the last response sent.
    pub(crate) fn response_to_tag(&self) -> Option<&str> {
        match self {
            Transaction::ServerInvite(t) => t.response_to_tag(),
            _ => None,
        }
    }
}

/// Queued outputs of the whole layer.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
}

/// What a machine needs to handle one input: the time, its own key (to name
/// itself in outputs), the timer values and the output queues.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) key: &'a TransactionKey,
    pub(crate) timers: &'a Timers,
    pub(crate) out: &'a mut Outbox,
}

impl Ctx<'_> {
    pub(crate) fn transmit(&mut self, destination: Flow, payload: Bytes) {
        self.out.transmits.push_back(Transmit {
            destination,
            payload,
            key: Some(self.key.clone()),
        });
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.out.events.push_back(event);
    }

    pub(crate) fn response_event(&mut self, message: Message) {
        let key = self.key.clone();
        self.event(Event::Response { key, message });
    }

    pub(crate) fn timeout_event(&mut self, timer: crate::Timer) {
        let key = self.key.clone();
        self.event(Event::Timeout { key, timer });
    }

    pub(crate) fn transport_error_event(&mut self) {
        let key = self.key.clone();
        self.event(Event::TransportError { key });
    }
}
