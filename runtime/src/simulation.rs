//! Simulated trainers and what they did, for the demo, the benchmarks and the tests.
//!
//! A [`SimulatedTrainer`] adds `batch` samples every `period`, reports them, and when its
//! tracker says it is ready it pauses, moves to the next epoch (or catches up to the global epoch
//! when behind) and resets its samples, like hivemind's optimizer. Its [`TrainerLog`] records
//! every report and transition; [`summarize`] turns the logs of a swarm into per-epoch figures
//! (when the true sum crossed the target, each peer's detection lag, overshoot), as defined in
//! the reference benchmark.

use std::time::{Duration, Instant};

use crate::tracker::ProgressTracker;

/// A simulated trainer.
#[derive(Debug, Clone)]
pub struct SimulatedTrainer {
    /// Samples per step.
    pub batch: u64,
    /// Time between steps.
    pub period: Duration,
    /// The epoch the trainer starts at.
    pub start_epoch: u64,
    /// Delay before the first step (to stagger trainers).
    pub start_delay: Duration,
}

/// One report a trainer made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// The trainer's epoch.
    pub epoch: u64,
    /// Samples accumulated in it.
    pub samples: u64,
    /// When.
    pub at: Instant,
}

/// One epoch change a trainer made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// The epoch it left.
    pub from: u64,
    /// The epoch it entered.
    pub to: u64,
    /// When its tracker said it was ready.
    pub at: Instant,
}

/// What a trainer did.
#[derive(Debug, Clone, Default)]
pub struct TrainerLog {
    /// Every report, in order.
    pub reports: Vec<Report>,
    /// Every epoch change, in order.
    pub transitions: Vec<Transition>,
}

impl TrainerLog {
    /// The last epoch the trainer entered (its start epoch if it never moved).
    pub fn final_epoch(&self, start_epoch: u64) -> u64 {
        self.transitions.last().map_or(start_epoch, |t| t.to)
    }
}

impl SimulatedTrainer {
    /// Trains until the local epoch reaches `until_epoch`, `limit` passes, or the tracker
    /// becomes unusable.
    pub async fn run(
        &self,
        tracker: &ProgressTracker,
        until_epoch: u64,
        limit: Duration,
    ) -> TrainerLog {
        let deadline = Instant::now() + limit;
        tokio::time::sleep(self.start_delay).await;
        let mut log = TrainerLog::default();
        let mut epoch = self.start_epoch;
        let mut samples = 0;
        let mut ticker = tokio::time::interval(self.period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while epoch < until_epoch && Instant::now() < deadline {
            ticker.tick().await;
            samples += self.batch;
            if tracker.report_local_progress(epoch, samples).is_err() {
                break;
            }
            log.reports.push(Report {
                epoch,
                samples,
                at: Instant::now(),
            });
            if !tracker.ready_to_update_epoch() {
                continue;
            }
            let seen_at = Instant::now();
            let next = (epoch + 1).max(tracker.global_epoch());
            let Ok(guard) = tracker.pause_updates().await else {
                break;
            };
            let Ok(entered) = guard.update_epoch(Some(next)).await else {
                continue;
            };
            drop(guard);
            log.transitions.push(Transition {
                from: epoch,
                to: entered,
                at: seen_at,
            });
            epoch = entered;
            samples = 0;
        }
        log
    }
}

/// Figures of one epoch of a simulated swarm.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochSummary {
    /// The epoch.
    pub epoch: u64,
    /// Seconds from `start` until the true sum of reported samples reached the target.
    pub crossed_at: Option<f64>,
    /// Seconds between the first peer leaving the previous epoch (or `start`) and the first
    /// peer leaving this one.
    pub duration: Option<f64>,
    /// Peers that left this epoch.
    pub peers: usize,
    /// Samples reported for this epoch by the time the peers left it.
    pub samples: u64,
    /// Each leaving peer's detection lag in seconds (negative: it left before the true sum
    /// reached the target, on the ETA).
    pub lags: Vec<f64>,
}

impl EpochSummary {
    /// `(samples - target) / target`.
    pub fn overshoot(&self, target: u64) -> f64 {
        (self.samples as f64 - target as f64) / target as f64
    }
}

/// Per-epoch figures for the epochs that every trainer left. Pure: depends only on the logs.
pub fn summarize(logs: &[TrainerLog], target: u64, start: Instant) -> Vec<EpochSummary> {
    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut epochs: Vec<u64> = logs
        .iter()
        .flat_map(|l| l.transitions.iter().map(|t| t.from))
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    let mut previous_exit: Option<f64> = Some(0.0);
    let mut out = Vec::new();
    for epoch in epochs {
        let leavers: Vec<&Transition> = logs
            .iter()
            .filter_map(|l| l.transitions.iter().find(|t| t.from == epoch))
            .collect();
        // The true sum: every peer's latest report for this epoch, over time.
        let mut reports: Vec<(Instant, usize, u64)> = logs
            .iter()
            .enumerate()
            .flat_map(|(peer, l)| {
                l.reports
                    .iter()
                    .filter(|r| r.epoch == epoch)
                    .map(move |r| (r.at, peer, r.samples))
            })
            .collect();
        reports.sort_by_key(|(at, _, _)| *at);
        let mut latest = vec![0u64; logs.len()];
        let mut crossed = None;
        for (at, peer, samples) in &reports {
            latest[*peer] = *samples;
            if crossed.is_none() && latest.iter().sum::<u64>() >= target {
                crossed = Some(secs(*at));
            }
        }
        let first_exit = leavers
            .iter()
            .map(|t| secs(t.at))
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        out.push(EpochSummary {
            epoch,
            crossed_at: crossed,
            duration: first_exit.zip(previous_exit).map(|(a, b)| a - b),
            peers: leavers.len(),
            samples: latest.iter().sum(),
            lags: crossed.map_or_else(Vec::new, |c| {
                leavers.iter().map(|t| secs(t.at) - c).collect()
            }),
        });
        previous_exit = first_exit;
    }
    out
}

/// The `q`-quantile (0..=1) of `values` by nearest rank; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1) - 1;
    Some(sorted[rank.min(sorted.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: f64) -> Instant {
        start + Duration::from_secs_f64(secs)
    }

    #[test]
    fn summary_of_two_peers_with_known_numbers() {
        let s = Instant::now();
        let report = |epoch, samples, t| Report {
            epoch,
            samples,
            at: at(s, t),
        };
        // Target 100. Peer 0 reports 30 at 1 s and 60 at 2 s; peer 1 reports 50 at 1.5 s:
        // the sum reaches 110 >= 100 at 2 s. Peer 0 leaves at 2.25 s, peer 1 at 1.9 s (early).
        let logs = vec![
            TrainerLog {
                reports: vec![report(0, 30, 1.0), report(0, 60, 2.0), report(1, 10, 2.5)],
                transitions: vec![Transition {
                    from: 0,
                    to: 1,
                    at: at(s, 2.25),
                }],
            },
            TrainerLog {
                reports: vec![report(0, 50, 1.5)],
                transitions: vec![Transition {
                    from: 0,
                    to: 1,
                    at: at(s, 1.9),
                }],
            },
        ];
        let summary = summarize(&logs, 100, s);
        assert_eq!(summary.len(), 1);
        let e = &summary[0];
        assert_eq!(e.epoch, 0);
        assert_eq!(e.peers, 2);
        assert_eq!(e.samples, 110);
        assert!((e.crossed_at.unwrap() - 2.0).abs() < 1e-6);
        assert!((e.duration.unwrap() - 1.9).abs() < 1e-6);
        assert!((e.lags[0] - 0.25).abs() < 1e-6);
        assert!((e.lags[1] + 0.1).abs() < 1e-6);
        assert!((e.overshoot(100) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn an_epoch_whose_target_was_never_reached_has_no_lags() {
        let s = Instant::now();
        let logs = vec![TrainerLog {
            reports: vec![Report {
                epoch: 3,
                samples: 5,
                at: at(s, 1.0),
            }],
            transitions: vec![Transition {
                from: 3,
                to: 4,
                at: at(s, 1.5),
            }],
        }];
        let e = &summarize(&logs, 100, s)[0];
        assert_eq!(e.crossed_at, None);
        assert!(e.lags.is_empty());
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.95), Some(5.0));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
