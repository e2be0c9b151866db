//! What a tracker reports about itself, readable through the handle without a round trip:
//! its [`Health`], its actors' counters ([`TrackerStats`]), which actor is which
//! ([`ActorKind`]), and the error type of the tracker's API ([`TrackerError`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::MailboxError;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use thiserror::Error;

use crate::config::ConfigError;
use crate::dht::DhtError;
use crate::identity::IdentityError;
use crate::publish_rule::PublishReason;

/// The supervised actors of one tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// The StateKeeper actor (`actors/state_keeper.rs`): owns the tracker state and runs the
    /// estimator on it. Named `Estimator` here and `estimator` in logs and metrics labels, as
    /// before the actor's file was renamed, so dashboards and matches keep working.
    Estimator,
    /// Publishes the local entry.
    Reporter,
    /// Reads the swarm's entries.
    Fetcher,
    /// The DHT gateway.
    Gateway,
}

impl ActorKind {
    /// Every kind, in start order.
    pub const ALL: [ActorKind; 4] = [
        ActorKind::Gateway,
        ActorKind::Estimator,
        ActorKind::Reporter,
        ActorKind::Fetcher,
    ];

    /// Index into per-kind arrays.
    pub fn index(self) -> usize {
        match self {
            ActorKind::Gateway => 0,
            ActorKind::Estimator => 1,
            ActorKind::Reporter => 2,
            ActorKind::Fetcher => 3,
        }
    }

    /// A lowercase label.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Gateway => "gateway",
            ActorKind::Estimator => "estimator",
            ActorKind::Reporter => "reporter",
            ActorKind::Fetcher => "fetcher",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of the tracker's API.
#[derive(Debug, Clone, Error)]
pub enum TrackerError {
    /// The configuration is impossible.
    #[error("invalid tracker configuration: {0}")]
    Config(#[from] ConfigError),
    /// This peer cannot take part in a private collaboration as configured (no token, a token
    /// for another peer or authority, an expired token, a client token on a trainer, a node
    /// that does not enforce `tracker.authority`).
    #[error("admission: {0}")]
    Admission(String),
    /// The identity could not be created or loaded.
    #[error("identity: {0}")]
    Identity(String),
    /// The DHT gateway failed.
    #[error("DHT: {0}")]
    Dht(#[from] DhtError),
    /// The tracker spent its restart budget and stopped working.
    #[error("tracker failed: {0}")]
    Failed(String),
    /// The tracker has been shut down.
    #[error("tracker is stopped")]
    Stopped,
    /// An actor is being restarted; retry the call.
    #[error("{0} is restarting, retry")]
    Restarting(ActorKind),
    /// `update_epoch` outside a pause.
    #[error("update_epoch requires paused updates")]
    NotPaused,
    /// The operation did not finish within its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A blocking call was made on the thread that runs the tracker (it would deadlock).
    #[error("blocking call on the tracker's own thread; use the async method")]
    WouldBlock,
    /// The actix System could not be started.
    #[error("could not start the tracker's runtime: {0}")]
    Runtime(String),
}

impl From<IdentityError> for TrackerError {
    fn from(e: IdentityError) -> Self {
        TrackerError::Identity(e.to_string())
    }
}

impl From<MailboxError> for TrackerError {
    fn from(_: MailboxError) -> Self {
        TrackerError::Stopped
    }
}

/// The tracker's health, as the handle reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// All actors are running (some may have been restarted).
    Running,
    /// An actor exhausted its restart budget; the tracker no longer reports or fetches.
    Failed {
        /// What failed.
        reason: String,
    },
    /// The tracker was shut down.
    Stopped,
}

/// Counters kept by the actors, readable through the handle without blocking.
#[derive(Debug)]
pub struct TrackerStats {
    /// Local reports applied by the StateKeeper.
    pub reports: AtomicU64,
    /// Entries stored successfully (including stale answers).
    pub stores_ok: AtomicU64,
    /// Stores that failed or timed out.
    pub stores_failed: AtomicU64,
    /// Gets that completed.
    pub fetches_ok: AtomicU64,
    /// Gets that failed or timed out.
    pub fetches_failed: AtomicU64,
    /// Restarts per actor kind (indexed by [`ActorKind::index`]).
    pub restarts: [AtomicU64; 4],
    /// Latency of the Reporter's stores, seconds.
    pub store_latency: Histogram,
    /// Latency of the Fetcher's gets, seconds.
    pub fetch_latency: Histogram,
    /// v2: entries pushed, by reason (indexed by [`PublishReason::index`]).
    pub publishes: [AtomicU64; PublishReason::ALL.len()],
    /// v2: pushes the gateway refused or failed to send.
    pub publishes_failed: AtomicU64,
    /// v2: entries received by gossip (valid, from other peers).
    pub pushes_received: AtomicU64,
    /// v2: received entries that changed this peer's view (newer than what it held).
    pub pushes_applied: AtomicU64,
    /// When the last store succeeded ([`TrackerStats::mark`]; read with [`TrackerStats::when`]).
    pub last_store_ok: AtomicU64,
    /// When the last read succeeded.
    pub last_fetch_ok: AtomicU64,
    /// v2: when the last valid entry arrived by gossip.
    pub last_push_received: AtomicU64,
}

impl Default for TrackerStats {
    fn default() -> Self {
        // 1 ms .. ~33 s in powers of two.
        let buckets = || exponential_buckets(0.001, 2.0, 16);
        Self {
            reports: AtomicU64::default(),
            stores_ok: AtomicU64::default(),
            stores_failed: AtomicU64::default(),
            fetches_ok: AtomicU64::default(),
            fetches_failed: AtomicU64::default(),
            restarts: Default::default(),
            store_latency: Histogram::new(buckets()),
            fetch_latency: Histogram::new(buckets()),
            publishes: Default::default(),
            publishes_failed: AtomicU64::default(),
            pushes_received: AtomicU64::default(),
            pushes_applied: AtomicU64::default(),
            last_store_ok: AtomicU64::default(),
            last_fetch_ok: AtomicU64::default(),
            last_push_received: AtomicU64::default(),
        }
    }
}

impl TrackerStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records `now` (Unix seconds on the tracker's clock) in one of the `last_*` fields, kept
    /// as whole milliseconds; 0 stands for never.
    pub fn mark(at: &AtomicU64, now: f64) {
        let millis = (now * 1000.0).round();
        if millis.is_finite() && millis >= 1.0 {
            at.store(millis as u64, Ordering::Relaxed);
        }
    }

    /// The time recorded in one of the `last_*` fields (Unix seconds), `None` if never.
    pub fn when(at: &AtomicU64) -> Option<f64> {
        match Self::read(at) {
            0 => None,
            millis => Some(millis as f64 / 1000.0),
        }
    }

    /// Restarts of `kind` so far.
    pub fn restarts_of(&self, kind: ActorKind) -> u64 {
        Self::read(&self.restarts[kind.index()])
    }

    /// v2: entries pushed for `reason` so far.
    pub fn publishes_for(&self, reason: PublishReason) -> u64 {
        Self::read(&self.publishes[reason.index()])
    }

    /// v2: entries pushed so far, every reason.
    pub fn total_publishes(&self) -> u64 {
        PublishReason::ALL
            .iter()
            .map(|r| self.publishes_for(*r))
            .sum()
    }

    /// Restarts of every kind.
    pub fn total_restarts(&self) -> u64 {
        ActorKind::ALL.iter().map(|k| self.restarts_of(*k)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_time_reads_back_to_the_millisecond_and_an_unmarked_one_is_none() {
        let stats = TrackerStats::default();
        assert_eq!(TrackerStats::when(&stats.last_store_ok), None);
        TrackerStats::mark(&stats.last_store_ok, 1_800_000_000.123_4);
        assert_eq!(
            TrackerStats::when(&stats.last_store_ok),
            Some(1_800_000_000.123)
        );
        TrackerStats::mark(&stats.last_store_ok, f64::NAN);
        assert_eq!(
            TrackerStats::when(&stats.last_store_ok),
            Some(1_800_000_000.123),
            "a time that is not one leaves the last one"
        );
    }
}
