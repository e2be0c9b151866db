//! Helpers shared by the integration tests: configs with fast refresh, and waiting for a
//! condition with a deadline (never a fixed sleep).

use std::time::{Duration, Instant};

use swarm_progress::TrackerConfig;

/// A tracker config with hivemind's test refresh periods (0.1 / 0.2 / 0.5 s).
pub fn fast_config(prefix: &str, target_batch_size: u64) -> TrackerConfig {
    TrackerConfig {
        prefix: prefix.into(),
        target_batch_size,
        min_refresh_period: 0.1,
        default_refresh_period: 0.2,
        max_refresh_period: 0.5,
        request_timeout: 2.0,
        ..TrackerConfig::default()
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Generous bound for conditions that normally take well under a second (CI is a loaded
/// 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A simulated trainer: every `period` it adds `batch` samples and reports them; when the
/// tracker says it is ready it pauses, moves to the next epoch (or catches up to the global
/// epoch when behind) and resets its samples, like hivemind's optimizer.
pub struct Trainer {
    /// Samples per step.
    pub batch: u64,
    /// Time between steps.
    pub period: Duration,
    /// The epoch the trainer starts at.
    pub start_epoch: u64,
}

/// What a trainer did.
#[derive(Debug, Default, Clone)]
pub struct TrainerLog {
    /// (epoch entered, when), in order.
    pub transitions: Vec<(u64, Instant)>,
    /// Steps taken.
    pub steps: u64,
}

impl Trainer {
    /// Trains until the local epoch reaches `until_epoch` or `limit` passes.
    pub async fn run(
        &self,
        tracker: &swarm_progress::ProgressTracker,
        until_epoch: u64,
        limit: Duration,
    ) -> TrainerLog {
        let deadline = Instant::now() + limit;
        let mut log = TrainerLog::default();
        let mut epoch = self.start_epoch;
        let mut samples = 0;
        let mut ticker = tokio::time::interval(self.period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while epoch < until_epoch && Instant::now() < deadline {
            ticker.tick().await;
            log.steps += 1;
            samples += self.batch;
            tracker.report_local_progress(epoch, samples).unwrap();
            if tracker.ready_to_update_epoch() {
                let target = (epoch + 1).max(tracker.global_epoch());
                let guard = tracker.pause_updates().await.unwrap();
                epoch = guard.update_epoch(Some(target)).await.unwrap();
                drop(guard);
                samples = 0;
                log.transitions.push((epoch, Instant::now()));
            }
        }
        log
    }
}
