//! The replicated state: [`CallTable`], a pure state machine over
//! [`Command`]s.
//!
//! It has no I/O, no clock and no randomness: the same commands in the same
//! order give the same table on every node, which is what Raft needs from a
//! state machine. Every command gets a typed answer ([`ApplyResult`]);
//! nothing panics on bad input, because a command that was valid when
//! proposed can be stale by the time it is applied (two nodes raced), and a
//! state machine that panics on a committed entry would panic again on every
//! restart.
//!
//! # Idempotence
//!
//! A client may retry a proposal whose answer it lost, so the log can hold
//! the same command twice. The rule is: **a command that would leave the
//! table exactly as it is answers [`Outcome::Unchanged`]**; a command that
//! conflicts with what the table already holds answers a [`Rejection`] and
//! changes nothing.

use std::collections::BTreeMap;

use crate::command::{
    AbandonReason, Command, DialogRecord, EndReason, HandoverDecision, LegRole, LegUpdate,
    MediaRecord,
};
use crate::id::{CallId, HandoverId, NodeId};

/// What applying one command did. A rejected command is still in the log:
/// its rejection is a replicated fact, not a failure to propose.
pub type ApplyResult = Result<Outcome, Rejection>;

/// The calls this cluster knows, keyed by [`CallId`].
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct CallTable {
    // A BTreeMap, not a HashMap: iteration order (and so snapshots and query
    // results) must be the same on every node.
    calls: BTreeMap<CallId, CallRecord>,
}

/// Everything the cluster knows about one call.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct CallRecord {
    /// The call.
    pub call: CallId,
    /// The node that anchors the call now.
    pub anchor: NodeId,
    /// When the call was accepted, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// The caller's address of record.
    pub caller_aor: String,
    /// The callee's address of record.
    pub callee_aor: String,
    /// The caller leg, once confirmed.
    pub caller: Option<Leg>,
    /// The callee leg, once confirmed.
    pub callee: Option<Leg>,
    /// Original devices that keep listening after a handover, oldest first.
    pub listeners: Vec<Leg>,
    /// The handover in progress, if any (requested, or approved and not yet
    /// swapped). Cleared when the attempt finishes, so that another may
    /// follow.
    pub pending_handover: Option<HandoverRecord>,
    /// Finished handovers (denied, timed out, swapped or abandoned), oldest
    /// first: the audit trail, the last [`AUDIT_TRAIL`] of them.
    pub handovers: Vec<HandoverRecord>,
    /// Earlier anchors, oldest first: who anchored the call before each
    /// adoption, and when it moved.
    pub anchor_history: Vec<AnchorChange>,
    /// Set once the call has ended.
    pub ended: Option<Ending>,
}

/// How many finished handovers a call keeps in its audit trail. Each pull
/// attempt adds one (about a kilobyte), and a call may last for days: the
/// oldest are dropped so that a call's record stays bounded whatever its
/// devices do (pulls are also rate-limited per call and per user).
pub const AUDIT_TRAIL: usize = 32;

impl CallRecord {
    /// Moves a finished attempt into the audit trail, dropping the oldest
    /// beyond [`AUDIT_TRAIL`]. Deterministic: every replica drops the same.
    fn finish_handover(&mut self, done: HandoverRecord) {
        self.handovers.push(done);
        if self.handovers.len() > AUDIT_TRAIL {
            let excess = self.handovers.len() - AUDIT_TRAIL;
            self.handovers.drain(..excess);
        }
    }

    /// Whether the call is still up.
    pub fn is_active(&self) -> bool {
        self.ended.is_none()
    }

    /// The given leg, if confirmed.
    pub fn leg(&self, role: LegRole) -> Option<&Leg> {
        match role {
            LegRole::Caller => self.caller.as_ref(),
            LegRole::Callee => self.callee.as_ref(),
        }
    }

    fn leg_mut(&mut self, role: LegRole) -> &mut Option<Leg> {
        match role {
            LegRole::Caller => &mut self.caller,
            LegRole::Callee => &mut self.callee,
        }
    }
}

/// One confirmed leg: its dialog and its media.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Leg {
    /// The leg's dialog state.
    pub dialog: DialogRecord,
    /// The leg's media state.
    pub media: MediaRecord,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Ending {
    /// Why.
    pub reason: EndReason,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// One move of a call's anchor to another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct AnchorChange {
    /// The node that anchored the call before.
    pub from: NodeId,
    /// The node that adopted it.
    pub to: NodeId,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// One handover attempt, with who did what and when.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct HandoverRecord {
    /// The attempt.
    pub id: HandoverId,
    /// The leg that moves.
    pub leg: LegRole,
    /// Who asked (the new device).
    pub requested_by: String,
    /// The node that received the request.
    pub node: NodeId,
    /// When it was asked, milliseconds since the Unix epoch.
    pub requested_at_ms: u64,
    /// The answer, once given.
    pub decided: Option<Decided>,
    /// When the bridge swapped, if it did.
    pub swapped_at_ms: Option<u64>,
    /// Why and when the attempt ended without a swap, if it was abandoned
    /// ([`Command::HandoverAbandoned`]).
    pub abandoned: Option<Abandoned>,
}

/// How a handover attempt was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Abandoned {
    /// Why.
    pub reason: AbandonReason,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// The answer to a handover request.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Decided {
    /// The decision.
    pub decision: HandoverDecision,
    /// Who decided.
    pub decided_by: String,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// What a command changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call was added.
    Created,
    /// The leg was confirmed.
    LegConfirmed,
    /// The leg was updated.
    LegUpdated,
    /// The call ended.
    Ended,
    /// The call moved to another anchor.
    Adopted {
        /// The previous anchor.
        from: NodeId,
    },
    /// The handover is now pending.
    HandoverRequested,
    /// The handover was decided.
    HandoverDecided(HandoverDecision),
    /// The bridge swapped to the new device.
    BridgeSwapped,
    /// The handover ended without a swap.
    HandoverAbandoned(AbandonReason),
    /// This many tombstones were dropped.
    Purged {
        /// Calls removed.
        calls: u64,
    },
    /// Nothing changed: the command repeats what the table already holds (a
    /// retried proposal).
    Unchanged,
}

/// Why a command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No call with this id (never created, or purged).
    #[error("call {call} is not in the table")]
    UnknownCall {
        /// The call.
        call: CallId,
    },
    /// `CallCreated` for an id that exists with other contents.
    #[error("call {call} already exists with other contents")]
    CallExists {
        /// The call.
        call: CallId,
    },
    /// The call has ended; it accepts no further change.
    #[error("call {call} has ended")]
    CallEnded {
        /// The call.
        call: CallId,
    },
    /// `LegConfirmed` for a leg already confirmed with other contents.
    #[error("{leg:?} leg of call {call} is already confirmed with other contents")]
    LegAlreadyConfirmed {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegRole,
    },
    /// The leg must be confirmed first.
    #[error("{leg:?} leg of call {call} is not confirmed")]
    LegNotConfirmed {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegRole,
    },
    /// A CSeq would go backwards (RFC 3261 §12.2.1.1, §12.2.2).
    #[error("{side:?} CSeq of the {leg:?} leg of call {call} would go back from {current} to {proposed}")]
    CSeqRegression {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegRole,
        /// Which CSeq.
        side: CSeqSide,
        /// The value in the table.
        current: u32,
        /// The value proposed.
        proposed: u32,
    },
    /// Another handover is in progress.
    #[error("call {call} already has handover {pending} in progress")]
    HandoverPending {
        /// The call.
        call: CallId,
        /// The handover in progress.
        pending: HandoverId,
    },
    /// No such handover for this call.
    #[error("call {call} has no handover {handover}")]
    UnknownHandover {
        /// The call.
        call: CallId,
        /// The handover named.
        handover: HandoverId,
    },
    /// The handover id was already used by a finished attempt.
    #[error("handover {handover} of call {call} is finished")]
    HandoverFinished {
        /// The call.
        call: CallId,
        /// The handover.
        handover: HandoverId,
    },
    /// The handover already has a (different) decision; decisions are final.
    #[error("handover {handover} of call {call} is already decided")]
    HandoverAlreadyDecided {
        /// The call.
        call: CallId,
        /// The handover.
        handover: HandoverId,
        /// The decision that stands.
        decision: HandoverDecision,
    },
    /// The bridge may swap only after an approval.
    #[error("handover {handover} of call {call} is not approved")]
    HandoverNotApproved {
        /// The call.
        call: CallId,
        /// The handover.
        handover: HandoverId,
    },
}

/// Which of a leg's two CSeq counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CSeqSide {
    /// The CSeq Baton sends.
    Local,
    /// The CSeq Baton receives.
    Remote,
}

impl CallTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one command. Call it in log order; the result is the same on
    /// every node.
    pub fn apply(&mut self, command: &Command) -> ApplyResult {
        match command {
            Command::CallCreated {
                call,
                anchor,
                created_at_ms,
                caller_aor,
                callee_aor,
            } => self.create(*call, *anchor, *created_at_ms, caller_aor, callee_aor),
            Command::LegConfirmed {
                call,
                leg,
                dialog,
                media,
            } => self.confirm_leg(*call, *leg, dialog, media),
            Command::LegUpdated { call, leg, update } => self.update_leg(*call, *leg, update),
            Command::CallEnded {
                call,
                reason,
                ended_at_ms,
            } => self.end(*call, *reason, *ended_at_ms),
            Command::CallAdopted { call, by, at_ms } => self.adopt(*call, *by, *at_ms),
            Command::HandoverRequested {
                call,
                handover,
                leg,
                requested_by,
                node,
                requested_at_ms,
            } => self.request_handover(
                HandoverRecord {
                    id: *handover,
                    leg: *leg,
                    requested_by: requested_by.clone(),
                    node: *node,
                    requested_at_ms: *requested_at_ms,
                    decided: None,
                    swapped_at_ms: None,
                    abandoned: None,
                },
                *call,
            ),
            Command::HandoverDecided {
                call,
                handover,
                decision,
                decided_by,
                decided_at_ms,
            } => self.decide_handover(
                *call,
                *handover,
                Decided {
                    decision: *decision,
                    decided_by: decided_by.clone(),
                    at_ms: *decided_at_ms,
                },
            ),
            Command::BridgeSwapped {
                call,
                handover,
                dialog,
                media,
                swapped_at_ms,
            } => self.swap_bridge(*call, *handover, dialog, media, *swapped_at_ms),
            Command::EndedCallsPurged { ended_before_ms } => Ok(self.purge(*ended_before_ms)),
            Command::HandoverAbandoned {
                call,
                handover,
                reason,
                at_ms,
            } => self.abandon_handover(
                *call,
                *handover,
                Abandoned {
                    reason: *reason,
                    at_ms: *at_ms,
                },
            ),
        }
    }

    /// The call, active or ended (until purged).
    pub fn get(&self, call: CallId) -> Option<&CallRecord> {
        self.calls.get(&call)
    }

    /// Calls still up, in [`CallId`] order.
    pub fn active_calls(&self) -> impl Iterator<Item = &CallRecord> + '_ {
        self.calls.values().filter(|c| c.is_active())
    }

    /// Active calls anchored by `node`, in [`CallId`] order: what another
    /// node must adopt when `node` is lost. A scan: it runs on failover, not
    /// per packet.
    pub fn calls_owned_by(&self, node: NodeId) -> impl Iterator<Item = &CallRecord> + '_ {
        self.active_calls().filter(move |c| c.anchor == node)
    }

    /// Calls in the table, ended ones included.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether the table holds no call at all.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    fn create(
        &mut self,
        call: CallId,
        anchor: NodeId,
        created_at_ms: u64,
        caller_aor: &str,
        callee_aor: &str,
    ) -> ApplyResult {
        if let Some(existing) = self.calls.get(&call) {
            // A replay matches the creation fields (the anchor may have moved
            // since, so compare with the first anchor).
            let first_anchor = existing
                .anchor_history
                .first()
                .map_or(existing.anchor, |change| change.from);
            let same = first_anchor == anchor
                && existing.created_at_ms == created_at_ms
                && existing.caller_aor == caller_aor
                && existing.callee_aor == callee_aor;
            return if same {
                Ok(Outcome::Unchanged)
            } else {
                Err(Rejection::CallExists { call })
            };
        }
        self.calls.insert(
            call,
            CallRecord {
                call,
                anchor,
                created_at_ms,
                caller_aor: caller_aor.to_owned(),
                callee_aor: callee_aor.to_owned(),
                caller: None,
                callee: None,
                listeners: Vec::new(),
                pending_handover: None,
                handovers: Vec::new(),
                anchor_history: Vec::new(),
                ended: None,
            },
        );
        Ok(Outcome::Created)
    }

    fn confirm_leg(
        &mut self,
        call: CallId,
        leg: LegRole,
        dialog: &DialogRecord,
        media: &MediaRecord,
    ) -> ApplyResult {
        let record = self.record_mut(call)?;
        if let Some(existing) = record.leg(leg) {
            return if existing.dialog == *dialog && existing.media == *media {
                Ok(Outcome::Unchanged)
            } else {
                Err(Rejection::LegAlreadyConfirmed { call, leg })
            };
        }
        ensure_active(record)?;
        *record.leg_mut(leg) = Some(Leg {
            dialog: dialog.clone(),
            media: media.clone(),
        });
        Ok(Outcome::LegConfirmed)
    }

    fn update_leg(&mut self, call: CallId, role: LegRole, update: &LegUpdate) -> ApplyResult {
        let record = self.record_mut(call)?;
        let active = record.is_active();
        let Some(leg) = record.leg_mut(role).as_mut() else {
            return Err(if active {
                Rejection::LegNotConfirmed { call, leg: role }
            } else {
                Rejection::CallEnded { call }
            });
        };
        if leg_matches(leg, update) {
            return Ok(Outcome::Unchanged);
        }
        if !active {
            return Err(Rejection::CallEnded { call });
        }
        // Validate everything before changing anything: a rejection leaves
        // the leg untouched.
        check_cseq(
            call,
            role,
            CSeqSide::Local,
            leg.dialog.local_cseq,
            update.local_cseq,
        )?;
        check_cseq(
            call,
            role,
            CSeqSide::Remote,
            leg.dialog.remote_cseq,
            update.remote_cseq,
        )?;
        if let Some(v) = update.local_cseq {
            leg.dialog.local_cseq = v;
        }
        if let Some(v) = update.remote_cseq {
            leg.dialog.remote_cseq = v;
        }
        if let Some(v) = &update.local_sdp {
            leg.media.local_sdp.clone_from(v);
        }
        if let Some(v) = &update.remote_sdp {
            leg.media.remote_sdp.clone_from(v);
        }
        if let Some(v) = &update.remote_rtp {
            leg.media.remote_rtp = Some(v.clone());
        }
        if let Some(v) = &update.codec {
            leg.media.codec.clone_from(v);
        }
        Ok(Outcome::LegUpdated)
    }

    fn end(&mut self, call: CallId, reason: EndReason, at_ms: u64) -> ApplyResult {
        let record = self.record_mut(call)?;
        let ending = Ending { reason, at_ms };
        match record.ended {
            // The first end wins; repeating it is a replay.
            Some(existing) if existing == ending => Ok(Outcome::Unchanged),
            Some(_) => Err(Rejection::CallEnded { call }),
            None => {
                record.ended = Some(ending);
                Ok(Outcome::Ended)
            }
        }
    }

    fn adopt(&mut self, call: CallId, by: NodeId, at_ms: u64) -> ApplyResult {
        let record = self.record_mut(call)?;
        if record.anchor == by {
            return Ok(Outcome::Unchanged);
        }
        ensure_active(record)?;
        let from = record.anchor;
        record.anchor_history.push(AnchorChange {
            from,
            to: by,
            at_ms,
        });
        record.anchor = by;
        Ok(Outcome::Adopted { from })
    }

    fn request_handover(&mut self, request: HandoverRecord, call: CallId) -> ApplyResult {
        let record = self.record_mut(call)?;
        if let Some(pending) = &record.pending_handover {
            let replay = pending.id == request.id
                && pending.leg == request.leg
                && pending.requested_by == request.requested_by
                && pending.node == request.node
                && pending.requested_at_ms == request.requested_at_ms;
            if replay {
                return Ok(Outcome::Unchanged);
            }
        }
        ensure_active(record)?;
        if let Some(pending) = &record.pending_handover {
            return Err(Rejection::HandoverPending {
                call,
                pending: pending.id,
            });
        }
        if record.handovers.iter().any(|h| h.id == request.id) {
            return Err(Rejection::HandoverFinished {
                call,
                handover: request.id,
            });
        }
        if record.leg(request.leg).is_none() {
            return Err(Rejection::LegNotConfirmed {
                call,
                leg: request.leg,
            });
        }
        record.pending_handover = Some(request);
        Ok(Outcome::HandoverRequested)
    }

    fn decide_handover(
        &mut self,
        call: CallId,
        handover: HandoverId,
        decided: Decided,
    ) -> ApplyResult {
        let record = self.record_mut(call)?;
        let decision = decided.decision;
        // A decision already recorded, on the pending attempt or in the
        // audit trail: a replay if identical, otherwise refused (final).
        let existing = match &record.pending_handover {
            Some(p) if p.id == handover => p.decided.as_ref(),
            _ => record
                .handovers
                .iter()
                .find(|h| h.id == handover)
                .and_then(|h| h.decided.as_ref()),
        };
        if let Some(existing) = existing {
            return if *existing == decided {
                Ok(Outcome::Unchanged)
            } else {
                Err(Rejection::HandoverAlreadyDecided {
                    call,
                    handover,
                    decision: existing.decision,
                })
            };
        }
        if record.handovers.iter().any(|h| h.id == handover) {
            // Finished undecided (abandoned): too late to decide.
            return Err(Rejection::HandoverFinished { call, handover });
        }
        let Some(pending) = record
            .pending_handover
            .as_mut()
            .filter(|p| p.id == handover)
        else {
            return Err(Rejection::UnknownHandover { call, handover });
        };
        if record.ended.is_some() {
            return Err(Rejection::CallEnded { call });
        }
        pending.decided = Some(decided);
        if !matches!(decision, HandoverDecision::Approved { .. }) {
            // Refused or timed out: the attempt is over; move it to the
            // audit trail so that a new request may follow.
            if let Some(done) = record.pending_handover.take() {
                record.finish_handover(done);
            }
        }
        Ok(Outcome::HandoverDecided(decision))
    }

    fn swap_bridge(
        &mut self,
        call: CallId,
        handover: HandoverId,
        dialog: &DialogRecord,
        media: &MediaRecord,
        at_ms: u64,
    ) -> ApplyResult {
        let record = self.record_mut(call)?;
        let pending = match &record.pending_handover {
            Some(p) if p.id == handover => p,
            _ => {
                // Finished already: a replay if this very swap happened.
                return match record.handovers.iter().find(|h| h.id == handover) {
                    Some(done) if done.swapped_at_ms == Some(at_ms) => {
                        let current = record.leg(done.leg);
                        if current.is_some_and(|l| l.dialog == *dialog && l.media == *media) {
                            Ok(Outcome::Unchanged)
                        } else {
                            Err(Rejection::HandoverFinished { call, handover })
                        }
                    }
                    Some(done) if done.swapped_at_ms.is_some() || done.abandoned.is_some() => {
                        Err(Rejection::HandoverFinished { call, handover })
                    }
                    Some(_) => Err(Rejection::HandoverNotApproved { call, handover }),
                    None => Err(Rejection::UnknownHandover { call, handover }),
                };
            }
        };
        let keep_listening = match pending.decided.as_ref().map(|d| d.decision) {
            Some(HandoverDecision::Approved { keep_listening }) => keep_listening,
            _ => return Err(Rejection::HandoverNotApproved { call, handover }),
        };
        let role = pending.leg;
        ensure_active(record)?;
        let new_leg = Leg {
            dialog: dialog.clone(),
            media: media.clone(),
        };
        let old_leg = record.leg_mut(role).replace(new_leg);
        if keep_listening {
            record.listeners.extend(old_leg);
        }
        if let Some(mut done) = record.pending_handover.take() {
            done.swapped_at_ms = Some(at_ms);
            record.finish_handover(done);
        }
        Ok(Outcome::BridgeSwapped)
    }

    /// Ends the pending attempt without a swap. Accepted on an ended call
    /// too (unlike the other handover commands): the call may end while the
    /// handover waits, and its attempt must still leave the audit trail
    /// closed.
    fn abandon_handover(
        &mut self,
        call: CallId,
        handover: HandoverId,
        abandoned: Abandoned,
    ) -> ApplyResult {
        let record = self.record_mut(call)?;
        match record.pending_handover.take() {
            Some(mut done) if done.id == handover => {
                done.abandoned = Some(abandoned);
                record.finish_handover(done);
                Ok(Outcome::HandoverAbandoned(abandoned.reason))
            }
            other => {
                record.pending_handover = other;
                // Finished already: a replay if this very abandonment.
                match record.handovers.iter().find(|h| h.id == handover) {
                    Some(done) if done.abandoned == Some(abandoned) => Ok(Outcome::Unchanged),
                    Some(_) => Err(Rejection::HandoverFinished { call, handover }),
                    None => Err(Rejection::UnknownHandover { call, handover }),
                }
            }
        }
    }

    fn purge(&mut self, ended_before_ms: u64) -> Outcome {
        let before = self.calls.len();
        self.calls
            .retain(|_, c| c.ended.is_none_or(|e| e.at_ms >= ended_before_ms));
        // usize to u64 never truncates on the platforms we build for.
        let calls = (before - self.calls.len()) as u64;
        if calls == 0 {
            Outcome::Unchanged
        } else {
            Outcome::Purged { calls }
        }
    }

    fn record_mut(&mut self, call: CallId) -> Result<&mut CallRecord, Rejection> {
        self.calls
            .get_mut(&call)
            .ok_or(Rejection::UnknownCall { call })
    }
}

fn ensure_active(record: &CallRecord) -> Result<(), Rejection> {
    if record.is_active() {
        Ok(())
    } else {
        Err(Rejection::CallEnded { call: record.call })
    }
}

/// Whether applying `update` would leave `leg` as it is.
fn leg_matches(leg: &Leg, update: &LegUpdate) -> bool {
    update.local_cseq.is_none_or(|v| v == leg.dialog.local_cseq)
        && update
            .remote_cseq
            .is_none_or(|v| v == leg.dialog.remote_cseq)
        && update
            .local_sdp
            .as_ref()
            .is_none_or(|v| *v == leg.media.local_sdp)
        && update
            .remote_sdp
            .as_ref()
            .is_none_or(|v| *v == leg.media.remote_sdp)
        && update
            .remote_rtp
            .as_ref()
            .is_none_or(|v| leg.media.remote_rtp.as_ref() == Some(v))
        && update.codec.as_ref().is_none_or(|v| *v == leg.media.codec)
}

fn check_cseq(
    call: CallId,
    leg: LegRole,
    side: CSeqSide,
    current: u32,
    proposed: Option<u32>,
) -> Result<(), Rejection> {
    match proposed {
        Some(proposed) if proposed < current => Err(Rejection::CSeqRegression {
            call,
            leg,
            side,
            current,
            proposed,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
