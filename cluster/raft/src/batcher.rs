//! The batcher: a background task that turns a stream of [`Command`]s into
//! few, large log entries, for callers that must not wait for an fsync.
//!
//! ```text
//!  callers ── try_send / send ──▶ bounded queue ──▶ batcher task
//!  (BatchSender, cloned)          (capacity)        │ takes all queued, ≤ max_batch
//!                                                   ▼
//!                                        propose_batch: one entry, one fsync
//! ```
//!
//! While one batch is being written, the commands that arrive meanwhile
//! queue up and go together into the next one (group commit): the busier
//! the node, the larger the batches, and the fsync cost is shared by all of
//! them. Commands are written in the order they were queued, so the
//! commands each caller sends about a call are applied in its order.
//!
//! A full queue is refused at once ([`EnqueueError::Full`]) rather than
//! grown, so that the node can turn new calls away under overload.

use openraft::Raft;
use tokio::sync::mpsc;

use crate::cluster_node::{write_batch, ProposeError};
use crate::command::Command;
use crate::metrics as m;
use crate::TypeConfig;

/// Default for [`BatcherOptions::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Default for [`BatcherOptions::capacity`].
pub const DEFAULT_BATCHER_CAPACITY: usize = 8192;

/// How a batcher batches. [`BatcherOptions::default`] gives
/// [`DEFAULT_MAX_BATCH`] and [`DEFAULT_BATCHER_CAPACITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherOptions {
    /// The most commands in one log entry (at least 1).
    pub max_batch: usize,
    /// The most commands waiting in the queue (at least 1); past it
    /// [`BatchSender::try_send`] answers [`EnqueueError::Full`].
    pub capacity: usize,
}

impl Default for BatcherOptions {
    fn default() -> Self {
        BatcherOptions {
            max_batch: DEFAULT_MAX_BATCH,
            capacity: DEFAULT_BATCHER_CAPACITY,
        }
    }
}

/// Why a command was not queued. Either way the command comes back.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The queue holds [`BatcherOptions::capacity`] commands already: the
    /// log is not keeping up. Refuse the work that needs the command (a new
    /// call) rather than wait.
    #[error("the Raft batcher's queue is full")]
    Full(Box<Command>),
    /// The batcher has stopped (Raft stopped, or the task ended).
    #[error("the Raft batcher has stopped")]
    Closed(Box<Command>),
}

impl EnqueueError {
    /// The command that was not queued.
    pub fn into_command(self) -> Command {
        match self {
            EnqueueError::Full(c) | EnqueueError::Closed(c) => *c,
        }
    }
}

/// What a batcher did, returned by its task when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatcherReport {
    /// Log entries committed.
    pub batches: u64,
    /// Commands committed (applied or rejected by the table).
    pub committed: u64,
    /// Of the committed commands, those the call table refused.
    pub rejected: u64,
    /// Commands not committed: in a batch whose proposal failed, or still
    /// queued when Raft stopped.
    pub failed: u64,
}

impl BatcherReport {
    /// Whether every command queued was committed (some may still have been
    /// refused by the table: see [`BatcherReport::rejected`]).
    pub fn all_written(&self) -> bool {
        self.failed == 0
    }
}

/// The sending half of a batcher ([`crate::ClusterNode::batcher`]). Cheap
/// to clone; the batcher ends once every clone is dropped and the queue is
/// written.
#[derive(Debug, Clone)]
pub struct BatchSender {
    tx: mpsc::Sender<Command>,
}

impl BatchSender {
    /// Queues `command` without waiting: [`EnqueueError::Full`] if the
    /// queue is full, [`EnqueueError::Closed`] if the batcher has stopped.
    pub fn try_send(&self, command: Command) -> Result<(), EnqueueError> {
        self.tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(c) => EnqueueError::Full(Box::new(c)),
            mpsc::error::TrySendError::Closed(c) => EnqueueError::Closed(Box::new(c)),
        })
    }

    /// Queues `command`, waiting for room if the queue is full. Fails only
    /// with [`EnqueueError::Closed`].
    pub async fn send(&self, command: Command) -> Result<(), EnqueueError> {
        self.tx
            .send(command)
            .await
            .map_err(|e| EnqueueError::Closed(Box::new(e.0)))
    }

    /// Commands queued now (not yet taken into a batch).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the batcher has stopped taking commands.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Starts the batcher task on the current runtime.
pub(crate) fn spawn(
    raft: Raft<TypeConfig>,
    options: BatcherOptions,
) -> (BatchSender, tokio::task::JoinHandle<BatcherReport>) {
    let (tx, rx) = mpsc::channel(options.capacity.max(1));
    let task = tokio::spawn(run(raft, rx, options.max_batch.max(1)));
    (BatchSender { tx }, task)
}

async fn run(
    raft: Raft<TypeConfig>,
    mut rx: mpsc::Receiver<Command>,
    max_batch: usize,
) -> BatcherReport {
    let mut report = BatcherReport::default();
    let mut batch = Vec::with_capacity(max_batch);
    // Waits for one command, then takes whatever else is queued; 0 once
    // every sender is gone and the queue is empty.
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        metrics::gauge!(m::QUEUE_DEPTH).set(rx.len() as f64);
        let commands = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
        let count = commands.len() as u64;
        match write_batch(&raft, commands).await {
            Ok(results) => {
                report.batches += 1;
                report.committed += count;
                report.rejected += results.iter().filter(|r| r.is_err()).count() as u64;
            }
            Err(e) => {
                // Counted in `baton_raft_proposals_total{result="failed"}`
                // by `write_batch`.
                report.failed += count;
                tracing::error!(error = %e, detail = ?e, commands = count, "a batch of call commands was not committed");
                if matches!(e, ProposeError::Stopped(_)) {
                    // Nothing will be written again: refuse new commands,
                    // and count what is queued as failed.
                    rx.close();
                    let mut dropped = 0u64;
                    while rx.try_recv().is_ok() {
                        dropped += 1;
                    }
                    if dropped > 0 {
                        metrics::counter!(m::PROPOSALS, "result" => "failed").increment(dropped);
                        tracing::error!(
                            commands = dropped,
                            "Raft stopped: queued call commands dropped"
                        );
                    }
                    report.failed += dropped;
                    break;
                }
            }
        }
    }
    metrics::gauge!(m::QUEUE_DEPTH).set(0.0);
    if report.all_written() {
        tracing::debug!(?report, "the Raft batcher stopped");
    } else {
        tracing::warn!(
            ?report,
            "the Raft batcher stopped; some commands were not written"
        );
    }
    report
}
