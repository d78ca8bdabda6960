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
//! grown, so that the node can turn new calls away under overload. Before
//! it is full, past its high-water mark ([`BatchSender::is_backlogged`]),
//! the node already turns new work away, so that the commands of calls
//! already up still find room.
//!
//! A batch that is not committed marks the cluster node's [`LogHealth`]
//! (sticky when Raft stopped: a storage error), and a committed one clears
//! a transient mark.
//!
//! A caller that must act only once its command is committed (a handover
//! step) queues it with [`BatchSender::try_send_notified`]: the command
//! keeps its place in the queue, behind what the caller queued before, and
//! the batcher calls the caller's [`Notify`] once with the table's answer
//! after the batch is committed and applied, or with [`NotCommitted`].
//! Plain [`BatchSender::try_send`] carries no callback and allocates
//! nothing per command.

use openraft::Raft;
use tokio::sync::mpsc;

use crate::call_table::ApplyResult;
use crate::cluster_node::{write_batch, ProposeError};
use crate::command::Command;
use crate::health::{LogFault, LogHealth};
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

/// Called once by the batcher with what became of a command queued by
/// [`BatchSender::try_send_notified`]: `Ok` with the table's answer once
/// its batch is committed and applied (an `Ok(Err(rejection))` is a
/// committed command the table refused), `Err` if it never will be. It
/// runs on the batcher's task (or on the sender's, when the command is not
/// queued): keep it short, e.g. send on a channel, and do not panic (a
/// panic ends the batcher).
pub type Notify = Box<dyn FnOnce(Result<ApplyResult, NotCommitted>) + Send + 'static>;

/// Why a command queued with a [`Notify`] was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotCommitted {
    /// Not queued: the queue was full ([`EnqueueError::Full`]).
    #[error("the Raft batcher's queue is full")]
    QueueFull,
    /// Not queued: the batcher had stopped ([`EnqueueError::Closed`]).
    #[error("the Raft batcher has stopped")]
    Closed,
    /// Its batch's proposal failed (this node is not the leader, …); the
    /// batcher logs the error.
    #[error("the batch's proposal failed")]
    ProposalFailed,
    /// Raft stopped (or the batcher ended) before the command was written.
    #[error("Raft stopped before the command was written")]
    Stopped,
}

/// A [`Notify`] that answers [`NotCommitted::Stopped`] if it is dropped
/// uncalled (the batcher task aborted with it queued), so that it is
/// called exactly once whatever happens.
struct Notifier(Option<Notify>);

impl Notifier {
    fn call(mut self, result: Result<ApplyResult, NotCommitted>) {
        if let Some(notify) = self.0.take() {
            notify(result);
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(notify) = self.0.take() {
            notify(Err(NotCommitted::Stopped));
        }
    }
}

/// One queued command, with its caller's callback if it asked for one.
struct Queued {
    command: Command,
    notify: Option<Notifier>,
}

impl Queued {
    fn fail(self, why: NotCommitted) -> Box<Command> {
        if let Some(notify) = self.notify {
            notify.call(Err(why));
        }
        Box::new(self.command)
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
#[derive(Clone)]
pub struct BatchSender {
    tx: mpsc::Sender<Queued>,
    /// Queued commands at which [`BatchSender::is_backlogged`] turns true.
    high_water: usize,
    health: LogHealth,
}

impl std::fmt::Debug for BatchSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSender")
            .field("queued", &self.queued())
            .field("closed", &self.is_closed())
            .field("high_water", &self.high_water)
            .field("fault", &self.health.fault())
            .finish()
    }
}

impl BatchSender {
    /// Queues `command` without waiting: [`EnqueueError::Full`] if the
    /// queue is full, [`EnqueueError::Closed`] if the batcher has stopped.
    pub fn try_send(&self, command: Command) -> Result<(), EnqueueError> {
        self.enqueue(Queued {
            command,
            notify: None,
        })
    }

    /// Queues `command` like [`BatchSender::try_send`] (in the same queue,
    /// so after every command queued before it), and has the batcher call
    /// `notify` once its batch is committed and applied, with the table's
    /// answer. `notify` is called exactly once: with
    /// [`NotCommitted::QueueFull`] or [`NotCommitted::Closed`] before this
    /// returns the matching [`EnqueueError`] when the command is not
    /// queued, with [`NotCommitted::ProposalFailed`] or
    /// [`NotCommitted::Stopped`] when its batch is not committed.
    pub fn try_send_notified(&self, command: Command, notify: Notify) -> Result<(), EnqueueError> {
        self.enqueue(Queued {
            command,
            notify: Some(Notifier(Some(notify))),
        })
    }

    fn enqueue(&self, queued: Queued) -> Result<(), EnqueueError> {
        self.tx.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(q) => {
                EnqueueError::Full(q.fail(NotCommitted::QueueFull))
            }
            mpsc::error::TrySendError::Closed(q) => {
                EnqueueError::Closed(q.fail(NotCommitted::Closed))
            }
        })
    }

    /// Queues `command`, waiting for room if the queue is full. Fails only
    /// with [`EnqueueError::Closed`].
    pub async fn send(&self, command: Command) -> Result<(), EnqueueError> {
        self.tx
            .send(Queued {
                command,
                notify: None,
            })
            .await
            .map_err(|e| EnqueueError::Closed(Box::new(e.0.command)))
    }

    /// Commands queued now (not yet taken into a batch).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the batcher has stopped taking commands.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether the queue has reached its high-water mark (three quarters
    /// of [`BatcherOptions::capacity`]): the log is falling behind, and new
    /// work (a new call) should be refused now, while the commands of the
    /// work already admitted still find room.
    pub fn is_backlogged(&self) -> bool {
        self.queued() >= self.high_water
    }

    /// The health of the log this batcher writes to (shared with its
    /// [`crate::ClusterNode`]).
    pub fn health(&self) -> &LogHealth {
        &self.health
    }
}

/// The high-water mark of a queue of `capacity`: three quarters of it, at
/// least one.
fn high_water(capacity: usize) -> usize {
    (capacity - capacity / 4).max(1)
}

/// Starts the batcher task on the current runtime.
pub(crate) fn spawn(
    raft: Raft<TypeConfig>,
    options: BatcherOptions,
    health: LogHealth,
) -> (BatchSender, tokio::task::JoinHandle<BatcherReport>) {
    let capacity = options.capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let task = tokio::spawn(run(raft, rx, options.max_batch.max(1), health.clone()));
    let sender = BatchSender {
        tx,
        high_water: high_water(capacity),
        health,
    };
    (sender, task)
}

async fn run(
    raft: Raft<TypeConfig>,
    mut rx: mpsc::Receiver<Queued>,
    max_batch: usize,
    health: LogHealth,
) -> BatcherReport {
    let mut report = BatcherReport::default();
    let mut batch = Vec::with_capacity(max_batch);
    // The callbacks of the batch being written, with their command's index.
    let mut notifies: Vec<(usize, Notifier)> = Vec::new();
    // Waits for one command, then takes whatever else is queued; 0 once
    // every sender is gone and the queue is empty.
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        metrics::gauge!(m::QUEUE_DEPTH).set(rx.len() as f64);
        let mut commands = Vec::with_capacity(batch.len());
        for (i, queued) in batch.drain(..).enumerate() {
            commands.push(queued.command);
            if let Some(notify) = queued.notify {
                notifies.push((i, notify));
            }
        }
        let count = commands.len() as u64;
        match write_batch(&raft, commands).await {
            Ok(results) => {
                health.committed();
                report.batches += 1;
                report.committed += count;
                report.rejected += results.iter().filter(|r| r.is_err()).count() as u64;
                for (i, notify) in notifies.drain(..) {
                    notify.call(results.get(i).cloned().ok_or(NotCommitted::ProposalFailed));
                }
            }
            Err(e) => {
                let (why, fault) = if matches!(e, ProposeError::Stopped(_)) {
                    (NotCommitted::Stopped, LogFault::Stopped)
                } else {
                    (NotCommitted::ProposalFailed, LogFault::ProposalFailed)
                };
                // Before the callers hear `false`: whoever reacts to it
                // sees the log marked.
                health.mark(fault);
                for (_, notify) in notifies.drain(..) {
                    notify.call(Err(why));
                }
                // Counted in `baton_raft_proposals_total{result="failed"}`
                // by `write_batch`.
                report.failed += count;
                tracing::error!(error = %e, detail = ?e, commands = count, "a batch of call commands was not committed");
                if matches!(e, ProposeError::Stopped(_)) {
                    // Nothing will be written again: refuse new commands,
                    // and count what is queued as failed.
                    rx.close();
                    let mut dropped = 0u64;
                    while let Ok(queued) = rx.try_recv() {
                        queued.fail(NotCommitted::Stopped);
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
