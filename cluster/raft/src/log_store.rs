//! The Raft log on redb: [`LogStore`] (openraft's `RaftLogStorage`) and
//! [`LogReader`].
//!
//! # Layout
//!
//! One redb file with two tables: `raft_log` maps a log index to a framed
//! entry ([`crate::codec`]), `raft_meta` holds framed metadata values: the
//! vote, the committed log id, the last purged log id and the node id the
//! directory belongs to.
//!
//! # One writer
//!
//! Every write (append, truncate, purge, vote, committed) goes through one
//! channel to one std thread, the log writer. It takes whatever is queued
//! (up to [`MAX_BATCH`] operations), applies it in order in **one** redb write
//! transaction and commits it; only then does it fire the operations'
//! completions (openraft's [`LogFlushed`] callback for appends). Hence:
//!
//! - writes are serialised in the order openraft issued them (openraft
//!   requires it: a vote and an append must not be reordered);
//! - an append is durable before Raft counts it (redb's default
//!   `Durability::Immediate` fsyncs at commit);
//! - operations queued together share one fsync (group commit).
//!
//! openraft also requires appended entries to be readable as soon as
//! `append` returns, which is before the writer has committed them; those
//! entries wait in an in-memory overlay (`pending`) that readers merge over
//! the table, and the writer drops them from it once committed.
//!
//! If a write transaction fails, the writer refuses every later write
//! (fail-stop): going on could leave a hole in the log.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader, StorageError,
    StorageIOError,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::codec::{
    self, decode_entry, encode_entry, CodecError, FrameKind, LogId, LogIdImage, Vote, VoteImage,
};
use crate::id::NodeId;
use crate::TypeConfig;

/// The most operations the writer folds into one transaction.
pub const MAX_BATCH: usize = 1024;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";
const KEY_NODE_ID: &str = "node_id";

/// Why the log store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb failed (I/O, corruption it detected, a lock).
    #[error("redb: {0}")]
    Database(#[from] redb::Error),
    /// A stored value did not decode.
    #[error("stored {what} is damaged")]
    Codec {
        /// Which value (`log entry`, `vote`, …).
        what: &'static str,
        /// Why it did not decode.
        #[source]
        source: CodecError,
    },
    /// The table holds an entry under the wrong index.
    #[error("log entry stored at index {key} says it is index {index}")]
    Misplaced {
        /// The table key.
        key: u64,
        /// The index inside the entry.
        index: u64,
    },
    /// The data directory was created by another node.
    #[error("this Raft log belongs to node {stored}, not to node {given}")]
    NodeIdMismatch {
        /// The node id recorded in the store.
        stored: NodeId,
        /// The node id given to `open`.
        given: NodeId,
    },
    /// The writer thread could not be started.
    #[error("could not start the log writer thread")]
    Spawn(#[source] io::Error),
    /// The writer thread is gone (the store was shut down).
    #[error("the log writer has stopped")]
    WriterGone,
    /// A write transaction failed; this one, or an earlier one (after which
    /// the writer refuses every write).
    #[error("log write failed")]
    WriteFailed(#[source] Arc<StoreError>),
}

/// Turns redb's per-call error types into [`StoreError`].
trait DbResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> DbResult<T> for Result<T, E> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Database(e.into()))
    }
}

fn codec_err(what: &'static str) -> impl FnOnce(CodecError) -> StoreError {
    move |source| StoreError::Codec { what, source }
}

/// What readers and the writer share.
// Fields drop in declaration order: `db` (closing the file) before
// `on_close`, whose drop tells waiters the file is closed.
struct Shared {
    db: Database,
    /// Appended entries not yet committed by the writer, by index.
    pending: Mutex<BTreeMap<u64, Entry<TypeConfig>>>,
    /// Write transactions committed (how well batching works).
    commits: AtomicU64,
    /// Never sent on; dropped with the database.
    on_close: tokio::sync::watch::Sender<()>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, BTreeMap<u64, Entry<TypeConfig>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (each critical section is one map call), so poisoning is ignored.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Entries in `range`: the table, overlaid with pending appends.
    fn read_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        if range_is_empty(start, end) {
            return Ok(Vec::new());
        }
        // Pending first, then the table: the writer commits before it drops
        // entries from `pending`, so an entry is always in one or the other.
        let pending: Vec<Entry<TypeConfig>> = self
            .pending()
            .range((start, end))
            .map(|(_, e)| e.clone())
            .collect();
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(LOG).db()?;
        let mut out = BTreeMap::new();
        for item in table.range((start, end)).db()? {
            let (key, value) = item.db()?;
            let entry = decode_entry(value.value()).map_err(codec_err("log entry"))?;
            if entry.log_id.index != key.value() {
                return Err(StoreError::Misplaced {
                    key: key.value(),
                    index: entry.log_id.index,
                });
            }
            out.insert(key.value(), entry);
        }
        for entry in pending {
            out.insert(entry.log_id.index, entry);
        }
        Ok(out.into_values().collect())
    }

    /// The id of the last entry below `end`, in the table or pending.
    fn last_log_id_before(&self, end: u64) -> Result<Option<LogId>, StoreError> {
        let pending = self
            .pending()
            .range(..end)
            .next_back()
            .map(|(_, e)| e.log_id);
        if pending.is_some() {
            return Ok(pending);
        }
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(LOG).db()?;
        let last = table.range(..end).db()?.next_back();
        match last {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.db()?;
                let entry = decode_entry(value.value()).map_err(codec_err("log entry"))?;
                Ok(Some(entry.log_id))
            }
        }
    }

    fn read_meta<T>(&self, key: &str, what: &'static str) -> Result<Option<T>, StoreError>
    where
        T: rkyv::Archive,
        T::Archived: for<'a> rkyv::bytecheck::CheckBytes<
                rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>,
            > + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
    {
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(META).db()?;
        let Some(value) = table.get(key).db()? else {
            return Ok(None);
        };
        codec::decode::<T>(FrameKind::Meta, value.value())
            .map(Some)
            .map_err(codec_err(what))
    }
}

fn range_is_empty(start: Bound<u64>, end: Bound<u64>) -> bool {
    let first = match start {
        Bound::Included(s) => s,
        Bound::Excluded(s) => match s.checked_add(1) {
            Some(s) => s,
            None => return true,
        },
        Bound::Unbounded => 0,
    };
    match end {
        Bound::Included(e) => first > e,
        Bound::Excluded(e) => first >= e,
        Bound::Unbounded => false,
    }
}

type Done = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// One request to the writer thread.
enum WriteOp {
    Append {
        /// `(index, log id, frame)` in log order.
        entries: Vec<(u64, LogId, Vec<u8>)>,
        flushed: LogFlushed<TypeConfig>,
    },
    Truncate {
        since: u64,
        done: Done,
    },
    Purge {
        upto: u64,
        frame: Vec<u8>,
        done: Done,
    },
    SaveVote {
        frame: Vec<u8>,
        done: Done,
    },
    SaveCommitted {
        frame: Vec<u8>,
    },
    Stop,
}

/// The log store handed to openraft. Only the Raft core calls it (through
/// `&mut self`), so its cached log state is exact.
pub struct LogStore {
    shared: Arc<Shared>,
    tx: mpsc::Sender<WriteOp>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    last_purged: Option<LogId>,
    last_log: Option<LogId>,
    committed: Option<LogId>,
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("last_purged", &self.last_purged)
            .field("last_log", &self.last_log)
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

/// A read-only view of the log, for openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

impl fmt::Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

/// Stops the writer thread at shutdown and tells when the database file is
/// closed.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<WriteOp>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    shared: Weak<Shared>,
    closed: tokio::sync::watch::Receiver<()>,
}

impl fmt::Debug for WriteOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteOp::Append { entries, .. } => write!(f, "Append({} entries)", entries.len()),
            WriteOp::Truncate { since, .. } => write!(f, "Truncate({since}..)"),
            WriteOp::Purge { upto, .. } => write!(f, "Purge(..={upto})"),
            WriteOp::SaveVote { .. } => write!(f, "SaveVote"),
            WriteOp::SaveCommitted { .. } => write!(f, "SaveCommitted"),
            WriteOp::Stop => write!(f, "Stop"),
        }
    }
}

impl WriterHandle {
    /// Asks the writer to finish what is queued and exit, and waits for it.
    /// Blocking: call it from a blocking context (`spawn_blocking`).
    pub fn stop_and_join(&self) {
        // An error means the writer already exited; joining is still right.
        let _ = self.tx.send(WriteOp::Stop);
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the Raft log writer thread panicked");
            }
        }
    }

    /// Whether the database is closed: the writer, the store and every
    /// reader are gone. A data directory can be reopened only then.
    pub fn is_closed(&self) -> bool {
        self.shared.strong_count() == 0
    }

    /// Waits (up to `timeout`) until the database is closed. openraft's
    /// replication tasks hold log readers and end a moment after Raft
    /// stops; this waits for the last one. Returns whether it closed.
    pub async fn wait_closed(&self, timeout: std::time::Duration) -> bool {
        let mut closed = self.closed.clone();
        // Nothing is ever sent: `changed` returns only once the sender, and
        // so the database before it, is dropped.
        let dropped = async { while closed.changed().await.is_ok() {} };
        tokio::time::timeout(timeout, dropped).await.is_ok()
    }
}

impl LogStore {
    /// Opens (or creates) the log at `path` for node `node_id`, and starts
    /// the writer thread.
    ///
    /// Refuses a store created by another node: a node id is its Raft
    /// identity, and two identities on one log would break Raft's safety.
    pub fn open(path: &Path, node_id: NodeId) -> Result<Self, StoreError> {
        let shared = Arc::new(open_shared(path, node_id)?);
        let last_purged = shared
            .read_meta::<LogIdImage>(KEY_PURGED, "purged log id")?
            .map(LogIdImage::into_log_id);
        let committed = shared
            .read_meta::<LogIdImage>(KEY_COMMITTED, "committed log id")?
            .map(LogIdImage::into_log_id);
        let last_log = shared.last_log_id_before(u64::MAX)?.or(last_purged);

        let (tx, rx) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("baton-raft-log".into())
            .spawn(move || run_writer(&writer_shared, &rx))
            .map_err(StoreError::Spawn)?;
        Ok(LogStore {
            shared,
            tx,
            writer: Arc::new(Mutex::new(Some(handle))),
            last_purged,
            last_log,
            committed,
        })
    }

    /// Write transactions the writer has committed so far. Fewer commits
    /// than write operations means batching is at work.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// A handle to stop the writer at shutdown.
    pub fn writer_handle(&self) -> WriterHandle {
        WriterHandle {
            tx: self.tx.clone(),
            writer: Arc::clone(&self.writer),
            shared: Arc::downgrade(&self.shared),
            closed: self.shared.on_close.subscribe(),
        }
    }

    /// Sends `op` built around a completion, and waits for the writer to
    /// commit it.
    async fn write_and_wait(&self, op: impl FnOnce(Done) -> WriteOp) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx.send(op(done)).map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::WriteFailed(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

fn io_error(e: StoreError) -> io::Error {
    io::Error::other(e)
}

fn storage_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: &StoreError,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

fn to_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let (start, end) = to_bounds(&range);
        self.shared
            .read_range(start, end)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let (start, end) = to_bounds(&range);
        self.shared
            .read_range(start, end)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        Ok(LogState {
            last_purged_log_id: self.last_purged,
            last_log_id: self.last_log,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError<NodeId>> {
        let to_err = |e: &StoreError| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e);
        let frame = codec::encode(FrameKind::Meta, &VoteImage::from_vote(vote))
            .map_err(codec_err("vote"))
            .map_err(|e| to_err(&e))?;
        // Raft's safety rests on a vote never being forgotten: wait for the
        // durable commit.
        self.write_and_wait(|done| WriteOp::SaveVote { frame, done })
            .await
            .map_err(|e| to_err(&e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError<NodeId>> {
        self.shared
            .read_meta::<VoteImage>(KEY_VOTE, "vote")
            .map(|v| v.map(VoteImage::into_vote))
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Read, &e))
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId>,
    ) -> Result<(), StorageError<NodeId>> {
        let to_err = |e: &StoreError| storage_error(ErrorSubject::Store, ErrorVerb::Write, e);
        self.committed = committed;
        let Some(committed) = committed else {
            return Ok(());
        };
        let frame = codec::encode(FrameKind::Meta, &LogIdImage::from_log_id(&committed))
            .map_err(codec_err("committed log id"))
            .map_err(|e| to_err(&e))?;
        // Not waited for, and not fsynced on its own (see the writer): the
        // committed id only lets a restart re-apply entries before electing;
        // losing the latest one costs nothing but a later re-apply, because
        // a leader re-commits its log.
        self.tx
            .send(WriteOp::SaveCommitted { frame })
            .map_err(|_| to_err(&StoreError::WriterGone))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(self.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            let frame = encode_entry(entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            encoded.push((entry.log_id.index, entry.log_id, frame));
        }
        {
            let mut pending = self.shared.pending();
            for entry in entries {
                pending.insert(entry.log_id.index, entry);
            }
        }
        self.last_log = Some(last);
        self.tx
            .send(WriteOp::Append {
                entries: encoded,
                flushed: callback,
            })
            .map_err(|_| StorageIOError::write_logs(AnyError::new(&StoreError::WriterGone)))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let to_err = |e: &StoreError| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e);
        let since = log_id.index;
        // Truncated entries must not be readable once this returns: drop the
        // pending ones now and wait for the table.
        drop(self.shared.pending().split_off(&since));
        self.write_and_wait(|done| WriteOp::Truncate { since, done })
            .await
            .map_err(|e| to_err(&e))?;
        self.last_log = self
            .shared
            .last_log_id_before(since)
            .map_err(|e| to_err(&e))?
            .or(self.last_purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let to_err = |e: &StoreError| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e);
        let upto = log_id.index;
        let frame = codec::encode(FrameKind::Meta, &LogIdImage::from_log_id(&log_id))
            .map_err(codec_err("purged log id"))
            .map_err(|e| to_err(&e))?;
        {
            let mut pending = self.shared.pending();
            let keep = pending.split_off(&upto.saturating_add(1));
            *pending = keep;
        }
        self.write_and_wait(|done| WriteOp::Purge { upto, frame, done })
            .await
            .map_err(|e| to_err(&e))?;
        self.last_purged = Some(log_id);
        if self.last_log < Some(log_id) {
            self.last_log = Some(log_id);
        }
        Ok(())
    }
}

/// Opens the database, creates both tables and claims it for `node_id`, in
/// one durable commit.
fn open_shared(path: &Path, node_id: NodeId) -> Result<Shared, StoreError> {
    let db = Database::create(path).db()?;
    let txn = db.begin_write().db()?;
    {
        txn.open_table(LOG).db()?;
        let mut meta = txn.open_table(META).db()?;
        let stored = match meta.get(KEY_NODE_ID).db()? {
            Some(v) => Some(
                codec::decode::<NodeId>(FrameKind::Meta, v.value())
                    .map_err(codec_err("node id"))?,
            ),
            None => None,
        };
        match stored {
            Some(stored) if stored != node_id => {
                return Err(StoreError::NodeIdMismatch {
                    stored,
                    given: node_id,
                })
            }
            Some(_) => {}
            None => {
                let frame =
                    codec::encode(FrameKind::Meta, &node_id).map_err(codec_err("node id"))?;
                meta.insert(KEY_NODE_ID, frame.as_slice()).db()?;
            }
        }
    }
    txn.commit().db()?;
    Ok(Shared {
        db,
        pending: Mutex::new(BTreeMap::new()),
        commits: AtomicU64::new(0),
        on_close: tokio::sync::watch::channel(()).0,
    })
}

/// The writer thread: batches, commits, then completes.
fn run_writer(shared: &Shared, rx: &mpsc::Receiver<WriteOp>) {
    let mut failed: Option<Arc<StoreError>> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // Operations queued after a Stop are dropped: their completions
        // report `WriterGone`.
        let stop = batch.iter().position(|op| matches!(op, WriteOp::Stop));
        if let Some(at) = stop {
            batch.truncate(at);
        }
        let result = match &failed {
            Some(e) => Err(Arc::clone(e)),
            None => commit_batch(&shared.db, &batch).map_err(Arc::new),
        };
        if result.is_ok() && !batch.is_empty() {
            shared.commits.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "Raft log write failed; refusing further writes");
            failed = Some(Arc::clone(e));
        }
        complete(shared, batch, &result);
        if stop.is_some() {
            return;
        }
    }
}

fn commit_batch(db: &Database, batch: &[WriteOp]) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut txn = db.begin_write().db()?;
    // A batch that only moves the committed id need not be fsynced: the
    // next durable commit carries it, and a clean close makes it durable.
    let only_committed = batch
        .iter()
        .all(|op| matches!(op, WriteOp::SaveCommitted { .. }));
    if only_committed {
        txn.set_durability(Durability::None).db()?;
    }
    {
        let mut log = txn.open_table(LOG).db()?;
        let mut meta = txn.open_table(META).db()?;
        for op in batch {
            match op {
                WriteOp::Append { entries, .. } => {
                    for (index, _, frame) in entries {
                        log.insert(*index, frame.as_slice()).db()?;
                    }
                }
                WriteOp::Truncate { since, .. } => {
                    log.retain_in(*since.., |_, _| false).db()?;
                }
                WriteOp::Purge { upto, frame, .. } => {
                    log.retain_in(..=*upto, |_, _| false).db()?;
                    meta.insert(KEY_PURGED, frame.as_slice()).db()?;
                }
                WriteOp::SaveVote { frame, .. } => {
                    meta.insert(KEY_VOTE, frame.as_slice()).db()?;
                }
                WriteOp::SaveCommitted { frame } => {
                    meta.insert(KEY_COMMITTED, frame.as_slice()).db()?;
                }
                WriteOp::Stop => {}
            }
        }
    }
    txn.commit().db()
}

fn complete(shared: &Shared, batch: Vec<WriteOp>, result: &Result<(), Arc<StoreError>>) {
    for op in batch {
        match op {
            WriteOp::Append { entries, flushed } => match result {
                Ok(()) => {
                    {
                        let mut pending = shared.pending();
                        for (index, log_id, _) in &entries {
                            // Only if still the same entry: a truncate and
                            // re-append may have replaced it meanwhile.
                            if pending.get(index).is_some_and(|e| e.log_id == *log_id) {
                                pending.remove(index);
                            }
                        }
                    }
                    flushed.log_io_completed(Ok(()));
                }
                Err(e) => {
                    flushed.log_io_completed(Err(io_error(StoreError::WriteFailed(Arc::clone(e)))))
                }
            },
            WriteOp::Truncate { done, .. }
            | WriteOp::Purge { done, .. }
            | WriteOp::SaveVote { done, .. } => {
                // The waiter may have given up (its task was cancelled).
                let _ = done.send(result.clone());
            }
            WriteOp::SaveCommitted { .. } | WriteOp::Stop => {}
        }
    }
}

#[cfg(test)]
mod tests;
