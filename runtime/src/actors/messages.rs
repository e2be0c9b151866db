//! The messages between the tracker's actors (one struct each, handled in the file of the actor
//! that receives it).
//!
//! Message flow (all through the Supervisor, whose address is stable across restarts):
//! handle -> Supervisor: [`ReportProgress`], [`RequestRefresh`], [`PauseUpdates`],
//! [`ResumeUpdates`], [`UpdateEpoch`], [`Shutdown`], [`InjectPanic`].
//! Supervisor -> StateKeeper -> Supervisor -> Reporter: [`Publish`] (new local progress).
//! Fetcher -> Supervisor -> StateKeeper: [`Fetched`] (entries; replies with the next fetch time).
//! Reporter / Fetcher -> Supervisor -> gateway: `Store` / `Get` (the supervisor answers the
//! gateway contract by forwarding to the current gateway).
//! Every child -> Supervisor: [`ChildStopped`] from its `stopped()` hook, also after a panic.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::progress::LocalProgress;
use crate::records::ProgressRecord;
use crate::status::{ActorKind, TrackerError, TrackerStats};

/// Shared counters.
pub(crate) type SharedStats = Arc<TrackerStats>;

/// A local report from the trainer.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct ReportProgress {
    /// The trainer's local epoch.
    pub epoch: u64,
    /// Samples accumulated in it.
    pub samples: u64,
    /// Whether the extra samples are added to the global samples at once (hivemind's
    /// `update_global_samples`).
    pub update_global_samples: bool,
    /// The handle's sequence number of this report (lets reads see a report that was sent but
    /// not yet applied).
    pub seq: u64,
}

/// "State updated": fetch the swarm's progress now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct RequestRefresh;

/// Pause updates (replies once the pause is in effect).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), TrackerError>")]
pub(crate) struct PauseUpdates;

/// End one pause.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct ResumeUpdates;

/// Move to a new epoch (only while paused); replies with the new epoch.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<u64, TrackerError>")]
pub(crate) struct UpdateEpoch {
    /// The new epoch (default: local epoch + 1).
    pub new_epoch: Option<u64>,
}

/// Graceful shutdown: stop reporting and fetching, store a tombstone, stop the gateway.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), TrackerError>")]
pub(crate) struct Shutdown {
    /// Bound on the tombstone store.
    pub timeout: Duration,
}

/// Test hook: make an actor panic inside a handler.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct InjectPanic(pub ActorKind);

/// New local progress to publish (StateKeeper -> Supervisor -> Reporter).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct Publish {
    /// The progress.
    pub progress: LocalProgress,
    /// Publish now even if the progress did not change: this peer's clock offset to the swarm
    /// moved, so the expiration it signs did.
    pub clock_corrected: bool,
}

/// Entries fetched from the swarm (Fetcher -> Supervisor -> StateKeeper). Replies with the DHT
/// time of the next scheduled fetch.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<f64, TrackerError>")]
pub(crate) struct Fetched(pub Arc<ProgressRecord>);

/// Fetch now (Supervisor -> Fetcher).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct FetchNow;

/// A child actor stopped (sent from its `stopped()` hook, which also runs after a panic).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct ChildStopped {
    /// Which actor.
    pub kind: ActorKind,
    /// Which incarnation of it.
    pub generation: u64,
}

/// Ask a child to stop (shutdown).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct StopChild;

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
