//! The replicated call log (`cluster/raft`) on a one-node cluster with real
//! fsyncs (append, fsync, commit, apply): what one `propose` costs (one
//! entry, one fsync, per command), and how many commands per second the
//! batcher carries (many commands per entry); then the pure parts on their
//! own (the call table's `apply`, the entry codec).
//!
//! The fsync-bound figures depend on the disk: run them on the disk the
//! node will use.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft::codec::{decode_entry, encode_entry};
use raft::openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use raft::{
    BatcherOptions, CallId, CallTable, ClusterNode, Command, DialogRecord, EndReason, LegRole,
    LegUpdate, MediaRecord, NodeId, OneNode, Proposal, TypeConfig,
};
use std::time::{Duration, Instant};

fn leg_confirmed(call: CallId) -> Command {
    confirmed(call, LegRole::Caller)
}

fn confirmed(call: CallId, leg: LegRole) -> Command {
    Command::LegConfirmed {
        call,
        leg,
        dialog: DialogRecord {
            sip_call_id: "a84b4c76e66710@pc33.atlanta.example.com".into(),
            local_tag: "baton-1928301774".into(),
            remote_tag: "a6c85cf".into(),
            local_cseq: 1,
            remote_cseq: 314_159,
            route_set: vec!["<sip:p1.example.com;lr>".into()],
            remote_target: "sip:alice@pc33.atlanta.example.com".into(),
            local_contact: "sip:baton@192.0.2.1:5060".into(),
            transport: "udp".into(),
            remote_addr: "198.51.100.4:5060".into(),
        },
        media: MediaRecord {
            local_sdp: "v=0\r\no=baton 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\n".into(),
            remote_sdp: "v=0\r\no=alice 2 2 IN IP4 198.51.100.4\r\ns=-\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n".into(),
            relay_rtp_port: 20_000,
            relay_addr: "192.0.2.1".into(),
            remote_rtp: Some("198.51.100.4:49170".into()),
            codec: "PCMU/8000".into(),
        },
    }
}

fn created(call: CallId) -> Command {
    Command::CallCreated {
        call,
        anchor: NodeId(1),
        created_at_ms: 1_700_000_000_000,
        caller_aor: "sip:alice@example.com".into(),
        callee_aor: "sip:bob@example.com".into(),
    }
}

/// What a call proposes over its life: created, both legs confirmed, ended.
fn call_commands(call: CallId) -> [Command; 4] {
    [
        created(call),
        confirmed(call, LegRole::Caller),
        confirmed(call, LegRole::Callee),
        Command::CallEnded {
            call,
            reason: EndReason::Hangup {
                by: LegRole::Caller,
            },
            ended_at_ms: 1_700_000_060_000,
        },
    ]
}

/// Commands per measured round of the batcher benchmark, and the tasks that
/// send them.
const BATCHED_COMMANDS: u64 = 10_000;
const SENDERS: u128 = 8;

fn propose(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Under target/ rather than /tmp: /tmp may be a tmpfs, where fsync is
    // free and the figure meaningless.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let node = rt
        .block_on(ClusterNode::open(NodeId(1), dir.path(), OneNode))
        .expect("open");
    let mut next = 0u128;
    let mut group = c.benchmark_group("raft");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("propose_call_created_fsync", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    next += 1;
                    let applied = node.propose(created(CallId(next))).await.expect("commit");
                    assert!(applied.is_ok());
                }
                started.elapsed()
            })
        });
    });

    // 10 000 commands (2 500 calls of 4 commands) queued by 8 tasks through
    // one batcher with the default options; timed from the first send until
    // the batcher reports every command applied.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(BATCHED_COMMANDS));
    group.bench_function("batcher_10k_commands_8_senders_fsync", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let calls = u128::from(BATCHED_COMMANDS / 4);
                    let base = next;
                    next += calls;
                    let (sender, batcher) = node.batcher(BatcherOptions::default());
                    let started = Instant::now();
                    let tasks: Vec<_> = (0..SENDERS)
                        .map(|t| {
                            let sender = sender.clone();
                            tokio::spawn(async move {
                                let mine = (0..calls).skip(t as usize).step_by(SENDERS as usize);
                                for k in mine {
                                    for command in call_commands(CallId(base + k + 1)) {
                                        sender.send(command).await.expect("batcher running");
                                    }
                                }
                            })
                        })
                        .collect();
                    drop(sender);
                    for task in tasks {
                        task.await.expect("sender task");
                    }
                    let report = batcher.await.expect("batcher task");
                    total += started.elapsed();
                    assert!(report.all_written(), "{report:?}");
                    assert_eq!((report.committed, report.rejected), (BATCHED_COMMANDS, 0));
                    // Untimed: drop the tombstones, so that the table (and
                    // its snapshots) stay the same size from round to round.
                    let purged = node
                        .propose(Command::EndedCallsPurged {
                            ended_before_ms: u64::MAX,
                        })
                        .await
                        .expect("commit");
                    assert!(purged.is_ok());
                }
                total
            })
        });
    });
    group.finish();
    rt.block_on(node.shutdown()).expect("shutdown");
}

fn pure(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft");
    group.throughput(Throughput::Elements(1));

    let entry = Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(3, NodeId(1)), 42),
        payload: EntryPayload::Normal(Proposal::from(leg_confirmed(CallId(7)))),
    };
    let bytes = encode_entry(&entry).expect("encode");
    group.bench_function("encode_entry_leg_confirmed", |b| {
        b.iter(|| encode_entry(std::hint::black_box(&entry)).expect("encode"))
    });
    group.bench_function("decode_entry_leg_confirmed", |b| {
        b.iter(|| decode_entry(std::hint::black_box(&bytes)).expect("decode"))
    });

    // A full batch: 512 commands (128 calls' lifetimes) in one entry;
    // throughput counted in commands.
    let batch = Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(3, NodeId(1)), 43),
        payload: EntryPayload::Normal(Proposal::new(
            (0..128u128)
                .flat_map(|i| call_commands(CallId(i)))
                .collect(),
        )),
    };
    let batch_bytes = encode_entry(&batch).expect("encode");
    group.throughput(Throughput::Elements(512));
    group.bench_function("encode_entry_512_commands", |b| {
        b.iter(|| encode_entry(std::hint::black_box(&batch)).expect("encode"))
    });
    group.bench_function("decode_entry_512_commands", |b| {
        b.iter(|| decode_entry(std::hint::black_box(&batch_bytes)).expect("decode"))
    });
    group.throughput(Throughput::Elements(1));

    // A table of 10 000 up calls, one of which keeps moving its CSeq.
    let mut table = CallTable::new();
    for i in 0..10_000u128 {
        let _ = table.apply(&created(CallId(i)));
        let _ = table.apply(&leg_confirmed(CallId(i)));
    }
    let mut cseq = 1u32;
    group.bench_function("call_table_apply_leg_updated", |b| {
        b.iter(|| {
            cseq = cseq.wrapping_add(1).max(2);
            let update = Command::LegUpdated {
                call: CallId(5_000),
                leg: LegRole::Caller,
                update: LegUpdate {
                    local_cseq: Some(cseq),
                    ..LegUpdate::default()
                },
            };
            table.apply(std::hint::black_box(&update))
        })
    });
    group.finish();
}

criterion_group!(benches, pure, propose);
criterion_main!(benches);
