//! `ClusterNode` as the node uses it: typed answers, handovers through the
//! log, concurrent proposals, and the directory's identity.

mod fixture;

use std::sync::Arc;
use std::time::Duration;

use baton_raft::{
    AbandonReason, Abandoned, ClusterNode, Command, HandoverDecision, HandoverId, LegRole, NodeId,
    OneNode, OpenError, Outcome, PeerError, PeerNetwork, RaftReply, RaftRpc, Rejection, StoreError,
};
use fixture::{bounded, call_id, confirmed, created, dialog, media, T0};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Vote};

const ME: NodeId = NodeId(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_is_committed_with_a_typed_rejection() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let before = node.raft().metrics().borrow().last_applied;
        let answer = node.propose(confirmed(7)).await.expect("committed");
        assert_eq!(answer, Err(Rejection::UnknownCall { call: call_id(7) }));
        // The refused command is in the log all the same: the applied index
        // moves past it (openraft publishes metrics after answering).
        node.raft()
            .wait(Some(Duration::from_secs(10)))
            .metrics(move |m| m.last_applied > before, "applied index moved")
            .await
            .expect("the refused command was applied");
        assert!(node.read(|t| t.is_empty()));
        // A retried proposal is harmless.
        assert_eq!(
            node.propose(created(7, ME)).await.expect("c"),
            Ok(Outcome::Created)
        );
        assert_eq!(
            node.propose(created(7, ME)).await.expect("c"),
            Ok(Outcome::Unchanged)
        );
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_and_its_audit_trail_survive_a_restart() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let call = call_id(1);
        let h = HandoverId(1);
        let steps = [
            (created(1, ME), Ok(Outcome::Created)),
            (confirmed(1), Ok(Outcome::LegConfirmed)),
            (
                Command::HandoverRequested {
                    call,
                    handover: h,
                    leg: LegRole::Caller,
                    requested_by: "sip:caller1-desk@example.com".into(),
                    node: ME,
                    requested_at_ms: T0 + 10,
                },
                Ok(Outcome::HandoverRequested),
            ),
            (
                Command::HandoverDecided {
                    call,
                    handover: h,
                    decision: HandoverDecision::Approved {
                        keep_listening: true,
                    },
                    decided_by: "sip:caller1@example.com".into(),
                    decided_at_ms: T0 + 20,
                },
                Ok(Outcome::HandoverDecided(HandoverDecision::Approved {
                    keep_listening: true,
                })),
            ),
            (
                Command::HandoverDecided {
                    call,
                    handover: h,
                    decision: HandoverDecision::Denied,
                    decided_by: "sip:caller1@example.com".into(),
                    decided_at_ms: T0 + 21,
                },
                Err(Rejection::HandoverAlreadyDecided {
                    call,
                    handover: h,
                    decision: HandoverDecision::Approved {
                        keep_listening: true,
                    },
                }),
            ),
            (
                Command::BridgeSwapped {
                    call,
                    handover: h,
                    dialog: dialog(2),
                    media: media(2),
                    swapped_at_ms: T0 + 30,
                },
                Ok(Outcome::BridgeSwapped),
            ),
            // The swap freed the call: a second pull, rolled back after its
            // approval.
            (
                Command::HandoverRequested {
                    call,
                    handover: HandoverId(2),
                    leg: LegRole::Caller,
                    requested_by: "sip:caller1-car@example.com".into(),
                    node: ME,
                    requested_at_ms: T0 + 40,
                },
                Ok(Outcome::HandoverRequested),
            ),
            (
                Command::HandoverDecided {
                    call,
                    handover: HandoverId(2),
                    decision: HandoverDecision::Approved {
                        keep_listening: false,
                    },
                    decided_by: "sip:caller1-desk@example.com".into(),
                    decided_at_ms: T0 + 50,
                },
                Ok(Outcome::HandoverDecided(HandoverDecision::Approved {
                    keep_listening: false,
                })),
            ),
            (
                Command::HandoverAbandoned {
                    call,
                    handover: HandoverId(2),
                    reason: AbandonReason::RolledBack,
                    at_ms: T0 + 60,
                },
                Ok(Outcome::HandoverAbandoned(AbandonReason::RolledBack)),
            ),
        ];
        for (command, want) in steps {
            assert_eq!(node.propose(command).await.expect("committed"), want);
        }
        let before = node.read(|t| t.get(call).cloned()).expect("call");
        // The trail is in the snapshot, not only in the log.
        node.snapshot(Duration::from_secs(30))
            .await
            .expect("snapshot");
        node.shutdown().await.expect("shutdown");

        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen");
        let after = node.read(|t| t.get(call).cloned()).expect("call");
        assert_eq!(after, before);
        assert_eq!(after.caller.as_ref().map(|l| &l.dialog), Some(&dialog(2)));
        assert_eq!(after.listeners.len(), 1, "the original device listens on");
        assert_eq!(after.handovers.len(), 2);
        assert_eq!(after.handovers[0].swapped_at_ms, Some(T0 + 30));
        assert_eq!(
            after.handovers[1].abandoned,
            Some(Abandoned {
                reason: AbandonReason::RolledBack,
                at_ms: T0 + 60
            })
        );
        assert!(after.pending_handover.is_none());
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_proposals_are_all_applied() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Arc::new(
            ClusterNode::open(ME, dir.path(), OneNode)
                .await
                .expect("open"),
        );
        let mut tasks = Vec::new();
        for i in 0..64 {
            let node = Arc::clone(&node);
            tasks.push(tokio::spawn(async move {
                let a = node.propose(created(i, ME)).await.expect("committed");
                let b = node.propose(confirmed(i)).await.expect("committed");
                (a, b)
            }));
        }
        for task in tasks {
            let (a, b) = task.await.expect("task");
            assert_eq!(a, Ok(Outcome::Created));
            assert_eq!(b, Ok(Outcome::LegConfirmed));
        }
        assert_eq!(
            node.read(|t| t.active_calls().filter(|c| c.caller.is_some()).count()),
            64
        );
        let node = Arc::into_inner(node).expect("last handle");
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_belongs_to_one_node_id() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        match ClusterNode::open(ME, dir.path(), OneNode).await {
            Err(OpenError::Log(StoreError::Database(redb::Error::DatabaseAlreadyOpen))) => {}
            other => panic!("a second open must be refused, got {other:?}"),
        }
        node.shutdown().await.expect("shutdown");
        match ClusterNode::open(NodeId(2), dir.path(), OneNode).await {
            Err(OpenError::Log(StoreError::NodeIdMismatch { stored, given })) => {
                assert_eq!((stored, given), (ME, NodeId(2)));
            }
            other => panic!("another node id must be refused, got {other:?}"),
        }
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen");
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_node_network_reaches_nobody() {
    bounded(async {
        let rpc = RaftRpc::Vote(VoteRequest::new(Vote::new(1, ME), None));
        match OneNode
            .call(
                NodeId(2),
                &BasicNode::new("nowhere"),
                rpc,
                Duration::from_secs(1),
            )
            .await
        {
            Err(PeerError::Unreachable { target }) => assert_eq!(target, NodeId(2)),
            other => panic!("expected Unreachable, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_vote_request_is_answered_and_refused() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let reply = node
            .handle_rpc(RaftRpc::Vote(VoteRequest::new(
                Vote::new(0, NodeId(2)),
                None,
            )))
            .await;
        match reply {
            RaftReply::Vote(Ok(resp)) => assert!(!resp.vote_granted),
            other => panic!("expected a vote reply, got {other:?}"),
        }
        assert!(
            node.is_leader(),
            "a stale candidate does not unseat the leader"
        );
        node.shutdown().await.expect("shutdown");
    })
    .await;
}
