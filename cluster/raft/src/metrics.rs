//! The metrics this crate records, through the `metrics` facade (a no-op
//! until the node installs a recorder). Names follow Prometheus
//! conventions, prefixed `baton_raft_`.

use openraft::{BasicNode, RaftMetrics, ServerState};

use crate::id::NodeId;

/// `baton_raft_append_seconds`: from proposing a log entry (one
/// `propose`, one `propose_batch`, one batch of the batcher) to its being
/// applied on this node (append, fsync, commit, apply). Histogram, one
/// sample per committed entry.
pub const APPEND_SECONDS: &str = "baton_raft_append_seconds";
/// `baton_raft_proposals_total{result}`: commands proposed, by result:
/// `applied`, `rejected` by the call table, or `failed` (not committed:
/// the whole batch failed, or the batcher stopped with it still queued).
/// Counted per command, not per log entry.
pub const PROPOSALS: &str = "baton_raft_proposals_total";
/// `baton_raft_batch_size`: commands per proposed log entry. Histogram.
pub const BATCH_SIZE: &str = "baton_raft_batch_size";
/// `baton_raft_queue_depth`: commands waiting in the batcher's queue, set
/// each time it takes a batch (what is left behind that batch) and 0 when
/// it stops. A node runs one batcher; with several, the last one to take a
/// batch sets it. Gauge.
pub const QUEUE_DEPTH: &str = "baton_raft_queue_depth";
/// `baton_raft_term`: the current Raft term.
pub const TERM: &str = "baton_raft_term";
/// `baton_raft_last_log_index`: the index of the last entry in the log.
pub const LAST_LOG_INDEX: &str = "baton_raft_last_log_index";
/// `baton_raft_last_applied_index`: the index of the last entry applied to
/// the call table.
pub const LAST_APPLIED_INDEX: &str = "baton_raft_last_applied_index";
/// `baton_raft_is_leader`: 1 while this node leads, else 0.
pub const IS_LEADER: &str = "baton_raft_is_leader";

/// `baton_raft_log_healthy`: 1 while the log takes writes, 0 while a
/// [`crate::LogFault`] holds. Gauge.
pub const LOG_HEALTHY: &str = "baton_raft_log_healthy";
/// `baton_raft_log_faults_total{fault}`: times the log was marked unable to
/// commit, by fault (`log_stopped`, `proposal_failed`, `queue_overflow`).
pub const LOG_FAULTS: &str = "baton_raft_log_faults_total";
/// `baton_raft_commands_dropped_total{kind}`: commands the node could not
/// queue for the batcher (`kind`: `plain` or `notified`), each one a
/// divergence between the calls and the table.
pub const COMMANDS_DROPPED: &str = "baton_raft_commands_dropped_total";
/// `baton_raft_refused_total{reason}`: new work (calls, pulls) the node
/// refused with `503` because of the log (`backlog` or a fault's name).
pub const REFUSED: &str = "baton_raft_refused_total";

/// Registers the descriptions of this crate's metrics. Call once at
/// startup, after installing the recorder.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        APPEND_SECONDS,
        metrics::Unit::Seconds,
        "Time from proposing a call command to its being applied on this node"
    );
    metrics::describe_counter!(PROPOSALS, "Call commands proposed, by result");
    metrics::describe_histogram!(
        BATCH_SIZE,
        metrics::Unit::Count,
        "Call commands per proposed Raft log entry"
    );
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        metrics::Unit::Count,
        "Call commands queued in the batcher, not yet in a proposed entry"
    );
    metrics::describe_gauge!(TERM, "Current Raft term");
    metrics::describe_gauge!(LAST_LOG_INDEX, "Index of the last Raft log entry");
    metrics::describe_gauge!(
        LAST_APPLIED_INDEX,
        "Index of the last Raft log entry applied to the call table"
    );
    metrics::describe_gauge!(IS_LEADER, "1 while this node is the Raft leader");
    metrics::describe_gauge!(LOG_HEALTHY, "1 while the call log takes writes");
    metrics::describe_counter!(LOG_FAULTS, "Times the call log was marked unable to commit");
    metrics::describe_counter!(
        COMMANDS_DROPPED,
        "Call commands that could not be queued for the log"
    );
    metrics::describe_counter!(
        REFUSED,
        "New calls and pulls refused with 503 because of the log"
    );
    metrics::counter!(COMMANDS_DROPPED, "kind" => "plain").absolute(0);
    metrics::counter!(REFUSED, "reason" => "backlog").absolute(0);
}

/// Mirrors openraft's metrics into the gauges.
pub(crate) fn record_raft_metrics(m: &RaftMetrics<NodeId, BasicNode>) {
    // Gauges are f64; indexes stay far below 2^53 in any real life time.
    metrics::gauge!(TERM).set(m.current_term as f64);
    metrics::gauge!(LAST_LOG_INDEX).set(m.last_log_index.unwrap_or(0) as f64);
    metrics::gauge!(LAST_APPLIED_INDEX).set(m.last_applied.map_or(0, |l| l.index) as f64);
    let leader = if m.state == ServerState::Leader {
        1.0
    } else {
        0.0
    };
    metrics::gauge!(IS_LEADER).set(leader);
}
