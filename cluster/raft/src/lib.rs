//! Baton's replicated call log: every call's state lives in a Raft log, so
//! that when a node dies mid-call (or mid-handover) another node can take
//! the call over from the replicated state.
//!
//! Built on openraft `=0.9.25` with its `storage-v2` API, in the shape of
//! openraft's own examples: a pure state machine, and storage and network
//! plugged in through small traits.
//!
//! ```text
//!  node (crates/node)  propose_batch(Vec<Command>) ─┐  read(|table| …)
//!   or BatchSender::try_send ─▶ batcher task ───────┤         ▲
//!                                                   ▼         │
//!  ┌─ ClusterNode ───────────────────────────────────────────┼───────────┐
//!  │ openraft Raft<TypeConfig>  (engine + runtime, tokio)    │           │
//!  │    │ append / vote / purge       │ apply(entries)       │           │
//!  │    ▼                             ▼                      │           │
//!  │ LogStore ── channel ──▶ writer   CallStateMachine ──▶ CallTable     │
//!  │ (redb, raft-log.redb)   thread   (snapshots/current.snapshot)       │
//!  │    │ RPCs to peers: PeerNetwork (OneNode today, QUIC later)         │
//!  └────┴───────────────────────────────────────────────────────────────┘
//! ```
//!
//! - [`CallTable`] is the state machine proper: pure, deterministic, no
//!   I/O and no clock (times come inside the [`Command`]s). Every command
//!   gets a typed [`ApplyResult`]; invalid transitions are [`Rejection`]s,
//!   never panics.
//! - [`codec`] frames every stored value: magic, version, length, CRC-32,
//!   then an rkyv archive checked by `bytecheck`.
//! - [`LogStore`] is openraft's `RaftLogStorage` on redb, with one writer
//!   thread; [`CallStateMachine`] is its `RaftStateMachine`, with snapshot
//!   files.
//! - [`PeerNetwork`] is the port to other nodes; [`OneNode`] is the
//!   one-node network.
//! - [`ClusterNode`] wires it together.
//!
//! # Batching
//!
//! A log entry carries a [`Proposal`]: a batch of commands, applied in order
//! under one write lock, each answered with its own [`ApplyResult`]. openraft
//! 0.9 waits for the fsync of each entry it appends before it takes the next
//! client write, so the log commits a few hundred *entries* per second; to
//! carry thousands of call setups per second (about four commands each),
//! commands must share entries. [`ClusterNode::propose_batch`] writes a
//! caller's batch as one entry; [`ClusterNode::propose`] is a one-command
//! batch; [`ClusterNode::batcher`] starts a background task that gathers
//! the commands queued by many callers (through a bounded, non-blocking
//! [`BatchSender`]) into one entry per fsync; a command queued with
//! [`BatchSender::try_send_notified`] keeps its place in that order and
//! its [`Notify`] callback hears the table's answer once it is applied.
//!
//! This crate imports no SIP crate: commands carry plain strings and
//! numbers, and only `crates/node` translates dialogs into them.
//!
//! # The run loop
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use baton_raft::{CallId, ClusterNode, Command, NodeId, OneNode};
//!
//! // 1. Open: log + last snapshot, Raft started, one-node cluster formed on
//! //    the first start only, leader elected, whole log applied.
//! let node = ClusterNode::open(NodeId(1), "./baton-data", OneNode).await?;
//!
//! // 2. Each change to a call: propose, and act once it is applied. An
//! //    `Err` is a failure to commit; `Ok(Err(rejection))` is a committed
//! //    command the table refused (stale, duplicate with other contents…).
//! let created = node
//!     .propose(Command::CallCreated {
//!         call: CallId(7),
//!         anchor: node.id(),
//!         created_at_ms: 1_700_000_000_000,
//!         caller_aor: "sip:alice@example.com".into(),
//!         callee_aor: "sip:bob@example.com".into(),
//!     })
//!     .await?;
//! assert!(created.is_ok());
//!
//! // 3. Several commands at once: one log entry, one fsync, one answer
//! //    per command in order (here: a duplicate, then an unknown call).
//! let answers = node
//!     .propose_batch(vec![
//!         Command::CallCreated {
//!             call: CallId(7),
//!             anchor: node.id(),
//!             created_at_ms: 1_700_000_000_000,
//!             caller_aor: "sip:alice@example.com".into(),
//!             callee_aor: "sip:bob@example.com".into(),
//!         },
//!         Command::CallAdopted { call: CallId(8), by: node.id(), at_ms: 1_700_000_000_001 },
//!     ])
//!     .await?;
//! assert!(answers[0].is_ok() && answers[1].is_err());
//!
//! // 4. Queries read the local table.
//! let active = node.read(|table| table.active_calls().count());
//! assert_eq!(active, 1);
//!
//! // 5. Or never wait: queue commands for the batcher, which writes all that
//! //    is queued in one entry per fsync. A full queue refuses at once.
//! let (sender, batcher) = node.batcher(baton_raft::BatcherOptions::default());
//! if let Err(baton_raft::EnqueueError::Full(_)) = sender.try_send(Command::CallEnded {
//!     call: CallId(7),
//!     reason: baton_raft::EndReason::Timeout,
//!     ended_at_ms: 1_700_000_060_000,
//! }) {
//!     // Overloaded: refuse new calls.
//! }
//!
//! // 6. Stop: drop the senders and wait for the batcher to write what is
//! //    queued, then Raft, then the log writer; the directory can be
//! //    reopened.
//! drop(sender);
//! assert!(batcher.await?.all_written());
//! node.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Durability contract
//!
//! - **A `propose` (or `propose_batch`) that returns `Ok` is on disk** (on
//!   a quorum's disks, in a multi-node cluster). The entry was written by
//!   the log writer in a redb transaction committed with
//!   `Durability::Immediate` (redb fsyncs its file at commit) before
//!   openraft's `LogFlushed` callback fired; openraft counts an entry
//!   towards commit only after that callback, and applies it only after
//!   committing. A crash any time after `Ok` loses nothing; a crash before
//!   it may or may not keep the command (the caller retries, and the
//!   table's idempotence absorbs the duplicate). A batch is one entry: it
//!   is kept or lost whole. A command given to the batcher is durable only
//!   once the batcher's proposal returns; a crash loses what was queued.
//! - **Votes are fsynced before `save_vote` returns**, as Raft requires.
//! - **Truncations and purges** are committed durably before they return.
//! - The **committed index** is written without its own fsync (it rides the
//!   next durable commit, and a clean close makes it durable). Losing it in
//!   a crash only delays re-applying entries until the node leads again.
//! - **The table itself is not written on apply.** It is rebuilt at start
//!   from the last snapshot plus the log. A snapshot is a file written to a
//!   temporary name, fsynced, renamed over `current.snapshot`, and the
//!   directory fsynced; openraft purges the log entries a snapshot covers
//!   only after that.
//! - **Damage is refused, not guessed around:** a log entry, metadata value
//!   or snapshot whose frame fails its magic, version, length or CRC check
//!   yields a typed error ([`CodecError`] inside [`StoreError`] or
//!   [`SnapshotError`]), and `open` fails rather than start from a table it
//!   cannot trust.
//!
//! # Metrics
//!
//! See [`metrics`]: `baton_raft_append_seconds` (propose to applied, per
//! entry), `baton_raft_batch_size` (commands per entry),
//! `baton_raft_proposals_total{result}` (per command), and the gauges
//! `baton_raft_queue_depth` (the batcher's queue), `baton_raft_term`,
//! `baton_raft_last_log_index`, `baton_raft_last_applied_index`,
//! `baton_raft_is_leader`.

#![deny(missing_docs)]

/// The openraft this crate is built on (`=0.9.25`), re-exported so that
/// users name the very types in this API (`RaftRpc` carries openraft's
/// messages) without pinning it a second time.
pub use openraft;

mod batcher;
mod call_table;
mod cluster_node;
pub mod codec;
mod command;
mod health;
mod id;
mod log_store;
pub mod metrics;
mod network;
mod snapshot;
mod state_machine;

pub use batcher::{
    BatchSender, BatcherOptions, BatcherReport, EnqueueError, NotCommitted, Notify,
    DEFAULT_BATCHER_CAPACITY, DEFAULT_MAX_BATCH,
};
pub use call_table::{
    Abandoned, AnchorChange, ApplyResult, CSeqSide, CallRecord, CallTable, Decided, Ending,
    HandoverRecord, Leg, Outcome, Rejection,
};
pub use cluster_node::{
    ClusterNode, NodeOptions, OpenError, ProposeError, ShutdownError, SnapshotNowError,
    DEFAULT_DATA_DIR, LOG_FILE, SNAPSHOT_DIR,
};
pub use codec::CodecError;
pub use command::{
    AbandonReason, Command, DialogRecord, EndReason, HandoverDecision, LegRole, LegUpdate,
    MediaRecord, Proposal,
};
pub use health::{LogFault, LogHealth};
pub use id::{CallId, HandoverId, NodeId};
pub use log_store::{LogReader, LogStore, StoreError, WriterHandle, MAX_BATCH};
pub use network::{OneNode, PeerError, PeerNetwork, RaftReply, RaftRpc, RpcKind};
pub use snapshot::{read_snapshot_file, LoadedSnapshot, SnapshotError, SNAPSHOT_FILE};
pub use state_machine::{CallSnapshotBuilder, CallStateMachine};

openraft::declare_raft_types!(
    /// openraft's type configuration for Baton's call log: one
    /// [`Proposal`] (a batch of [`Command`]s) per log entry in, one
    /// [`ApplyResult`] per command (in order) out, [`NodeId`]s, nodes
    /// addressed by a string, and snapshots moved as in-memory byte buffers
    /// (a call table is small).
    pub TypeConfig:
        D = Proposal,
        R = Vec<ApplyResult>,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);
