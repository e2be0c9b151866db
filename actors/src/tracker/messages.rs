//! Messages shared by the tracker's actors, the tracker's error type, its health, and the
//! counters the actors keep.
//!
//! Message flow (all through the Supervisor, whose address is stable across restarts):
//! handle -> Supervisor: [`ReportProgress`], [`RequestRefresh`], [`PauseUpdates`],
//! [`ResumeUpdates`], [`UpdateEpoch`], [`Shutdown`], [`InjectPanic`].
//! Supervisor -> Estimator -> Supervisor -> Reporter: [`Publish`] (new local progress).
//! Fetcher -> Supervisor -> Estimator: [`Fetched`] (entries; replies with the next fetch time).
//! Reporter / Fetcher -> Supervisor -> gateway: `Store` / `Get` (the supervisor answers the
//! gateway contract by forwarding to the current gateway).
//! Every child -> Supervisor: [`ChildStopped`] from its `stopped()` hook, also after a panic.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use thiserror::Error;

use crate::config::ConfigError;
use crate::dht::DhtError;
use crate::identity::IdentityError;
use crate::progress::LocalProgress;
use crate::records::ProgressRecord;

/// The supervised actors of one tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// Owns the tracker state.
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
    /// Local reports applied by the Estimator.
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

    /// Restarts of `kind` so far.
    pub fn restarts_of(&self, kind: ActorKind) -> u64 {
        Self::read(&self.restarts[kind.index()])
    }

    /// Restarts of every kind.
    pub fn total_restarts(&self) -> u64 {
        ActorKind::ALL.iter().map(|k| self.restarts_of(*k)).sum()
    }
}

/// Shared counters.
pub type SharedStats = Arc<TrackerStats>;

/// A local report from the trainer.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ReportProgress {
    /// The trainer's local epoch.
    pub epoch: u64,
    /// Samples accumulated in it.
    pub samples: u64,
    /// The handle's sequence number of this report (lets reads see a report that was sent but
    /// not yet applied).
    pub seq: u64,
}

/// "State updated": fetch the swarm's progress now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct RequestRefresh;

/// Pause updates (replies once the pause is in effect).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), TrackerError>")]
pub struct PauseUpdates;

/// End one pause.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ResumeUpdates;

/// Move to a new epoch (only while paused); replies with the new epoch.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<u64, TrackerError>")]
pub struct UpdateEpoch {
    /// The new epoch (default: local epoch + 1).
    pub new_epoch: Option<u64>,
}

/// Graceful shutdown: stop reporting and fetching, store a tombstone, stop the gateway.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), TrackerError>")]
pub struct Shutdown {
    /// Bound on the tombstone store.
    pub timeout: Duration,
}

/// Test hook: make an actor panic inside a handler.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct InjectPanic(pub ActorKind);

/// New local progress to publish (Estimator -> Supervisor -> Reporter).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Publish(pub LocalProgress);

/// Entries fetched from the swarm (Fetcher -> Supervisor -> Estimator). Replies with the DHT
/// time of the next scheduled fetch.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<f64, TrackerError>")]
pub struct Fetched(pub Arc<ProgressRecord>);

/// Fetch now (Supervisor -> Fetcher).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct FetchNow;

/// A child actor stopped (sent from its `stopped()` hook, which also runs after a panic).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ChildStopped {
    /// Which actor.
    pub kind: ActorKind,
    /// Which incarnation of it.
    pub generation: u64,
}

/// Ask a child to stop (shutdown).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopChild;

/// Implements the hooks every supervised child answers: [`InjectPanic`] (the test hook: panics
/// inside a handler) and [`StopChild`] (stops the actor).
macro_rules! child_hooks {
    ($actor:ty, $name:literal) => {
        impl Handler<InjectPanic> for $actor {
            type Result = ();

            fn handle(&mut self, _: InjectPanic, _ctx: &mut Context<Self>) {
                panic!(concat!($name, ": injected panic"));
            }
        }

        impl Handler<StopChild> for $actor {
            type Result = ();

            fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
                ctx.stop();
            }
        }
    };
}
pub(crate) use child_hooks;
