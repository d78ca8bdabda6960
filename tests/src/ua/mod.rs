//! The project's own SIP test agent: scriptable phones that the end-to-end
//! tests use to play A, B and R against a real Baton node over real
//! loopback sockets.
//!
//! ```text
//!  test thread ── blocking calls (each with a deadline) ──┐
//!                                                         ▼
//!  Phone ─ Engine (one lock: transactions, dialogs, calls, log) ◀─ timer thread (10 ms)
//!               ▲ receive()                 │ transmit()
//!  reader threads (UDP socket, or TCP listener + connections)
//!
//!  RtpStream: one UDP port, a paced sender thread, a recording receiver
//! ```
//!
//! A [`Phone`] answers on its own what a phone answers without asking its
//! user (retransmissions, ACKs, digest challenges, CANCEL, BYE, re-INVITE,
//! INFO, unknown dialogs), so that one test thread can drive several phones
//! in turn without deadlock: while it blocks in `a_call.bye()`, B's threads
//! answer the BYE. What a user decides (ring, answer, reject, hang up, hold)
//! the test does with [`IncomingCall`], [`OutgoingCall`] and [`Call`].
//!
//! The protocol rules come from the project's own crates: `sip-message`
//! builds and parses, `sip-proto`'s [`Dialog`](sip_proto::dialog::Dialog)
//! builds in-dialog requests and ACKs, `sip-auth` computes digest answers.
//! SDP ([`Sdp`]) and RTP ([`RtpStream`]) are deliberately small and
//! independent of the production crates they help test.

mod call;
mod dialog_info;
mod engine;
pub mod g711;
mod log;
mod phone;
mod rtp;
mod sdp;
mod subscription;
mod wire;

pub use call::{Call, CallStatus, IncomingCall, OutgoingCall, ReinviteAnswer};
pub use dialog_info::{DialogEntry, DialogInfo};
pub use log::{ladder, Direction, LogEntry};
pub use phone::Phone;
pub use rtp::{dtmf_code, Payload, RtpPacket, RtpSend, RtpStream, SAMPLES_PER_PACKET};
pub use sdp::{Codec, MediaDirection, Sdp};
pub use subscription::Subscription;
pub use wire::Transport;

/// The Content-Type of Baton's handover INFOs, both ways: the server's
/// question to A and A's decision (`{"handover":"<id>","decision":…}`).
pub const HANDOVER_CONTENT_TYPE: &str = "application/vnd.baton.handover+json";

/// The Content-Type of RFC 4235 dialog-info NOTIFY bodies.
pub const DIALOG_INFO_CONTENT_TYPE: &str = "application/dialog-info+xml";

/// The value of a `Replaces` header (RFC 3891 §6.1) naming the dialog
/// `call_id` with `to_tag` and `from_tag` as the *recipient* of the INVITE
/// sees them: to pull A's call through S, `to_tag` is S's tag and
/// `from_tag` is A's. `early_only` adds the `early-only` flag (§6.1: only
/// replace a dialog that is still early). Gives
/// `call-id;to-tag=T;from-tag=F[;early-only]`.
pub fn replaces_value(call_id: &str, to_tag: &str, from_tag: &str, early_only: bool) -> String {
    let flag = if early_only { ";early-only" } else { "" };
    format!("{call_id};to-tag={to_tag};from-tag={from_tag}{flag}")
}

/// Why a blocking call of the agent did not get what it waited for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UaError {
    /// Nothing came within the deadline.
    #[error("phone {phone}: timed out waiting for {waiting_for}")]
    Timeout {
        /// The phone's name.
        phone: String,
        /// What it waited for.
        waiting_for: &'static str,
    },
    /// The INVITE got this failure status.
    #[error("the call failed with {0}")]
    Failed(u16),
    /// The INVITE was already answered with this final status.
    #[error("the INVITE was already answered with {0}")]
    AlreadyFinal(u16),
    /// The call has no dialog (not established).
    #[error("the call has no dialog yet")]
    NoDialog,
    /// The call has no local SDP to modify (hold, resume).
    #[error("the call has no local SDP")]
    NoSdp,
    /// The dialog refused to build the request.
    #[error(transparent)]
    Dialog(#[from] sip_proto::dialog::DialogError),
    /// A domain or target that is not a SIP URI.
    #[error("{0:?} is not a SIP URI")]
    BadUri(String),
    /// `send_dtmf` with no sender running.
    #[error("the RTP stream is not sending")]
    NotSending,
    /// Not one of `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF digit")]
    BadDigit(char),
}
