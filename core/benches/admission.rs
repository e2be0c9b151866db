//! What checking admission tokens adds to a read of 1,000 entries, measured as paired ratios:
//! each round times the open read (no authority, entries without tokens, as before private
//! collaborations existed) and the private one (every entry carries a token, an authority
//! judges them) back to back, in one process, so the machine's drift cancels out; the median of
//! the per-round ratios is printed with the medians of both times.
//!
//! `cargo bench -p swarm-progress-core --bench admission`

use std::hint::black_box;
use std::time::{Duration, Instant};

use swarm_progress_core::{
    Admission, AdmissionToken, Identity, LocalProgress, ProgressRecord, RecordLimits, Role,
    SignedEntry,
};

const KEY: &str = "bench_progress";
const NOW: f64 = 1_800_000_000.0;
const N: usize = 1_000;
const ROUNDS: usize = 25;

fn record(ids: &[Identity], authority: Option<&Identity>, expiration: f64) -> ProgressRecord {
    let mut record = ProgressRecord::new();
    for (i, id) in ids.iter().enumerate() {
        let token = authority
            .map(|a| AdmissionToken::issue(a, id.public_key(), Role::Trainer, NOW as u64 + 86_400));
        let value = LocalProgress {
            peer_id: id.peer_id(),
            epoch: 10,
            samples_accumulated: i as u64 * 3,
            samples_per_second: 50.0 + (i % 7) as f64,
            time: NOW - (i % 30) as f64,
            client_mode: false,
        };
        let entry =
            SignedEntry::sign_admitted(id, token.as_ref(), KEY, Some(&value), expiration).unwrap();
        record.insert(id.public_key(), entry, NOW);
    }
    record
}

fn time(read: impl Fn() -> usize) -> Duration {
    let start = Instant::now();
    assert_eq!(black_box(read()), N);
    start.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let limits = RecordLimits::default();
    let authority = Identity::generate().unwrap();
    let ids: Vec<Identity> = (0..N).map(|_| Identity::generate().unwrap()).collect();
    let open_held = record(&ids, None, NOW + 60.0);
    let open_bytes = open_held.encode();
    let open_newer = record(&ids, None, NOW + 61.0).encode();
    let private_held = record(&ids, Some(&authority), NOW + 60.0);
    let private_bytes = private_held.encode();
    let private_newer = record(&ids, Some(&authority), NOW + 61.0).encode();
    let private = || Admission::private(authority.public_key(), []);
    let warm = private();
    let read = |bytes: &[u8], known: Option<&ProgressRecord>, admission: &Admission| {
        ProgressRecord::decode_known(KEY, bytes, NOW, &limits, known, admission)
            .unwrap()
            .record
            .len()
    };
    // Warm the token memory of `warm` (a reader's first read).
    assert_eq!(read(&private_bytes, None, &warm), N);

    // (name, open read, private read)
    type Read<'a> = Box<dyn Fn() -> usize + 'a>;
    let pairs: Vec<(&str, Read, Read)> = vec![
        (
            "new entries, tokens seen before (a steady read)",
            Box::new(|| read(&open_newer, Some(&open_held), &Admission::OPEN)),
            Box::new(|| read(&private_newer, Some(&private_held), &warm)),
        ),
        (
            "entries already known (an unchanged record)",
            Box::new(|| read(&open_bytes, Some(&open_held), &Admission::OPEN)),
            Box::new(|| read(&private_bytes, Some(&private_held), &warm)),
        ),
        (
            "new entries, tokens never seen (a reader's first read)",
            Box::new(|| read(&open_bytes, None, &Admission::OPEN)),
            Box::new(|| read(&private_bytes, None, &private())),
        ),
    ];
    println!("{N} entries, {ROUNDS} rounds, each round open then private");
    println!("| read | open (median) | private (median) | private / open (median of rounds) |");
    println!("|---|---|---|---|");
    for (name, open, private) in &pairs {
        let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let x = time(open).as_secs_f64();
            let y = time(private).as_secs_f64();
            a.push(x);
            b.push(y);
            ratios.push(y / x);
        }
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {:.3} |",
            median(a) * 1e3,
            median(b) * 1e3,
            median(ratios)
        );
    }
}
