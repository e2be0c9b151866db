//! [`TrackerState`]: the whole state of one peer's tracker (local progress, EMA, global belief,
//! pause and "fetched this epoch" flags) and the operations of hivemind's `ProgressTracker` on
//! it, as pure code. The Estimator actor holds one and publishes clones of it as snapshots; the
//! tracker handle answers reads (`ready_to_update_epoch`, …) from a snapshot.
//!
//! Operations (PROTOCOL.md §6.2, §6.9):
//! - [`TrackerState::report`]: extra = samples - previous local samples; if the reported epoch,
//!   the previous local epoch and the global epoch are equal, add extra to the global samples now
//!   (it may go down after a reset). Positive extra updates the EMA, otherwise the EMA timer is
//!   reset. Returns the new local progress, to be published.
//! - [`TrackerState::apply_fetch`]: re-estimates the global progress from fetched entries, unless
//!   paused, in which case the entries are held and applied on resume.
//! - [`TrackerState::update_epoch`]: only while paused; moves the local (and if ahead, the
//!   global) epoch.
//! - [`TrackerState::ready_to_update_epoch`]: global epoch ahead, global samples at target, or
//!   ETA reached.

use std::sync::Arc;

use thiserror::Error;

use crate::config::TrackerConfig;
use crate::ema::PerformanceEma;
use crate::estimator::{estimate_counting, LocalView};
use crate::peer_clocks::PeerClocks;
use crate::progress::{GlobalProgress, LocalProgress};
use crate::records::ProgressRecord;

/// `update_epoch` was called while updates were not paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("update_epoch requires paused updates (use the pause guard)")]
pub struct NotPaused;

/// What [`TrackerState::apply_fetch`] did with fetched entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The global progress was re-estimated.
    Applied,
    /// Updates are paused: the entries are held until resume.
    Held,
}

/// One peer's tracker state.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerState {
    config: Arc<TrackerConfig>,
    local: LocalProgress,
    global: GlobalProgress,
    ema: PerformanceEma,
    fetched_this_epoch: bool,
    pause_depth: u32,
    /// The latest entries fetched while paused.
    held: Option<Arc<ProgressRecord>>,
    /// Sequence number of the last report applied (set by whoever numbers reports).
    applied_report: u64,
    /// Whether any report arrived yet (the first one only starts the speed clock).
    reported: bool,
}

impl TrackerState {
    /// A fresh tracker at epoch 0 with no samples, believing it is alone.
    pub fn new(config: Arc<TrackerConfig>, peer_id: String, now: f64) -> Self {
        let ema = PerformanceEma::new(config.performance_ema_alpha, now);
        let local = LocalProgress {
            peer_id,
            epoch: 0,
            samples_accumulated: 0,
            samples_per_second: ema.samples_per_second(),
            time: now.max(0.0),
            client_mode: config.client_mode.unwrap_or(false),
        };
        let mut state = Self {
            global: GlobalProgress {
                epoch: 0,
                samples_accumulated: 0,
                target_batch_size: config.target_batch_size,
                num_peers: 0,
                num_clients: 0,
                eta_next_epoch: f64::INFINITY,
                next_fetch_time: now,
            },
            config,
            local,
            ema,
            fetched_this_epoch: false,
            pause_depth: 0,
            held: None,
            applied_report: 0,
            reported: false,
        };
        state.reestimate_from(std::iter::empty(), &PeerClocks::new(), now);
        state
    }

    /// The tracker's configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// This peer's progress as last reported.
    pub fn local_progress(&self) -> &LocalProgress {
        &self.local
    }

    /// What this peer believes of the swarm.
    pub fn global_progress(&self) -> &GlobalProgress {
        &self.global
    }

    /// The performance EMA.
    pub fn ema(&self) -> &PerformanceEma {
        &self.ema
    }

    /// This peer's speed estimate (samples per second).
    pub fn samples_per_second(&self) -> f64 {
        self.ema.samples_per_second()
    }

    /// Whether a fetch was applied since the last epoch change.
    pub fn fetched_this_epoch(&self) -> bool {
        self.fetched_this_epoch
    }

    /// Sequence number of the last report applied.
    pub fn applied_report(&self) -> u64 {
        self.applied_report
    }

    /// Records that the report numbered `seq` has been applied.
    pub fn set_applied_report(&mut self, seq: u64) {
        self.applied_report = self.applied_report.max(seq);
    }

    /// How many pauses are held.
    pub fn pause_depth(&self) -> u32 {
        self.pause_depth
    }

    /// Whether updates are paused.
    pub fn is_paused(&self) -> bool {
        self.pause_depth > 0
    }

    /// Records local progress; returns the local progress to publish.
    pub fn report(&mut self, epoch: u64, samples: u64, now: f64) -> &LocalProgress {
        self.report_with(epoch, samples, true, now)
    }

    /// [`TrackerState::report`], where `update_global_samples = false` leaves the global
    /// samples as they are until the next read (hivemind's `update_global_samples` argument).
    pub fn report_with(
        &mut self,
        epoch: u64,
        samples: u64,
        update_global_samples: bool,
        now: f64,
    ) -> &LocalProgress {
        let previous = self.local.samples_accumulated;
        if update_global_samples && epoch == self.local.epoch && epoch == self.global.epoch {
            // May go down, e.g. when a trainer resets its counter.
            self.global.samples_accumulated = if samples >= previous {
                self.global
                    .samples_accumulated
                    .saturating_add(samples - previous)
            } else {
                self.global
                    .samples_accumulated
                    .saturating_sub(previous - samples)
            };
        }
        // Not in hivemind: the first report only starts the speed clock. Its samples were made
        // over an unknown time (the EMA's clock ran since the tracker started, through setup,
        // bootstrap, loading a model), and with alpha 0.1 that one interval kept the speed
        // several times too low for seconds: a 16-peer swarm left its first epoch 8.5 s late.
        if samples > previous && self.reported {
            self.ema.update(samples - previous, now);
        } else {
            self.ema.reset_timer(now);
        }
        self.reported = true;
        self.local.epoch = epoch;
        self.local.samples_accumulated = samples;
        self.local.samples_per_second = self.ema.samples_per_second();
        self.local.time = now.max(0.0);
        &self.local
    }

    /// Applies fetched entries (or holds them while paused), each anchored by its publisher's
    /// clock offset in `clocks` (the caller observes the entries there first).
    pub fn apply_fetch(
        &mut self,
        record: Arc<ProgressRecord>,
        clocks: &PeerClocks,
        now: f64,
    ) -> FetchOutcome {
        if self.is_paused() {
            self.held = Some(record);
            return FetchOutcome::Held;
        }
        self.reestimate_from(record.values(), clocks, now);
        self.fetched_this_epoch = true;
        FetchOutcome::Applied
    }

    /// v2: re-estimates the global progress from `others` (a [`crate::SwarmView`]'s entries of
    /// the other peers) and this peer's own current local progress, which stands in for its
    /// published entry (it is at least as fresh). While paused nothing is applied (`Held`): the
    /// caller applies its view again on resume.
    pub fn apply_view(
        &mut self,
        others: &ProgressRecord,
        clocks: &PeerClocks,
        now: f64,
    ) -> FetchOutcome {
        if self.is_paused() {
            return FetchOutcome::Held;
        }
        let local = self.local.clone();
        let swarm = others.values().chain(std::iter::once(Some(&local)));
        self.reestimate_from(swarm, clocks, now);
        self.fetched_this_epoch = true;
        FetchOutcome::Applied
    }

    fn reestimate_from<'a>(
        &mut self,
        swarm: impl IntoIterator<Item = Option<&'a LocalProgress>>,
        clocks: &PeerClocks,
        now: f64,
    ) {
        let view = LocalView {
            progress: &self.local,
            samples_per_second: self.ema.samples_per_second(),
            eps: self.ema.eps(),
        };
        let (global, clipped) = estimate_counting(&view, swarm, now, &self.config, clocks);
        if clipped > 0 {
            tracing::debug!(
                clipped,
                peers = global.num_peers,
                max_peer_ratio = self.config.max_peer_ratio,
                "contribution bound clipped peers reporting far more than the others"
            );
        }
        self.global = global;
    }

    /// Pauses updates (nests): fetched entries are held and the EMA does not count time.
    pub fn pause(&mut self) {
        self.pause_depth = self.pause_depth.saturating_add(1);
        self.ema.pause();
    }

    /// Leaves one level of pause; when the last one ends, held entries are applied (anchored
    /// by `clocks`). Returns whether held entries were applied.
    pub fn resume(&mut self, clocks: &PeerClocks, now: f64) -> bool {
        if self.pause_depth == 0 {
            return false;
        }
        self.pause_depth -= 1;
        self.ema.resume(now);
        if self.pause_depth == 0 {
            if let Some(record) = self.held.take() {
                self.apply_fetch(record, clocks, now);
                return true;
            }
        }
        false
    }

    /// Moves to epoch `new_epoch` (default: local epoch + 1), only while paused. If it is ahead
    /// of the global epoch, the global epoch follows with 0 samples and an unknown (+inf) ETA.
    /// The local progress is reset to (new epoch, 0 samples); returns the new epoch. Entries held
    /// since the pause began are dropped: they were read before this epoch change, and what is
    /// applied after the resume is never older than it (hivemind never applies a read across
    /// `update_epoch`).
    pub fn update_epoch(&mut self, new_epoch: Option<u64>, now: f64) -> Result<u64, NotPaused> {
        if !self.is_paused() {
            return Err(NotPaused);
        }
        let new_epoch = new_epoch.unwrap_or(self.local.epoch.saturating_add(1));
        if new_epoch > self.global.epoch {
            self.global.epoch = new_epoch;
            self.global.samples_accumulated = 0;
            self.global.eta_next_epoch = f64::INFINITY;
        }
        self.report(new_epoch, 0, now);
        self.fetched_this_epoch = false;
        self.held = None;
        Ok(new_epoch)
    }

    /// Whether this peer may move to the next epoch now.
    pub fn ready_to_update_epoch(&self, now: f64) -> bool {
        self.global.epoch > self.local.epoch
            || self.global.samples_accumulated >= self.config.target_batch_size
            || now >= self.global.eta_next_epoch
    }

    /// When this peer should move to the next epoch: `now` if ready, else the ETA.
    pub fn estimated_next_update_time(&self, now: f64) -> f64 {
        if self.ready_to_update_epoch(now) {
            now
        } else {
            self.global.eta_next_epoch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::records::SignedEntry;

    const T0: f64 = 1000.0;

    fn config() -> Arc<TrackerConfig> {
        Arc::new(TrackerConfig {
            target_batch_size: 100,
            ..TrackerConfig::default()
        })
    }

    fn state() -> TrackerState {
        TrackerState::new(config(), "12D3KooWlocal".into(), T0)
    }

    fn record_of(entries: &[(u64, u64, f64, f64)]) -> Arc<ProgressRecord> {
        let mut record = ProgressRecord::new();
        for &(epoch, samples, speed, time) in entries {
            let id = Identity::generate().unwrap();
            let value = LocalProgress {
                peer_id: id.peer_id(),
                epoch,
                samples_accumulated: samples,
                samples_per_second: speed,
                time,
                client_mode: false,
            };
            let entry = SignedEntry::sign(&id, "k", Some(&value), time + 60.0).unwrap();
            record.insert(id.public_key(), entry, time);
        }
        Arc::new(record)
    }

    #[test]
    fn starts_alone_at_epoch_zero() {
        let s = state();
        assert_eq!(s.local_progress().epoch, 0);
        assert_eq!(s.global_progress().num_peers, 0);
        assert_eq!(s.global_progress().next_fetch_time, T0 + 3.0);
        // 100 samples at eps speed: ETA far away, not ready.
        assert!(!s.ready_to_update_epoch(T0 + 1e6));
        assert!(s.estimated_next_update_time(T0) > T0 + 1e20);
    }

    #[test]
    fn a_report_without_update_global_samples_leaves_the_global_samples() {
        let mut s = state();
        s.report(0, 30, T0 + 1.0);
        s.report_with(0, 80, false, T0 + 2.0);
        assert_eq!(s.global_progress().samples_accumulated, 30);
        // The local progress and the speed move all the same.
        assert_eq!(s.local_progress().samples_accumulated, 80);
        assert!((s.samples_per_second() - 50.0).abs() < 1e-9);
        s.report(0, 90, T0 + 3.0);
        assert_eq!(s.global_progress().samples_accumulated, 40);
    }

    #[test]
    fn report_adds_extra_to_global_samples_and_updates_the_ema() {
        let mut s = state();
        s.report(0, 30, T0 + 1.0);
        assert_eq!(s.global_progress().samples_accumulated, 30);
        // The first report only starts the speed clock: how long its 30 samples took is unknown.
        assert_eq!(s.ema().num_updates(), 0);
        assert_eq!(s.local_progress().time, T0 + 1.0);
        s.report(0, 100, T0 + 2.0);
        assert_eq!(s.global_progress().samples_accumulated, 100);
        // 70 samples in 1 s, first update: 70/s exactly after bias correction.
        assert!((s.samples_per_second() - 70.0).abs() < 1e-9);
        assert_eq!(
            s.local_progress().samples_per_second,
            s.samples_per_second()
        );
        assert!(s.ready_to_update_epoch(T0 + 2.0));
        assert_eq!(s.estimated_next_update_time(T0 + 2.0), T0 + 2.0);
    }

    #[test]
    fn a_reset_lowers_global_samples_and_resets_the_timer() {
        let mut s = state();
        s.report(0, 5, T0 + 0.5); // starts the clock
        s.report(0, 50, T0 + 1.0); // 45 in 0.5 s
        s.report(0, 20, T0 + 100.0); // trainer reset its counter
        assert_eq!(s.global_progress().samples_accumulated, 20);
        assert_eq!(s.ema().num_updates(), 1);
        // The 99 s before the reset do not count: 10 samples in 1 s after it.
        s.report(0, 30, T0 + 101.0);
        // ema: 0.1*(0.5/45) = 0.00111 -> then 0.1*0.1 + 0.9*0.00111 = 0.011; /(1-0.81) -> 17.27/s
        let ema = 0.1 * 0.1 + 0.9 * (0.1 * (0.5 / 45.0));
        assert!((s.samples_per_second() - 0.19 / ema).abs() < 1e-9);
    }

    #[test]
    fn report_at_another_epoch_does_not_touch_global_samples() {
        let mut s = state();
        s.apply_fetch(record_of(&[(3, 40, 10.0, T0)]), &PeerClocks::new(), T0);
        assert_eq!(s.global_progress().epoch, 3);
        assert!(s.ready_to_update_epoch(T0), "behind the swarm");
        s.report(0, 10, T0 + 1.0);
        assert_eq!(s.global_progress().samples_accumulated, 40);
    }

    #[test]
    fn a_read_held_across_update_epoch_is_dropped_not_applied_on_resume() {
        let mut s = state();
        s.report(0, 10, T0 + 1.0);
        s.pause();
        // Read before the epoch change: another peer at epoch 0 with 90 samples.
        let old = record_of(&[(0, 90, 10.0, T0 + 2.0)]);
        assert_eq!(
            s.apply_fetch(old, &PeerClocks::new(), T0 + 2.0),
            FetchOutcome::Held
        );
        assert_eq!(s.update_epoch(None, T0 + 3.0), Ok(1));
        // Nothing older than the epoch change is applied on resume.
        assert!(!s.resume(&PeerClocks::new(), T0 + 4.0));
        let global = s.global_progress();
        assert_eq!(global.epoch, 1);
        assert_eq!(global.samples_accumulated, 0);
    }

    #[test]
    fn fetch_applies_unless_paused_and_held_results_apply_on_resume() {
        let mut s = state();
        assert_eq!(
            s.apply_fetch(record_of(&[(0, 60, 10.0, T0)]), &PeerClocks::new(), T0),
            FetchOutcome::Applied
        );
        assert_eq!(s.global_progress().samples_accumulated, 60);
        assert!(s.fetched_this_epoch());
        s.pause();
        assert_eq!(
            s.apply_fetch(record_of(&[(0, 90, 10.0, T0)]), &PeerClocks::new(), T0),
            FetchOutcome::Held
        );
        assert_eq!(s.global_progress().samples_accumulated, 60);
        s.pause();
        assert!(!s.resume(&PeerClocks::new(), T0 + 1.0), "still paused once");
        assert_eq!(s.global_progress().samples_accumulated, 60);
        assert!(s.resume(&PeerClocks::new(), T0 + 1.0));
        assert_eq!(s.global_progress().samples_accumulated, 90);
        assert!(!s.is_paused());
    }

    #[test]
    fn update_epoch_needs_pause_and_resets_local_progress() {
        let mut s = state();
        s.report(0, 100, T0 + 1.0);
        assert_eq!(s.update_epoch(None, T0 + 1.0), Err(NotPaused));
        s.pause();
        assert_eq!(s.update_epoch(None, T0 + 2.0), Ok(1));
        assert_eq!(s.local_progress().epoch, 1);
        assert_eq!(s.local_progress().samples_accumulated, 0);
        assert_eq!(s.global_progress().epoch, 1);
        assert_eq!(s.global_progress().samples_accumulated, 0);
        assert_eq!(s.global_progress().eta_next_epoch, f64::INFINITY);
        assert!(!s.fetched_this_epoch());
        assert!(!s.ready_to_update_epoch(T0 + 1e9));
        // Behind the global epoch: the global epoch does not move back.
        s.apply_fetch(record_of(&[(5, 0, 1.0, T0)]), &PeerClocks::new(), T0 + 3.0);
        assert_eq!(s.global_progress().epoch, 1, "paused: held");
        s.resume(&PeerClocks::new(), T0 + 3.0);
        assert_eq!(s.global_progress().epoch, 5);
        s.pause();
        assert_eq!(s.update_epoch(Some(5), T0 + 4.0), Ok(5));
        assert_eq!(s.global_progress().epoch, 5);
        assert_eq!(s.local_progress().epoch, 5);
    }

    #[test]
    fn eta_makes_it_ready() {
        let mut s = state();
        // One peer at 10 samples/s with 50 samples: ETA in 5 s.
        s.apply_fetch(record_of(&[(0, 50, 10.0, T0)]), &PeerClocks::new(), T0);
        assert!(!s.ready_to_update_epoch(T0 + 4.9));
        assert!(s.ready_to_update_epoch(T0 + 5.0));
        assert_eq!(s.estimated_next_update_time(T0 + 1.0), T0 + 5.0);
    }

    #[test]
    fn clocks_behind_or_ahead_neither_rush_nor_stall_the_estimate() {
        // Three peers at 1 sample/s with 20 samples each (target 100), published at T0 and
        // first seen at once; estimated 2 s later.
        let estimate_with = |skews: [f64; 3], anchored: bool| {
            let record = record_of(&skews.map(|skew| (0, 20, 1.0, T0 + skew)));
            let mut clocks = PeerClocks::new();
            if anchored {
                clocks.observe_all(record.values(), T0);
            }
            let mut s = state();
            s.apply_fetch(record, &clocks, T0 + 2.0);
            s.global_progress().eta_next_epoch
        };
        let on_time = estimate_with([0.0; 3], true);
        for skews in [[0.0, 0.0, -5.0], [0.0, 0.0, 5.0], [0.0, -30.0, 5.0]] {
            let eta = estimate_with(skews, true);
            assert!(
                (eta - on_time).abs() < 1e-9,
                "{skews:?}: {eta} vs {on_time}"
            );
        }
        // hivemind's arithmetic: 5 s behind counts 5 samples that were never made (the ETA
        // comes 5 / 3 s early); 5 s ahead counts none of the ~2 made since publication.
        let behind = estimate_with([0.0, 0.0, -5.0], false);
        assert!(on_time - behind > 1.5, "{behind} vs {on_time}");
        let ahead = estimate_with([0.0, 0.0, 5.0], false);
        assert!(ahead - on_time > 0.5, "{ahead} vs {on_time}");
    }

    #[test]
    fn a_view_counts_this_peer_from_its_true_progress_and_waits_out_a_pause() {
        let mut s = state();
        s.report(0, 0, T0);
        s.report(0, 30, T0 + 1.0);
        // Two other peers at epoch 0 with 20 samples each.
        let others = record_of(&[(0, 20, 10.0, T0 + 1.0), (0, 20, 10.0, T0 + 1.0)]);
        assert_eq!(
            s.apply_view(&others, &PeerClocks::new(), T0 + 1.0),
            FetchOutcome::Applied
        );
        assert_eq!(s.global_progress().num_peers, 3);
        assert_eq!(s.global_progress().samples_accumulated, 70);
        // A newer local report counts at once at the next application, with no new entry.
        s.report(0, 50, T0 + 2.0);
        s.apply_view(&others, &PeerClocks::new(), T0 + 2.0);
        assert_eq!(s.global_progress().samples_accumulated, 90);
        s.pause();
        assert_eq!(
            s.apply_view(&ProgressRecord::new(), &PeerClocks::new(), T0 + 3.0),
            FetchOutcome::Held
        );
        assert_eq!(s.global_progress().num_peers, 3);
    }
}
