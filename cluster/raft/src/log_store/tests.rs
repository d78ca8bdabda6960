//! The log store below openraft: the writer's batching, the pending
//! overlay, and damaged values. (openraft's own storage suite drives the
//! trait methods: `tests/storage_suite.rs`.)

use super::*;
use openraft::{CommittedLeaderId, EntryPayload};

use crate::command::{Command, Proposal};
use crate::id::CallId;

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, NodeId(1)), index)
}

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(
            Command::EndedCallsPurged {
                ended_before_ms: index,
            }
            .into(),
        ),
    }
}

fn shared_in(dir: &tempfile::TempDir) -> Shared {
    open_shared(&dir.path().join("log.redb"), NodeId(1)).expect("open")
}

fn insert_raw(shared: &Shared, key: u64, value: &[u8]) {
    let txn = shared.db.begin_write().expect("txn");
    {
        let mut table = txn.open_table(LOG).expect("table");
        table.insert(key, value).expect("insert");
    }
    txn.commit().expect("commit");
}

fn frame_of(e: &Entry<TypeConfig>) -> Vec<u8> {
    encode_entry(e).expect("encode")
}

#[test]
fn queued_writes_share_one_fsynced_commit_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    for i in 1..=5 {
        insert_raw(&shared, i, &frame_of(&entry(1, i)));
    }
    let (tx, rx) = mpsc::channel();
    let mut waiters = Vec::new();
    let vote = |term| {
        codec::encode(
            FrameKind::Meta,
            &VoteImage::from_vote(&Vote::new(term, NodeId(1))),
        )
        .expect("vote")
    };
    let committed = |index| {
        codec::encode(FrameKind::Meta, &LogIdImage::from_log_id(&log_id(1, index)))
            .expect("committed")
    };
    // Everything is queued before the writer runs, as when the writer is
    // busy with an fsync while openraft keeps issuing writes.
    for term in 1..=20 {
        let (done, waiter) = oneshot::channel();
        tx.send(WriteOp::SaveVote {
            frame: vote(term),
            done,
        })
        .expect("send");
        waiters.push(waiter);
        tx.send(WriteOp::SaveCommitted {
            frame: committed(term % 4),
        })
        .expect("send");
    }
    let (done, waiter) = oneshot::channel();
    tx.send(WriteOp::Truncate { since: 4, done }).expect("send");
    waiters.push(waiter);
    let (done, waiter) = oneshot::channel();
    let purged =
        codec::encode(FrameKind::Meta, &LogIdImage::from_log_id(&log_id(1, 1))).expect("purged");
    tx.send(WriteOp::Purge {
        upto: 1,
        frame: purged,
        done,
    })
    .expect("send");
    waiters.push(waiter);
    tx.send(WriteOp::Stop).expect("send");
    // An operation after Stop is dropped, so its waiter sees the writer gone.
    let (done, late) = oneshot::channel();
    tx.send(WriteOp::Truncate { since: 0, done }).expect("send");

    run_writer(&shared, &rx);

    assert_eq!(shared.commits.load(Ordering::Relaxed), 1, "one transaction");
    for mut waiter in waiters {
        assert!(matches!(waiter.try_recv(), Ok(Ok(()))));
    }
    let mut late = late;
    assert!(late.try_recv().is_err(), "dropped after Stop");
    // The last write of each key wins, in queue order.
    let vote = shared
        .read_meta::<VoteImage>(KEY_VOTE, "vote")
        .expect("read");
    assert_eq!(
        vote.map(VoteImage::into_vote),
        Some(Vote::new(20, NodeId(1)))
    );
    let committed = shared
        .read_meta::<LogIdImage>(KEY_COMMITTED, "committed")
        .expect("read");
    assert_eq!(committed.map(LogIdImage::into_log_id), Some(log_id(1, 0)));
    let left: Vec<u64> = shared
        .read_range(Bound::Unbounded, Bound::Unbounded)
        .expect("read")
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(left, vec![2, 3], "truncated from 4, purged up to 1");
}

#[test]
fn a_non_durable_committed_id_survives_a_clean_close() {
    // Durability::None is legal on this database; the value must still be
    // readable at once and after a reopen (a clean close persists it).
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let shared = shared_in(&dir);
        let (tx, rx) = mpsc::channel();
        let frame =
            codec::encode(FrameKind::Meta, &LogIdImage::from_log_id(&log_id(2, 9))).expect("frame");
        tx.send(WriteOp::SaveCommitted { frame }).expect("send");
        tx.send(WriteOp::Stop).expect("send");
        run_writer(&shared, &rx);
        let got = shared
            .read_meta::<LogIdImage>(KEY_COMMITTED, "committed")
            .expect("read");
        assert_eq!(got.map(LogIdImage::into_log_id), Some(log_id(2, 9)));
    }
    let shared = shared_in(&dir);
    let got = shared
        .read_meta::<LogIdImage>(KEY_COMMITTED, "committed")
        .expect("read");
    assert_eq!(got.map(LogIdImage::into_log_id), Some(log_id(2, 9)));
}

#[test]
fn pending_entries_are_read_over_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    for i in 1..=3 {
        insert_raw(&shared, i, &frame_of(&entry(1, i)));
    }
    {
        let mut pending = shared.pending();
        // Index 3 rewritten in term 2 (after a truncate), 4 only pending.
        pending.insert(3, entry(2, 3));
        pending.insert(4, entry(2, 4));
    }
    let got: Vec<LogId> = shared
        .read_range(Bound::Included(2), Bound::Unbounded)
        .expect("read")
        .iter()
        .map(|e| e.log_id)
        .collect();
    assert_eq!(got, vec![log_id(1, 2), log_id(2, 3), log_id(2, 4)]);
    assert_eq!(
        shared.last_log_id_before(u64::MAX).expect("last"),
        Some(log_id(2, 4))
    );
    assert_eq!(
        shared.last_log_id_before(3).expect("last"),
        Some(log_id(1, 2))
    );
}

#[test]
fn empty_and_inverted_ranges_read_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    insert_raw(&shared, 3, &frame_of(&entry(1, 3)));
    shared.pending().insert(4, entry(1, 4));
    for (start, end) in [
        (Bound::Included(3), Bound::Excluded(3)),
        (Bound::Included(5), Bound::Excluded(3)),
        (Bound::Included(5), Bound::Included(4)),
        (Bound::Excluded(u64::MAX), Bound::Unbounded),
    ] {
        assert!(
            shared.read_range(start, end).expect("read").is_empty(),
            "{start:?}..{end:?}"
        );
    }
}

#[test]
fn a_damaged_entry_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    let mut bad = frame_of(&entry(1, 1));
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    insert_raw(&shared, 1, &bad);
    match shared.read_range(Bound::Unbounded, Bound::Unbounded) {
        Err(StoreError::Codec {
            what: "log entry",
            source: CodecError::CrcMismatch { .. },
        }) => {}
        other => panic!("expected a CRC error, got {other:?}"),
    }
}

#[test]
fn an_entry_under_the_wrong_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    insert_raw(&shared, 6, &frame_of(&entry(1, 5)));
    assert!(matches!(
        shared.read_range(Bound::Unbounded, Bound::Unbounded),
        Err(StoreError::Misplaced { key: 6, index: 5 })
    ));
}

#[test]
fn a_directory_belongs_to_one_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.redb");
    let store = LogStore::open(&path, NodeId(1)).expect("open");
    let handle = store.writer_handle();
    drop(store);
    handle.stop_and_join();
    assert!(handle.is_closed());
    match LogStore::open(&path, NodeId(2)) {
        Err(StoreError::NodeIdMismatch { stored, given }) => {
            assert_eq!((stored, given), (NodeId(1), NodeId(2)));
        }
        other => panic!("expected NodeIdMismatch, got {other:?}"),
    }
    // The rightful node opens it again.
    let store = LogStore::open(&path, NodeId(1)).expect("reopen");
    assert_eq!(store.commits(), 0);
}

#[test]
fn the_log_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.redb");
    let _first = LogStore::open(&path, NodeId(1)).expect("open");
    assert!(matches!(
        LogStore::open(&path, NodeId(1)),
        Err(StoreError::Database(redb::Error::DatabaseAlreadyOpen))
    ));
}

#[test]
fn command_payloads_survive_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_in(&dir);
    let e = Entry::<TypeConfig> {
        log_id: log_id(3, 1),
        payload: EntryPayload::Normal(Proposal::new(vec![
            Command::CallEnded {
                call: CallId(u128::MAX),
                reason: crate::command::EndReason::Declined { status: 603 },
                ended_at_ms: u64::MAX,
            },
            Command::EndedCallsPurged {
                ended_before_ms: u64::MAX,
            },
        ])),
    };
    insert_raw(&shared, 1, &frame_of(&e));
    let got = shared
        .read_range(Bound::Included(1), Bound::Included(1))
        .expect("read");
    assert_eq!(got, vec![e]);
}
