//! Codec throughput: normalise + frame + parse a typical INVITE, the whole
//! torture corpus, and serialisation. Target: 500,000 INVITE parses per
//! second on one core.

use baton_benches::{corpus, TYPICAL_INVITE};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_message::Message;
use std::hint::black_box;

// The node runs on mimalloc; so does the benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_typical_invite", |b| {
        b.iter(|| Message::parse(black_box(TYPICAL_INVITE)).expect("valid"))
    });
    let invite = Message::parse(TYPICAL_INVITE).expect("valid");
    group.bench_function("serialize_typical_invite", |b| {
        b.iter(|| black_box(&invite).to_bytes())
    });
    let corpus = corpus();
    assert!(corpus.len() >= 61, "the corpus is missing");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("parse_whole_corpus", |b| {
        b.iter(|| {
            for (_, bytes) in &corpus {
                let _ = black_box(Message::parse(black_box(bytes)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
