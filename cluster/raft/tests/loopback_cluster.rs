//! The network port carries a real cluster: two nodes in one process joined
//! by an in-memory `PeerNetwork`, the shape the QUIC transport will take.
//! The second node catches up by snapshot (the leader purged its log), then
//! by log replication.

mod fixture;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use baton_raft::{
    ClusterNode, NodeId, NodeOptions, PeerError, PeerNetwork, ProposeError, RaftReply, RaftRpc,
};
use fixture::{bounded, confirmed, created};
use openraft::BasicNode;

/// Delivers each RPC straight to the target node's `handle_rpc`.
#[derive(Clone, Default)]
struct Loopback {
    nodes: Arc<Mutex<HashMap<NodeId, Arc<ClusterNode>>>>,
}

impl Loopback {
    fn join(&self, node: Arc<ClusterNode>) {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.id(), node);
    }
}

impl PeerNetwork for Loopback {
    async fn call(
        &self,
        target: NodeId,
        _peer: &BasicNode,
        rpc: RaftRpc,
        deadline: Duration,
    ) -> Result<RaftReply, PeerError> {
        let node = self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&target)
            .cloned()
            .ok_or(PeerError::Unreachable { target })?;
        tokio::time::timeout(deadline, node.handle_rpc(rpc))
            .await
            .map_err(|_| PeerError::Timeout { target })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_node_catches_up_by_snapshot_then_by_log() {
    bounded(async {
        let net = Loopback::default();
        let dir1 = tempfile::tempdir().expect("tempdir");
        let dir2 = tempfile::tempdir().expect("tempdir");
        let n1 = Arc::new(
            ClusterNode::open_with(
                NodeOptions {
                    snapshot_every: 10,
                    logs_kept_after_snapshot: 0,
                    advertise_addr: "n1".into(),
                    ..NodeOptions::new(NodeId(1), dir1.path())
                },
                net.clone(),
            )
            .await
            .expect("open n1"),
        );
        net.join(Arc::clone(&n1));
        for i in 0..30 {
            assert!(n1
                .propose(created(i, n1.id()))
                .await
                .expect("commit")
                .is_ok());
        }
        n1.snapshot(Duration::from_secs(30))
            .await
            .expect("snapshot");
        assert!(n1.raft().metrics().borrow().purged.is_some(), "log purged");

        // A fresh node does not form a cluster of its own.
        let n2 = Arc::new(
            ClusterNode::open_with(
                NodeOptions {
                    bootstrap: false,
                    ..NodeOptions::new(NodeId(2), dir2.path())
                },
                net.clone(),
            )
            .await
            .expect("open n2"),
        );
        // This test is about catching up, not elections: on a loaded
        // machine a late heartbeat would let n2 campaign and take over.
        n2.raft().runtime_config().elect(false);
        net.join(Arc::clone(&n2));
        n1.raft()
            .add_learner(NodeId(2), BasicNode::new("n2"), true)
            .await
            .expect("learner caught up");
        n1.raft()
            .change_membership(BTreeSet::from([NodeId(1), NodeId(2)]), false)
            .await
            .expect("two voters");

        for i in 0..30 {
            assert!(n1.propose(confirmed(i)).await.expect("commit").is_ok());
        }
        // openraft answers a write before it publishes the new metrics:
        // wait for the leader's metrics to settle before reading them.
        let settled = n1
            .raft()
            .wait(Some(Duration::from_secs(30)))
            .metrics(
                |m| m.last_applied.map(|l| l.index) == m.last_log_index,
                "n1 metrics settled",
            )
            .await
            .expect("n1 settled");
        let last = settled.last_log_index;
        n2.raft()
            .wait(Some(Duration::from_secs(30)))
            .applied_index_at_least(last, "n2 applied everything")
            .await
            .expect("n2 caught up");
        assert_eq!(n2.read(Clone::clone), n1.read(Clone::clone));
        assert!(
            n2.raft().metrics().borrow().snapshot.is_some(),
            "n2 started from the leader's snapshot"
        );
        assert_eq!(
            n2.read(|t| t.active_calls().filter(|c| c.caller.is_some()).count()),
            30
        );

        match n2.propose(created(99, NodeId(2))).await {
            Err(ProposeError::NotLeader { leader, .. }) => assert_eq!(leader, Some(NodeId(1))),
            other => panic!("a follower must send proposals to the leader, got {other:?}"),
        }

        n2.shutdown().await.expect("shutdown n2");
        n1.shutdown().await.expect("shutdown n1");
    })
    .await;
}
