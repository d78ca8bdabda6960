//! SIP transport for Baton: sockets in, [`sip_message::Message`]s out, and
//! bytes back out.
//!
//! This crate sits below the transaction layer (`sip-proto`) and above the
//! OS sockets, like pjsip's transport layer under its transaction module:
//!
//! ```text
//!   transaction layer ── send(&Target, Bytes) ──┐     ▲ TransportEvent (bounded mpsc)
//!  ┌────────────────────────────────────────────┼─────┼──────────────────────────────┐
//!  │ sip-transport                              ▼     │                              │
//!  │   UDP: one receive loop per listener: frame + parse, stamp Via, try_send event  │
//!  │   TCP: accept loop; per connection a reader (StreamFramer, timeouts, CRLF pong) │
//!  │        and a writer fed by a bounded queue; a table for connection reuse        │
//!  └─────────────────────────────────────────────────────────────────────────────────┘
//!                                   tokio UdpSocket / TcpStream
//! ```
//!
//! It turns bytes into messages and messages into bytes, and knows SIP in
//! exactly two places:
//!
//! - on receipt of a request, it stamps `received` and `rport` on the top
//!   Via (RFC 3261 §18.2.1, RFC 3581 §4; [`stamp_via`]);
//! - it tells a server where a response goes (RFC 3261 §18.2.2;
//!   [`response_target()`]).
//!
//! Everything else (matching responses to transactions, retransmissions,
//! answering a malformed request with `400`) belongs to the layers above.
//! Domain names are not resolved yet: RFC 3263 resolution is a later piece,
//! and until then [`Target`]s carry socket addresses only.
//!
//! # Run loop
//!
//! ```no_run
//! # use baton_sip_transport as sip_transport;
//! # async fn run() -> Result<(), sip_transport::TransportError> {
//! use sip_transport::{response_target, Transport, TransportConfig, TransportEvent};
//!
//! let config = TransportConfig::new(vec!["udp:0.0.0.0:5060".parse().expect("spec")]);
//! let (handle, mut events) = Transport::start(config).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         TransportEvent::Message { message, flow } => {
//!             // Hand to the transaction layer. A server transaction answers
//!             // through `response_target(&top_via, &flow, force_rport)`.
//!             let _ = (message, flow);
//!         }
//!         TransportEvent::Malformed { .. } => { /* maybe a stateless 400 */ }
//!         TransportEvent::ConnectionClosed { .. } => { /* forget the flow */ }
//!     }
//! }
//! # let _ = (handle, response_target);
//! # Ok(()) }
//! ```
//!
//! # Bounds
//!
//! Every resource a peer can make us hold is capped: message sizes by
//! [`sip_message::Limits`] on both transports, the event channel by
//! [`TransportConfig::event_queue`] (full: UDP drops and counts, TCP pushes
//! back), connections by [`TransportConfig::max_tcp_connections`], a partial
//! message by [`TransportConfig::tcp_body_timeout`], a silent connection by
//! [`TransportConfig::tcp_idle_timeout`], a peer that stops reading by a
//! per-connection write queue and [`TransportConfig::tcp_write_timeout`].
//!
//! # TLS
//!
//! Not yet. The connection tasks take any `AsyncRead`/`AsyncWrite` halves;
//! TLS adds a [`TransportKind`] variant, wraps the accepted or connected
//! `TcpStream`, and reuses the stream path unchanged.
#![deny(missing_docs)]

mod config;
mod error;
mod event;
mod flow;
mod kind;
mod lifecycle;
mod listen_spec;
mod response_target;
mod shared;
mod stats;
mod target;
mod tcp;
mod transport;
mod udp;
mod via_stamp;

pub use config::TransportConfig;
pub use error::{ListenSpecError, RefusedReason, TransportError};
pub use event::{CloseReason, TransportEvent};
pub use flow::{ConnectionId, Flow};
pub use kind::TransportKind;
pub use listen_spec::ListenSpec;
pub use response_target::response_target;
pub use stats::{describe_metrics, TransportStats};
pub use target::Target;
pub use transport::{Transport, TransportHandle};
pub use via_stamp::stamp_via;
