//! The port through which calls record their state in the replicated log.
//! The call crate defines it (ports belong to their consumer); the node
//! implements it over `cluster/raft`. Recording never blocks a call: the
//! implementation queues, in order per call, and proposes in the background.

use crate::b2bua::CallResult;
use crate::ids::{CallNumber, LegIndex};
use std::net::SocketAddr;

/// Everything a takeover needs to continue one leg's dialog and media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRecord {
    /// The leg.
    pub leg: LegIndex,
    /// Call-ID of the leg's dialog.
    pub sip_call_id: String,
    /// Baton's tag in it.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// The last CSeq Baton used.
    pub local_cseq: u32,
    /// The last CSeq the peer used.
    pub remote_cseq: u32,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// The peer's Contact.
    pub remote_target: String,
    /// Baton's Contact.
    pub local_contact: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// Where the peer's signalling comes from.
    pub remote_addr: SocketAddr,
    /// The SDP Baton sent on this leg.
    pub local_sdp: String,
    /// The SDP the peer sent.
    pub remote_sdp: String,
    /// The relay's RTP address for this leg.
    pub relay: Option<SocketAddr>,
}

/// Where calls write their life.
pub trait CallLog: Send + Sync + std::fmt::Debug + 'static {
    /// A call was accepted and is being set up.
    fn call_created(&self, call: CallNumber, caller_aor: &str, callee_aor: &str);
    /// A leg's dialog is confirmed.
    fn leg_confirmed(&self, call: CallNumber, record: LegRecord);
    /// The call ended.
    fn call_ended(&self, call: CallNumber, result: CallResult);
    /// A handover of `call` was requested and passed its checks: `moving`
    /// is the leg that would move to the new device, `requested_by` the
    /// new device's Contact. `done(true)` once the command is committed
    /// (the request takes effect only then), `done(false)` if it never will
    /// be.
    fn handover_requested(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        moving: LegIndex,
        requested_by: &str,
        done: Committed,
    );
    /// The original device decided (or the window closed). Final once
    /// `done(true)` is called.
    fn handover_decided(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        decision: HandoverVerdict,
        decided_by: &str,
        done: Committed,
    );
    /// The new device's leg replaced the old one in the bridge (its ACK is
    /// in): `record` is the new leg's dialog and media.
    fn bridge_swapped(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        record: LegRecord,
        done: Committed,
    );
    /// A handover ended without a swap after it was requested: cancelled by
    /// the new device, the call ended while it waited, or the new leg
    /// failed before its ACK (rolled back). Frees the call for another pull.
    fn handover_abandoned(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        reason: HandoverAbandon,
        done: Committed,
    );
}

/// Called once with whether a command was committed to the log.
pub type Committed = Box<dyn FnOnce(bool) + Send + 'static>;

/// A handover attempt's number, unique on this node (from the clock, like
/// call numbers, so that it stays unique across restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandoverNumber(pub u64);

impl std::fmt::Display for HandoverNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "h{}", self.0)
    }
}

/// The decision on a handover, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverVerdict {
    /// Granted: the original device is hung up after the swap.
    Granted,
    /// Granted, and the original device keeps listening (monitor).
    GrantedMonitor,
    /// Denied by the original device.
    Denied,
    /// Nobody decided within the authorization window.
    TimedOut,
}

/// Why a requested handover ended without a swap (and without a decision
/// that ended it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverAbandon {
    /// The new device sent CANCEL.
    Cancelled,
    /// The call ended (the original device or the remote party hung up).
    CallEnded,
    /// The new device's leg failed before its ACK: the call stays with
    /// the original device.
    RolledBack,
}

/// A log that keeps nothing (tests of the call logic alone).
#[derive(Debug, Default)]
pub struct NoLog;

impl CallLog for NoLog {
    fn call_created(&self, _: CallNumber, _: &str, _: &str) {}
    fn leg_confirmed(&self, _: CallNumber, _: LegRecord) {}
    fn call_ended(&self, _: CallNumber, _: CallResult) {}
    fn handover_requested(
        &self,
        _: CallNumber,
        _: HandoverNumber,
        _: LegIndex,
        _: &str,
        done: Committed,
    ) {
        done(true);
    }
    fn handover_decided(
        &self,
        _: CallNumber,
        _: HandoverNumber,
        _: HandoverVerdict,
        _: &str,
        done: Committed,
    ) {
        done(true);
    }
    fn bridge_swapped(&self, _: CallNumber, _: HandoverNumber, _: LegRecord, done: Committed) {
        done(true);
    }
    fn handover_abandoned(
        &self,
        _: CallNumber,
        _: HandoverNumber,
        _: HandoverAbandon,
        done: Committed,
    ) {
        done(true);
    }
}
