//! The v2 publishing rule: when a peer pushes its entry, as a pure function of what it last
//! published, its current local progress and the time ([`decide`]).
//!
//! Readers extrapolate every entry (`samples + speed × (now − time)`), so an entry that is
//! re-published only when that extrapolation stops being true costs no accuracy. A peer
//! publishes, in this order of reasons:
//! 1. [`PublishReason::First`]: nothing was published yet;
//! 2. [`PublishReason::EpochChanged`]: the local epoch differs from the published one;
//! 3. [`PublishReason::Drift`]: at the time of the current report, what readers extrapolate
//!    from the published entry differs from the reported samples by more than
//!    `publish_drift` seconds of this peer's progress (`publish_drift × max(published speed,
//!    current speed)` samples; at least one sample);
//! 4. [`PublishReason::SpeedChanged`]: the speed moved by more than `publish_speed_change` of
//!    the published speed;
//! 5. [`PublishReason::Heartbeat`]: `metadata_expiration / 3` passed since the last publish.
//!
//! None of them fires sooner than `publish_min_interval` after the previous publish: a reason
//! found earlier waits until then ([`Decision::WaitUntil`]). The tombstone at shutdown is not
//! subject to the rule. Drift is judged at reports, where the true samples are known; between
//! reports readers extrapolate exactly as they do in v1.
//!
//! [`store_due`]: which publishes are also stored in the DHT (the durable copy v1 peers and
//! newcomers read): the first, every epoch change, and otherwise at most every
//! `publish_store_interval`.

use crate::config::TrackerConfig;
use crate::progress::LocalProgress;

/// Why an entry was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublishReason {
    /// The first entry of this tracker.
    First,
    /// The local epoch changed.
    EpochChanged,
    /// Readers' extrapolation drifted from the reported samples.
    Drift,
    /// The speed changed markedly.
    SpeedChanged,
    /// Nothing changed for `metadata_expiration / 3`.
    Heartbeat,
    /// The tracker is shutting down (a tombstone).
    Tombstone,
    /// This peer learned that its clock is further from the swarm's than its last entry
    /// assumed, and signs it again ([`crate::peer_clocks::RESIGN_STEP`]).
    ClockCorrected,
}

impl PublishReason {
    /// Every reason, in a fixed order.
    pub const ALL: [PublishReason; 7] = [
        PublishReason::First,
        PublishReason::EpochChanged,
        PublishReason::Drift,
        PublishReason::SpeedChanged,
        PublishReason::Heartbeat,
        PublishReason::Tombstone,
        PublishReason::ClockCorrected,
    ];

    /// A stable snake_case label (metrics, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishReason::First => "first",
            PublishReason::EpochChanged => "epoch_changed",
            PublishReason::Drift => "drift",
            PublishReason::SpeedChanged => "speed_changed",
            PublishReason::Heartbeat => "heartbeat",
            PublishReason::Tombstone => "tombstone",
            PublishReason::ClockCorrected => "clock_corrected",
        }
    }

    /// Position in [`PublishReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for PublishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a peer last published, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The published progress (what readers extrapolate from).
    pub progress: LocalProgress,
    /// When it was published (this peer's clock).
    pub at: f64,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Publish now, for this reason.
    Publish(PublishReason),
    /// A reason holds but the minimum interval has not passed: decide again at this time.
    WaitUntil(f64, PublishReason),
    /// Nothing to publish: decide again at this time at the latest (the heartbeat).
    IdleUntil(f64),
}

/// Seconds after the first push at which it is pushed once more, unless something newer was:
/// a node that just joined knows few topic peers and no mesh yet (gossip's heartbeat is 1 s),
/// so its first push may reach only some of the swarm, which would otherwise learn of it at
/// their next anti-entropy read (10 s or more).
pub const FIRST_PUSH_REPEAT: f64 = 2.0;

/// The thresholds of the rule, from the tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishRule {
    /// `publish_min_interval`.
    pub min_interval: f64,
    /// `publish_drift` (seconds of own progress).
    pub drift_seconds: f64,
    /// `publish_speed_change` (fraction).
    pub speed_change: f64,
    /// `metadata_expiration / 3`.
    pub heartbeat: f64,
    /// `publish_store_interval`.
    pub store_interval: f64,
}

impl PublishRule {
    /// The rule configured by `config`.
    pub fn from_config(config: &TrackerConfig) -> Self {
        Self {
            min_interval: config.publish_min_interval,
            drift_seconds: config.publish_drift,
            speed_change: config.publish_speed_change,
            heartbeat: config.heartbeat_period(),
            store_interval: config.publish_store_interval,
        }
    }

    /// The reason to publish `current`, ignoring the minimum interval (`None`: none holds).
    pub fn reason(
        &self,
        last: Option<&Published>,
        current: &LocalProgress,
        now: f64,
    ) -> Option<PublishReason> {
        let Some(last) = last else {
            return Some(PublishReason::First);
        };
        let published = &last.progress;
        if current.epoch != published.epoch {
            return Some(PublishReason::EpochChanged);
        }
        if drift(published, current) > self.drift_tolerance(published, current) {
            return Some(PublishReason::Drift);
        }
        let old = published.samples_per_second;
        let new = current.samples_per_second;
        if (new - old).abs() > self.speed_change * old.abs() && (new - old).abs() > 1e-9 {
            return Some(PublishReason::SpeedChanged);
        }
        if now - last.at >= self.heartbeat {
            return Some(PublishReason::Heartbeat);
        }
        None
    }

    /// How far (in samples) readers may be off before a drift publish: `publish_drift`
    /// seconds at the faster of the published and current speeds, at least one sample.
    pub fn drift_tolerance(&self, published: &LocalProgress, current: &LocalProgress) -> f64 {
        let speed = published
            .samples_per_second
            .max(current.samples_per_second)
            .max(0.0);
        (self.drift_seconds * speed).max(1.0)
    }
}

/// How far readers' extrapolation of `published` is from `current`'s samples at the time of
/// `current` (same epoch assumed). Extrapolation never runs backwards, as in the estimator.
pub fn drift(published: &LocalProgress, current: &LocalProgress) -> f64 {
    let elapsed = (current.time - published.time).max(0.0);
    let extrapolated =
        published.samples_accumulated as f64 + published.samples_per_second * elapsed;
    (extrapolated - current.samples_accumulated as f64).abs()
}

/// The publishing rule (module docs): what to do with `current` at `now`, given `last`.
pub fn decide(
    rule: &PublishRule,
    last: Option<&Published>,
    current: &LocalProgress,
    now: f64,
) -> Decision {
    match rule.reason(last, current, now) {
        Some(reason) => match last {
            Some(last) if now < last.at + rule.min_interval => {
                Decision::WaitUntil(last.at + rule.min_interval, reason)
            }
            _ => Decision::Publish(reason),
        },
        None => {
            let at = last.map_or(now, |l| l.at);
            Decision::IdleUntil((at + rule.heartbeat).max(now))
        }
    }
}

/// Whether a publish for `reason` at `now` is also stored in the DHT, given the time of the
/// last store (`None`: never stored).
pub fn store_due(
    rule: &PublishRule,
    reason: PublishReason,
    last_store: Option<f64>,
    now: f64,
) -> bool {
    match reason {
        PublishReason::First
        | PublishReason::EpochChanged
        | PublishReason::Tombstone
        | PublishReason::ClockCorrected => true,
        _ => last_store.is_none_or(|at| now - at >= rule.store_interval),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn progress(epoch: u64, samples: u64, speed: f64, time: f64) -> LocalProgress {
        LocalProgress {
            peer_id: "peer".into(),
            epoch,
            samples_accumulated: samples,
            samples_per_second: speed,
            time,
            client_mode: false,
        }
    }

    fn rule() -> PublishRule {
        PublishRule::from_config(&TrackerConfig::default())
    }

    fn published(p: LocalProgress, at: f64) -> Published {
        Published { progress: p, at }
    }

    #[test]
    fn the_first_entry_is_published_at_once() {
        let d = decide(&rule(), None, &progress(0, 0, 0.0, 5.0), 5.0);
        assert_eq!(d, Decision::Publish(PublishReason::First));
    }

    #[test]
    fn an_extrapolation_that_holds_publishes_nothing_until_the_heartbeat() {
        let r = rule();
        let last = published(progress(3, 100, 10.0, 10.0), 10.0);
        // 15 s later, 150 more samples at 10/s: exactly what readers extrapolate.
        let now = progress(3, 250, 10.0, 25.0);
        assert_eq!(
            decide(&r, Some(&last), &now, 25.0),
            Decision::IdleUntil(10.0 + r.heartbeat)
        );
        assert_eq!(
            decide(&r, Some(&last), &progress(3, 400, 10.0, 40.0), 40.0),
            Decision::Publish(PublishReason::Heartbeat)
        );
    }

    #[test]
    fn a_changed_epoch_publishes_but_waits_for_the_minimum_interval() {
        let r = rule();
        let last = published(progress(3, 100, 10.0, 10.0), 10.0);
        let current = progress(4, 0, 10.0, 10.1);
        assert_eq!(
            decide(&r, Some(&last), &current, 10.1),
            Decision::WaitUntil(10.0 + r.min_interval, PublishReason::EpochChanged)
        );
        assert_eq!(
            decide(&r, Some(&last), &current, 10.0 + r.min_interval),
            Decision::Publish(PublishReason::EpochChanged)
        );
    }

    #[test]
    fn drift_beyond_the_tolerance_publishes() {
        let r = rule();
        let last = published(progress(1, 0, 100.0, 0.0), 0.0);
        // Readers expect 1000 at t = 10; tolerance is 0.25 s x 100/s = 25 samples.
        let on_track = progress(1, 1020, 100.0, 10.0);
        assert_eq!(r.reason(Some(&last), &on_track, 10.0), None);
        let stalled = progress(1, 970, 100.0, 10.0);
        assert_eq!(
            r.reason(Some(&last), &stalled, 10.0),
            Some(PublishReason::Drift)
        );
    }

    #[test]
    fn a_marked_speed_change_publishes() {
        let r = rule();
        let last = published(progress(1, 0, 100.0, 0.0), 0.0);
        let slower = progress(1, 1000, 70.0, 10.0);
        assert_eq!(
            r.reason(Some(&last), &slower, 10.0),
            Some(PublishReason::SpeedChanged)
        );
        let about_the_same = progress(1, 1000, 90.0, 10.0);
        assert_eq!(r.reason(Some(&last), &about_the_same, 10.0), None);
    }

    #[test]
    fn a_first_speed_after_an_unknown_one_publishes() {
        let r = rule();
        let last = published(progress(0, 0, 1e-20, 0.0), 0.0);
        let measured = progress(0, 0, 50.0, 1.0);
        assert_eq!(
            r.reason(Some(&last), &measured, 1.0),
            Some(PublishReason::SpeedChanged)
        );
    }

    #[test]
    fn stores_follow_epoch_changes_and_the_store_interval() {
        let r = rule();
        assert!(store_due(&r, PublishReason::Drift, None, 0.0));
        assert!(store_due(&r, PublishReason::EpochChanged, Some(9.9), 10.0));
        assert!(store_due(&r, PublishReason::Tombstone, Some(9.9), 10.0));
        assert!(!store_due(&r, PublishReason::Drift, Some(9.0), 10.0));
        assert!(store_due(
            &r,
            PublishReason::Heartbeat,
            Some(10.0 - r.store_interval),
            10.0
        ));
    }

    proptest! {
        /// Never two publishes closer than the minimum interval, and never a silence longer than
        /// the heartbeat (plus the minimum interval), whatever the reports.
        #[test]
        fn publishes_respect_the_minimum_interval_and_the_heartbeat(
            steps in prop::collection::vec((0.01f64..3.0, 0u64..500, 0.0f64..200.0, any::<bool>()), 1..200),
        ) {
            let r = rule();
            let mut last: Option<Published> = None;
            let mut now = 0.0;
            let mut epoch = 0;
            let mut samples = 0;
            for (dt, extra, speed, new_epoch) in steps {
                now += dt;
                if new_epoch { epoch += 1; samples = 0; } else { samples += extra; }
                let current = progress(epoch, samples, speed, now);
                if let Decision::Publish(_) = decide(&r, last.as_ref(), &current, now) {
                    if let Some(l) = &last {
                        prop_assert!(now - l.at >= r.min_interval);
                    }
                    last = Some(published(current, now));
                }
                if let Some(l) = &last {
                    prop_assert!(now - l.at < r.heartbeat + r.min_interval + 3.0);
                }
            }
        }

        /// After a publish, readers' extrapolation stays within the tolerance until a report
        /// says otherwise: a report that matches the extrapolation never publishes before the
        /// heartbeat.
        #[test]
        fn matching_reports_never_publish_early(
            speed in 0.1f64..1000.0, dt in 0.01f64..19.0, base in 0u64..10_000,
        ) {
            let r = rule();
            let last = published(progress(2, base, speed, 0.0), 0.0);
            let samples = base + (speed * dt).round() as u64;
            let current = progress(2, samples, speed, dt);
            prop_assert_eq!(r.reason(Some(&last), &current, dt), None);
        }
    }
}
