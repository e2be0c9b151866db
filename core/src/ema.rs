//! The performance EMA: a bias-corrected exponential moving average of *seconds per sample*,
//! reported as samples per second (hivemind's `PerformanceEMA`).
//!
//! The EMA is pure: every method that needs the time takes `now` (seconds, from the caller's
//! [`Clock`](crate::clock::Clock)), so tests drive it with exact numbers and no sleeping.
//!
//! Semantics (PROTOCOL.md §6.3):
//! - `update(task_size, now)` folds `interval / task_size` into the average, where `interval` is
//!   the time since the last timestamp; the average is bias-corrected by
//!   `1 - (1 - alpha)^num_updates` and inverted, with the seconds-per-sample floored by `eps`.
//! - The estimate starts at `samples_per_second = eps`.
//! - `reset_timer(now)` restarts the interval clock.
//! - While paused, elapsed time does not count: updates without an explicit interval are ignored
//!   and leaving the pause resets the timer.
//!
//! Two deliberate differences from the Python original, both about input it would assert on:
//! an update with `task_size == 0` or while paused (without an explicit interval) leaves the
//! estimate unchanged instead of raising, and a negative interval (a clock that stepped back)
//! counts as zero.

/// Bias-corrected EMA of processing speed (samples per second).
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceEma {
    /// Smoothing factor in (0, 1].
    alpha: f64,
    /// Floor of the seconds-per-sample estimate, and the starting samples-per-second.
    eps: f64,
    /// How many updates have been folded in (drives the bias correction).
    num_updates: u64,
    /// The raw (not bias-corrected) EMA of seconds per sample.
    ema_seconds_per_sample: f64,
    /// The current estimate, derived from the two fields above.
    samples_per_second: f64,
    /// When the interval of the next update started.
    timestamp: f64,
    /// Nesting depth of `pause()`; time does not count while it is above zero.
    pause_depth: u32,
}

impl PerformanceEma {
    /// Default smoothing factor.
    pub const DEFAULT_ALPHA: f64 = 0.1;
    /// Default floor of seconds per sample (and starting samples per second).
    pub const DEFAULT_EPS: f64 = 1e-20;
    /// Smallest alpha the EMA works with (smaller values are raised to it), so that the bias
    /// correction `1 - (1 - alpha)^n` never rounds to zero.
    pub const MIN_ALPHA: f64 = 1e-9;

    /// A new EMA with smoothing factor `alpha`, whose first interval starts at `now`.
    ///
    /// `alpha` is expected in (0, 1] (see [`TrackerConfig::validate`](crate::config::TrackerConfig::validate));
    /// out-of-range values are clamped into it and NaN falls back to the default, so the EMA
    /// never produces NaN.
    pub fn new(alpha: f64, now: f64) -> Self {
        Self::with_eps(alpha, Self::DEFAULT_EPS, now)
    }

    /// Like [`PerformanceEma::new`] with an explicit `eps` (positive; otherwise the default).
    pub fn with_eps(alpha: f64, eps: f64, now: f64) -> Self {
        let alpha = if alpha.is_nan() {
            Self::DEFAULT_ALPHA
        } else {
            alpha.clamp(Self::MIN_ALPHA, 1.0)
        };
        let eps = if eps.is_finite() && eps > 0.0 {
            eps
        } else {
            Self::DEFAULT_EPS
        };
        Self {
            alpha,
            eps,
            num_updates: 0,
            ema_seconds_per_sample: 0.0,
            samples_per_second: eps,
            timestamp: now,
            pause_depth: 0,
        }
    }

    /// Records that `task_size` samples were processed since the last timestamp and moves the
    /// timestamp to `now`. Returns the new estimate. Ignored while paused or for `task_size == 0`.
    pub fn update(&mut self, task_size: u64, now: f64) -> f64 {
        if task_size == 0 || self.is_paused() {
            return self.samples_per_second;
        }
        let interval = (now - self.timestamp).max(0.0);
        self.timestamp = now;
        self.fold(task_size, interval)
    }

    /// Records that `task_size` samples took `interval` seconds, regardless of the timer (also
    /// while paused, as in the original). The timestamp is not moved.
    pub fn update_with_interval(&mut self, task_size: u64, interval: f64) -> f64 {
        if task_size == 0 || !interval.is_finite() {
            return self.samples_per_second;
        }
        self.fold(task_size, interval.max(0.0))
    }

    fn fold(&mut self, task_size: u64, interval: f64) -> f64 {
        let seconds_per_sample = interval / task_size as f64;
        self.ema_seconds_per_sample =
            self.alpha * seconds_per_sample + (1.0 - self.alpha) * self.ema_seconds_per_sample;
        self.num_updates = self.num_updates.saturating_add(1);
        let exponent = i32::try_from(self.num_updates).unwrap_or(i32::MAX);
        let correction = 1.0 - (1.0 - self.alpha).powi(exponent);
        let adjusted = self.ema_seconds_per_sample / correction;
        // `f64::max` returns the other operand when one is NaN, so this is never NaN.
        self.samples_per_second = 1.0 / adjusted.max(self.eps);
        self.samples_per_second
    }

    /// Restarts the interval clock: the next update counts from `now`.
    pub fn reset_timer(&mut self, now: f64) {
        self.timestamp = now;
    }

    /// Enters a pause (pauses nest). While paused, time does not count.
    pub fn pause(&mut self) {
        self.pause_depth = self.pause_depth.saturating_add(1);
    }

    /// Leaves one level of pause and resets the timer to `now`, so the paused time is never
    /// counted. Calling it while not paused only resets the timer.
    pub fn resume(&mut self, now: f64) {
        self.pause_depth = self.pause_depth.saturating_sub(1);
        self.reset_timer(now);
    }

    /// Whether the EMA is paused.
    pub fn is_paused(&self) -> bool {
        self.pause_depth > 0
    }

    /// The current estimate in samples per second (`eps` before the first update).
    pub fn samples_per_second(&self) -> f64 {
        self.samples_per_second
    }

    /// The eps this EMA was built with.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The smoothing factor.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// How many updates were folded in.
    pub fn num_updates(&self) -> u64 {
        self.num_updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn starts_at_eps() {
        let ema = PerformanceEma::new(0.1, 0.0);
        assert_eq!(ema.samples_per_second(), 1e-20);
        assert_eq!(ema.num_updates(), 0);
    }

    /// Worked by hand with alpha = 0.1:
    /// 1. 10 samples in 1 s: ema = 0.1 * 0.1 = 0.01; corrected 0.01 / (1 - 0.9) = 0.1 s/sample -> 10/s.
    /// 2. 10 samples in 2 s: ema = 0.1 * 0.2 + 0.9 * 0.01 = 0.029; corrected 0.029 / (1 - 0.81)
    ///    = 0.152631578947... -> 6.551724137931035/s.
    /// 3. 40 samples in 1 s: ema = 0.1 * 0.025 + 0.9 * 0.029 = 0.0286; corrected
    ///    0.0286 / (1 - 0.729) = 0.105535055... -> 9.475524475524476/s.
    #[test]
    fn matches_hand_computed_sequence_with_bias_correction() {
        let mut ema = PerformanceEma::new(0.1, 0.0);
        assert!(close(ema.update(10, 1.0), 10.0));
        assert!(close(ema.update(10, 3.0), 0.19 / 0.029));
        assert!(close(ema.samples_per_second(), 6.551724137931035));
        assert!(close(ema.update(40, 4.0), 0.271 / 0.0286));
        assert!(close(ema.samples_per_second(), 9.475524475524476));
        assert_eq!(ema.num_updates(), 3);
    }

    #[test]
    fn alpha_one_tracks_the_last_interval_exactly() {
        let mut ema = PerformanceEma::new(1.0, 0.0);
        ema.update(5, 1.0);
        assert!(close(ema.samples_per_second(), 5.0));
        ema.update(30, 2.0);
        assert!(close(ema.samples_per_second(), 30.0));
    }

    #[test]
    fn zero_interval_is_floored_by_eps() {
        let mut ema = PerformanceEma::with_eps(0.1, 1e-6, 5.0);
        assert_eq!(ema.update(10, 5.0), 1e6);
    }

    #[test]
    fn reset_timer_excludes_the_time_before_it() {
        let mut ema = PerformanceEma::new(0.1, 0.0);
        // 100 s of idle time, then the timer is reset: the update counts only 1 s.
        ema.reset_timer(100.0);
        assert!(close(ema.update(10, 101.0), 10.0));
    }

    #[test]
    fn pause_ignores_updates_and_resume_resets_the_timer() {
        let mut ema = PerformanceEma::new(0.1, 0.0);
        ema.update(10, 1.0); // 10/s
        ema.pause();
        assert!(ema.is_paused());
        // Ignored while paused: neither the estimate nor the update count moves.
        assert!(close(ema.update(1000, 2.0), 10.0));
        assert_eq!(ema.num_updates(), 1);
        ema.resume(50.0);
        assert!(!ema.is_paused());
        // The 49 s of pause do not count: 10 samples in 1 s after the resume.
        // ema = 0.1 * 0.1 + 0.9 * 0.01 = 0.019; corrected 0.019 / 0.19 = 0.1 -> 10/s.
        assert!(close(ema.update(10, 51.0), 10.0));
    }

    #[test]
    fn pauses_nest() {
        let mut ema = PerformanceEma::new(0.1, 0.0);
        ema.pause();
        ema.pause();
        ema.resume(1.0);
        assert!(ema.is_paused());
        ema.resume(2.0);
        assert!(!ema.is_paused());
        ema.resume(3.0); // unbalanced resume only resets the timer
        assert!(!ema.is_paused());
        assert!(close(ema.update(2, 4.0), 2.0));
    }

    #[test]
    fn explicit_interval_counts_even_while_paused() {
        let mut ema = PerformanceEma::new(0.1, 0.0);
        ema.pause();
        assert!(close(ema.update_with_interval(20, 4.0), 5.0));
        assert_eq!(ema.num_updates(), 1);
    }

    #[test]
    fn zero_task_and_clock_stepping_back_are_harmless() {
        let mut ema = PerformanceEma::new(0.1, 10.0);
        assert_eq!(ema.update(0, 11.0), 1e-20);
        assert_eq!(ema.num_updates(), 0);
        // The clock stepped back 5 s: the interval counts as 0, floored by eps.
        assert_eq!(ema.update(10, 5.0), 1e20);
        assert!(ema.samples_per_second().is_finite());
    }

    #[test]
    fn invalid_alpha_and_eps_never_produce_nan() {
        for alpha in [f64::NAN, 0.0, -1.0, 7.0, f64::INFINITY] {
            let mut ema = PerformanceEma::with_eps(alpha, f64::NAN, 0.0);
            let speed = ema.update(10, 1.0);
            assert!(speed.is_finite() && speed > 0.0, "alpha {alpha}: {speed}");
        }
    }
}
