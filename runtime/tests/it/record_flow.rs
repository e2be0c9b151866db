//! The pure core end to end: peers sign progress, a store accepts (and refuses) entries, the
//! record travels as bytes to a reader that validates, merges and estimates.

use swarm_progress::estimator::{estimate, LocalView};
use swarm_progress::{
    Identity, LocalProgress, PerformanceEma, ProgressRecord, RecordLimits, RejectionReason,
    SignedEntry, TrackerConfig,
};

const NOW: f64 = 1_800_000_000.0;

fn report(id: &Identity, epoch: u64, samples: u64, speed: f64, time: f64) -> LocalProgress {
    LocalProgress {
        peer_id: id.peer_id(),
        epoch,
        samples_accumulated: samples,
        samples_per_second: speed,
        time,
        client_mode: false,
    }
}

#[test]
fn signed_progress_travels_merges_and_estimates() {
    let config = TrackerConfig {
        prefix: "flow".into(),
        target_batch_size: 1000,
        ..TrackerConfig::default()
    };
    let key = config.progress_key();
    let limits = RecordLimits::default();
    let peers: Vec<Identity> = (0..3).map(|_| Identity::generate().unwrap()).collect();
    let expiration = NOW + config.metadata_expiration;

    // A store (one replica) accepts each peer's own entry.
    let mut replica = ProgressRecord::new();
    for (i, id) in peers.iter().enumerate() {
        let value = report(id, 4, 100 * (i as u64 + 1), 10.0, NOW - 2.0);
        let entry = SignedEntry::sign(id, &key, Some(&value), expiration).unwrap();
        replica
            .accept(&key, id.public_key(), entry, NOW, &limits)
            .unwrap();
    }
    // A forger signs a huge sample count under peer 0's subkey with its own key: refused.
    let forger = Identity::generate().unwrap();
    let forged = SignedEntry::sign_as(
        &forger,
        &key,
        Some(&report(&peers[0], 4, 1_000_000, 1e9, NOW)),
        expiration + 1.0,
        swarm_progress::ValueEncoding::Json,
    )
    .unwrap();
    assert_eq!(
        replica.accept(&key, peers[0].public_key(), forged, NOW, &limits),
        Err(RejectionReason::BadSignature)
    );

    // Peer 2 leaves: its tombstone supersedes its entry.
    let tombstone = SignedEntry::sign(&peers[2], &key, None, expiration + 5.0).unwrap();
    replica
        .accept(&key, peers[2].public_key(), tombstone, NOW + 1.0, &limits)
        .unwrap();

    // A reader holds an older copy of peer 1's entry; it merges the replica's bytes.
    let bytes = replica.encode();
    let fetched = ProgressRecord::decode(&key, &bytes, NOW + 1.0, &limits).unwrap();
    assert_eq!(fetched.rejections.total(), 0);
    let mut local_copy = ProgressRecord::new();
    let older = SignedEntry::sign(
        &peers[1],
        &key,
        Some(&report(&peers[1], 4, 50, 10.0, NOW - 20.0)),
        expiration - 18.0,
    )
    .unwrap();
    local_copy.insert(peers[1].public_key(), older, NOW + 1.0);
    local_copy.merge(&fetched.record, NOW + 1.0);
    assert_eq!(local_copy.len(), 3);

    // Estimate from the reader's point of view (it is a fourth peer at epoch 4 with 0 samples).
    let reader = Identity::generate().unwrap();
    let me = report(&reader, 4, 0, 0.0, NOW);
    let ema = PerformanceEma::new(config.performance_ema_alpha, NOW);
    let view = LocalView {
        progress: &me,
        samples_per_second: ema.samples_per_second(),
        eps: ema.eps(),
    };
    let global = estimate(&view, local_copy.values(), NOW + 1.0, &config);
    // Live: peer 0 (100 samples) and peer 1 (200 samples), both reported 3 s ago at 10/s.
    assert_eq!(global.num_peers, 2);
    assert_eq!(global.epoch, 4);
    assert_eq!(global.samples_accumulated, 300);
    // Estimated now: 300 + 2 * 3 * 10 = 360; remaining 640 at 20/s = 32 s.
    assert!((global.eta_next_epoch - (NOW + 1.0 + 32.0)).abs() < 1e-6);
    // Fetch in clip(32 * 2 / max(5, 2.4), 0.5, 10) = 10.
    assert!((global.next_fetch_time - (NOW + 11.0)).abs() < 1e-6);
}
