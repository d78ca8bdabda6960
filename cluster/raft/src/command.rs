//! What goes into the replicated log: one [`Command`] per change to a call,
//! gathered into [`Proposal`]s, one per log entry.
//!
//! Commands carry plain strings and numbers only. The SIP layer above turns
//! its dialogs and SDP into these records; this crate never parses SIP, so it
//! imports no SIP crate and a schema change here never drags the parser in.
//!
//! # Versioning
//!
//! Commands are stored with rkyv behind a frame whose header carries a format
//! version; [`crate::codec::FORMAT_VERSION`] says how the schema evolves.

use crate::id::{CallId, HandoverId, NodeId};

/// One change to the call table. Applied by [`crate::CallTable::apply`] in log
/// order on every node, so every field that influences the result (times
/// included) is in the command itself: the table never reads a clock.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub enum Command {
    /// A new call was accepted (initial INVITE authorised and routed). The
    /// node that proposes it anchors the call: it holds the media relay port
    /// and the signalling for both legs.
    CallCreated {
        /// The new call.
        call: CallId,
        /// The node that anchors the call.
        anchor: NodeId,
        /// When the call was accepted, milliseconds since the Unix epoch.
        created_at_ms: u64,
        /// The caller's address of record (`sip:alice@example.com`).
        caller_aor: String,
        /// The callee's address of record.
        callee_aor: String,
    },
    /// A leg's dialog was established (2xx sent or received, RFC 3261 §12.1)
    /// and its media negotiated: enough to keep the leg alive from another
    /// node.
    LegConfirmed {
        /// The call.
        call: CallId,
        /// Which leg.
        leg: LegRole,
        /// The dialog state of the leg.
        dialog: DialogRecord,
        /// The media state of the leg.
        media: MediaRecord,
    },
    /// An in-dialog transaction moved a leg's CSeq or renegotiated its SDP
    /// (re-INVITE, UPDATE, hold).
    LegUpdated {
        /// The call.
        call: CallId,
        /// Which leg.
        leg: LegRole,
        /// What changed; `None` fields keep their value.
        update: LegUpdate,
    },
    /// The call is over (BYE, CANCEL, failure). Ended calls stay in the
    /// table as tombstones, so that a retried command cannot resurrect them,
    /// until [`Command::EndedCallsPurged`] drops them.
    CallEnded {
        /// The call.
        call: CallId,
        /// Why it ended.
        reason: EndReason,
        /// When it ended, milliseconds since the Unix epoch.
        ended_at_ms: u64,
    },
    /// Another node took over anchoring the call (its anchor died or is
    /// draining); the table records who and when.
    CallAdopted {
        /// The call.
        call: CallId,
        /// The node that now anchors it.
        by: NodeId,
        /// When, milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// A user asked to move one leg of the call to another device (the
    /// handover feature code). At most one handover is pending per call.
    HandoverRequested {
        /// The call.
        call: CallId,
        /// This attempt.
        handover: HandoverId,
        /// The leg that would move to the new device.
        leg: LegRole,
        /// Who asked: the new device's contact or AOR.
        requested_by: String,
        /// The node that received the request.
        node: NodeId,
        /// When, milliseconds since the Unix epoch.
        requested_at_ms: u64,
    },
    /// The original device answered the handover request (or did not, in
    /// time). A decision is final.
    HandoverDecided {
        /// The call.
        call: CallId,
        /// The attempt being decided.
        handover: HandoverId,
        /// The answer.
        decision: HandoverDecision,
        /// Who decided: the original device's contact, or the node for a
        /// timeout.
        decided_by: String,
        /// When, milliseconds since the Unix epoch.
        decided_at_ms: u64,
    },
    /// The bridge now carries the new device's leg in place of the old one
    /// (only after an approval). The new leg's dialog and media replace the
    /// old leg's.
    BridgeSwapped {
        /// The call.
        call: CallId,
        /// The approved attempt.
        handover: HandoverId,
        /// The new device's dialog.
        dialog: DialogRecord,
        /// The new device's media.
        media: MediaRecord,
        /// When, milliseconds since the Unix epoch.
        swapped_at_ms: u64,
    },
    /// Forget ended calls whose end is older than `ended_before_ms`. The
    /// leader proposes it from time to time so that tombstones do not grow
    /// without bound.
    EndedCallsPurged {
        /// Tombstones with `ended_at_ms < ended_before_ms` are dropped.
        ended_before_ms: u64,
    },
    /// A requested handover ended without a swap and without a decision
    /// that ended it: the new device cancelled, the call ended while it
    /// waited, or the new leg failed after an approval (rolled back). The
    /// call is free for another handover. (Appended last: the archived
    /// layout of the variants above is unchanged.)
    HandoverAbandoned {
        /// The call.
        call: CallId,
        /// The attempt that ends.
        handover: HandoverId,
        /// Why it ends.
        reason: AbandonReason,
        /// When, milliseconds since the Unix epoch.
        at_ms: u64,
    },
}

impl Command {
    /// The call this command is about, if it is about one.
    pub fn call(&self) -> Option<CallId> {
        match self {
            Command::CallCreated { call, .. }
            | Command::LegConfirmed { call, .. }
            | Command::LegUpdated { call, .. }
            | Command::CallEnded { call, .. }
            | Command::CallAdopted { call, .. }
            | Command::HandoverRequested { call, .. }
            | Command::HandoverDecided { call, .. }
            | Command::BridgeSwapped { call, .. }
            | Command::HandoverAbandoned { call, .. } => Some(*call),
            Command::EndedCallsPurged { .. } => None,
        }
    }
}

/// The payload of one Raft log entry: a batch of [`Command`]s, applied in
/// order, all in one go (one fsync, one commit, one pass under the table's
/// write lock).
///
/// Batching is what makes the log fast: openraft 0.9 waits for each leader
/// append's fsync before it takes the next client write, so a node commits
/// a few hundred entries per second whatever they hold. Many commands per
/// entry turn that into many thousands of commands per second. Each command
/// still gets its own [`crate::ApplyResult`], in the same order, so a
/// refused command never affects its neighbours.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct Proposal {
    /// The commands, in the order they are applied.
    pub commands: Vec<Command>,
}

impl Proposal {
    /// A proposal of `commands`, applied in that order.
    pub fn new(commands: Vec<Command>) -> Self {
        Proposal { commands }
    }
}

impl From<Command> for Proposal {
    fn from(command: Command) -> Self {
        Proposal {
            commands: vec![command],
        }
    }
}

impl From<Vec<Command>> for Proposal {
    fn from(commands: Vec<Command>) -> Self {
        Proposal { commands }
    }
}

/// The two legs of a B2BUA call.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum LegRole {
    /// The leg towards the party that sent the initial INVITE (Baton is its
    /// UAS).
    Caller,
    /// The leg towards the called party (Baton is its UAC).
    Callee,
}

/// A leg's dialog state (RFC 3261 §12): what a node needs to send in-dialog
/// requests on the leg and to recognise the ones it receives.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct DialogRecord {
    /// The Call-ID header value of the leg's dialog.
    pub sip_call_id: String,
    /// Baton's tag on this leg.
    pub local_tag: String,
    /// The peer's tag on this leg.
    pub remote_tag: String,
    /// The last CSeq number Baton sent on the leg.
    pub local_cseq: u32,
    /// The last CSeq number Baton received on the leg.
    pub remote_cseq: u32,
    /// The route set, in the order requests must follow it.
    pub route_set: Vec<String>,
    /// The peer's Contact URI (the remote target).
    pub remote_target: String,
    /// Baton's Contact URI on this leg.
    pub local_contact: String,
    /// The transport the leg uses (`udp`, `tcp`, …).
    pub transport: String,
    /// The peer's signalling address (`203.0.113.7:5060`).
    pub remote_addr: String,
}

/// A leg's media state: the negotiated SDP and the relay port that anchors
/// it.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct MediaRecord {
    /// The SDP Baton sent on this leg.
    pub local_sdp: String,
    /// The SDP the peer sent on this leg.
    pub remote_sdp: String,
    /// The relay's RTP port for this leg.
    pub relay_rtp_port: u16,
    /// The relay's address for this leg.
    pub relay_addr: String,
    /// Where the peer's RTP comes from, once latched (`ip:port`).
    pub remote_rtp: Option<String>,
    /// The negotiated codec (`PCMU/8000`).
    pub codec: String,
}

/// The changes of one [`Command::LegUpdated`]; `None` keeps the current
/// value.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct LegUpdate {
    /// The new local CSeq (never below the current one).
    pub local_cseq: Option<u32>,
    /// The new remote CSeq (never below the current one).
    pub remote_cseq: Option<u32>,
    /// The new local SDP.
    pub local_sdp: Option<String>,
    /// The new remote SDP.
    pub remote_sdp: Option<String>,
    /// The newly latched remote RTP address.
    pub remote_rtp: Option<String>,
    /// The newly negotiated codec.
    pub codec: Option<String>,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum EndReason {
    /// One side sent BYE.
    Hangup {
        /// The leg that hung up.
        by: LegRole,
    },
    /// The caller cancelled before an answer.
    Cancelled,
    /// The callee (or a proxy) refused with a final non-2xx status.
    Declined {
        /// The SIP status code.
        status: u16,
    },
    /// No answer, or a leg stopped responding (timer B/F, session timer).
    Timeout,
    /// The media relay could not carry the call.
    MediaFailure,
    /// The anchoring node was lost and no node adopted the call.
    AnchorLost,
    /// The node was shut down with the call up.
    Shutdown,
}

/// The original device's answer to a handover request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum HandoverDecision {
    /// The leg may move.
    Approved {
        /// The original device keeps receiving the call's audio after the
        /// swap (`handover.monitor_allowed`).
        keep_listening: bool,
    },
    /// The original device refused.
    Denied,
    /// Nobody answered within `handover.authorization_timeout`.
    TimedOut,
}

/// Why a requested handover ended without a swap
/// ([`Command::HandoverAbandoned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum AbandonReason {
    /// The new device cancelled its request (CANCEL).
    Cancelled,
    /// The call ended (either party hung up) while the handover waited.
    CallEnded,
    /// The new device's leg failed before the swap (no ACK, error): the
    /// call stays with the original device.
    RolledBack,
}
