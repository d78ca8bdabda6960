//! The `baton_raft_*` metrics are recorded where they are defined. (Its own
//! test binary: it installs the process-wide recorder.)

mod fixture;

use std::collections::HashMap;

use baton_raft::metrics as m;
use baton_raft::{BatcherOptions, ClusterNode, NodeId, OneNode};
use fixture::{bounded, call_id, confirmed, created};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_record_latency_results_and_raft_gauges() {
    bounded(async {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder in this binary");
        m::describe_metrics();

        let dir = tempfile::tempdir().expect("tempdir");
        let node = ClusterNode::open(NodeId(1), dir.path(), OneNode)
            .await
            .expect("open");
        for i in 0..5 {
            assert!(node
                .propose(created(i, node.id()))
                .await
                .expect("commit")
                .is_ok());
        }
        // Refused by the table: counted as `rejected`, still timed.
        let refused = node.propose(confirmed(99)).await.expect("commit");
        assert!(refused.is_err(), "{:?} for {}", refused, call_id(99));
        // openraft publishes its metrics after answering writes: let them
        // settle, then wait for the gauges to mirror them.
        let settled = node
            .raft()
            .wait(Some(std::time::Duration::from_secs(30)))
            .metrics(
                |m| m.last_applied.map(|l| l.index) == m.last_log_index,
                "metrics settled",
            )
            .await
            .expect("settled");
        let last_applied = settled.last_applied.map(|l| l.index).unwrap_or_default();
        // A debugging snapshot drains what it reports (counters and gauges
        // reset to 0, histograms emptied), so sum counters, keep every
        // histogram sample and the largest value of each gauge (each one
        // only grows in this test).
        let mut values: HashMap<(String, String), DebugValue> = HashMap::new();
        for _ in 0..400 {
            for (key, _, _, value) in snapshotter.snapshot().into_vec() {
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let slot = (key.key().name().to_owned(), labels.join(","));
                let merged = match (values.remove(&slot), value) {
                    (Some(DebugValue::Counter(a)), DebugValue::Counter(b)) => {
                        DebugValue::Counter(a + b)
                    }
                    (Some(DebugValue::Gauge(a)), DebugValue::Gauge(b)) => {
                        DebugValue::Gauge(a.max(b))
                    }
                    (Some(DebugValue::Histogram(mut a)), DebugValue::Histogram(b)) => {
                        a.extend(b);
                        DebugValue::Histogram(a)
                    }
                    (_, value) => value,
                };
                values.insert(slot, merged);
            }
            let applied = values.get(&(m::LAST_APPLIED_INDEX.to_owned(), String::new()));
            if applied == Some(&DebugValue::Gauge((last_applied as f64).into())) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let get = |name: &str, labels: &str| values.get(&(name.to_owned(), labels.to_owned()));
        match get(m::APPEND_SECONDS, "") {
            Some(DebugValue::Histogram(samples)) => {
                assert_eq!(samples.len(), 6, "one sample per committed proposal");
                assert!(samples.iter().all(|s| s.0 > 0.0 && s.0 < 60.0));
            }
            other => panic!("{}: {other:?}", m::APPEND_SECONDS),
        }
        assert_eq!(
            get(m::PROPOSALS, "result=applied"),
            Some(&DebugValue::Counter(5))
        );
        assert_eq!(
            get(m::PROPOSALS, "result=rejected"),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(get(m::IS_LEADER, ""), Some(&DebugValue::Gauge(1.0.into())));
        assert_eq!(
            get(m::LAST_APPLIED_INDEX, ""),
            Some(&DebugValue::Gauge((last_applied as f64).into()))
        );
        match get(m::TERM, "") {
            Some(DebugValue::Gauge(term)) => assert!(term.0 >= 1.0),
            other => panic!("{}: {other:?}", m::TERM),
        }
        match get(m::LAST_LOG_INDEX, "") {
            Some(DebugValue::Gauge(index)) => assert!(index.0 >= last_applied as f64),
            other => panic!("{}: {other:?}", m::LAST_LOG_INDEX),
        }
        match get(m::BATCH_SIZE, "") {
            Some(DebugValue::Histogram(samples)) => {
                assert_eq!(samples.len(), 6, "one sample per proposed entry");
                assert!(samples.iter().all(|s| s.0 == 1.0), "one command each");
            }
            other => panic!("{}: {other:?}", m::BATCH_SIZE),
        }
        for (name, _) in values.keys() {
            assert!(
                name.starts_with("baton_raft_"),
                "{name} is not baton_raft_ prefixed"
            );
        }

        // A batcher whose node stopped: its commands are counted as failed,
        // and the queue gauge ends at 0.
        let (sender, batcher) = node.batcher(BatcherOptions::default());
        node.shutdown().await.expect("shutdown");
        // The first failed batch closes the queue: later sends may be
        // refused, and those are not counted.
        let mut queued = 0;
        for i in 10..13 {
            if sender.send(created(i, node.id())).await.is_ok() {
                queued += 1;
            }
        }
        assert!(queued >= 1, "the queue is open until a batch fails");
        let report = batcher.await.expect("batcher task");
        assert_eq!(report.failed, queued);
        let mut failed = 0;
        let mut depth = None;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let name = key.key().name();
            let result = key.key().labels().find(|l| l.key() == "result");
            match value {
                DebugValue::Counter(n)
                    if name == m::PROPOSALS && result.is_some_and(|l| l.value() == "failed") =>
                {
                    failed += n;
                }
                DebugValue::Gauge(v) if name == m::QUEUE_DEPTH => depth = Some(v.0),
                _ => {}
            }
        }
        assert_eq!(failed, queued, "failed commands counted");
        assert_eq!(depth, Some(0.0), "{} back to 0", m::QUEUE_DEPTH);
    })
    .await;
}
