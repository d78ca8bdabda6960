//! The acceptance point "restart keeps the call table": a node that stops
//! and opens again on the same directory finds every call as it was.

mod fixture;

use baton_raft::{
    BatcherOptions, BatcherReport, CallTable, ClusterNode, Command, Leg, NodeId, NodeOptions,
    OneNode, Outcome,
};
use fixture::{bounded, call_id, confirmed, created, dialog, ended, media, T0};

const ME: NodeId = NodeId(1);

/// The 100-call scenario: 100 calls created and confirmed, 10 ended.
fn scenario() -> impl Iterator<Item = Command> {
    (0..100)
        .flat_map(|i| [created(i, ME), confirmed(i)])
        .chain((0..10).map(ended))
}

/// Proposes the 100-call scenario and returns the table every node must
/// hold afterwards (the same commands applied locally).
async fn propose_scenario(node: &ClusterNode) -> CallTable {
    let mut expected = CallTable::new();
    for command in scenario() {
        let applied = node.propose(command.clone()).await.expect("committed");
        assert!(
            matches!(applied, Ok(o) if o != Outcome::Unchanged),
            "{command:?} gave {applied:?}"
        );
        assert_eq!(applied, expected.apply(&command));
    }
    expected
}

/// Sends the 100-call scenario through a batcher (small batches, so that
/// it spans many entries) and returns the expected table.
async fn batch_scenario(node: &ClusterNode) -> CallTable {
    let mut expected = CallTable::new();
    let (sender, batcher) = node.batcher(BatcherOptions {
        max_batch: 32,
        capacity: 16,
    });
    for command in scenario() {
        assert!(expected.apply(&command).is_ok(), "{command:?}");
        sender.send(command).await.expect("batcher running");
    }
    drop(sender);
    let report = batcher.await.expect("batcher task");
    assert_eq!(
        report,
        BatcherReport {
            batches: report.batches,
            committed: 210,
            rejected: 0,
            failed: 0,
        }
    );
    expected
}

fn assert_the_90_active_calls(node: &ClusterNode, expected: &CallTable) {
    let active: Vec<_> = node.read(|t| t.active_calls().map(|c| c.call).collect());
    assert_eq!(active.len(), 90, "exactly the 90 calls not ended");
    let mut want: Vec<_> = (10..100).map(call_id).collect();
    want.sort();
    assert_eq!(active, want);
    assert_eq!(node.read(|t| t.calls_owned_by(ME).count()), 90);
    for i in 10..100 {
        let record = node
            .read(|t| t.get(call_id(i)).cloned())
            .expect("active call");
        assert_eq!(record.anchor, ME);
        assert_eq!(record.created_at_ms, T0 + u64::from(i));
        assert_eq!(record.caller_aor, format!("sip:caller{i}@example.com"));
        assert_eq!(record.callee_aor, format!("sip:callee{i}@example.com"));
        assert_eq!(
            record.caller,
            Some(Leg {
                dialog: dialog(i),
                media: media(i)
            }),
            "call {i}: every dialog and media field"
        );
        assert!(record.callee.is_none());
        assert!(record.ended.is_none());
    }
    for i in 0..10 {
        let record = node
            .read(|t| t.get(call_id(i)).cloned())
            .expect("tombstone");
        assert!(!record.is_active(), "call {i} ended");
    }
    // And nothing else differs, tombstones included.
    assert_eq!(node.read(CallTable::clone), *expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_call_table() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        assert!(node.is_leader(), "a one-node cluster leads itself");
        let expected = propose_scenario(&node).await;
        assert_the_90_active_calls(&node, &expected);
        node.shutdown().await.expect("shutdown");

        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen");
        assert!(node.is_leader());
        assert_the_90_active_calls(&node, &expected);
        // Not initialized again: the membership is still the first entry.
        let membership = node.raft().metrics().borrow().membership_config.clone();
        assert_eq!(membership.log_id().map(|l| l.index), Some(0));
        assert_eq!(membership.voter_ids().collect::<Vec<_>>(), vec![ME]);

        // The log goes on where it stopped.
        let more = node.propose(created(100, ME)).await.expect("committed");
        assert_eq!(more, Ok(Outcome::Created));
        assert_eq!(node.read(|t| t.active_calls().count()), 91);
        node.shutdown().await.expect("shutdown");

        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen twice");
        assert_eq!(node.read(|t| t.active_calls().count()), 91);
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_snapshot_and_a_purged_log_keeps_the_call_table() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = NodeOptions {
            snapshot_every: 25,
            logs_kept_after_snapshot: 0,
            ..NodeOptions::new(ME, dir.path())
        };
        let node = ClusterNode::open_with(options.clone(), OneNode)
            .await
            .expect("open");
        let expected = propose_scenario(&node).await;
        let covered = node
            .snapshot(std::time::Duration::from_secs(30))
            .await
            .expect("snapshot");
        let metrics = node.raft().metrics().borrow().clone();
        assert_eq!(metrics.snapshot.map(|s| s.index), covered);
        node.shutdown().await.expect("shutdown");
        assert!(dir
            .path()
            .join(baton_raft::SNAPSHOT_DIR)
            .join(baton_raft::SNAPSHOT_FILE)
            .exists());

        let node = ClusterNode::open_with(options, OneNode)
            .await
            .expect("reopen");
        assert_the_90_active_calls(&node, &expected);
        let metrics = node.raft().metrics().borrow().clone();
        assert!(
            metrics.purged.is_some(),
            "the log was purged behind the snapshot"
        );
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_batched_writes_keeps_the_call_table() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let expected = batch_scenario(&node).await;
        assert_the_90_active_calls(&node, &expected);
        node.shutdown().await.expect("shutdown");

        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen");
        assert_the_90_active_calls(&node, &expected);
        // And from a snapshot taken over the batched entries.
        node.snapshot(std::time::Duration::from_secs(30))
            .await
            .expect("snapshot");
        node.shutdown().await.expect("shutdown");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen from the snapshot");
        assert_the_90_active_calls(&node, &expected);
        node.shutdown().await.expect("shutdown");
    })
    .await;
}
