//! Batched proposals: many commands in one log entry (one fsync), one
//! answer per command in order, and the batcher that gathers the commands
//! of many callers into such entries.

mod fixture;

use std::sync::Arc;
use std::time::Duration;

use baton_raft::{
    AbandonReason, ApplyResult, BatcherOptions, BatcherReport, CallTable, ClusterNode, Command,
    EndReason, EnqueueError, HandoverDecision, HandoverId, LegRole, LogFault, NodeId, NotCommitted,
    OneNode, Outcome, Rejection,
};
use fixture::{bounded, call_id, confirmed, created, dialog, ended, media, T0};

const ME: NodeId = NodeId(1);

/// The last log index once openraft's metrics have caught up with what it
/// applied (it publishes them after answering writes).
async fn settled_last_index(node: &ClusterNode) -> Option<u64> {
    node.raft()
        .wait(Some(Duration::from_secs(30)))
        .metrics(
            |m| m.last_applied.map(|l| l.index) == m.last_log_index,
            "metrics settled",
        )
        .await
        .expect("settled")
        .last_log_index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_answers_every_command_in_order_in_one_entry() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let batch = vec![
            created(1, ME),
            confirmed(2), // unknown call
            confirmed(1),
            created(1, ME), // a retry: harmless
            Command::LegConfirmed {
                call: call_id(1),
                leg: LegRole::Caller,
                dialog: dialog(3),
                media: media(3),
            }, // the caller leg is confirmed already, differently
            ended(1),
            Command::LegConfirmed {
                call: call_id(1),
                leg: LegRole::Callee,
                dialog: dialog(4),
                media: media(4),
            }, // after the end
            created(2, ME),
            confirmed(2), // now known: the batch is applied in order
        ];
        let mut expected_table = CallTable::new();
        let expected: Vec<_> = batch.iter().map(|c| expected_table.apply(c)).collect();
        assert_eq!(
            expected,
            vec![
                Ok(Outcome::Created),
                Err(Rejection::UnknownCall { call: call_id(2) }),
                Ok(Outcome::LegConfirmed),
                Ok(Outcome::Unchanged),
                Err(Rejection::LegAlreadyConfirmed {
                    call: call_id(1),
                    leg: LegRole::Caller
                }),
                Ok(Outcome::Ended),
                Err(Rejection::CallEnded { call: call_id(1) }),
                Ok(Outcome::Created),
                Ok(Outcome::LegConfirmed),
            ],
            "the scenario this test means"
        );

        let before = settled_last_index(&node).await;
        let answers = node.propose_batch(batch).await.expect("committed");
        assert_eq!(answers, expected);
        let after = settled_last_index(&node).await;
        assert_eq!(after, before.map(|i| i + 1), "nine commands, one log entry");
        assert_eq!(node.read(CallTable::clone), expected_table);

        // An empty batch answers nothing and writes nothing.
        assert_eq!(node.propose_batch(Vec::new()).await.expect("empty"), vec![]);
        assert_eq!(settled_last_index(&node).await, after);

        // The batch is replayed the same way after a restart.
        node.shutdown().await.expect("shutdown");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("reopen");
        assert_eq!(node.read(CallTable::clone), expected_table);
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_batcher_keeps_each_senders_order_across_concurrent_senders() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        // A small queue and small batches: senders wait for room and the
        // commands of one call land in different entries.
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 16,
            capacity: 8,
        });
        let mut tasks = Vec::new();
        for i in 0..50 {
            let sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                for command in [created(i, ME), confirmed(i), ended(i)] {
                    sender.send(command).await.expect("batcher running");
                    tokio::task::yield_now().await;
                }
            }));
        }
        drop(sender);
        for task in tasks {
            task.await.expect("sender task");
        }
        let report = batcher.await.expect("batcher task");
        assert_eq!(
            report,
            BatcherReport {
                batches: report.batches,
                committed: 150,
                rejected: 0,
                failed: 0,
            }
        );
        assert!(report.all_written());
        assert!((10..=150).contains(&report.batches), "{report:?}");
        assert_eq!(node.read(|t| t.len()), 50);
        assert_eq!(node.read(|t| t.active_calls().count()), 0);
        for i in 0..50 {
            let record = node.read(|t| t.get(call_id(i)).cloned()).expect("call");
            assert!(record.ended.is_some(), "call {i} ended");
            assert!(
                record.caller.is_some(),
                "call {i} confirmed before it ended"
            );
        }
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

// A current-thread runtime: the batcher task cannot run until the test
// awaits, so what is queued, and so each batch, is known exactly.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_refuses_at_once_and_the_queue_drains_in_max_batch_entries() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let before = settled_last_index(&node).await;
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 512,
            capacity: 600,
        });
        let commands = (0..200).flat_map(|i| [created(i, ME), confirmed(i), ended(i)]);
        for command in commands {
            sender.try_send(command).expect("room in the queue");
        }
        assert_eq!(sender.queued(), 600);
        match sender.try_send(created(999, ME)) {
            Err(EnqueueError::Full(command)) => assert_eq!(*command, created(999, ME)),
            other => panic!("a full queue must refuse with Full, got {other:?}"),
        }
        drop(sender);
        let report = batcher.await.expect("batcher task");
        assert_eq!(
            report,
            BatcherReport {
                batches: 2, // 512, then the 88 left
                committed: 600,
                rejected: 0,
                failed: 0,
            }
        );
        assert_eq!(settled_last_index(&node).await, before.map(|i| i + 2));
        assert_eq!(node.read(|t| t.len()), 200);
        assert_eq!(node.read(|t| t.active_calls().count()), 0);
        assert!(node.read(|t| t.get(call_id(999)).is_none()));
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_batcher_whose_raft_stopped_reports_what_was_not_written_and_closes() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 4,
            capacity: 64,
        });
        node.shutdown().await.expect("shutdown");
        for i in 0..10 {
            sender.try_send(created(i, ME)).expect("queued");
        }
        // The first batch fails (Raft stopped), the six commands behind it
        // are dropped, and the batcher stops although a sender lives on.
        let report = batcher.await.expect("batcher task, no panic");
        assert_eq!(
            report,
            BatcherReport {
                batches: 0,
                committed: 0,
                rejected: 0,
                failed: 10,
            }
        );
        assert!(!report.all_written());
        assert!(sender.is_closed());
        // The log is marked: the node refuses new work from now on, and
        // the mark is sticky.
        assert_eq!(node.health().fault(), Some(LogFault::Stopped));
        assert_eq!(sender.health().fault(), Some(LogFault::Stopped));
        let late = Command::CallEnded {
            call: call_id(1),
            reason: EndReason::Shutdown,
            ended_at_ms: 1,
        };
        match sender.try_send(late.clone()) {
            Err(EnqueueError::Closed(command)) => assert_eq!(*command, late),
            other => panic!("a stopped batcher must refuse with Closed, got {other:?}"),
        }
        match sender.send(late.clone()).await {
            Err(e @ EnqueueError::Closed(_)) => assert_eq!(e.into_command(), late),
            other => panic!("expected Closed, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_and_the_batcher_share_one_node() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Arc::new(
            ClusterNode::open(ME, dir.path(), OneNode)
                .await
                .expect("open"),
        );
        let (sender, batcher) = node.batcher(BatcherOptions::default());
        for i in 0..20 {
            sender.send(created(i, ME)).await.expect("queued");
        }
        // A direct proposal meanwhile is answered as usual.
        assert_eq!(
            node.propose(created(100, ME)).await.expect("committed"),
            Ok(Outcome::Created)
        );
        drop(sender);
        let report = batcher.await.expect("batcher task");
        assert_eq!(report.committed, 20);
        assert!(report.all_written());
        assert_eq!(node.read(|t| t.active_calls().count()), 21);
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

/// A [`baton_raft::Notify`] that reports `(tag, answer)` on `tx`.
fn report_to(
    tx: &std::sync::mpsc::Sender<(u32, Result<ApplyResult, NotCommitted>)>,
    tag: u32,
) -> baton_raft::Notify {
    let tx = tx.clone();
    Box::new(move |answer| {
        let _ = tx.send((tag, answer));
    })
}

fn handover_requested(i: u32) -> Command {
    Command::HandoverRequested {
        call: call_id(i),
        handover: HandoverId(1),
        leg: LegRole::Caller,
        requested_by: "sip:desk@example.com".into(),
        node: ME,
        requested_at_ms: T0 + 100,
    }
}

// A current-thread runtime: everything below is queued before the batcher
// runs, so it lands in one batch, behind the plain commands of the call.
#[tokio::test(flavor = "current_thread")]
async fn notified_commands_keep_their_place_and_hear_the_tables_answer_once_applied() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Arc::new(
            ClusterNode::open(ME, dir.path(), OneNode)
                .await
                .expect("open"),
        );
        let (sender, batcher) = node.batcher(BatcherOptions::default());
        let (tx, rx) = std::sync::mpsc::channel();
        // Plain commands first: the request is valid only after them.
        sender.try_send(created(1, ME)).expect("queued");
        sender.try_send(confirmed(1)).expect("queued");
        let seen = Arc::clone(&node);
        let tx1 = tx.clone();
        sender
            .try_send_notified(
                handover_requested(1),
                Box::new(move |answer| {
                    // Called once its batch is applied: the table holds
                    // the whole batch (down to the end of the call).
                    let trail = seen.read(|t| {
                        t.get(call_id(1))
                            .filter(|c| c.ended.is_some())
                            .map(|c| c.handovers.iter().map(|h| h.id).collect::<Vec<_>>())
                    });
                    assert_eq!(trail, Some(vec![HandoverId(1)]));
                    let _ = tx1.send((1, answer));
                }),
            )
            .expect("queued");
        // Refused by the table: a decision on an attempt that does not exist.
        sender
            .try_send_notified(
                Command::HandoverDecided {
                    call: call_id(1),
                    handover: HandoverId(9),
                    decision: HandoverDecision::Denied,
                    decided_by: "sip:alice@example.com".into(),
                    decided_at_ms: T0 + 200,
                },
                report_to(&tx, 2),
            )
            .expect("queued");
        sender
            .try_send_notified(
                Command::HandoverAbandoned {
                    call: call_id(1),
                    handover: HandoverId(1),
                    reason: AbandonReason::Cancelled,
                    at_ms: T0 + 300,
                },
                report_to(&tx, 3),
            )
            .expect("queued");
        sender.try_send(ended(1)).expect("queued");
        drop(tx);
        drop(sender);
        let report = batcher.await.expect("batcher task");
        assert_eq!(report.committed, 6);
        assert_eq!(report.rejected, 1);
        let answers: Vec<_> = rx.iter().collect();
        assert_eq!(
            answers,
            vec![
                (1, Ok(Ok(Outcome::HandoverRequested))),
                (
                    2,
                    Ok(Err(Rejection::UnknownHandover {
                        call: call_id(1),
                        handover: HandoverId(9),
                    }))
                ),
                (
                    3,
                    Ok(Ok(Outcome::HandoverAbandoned(AbandonReason::Cancelled)))
                ),
            ],
            "each callback once, in queue order, with the table's answer"
        );
        let record = node.read(|t| t.get(call_id(1)).cloned()).expect("call");
        assert!(record.ended.is_some());
        assert_eq!(record.handovers.len(), 1);
        match Arc::try_unwrap(node) {
            Ok(node) => node.shutdown().await.expect("shutdown"),
            Err(_) => panic!("the node is still shared"),
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_notified_command_that_is_not_queued_hears_why_at_once() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 4,
            capacity: 1,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        sender.try_send(created(1, ME)).expect("queued");
        match sender.try_send_notified(confirmed(1), report_to(&tx, 1)) {
            Err(EnqueueError::Full(command)) => assert_eq!(*command, confirmed(1)),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(rx.try_recv(), Ok((1, Err(NotCommitted::QueueFull))));
        drop(sender);
        assert!(batcher.await.expect("batcher task").all_written());
        node.shutdown().await.expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn notified_commands_hear_of_a_stopped_raft() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 2,
            capacity: 64,
        });
        node.shutdown().await.expect("shutdown");
        let (tx, rx) = std::sync::mpsc::channel();
        // The first batch (0, 1) fails; 2 and 3 are still queued and dropped.
        for i in 0..4 {
            sender
                .try_send_notified(created(i, ME), report_to(&tx, i))
                .expect("queued");
        }
        let report = batcher.await.expect("batcher task");
        assert_eq!(report.failed, 4);
        let answers: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            answers,
            (0..4)
                .map(|i| (i, Err(NotCommitted::Stopped)))
                .collect::<Vec<_>>()
        );
        // Once the batcher is gone, a new command is refused and told so.
        assert!(sender.is_closed());
        match sender.try_send_notified(created(9, ME), report_to(&tx, 9)) {
            Err(EnqueueError::Closed(command)) => assert_eq!(*command, created(9, ME)),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert_eq!(rx.try_recv(), Ok((9, Err(NotCommitted::Closed))));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_queue_past_its_high_water_mark_is_backlogged_before_it_is_full() {
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(ME, dir.path(), OneNode)
            .await
            .expect("open");
        let (sender, batcher) = node.batcher(BatcherOptions {
            max_batch: 4,
            capacity: 8,
        });
        assert!(node.health().is_healthy());
        // Current-thread runtime: the batcher does not run until we await.
        for i in 0..5 {
            sender.try_send(created(i, ME)).expect("queued");
            assert!(!sender.is_backlogged(), "{i} below the mark");
        }
        sender.try_send(created(5, ME)).expect("queued");
        assert!(sender.is_backlogged(), "6 of 8: at the mark");
        sender.try_send(created(6, ME)).expect("still room");
        sender.try_send(created(7, ME)).expect("still room");
        assert!(matches!(
            sender.try_send(created(8, ME)),
            Err(EnqueueError::Full(_))
        ));
        drop(sender);
        let report = batcher.await.expect("batcher");
        assert_eq!(report.committed, 8);
        assert!(
            node.health().is_healthy(),
            "committed batches keep it healthy"
        );
        node.shutdown().await.expect("shutdown");
    })
    .await;
}
