//! The calls' log port implemented over the replicated log (`cluster/raft`):
//! commands are queued in order and proposed by one writer task, so a call
//! never waits for the disk.

use call::b2bua::CallResult;
use call::ids::{CallNumber, LegIndex};
use call::log::{CallLog, Committed, HandoverAbandon, HandoverNumber, HandoverVerdict, LegRecord};
use raft::{
    AbandonReason, CallId, ClusterNode, Command, DialogRecord, EndReason, HandoverDecision,
    HandoverId, HandoverRecord, LegRole, MediaRecord, NodeId,
};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Queue bound: past it, commands are counted and dropped rather than
/// growing memory without limit (the batcher writes ~180 k commands/s).
/// New calls are refused well before (the batcher's high-water mark, three
/// quarters of it), so that the commands of calls already up find room.
const QUEUE: usize = 65_536;

/// Why the node refuses new work because of its log (`503` with
/// `Retry-After`, and `/readyz` down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogUnavailable {
    /// The log cannot commit (a storage error, a failed proposal, a
    /// dropped command).
    #[error("the call log cannot commit ({0})")]
    Fault(raft::LogFault),
    /// The batcher's queue is past its high-water mark.
    #[error("the call log is falling behind")]
    Backlog,
}

impl LogUnavailable {
    /// A bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            LogUnavailable::Fault(f) => f.as_str(),
            LogUnavailable::Backlog => "backlog",
        }
    }
}

/// A cheap handle that says whether the log takes new work: the SIP core
/// asks it before a new call or pull, `/readyz` on every probe.
#[derive(Debug, Clone)]
pub struct LogGate {
    tx: raft::BatchSender,
}

impl LogGate {
    /// `Ok` while the log commits and its queue is below the high-water
    /// mark.
    pub fn admit(&self) -> Result<(), LogUnavailable> {
        if let Some(fault) = self.tx.health().fault() {
            return Err(LogUnavailable::Fault(fault));
        }
        if self.tx.is_closed() {
            return Err(LogUnavailable::Fault(raft::LogFault::Stopped));
        }
        if self.tx.is_backlogged() {
            return Err(LogUnavailable::Backlog);
        }
        Ok(())
    }
}

/// The log of call state, written in batches (one log entry and one fsync
/// per batch) by the cluster node's batcher, in the order calls wrote it.
#[derive(Debug)]
pub struct RaftCallLog {
    node: NodeId,
    tx: raft::BatchSender,
}

impl RaftCallLog {
    /// Starts the batcher over an open cluster node.
    pub fn start(cluster: Arc<ClusterNode>) -> RaftCallLog {
        Self::start_with(cluster, QUEUE)
    }

    /// [`RaftCallLog::start`] with a queue of `capacity` commands.
    fn start_with(cluster: Arc<ClusterNode>, capacity: usize) -> RaftCallLog {
        let options = raft::BatcherOptions {
            capacity,
            ..raft::BatcherOptions::default()
        };
        let (tx, _writer) = cluster.batcher(options);
        RaftCallLog {
            node: cluster.id(),
            tx,
        }
    }

    /// The gate new work asks (see [`LogGate`]).
    pub fn gate(&self) -> LogGate {
        LogGate {
            tx: self.tx.clone(),
        }
    }

    fn send(&self, command: Command) {
        if let Err(e) = self.tx.try_send(command) {
            self.dropped("plain", &e);
        }
    }

    /// A command of a call already admitted could not be queued: the table
    /// now differs from the calls. Never silent: counted, logged (once per
    /// change of the log's state, not once per command), and the log is
    /// marked so that the node takes no new work until it is restarted.
    fn dropped(&self, kind: &'static str, error: &raft::EnqueueError) {
        metrics::counter!(raft::metrics::COMMANDS_DROPPED, "kind" => kind).increment(1);
        let fault = match error {
            raft::EnqueueError::Full(_) => raft::LogFault::QueueOverflow,
            raft::EnqueueError::Closed(_) => raft::LogFault::Stopped,
        };
        if self.tx.health().mark(fault) {
            tracing::error!(%error, %fault, "a call command was dropped: the call log is marked unhealthy; new calls are refused until a restart");
        }
    }

    /// Queues `command` behind everything this log queued before it, and
    /// calls `done(true)` once it is committed and accepted by the table
    /// (a replay included), `done(false)` if the table refused it, it was
    /// not committed, or the queue was full.
    fn send_notified(&self, command: Command, done: Committed) {
        let notify: raft::Notify = Box::new(move |answer| {
            let accepted = match answer {
                Ok(Ok(_)) => true,
                Ok(Err(rejection)) => {
                    tracing::warn!(%rejection, "the call table refused a handover command");
                    false
                }
                Err(error) => {
                    tracing::warn!(%error, "a handover command was not committed");
                    false
                }
            };
            done(accepted);
        });
        // On a refusal the notification has already answered `false`.
        if let Err(e) = self.tx.try_send_notified(command, notify) {
            self.dropped("notified", &e);
        }
    }

    /// Drops from the table the calls that ended more than `age` ago.
    pub fn purge_ended(&self, age: std::time::Duration) {
        let ended_before_ms = now_ms().saturating_sub(age.as_millis() as u64);
        self.send(Command::EndedCallsPurged { ended_before_ms });
    }

    /// Waits (bounded) until everything queued is written.
    pub async fn flush(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.tx.queued() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.tx.queued() == 0
    }

    /// The replicated id of a call of this node.
    pub fn call_id(node: NodeId, call: CallNumber) -> CallId {
        CallId((u128::from(node.0) << 64) | u128::from(call.0))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A leg's role, dialog and media as the replicated log records them.
fn leg_records(r: LegRecord) -> (LegRole, DialogRecord, MediaRecord) {
    let dialog = DialogRecord {
        sip_call_id: r.sip_call_id,
        local_tag: r.local_tag,
        remote_tag: r.remote_tag,
        local_cseq: r.local_cseq,
        remote_cseq: r.remote_cseq,
        route_set: r.route_set,
        remote_target: r.remote_target,
        local_contact: r.local_contact,
        transport: r.transport.to_string(),
        remote_addr: r.remote_addr.to_string(),
    };
    let media = MediaRecord {
        local_sdp: r.local_sdp,
        remote_sdp: r.remote_sdp,
        relay_rtp_port: r.relay.map_or(0, |a| a.port()),
        relay_addr: r.relay.map(|a| a.ip().to_string()).unwrap_or_default(),
        remote_rtp: None,
        codec: String::new(),
    };
    (role(r.leg), dialog, media)
}

fn role(leg: LegIndex) -> LegRole {
    if leg == LegIndex::CALLER {
        LegRole::Caller
    } else {
        LegRole::Callee
    }
}

impl CallLog for RaftCallLog {
    fn handover_requested(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        moving: LegIndex,
        requested_by: &str,
        done: Committed,
    ) {
        let command = Command::HandoverRequested {
            call: Self::call_id(self.node, call),
            handover: HandoverId(handover.0),
            leg: role(moving),
            requested_by: requested_by.to_string(),
            node: self.node,
            requested_at_ms: now_ms(),
        };
        self.send_notified(command, done);
    }

    fn handover_decided(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        decision: HandoverVerdict,
        decided_by: &str,
        done: Committed,
    ) {
        let decision = match decision {
            HandoverVerdict::Granted => HandoverDecision::Approved {
                keep_listening: false,
            },
            HandoverVerdict::GrantedMonitor => HandoverDecision::Approved {
                keep_listening: true,
            },
            HandoverVerdict::Denied => HandoverDecision::Denied,
            HandoverVerdict::TimedOut => HandoverDecision::TimedOut,
        };
        let command = Command::HandoverDecided {
            call: Self::call_id(self.node, call),
            handover: HandoverId(handover.0),
            decision,
            decided_by: decided_by.to_string(),
            decided_at_ms: now_ms(),
        };
        self.send_notified(command, done);
    }

    fn bridge_swapped(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        record: LegRecord,
        done: Committed,
    ) {
        // The table knows which leg moves (from the request).
        let (_, dialog, media) = leg_records(record);
        let command = Command::BridgeSwapped {
            call: Self::call_id(self.node, call),
            handover: HandoverId(handover.0),
            dialog,
            media,
            swapped_at_ms: now_ms(),
        };
        self.send_notified(command, done);
    }

    fn handover_abandoned(
        &self,
        call: CallNumber,
        handover: HandoverNumber,
        reason: HandoverAbandon,
        done: Committed,
    ) {
        let reason = match reason {
            HandoverAbandon::Cancelled => AbandonReason::Cancelled,
            HandoverAbandon::CallEnded => AbandonReason::CallEnded,
            HandoverAbandon::RolledBack => AbandonReason::RolledBack,
        };
        let command = Command::HandoverAbandoned {
            call: Self::call_id(self.node, call),
            handover: HandoverId(handover.0),
            reason,
            at_ms: now_ms(),
        };
        self.send_notified(command, done);
    }

    fn call_created(&self, call: CallNumber, caller_aor: &str, callee_aor: &str) {
        self.send(Command::CallCreated {
            call: Self::call_id(self.node, call),
            anchor: self.node,
            created_at_ms: now_ms(),
            caller_aor: caller_aor.to_string(),
            callee_aor: callee_aor.to_string(),
        });
    }

    fn leg_confirmed(&self, call: CallNumber, r: LegRecord) {
        let (leg, dialog, media) = leg_records(r);
        self.send(Command::LegConfirmed {
            call: Self::call_id(self.node, call),
            leg,
            dialog,
            media,
        });
    }

    fn call_ended(&self, call: CallNumber, result: CallResult) {
        let reason = match result {
            CallResult::Answered => EndReason::Hangup {
                by: LegRole::Caller,
            },
            CallResult::Busy => EndReason::Declined { status: 486 },
            CallResult::Rejected => EndReason::Declined { status: 603 },
            CallResult::NoAnswer => EndReason::Timeout,
            CallResult::Cancelled => EndReason::Cancelled,
            CallResult::Failed => EndReason::MediaFailure,
        };
        self.send(Command::CallEnded {
            call: Self::call_id(self.node, call),
            reason,
            ended_at_ms: now_ms(),
        });
    }
}

/// The active calls of the replicated table, as JSON (`GET /calls`): what
/// an operator needs (the call's number, the parties' addresses of record,
/// its state and times, the handover audit trail), and nothing that lets a
/// reader act on a call. No SIP Call-ID, tag, remote target, relay address
/// or port: with those anyone could send a BYE, a forged decision or a
/// re-INVITE into a dialog.
pub fn active_calls_json(cluster: &ClusterNode) -> String {
    cluster.read(|table| {
        let calls: Vec<serde_json::Value> = table
            .active_calls()
            .map(|c| {
                // A leg says only that it is confirmed, and over what.
                let leg = |l: Option<&raft::Leg>| {
                    l.map(|l| {
                        serde_json::json!({
                            "confirmed": true,
                            "transport": transport_label(&l.dialog.transport),
                        })
                    })
                };
                let state = if c.pending_handover.is_some() {
                    "handover"
                } else if c.caller.is_some() && c.callee.is_some() {
                    "confirmed"
                } else {
                    "setup"
                };
                // The audit trail, oldest first, then the attempt in
                // progress.
                let handovers: Vec<serde_json::Value> = c
                    .handovers
                    .iter()
                    .map(|h| handover_json(h, false))
                    .chain(c.pending_handover.iter().map(|h| handover_json(h, true)))
                    .collect();
                serde_json::json!({
                    "call": c.call.to_string(),
                    "anchor": c.anchor.0,
                    "created_at_ms": c.created_at_ms,
                    "state": state,
                    "caller_aor": c.caller_aor,
                    "callee_aor": c.callee_aor,
                    "caller": leg(c.caller.as_ref()),
                    "callee": leg(c.callee.as_ref()),
                    "listeners": c.listeners.len(),
                    "handovers": handovers,
                })
            })
            .collect();
        serde_json::Value::Array(calls).to_string()
    })
}

/// A bounded transport name: the table stores what the node wrote, but a
/// view never echoes a free string it did not choose.
fn transport_label(transport: &str) -> &'static str {
    match transport.to_ascii_lowercase().as_str() {
        "udp" => "udp",
        "tcp" => "tcp",
        "tls" => "tls",
        _ => "other",
    }
}

/// A device as `/calls` names it: its Contact (the requester) or remote
/// target (the decider) cut to `scheme:user@host`, without the port and
/// parameters that would make it a target to send requests to; the node's
/// own labels (`baton (timeout)`) as they are, anything else `unknown`.
fn device_label(uri: &str) -> String {
    let uri = uri.trim().trim_start_matches('<');
    if matches!(uri, "baton (timeout)" | "original device") {
        return uri.to_string();
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return "unknown".into();
    };
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return "unknown".into();
    }
    let end = rest.find([';', '?', '>']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, rest),
    };
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        format!("[{}]", v6.split(']').next().unwrap_or_default())
    } else {
        hostport.split(':').next().unwrap_or_default().to_string()
    };
    let scheme = scheme.to_ascii_lowercase();
    match user {
        Some(user) => format!("{scheme}:{user}@{host}"),
        None => format!("{scheme}:{host}"),
    }
}

/// One handover attempt of `GET /calls`: who asked, who decided what, and
/// how it ended (swapped, abandoned, or still `pending`).
fn handover_json(h: &HandoverRecord, pending: bool) -> serde_json::Value {
    let decision = h.decided.as_ref().map(|d| match d.decision {
        HandoverDecision::Approved {
            keep_listening: false,
        } => "approved",
        HandoverDecision::Approved {
            keep_listening: true,
        } => "approved_monitor",
        HandoverDecision::Denied => "denied",
        HandoverDecision::TimedOut => "timed_out",
    });
    let abandoned = h.abandoned.map(|a| match a.reason {
        AbandonReason::Cancelled => "cancelled",
        AbandonReason::CallEnded => "call_ended",
        AbandonReason::RolledBack => "rolled_back",
    });
    serde_json::json!({
        "id": h.id.0,
        "leg": match h.leg {
            LegRole::Caller => "caller",
            LegRole::Callee => "callee",
        },
        "requested_by": device_label(&h.requested_by),
        "requested_at_ms": h.requested_at_ms,
        "node": h.node.0,
        "pending": pending,
        "decision": decision,
        "decided_by": h.decided.as_ref().map(|d| device_label(&d.decided_by)),
        "decided_at_ms": h.decided.as_ref().map(|d| d.at_ms),
        "swapped": h.swapped_at_ms.is_some(),
        "swapped_at_ms": h.swapped_at_ms,
        "abandoned": abandoned,
        "abandoned_at_ms": h.abandoned.map(|a| a.at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::OneNode;
    use std::time::Duration;
    use tokio::sync::mpsc;

    fn leg(n: u16, tag: &str) -> LegRecord {
        LegRecord {
            leg: LegIndex(n),
            sip_call_id: format!("{tag}@pbx"),
            local_tag: format!("l-{tag}"),
            remote_tag: format!("r-{tag}"),
            local_cseq: 1,
            remote_cseq: 2,
            route_set: Vec::new(),
            remote_target: format!("sip:{tag}@192.0.2.9"),
            local_contact: "sip:baton@192.0.2.1".into(),
            transport: "udp",
            remote_addr: "192.0.2.9:5060".parse().expect("addr"),
            local_sdp: "v=0 l".into(),
            remote_sdp: "v=0 r".into(),
            relay: Some("192.0.2.1:20000".parse().expect("addr")),
        }
    }

    /// A `done` that reports on `tx`.
    fn done(tx: &mpsc::UnboundedSender<bool>) -> Committed {
        let tx = tx.clone();
        Box::new(move |ok| {
            let _ = tx.send(ok);
        })
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<bool>) -> bool {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("answered in time")
            .expect("answered")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handover_steps_are_committed_in_order_and_listed() {
        let dir = std::env::temp_dir().join(format!(
            "baton-call-log-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let cluster = Arc::new(
            ClusterNode::open(NodeId(1), &dir, OneNode)
                .await
                .expect("open"),
        );
        let log = RaftCallLog::start(Arc::clone(&cluster));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let call = CallNumber(7);
        let h = HandoverNumber;

        // Queued right behind the call's own commands: accepted.
        log.call_created(call, "sip:alice@example.com", "sip:bob@example.com");
        log.leg_confirmed(call, leg(0, "caller"));
        log.leg_confirmed(call, leg(1, "callee"));
        log.handover_requested(
            call,
            h(1),
            LegIndex(1),
            "sip:bob-desk@example.com",
            done(&tx),
        );
        assert!(next(&mut rx).await);
        // A second request while the first is pending: refused.
        log.handover_requested(call, h(2), LegIndex(0), "sip:x@example.com", done(&tx));
        assert!(!next(&mut rx).await);
        log.handover_decided(
            call,
            h(1),
            HandoverVerdict::GrantedMonitor,
            "sip:bob@example.com",
            done(&tx),
        );
        assert!(next(&mut rx).await);
        log.bridge_swapped(call, h(1), leg(2, "desk"), done(&tx));
        assert!(next(&mut rx).await);
        // The swap freed the call: a second pull, cancelled.
        log.handover_requested(
            call,
            h(3),
            LegIndex(1),
            "sip:bob-car@example.com",
            done(&tx),
        );
        assert!(next(&mut rx).await);
        log.handover_abandoned(call, h(3), HandoverAbandon::Cancelled, done(&tx));
        assert!(next(&mut rx).await);
        // A decision on an abandoned attempt: refused.
        log.handover_decided(call, h(3), HandoverVerdict::Denied, "x", done(&tx));
        assert!(!next(&mut rx).await);

        let record = cluster
            .read(|t| t.get(RaftCallLog::call_id(NodeId(1), call)).cloned())
            .expect("call");
        assert_eq!(
            record
                .callee
                .as_ref()
                .map(|l| l.dialog.sip_call_id.as_str()),
            Some("desk@pbx")
        );
        assert_eq!(record.listeners.len(), 1);
        let json: serde_json::Value =
            serde_json::from_str(&active_calls_json(&cluster)).expect("json");
        let handovers = &json[0]["handovers"];
        assert_eq!(handovers[0]["id"], 1);
        assert_eq!(handovers[0]["requested_by"], "sip:bob-desk@example.com");
        assert_eq!(handovers[0]["decision"], "approved_monitor");
        assert_eq!(handovers[0]["decided_by"], "sip:bob@example.com");
        assert_eq!(handovers[0]["swapped"], true);
        assert_eq!(handovers[1]["id"], 3);
        assert_eq!(handovers[1]["decision"], serde_json::Value::Null);
        assert_eq!(handovers[1]["abandoned"], "cancelled");
        assert_eq!(handovers[1]["swapped"], false);
        // Nothing that lets a reader act on a dialog: no Call-ID, tag,
        // remote target, relay address or port.
        let text = active_calls_json(&cluster);
        for secret in [
            "desk@pbx",
            "caller@pbx",
            "l-desk",
            "r-desk",
            "r-caller",
            "192.0.2.",
            "relay",
            "remote",
            "tag",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(json[0]["state"], "confirmed");
        assert_eq!(json[0]["caller"]["transport"], "udp");
        assert_eq!(json[0]["callee_aor"], "sip:bob@example.com");

        drop(log);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(cluster) = Arc::try_unwrap(cluster) {
            cluster.shutdown().await.expect("shutdown");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn devices_are_named_without_port_or_parameters() {
        for (uri, label) in [
            ("sip:alice@192.0.2.7:5062", "sip:alice@192.0.2.7"),
            (
                "<sip:alice@192.0.2.7:5062;transport=tcp>",
                "sip:alice@192.0.2.7",
            ),
            ("sips:bob@[2001:db8::1]:5061;ob", "sips:bob@[2001:db8::1]"),
            ("sip:192.0.2.9:5060", "sip:192.0.2.9"),
            ("SIP:carol@example.com?subject=x", "sip:carol@example.com"),
            ("baton (timeout)", "baton (timeout)"),
            ("original device", "original device"),
            ("tel:+15551234", "unknown"),
            ("", "unknown"),
        ] {
            assert_eq!(device_label(uri), label, "{uri}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_pushes_back_and_a_dropped_command_marks_the_log() {
        let dir = tempfile_dir("gate");
        let cluster = Arc::new(
            ClusterNode::open(NodeId(1), &dir, OneNode)
                .await
                .expect("open"),
        );
        // A queue of 4: backlogged at 3. On a current-thread runtime the
        // batcher does not run until this test awaits.
        let log = RaftCallLog::start_with(Arc::clone(&cluster), 4);
        let gate = log.gate();
        assert_eq!(gate.admit(), Ok(()));
        for n in 0..3 {
            log.call_created(CallNumber(n), "sip:a@x", "sip:b@x");
        }
        assert_eq!(
            gate.admit(),
            Err(LogUnavailable::Backlog),
            "pushes back before full"
        );
        log.call_created(CallNumber(3), "sip:a@x", "sip:b@x");
        // Full: the next command of a call already up is not dropped
        // silently: the log is marked, and a notified one answers false.
        log.call_ended(CallNumber(0), CallResult::Answered);
        assert_eq!(
            gate.admit(),
            Err(LogUnavailable::Fault(raft::LogFault::QueueOverflow))
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        log.handover_requested(
            CallNumber(1),
            HandoverNumber(1),
            LegIndex(1),
            "x",
            done(&tx),
        );
        assert!(!next(&mut rx).await);
        // Sticky: the queue drains, the table has diverged, the gate stays
        // shut until a restart.
        assert!(log.flush(Duration::from_secs(30)).await);
        assert_eq!(
            gate.admit(),
            Err(LogUnavailable::Fault(raft::LogFault::QueueOverflow))
        );
        drop(log);
        drop(gate);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(cluster) = Arc::try_unwrap(cluster) {
            cluster.shutdown().await.expect("shutdown");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(what: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "baton-call-log-{what}-{}-{}",
            std::process::id(),
            now_ms()
        ))
    }
}
