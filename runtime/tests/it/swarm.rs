//! The swarm scenario over MemoryDht: trainers of different speeds advance epochs together; a
//! fast peer that joins late at a higher epoch pulls everyone to its epoch and shortens the
//! epochs while it is in; every tracker's EMA orders the peers by their true speed; a peer that
//! only watches has a speed of ~0.

use std::rc::Rc;
use std::time::{Duration, Instant};

use swarm_progress::{
    GatewayFactory, MemoryNetwork, ProgressRecord, ProgressTracker, Protocol, SystemClock,
};

use swarm_progress::simulation::SimulatedTrainer as Trainer;

use crate::support::{eventually, fast_config};

#[actix_rt::test]
async fn trainers_advance_together_and_a_late_fast_peer_speeds_them_up() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peers = net.clone();
    scenario(
        Protocol::V1,
        move || Box::new(peers.peer().unwrap()) as Box<dyn GatewayFactory>,
        move |key| net.record(key),
    )
    .await;
}

#[actix_rt::test]
async fn with_protocol_v2_trainers_advance_together_and_a_late_fast_peer_speeds_them_up() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peers = net.clone();
    scenario(
        Protocol::V2,
        move || Box::new(peers.peer().unwrap()) as Box<dyn GatewayFactory>,
        move |key| net.record(key),
    )
    .await;
}

/// The scenario, over any gateway, with trackers of `protocol`: `new_peer` makes each tracker's
/// gateway, `read` reads the progress record as the DHT holds it.
pub async fn scenario(
    protocol: Protocol,
    mut new_peer: impl FnMut() -> Box<dyn GatewayFactory>,
    read: impl Fn(&str) -> Option<ProgressRecord>,
) {
    const TARGET: u64 = 1500;
    let config = || swarm_progress::TrackerConfig {
        protocol,
        ..fast_config("swarm", TARGET)
    };
    // 8 samples every 20/40/80/160 ms: 400 + 200 + 100 + 50 = 750 samples/s, 2 s per epoch.
    let periods = [20u64, 40, 80, 160];
    let mut trackers = Vec::new();
    for _ in periods {
        trackers.push(Rc::new(
            ProgressTracker::start(config(), new_peer()).await.unwrap(),
        ));
    }
    let watcher = ProgressTracker::start(config(), new_peer()).await.unwrap();

    let final_epoch = 7;
    let limit = Duration::from_secs(90);
    let mut runs = Vec::new();
    for (tracker, period) in trackers.iter().zip(periods) {
        let tracker = tracker.clone();
        let trainer = Trainer {
            batch: 8,
            period: Duration::from_millis(period),
            start_epoch: 0,
            start_delay: Duration::ZERO,
        };
        runs.push(actix_rt::spawn(async move {
            trainer.run(&tracker, final_epoch, limit).await
        }));
    }

    // Watch the global epoch and time its changes.
    let mut changes: Vec<(u64, Instant)> = Vec::new();
    let record = |changes: &mut Vec<(u64, Instant)>| {
        let epoch = watcher.global_epoch();
        if changes.last().map(|(e, _)| *e) != Some(epoch) {
            changes.push((epoch, Instant::now()));
        }
    };
    assert!(
        eventually(limit, || {
            record(&mut changes);
            watcher.global_epoch() >= 3
        })
        .await,
        "the swarm did not reach epoch 3: {:?}",
        watcher.global_progress()
    );

    // A fast peer (800 samples/s) joins one epoch ahead.
    let join_epoch = watcher.global_epoch() + 1;
    let late = Rc::new(ProgressTracker::start(config(), new_peer()).await.unwrap());
    let late_run = {
        let late = late.clone();
        let trainer = Trainer {
            batch: 8,
            period: Duration::from_millis(10),
            start_epoch: join_epoch,
            start_delay: Duration::ZERO,
        };
        actix_rt::spawn(async move { trainer.run(&late, final_epoch, limit).await })
    };
    assert!(
        eventually(limit, || {
            record(&mut changes);
            watcher.global_epoch() >= final_epoch
        })
        .await,
        "the swarm did not reach epoch {final_epoch}: {:?}",
        watcher.global_progress()
    );

    let mut logs = Vec::new();
    for run in runs {
        logs.push(run.await.unwrap());
    }
    let late_log = late_run.await.unwrap();

    // Every trainer, the late one included, reached the final epoch.
    for log in logs.iter().chain([&late_log]) {
        assert_eq!(
            log.transitions.last().map(|t| t.to),
            Some(final_epoch),
            "{log:?}"
        );
    }
    // The late peer's epoch became the swarm's, and the swarm went through every epoch one at a
    // time (a trainer that is behind may skip an epoch to catch up, the swarm does not).
    let seen: Vec<u64> = changes.iter().map(|(e, _)| *e).collect();
    assert!(seen.contains(&join_epoch), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "global epoch skipped: {seen:?}"
    );
    assert_eq!(
        late_log.transitions.first().map(|t| t.to),
        Some(join_epoch + 1)
    );

    // Epoch durations seen by the watcher: whole epochs before the join vs. after it.
    let durations = |from: u64, to: u64| -> Vec<f64> {
        changes
            .windows(2)
            .filter(|w| w[0].0 >= from && w[1].0 <= to && w[1].0 == w[0].0 + 1)
            .map(|w| (w[1].1 - w[0].1).as_secs_f64())
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let before = durations(1, join_epoch - 1);
    let after = durations(join_epoch, final_epoch);
    assert!(!before.is_empty() && !after.is_empty(), "{changes:?}");
    assert!(
        mean(&after) < 0.8 * mean(&before),
        "epochs did not get shorter: before {before:?}, after {after:?}"
    );

    // Speed estimates follow the true speeds (2x apart), and the watcher's is ~0.
    let speeds: Vec<f64> = trackers.iter().map(|t| t.samples_per_second()).collect();
    assert!(
        speeds.windows(2).all(|w| w[0] > w[1]),
        "speeds out of order: {speeds:?}"
    );
    assert!(
        late.samples_per_second() > speeds[0],
        "{} vs {speeds:?}",
        late.samples_per_second()
    );
    assert!(watcher.samples_per_second() < 1e-6);
    // And the swarm's entries carry them too: the watcher sees the published speeds in order.
    let record = read(&config().progress_key()).unwrap();
    let published = |t: &ProgressTracker| {
        record
            .get(&t.peer_key())
            .and_then(|e| e.value().map(|v| v.samples_per_second))
            .unwrap_or(0.0)
    };
    let published_speeds: Vec<f64> = trackers.iter().map(|t| published(t)).collect();
    assert!(
        published_speeds.windows(2).all(|w| w[0] > w[1]),
        "{published_speeds:?}"
    );
}
