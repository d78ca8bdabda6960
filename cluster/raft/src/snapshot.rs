//! Snapshot files: the call table plus the Raft metadata it corresponds to,
//! in one rkyv archive inside a [`FrameKind::Snapshot`] frame.
//!
//! # Durability
//!
//! A snapshot replaces `current.snapshot` atomically:
//!
//! 1. write the whole frame to a fresh temporary file in the same directory;
//! 2. `fsync` the temporary file (its bytes are on disk);
//! 3. `rename` it over `current.snapshot` (atomic on POSIX file systems);
//! 4. `fsync` the directory (the rename itself is on disk).
//!
//! A crash at any step leaves either the old snapshot or the new one, never
//! a mix; a leftover temporary file is deleted at the next open. openraft
//! purges log entries only after the snapshot builder returns, so the log
//! entries a snapshot covers are dropped only once that snapshot is
//! durable.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use openraft::{BasicNode, SnapshotMeta};

use crate::call_table::CallTable;
use crate::codec::{self, CodecError, FrameKind, LogId, LogIdImage, StoredMembershipImage};
use crate::id::NodeId;

/// The file name of the current snapshot inside the snapshot directory.
pub const SNAPSHOT_FILE: &str = "current.snapshot";
const TMP_MARKER: &str = ".tmp-";

/// Why a snapshot could not be written, read or installed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file system operation failed.
    #[error("snapshot {op} {path}")]
    Io {
        /// What was being done (`write`, `rename`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The snapshot file exists but does not decode: it is refused, never
    /// half-used.
    #[error("snapshot file {path} is damaged")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: CodecError,
    },
    /// A snapshot received from the leader does not decode.
    #[error("received snapshot is damaged")]
    Received(#[source] CodecError),
    /// The snapshot could not be encoded.
    #[error("snapshot could not be encoded")]
    Encode(#[source] CodecError),
    /// The blocking file task did not finish (runtime shutting down).
    #[error("snapshot file task did not finish")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// The Raft metadata of a snapshot, as stored.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct SnapshotMetaImage {
    last_log_id: Option<LogIdImage>,
    last_membership: StoredMembershipImage,
    snapshot_id: String,
}

impl SnapshotMetaImage {
    pub(crate) fn from_meta(meta: &SnapshotMeta<NodeId, BasicNode>) -> Self {
        SnapshotMetaImage {
            last_log_id: meta.last_log_id.as_ref().map(LogIdImage::from_log_id),
            last_membership: StoredMembershipImage::from_stored(&meta.last_membership),
            snapshot_id: meta.snapshot_id.clone(),
        }
    }

    pub(crate) fn into_meta(self) -> SnapshotMeta<NodeId, BasicNode> {
        SnapshotMeta {
            last_log_id: self.last_log_id.map(LogIdImage::into_log_id),
            last_membership: self.last_membership.into_stored(),
            snapshot_id: self.snapshot_id,
        }
    }
}

/// A whole snapshot: the table as of `meta.last_log_id`.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct SnapshotImage {
    pub(crate) meta: SnapshotMetaImage,
    pub(crate) table: CallTable,
}

impl SnapshotImage {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        codec::encode(FrameKind::Snapshot, self).map_err(SnapshotError::Encode)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(FrameKind::Snapshot, bytes)
    }
}

/// A snapshot read back from disk.
#[derive(Debug)]
pub struct LoadedSnapshot {
    /// Its Raft metadata.
    pub meta: SnapshotMeta<NodeId, BasicNode>,
    /// The call table it holds.
    pub table: CallTable,
    /// The file's bytes, as sent to a follower.
    pub bytes: Vec<u8>,
}

/// Reads and checks a snapshot file. Any damage (a flipped byte, a cut
/// file, another format version) is a [`SnapshotError::Damaged`].
pub fn read_snapshot_file(path: &Path) -> Result<LoadedSnapshot, SnapshotError> {
    let bytes = fs::read(path).map_err(|source| SnapshotError::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })?;
    let image = SnapshotImage::decode(&bytes).map_err(|source| SnapshotError::Damaged {
        path: path.to_owned(),
        source,
    })?;
    Ok(LoadedSnapshot {
        meta: image.meta.into_meta(),
        table: image.table,
        bytes,
    })
}

/// The snapshot directory: one current snapshot, replaced atomically.
#[derive(Debug)]
pub(crate) struct SnapshotStore {
    dir: PathBuf,
    /// The `last_log_id` of the current file (outer `None`: no file yet).
    /// Held across the rename so that a slow builder cannot replace a newer
    /// snapshot with an older one.
    current: Mutex<Option<Option<LogId>>>,
    tmp_seq: AtomicU64,
}

impl SnapshotStore {
    /// Opens the directory (creating it) and reads the current snapshot, if
    /// any. Leftover temporary files from a crash are removed.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<LoadedSnapshot>), SnapshotError> {
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { op, path, source }
        };
        fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        for item in fs::read_dir(dir).map_err(io("list", dir))? {
            let item = item.map_err(io("list", dir))?;
            if item.file_name().to_string_lossy().contains(TMP_MARKER) {
                let path = item.path();
                fs::remove_file(&path).map_err(io("remove stale", &path))?;
            }
        }
        let path = dir.join(SNAPSHOT_FILE);
        let loaded = if path.exists() {
            Some(read_snapshot_file(&path)?)
        } else {
            None
        };
        let current = loaded.as_ref().map(|s| s.meta.last_log_id);
        Ok((
            SnapshotStore {
                dir: dir.to_owned(),
                current: Mutex::new(current),
                tmp_seq: AtomicU64::new(0),
            },
            loaded,
        ))
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// Makes `bytes` (a snapshot covering up to `last_log_id`) the current
    /// snapshot, durably. Blocking.
    ///
    /// With `only_if_newer`, a snapshot older than the current one is
    /// dropped instead (a builder that lost a race with an install); returns
    /// whether the file was replaced.
    pub(crate) fn save(
        &self,
        bytes: &[u8],
        last_log_id: Option<LogId>,
        only_if_newer: bool,
    ) -> Result<bool, SnapshotError> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(
            "{SNAPSHOT_FILE}{TMP_MARKER}{}-{seq}",
            std::process::id()
        ));
        let result = self.write_then_rename(&tmp, bytes, last_log_id, only_if_newer);
        if result.is_err() || matches!(result, Ok(false)) {
            // Best effort: the next open removes it anyway.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_then_rename(
        &self,
        tmp: &Path,
        bytes: &[u8],
        last_log_id: Option<LogId>,
        only_if_newer: bool,
    ) -> Result<bool, SnapshotError> {
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { op, path, source }
        };
        let mut file = File::create(tmp).map_err(io("create", tmp))?;
        file.write_all(bytes).map_err(io("write", tmp))?;
        file.sync_all().map_err(io("fsync", tmp))?;
        drop(file);

        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if only_if_newer {
            if let Some(existing) = *current {
                if existing > last_log_id {
                    return Ok(false);
                }
            }
        }
        let path = self.path();
        fs::rename(tmp, &path).map_err(io("rename", &path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &self.dir))?;
        *current = Some(last_log_id);
        Ok(true)
    }

    /// Reads the current snapshot, if there is one.
    pub(crate) fn load(&self) -> Result<Option<LoadedSnapshot>, SnapshotError> {
        let path = self.path();
        match read_snapshot_file(&path) {
            Ok(s) => Ok(Some(s)),
            Err(SnapshotError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
