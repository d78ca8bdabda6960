//! openraft's `RaftStateMachine` over the [`CallTable`]:
//! [`CallStateMachine`] and its [`CallSnapshotBuilder`].
//!
//! The table lives in memory; what makes it durable is the log plus
//! snapshots (openraft's "persistent snapshot" model). `apply` only changes
//! memory. At start the table is loaded from the last snapshot, and openraft
//! re-applies the log entries after it (up to the saved committed id, then
//! the rest once the node leads again).

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::{fmt, path::Path};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};

use crate::call_table::{ApplyResult, CallTable};
use crate::codec::LogId;
use crate::id::NodeId;
use crate::snapshot::{SnapshotError, SnapshotImage, SnapshotMetaImage, SnapshotStore};
use crate::TypeConfig;

/// The applied state: the table and the Raft position it reflects.
#[derive(Debug, Default, Clone)]
pub(crate) struct Applied {
    pub(crate) table: CallTable,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) last_membership: StoredMembership<NodeId, BasicNode>,
}

/// The applied state, shared between the state machine (which openraft
/// owns) and the node's readers.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedApplied(Arc<RwLock<Applied>>);

impl SharedApplied {
    // Apply never panics while holding the lock (the table answers every
    // command with a value), so a poisoned lock still holds a whole table.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Applied> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The call table as an openraft state machine, with its snapshot
/// directory.
pub struct CallStateMachine {
    applied: SharedApplied,
    snapshots: Arc<SnapshotStore>,
    snapshot_seq: Arc<AtomicU64>,
}

impl fmt::Debug for CallStateMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let applied = self.applied.read();
        f.debug_struct("CallStateMachine")
            .field("last_applied", &applied.last_applied)
            .field("calls", &applied.table.len())
            .finish_non_exhaustive()
    }
}

impl CallStateMachine {
    /// Opens the snapshot directory `dir` (creating it) and loads the table
    /// from its current snapshot. A damaged snapshot is refused with
    /// [`SnapshotError::Damaged`]; the node must not start from a table it
    /// cannot trust.
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let (snapshots, loaded) = SnapshotStore::open(dir)?;
        let applied = match loaded {
            Some(s) => Applied {
                table: s.table,
                last_applied: s.meta.last_log_id,
                last_membership: s.meta.last_membership,
            },
            None => Applied::default(),
        };
        Ok(CallStateMachine {
            applied: SharedApplied(Arc::new(RwLock::new(applied))),
            snapshots: Arc::new(snapshots),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn shared(&self) -> SharedApplied {
        self.applied.clone()
    }

    /// Reads the table (for tests and tools; a node reads through
    /// [`crate::ClusterNode::read`]).
    pub fn with_table<R>(&self, f: impl FnOnce(&CallTable) -> R) -> R {
        f(&self.applied.read().table)
    }
}

fn snapshot_error(
    meta: Option<&SnapshotMeta<NodeId, BasicNode>>,
    write: bool,
    e: &SnapshotError,
) -> StorageError<NodeId> {
    let signature = meta.map(SnapshotMeta::signature);
    let source = AnyError::new(e);
    if write {
        StorageIOError::write_snapshot(signature, source).into()
    } else {
        StorageIOError::read_snapshot(signature, source).into()
    }
}

/// Writes `image` as the current snapshot on a blocking thread.
async fn save(
    store: &Arc<SnapshotStore>,
    bytes: Vec<u8>,
    last_log_id: Option<LogId>,
    only_if_newer: bool,
) -> Result<Vec<u8>, SnapshotError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        store
            .save(&bytes, last_log_id, only_if_newer)
            .map(|_| bytes)
    })
    .await
    .map_err(SnapshotError::TaskFailed)?
}

/// Builds a snapshot of the table as it is when `build_snapshot` is called.
pub struct CallSnapshotBuilder {
    applied: SharedApplied,
    snapshots: Arc<SnapshotStore>,
    snapshot_seq: Arc<AtomicU64>,
}

impl fmt::Debug for CallSnapshotBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSnapshotBuilder")
            .finish_non_exhaustive()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for CallSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // Copy under the lock, encode and write outside it: applying goes on
        // meanwhile.
        let (table, meta) = {
            let applied = self.applied.read();
            let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
            let snapshot_id = match &applied.last_applied {
                Some(id) => format!("{}-{}-{seq}", id.leader_id, id.index),
                None => format!("empty-{seq}"),
            };
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.last_membership.clone(),
                snapshot_id,
            };
            (applied.table.clone(), meta)
        };
        let image = SnapshotImage {
            meta: SnapshotMetaImage::from_meta(&meta),
            table,
        };
        let to_err = |e: &SnapshotError| snapshot_error(Some(&meta), true, e);
        let bytes = image.encode().map_err(|e| to_err(&e))?;
        let bytes = save(&self.snapshots, bytes, meta.last_log_id, true)
            .await
            .map_err(|e| to_err(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for CallStateMachine {
    type SnapshotBuilder = CallSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>> {
        let applied = self.applied.read();
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    /// Applies `entries` in order, under one write lock: every command of a
    /// [`crate::Proposal`] in turn, answering each with its own
    /// [`ApplyResult`] (so an entry's response has one result per command,
    /// in order). Blank and membership entries answer an empty list.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<ApplyResult>>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = self.applied.write();
        let applied = &mut *applied;
        let mut responses = Vec::new();
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(proposal) => proposal
                    .commands
                    .iter()
                    .map(|command| applied.table.apply(command))
                    .collect(),
                EntryPayload::Membership(m) => {
                    applied.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        CallSnapshotBuilder {
            applied: self.applied.clone(),
            snapshots: Arc::clone(&self.snapshots),
            snapshot_seq: Arc::clone(&self.snapshot_seq),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let to_err = |e: &SnapshotError| snapshot_error(Some(meta), true, e);
        let received = SnapshotImage::decode(snapshot.get_ref())
            .map_err(SnapshotError::Received)
            .map_err(|e| to_err(&e))?;
        // `meta` is authoritative (openraft checked it against the leader);
        // store it with the received table.
        let image = SnapshotImage {
            meta: SnapshotMetaImage::from_meta(meta),
            table: received.table,
        };
        let bytes = image.encode().map_err(|e| to_err(&e))?;
        save(&self.snapshots, bytes, meta.last_log_id, false)
            .await
            .map_err(|e| to_err(&e))?;
        let mut applied = self.applied.write();
        applied.table = image.table;
        applied.last_applied = meta.last_log_id;
        applied.last_membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let store = Arc::clone(&self.snapshots);
        let loaded = tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(SnapshotError::TaskFailed)
            .and_then(|r| r)
            .map_err(|e| snapshot_error(None, false, &e))?;
        Ok(loaded.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.bytes)),
        }))
    }
}
