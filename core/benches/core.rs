//! Micro-benchmarks of the pure core: the estimator over 1,000 and 10,000 entries, and record
//! decode + validation (+ merge) throughput, with every signature verified and with the entries
//! already known (the steady state of a reader that fetches the same record again).
//!
//! `cargo bench -p swarm-progress-actors --bench core`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use swarm_progress_core::estimator::{estimate, LocalView};
use swarm_progress_core::{
    Identity, LocalProgress, ProgressRecord, RecordLimits, SignedEntry, TrackerConfig,
};

const KEY: &str = "bench_progress";
const NOW: f64 = 1_800_000_000.0;

fn progress(id: &Identity, i: u64) -> LocalProgress {
    LocalProgress {
        peer_id: id.peer_id(),
        epoch: 10 + i % 2,
        samples_accumulated: i * 3,
        samples_per_second: 50.0 + (i % 7) as f64,
        time: NOW - (i % 30) as f64,
        client_mode: i.is_multiple_of(10),
    }
}

fn record(n: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new();
    for i in 0..n {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id, i)), NOW + 60.0).unwrap();
        record.insert(id.public_key(), entry, NOW);
    }
    record
}

fn estimator(c: &mut Criterion) {
    let mut group = c.benchmark_group("estimate");
    let config = TrackerConfig {
        target_batch_size: 1_000_000,
        ..TrackerConfig::default()
    };
    let me = Identity::generate().unwrap();
    let local = progress(&me, 1);
    for n in [1_000u64, 10_000] {
        let id = Identity::generate().unwrap();
        let entries: Vec<Option<LocalProgress>> = (0..n).map(|i| Some(progress(&id, i))).collect();
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &entries, |b, entries| {
            let view = LocalView {
                progress: &local,
                samples_per_second: 40.0,
                eps: 1e-20,
            };
            b.iter(|| estimate(&view, entries.iter().map(Option::as_ref), NOW, &config))
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    group.sample_size(10);
    let limits = RecordLimits::default();
    let n = 1_000u64;
    let held = record(n);
    let bytes = held.encode();
    group.throughput(Throughput::Elements(n));
    group.bench_function("decode+verify/1000", |b| {
        b.iter(|| ProgressRecord::decode(KEY, black_box(&bytes), NOW, &limits).unwrap())
    });
    group.bench_function("decode+known/1000", |b| {
        b.iter(|| {
            ProgressRecord::decode_known(KEY, black_box(&bytes), NOW, &limits, Some(&held)).unwrap()
        })
    });
    group.bench_function("merge/1000", |b| {
        b.iter(|| {
            let mut mine = held.clone();
            mine.merge(black_box(&held), NOW);
            mine
        })
    });
    group.bench_function("encode/1000", |b| b.iter(|| black_box(&held).encode()));
    group.finish();
}

criterion_group!(benches, estimator, decode);
criterion_main!(benches);
