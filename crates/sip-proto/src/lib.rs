//! The SIP transaction layer of Baton, sans-IO: RFC 3261 §17 with the
//! RFC 6026 corrections (the Accepted states and Timers L and M).
//!
//! This crate has no sockets, no clock and no tasks. Time comes in as an
//! [`std::time::Instant`] argument, bytes go out as [`Transmit`]s, and what
//! the transaction user (TU: the dialog and call logic above) must know
//! comes out as [`Event`]s. The same inputs always give the same outputs,
//! so the state machines are tested on a virtual clock over a simulated
//! lossy link (see `src/tests/`), and no test sleeps.
//!
//! # Layering
//!
//! ```text
//!  TU (dialogs, B2BUA)   send_request / send_response / send_stateless
//!        ▲ Event                        │
//!  ┌─────┴──────────────────────────────▼─────────────────────────────┐
//!  │ TransactionLayer: matching (§17.1.3, §17.2.3, RFC 2543), timers  │
//!  │   ClientInviteTransaction   ClientNonInviteTransaction            │
//!  │   ServerInviteTransaction   ServerNonInviteTransaction            │
//!  └─────▲──────────────────────────────┬─────────────────────────────┘
//!        │ handle_request/response      │ Transmit
//!  transport (sip-transport: sockets, framing, Message::parse)
//! ```
//!
//! # The run loop
//!
//! One rule, as in quinn-proto and str0m: **after every input, drain every
//! output, then sleep until the next deadline.**
//!
//! 1. Feed one input: a parsed message from the network
//!    ([`TransactionLayer::handle_request`] /
//!    [`TransactionLayer::handle_response`]), an action of the TU
//!    ([`TransactionLayer::send_request`] /
//!    [`TransactionLayer::send_response`]), a transport failure, or the
//!    deadline being reached ([`TransactionLayer::handle_timeout`]).
//! 2. Drain [`TransactionLayer::poll_transmit`] into the transport, and
//!    [`TransactionLayer::poll_event`] into the TU, until both return `None`.
//! 3. Arm one timer at [`TransactionLayer::poll_timeout`]; when it fires,
//!    call `handle_timeout(now)` and go to 2.
//!
//! ```
//! use baton_sip_proto::{Config, Event, TransactionLayer};
//! use std::time::Instant;
//!
//! let mut layer = TransactionLayer::new(Config::default());
//! let now = Instant::now(); // the driver's clock, read once per input
//! layer.handle_timeout(now);
//! while let Some(t) = layer.poll_transmit() {
//!     // socket.send_to(&t.payload, t.destination.remote)
//!     let _ = t;
//! }
//! while let Some(event) = layer.poll_event() {
//!     match event {
//!         Event::Request { key, message, .. } => { /* answer with send_response(now, &key, …) */ }
//!         Event::Response { .. } | Event::Timeout { .. } => {}
//!         Event::TransportError { .. } | Event::Terminated { .. } => {}
//!     }
//! }
//! let _sleep_until = layer.poll_timeout();
//! ```
//!
//! # What belongs to the TU
//!
//! The 2xx to an INVITE and its ACK are end to end (RFC 3261 §13.2.2.4,
//! §13.3.1.4): the TU retransmits its 2xx with a [`TwoXxRetransmitter`]
//! and sends the ACK to a 2xx with [`TransactionLayer::send_stateless`].
//! The ACK to a non-2xx final is generated inside the INVITE client
//! transaction. A CANCEL is a non-INVITE transaction of its own; on the
//! server side [`TransactionLayer::find_invite_for_cancel`] finds the
//! INVITE it targets.
#![deny(missing_docs)]

mod branch;
mod client_invite;
mod client_non_invite;
mod config;
pub mod dialog;
mod error;
mod event;
mod flow;
mod key;
mod layer;
mod outcome;
mod server_invite;
mod server_non_invite;
mod timers;
mod transaction;
mod transmit;
mod two_xx;

#[cfg(test)]
mod tests;

pub use branch::{Branch, BranchGenerator, MAGIC_COOKIE};
pub use client_invite::{ClientInviteState, ClientInviteTransaction};
pub use client_non_invite::{ClientNonInviteState, ClientNonInviteTransaction};
pub use config::Config;
pub use error::TransactionError;
pub use event::Event;
pub use flow::{ConnectionId, Flow, TransportKind};
pub use key::{Role, TransactionKey};
pub use layer::TransactionLayer;
pub use outcome::{RequestOutcome, ResponseOutcome};
pub use server_invite::{ServerInviteState, ServerInviteTransaction};
pub use server_non_invite::{ServerNonInviteState, ServerNonInviteTransaction};
pub use timers::{Timer, Timers, TRYING_DELAY};
pub use transaction::{Transaction, TransactionState};
pub use transmit::Transmit;
pub use two_xx::{TwoXxEvent, TwoXxRetransmitter};
