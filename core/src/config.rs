//! Tracker parameters ([`TrackerConfig`]) with the defaults of PROTOCOL.md §8, and their
//! validation: impossible values are refused with a typed error that names the setting.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::identity::PeerKey;
use crate::records::Admission;

/// Longest accepted collaboration prefix, in bytes.
pub const MAX_PREFIX_LEN: usize = 200;

/// Parameters of one progress tracker. All periods are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Collaboration name; the DHT key is `"{prefix}_progress"`.
    pub prefix: String,
    /// Samples the whole swarm accumulates per epoch.
    pub target_batch_size: u64,
    /// A client reports progress but does not drive the global epoch. `None` (the default)
    /// follows the node, as hivemind's `client_mode=None` follows its DHT: a node that listens
    /// on no address cannot be dialed and is a client.
    pub client_mode: Option<bool>,
    /// Never read the swarm more often than this.
    pub min_refresh_period: f64,
    /// Never read the swarm less often than this.
    pub max_refresh_period: f64,
    /// How often to read the swarm when no peers are known.
    pub default_refresh_period: f64,
    /// Assume this many peers may join between epochs.
    pub expected_drift_peers: f64,
    /// Assume this fraction of the swarm may join or leave between epochs.
    pub expected_drift_rate: f64,
    /// Smoothing factor of the performance EMA, in (0, 1].
    pub performance_ema_alpha: f64,
    /// Lifetime of a published entry; entries are republished every half of it.
    pub metadata_expiration: f64,
    /// Bound on every DHT store and get the tracker makes.
    pub request_timeout: f64,
    /// Clip each peer's speed and samples against the median of the other peers (see
    /// [`crate::estimator`], "Per-peer contribution bound"), so one liar cannot end an epoch.
    pub peer_contribution_bound: bool,
    /// How far above the median of the other peers one peer's speed or samples may count
    /// (finite, >= 1). The largest honest speed ratio the swarm tolerates unclipped.
    pub max_peer_ratio: f64,
    /// How entries travel: [`Protocol::V1`] (hivemind's: a DHT store per report, reads on a
    /// schedule) or [`Protocol::V2`] (push over gossip on events, the DHT as the way in).
    pub protocol: Protocol,
    /// v2: never publish more often than this (seconds, > 0). Receivers allow a short burst
    /// above this rate and reject (drop and penalise) the rest.
    pub publish_min_interval: f64,
    /// v2: publish when what the others extrapolate from the last published entry is off the
    /// true local samples by more than this many seconds of this peer's own progress (> 0).
    pub publish_drift: f64,
    /// v2: publish when the speed moved by more than this fraction of the published speed (> 0).
    pub publish_speed_change: f64,
    /// v2: store the published entry in the DHT at most this often (seconds, > 0); an epoch
    /// change, the first entry and the tombstone are always stored.
    pub publish_store_interval: f64,
    /// v2: read the DHT this often while other peers are known (anti-entropy; seconds, > 0),
    /// in a swarm of up to [`ANTI_ENTROPY_PEERS`] peers; larger swarms read less often
    /// ([`TrackerConfig::anti_entropy_delay`]). Its own setting, not `max_refresh_period`: with
    /// hivemind's test preset (0.5 s) reading that often would bring back v1's request rate.
    pub anti_entropy_period: f64,
    /// A private collaboration's run authority: the peer id form (`12D3KooW…`) of its Ed25519
    /// public key. Empty (the default): open, every validly signed entry counts, as in
    /// hivemind. Set: only entries carrying an unexpired admission token from it count, on
    /// every path ([`TrackerConfig::admission`], [`crate::records::Admission`]).
    pub authority: String,
    /// Peer ids whose entries never count, whatever their token (needs `authority`).
    pub revoked_peers: Vec<String>,
}

/// v2: the swarm size up to which every peer reads the key each `anti_entropy_period`
/// ([`TrackerConfig::anti_entropy_delay`]).
pub const ANTI_ENTROPY_PEERS: f64 = 8.0;

/// How a tracker's entries travel (`tracker.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// hivemind's protocol: a DHT store on every report, whole-record reads on the refresh
    /// schedule.
    #[default]
    V1,
    /// Push: entries are published over gossip on events and merged into a view; the DHT is
    /// read at start, when the view is empty and every `max_refresh_period` (anti-entropy).
    V2,
}

impl Protocol {
    /// `"v1"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Protocol::V1),
            "v2" => Ok(Protocol::V2),
            other => Err(format!(
                "unknown protocol {other:?} (expected \"v1\" or \"v2\")"
            )),
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            prefix: "swarm-progress".to_owned(),
            target_batch_size: 4096,
            client_mode: None,
            min_refresh_period: 0.5,
            max_refresh_period: 10.0,
            default_refresh_period: 3.0,
            expected_drift_peers: 3.0,
            expected_drift_rate: 0.2,
            performance_ema_alpha: 0.1,
            metadata_expiration: 60.0,
            request_timeout: 10.0,
            peer_contribution_bound: true,
            max_peer_ratio: 10.0,
            protocol: Protocol::V1,
            publish_min_interval: 0.5,
            publish_drift: 0.25,
            publish_speed_change: 0.25,
            publish_store_interval: 5.0,
            anti_entropy_period: 10.0,
            authority: String::new(),
            revoked_peers: Vec::new(),
        }
    }
}

/// An impossible tracker setting.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The prefix is empty.
    #[error("tracker.prefix: must not be empty")]
    EmptyPrefix,
    /// The prefix is too long or has characters that do not belong in a DHT key.
    #[error(
        "tracker.prefix: must be at most {MAX_PREFIX_LEN} bytes of printable non-space characters"
    )]
    BadPrefix,
    /// `authority` is not the peer id of an Ed25519 key.
    #[error("tracker.authority: {0:?} is not the peer id of an Ed25519 key (12D3KooW…)")]
    BadAuthority(String),
    /// An entry of `revoked_peers` is not the peer id of an Ed25519 key.
    #[error("tracker.revoked_peers: {0:?} is not the peer id of an Ed25519 key (12D3KooW…)")]
    BadRevokedPeer(String),
    /// `revoked_peers` without an `authority`: in an open collaboration nobody is admitted, so
    /// nobody can be revoked (use `dht.deny` to refuse a peer's connections).
    #[error("tracker.revoked_peers: needs tracker.authority (an open collaboration revokes nobody; dht.deny refuses a peer)")]
    RevokedWithoutAuthority,
    /// `target_batch_size` is zero.
    #[error("tracker.target_batch_size: must be at least 1")]
    ZeroTargetBatchSize,
    /// A period is zero, negative or not finite.
    #[error("tracker.{setting}: must be a finite number of seconds > 0, got {value}")]
    NonPositivePeriod {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: f64,
    },
    /// `min_refresh_period > max_refresh_period`.
    #[error(
        "tracker.min_refresh_period ({min}) must not exceed tracker.max_refresh_period ({max})"
    )]
    RefreshPeriodsOutOfOrder {
        /// `min_refresh_period`.
        min: f64,
        /// `max_refresh_period`.
        max: f64,
    },
    /// A drift parameter is negative or not finite.
    #[error("tracker.{setting}: must be finite and >= 0, got {value}")]
    NegativeDrift {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: f64,
    },
    /// `performance_ema_alpha` outside (0, 1].
    #[error("tracker.performance_ema_alpha: must be in (0, 1], got {0}")]
    AlphaOutOfRange(f64),
    /// `metadata_expiration` is zero, negative or not finite.
    #[error("tracker.metadata_expiration: must be a finite number of seconds > 0, got {0}")]
    NonPositiveExpiration(f64),
    /// `max_peer_ratio` below 1 or not finite.
    #[error("tracker.max_peer_ratio: must be a finite number >= 1, got {0}")]
    BadPeerRatio(f64),
    /// A v2 publishing threshold is zero, negative or not finite.
    #[error("tracker.{setting}: must be a finite number > 0, got {value}")]
    NonPositiveThreshold {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: f64,
    },
}

impl ConfigError {
    /// The name of the setting at fault (`tracker.<name>`), for messages and exit codes.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::EmptyPrefix | ConfigError::BadPrefix => "prefix",
            ConfigError::ZeroTargetBatchSize => "target_batch_size",
            ConfigError::NonPositivePeriod { setting, .. }
            | ConfigError::NegativeDrift { setting, .. }
            | ConfigError::NonPositiveThreshold { setting, .. } => setting,
            ConfigError::RefreshPeriodsOutOfOrder { .. } => "min_refresh_period",
            ConfigError::AlphaOutOfRange(_) => "performance_ema_alpha",
            ConfigError::NonPositiveExpiration(_) => "metadata_expiration",
            ConfigError::BadPeerRatio(_) => "max_peer_ratio",
            ConfigError::BadAuthority(_) => "authority",
            ConfigError::BadRevokedPeer(_) | ConfigError::RevokedWithoutAuthority => {
                "revoked_peers"
            }
        }
    }
}

impl TrackerConfig {
    /// Who may count, as `authority` and `revoked_peers` say: [`Admission::OPEN`] without an
    /// authority.
    pub fn admission(&self) -> Result<Admission, ConfigError> {
        if self.authority.is_empty() {
            if !self.revoked_peers.is_empty() {
                return Err(ConfigError::RevokedWithoutAuthority);
            }
            return Ok(Admission::OPEN);
        }
        let authority = PeerKey::from_peer_id(&self.authority)
            .map_err(|_| ConfigError::BadAuthority(self.authority.clone()))?;
        Ok(Admission::private(authority, self.revoked_keys()?))
    }

    /// The keys of `revoked_peers` (also what a reloaded setting hands to
    /// [`Admission::set_revoked`]).
    pub fn revoked_keys(&self) -> Result<Vec<PeerKey>, ConfigError> {
        self.revoked_peers
            .iter()
            .map(|p| PeerKey::from_peer_id(p).map_err(|_| ConfigError::BadRevokedPeer(p.clone())))
            .collect()
    }

    /// Checks every setting; returns the first impossible one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.admission()?;
        if self.prefix.is_empty() {
            return Err(ConfigError::EmptyPrefix);
        }
        if self.prefix.len() > MAX_PREFIX_LEN
            || self
                .prefix
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ConfigError::BadPrefix);
        }
        if self.target_batch_size == 0 {
            return Err(ConfigError::ZeroTargetBatchSize);
        }
        for (setting, value) in [
            ("min_refresh_period", self.min_refresh_period),
            ("max_refresh_period", self.max_refresh_period),
            ("default_refresh_period", self.default_refresh_period),
            ("request_timeout", self.request_timeout),
            ("publish_min_interval", self.publish_min_interval),
            ("publish_store_interval", self.publish_store_interval),
            ("anti_entropy_period", self.anti_entropy_period),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NonPositivePeriod { setting, value });
            }
        }
        if self.min_refresh_period > self.max_refresh_period {
            return Err(ConfigError::RefreshPeriodsOutOfOrder {
                min: self.min_refresh_period,
                max: self.max_refresh_period,
            });
        }
        for (setting, value) in [
            ("expected_drift_peers", self.expected_drift_peers),
            ("expected_drift_rate", self.expected_drift_rate),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::NegativeDrift { setting, value });
            }
        }
        let alpha = self.performance_ema_alpha;
        if !(alpha > 0.0 && alpha <= 1.0) {
            return Err(ConfigError::AlphaOutOfRange(alpha));
        }
        if !(self.metadata_expiration.is_finite() && self.metadata_expiration > 0.0) {
            return Err(ConfigError::NonPositiveExpiration(self.metadata_expiration));
        }
        if !(self.max_peer_ratio.is_finite() && self.max_peer_ratio >= 1.0) {
            return Err(ConfigError::BadPeerRatio(self.max_peer_ratio));
        }
        for (setting, value) in [
            ("publish_drift", self.publish_drift),
            ("publish_speed_change", self.publish_speed_change),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NonPositiveThreshold { setting, value });
            }
        }
        Ok(())
    }

    /// The DHT key of this collaboration's progress record.
    pub fn progress_key(&self) -> String {
        format!("{}_progress", self.prefix)
    }

    /// How often the Reporter republishes even without new reports.
    pub fn republish_period(&self) -> f64 {
        self.metadata_expiration / 2.0
    }

    /// v2: the anti-entropy read period of a swarm of up to [`ANTI_ENTROPY_PEERS`] peers.
    pub fn anti_entropy_period(&self) -> f64 {
        self.anti_entropy_period
    }

    /// v2: seconds until the next anti-entropy read when this peer knows `live_peers` other
    /// live peers and heard its last push `last_push_age` seconds ago (`None`: never).
    ///
    /// While gossip is heard (a push within the last heartbeat period, which every live v2 peer
    /// sends at least once) the wait is `anti_entropy_period * max(1, (live_peers + 1) /
    /// ANTI_ENTROPY_PEERS)`: the whole swarm then reads the key about [`ANTI_ENTROPY_PEERS`]
    /// times per `anti_entropy_period` however large it grows, so the key's replicas serve a
    /// bounded number of reads (each carrying one entry per peer) instead of one per peer.
    /// Without gossip (a peer cut off from the mesh, or only v1 peers around) the reads are what
    /// keeps the view current, so the wait stays `anti_entropy_period`.
    pub fn anti_entropy_delay(&self, live_peers: usize, last_push_age: Option<f64>) -> f64 {
        let gossip_heard = last_push_age.is_some_and(|age| age <= self.heartbeat_period());
        if !gossip_heard {
            return self.anti_entropy_period;
        }
        let swarm = live_peers.saturating_add(1) as f64;
        self.anti_entropy_period * (swarm / ANTI_ENTROPY_PEERS).max(1.0)
    }

    /// v2: publish at least this often even when nothing changed (`metadata_expiration / 3`).
    pub fn heartbeat_period(&self) -> f64 {
        self.metadata_expiration / 3.0
    }

    /// Delay before retrying a failed DHT operation after `failures` consecutive failures:
    /// `min_refresh_period * 2^failures`, at most `cap` seconds.
    pub fn retry_delay(&self, failures: u32, cap: f64) -> f64 {
        crate::backoff::Backoff::new(seconds(self.min_refresh_period), seconds(cap))
            .delay(failures)
            .as_secs_f64()
    }

    /// [`TrackerConfig::request_timeout`] as a `Duration`.
    pub fn request_timeout(&self) -> std::time::Duration {
        seconds(self.request_timeout)
    }
}

/// A non-negative, finite number of seconds as a `Duration` (anything else becomes zero or the
/// largest `Duration`), for timers fed from computed `f64` times.
pub fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(if value.is_nan() {
        std::time::Duration::ZERO
    } else {
        std::time::Duration::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut TrackerConfig)) -> Result<(), ConfigError> {
        let mut config = TrackerConfig::default();
        f(&mut config);
        config.validate()
    }

    #[test]
    fn defaults_are_hiveminds_and_valid() {
        let c = TrackerConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            (
                c.min_refresh_period,
                c.max_refresh_period,
                c.default_refresh_period
            ),
            (0.5, 10.0, 3.0)
        );
        assert_eq!((c.expected_drift_peers, c.expected_drift_rate), (3.0, 0.2));
        assert_eq!(
            (c.performance_ema_alpha, c.metadata_expiration),
            (0.1, 60.0)
        );
        assert_eq!(c.progress_key(), "swarm-progress_progress");
        assert_eq!(c.republish_period(), 30.0);
        assert!(c.peer_contribution_bound);
        assert_eq!(c.max_peer_ratio, 10.0);
    }

    #[test]
    fn each_impossible_value_has_its_own_error() {
        assert_eq!(with(|c| c.prefix.clear()), Err(ConfigError::EmptyPrefix));
        assert_eq!(
            with(|c| c.prefix = "a b".into()),
            Err(ConfigError::BadPrefix)
        );
        assert_eq!(
            with(|c| c.prefix = "x".repeat(MAX_PREFIX_LEN + 1)),
            Err(ConfigError::BadPrefix)
        );
        assert_eq!(
            with(|c| c.target_batch_size = 0),
            Err(ConfigError::ZeroTargetBatchSize)
        );
        assert_eq!(
            with(|c| c.authority = "not-a-peer".into()),
            Err(ConfigError::BadAuthority("not-a-peer".into()))
        );
        assert_eq!(
            with(|c| c.revoked_peers = vec!["12D3KooWx".into()]),
            Err(ConfigError::RevokedWithoutAuthority)
        );
        let authority = crate::Identity::generate().unwrap().peer_id();
        assert_eq!(
            with(|c| {
                c.authority = authority.clone();
                c.revoked_peers = vec!["QmNotEd25519".into()];
            }),
            Err(ConfigError::BadRevokedPeer("QmNotEd25519".into()))
        );
        let revoked = crate::Identity::generate().unwrap().public_key();
        let config = TrackerConfig {
            authority: authority.clone(),
            revoked_peers: vec![revoked.peer_id()],
            ..TrackerConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
        let admission = config.admission().unwrap();
        assert_eq!(admission.authority().map(|a| a.peer_id()), Some(authority));
        assert!(admission.is_revoked(&revoked));
        assert_eq!(
            with(|c| c.min_refresh_period = 0.0),
            Err(ConfigError::NonPositivePeriod {
                setting: "min_refresh_period",
                value: 0.0
            })
        );
        assert_eq!(
            with(|c| c.max_refresh_period = f64::INFINITY),
            Err(ConfigError::NonPositivePeriod {
                setting: "max_refresh_period",
                value: f64::INFINITY
            })
        );
        assert_eq!(
            with(|c| c.default_refresh_period = -1.0),
            Err(ConfigError::NonPositivePeriod {
                setting: "default_refresh_period",
                value: -1.0
            })
        );
        assert_eq!(
            with(|c| c.min_refresh_period = 11.0),
            Err(ConfigError::RefreshPeriodsOutOfOrder {
                min: 11.0,
                max: 10.0
            })
        );
        assert_eq!(
            with(|c| c.request_timeout = 0.0),
            Err(ConfigError::NonPositivePeriod {
                setting: "request_timeout",
                value: 0.0
            })
        );
        assert_eq!(
            with(|c| c.expected_drift_peers = -1.0),
            Err(ConfigError::NegativeDrift {
                setting: "expected_drift_peers",
                value: -1.0
            })
        );
        assert!(matches!(
            with(|c| c.expected_drift_rate = f64::NAN),
            Err(ConfigError::NegativeDrift {
                setting: "expected_drift_rate",
                ..
            })
        ));
        assert_eq!(
            with(|c| c.performance_ema_alpha = 0.0),
            Err(ConfigError::AlphaOutOfRange(0.0))
        );
        assert_eq!(
            with(|c| c.performance_ema_alpha = 1.5),
            Err(ConfigError::AlphaOutOfRange(1.5))
        );
        assert!(matches!(
            with(|c| c.performance_ema_alpha = f64::NAN),
            Err(ConfigError::AlphaOutOfRange(_))
        ));
        assert_eq!(
            with(|c| c.metadata_expiration = 0.0),
            Err(ConfigError::NonPositiveExpiration(0.0))
        );
        assert_eq!(
            with(|c| c.metadata_expiration = -60.0),
            Err(ConfigError::NonPositiveExpiration(-60.0))
        );
    }

    #[test]
    fn the_peer_ratio_must_be_finite_and_at_least_one() {
        for bad in [0.0, 0.99, -3.0, f64::NAN, f64::INFINITY] {
            let err = with(|c| c.max_peer_ratio = bad).unwrap_err();
            assert!(matches!(err, ConfigError::BadPeerRatio(_)), "{bad}: {err}");
            assert_eq!(err.setting(), "max_peer_ratio");
            assert!(err.to_string().contains("tracker.max_peer_ratio"));
        }
        assert_eq!(with(|c| c.max_peer_ratio = 1.0), Ok(()));
        // Turning the bound off leaves the ratio unused but still checked.
        assert_eq!(with(|c| c.peer_contribution_bound = false), Ok(()));
    }

    #[test]
    fn boundary_values_are_accepted() {
        assert_eq!(with(|c| c.performance_ema_alpha = 1.0), Ok(()));
        assert_eq!(
            with(|c| c.min_refresh_period = c.max_refresh_period),
            Ok(())
        );
        assert_eq!(with(|c| c.expected_drift_peers = 0.0), Ok(()));
        assert_eq!(with(|c| c.target_batch_size = 1), Ok(()));
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let c = TrackerConfig::default();
        assert_eq!(c.retry_delay(0, 10.0), 0.5);
        assert_eq!(c.retry_delay(1, 10.0), 1.0);
        assert_eq!(c.retry_delay(3, 10.0), 4.0);
        assert_eq!(c.retry_delay(5, 10.0), 10.0);
        assert_eq!(c.retry_delay(u32::MAX, 10.0), 10.0);
    }

    #[test]
    fn anti_entropy_reads_grow_rarer_past_eight_peers_while_gossip_is_heard() {
        let c = TrackerConfig {
            anti_entropy_period: 10.0,
            metadata_expiration: 60.0,
            ..TrackerConfig::default()
        };
        let heard = Some(1.0);
        assert_eq!(c.anti_entropy_delay(0, heard), 10.0);
        assert_eq!(c.anti_entropy_delay(7, heard), 10.0);
        assert_eq!(c.anti_entropy_delay(15, heard), 20.0);
        assert_eq!(c.anti_entropy_delay(63, heard), 80.0);
        // The swarm's read rate (peers / delay) stays at 8 per period however many peers.
        for live in [7usize, 15, 63, 299, 999] {
            let swarm = (live + 1) as f64;
            let reads_per_period = swarm / c.anti_entropy_delay(live, heard) * 10.0;
            assert!(
                (reads_per_period - 8.0).abs() < 1e-9,
                "{live}: {reads_per_period}"
            );
        }
        // No push within a heartbeat (20 s), or never: reads keep the view, at the base period.
        assert_eq!(
            c.anti_entropy_delay(299, Some(20.0)),
            c.anti_entropy_delay(299, heard)
        );
        assert_eq!(c.anti_entropy_delay(299, Some(20.5)), 10.0);
        assert_eq!(c.anti_entropy_delay(299, None), 10.0);
    }

    #[test]
    fn seconds_never_panics() {
        use std::time::Duration;
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
        assert_eq!(seconds(-3.0), Duration::ZERO);
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds(1e300), Duration::MAX);
    }

    #[test]
    fn errors_name_their_setting() {
        let err = with(|c| c.performance_ema_alpha = 2.0).unwrap_err();
        assert_eq!(err.setting(), "performance_ema_alpha");
        assert!(err.to_string().contains("tracker.performance_ema_alpha"));
        let err = with(|c| c.default_refresh_period = 0.0).unwrap_err();
        assert_eq!(err.setting(), "default_refresh_period");
        assert!(err.to_string().contains("tracker.default_refresh_period"));
    }
}
