//! A damaged snapshot is refused with a typed error, never half-used and
//! never a panic: the node does not start from a table it cannot trust.

mod fixture;

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_raft::{
    read_snapshot_file, ClusterNode, CodecError, NodeId, OneNode, OpenError, SnapshotError,
    SNAPSHOT_DIR, SNAPSHOT_FILE,
};
use fixture::{bounded, confirmed, created};

const ME: NodeId = NodeId(1);

/// A data directory whose node took a snapshot of ten calls.
async fn directory_with_a_snapshot() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = ClusterNode::open(ME, dir.path(), OneNode)
        .await
        .expect("open");
    for i in 0..10 {
        for command in [created(i, ME), confirmed(i)] {
            let applied = node.propose(command).await.expect("committed");
            assert!(applied.is_ok());
        }
    }
    node.snapshot(Duration::from_secs(30))
        .await
        .expect("snapshot");
    node.shutdown().await.expect("shutdown");
    let file = dir.path().join(SNAPSHOT_DIR).join(SNAPSHOT_FILE);
    let loaded = read_snapshot_file(&file).expect("an intact snapshot reads back");
    assert_eq!(loaded.table.active_calls().count(), 10);
    (dir, file)
}

fn damage(file: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(file).expect("read");
    edit(&mut bytes);
    std::fs::write(file, bytes).expect("write");
}

/// Opens the node on the damaged directory and returns the codec error it
/// must refuse with.
async fn refused(dir: &Path, file: &Path) -> CodecError {
    match read_snapshot_file(file) {
        Err(SnapshotError::Damaged { path, .. }) => assert_eq!(path, file),
        other => panic!("read_snapshot_file: expected Damaged, got {other:?}"),
    }
    match ClusterNode::open(ME, dir, OneNode).await {
        Err(OpenError::Snapshot(SnapshotError::Damaged { path, source })) => {
            assert_eq!(path, file);
            source
        }
        Err(other) => panic!("expected a damaged-snapshot error, got {other:?}"),
        Ok(_) => panic!("a node opened on a damaged snapshot"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_the_snapshot_is_refused() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        damage(&file, |b| {
            let middle = b.len() / 2;
            b[middle] ^= 0x04;
        });
        let err = refused(dir.path(), &file).await;
        assert!(matches!(err, CodecError::CrcMismatch { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_snapshot_is_refused() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        damage(&file, |b| b.truncate(b.len() - 7));
        let err = refused(dir.path(), &file).await;
        assert!(matches!(err, CodecError::Truncated { .. }), "{err:?}");
        damage(&file, |b| b.truncate(5));
        let err = refused(dir.path(), &file).await;
        assert!(matches!(err, CodecError::ShortHeader { len: 5 }), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_format_version_is_refused() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        damage(&file, |b| b[4..6].copy_from_slice(&9u16.to_le_bytes()));
        let err = refused(dir.path(), &file).await;
        assert!(
            matches!(err, CodecError::UnsupportedVersion { found: 9, .. }),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_snapshot_is_refused() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        damage(&file, |b| b[0..4].copy_from_slice(b"PK\x03\x04"));
        let err = refused(dir.path(), &file).await;
        assert!(matches!(err, CodecError::BadMagic { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_refusal_the_repaired_directory_opens() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        let good = std::fs::read(&file).expect("read");
        damage(&file, |b| {
            let last = b.len() - 1;
            b[last] ^= 0xff;
        });
        refused(dir.path(), &file).await;
        // The refusal released everything: putting the good bytes back (an
        // operator restoring a backup) lets the same process open it.
        std::fs::write(&file, good).expect("restore");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open after repair");
        assert_eq!(node.read(|t| t.active_calls().count()), 10);
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_temporary_snapshot_is_ignored_and_removed() {
    bounded(async {
        let (dir, file) = directory_with_a_snapshot().await;
        // A crash between writing the temporary file and the rename.
        let tmp = file.with_file_name(format!("{SNAPSHOT_FILE}.tmp-1-0"));
        std::fs::write(&tmp, b"half a snapshot").expect("write");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        assert_eq!(node.read(|t| t.active_calls().count()), 10);
        assert!(!tmp.exists(), "stale temporary file removed");
        node.shutdown().await.expect("shutdown");
    })
    .await;
}
