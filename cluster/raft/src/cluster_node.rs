//! [`ClusterNode`]: the runtime wrapper that opens the store, starts
//! openraft, and offers `propose` / `read` / `shutdown` to the node.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, Fatal, InitializeError, RaftError,
};
use openraft::metrics::WaitError;
use openraft::{BasicNode, Config, ConfigError, Raft, ServerState, SnapshotPolicy};

use crate::batcher::{self, BatchSender, BatcherOptions, BatcherReport};
use crate::call_table::{ApplyResult, CallTable};
use crate::command::{Command, Proposal};
use crate::health::{LogFault, LogHealth};
use crate::id::NodeId;
use crate::log_store::{LogStore, StoreError, WriterHandle};
use crate::metrics::{self as m, record_raft_metrics};
use crate::network::{PeerNetwork, Peers, RaftReply, RaftRpc};
use crate::snapshot::SnapshotError;
use crate::state_machine::{CallStateMachine, SharedApplied};
use crate::TypeConfig;

/// The data directory of the embedded default configuration
/// (`cluster.data_dir`).
pub const DEFAULT_DATA_DIR: &str = "./baton-data";
/// The redb file of the Raft log, inside the data directory.
pub const LOG_FILE: &str = "raft-log.redb";
/// The snapshot directory, inside the data directory.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// How to open a node. [`NodeOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// This node's id (`cluster.node_id`).
    pub node_id: NodeId,
    /// Where the log and snapshots live (`cluster.data_dir`, default
    /// `./baton-data`); created if missing.
    pub data_dir: PathBuf,
    /// The address peers reach this node at, recorded in the membership
    /// (`cluster.listen`). Unused by a one-node cluster.
    pub advertise_addr: String,
    /// On a first start (empty data directory), form a one-node cluster
    /// with this node as its only voter. Without it a fresh node waits to be
    /// added by a leader (the multi-node case).
    pub bootstrap: bool,
    /// How long `open` waits for a leader and for the log to be applied.
    pub ready_timeout: Duration,
    /// Take a snapshot after this many applied entries since the last one.
    pub snapshot_every: u64,
    /// Log entries kept after a snapshot covers them (so that a slightly
    /// lagging follower catches up from the log rather than a snapshot).
    pub logs_kept_after_snapshot: u64,
}

impl NodeOptions {
    /// The defaults: bootstrap a one-node cluster, wait up to 10 s to be
    /// ready, snapshot every 5000 entries and keep
    /// 1000 entries behind it.
    pub fn new(node_id: NodeId, data_dir: impl Into<PathBuf>) -> Self {
        NodeOptions {
            node_id,
            data_dir: data_dir.into(),
            advertise_addr: String::new(),
            bootstrap: true,
            ready_timeout: Duration::from_secs(10),
            snapshot_every: 5000,
            logs_kept_after_snapshot: 1000,
        }
    }
}

/// Why a node could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Raft log could not be opened.
    #[error("cannot open the Raft log")]
    Log(#[from] StoreError),
    /// The snapshot could not be loaded (a damaged file is refused here).
    #[error("cannot load the call table snapshot")]
    Snapshot(#[from] SnapshotError),
    /// The Raft configuration is invalid.
    #[error("invalid Raft configuration")]
    Config(#[from] ConfigError),
    /// openraft stopped while starting (usually a storage error).
    #[error("Raft stopped while starting")]
    Raft(#[from] Fatal<NodeId>),
    /// The one-node cluster could not be formed.
    #[error("cannot initialize the one-node cluster")]
    Initialize(#[source] RaftError<NodeId, InitializeError<NodeId, BasicNode>>),
    /// No leader (or an unapplied log) within `ready_timeout`.
    #[error("node not ready: {0}")]
    NotReady(#[source] WaitError),
    /// Leadership could not be confirmed.
    #[error("cannot confirm leadership")]
    Leadership(#[source] RaftError<NodeId, CheckIsLeaderError<NodeId, BasicNode>>),
    /// Leadership was not confirmed within `ready_timeout`.
    #[error("leadership not confirmed within {waited:?}")]
    LeadershipTimeout {
        /// How long `open` waited.
        waited: Duration,
    },
}

/// Why a command (or a batch) was not committed. (A command that was
/// committed but refused by the call table is an `Ok(Err(Rejection))`, not
/// this.)
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// This node does not lead; the command must go to the leader.
    #[error("not the Raft leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
        /// Its address, if known.
        leader_addr: Option<String>,
    },
    /// openraft reported a membership error (only membership changes do).
    #[error("membership change refused")]
    Membership(#[source] ChangeMembershipError<NodeId>),
    /// Raft stopped (shutdown, or a storage failure stopped it).
    #[error("Raft stopped")]
    Stopped(#[source] Fatal<NodeId>),
}

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotNowError {
    /// Raft stopped.
    #[error("Raft stopped")]
    Stopped(#[source] Fatal<NodeId>),
    /// The snapshot did not complete in time.
    #[error("snapshot did not complete: {0}")]
    Wait(#[source] WaitError),
}

/// Why shutdown was not clean.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// The Raft core task failed to join.
    #[error("Raft core task failed")]
    Raft(#[source] tokio::task::JoinError),
    /// The log writer could not be joined.
    #[error("log writer did not stop")]
    Writer(#[source] tokio::task::JoinError),
    /// Something still holds the log database open, so the data directory
    /// cannot be reopened in this process yet.
    #[error("the Raft log is still open")]
    StoreStillOpen,
}

/// One Baton node's handle on the replicated call log.
///
/// Cheap operations (`read`) are synchronous; `propose` waits for the
/// command to be durable, committed and applied locally.
pub struct ClusterNode {
    id: NodeId,
    raft: Raft<TypeConfig>,
    applied: SharedApplied,
    writer: WriterHandle,
    metrics_task: tokio::task::JoinHandle<()>,
    health: LogHealth,
}

impl fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClusterNode {
    /// Opens the node `node_id` with its data in `data_dir` (created if
    /// missing), with the defaults of [`NodeOptions::new`]. See
    /// [`ClusterNode::open_with`].
    pub async fn open<P: PeerNetwork>(
        node_id: NodeId,
        data_dir: impl AsRef<Path>,
        network: P,
    ) -> Result<Self, OpenError> {
        Self::open_with(NodeOptions::new(node_id, data_dir.as_ref()), network).await
    }

    /// Opens the node: opens the log and the last snapshot, starts Raft,
    /// forms the one-node cluster on the first start only (an existing log
    /// or vote means it was formed already), then waits until a leader is
    /// known and, if this node leads, until every entry in its log is
    /// applied. After `open` returns, [`ClusterNode::read`] sees every
    /// command ever committed.
    pub async fn open_with<P: PeerNetwork>(
        options: NodeOptions,
        network: P,
    ) -> Result<Self, OpenError> {
        let dir = &options.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let log = LogStore::open(&dir.join(LOG_FILE), options.node_id)?;
        let writer = log.writer_handle();
        let state_machine = match CallStateMachine::open(&dir.join(SNAPSHOT_DIR)) {
            Ok(sm) => sm,
            Err(e) => {
                drop(log);
                stop_writer(&writer).await;
                return Err(e.into());
            }
        };
        let applied = state_machine.shared();
        let config = Config {
            cluster_name: "baton".into(),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_every),
            max_in_snapshot_log_to_keep: options.logs_kept_after_snapshot,
            ..Config::default()
        }
        .validate()?;
        let raft = match Raft::new(
            options.node_id,
            Arc::new(config),
            Peers(network),
            log,
            state_machine,
        )
        .await
        {
            Ok(raft) => raft,
            Err(e) => {
                stop_writer(&writer).await;
                return Err(e.into());
            }
        };
        let health = LogHealth::new();
        let metrics_task = tokio::spawn(mirror_metrics(raft.metrics(), health.clone()));
        let node = ClusterNode {
            id: options.node_id,
            raft,
            applied,
            writer,
            metrics_task,
            health,
        };
        match node.become_ready(&options).await {
            Ok(()) => Ok(node),
            Err(e) => {
                if let Err(shutdown) = node.shutdown().await {
                    tracing::warn!(error = %shutdown, "shutdown after a failed open");
                }
                Err(e)
            }
        }
    }

    async fn become_ready(&self, options: &NodeOptions) -> Result<(), OpenError> {
        let initialized = self.raft.is_initialized().await?;
        if !initialized {
            if !options.bootstrap {
                // A fresh node that joins a cluster: a leader will add it.
                return Ok(());
            }
            let members = BTreeMap::from([(self.id, BasicNode::new(&options.advertise_addr))]);
            self.raft
                .initialize(members)
                .await
                .map_err(OpenError::Initialize)?;
        }
        let wait = self.raft.wait(Some(options.ready_timeout));
        let metrics = wait
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(OpenError::NotReady)?;
        if metrics.current_leader == Some(self.id) {
            // Leading: everything in the log is (or will be, with this
            // term's first entry) committed; wait until it is applied so
            // that reads see the whole table.
            let read_at = tokio::time::timeout(options.ready_timeout, self.raft.get_read_log_id())
                .await
                .map_err(|_| OpenError::LeadershipTimeout {
                    waited: options.ready_timeout,
                })?
                .map_err(OpenError::Leadership)?
                .0;
            let last_log = self.raft.metrics().borrow().last_log_index;
            let target = std::cmp::max(read_at.map(|l| l.index), last_log);
            wait.applied_index_at_least(target, "the log is applied")
                .await
                .map_err(OpenError::NotReady)?;
        }
        Ok(())
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Appends `command` to the replicated log and waits until it is
    /// durable on a quorum (here: fsynced locally), committed and applied to
    /// this node's table. Returns the table's answer: `Ok(Ok(outcome))`, or
    /// `Ok(Err(rejection))` for a command the table refused (still in the
    /// log, refused on every node alike).
    ///
    /// This is a one-command [`ClusterNode::propose_batch`]: one log entry
    /// and one fsync per call. Callers with many commands batch them, or send
    /// them through a [`ClusterNode::batcher`].
    pub async fn propose(&self, command: Command) -> Result<ApplyResult, ProposeError> {
        let mut results = self.propose_batch(vec![command]).await?;
        // The state machine answers every command of an entry.
        Ok(results.pop().expect("one result for a one-command batch"))
    }

    /// Appends `commands` to the replicated log as **one** entry (one fsync,
    /// one commit) and waits until it is durable on a quorum, committed and
    /// applied to this node's table, every command in order under one write
    /// lock. Returns one answer per command, in the same order; a command
    /// the table refuses (`Err(rejection)`) does not stop the ones after it.
    ///
    /// The batch commits or fails as a whole: `Err` means none of it was
    /// acknowledged (as with [`ClusterNode::propose`], it may or may not be
    /// in the log). An empty batch returns `Ok(vec![])` without touching the
    /// log.
    pub async fn propose_batch(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<ApplyResult>, ProposeError> {
        write_batch(&self.raft, commands).await
    }

    /// Starts a [`BatchSender`]'s background task on the current tokio
    /// runtime: it takes every command queued (up to
    /// [`BatcherOptions::max_batch`]) into one
    /// [`ClusterNode::propose_batch`], and loops, keeping the commands in
    /// the order they were queued. Callers that must not block queue with
    /// [`BatchSender::try_send`], which fails with
    /// [`EnqueueError::Full`](crate::EnqueueError::Full)
    /// when [`BatcherOptions::capacity`] commands already wait.
    ///
    /// The task ends, and the returned handle yields its
    /// [`BatcherReport`], once every `BatchSender` is dropped and what was
    /// queued is written, or as soon as Raft stops (then what is still
    /// queued is counted as failed). Drop the senders and await the handle
    /// before [`ClusterNode::shutdown`] so that nothing queued is lost.
    pub fn batcher(
        &self,
        options: BatcherOptions,
    ) -> (BatchSender, tokio::task::JoinHandle<BatcherReport>) {
        batcher::spawn(self.raft.clone(), options, self.health.clone())
    }

    /// Whether the log takes writes: marked when Raft stops on a storage
    /// error (seen in openraft's `running_state`), when a batch is not
    /// committed, or by the node (a command it could not queue). Shared
    /// with every batcher of this node.
    pub fn health(&self) -> &LogHealth {
        &self.health
    }

    /// Runs `f` on this node's call table. It sees every command this node
    /// has applied: all of its own successful `propose` calls, and (on the
    /// leader, after `open`) every committed command. Keep `f` short: it
    /// holds the table's read lock, which applying waits for.
    pub fn read<R>(&self, f: impl FnOnce(&CallTable) -> R) -> R {
        f(&self.applied.read().table)
    }

    /// Hands an RPC received from a peer to Raft and returns the reply to
    /// send back (the receiving half of [`PeerNetwork`]).
    pub async fn handle_rpc(&self, rpc: RaftRpc) -> RaftReply {
        match rpc {
            RaftRpc::AppendEntries(r) => {
                RaftReply::AppendEntries(self.raft.append_entries(r).await)
            }
            RaftRpc::Vote(r) => RaftReply::Vote(self.raft.vote(r).await),
            RaftRpc::InstallSnapshot(r) => {
                RaftReply::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
        }
    }

    /// Takes a snapshot of the table now and waits (up to `timeout`) until
    /// it is durable. Returns the index it covers.
    pub async fn snapshot(&self, timeout: Duration) -> Result<Option<u64>, SnapshotNowError> {
        let deadline = Instant::now() + timeout;
        // At least what the metrics say is applied (openraft publishes them
        // after answering writes, so the snapshot may cover more).
        let target = self.raft.metrics().borrow().last_applied.map(|l| l.index);
        loop {
            let before = self.raft.metrics().borrow().snapshot;
            // openraft drops a trigger while a build is in flight (an
            // automatic one, say); then wait for that build and trigger
            // again.
            self.raft
                .trigger()
                .snapshot()
                .await
                .map_err(SnapshotNowError::Stopped)?;
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .raft
                .wait(Some(left))
                .metrics(
                    move |m| m.snapshot.map(|s| s.index) >= target || m.snapshot != before,
                    "a snapshot is built",
                )
                .await
                .map_err(SnapshotNowError::Wait)?;
            let covered = m.snapshot.map(|s| s.index);
            if covered >= target {
                return Ok(covered);
            }
        }
    }

    /// Whether a leader is known now (this node or another): without one
    /// nothing can be committed, and the node is not ready.
    pub fn has_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader.is_some()
    }

    /// Whether this node leads now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// The openraft handle, for cluster management (membership changes)
    /// until this wrapper grows those verbs.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Stops Raft, then the log writer, and checks that the log database is
    /// closed (so the same directory can be opened again). Entries already
    /// acknowledged are durable whatever happens here. Takes `&self` so
    /// that a node shared behind an `Arc` can be stopped; afterwards
    /// `propose` answers [`ProposeError::Stopped`].
    pub async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.metrics_task.abort();
        let raft = self.raft.shutdown().await;
        // The core task is gone, and with it the log store; stop the writer.
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || writer.stop_and_join())
            .await
            .map_err(ShutdownError::Writer)?;
        raft.map_err(ShutdownError::Raft)?;
        // Replication tasks still hold log readers for a moment.
        if self.writer.wait_closed(Duration::from_secs(5)).await {
            Ok(())
        } else {
            Err(ShutdownError::StoreStillOpen)
        }
    }
}

/// Proposes `commands` as one log entry (see
/// [`ClusterNode::propose_batch`]) and records the proposal metrics: one
/// latency sample and one batch size per entry, one result per command.
pub(crate) async fn write_batch(
    raft: &Raft<TypeConfig>,
    commands: Vec<Command>,
) -> Result<Vec<ApplyResult>, ProposeError> {
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let count = commands.len() as u64;
    metrics::histogram!(m::BATCH_SIZE).record(count as f64);
    let started = Instant::now();
    match raft.client_write(Proposal::new(commands)).await {
        Ok(response) => {
            metrics::histogram!(m::APPEND_SECONDS).record(started.elapsed().as_secs_f64());
            let results = response.data;
            debug_assert_eq!(results.len() as u64, count, "one result per command");
            let rejected = results.iter().filter(|r| r.is_err()).count() as u64;
            let applied = results.len() as u64 - rejected;
            if applied > 0 {
                metrics::counter!(m::PROPOSALS, "result" => "applied").increment(applied);
            }
            if rejected > 0 {
                metrics::counter!(m::PROPOSALS, "result" => "rejected").increment(rejected);
            }
            Ok(results)
        }
        Err(e) => {
            metrics::counter!(m::PROPOSALS, "result" => "failed").increment(count);
            Err(match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    ProposeError::NotLeader {
                        leader: f.leader_id,
                        leader_addr: f.leader_node.map(|n| n.addr),
                    }
                }
                RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                    ProposeError::Membership(e)
                }
                RaftError::Fatal(f) => ProposeError::Stopped(f),
            })
        }
    }
}

async fn stop_writer(writer: &WriterHandle) {
    let writer = writer.clone();
    if tokio::task::spawn_blocking(move || writer.stop_and_join())
        .await
        .is_err()
    {
        tracing::warn!("the Raft log writer did not stop");
    }
}

/// Mirrors openraft's metrics into the `baton_raft_*` gauges until Raft
/// stops, and marks the log's health once openraft reports that it stopped
/// on a fatal error (a storage error: the log cannot be written again). The
/// task is aborted before a clean shutdown, so a shutdown is not a fault.
async fn mirror_metrics(
    mut rx: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, BasicNode>>,
    health: LogHealth,
) {
    loop {
        let stopped = {
            let m = rx.borrow_and_update();
            record_raft_metrics(&m);
            m.running_state.as_ref().err().map(|e| e.to_string())
        };
        if let Some(error) = stopped {
            if health.mark(LogFault::Stopped) {
                tracing::error!(%error, "Raft stopped: the call log cannot be written; refusing new calls");
            }
        }
        if rx.changed().await.is_err() {
            if health.mark(LogFault::Stopped) {
                tracing::error!("Raft stopped: the call log cannot be written; refusing new calls");
            }
            return;
        }
    }
}
