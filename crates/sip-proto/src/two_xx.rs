use crate::timers::{due, earliest};
use crate::{Flow, Timers, Transmit};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// What a [`TwoXxRetransmitter`] reports to the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoXxEvent {
    /// 64·T1 passed without an ACK (RFC 3261 §13.3.1.4): the dialog is
    /// confirmed but the session SHOULD be ended with a BYE.
    NoAck,
}

/// Retransmits a 2xx to an INVITE until its ACK arrives (RFC 3261
/// §13.3.1.4). Sans-IO, driven like the layer: `handle_timeout`, then
/// `poll_transmit` / `poll_event`, and sleep until `poll_timeout`.
///
/// Since RFC 6026 the INVITE server transaction does not retransmit a 2xx:
/// the UAS core (the TU) does, because the ACK for a 2xx is end to end and
/// belongs to the dialog. The TU creates one of these after sending the 2xx
/// with [`crate::TransactionLayer::send_response`] (which sent the first
/// copy), and calls [`TwoXxRetransmitter::ack_received`] when the dialog
/// sees the ACK (a [`crate::RequestOutcome::StrayAck`]).
///
/// Unlike transaction retransmissions, these run over reliable transports
/// too: §13.3.1.4 makes no exception, as a downstream hop may be UDP.
#[derive(Debug, Clone)]
pub struct TwoXxRetransmitter {
    payload: Bytes,
    destination: Flow,
    t2: Duration,
    interval: Duration,
    next: Option<Instant>,
    give_up: Option<Instant>,
    pending: usize,
    event: Option<TwoXxEvent>,
}

impl TwoXxRetransmitter {
    /// Starts after the first copy of the 2xx was sent at `now`: the first
    /// retransmission comes T1 later, then the interval doubles up to T2;
    /// the TU is told [`TwoXxEvent::NoAck`] after 64·T1.
    pub fn new(now: Instant, payload: Bytes, destination: Flow, timers: &Timers) -> Self {
        let timers = timers.sanitized();
        TwoXxRetransmitter {
            payload,
            destination,
            t2: timers.t2,
            interval: timers.t1,
            next: Some(now + timers.t1),
            give_up: Some(now + timers.t1x64()),
            pending: 0,
            event: None,
        }
    }

    /// The ACK arrived: stop retransmitting. Nothing more is emitted.
    pub fn ack_received(&mut self) {
        self.next = None;
        self.give_up = None;
        self.pending = 0;
    }

    /// True while retransmissions continue (no ACK, no give-up yet).
    pub fn is_active(&self) -> bool {
        self.give_up.is_some()
    }

    /// The 2xx being retransmitted.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Fires due timers. Call at or after [`TwoXxRetransmitter::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if due(self.give_up, now) {
            self.next = None;
            self.give_up = None;
            self.event = Some(TwoXxEvent::NoAck);
            return;
        }
        if due(self.next, now) {
            self.pending += 1;
            self.interval = self.interval.saturating_mul(2).min(self.t2);
            self.next = Some(now + self.interval);
        }
    }

    /// The next retransmission to hand to the transport.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.pending == 0 {
            return None;
        }
        self.pending -= 1;
        Some(Transmit {
            destination: self.destination,
            payload: self.payload.clone(),
            key: None,
        })
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TwoXxEvent> {
        self.event.take()
    }

    /// When to call [`TwoXxRetransmitter::handle_timeout`] next; `None`
    /// once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest([self.next, self.give_up])
    }
}
