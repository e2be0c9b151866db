//! Micro-benchmarks of the pure core: the estimator over 1,000 and 10,000 entries, and record
//! decode + validation (+ merge) throughput, with every signature verified and with the entries
//! already known (the steady state of a reader that fetches the same record again); and the
//! same reads of a private collaboration's record (every entry carrying an admission token)
//! under an authority: tokens never seen (a reader's first read), tokens seen before (a read of
//! entries newer than the held ones, whose tokens are unchanged) and entries known.
//!
//! `cargo bench -p swarm-progress-core --bench core`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use swarm_progress_core::estimator::{estimate, LocalView};
use swarm_progress_core::{
    Admission, AdmissionToken, Identity, LocalProgress, ProgressRecord, RecordLimits, Role,
    SignedEntry, TrackerConfig,
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

/// `n` peers' entries, each with a token from `authority` if one is given; `expiration`
/// tells two reads of the same peers apart.
fn record_of(ids: &[Identity], authority: Option<&Identity>, expiration: f64) -> ProgressRecord {
    let mut record = ProgressRecord::new();
    for (i, id) in ids.iter().enumerate() {
        let token = authority
            .map(|a| AdmissionToken::issue(a, id.public_key(), Role::Trainer, NOW as u64 + 86_400));
        let value = progress(id, i as u64);
        let entry =
            SignedEntry::sign_admitted(id, token.as_ref(), KEY, Some(&value), expiration).unwrap();
        record.insert(id.public_key(), entry, NOW);
    }
    record
}

fn identities(n: u64) -> Vec<Identity> {
    (0..n).map(|_| Identity::generate().unwrap()).collect()
}

fn record(n: u64) -> ProgressRecord {
    record_of(&identities(n), None, NOW + 60.0)
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
            ProgressRecord::decode_known(
                KEY,
                black_box(&bytes),
                NOW,
                &limits,
                Some(&held),
                &Admission::OPEN,
            )
            .unwrap()
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

fn decode_admitted(c: &mut Criterion) {
    let mut group = c.benchmark_group("record-admitted");
    group.sample_size(10);
    let limits = RecordLimits::default();
    let n = 1_000u64;
    let authority = Identity::generate().unwrap();
    let ids = identities(n);
    let first = record_of(&ids, Some(&authority), NOW + 60.0);
    let newer = record_of(&ids, Some(&authority), NOW + 61.0).encode();
    let first_bytes = first.encode();
    group.throughput(Throughput::Elements(n));
    let private = || Admission::private(authority.public_key(), []);
    group.bench_function("decode+verify+new-tokens/1000", |b| {
        b.iter(|| {
            let admission = private();
            ProgressRecord::decode_known(
                KEY,
                black_box(&first_bytes),
                NOW,
                &limits,
                None,
                &admission,
            )
            .unwrap()
        })
    });
    let warm = private();
    let read = ProgressRecord::decode_known(KEY, &first_bytes, NOW, &limits, None, &warm).unwrap();
    assert_eq!(read.record.len(), n as usize, "{:?}", read.rejections);
    group.bench_function("decode+verify+known-tokens/1000", |b| {
        b.iter(|| {
            ProgressRecord::decode_known(KEY, black_box(&newer), NOW, &limits, Some(&first), &warm)
                .unwrap()
        })
    });
    group.bench_function("decode+known+tokens/1000", |b| {
        b.iter(|| {
            ProgressRecord::decode_known(
                KEY,
                black_box(&first_bytes),
                NOW,
                &limits,
                Some(&first),
                &warm,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, estimator, decode, decode_admitted);
criterion_main!(benches);
