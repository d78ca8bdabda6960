//! Baton's media relay: every call's RTP and RTCP is anchored here, so that
//! a call can move from one of a user's devices to another mid-call while
//! the remote party hears one continuous stream.
//!
//! ```text
//!   control side (a call's MediaBridge actor)          never on the packet path
//!     open_leg / set_remote / connect / repoint / close / stats
//!        │ route swaps (arc-swap), queued commands
//!  ┌─────▼──────────────────────────────────────────────────────────────────┐
//!  │ io: Relay ── N worker threads, each an edge-triggered epoll (mio) over  │
//!  │     its legs' sockets: recvmmsg (nix) → LegState → Route →              │
//!  │     StreamRewriter of the receiving leg → sendto from that leg's socket │
//!  └─────▲──────────────────────────────────────────────────────────────────┘
//!        │ pure, `now: Instant` passed in, no sockets:
//!     PortPool · LegState (Latch, RtpHeader, RTCP checks, SequenceTracker,
//!     counters) · StreamRewriter
//! ```
//!
//! A leg is one side of a call at Baton (S↔A, S↔R): an even RTP port and
//! the odd RTCP port above it. Packets arriving on a bridged leg leave from
//! its partner's sockets to the partner's remote.
//!
//! # Run loop
//!
//! ```no_run
//! # use baton_media_relay as media_relay;
//! # fn run() -> Result<(), media_relay::RelayError> {
//! use media_relay::{Relay, RelayConfig};
//!
//! let config = RelayConfig::new("127.0.0.1".parse().expect("ip"), "20000-29999".parse().expect("range"));
//! let relay = Relay::start(config)?;
//! // Caller A sent an offer with its address; the callee R's is not known yet.
//! let a = relay.open_leg(Some("192.0.2.10:4000".parse().expect("addr")), false)?;
//! let r = relay.open_leg(None, false)?; // offer R our `r.local_rtp()`
//! let bridge = relay.connect(&a, &r)?;
//! // R answers: now packets from A have somewhere to go before R speaks.
//! r.set_remote(Some("198.51.100.20:5000".parse().expect("addr")));
//! // Handover: A's user picks the call up on device B.
//! let b = relay.open_leg(Some("192.0.2.30:4100".parse().expect("addr")), false)?;
//! bridge.repoint(&a, &b)?;
//! a.close(); // ports go back to the pool
//! # let _ = (b, r); Ok(()) }
//! ```
//!
//! # Latching
//!
//! The SDP address may be absent (the answer has not come) or wrong (NAT).
//! A leg latches onto the source of the first valid packet and accepts only
//! it afterwards (symmetric RTP, RFC 4961); a packet from exactly the SDP
//! address takes the latch back. In strict mode only the SDP host is
//! accepted, on any port. Packets are sent to the latched source, else to
//! the SDP address; with neither, they are dropped as `no_destination`.
//!
//! # Re-pointing
//!
//! [`BridgeHandle::repoint`] swaps the routes; it never touches a worker.
//! The leg toward R rewrites SSRC, sequence numbers and timestamps so that
//! the new device's packets continue the old stream (see
//! [`StreamRewriter`]).
//!
//! # Handover extras
//!
//! Off by default and free when off (one atomic load per packet): a
//! [key watch](LegHandle::watch_keys) takes RFC 4733 key presses out of a
//! leg's stream and reports them (the current device authorising a move);
//! a [prompt](LegHandle::play_prompt) mixes a tone into the G.711 sent to
//! a leg; a [monitor](Relay::monitor) lets a leg that left a bridge hear
//! both its ends mixed; [`BridgeHandle::last_splice`] reports the gap the
//! remote heard at the latest re-point. The audio work is G.711 only
//! ([`Law`]).
//!
//! # Threads, not tasks; what is batched
//!
//! Forwarding runs on dedicated threads, one poller each, chosen over tokio
//! tasks: a relayed packet is two syscalls of kernel work and a few hundred
//! nanoseconds of ours, so a scheduler hop per packet (tokio wakes a task
//! per readiness event and needs a failing `recv` to clear readiness) would
//! be a visible share of the cost, and nothing here is async. Receives use
//! `recvmmsg`, which both empties a socket and proves it empty in one call;
//! sends are one `sendto` per packet, because each packet must leave from
//! its own leg's socket and `sendmmsg` cannot span sockets. Metrics are
//! summed per wakeup, not per packet.
//!
//! Measured (`cargo bench -p baton-benches --bench relay`, figures in its
//! header): about 4 µs of worker CPU per relayed packet on a 2-core VM, 92 %
//! of it in the kernel's UDP path; a tokio-task forwarder doing less work
//! cost 5.3-5.9 µs under the same load.
#![deny(missing_docs)]

mod config;
mod dtmf;
mod egress;
mod error;
mod g711;
mod id;
mod io;
mod latch;
mod leg_state;
mod metrics;
mod mixer;
mod port_pool;
mod port_range;
mod prompt;
mod rewriter;
mod rtcp;
mod rtp;
mod sequence;
mod stats;

pub use config::RelayConfig;
pub use dtmf::KeySink;
pub use error::{PortRangeError, RelayError};
pub use g711::Law;
pub use id::{LegId, Ssrc};
pub use io::{BridgeHandle, LegHandle, Relay};
pub use latch::{Admission, Latch};
pub use leg_state::{LegState, Port, Verdict};
pub use metrics::describe_metrics;
pub use port_pool::PortPool;
pub use port_range::{PortPair, PortRange};
pub use rewriter::{Prepared, RtcpRewrite, Splice, StreamRewriter};
pub use rtcp::{is_valid_compound, rewrite_sender};
pub use rtp::{is_rtcp_mux, RtpHeader};
pub use sequence::SequenceTracker;
pub use stats::{DirectionStats, DropCounts, DropReason, LegStats, LossStats};
