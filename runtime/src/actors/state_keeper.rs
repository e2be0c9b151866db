//! The StateKeeper actor: owns the tracker state (local progress, EMA, global progress), applies
//! reports, fetched entries, pauses and epoch changes to it, and publishes every new state as a
//! snapshot on a watch channel that the handle reads without a round trip.
//!
//! The snapshot is also the StateKeeper's checkpoint: after a crash the Supervisor starts a new
//! StateKeeper from the last published snapshot, so local progress and the EMA survive.
//!
//! Protocol v1 estimates from each fetched record alone, as hivemind does. Protocol v2 keeps a
//! [`SwarmView`] of the other peers, fed by gossip ([`Pushed`]) and DHT reads alike, and
//! re-estimates on every change of it and on every local report (so this peer counts with its
//! true progress), never on a timer. A restarted StateKeeper starts with an empty view, filled
//! again by the next pushes and the next read.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{debug, trace};

use crate::actors::child::ChildContext;
use crate::actors::messages::{
    child_hooks, Fetched, InjectPanic, PauseUpdates, Publish, ReportProgress, ResumeUpdates,
    StopChild, UpdateEpoch,
};
use crate::config::Protocol;
use crate::dht::Pushed;
use crate::identity::PeerKey;
use crate::peer_clocks::{PeerClocks, RESIGN_STEP};
use crate::progress::GlobalProgress;
use crate::records::Admission;
use crate::status::{TrackerError, TrackerStats};
use crate::swarm_view::SwarmView;
use crate::tracker_state::{FetchOutcome, TrackerState};

/// The StateKeeper actor.
pub(crate) struct StateKeeper {
    context: ChildContext,
    /// The tracker state (starts from the last snapshot).
    state: TrackerState,
    /// Where snapshots go.
    snapshots: Arc<watch::Sender<TrackerState>>,
    /// The global progress alone, sent only when it changes.
    global: Arc<watch::Sender<GlobalProgress>>,
    /// New local progress goes to the Supervisor, which hands it to the Reporter.
    publish: Recipient<Publish>,
    /// v2: the other peers' entries (`None` in v1).
    view: Option<SwarmView>,
    /// v2: when the last push arrived (gossip is heard), this peer's clock.
    last_push_at: Option<f64>,
    /// The other peers' clock offsets, from when their entries arrive (not checkpointed: a
    /// restarted StateKeeper learns them again from the next read).
    clocks: PeerClocks,
    /// `tracker{prefix, peer, actor}` span for this actor's logs.
    span: tracing::Span,
}

impl StateKeeper {
    /// A StateKeeper that starts from the current snapshot in `snapshots`.
    pub(crate) fn new(
        context: ChildContext,
        snapshots: Arc<watch::Sender<TrackerState>>,
        global: Arc<watch::Sender<GlobalProgress>>,
        publish: Recipient<Publish>,
        own: PeerKey,
        admission: Admission,
    ) -> Self {
        let state = snapshots.borrow().clone();
        let view = (context.config.protocol == Protocol::V2).then(|| {
            SwarmView::new(own, crate::records::RecordLimits::default().max_entries)
                .with_admission(admission)
        });
        Self {
            view,
            last_push_at: None,
            clocks: PeerClocks::for_peer(&context.peer_id),
            span: context.span(),
            context,
            state,
            snapshots,
            global,
            publish,
        }
    }

    fn snapshot(&self) {
        let global = self.state.global_progress();
        self.global.send_if_modified(|held| {
            let changed = held != global;
            if changed {
                *held = global.clone();
            }
            changed
        });
        self.snapshots.send_replace(self.state.clone());
    }

    /// v2: re-estimates from the view (a no-op in v1 or while paused).
    fn apply_view(&mut self) {
        if let Some(view) = &mut self.view {
            let now = self.context.clock.now();
            // A peer that vanished without a tombstone stops counting when its entry expires.
            view.prune_expired(now);
            self.state.apply_view(view.others(), &self.clocks, now);
        }
    }

    fn publish_local(&self) {
        self.publish.do_send(Publish {
            progress: self.state.local_progress().clone(),
            clock_corrected: false,
        });
    }
}

impl Actor for StateKeeper {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.context.notify_stopped();
    }
}

impl Handler<ReportProgress> for StateKeeper {
    type Result = ();

    fn handle(&mut self, msg: ReportProgress, _ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let now = self.context.clock.now();
        self.state
            .report_with(msg.epoch, msg.samples, msg.update_global_samples, now);
        self.state.set_applied_report(msg.seq);
        TrackerStats::bump(&self.context.stats.reports);
        trace!(epoch = msg.epoch, samples = msg.samples, "local progress");
        self.apply_view();
        self.snapshot();
        self.publish_local();
    }
}

impl Handler<Fetched> for StateKeeper {
    type Result = Result<f64, TrackerError>;

    fn handle(&mut self, msg: Fetched, _ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.span.enter();
        let now = self.context.clock.now();
        // First sight of each entry version, before anything is estimated from it.
        self.clocks.observe_all(msg.0.values(), now);
        let swarm_offset = self.clocks.swarm_offset();
        let previous = self.context.signing.set_swarm_offset(swarm_offset);
        if (swarm_offset - previous).abs() > RESIGN_STEP {
            // This clock is further from the swarm's than the last entry assumed: its
            // expiration may already be past for the others. Sign it again now.
            debug!(
                swarm_offset,
                previous, "clock offset to the swarm changed; republishing"
            );
            self.publish.do_send(Publish {
                progress: self.state.local_progress().clone(),
                clock_corrected: true,
            });
        }
        let outcome = match &mut self.view {
            None => self.state.apply_fetch(msg.0, &self.clocks, now),
            Some(view) => {
                view.merge(&msg.0, now);
                self.state.apply_view(view.others(), &self.clocks, now)
            }
        };
        self.snapshot();
        let global = self.state.global_progress();
        debug!(
            epoch = global.epoch,
            samples = global.samples_accumulated,
            peers = global.num_peers,
            eta_in = global.eta_next_epoch - now,
            ?outcome,
            "swarm progress"
        );
        let config = self.state.config();
        let live_peers = self.view.as_ref().map(|view| view.live_peers(now));
        Ok(match (live_peers, outcome) {
            (None, FetchOutcome::Applied) => global.next_fetch_time,
            // Paused: the read is held until the resume; read again at the default period, not
            // in a loop (a pause is short, and an epoch change drops what was held).
            (None, FetchOutcome::Held) => now + config.default_refresh_period,
            // v2: anti-entropy, less often in a larger swarm while gossip is heard; sooner while
            // no other peer is known.
            (Some(live), _) if live > 0 => {
                let last_push_age = self.last_push_at.map(|at| now - at);
                now + config.anti_entropy_delay(live, last_push_age)
            }
            (Some(_), _) => now + config.default_refresh_period,
        })
    }
}

impl Handler<PauseUpdates> for StateKeeper {
    type Result = Result<(), TrackerError>;

    fn handle(&mut self, _: PauseUpdates, _ctx: &mut Context<Self>) -> Self::Result {
        self.state.pause();
        self.snapshot();
        Ok(())
    }
}

impl Handler<ResumeUpdates> for StateKeeper {
    type Result = ();

    fn handle(&mut self, _: ResumeUpdates, _ctx: &mut Context<Self>) {
        self.state.resume(&self.clocks, self.context.clock.now());
        self.apply_view();
        self.snapshot();
    }
}

impl Handler<UpdateEpoch> for StateKeeper {
    type Result = Result<u64, TrackerError>;

    fn handle(&mut self, msg: UpdateEpoch, _ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.span.enter();
        let now = self.context.clock.now();
        let epoch = self
            .state
            .update_epoch(msg.new_epoch, now)
            .map_err(|_| TrackerError::NotPaused)?;
        debug!(epoch, "moved to new epoch");
        self.snapshot();
        self.publish_local();
        Ok(epoch)
    }
}

impl Handler<Pushed> for StateKeeper {
    type Result = ();

    fn handle(&mut self, msg: Pushed, _ctx: &mut Context<Self>) {
        let Some(view) = &mut self.view else {
            return;
        };
        let stats = &self.context.stats;
        TrackerStats::bump(&stats.pushes_received);
        let now = self.context.clock.now();
        TrackerStats::mark(&stats.last_push_received, now);
        self.last_push_at = Some(now);
        if let Some(progress) = msg.entry.value() {
            self.clocks.observe(progress, now);
        }
        if view.offer(msg.subkey, msg.entry, now) | view.prune_expired(now) {
            TrackerStats::bump(&stats.pushes_applied);
            self.state.apply_view(view.others(), &self.clocks, now);
            self.snapshot();
        }
    }
}

child_hooks!(StateKeeper, "StateKeeper");
