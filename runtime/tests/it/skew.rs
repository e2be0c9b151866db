//! Clock skew on real nodes (issue 14, PROTOCOL.md §6.1): four equal trainers, one of them
//! (node and tracker) on a clock 5 s behind, 5 s ahead or 30 s behind, keep the swarm's epoch
//! length and the samples at each transition of the same run without skew; one minutes behind
//! (more than an entry's lifetime) is still counted. Prints one `FIGURES` line per run.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_progress::simulation::{summarize, EpochSummary};
use swarm_progress::{
    Identity, KademliaPeer, ProgressTracker, Protocol, SharedClock, SystemClock, TrackerConfig,
    TrackerOptions,
};

use crate::kademlia::{node_config, start_node};
use crate::support::{eventually, fast_config, trainer, SkewedClock};

/// Four trainers at 160 samples/s each: an epoch of 640 samples takes about a second.
const TARGET: u64 = 640;
const PEERS: usize = 4;
/// Epochs each run trains; the first (speeds still unknown) is not measured.
const EPOCHS: u64 = 6;

fn config(protocol: Protocol) -> TrackerConfig {
    TrackerConfig {
        protocol,
        ..fast_config("skew", TARGET)
    }
}

/// What one run measured.
struct Run {
    /// Mean seconds between epoch changes, epochs 1 to `EPOCHS - 1`.
    mean_epoch: f64,
    /// Overshoot (samples at the transition / target - 1) of those epochs.
    overshoots: Vec<f64>,
}

/// Trains `PEERS` trackers on real nodes joined through a seed; the last one's node and tracker
/// run on a clock `skew` seconds off.
async fn run(protocol: Protocol, skew: f64) -> Run {
    let t0 = Instant::now();
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let mut trackers = Vec::new();
    for i in 0..PEERS {
        let clock: SharedClock = if i == PEERS - 1 {
            Arc::new(SkewedClock(skew))
        } else {
            SystemClock::shared()
        };
        let peer = KademliaPeer::new(
            Arc::new(Identity::generate().unwrap()),
            node_config(vec![seed_addr.clone()]),
            clock.clone(),
        );
        let options = TrackerOptions {
            clock,
            ..TrackerOptions::default()
        };
        let tracker = ProgressTracker::start_with(config(protocol), peer, options)
            .await
            .unwrap();
        trackers.push(Rc::new(tracker));
    }
    // Everyone counts everyone (the skewed peer included) before training starts.
    let counted = eventually(Duration::from_secs(60), || {
        trackers
            .iter()
            .all(|t| t.global_progress().num_peers == PEERS as u64)
    })
    .await;
    assert!(
        counted,
        "skew {skew}: {:?}",
        trackers
            .iter()
            .map(|t| t.global_progress().num_peers)
            .collect::<Vec<_>>()
    );
    let start = Instant::now();
    let setup = t0.elapsed();
    let runs: Vec<_> = trackers
        .iter()
        .map(|t| {
            let t = t.clone();
            actix_rt::spawn(
                async move { trainer().run(&t, EPOCHS, Duration::from_secs(120)).await },
            )
        })
        .collect();
    let mut logs = Vec::new();
    for run in runs {
        logs.push(run.await.unwrap());
    }
    for t in &trackers {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
    seed.node.stop();
    let epochs: Vec<EpochSummary> = summarize(&logs, TARGET, start)
        .into_iter()
        .filter(|e| (1..EPOCHS).contains(&e.epoch))
        .collect();
    assert_eq!(
        epochs.len(),
        EPOCHS as usize - 1,
        "skew {skew}: every trainer reached epoch {EPOCHS}"
    );
    for e in &epochs {
        assert_eq!(e.peers, PEERS, "skew {skew}: {e:?}");
    }
    let durations: Vec<f64> = epochs.iter().filter_map(|e| e.duration).collect();
    let mean_epoch = durations.iter().sum::<f64>() / durations.len() as f64;
    let overshoots: Vec<f64> = epochs.iter().map(|e| e.overshoot(TARGET)).collect();
    println!(
        "FIGURES skew {protocol:?} {skew:+} s: every peer counted the 4 {:.2} s after the first \
         start; mean epoch {mean_epoch:.3} s (epochs 1-{}), overshoot per epoch {:?}",
        setup.as_secs_f64(),
        EPOCHS - 1,
        overshoots
            .iter()
            .map(|o| format!("{o:+.3}"))
            .collect::<Vec<_>>()
    );
    Run {
        mean_epoch,
        overshoots,
    }
}

/// The skewed runs against the run without skew, for one protocol.
async fn skew_keeps_the_epoch(protocol: Protocol, skews: &[f64]) {
    let baseline = run(protocol, 0.0).await;
    let usual_overshoot = baseline.overshoots.iter().copied().fold(0.0, f64::max);
    for &skew in skews {
        let skewed = run(protocol, skew).await;
        let ratio = skewed.mean_epoch / baseline.mean_epoch;
        assert!(
            (0.85..=1.15).contains(&ratio),
            "{protocol:?} skew {skew}: mean epoch {:.3} s vs {:.3} s without skew",
            skewed.mean_epoch,
            baseline.mean_epoch
        );
        for o in &skewed.overshoots {
            // Never steps early by more than a report of each peer (4 x 8 of 640 = 5 %), and
            // never late beyond the usual overshoot plus as much again.
            assert!(
                *o >= -0.05 && *o <= usual_overshoot + 0.05,
                "{protocol:?} skew {skew}: overshoots {:?} (without skew {:?})",
                skewed.overshoots,
                baseline.overshoots
            );
        }
    }
}

#[actix_rt::test]
async fn v1_one_clock_5s_behind_5s_ahead_or_30s_behind_keeps_the_epoch_length() {
    skew_keeps_the_epoch(Protocol::V1, &[-5.0, 5.0, -30.0]).await;
}

#[actix_rt::test]
async fn v2_one_clock_30s_behind_keeps_the_epoch_length() {
    skew_keeps_the_epoch(Protocol::V2, &[-30.0]).await;
}

#[actix_rt::test]
async fn a_peer_minutes_behind_is_still_counted() {
    // 150 s behind: every expiration it would sign on its own clock is already past for the
    // others (entries live 60 s); after its first read it signs on the swarm's clock.
    let skewed = run(Protocol::V1, -150.0).await;
    assert!(skewed.mean_epoch > 0.0);
}
