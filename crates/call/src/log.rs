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
}

/// A log that keeps nothing (tests of the call logic alone).
#[derive(Debug, Default)]
pub struct NoLog;

impl CallLog for NoLog {
    fn call_created(&self, _: CallNumber, _: &str, _: &str) {}
    fn leg_confirmed(&self, _: CallNumber, _: LegRecord) {}
    fn call_ended(&self, _: CallNumber, _: CallResult) {}
}
