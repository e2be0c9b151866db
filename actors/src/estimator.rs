//! The estimator: swarm entries -> [`GlobalProgress`], as a pure function (DESIGN.md §2,
//! hivemind's `ProgressTracker._parse_swarm_progress_data`).
//!
//! Rules, in the order the code applies them:
//! - Tombstones (entries with a null value) are ignored. With no live entries the swarm is just
//!   this peer: global = local epoch and samples, 0 peers, ETA = now + remaining local samples /
//!   local speed, next fetch = now + `default_refresh_period`.
//! - `num_peers` counts live entries, `num_clients` those in client mode.
//! - Global epoch = max(local epoch, epochs of non-client peers).
//! - Samples accumulated = sum of `samples_accumulated` over peers at the global epoch.
//! - Speed = local eps + every live peer's `samples_per_second` (also peers behind).
//! - Estimated current samples = sum over peers at the global epoch of
//!   `samples + max(0, now - peer.time) * samples_per_second` (a report from the future does not
//!   count backwards).
//! - ETA = now + max(0, target - estimated) / speed.
//! - Next fetch in clip(eta_seconds * num_peers / expected_max_peers, min, max), where
//!   expected_max_peers = max(num_peers + drift_peers, num_peers * (1 + drift_rate)).
//!
//! Note one deliberate reading of the contract: hivemind takes the "no peers" branch only for an
//! empty dictionary; DESIGN.md (and this code) take it whenever no entry is live, so a swarm of
//! tombstones behaves exactly like an empty one instead of producing a ~1e22 s ETA.

use crate::config::TrackerConfig;
use crate::progress::{GlobalProgress, LocalProgress};

/// What the estimator needs to know of this peer.
#[derive(Debug, Clone, Copy)]
pub struct LocalView<'a> {
    /// This peer's current local progress.
    pub progress: &'a LocalProgress,
    /// This peer's EMA speed (samples per second).
    pub samples_per_second: f64,
    /// The EMA's eps, added to the swarm speed so it is never zero.
    pub eps: f64,
}

/// Computes the global progress from the swarm's entries (`None` = tombstone) at time `now`.
pub fn estimate<'a, I>(
    local: &LocalView<'_>,
    swarm: I,
    now: f64,
    config: &TrackerConfig,
) -> GlobalProgress
where
    I: IntoIterator<Item = Option<&'a LocalProgress>>,
{
    let peers: Vec<&LocalProgress> = swarm.into_iter().flatten().collect();
    let target = config.target_batch_size;

    if peers.is_empty() {
        let remaining = target.saturating_sub(local.progress.samples_accumulated) as f64;
        let speed = positive_or(local.samples_per_second, local.eps);
        return GlobalProgress {
            epoch: local.progress.epoch,
            samples_accumulated: local.progress.samples_accumulated,
            target_batch_size: target,
            num_peers: 0,
            num_clients: 0,
            eta_next_epoch: now + remaining / speed,
            next_fetch_time: now + config.default_refresh_period,
        };
    }

    let num_peers = peers.len() as u64;
    let num_clients = peers.iter().filter(|p| p.client_mode).count() as u64;
    let global_epoch = peers
        .iter()
        .filter(|p| !p.client_mode)
        .map(|p| p.epoch)
        .fold(local.progress.epoch, u64::max);

    let mut samples_accumulated: u64 = 0;
    let mut estimated_current = 0.0_f64;
    let mut speed = positive_or(local.eps, f64::MIN_POSITIVE);
    for peer in &peers {
        speed += peer.samples_per_second;
        if peer.epoch == global_epoch {
            samples_accumulated = samples_accumulated.saturating_add(peer.samples_accumulated);
            let elapsed = (now - peer.time).max(0.0);
            estimated_current +=
                peer.samples_accumulated as f64 + elapsed * peer.samples_per_second;
        }
    }

    let remaining = (target as f64 - estimated_current).max(0.0);
    let eta_seconds = remaining / speed;

    let n = num_peers as f64;
    let expected_max_peers =
        (n + config.expected_drift_peers).max(n * (1.0 + config.expected_drift_rate));
    let fetch_in = clip(
        eta_seconds * n / expected_max_peers,
        config.min_refresh_period,
        config.max_refresh_period,
    );

    GlobalProgress {
        epoch: global_epoch,
        samples_accumulated,
        target_batch_size: target,
        num_peers,
        num_clients,
        eta_next_epoch: now + eta_seconds,
        next_fetch_time: now + fetch_in,
    }
}

/// `value` if it is a finite positive number, else `fallback`.
fn positive_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        fallback
    }
}

/// Clamps `value` into `[min, max]`; NaN goes to `min` (fetch sooner rather than never).
fn clip(value: f64, min: f64, max: f64) -> f64 {
    if value.is_nan() {
        min
    } else {
        value.max(min).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1000.0;
    const EPS: f64 = 1e-20;

    fn config() -> TrackerConfig {
        TrackerConfig {
            target_batch_size: 1000,
            ..TrackerConfig::default()
        }
    }

    fn peer(epoch: u64, samples: u64, speed: f64, time: f64) -> LocalProgress {
        LocalProgress {
            peer_id: "peer".into(),
            epoch,
            samples_accumulated: samples,
            samples_per_second: speed,
            time,
            client_mode: false,
        }
    }

    fn client(epoch: u64, samples: u64, speed: f64, time: f64) -> LocalProgress {
        LocalProgress {
            client_mode: true,
            ..peer(epoch, samples, speed, time)
        }
    }

    fn run(
        local: &LocalProgress,
        local_speed: f64,
        swarm: &[Option<LocalProgress>],
    ) -> GlobalProgress {
        let view = LocalView {
            progress: local,
            samples_per_second: local_speed,
            eps: EPS,
        };
        estimate(&view, swarm.iter().map(Option::as_ref), NOW, &config())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn no_peers_extrapolates_the_local_peer_alone() {
        let local = peer(4, 200, 0.0, NOW);
        let g = run(&local, 40.0, &[]);
        assert_eq!(
            (g.epoch, g.samples_accumulated, g.target_batch_size),
            (4, 200, 1000)
        );
        assert_eq!((g.num_peers, g.num_clients), (0, 0));
        // 800 remaining at 40/s: 20 s.
        assert!(close(g.eta_next_epoch, NOW + 20.0));
        assert!(close(g.next_fetch_time, NOW + 3.0));
    }

    #[test]
    fn tombstones_are_ignored_and_only_tombstones_mean_no_peers() {
        let local = peer(1, 100, 0.0, NOW);
        let only_tombstones = run(&local, 10.0, &[None, None]);
        assert_eq!(only_tombstones.num_peers, 0);
        assert!(close(only_tombstones.eta_next_epoch, NOW + 90.0));

        let mixed = run(&local, 10.0, &[None, Some(peer(1, 300, 5.0, NOW)), None]);
        assert_eq!(mixed.num_peers, 1);
        assert_eq!(mixed.samples_accumulated, 300);
    }

    #[test]
    fn clients_are_counted_but_do_not_drive_the_epoch() {
        let local = peer(2, 0, 0.0, NOW);
        let g = run(
            &local,
            1.0,
            &[Some(peer(2, 100, 10.0, NOW)), Some(client(9, 50, 5.0, NOW))],
        );
        assert_eq!((g.num_peers, g.num_clients), (2, 1));
        assert_eq!(g.epoch, 2);
        // The client sits at epoch 9, not the global epoch 2, so its samples do not count.
        assert_eq!(g.samples_accumulated, 100);
    }

    #[test]
    fn global_epoch_is_max_of_local_and_non_client_peers() {
        let local = peer(5, 0, 0.0, NOW);
        let behind = run(&local, 1.0, &[Some(peer(3, 10, 1.0, NOW))]);
        assert_eq!(behind.epoch, 5);
        let ahead = run(
            &local,
            1.0,
            &[Some(peer(3, 10, 1.0, NOW)), Some(peer(7, 20, 1.0, NOW))],
        );
        assert_eq!(ahead.epoch, 7);
        assert_eq!(ahead.samples_accumulated, 20);
    }

    #[test]
    fn peers_behind_add_speed_but_no_samples() {
        let local = peer(1, 0, 0.0, NOW);
        // At epoch 1: 400 samples at 10/s. Behind (epoch 0): 500 samples at 30/s.
        let g = run(
            &local,
            99.0,
            &[Some(peer(1, 400, 10.0, NOW)), Some(peer(0, 500, 30.0, NOW))],
        );
        assert_eq!(g.samples_accumulated, 400);
        // remaining 600 at (10 + 30 + eps)/s = 15 s. The local EMA speed is not added (only eps).
        assert!(close(g.eta_next_epoch, NOW + 15.0));
    }

    #[test]
    fn extrapolates_by_elapsed_time_and_clamps_future_reports() {
        let local = peer(0, 0, 0.0, NOW);
        // 100 samples reported 10 s ago at 20/s: estimated 300 now.
        // 100 samples reported 5 s "in the future" at 20/s: estimated 100 (no negative elapsed).
        let g = run(
            &local,
            1.0,
            &[
                Some(peer(0, 100, 20.0, NOW - 10.0)),
                Some(peer(0, 100, 20.0, NOW + 5.0)),
            ],
        );
        assert_eq!(g.samples_accumulated, 200);
        // remaining 1000 - 400 = 600 at 40/s = 15 s.
        assert!(close(g.eta_next_epoch, NOW + 15.0));
    }

    #[test]
    fn eta_is_now_once_the_estimate_passes_the_target() {
        let local = peer(0, 0, 0.0, NOW);
        let g = run(&local, 1.0, &[Some(peer(0, 900, 50.0, NOW - 4.0))]);
        // 900 + 4 * 50 = 1100 >= 1000.
        assert_eq!(g.eta_next_epoch, NOW);
        assert!(close(g.next_fetch_time, NOW + 0.5));
    }

    #[test]
    fn refresh_period_uses_drift_and_is_clipped() {
        let local = peer(0, 0, 0.0, NOW);
        // One peer, 0 samples at 100/s: eta 10 s; expected max peers = max(1 + 3, 1.2) = 4;
        // fetch in 10 * 1 / 4 = 2.5 s (inside [0.5, 10]).
        let g = run(&local, 1.0, &[Some(peer(0, 0, 100.0, NOW))]);
        assert!(close(g.eta_next_epoch, NOW + 10.0));
        assert!(close(g.next_fetch_time, NOW + 2.5));

        // 20 peers at 1/s each: eta 1000 / 20 = 50 s; expected max = max(23, 24) = 24;
        // 50 * 20 / 24 = 41.67 s, clipped to 10.
        let swarm: Vec<_> = (0..20).map(|_| Some(peer(0, 0, 1.0, NOW))).collect();
        let g = run(&local, 1.0, &swarm);
        assert!(close(g.eta_next_epoch, NOW + 50.0));
        assert!(close(g.next_fetch_time, NOW + 10.0));

        // 20 peers at 100/s: eta 0.5 s; 0.5 * 20 / 24 = 0.4167, clipped up to 0.5.
        let swarm: Vec<_> = (0..20).map(|_| Some(peer(0, 0, 100.0, NOW))).collect();
        let g = run(&local, 1.0, &swarm);
        assert!(close(g.next_fetch_time, NOW + 0.5));

        // Drift by rate: 100 peers at 0.5/s: eta 20 s; expected max = max(103, 120) = 120;
        // 20 * 100 / 120 = 16.67, clipped to 10. With max 60: 16.67.
        let swarm: Vec<_> = (0..100).map(|_| Some(peer(0, 0, 0.5, NOW))).collect();
        let view = LocalView {
            progress: &local,
            samples_per_second: 1.0,
            eps: EPS,
        };
        let wide = TrackerConfig {
            max_refresh_period: 60.0,
            ..config()
        };
        let g = estimate(&view, swarm.iter().map(Option::as_ref), NOW, &wide);
        assert!(close(g.next_fetch_time, NOW + 20.0 * 100.0 / 120.0));
    }

    #[test]
    fn zero_speed_swarm_gives_a_finite_eta() {
        let local = peer(0, 0, 0.0, NOW);
        let g = run(&local, 0.0, &[Some(peer(0, 0, 0.0, NOW))]);
        assert!(g.eta_next_epoch.is_finite());
        assert!(g.eta_next_epoch > NOW + 1e20);
        assert!(close(g.next_fetch_time, NOW + 10.0));
        let alone = run(&local, 0.0, &[]);
        assert!(alone.eta_next_epoch.is_finite());
    }
}
