//! The estimator: swarm entries -> [`GlobalProgress`], as a pure function (PROTOCOL.md §6.6,
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
//!   `samples + max(0, now - anchor) * samples_per_second` (a report from the future does not
//!   count backwards). hivemind's anchor is `peer.time`, the publisher's clock; a tracker
//!   anchors each entry at `time + offset` of its publisher's clock instead
//!   ([`crate::peer_clocks`], PROTOCOL.md §6.1), so a skewed clock neither rushes nor stalls
//!   the swarm. [`estimate`] alone (no clocks known) is hivemind's arithmetic.
//! - ETA = now + max(0, target - estimated) / speed.
//! - Next fetch in clip(eta_seconds * num_peers / expected_max_peers, min, max), where
//!   expected_max_peers = max(num_peers + drift_peers, num_peers * (1 + drift_rate)).
//!
//! ## Per-peer contribution bound (not in hivemind; `tracker.peer_contribution_bound`, on by default)
//! A peer's entry is signed by that peer, so it can say anything that passes the schema: a liar
//! can claim a billion samples or a speed a million times the others'. Unbounded, such a peer
//! alone makes every honest peer `ready_to_update_epoch` at its next fetch. With the bound,
//! each peer's numbers are clipped against the *median of the other peers* (`R` =
//! `tracker.max_peer_ratio`, default 10):
//! - **speed**: `min(speed, R × median speed of the other active peers)`, where active means a
//!   speed above [`ACTIVE_SPEED`] (a watcher's EMA sits at eps ~1e-20 and is not a reference);
//! - **samples at the global epoch**: both the reported samples and the extrapolated estimate
//!   (`samples + elapsed × bounded speed`) are clipped to `R ×` the median of the same quantity
//!   over the *other active peers at the global epoch*, or to a fair share of the target
//!   (`target / n`, `n` active peers at the global epoch) when that is more.
//!
//! A peer with no reference (alone, or among watchers only) is never clipped, so a lone honest
//! peer finishes its epochs exactly as in hivemind, and in a swarm where every peer is within
//! `R×` of the others' median nothing changes at all. What the rule guarantees: one peer
//! counts as at most "a peer `R×` as fast / as far along as the typical other peer", or one that
//! did its fair share: at the start of an epoch (the others' median samples 0) it brings the
//! epoch forward by at most `1 / n` of it instead of ending it, and an honest peer that entered
//! the epoch a moment before the others is counted in full, as in hivemind.
//! What it cannot do: tell a liar from an honest peer that really is `R×` faster, so with `n`
//! equal honest peers a liar still shortens an epoch to about `n / (n + R)` of its length; and
//! with fewer honest than lying peers the medians are the liars'. The global *epoch* is not
//! bounded (a peer at a higher epoch pulls the swarm, as in hivemind).
//!
//! Note one deliberate reading of the contract: hivemind takes the "no peers" branch only for an
//! empty dictionary; PROTOCOL.md §6.6 (and this code) take it whenever no entry is live, so a swarm of
//! tombstones behaves exactly like an empty one instead of producing a ~1e22 s ETA.

use crate::config::TrackerConfig;
use crate::peer_clocks::PeerClocks;
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
    estimate_counting(local, swarm, now, config, &PeerClocks::new()).0
}

/// [`estimate`] with each entry anchored by its publisher's clock offset in `clocks`, and how
/// many peers the contribution bound clipped (for logs and metrics).
pub fn estimate_counting<'a, I>(
    local: &LocalView<'_>,
    swarm: I,
    now: f64,
    config: &TrackerConfig,
    clocks: &PeerClocks,
) -> (GlobalProgress, usize)
where
    I: IntoIterator<Item = Option<&'a LocalProgress>>,
{
    let peers: Vec<&LocalProgress> = swarm.into_iter().flatten().collect();
    let target = config.target_batch_size;

    if peers.is_empty() {
        let remaining = target.saturating_sub(local.progress.samples_accumulated) as f64;
        let speed = positive_or(local.samples_per_second, local.eps);
        let alone = GlobalProgress {
            epoch: local.progress.epoch,
            samples_accumulated: local.progress.samples_accumulated,
            target_batch_size: target,
            num_peers: 0,
            num_clients: 0,
            eta_next_epoch: now + remaining / speed,
            next_fetch_time: now + config.default_refresh_period,
        };
        return (alone, 0);
    }

    let num_peers = peers.len() as u64;
    let num_clients = peers.iter().filter(|p| p.client_mode).count() as u64;
    let global_epoch = peers
        .iter()
        .filter(|p| !p.client_mode)
        .map(|p| p.epoch)
        .fold(local.progress.epoch, u64::max);

    let ratio = config
        .peer_contribution_bound
        .then_some(config.max_peer_ratio);
    let elapsed: Vec<f64> = peers
        .iter()
        .map(|p| (now - clocks.anchor(p)).max(0.0))
        .collect();
    let counted = bound_contributions(&peers, &elapsed, global_epoch, ratio, target);

    let mut samples_accumulated: u64 = 0;
    let mut estimated_current = 0.0_f64;
    let mut speed = positive_or(local.eps, f64::MIN_POSITIVE);
    for (peer, c) in peers.iter().zip(&counted) {
        speed += c.samples_per_second;
        if peer.epoch == global_epoch {
            samples_accumulated = samples_accumulated.saturating_add(c.samples);
            estimated_current += c.estimated;
        }
    }

    let remaining = (target as f64 - estimated_current).max(0.0);
    let eta_seconds = remaining / speed;

    let n = num_peers as f64;
    let expected_max_peers =
        (n + config.expected_drift_peers).max(n * (1.0 + config.expected_drift_rate));
    let mut fetch_in = clip(
        eta_seconds * n / expected_max_peers,
        config.min_refresh_period,
        config.max_refresh_period,
    );
    // Not in hivemind: while some trainer's speed is still unknown (it has not reported
    // samples yet, as every peer at the start of a run), the ETA says nothing and would push the
    // next read out to `max_refresh_period`, blind to the swarm's first epoch. Read at least
    // every `default_refresh_period` until every trainer's speed is known.
    let unknown_speed = peers
        .iter()
        .zip(&counted)
        .any(|(p, c)| !p.client_mode && c.samples_per_second <= ACTIVE_SPEED);
    if unknown_speed {
        fetch_in = fetch_in.min(config.default_refresh_period.max(config.min_refresh_period));
    }

    let global = GlobalProgress {
        epoch: global_epoch,
        samples_accumulated,
        target_batch_size: target,
        num_peers,
        num_clients,
        eta_next_epoch: now + eta_seconds,
        next_fetch_time: now + fetch_in,
    };
    (global, counted.iter().filter(|c| c.bounded).count())
}

/// Below this speed (samples per second) a peer is idle: it is not a reference for the
/// contribution bound. A peer that never trained reports its EMA's eps (1e-20).
pub const ACTIVE_SPEED: f64 = 1e-9;

/// What the estimator counts of one peer, after the contribution bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    /// Counted speed (samples per second).
    pub samples_per_second: f64,
    /// Counted samples (meaningful for a peer at the global epoch).
    pub samples: u64,
    /// Counted estimate of its current samples, `samples + elapsed × speed`, clipped.
    pub estimated: f64,
    /// Whether any of the three was clipped.
    pub bounded: bool,
}

/// Each peer's counted contribution (module docs: "Per-peer contribution bound"), given how
/// many seconds each has to be extrapolated by (`elapsed[i]`, >= 0, for `peers[i]`).
/// `max_ratio` = `None` counts every peer as reported (hivemind's semantics); `target` is the
/// epoch's target batch size (the fair-share floor of the samples caps).
pub fn bound_contributions(
    peers: &[&LocalProgress],
    elapsed: &[f64],
    global_epoch: u64,
    max_ratio: Option<f64>,
    target: u64,
) -> Vec<Contribution> {
    let active = |p: &LocalProgress| p.samples_per_second > ACTIVE_SPEED;
    let Some(ratio) = max_ratio else {
        return peers
            .iter()
            .zip(elapsed)
            .map(|(p, elapsed)| Contribution {
                samples_per_second: p.samples_per_second,
                samples: p.samples_accumulated,
                estimated: p.samples_accumulated as f64 + elapsed * p.samples_per_second,
                bounded: false,
            })
            .collect();
    };

    // Speeds: against the other active peers, whatever their epoch.
    let speeds = OthersMedian::new(
        peers
            .iter()
            .filter(|p| active(p))
            .map(|p| p.samples_per_second),
    );
    let bounded_speed: Vec<f64> = peers
        .iter()
        .map(|p| {
            let own = p.samples_per_second;
            let reference = speeds.of_others(active(p).then_some(own));
            reference.map_or(own, |m| own.min(ratio * m))
        })
        .collect();

    // Samples: against the other active peers at the global epoch.
    let at_epoch = |p: &LocalProgress| p.epoch == global_epoch && active(p);
    let estimate_of =
        |i: usize| peers[i].samples_accumulated as f64 + elapsed[i] * bounded_speed[i];
    let reported = OthersMedian::new(
        peers
            .iter()
            .filter(|p| at_epoch(p))
            .map(|p| p.samples_accumulated as f64),
    );
    let estimates = OthersMedian::new(
        (0..peers.len())
            .filter(|&i| at_epoch(peers[i]))
            .map(estimate_of),
    );
    // The floor of the samples caps: a fair share of the target, so an honest peer is never
    // clipped below what it holds after doing 1/n of an epoch, even when the others hold 0
    // (right after an epoch change, or a newcomer beside it).
    let active_at_epoch = peers.iter().filter(|p| at_epoch(p)).count();
    let share = if active_at_epoch > 0 {
        target as f64 / active_at_epoch as f64
    } else {
        0.0
    };
    (0..peers.len())
        .map(|i| {
            let p = peers[i];
            let own_samples = p.samples_accumulated as f64;
            let own_estimate = estimate_of(i);
            let (samples, estimated) = if at_epoch(p) {
                (
                    reported.of_others(Some(own_samples)),
                    estimates.of_others(Some(own_estimate)),
                )
            } else {
                (reported.of_others(None), estimates.of_others(None))
            };
            let cap = |m: f64| (ratio * m).max(share);
            let samples = match samples {
                // `as` saturates; the cap is only applied when it is below the reported value.
                Some(m) if cap(m) < own_samples => cap(m) as u64,
                _ => p.samples_accumulated,
            };
            let estimated = estimated.map_or(own_estimate, |m| own_estimate.min(cap(m)));
            let speed = bounded_speed[i];
            Contribution {
                samples_per_second: speed,
                samples,
                estimated,
                bounded: speed < p.samples_per_second
                    || samples < p.samples_accumulated
                    || estimated < own_estimate,
            }
        })
        .collect()
}

/// The median of a multiset with one member left out, in O(log n) per query.
struct OthersMedian {
    sorted: Vec<f64>,
}

impl OthersMedian {
    fn new(values: impl Iterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.collect();
        sorted.sort_by(f64::total_cmp);
        Self { sorted }
    }

    /// The median of the values without one copy of `own` (when `own` is a member), or `None`
    /// if nothing is left.
    fn of_others(&self, own: Option<f64>) -> Option<f64> {
        let skip = own.map(|v| self.sorted.partition_point(|x| x.total_cmp(&v).is_lt()));
        let len = self.sorted.len() - usize::from(skip.is_some());
        if len == 0 {
            return None;
        }
        let at = |k: usize| match skip {
            Some(s) if k >= s => self.sorted[k + 1],
            _ => self.sorted[k],
        };
        Some(if len % 2 == 1 {
            at(len / 2)
        } else {
            (at(len / 2 - 1) + at(len / 2)) / 2.0
        })
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
    fn unknown_speeds_cap_the_refresh_at_the_default_period() {
        let local = peer(0, 0, 0.0, NOW);
        // Three trainers that have not reported samples yet (EMA eps): the ETA is ~1e22 s,
        // hivemind would wait max_refresh (10 s); we read again after default_refresh (3 s).
        let idle: Vec<_> = (0..3).map(|_| Some(peer(0, 0, 1e-20, NOW))).collect();
        let g = run(&local, 1e-20, &idle);
        assert!(close(g.next_fetch_time, NOW + 3.0), "{g:?}");
        // One of three still unknown: same cap.
        let mixed = vec![
            Some(peer(0, 0, 1.0, NOW)),
            Some(peer(0, 0, 1.0, NOW)),
            Some(peer(0, 0, 1e-20, NOW)),
        ];
        let g = run(&local, 1.0, &mixed);
        assert!(close(g.next_fetch_time, NOW + 3.0), "{g:?}");
        // A watcher (client mode) never reports samples: it does not hold the cap.
        let mut watcher = peer(0, 0, 1e-20, NOW);
        watcher.client_mode = true;
        let known = vec![
            Some(peer(0, 0, 1.0, NOW)),
            Some(peer(0, 0, 1.0, NOW)),
            Some(watcher),
        ];
        let g = run(&local, 1.0, &known);
        assert!(close(g.next_fetch_time, NOW + 10.0), "{g:?}");
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
        // Speeds unknown: read again after default_refresh, not max_refresh (hivemind: 10 s).
        assert!(close(g.next_fetch_time, NOW + 3.0));
        let alone = run(&local, 0.0, &[]);
        assert!(alone.eta_next_epoch.is_finite());
    }

    fn unbounded() -> TrackerConfig {
        TrackerConfig {
            peer_contribution_bound: false,
            ..config()
        }
    }

    fn run_with(
        config: &TrackerConfig,
        local: &LocalProgress,
        swarm: &[Option<LocalProgress>],
    ) -> GlobalProgress {
        let view = LocalView {
            progress: local,
            samples_per_second: 1.0,
            eps: EPS,
        };
        estimate(&view, swarm.iter().map(Option::as_ref), NOW, config)
    }

    #[test]
    fn a_liar_claiming_samples_far_above_target_is_clipped_to_ten_times_the_median() {
        let local = peer(0, 0, 0.0, NOW);
        // Three honest peers at 10/s with 100, 120, 140 samples; a liar claims 1,000,000.
        let mut swarm: Vec<_> = [100, 120, 140]
            .iter()
            .map(|&s| Some(peer(0, s, 10.0, NOW)))
            .collect();
        swarm.push(Some(peer(0, 1_000_000, 10.0, NOW)));
        // Unbounded (hivemind): the target of 1000 is passed, the epoch ends now.
        let open = run_with(&unbounded(), &local, &swarm);
        assert_eq!(open.samples_accumulated, 1_000_360);
        assert_eq!(open.eta_next_epoch, NOW);
        // Bounded: the liar counts 10 x median(100, 120, 140) = 1200... still above target, so
        // check the arithmetic with a tighter ratio too.
        let g = run(&local, 1.0, &swarm);
        assert_eq!(g.samples_accumulated, 360 + 1200);
        let tight = TrackerConfig {
            max_peer_ratio: 2.0,
            ..config()
        };
        let g = run_with(&tight, &local, &swarm);
        // 2 x 120 = 240 is below a fair share of the target (1000 / 4 = 250): the liar counts
        // 250, 610 in all, 390 remaining at 40/s = 9.75 s.
        assert_eq!(g.samples_accumulated, 610);
        assert!(close(g.eta_next_epoch, NOW + 9.75), "{g:?}");
    }

    #[test]
    fn at_the_start_of_an_epoch_a_liar_counts_at_most_a_fair_share() {
        let local = peer(3, 0, 0.0, NOW);
        // Honest peers just moved to epoch 3 (0 samples); the liar claims 10x the target.
        let swarm = [
            Some(peer(3, 0, 50.0, NOW)),
            Some(peer(3, 0, 50.0, NOW)),
            Some(peer(3, 10_000, 50.0, NOW)),
        ];
        let open = run_with(&unbounded(), &local, &swarm);
        assert_eq!(open.eta_next_epoch, NOW);
        let g = run(&local, 1.0, &swarm);
        // Its share of the target among 3 active peers: 1000 / 3.
        assert_eq!(g.samples_accumulated, 333);
        assert!(
            close(g.eta_next_epoch, NOW + (1000.0 - 1000.0 / 3.0) / 150.0),
            "{g:?}"
        );
    }

    #[test]
    fn a_liar_claiming_a_huge_speed_counts_ten_times_the_median_speed() {
        let local = peer(0, 0, 0.0, NOW);
        let swarm = [
            Some(peer(0, 0, 10.0, NOW)),
            Some(peer(0, 0, 20.0, NOW)),
            Some(peer(0, 0, 30.0, NOW)),
            Some(peer(0, 0, 1e12, NOW)),
        ];
        let open = run_with(&unbounded(), &local, &swarm);
        assert!(open.eta_next_epoch - NOW < 1e-8);
        // Liar: 10 x median(10, 20, 30) = 200/s. Total 260/s: 1000 / 260 s.
        let g = run(&local, 1.0, &swarm);
        assert!(close(g.eta_next_epoch, NOW + 1000.0 / 260.0), "{g:?}");
    }

    #[test]
    fn a_liar_backdating_its_report_cannot_extrapolate_past_the_bound() {
        let local = peer(0, 0, 0.0, NOW);
        // time = 0: "elapsed" is a thousand seconds at a plausible speed.
        let swarm = [
            Some(peer(0, 10, 10.0, NOW)),
            Some(peer(0, 10, 10.0, NOW)),
            Some(peer(0, 10, 10.0, 0.0)),
        ];
        let open = run_with(&unbounded(), &local, &swarm);
        assert_eq!(open.eta_next_epoch, NOW);
        // Liar's estimate clipped to max(10 x 10, 1000 / 3): 20 + 333.3 counted, the rest at
        // 30/s.
        let g = run(&local, 1.0, &swarm);
        let left = 1000.0 - 20.0 - 1000.0 / 3.0;
        assert!(close(g.eta_next_epoch, NOW + left / 30.0), "{g:?}");
    }

    #[test]
    fn a_lone_peer_or_a_peer_among_watchers_is_never_clipped() {
        let local = peer(0, 0, 0.0, NOW);
        // One trainer far ahead of the target, alone.
        let alone = [Some(peer(0, 5_000, 1e6, NOW))];
        assert_eq!(
            run(&local, 1.0, &alone),
            run_with(&unbounded(), &local, &alone)
        );
        assert_eq!(run(&local, 1.0, &alone).eta_next_epoch, NOW);
        // With watchers (speed = EMA eps, 0 samples): they are no reference.
        let with_watchers = [
            Some(peer(0, 900, 100.0, NOW - 2.0)),
            Some(peer(0, 0, EPS, NOW)),
            Some(peer(0, 0, 0.0, NOW)),
        ];
        let g = run(&local, 1.0, &with_watchers);
        assert_eq!(g, run_with(&unbounded(), &local, &with_watchers));
        assert_eq!(g.eta_next_epoch, NOW);
    }

    #[test]
    fn two_honest_peers_one_just_at_zero_count_as_hivemind() {
        let local = peer(2, 0, 0.0, NOW);
        // One peer moved to epoch 2 a moment ago and reported 0; the other has 48 samples.
        let swarm = [
            Some(peer(2, 48, 16.0, NOW - 0.5)),
            Some(peer(2, 0, 16.0, NOW)),
        ];
        let g = run(&local, 1.0, &swarm);
        assert_eq!(g, run_with(&unbounded(), &local, &swarm));
        assert_eq!(g.samples_accumulated, 48);
        // hivemind: (1000 - (48 + 0.5 x 16)) / (16 + 16 + eps).
        assert!(
            close(g.eta_next_epoch, NOW + (1000.0 - 56.0) / 32.0),
            "{g:?}"
        );
    }

    #[test]
    fn two_honest_peers_ten_times_apart_are_not_clipped() {
        let local = peer(0, 0, 0.0, NOW);
        let swarm = [
            Some(peer(0, 800, 100.0, NOW - 1.0)),
            Some(peer(0, 80, 10.0, NOW - 1.0)),
        ];
        assert_eq!(
            run(&local, 1.0, &swarm),
            run_with(&unbounded(), &local, &swarm)
        );
        // Eleven times apart: the fast one is clipped to 10x (speed 100, estimate 10 x 90).
        let swarm = [
            Some(peer(0, 880, 110.0, NOW - 1.0)),
            Some(peer(0, 80, 10.0, NOW - 1.0)),
        ];
        let g = run(&local, 1.0, &swarm);
        assert_eq!(g.samples_accumulated, 800 + 80);
        assert!(
            close(g.eta_next_epoch, NOW + (1000.0 - 900.0 - 90.0) / 110.0),
            "{g:?}"
        );
    }

    #[test]
    fn median_of_others_leaves_one_copy_out() {
        let m = OthersMedian::new([1.0, 2.0, 2.0, 10.0].into_iter());
        assert_eq!(m.of_others(Some(10.0)), Some(2.0));
        assert_eq!(m.of_others(Some(2.0)), Some(2.0));
        assert_eq!(m.of_others(Some(1.0)), Some(2.0));
        assert_eq!(m.of_others(None), Some(2.0));
        let two = OthersMedian::new([4.0, 8.0].into_iter());
        assert_eq!(two.of_others(Some(4.0)), Some(8.0));
        assert_eq!(two.of_others(None), Some(6.0));
        let one = OthersMedian::new([4.0].into_iter());
        assert_eq!(one.of_others(Some(4.0)), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn arb_peer() -> impl Strategy<Value = LocalProgress> {
            (
                0u64..3,
                0u64..5_000,
                0.0f64..500.0,
                0.0f64..30.0,
                any::<bool>(),
            )
                .prop_map(|(epoch, samples, speed, age, client)| LocalProgress {
                    client_mode: client,
                    ..peer(epoch, samples, speed, NOW - age)
                })
        }

        /// One liar: any epoch, samples up to u64::MAX, speeds up to 1e15, times back to 0.
        fn arb_liar() -> impl Strategy<Value = LocalProgress> {
            (0u64..3, any::<u64>(), 0.0f64..1e15, 0.0f64..NOW)
                .prop_map(|(epoch, samples, speed, time)| peer(epoch, samples, speed, time))
        }

        fn median(mut v: Vec<f64>) -> Option<f64> {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            (n > 0).then(|| {
                if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            /// Every peer counts at most R x the median of the other active peers, or its fair
            /// share of the target when that is more (brute force).
            #[test]
            fn each_peer_is_bounded_by_ratio_times_the_others_median_or_its_share(
                honest in prop::collection::vec(arb_peer(), 0..8),
                liar in arb_liar(),
                ratio in 1.0f64..20.0,
                target in 1u64..1_000_000,
            ) {
                let mut peers: Vec<&LocalProgress> = honest.iter().collect();
                peers.push(&liar);
                let global = peers.iter().filter(|p| !p.client_mode).map(|p| p.epoch).max().unwrap();
                let elapsed: Vec<f64> = peers.iter().map(|p| (NOW - p.time).max(0.0)).collect();
                let counted = bound_contributions(&peers, &elapsed, global, Some(ratio), target);
                let active_at = peers
                    .iter()
                    .filter(|q| q.epoch == global && q.samples_per_second > ACTIVE_SPEED)
                    .count();
                let share = if active_at > 0 { target as f64 / active_at as f64 } else { 0.0 };
                for (i, (p, c)) in peers.iter().zip(&counted).enumerate() {
                    prop_assert!(c.samples_per_second <= p.samples_per_second);
                    prop_assert!(c.samples <= p.samples_accumulated);
                    let others = || peers.iter().enumerate().filter(move |(j, _)| *j != i).map(|(_, q)| *q);
                    let speeds: Vec<f64> = others()
                        .filter(|q| q.samples_per_second > ACTIVE_SPEED)
                        .map(|q| q.samples_per_second)
                        .collect();
                    if let Some(m) = median(speeds) {
                        prop_assert!(c.samples_per_second <= ratio * m * (1.0 + 1e-12));
                    } else {
                        prop_assert_eq!(c.samples_per_second, p.samples_per_second);
                    }
                    if p.epoch == global {
                        let at: Vec<f64> = others()
                            .filter(|q| q.epoch == global && q.samples_per_second > ACTIVE_SPEED)
                            .map(|q| q.samples_accumulated as f64)
                            .collect();
                        if let Some(m) = median(at) {
                            let cap = (ratio * m).max(share);
                            prop_assert!(c.samples as f64 <= cap * (1.0 + 1e-12) + 1.0);
                        }
                    }
                }
            }

            /// An honest swarm counts exactly as hivemind's arithmetic, zeros included: peers at
            /// one epoch with speeds within 3x of each other that entered it within a tenth of
            /// an epoch of each other (so right after the change some still hold 0 samples).
            #[test]
            fn honest_swarms_with_zeros_are_unchanged(
                base_speed in 1.0f64..100.0,
                peers in prop::collection::vec((1.0f64..3.0, 0.0f64..0.1), 2..10),
                into_epoch in prop_oneof![Just(0.0f64), 0.0f64..1.0],
            ) {
                let speeds: Vec<f64> = peers.iter().map(|&(k, _)| base_speed * k).collect();
                // Target = the swarm's samples in a 10 s epoch; `into_epoch` of it has passed
                // since the first peer entered it; peer i entered `lag` of an epoch later.
                let epoch_s = 10.0;
                let target = (speeds.iter().sum::<f64>() * epoch_s) as u64;
                let swarm: Vec<Option<LocalProgress>> = peers
                    .iter()
                    .zip(&speeds)
                    .map(|(&(_, lag), &speed)| {
                        let in_epoch = ((into_epoch - lag) * epoch_s).max(0.0);
                        Some(peer(0, (speed * in_epoch) as u64, speed, NOW))
                    })
                    .collect();
                let local = peer(0, 0, 0.0, NOW);
                let config = TrackerConfig { target_batch_size: target, ..config() };
                let unbounded = TrackerConfig { peer_contribution_bound: false, ..config.clone() };
                prop_assert_eq!(
                    run_with(&config, &local, &swarm),
                    run_with(&unbounded, &local, &swarm)
                );
            }

            /// With the liar out and all honest peers within R of each other, the bound changes
            /// nothing: hivemind's semantics.
            #[test]
            fn honest_swarms_within_the_ratio_are_unchanged(
                base_speed in 1.0f64..100.0,
                spread in prop::collection::vec((1.0f64..3.0, 1u64..3, 0.0f64..2.0), 1..10),
                local_samples in 0u64..2000,
            ) {
                // Every peer at epoch 0 with speed in [b, 3b] and samples = speed x [1, 3) s:
                // every ratio to the others' median is below 10.
                let swarm: Vec<Option<LocalProgress>> = spread
                    .iter()
                    .map(|&(k, secs, age)| {
                        let speed = base_speed * k;
                        Some(peer(0, (speed * secs as f64) as u64 + 1, speed, NOW - age))
                    })
                    .collect();
                let local = peer(0, local_samples, 0.0, NOW);
                prop_assert_eq!(
                    run(&local, 1.0, &swarm),
                    run_with(&unbounded(), &local, &swarm)
                );
            }

            /// One liar beside >= 3 equal honest peers at the global epoch counts at most as a
            /// peer R x the honest median, or as a peer that did its fair share of the target.
            #[test]
            fn one_liar_counts_at_most_r_times_the_median_or_a_fair_share(
                n in 3usize..8,
                samples in 0u64..100,
                speed in 1.0f64..50.0,
                liar in arb_liar(),
                target in 1u64..100_000,
            ) {
                let honest: Vec<LocalProgress> = (0..n).map(|_| peer(0, samples, speed, NOW)).collect();
                let liar = LocalProgress { epoch: 0, ..liar };
                let mut peers: Vec<&LocalProgress> = honest.iter().collect();
                peers.push(&liar);
                let elapsed: Vec<f64> = peers.iter().map(|p| (NOW - p.time).max(0.0)).collect();
                let counted = bound_contributions(&peers, &elapsed, 0, Some(10.0), target);
                let c = counted[n];
                let share = target as f64 / n as f64;
                prop_assert!(c.samples_per_second <= 10.0 * speed * (1.0 + 1e-12));
                prop_assert!(c.samples as f64 <= (10.0 * samples as f64).max(share) + 1.0);
                prop_assert!(c.estimated <= (10.0 * samples as f64).max(share) * (1.0 + 1e-12) + 1e-9);
                // The honest peers are untouched.
                for h in &counted[..n] {
                    prop_assert_eq!(h.samples, samples);
                }
            }
        }
    }
}
