//! The Supervisor actor: starts the gateway, StateKeeper, Reporter and Fetcher; routes every
//! message between them (its address is the only one that never changes); restarts a child that
//! stops or panics, with exponential backoff and a restart budget; and runs the shutdown
//! sequence.
//!
//! - Restarts: a child's `stopped()` hook (which actix runs even after a panic in a handler)
//!   sends [`ChildStopped`]; a periodic liveness check catches anything else, such as a gateway
//!   that died. More than `max_restarts` restarts of one child within `window` spends the budget:
//!   the tracker turns [`Health::Failed`] and stops reporting and fetching instead of hanging.
//! - State that survives restarts: the StateKeeper restarts from the last snapshot; the
//!   Supervisor re-applies the pause depth and the last local report the trainer sent (reports
//!   are absolute, so replaying one is harmless); the Reporter restarts with the current local
//!   progress and publishes it at once.
//! - Shutdown: Fetcher and Reporter stop (no restarts from then on), a tombstone (null value,
//!   expiration now + `metadata_expiration`) is stored through the gateway within the timeout
//!   (and in v2 also pushed on gossip), then the StateKeeper and, last, the gateway stop.
//! - v2: each (re)started gateway is subscribed to the key's topic with the Supervisor as the
//!   sink; pushed entries go on to the StateKeeper. "State updated" nudges do not trigger reads
//!   in v2 (pushes keep the view current).
//! - The routes from children to the current gateway (store, get, push, subscribe) and the
//!   subscription retries live in [`gateway_routes`].

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::actors::child::SupervisionPolicy;
use crate::actors::child::{tracker_span, ChildContext, ChildRecord, ChildSlot};
use crate::actors::fetcher::Fetcher;
use crate::actors::messages::{
    ChildStopped, FetchNow, Fetched, InjectPanic, PauseUpdates, Publish, ReportProgress,
    RequestRefresh, ResumeUpdates, SharedStats, Shutdown, UpdateEpoch,
};
use crate::actors::reporter::Reporter;
use crate::actors::signing_clock::SigningClock;
use crate::actors::state_keeper::StateKeeper;
use crate::admission_token::AdmissionToken;
use crate::clock::SharedClock;
use crate::config::{Protocol, TrackerConfig};
use crate::dht::{DhtError, DhtHandle, GatewayFactory};
use crate::identity::Identity;
use crate::progress::GlobalProgress;
use crate::publish_rule::PublishReason;
use crate::records::SignedEntry;
use crate::status::{ActorKind, Health, TrackerError, TrackerStats};
use crate::tracker_state::TrackerState;

mod gateway_routes;

/// The channels the tracker handle reads.
#[derive(Debug, Clone)]
pub(crate) struct TrackerChannels {
    /// Every new tracker state.
    pub state: Arc<watch::Sender<TrackerState>>,
    /// The global progress, sent when it changes.
    pub global: Arc<watch::Sender<GlobalProgress>>,
    /// The tracker's health.
    pub health: Arc<watch::Sender<Health>>,
    /// Counters.
    pub stats: SharedStats,
    /// The expirations the tracker signs.
    pub(crate) signing: SigningClock,
}

impl TrackerChannels {
    /// Channels holding `initial`.
    pub(crate) fn new(initial: TrackerState) -> Self {
        let (global, _) = watch::channel(initial.global_progress().clone());
        let (state, _) = watch::channel(initial);
        let (health, _) = watch::channel(Health::Running);
        Self {
            state: Arc::new(state),
            global: Arc::new(global),
            health: Arc::new(health),
            stats: SharedStats::default(),
            signing: SigningClock::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Failed,
    ShuttingDown,
    Stopped,
}

/// The Supervisor actor.
pub(crate) struct Supervisor {
    config: Arc<TrackerConfig>,
    identity: Arc<Identity>,
    /// This peer's admission token (private collaborations), carried in its tombstone too.
    token: Option<AdmissionToken>,
    clock: SharedClock,
    policy: SupervisionPolicy,
    factory: Box<dyn GatewayFactory>,
    channels: TrackerChannels,
    gateway: Option<DhtHandle>,
    state_keeper: Option<Addr<StateKeeper>>,
    reporter: Option<Addr<Reporter>>,
    fetcher: Option<Addr<Fetcher>>,
    /// Incarnation, pending restart and restart log of each child (indexed by
    /// `ActorKind::index`); stop notices of an older incarnation are ignored.
    records: [ChildRecord; 4],
    phase: Phase,
    /// The last report the trainer sent, replayed into a restarted StateKeeper.
    last_report: Option<ReportProgress>,
    /// Pauses the trainer holds, re-applied to a restarted StateKeeper.
    pause_depth: u32,
    /// `tracker{prefix, peer}` span for the Supervisor's logs.
    span: tracing::Span,
}

impl Supervisor {
    /// A Supervisor for one tracker; its children start with it.
    pub(crate) fn new(
        config: Arc<TrackerConfig>,
        clock: SharedClock,
        policy: SupervisionPolicy,
        factory: Box<dyn GatewayFactory>,
        channels: TrackerChannels,
    ) -> Self {
        let identity = factory.identity();
        let span = tracker_span(&config, &identity.peer_id(), "supervisor");
        Self {
            span,
            token: factory.admission_token(),
            identity,
            config,
            clock,
            policy,
            factory,
            channels,
            gateway: None,
            state_keeper: None,
            reporter: None,
            fetcher: None,
            records: Default::default(),
            phase: Phase::Running,
            last_report: None,
            pause_depth: 0,
        }
    }

    /// Where the address of the `kind` child is held.
    fn slot(&self, kind: ActorKind) -> &dyn ChildSlot {
        match kind {
            ActorKind::Gateway => &self.gateway,
            ActorKind::Estimator => &self.state_keeper,
            ActorKind::Reporter => &self.reporter,
            ActorKind::Fetcher => &self.fetcher,
        }
    }

    /// [`Supervisor::slot`], to change.
    fn slot_mut(&mut self, kind: ActorKind) -> &mut dyn ChildSlot {
        match kind {
            ActorKind::Gateway => &mut self.gateway,
            ActorKind::Estimator => &mut self.state_keeper,
            ActorKind::Reporter => &mut self.reporter,
            ActorKind::Fetcher => &mut self.fetcher,
        }
    }

    /// A new incarnation of the `kind` child: its context.
    fn next_context(&mut self, kind: ActorKind, me: &Addr<Self>) -> ChildContext {
        let record = &mut self.records[kind.index()];
        record.generation += 1;
        ChildContext {
            kind,
            config: self.config.clone(),
            clock: self.clock.clone(),
            stats: self.channels.stats.clone(),
            signing: self.channels.signing.clone(),
            peer_id: self.identity.peer_id(),
            generation: record.generation,
            supervisor: me.clone().recipient(),
        }
    }

    fn start_child(&mut self, kind: ActorKind, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let me = ctx.address();
        let context = self.next_context(kind, &me);
        match kind {
            ActorKind::Gateway => match self.factory.start() {
                Ok(handle) => {
                    if self.config.protocol == Protocol::V2 {
                        self.subscribe(&handle, ctx);
                    }
                    self.gateway = Some(handle);
                }
                Err(e) => {
                    error!(error = %e, "cannot start the DHT gateway");
                    self.child_down(kind, ctx);
                }
            },
            ActorKind::Estimator => {
                let state_keeper = StateKeeper::new(
                    context,
                    self.channels.state.clone(),
                    self.channels.global.clone(),
                    me.recipient(),
                    self.identity.public_key(),
                    self.factory.admission(),
                )
                .start();
                self.restore_intent(&state_keeper);
                self.state_keeper = Some(state_keeper);
            }
            ActorKind::Reporter => {
                let latest = self.channels.state.borrow().local_progress().clone();
                let reporter = Reporter::new(
                    context,
                    self.identity.clone(),
                    self.token.clone(),
                    DhtHandle::of(&me),
                    latest,
                );
                self.reporter = Some(reporter.start());
            }
            ActorKind::Fetcher => {
                let fetcher = Fetcher::new(context, DhtHandle::of(&me), me.recipient());
                self.fetcher = Some(fetcher.start());
            }
        }
    }

    /// Brings a (re)started StateKeeper in line with what the trainer has asked for.
    fn restore_intent(&self, state_keeper: &Addr<StateKeeper>) {
        let (paused, local) = {
            let state = self.channels.state.borrow();
            let local = state.local_progress();
            (
                state.pause_depth(),
                (local.epoch, local.samples_accumulated),
            )
        };
        for _ in paused..self.pause_depth {
            state_keeper.do_send(PauseUpdates);
        }
        for _ in self.pause_depth..paused {
            state_keeper.do_send(ResumeUpdates);
        }
        if let Some(report) = self.last_report {
            if (report.epoch, report.samples) != local {
                state_keeper.do_send(report);
            }
        }
    }

    /// A child is gone: restart it after a backoff, or fail if its budget is spent.
    fn child_down(&mut self, kind: ActorKind, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        self.slot_mut(kind).clear();
        let record = &mut self.records[kind.index()];
        if self.phase != Phase::Running || record.restart_pending {
            return;
        }
        let attempt = match record.admit_restart(Instant::now(), &self.policy) {
            Ok(attempt) => attempt,
            Err(stops) => {
                let reason = format!(
                    "{kind} stopped {stops} times within {:?}",
                    self.policy.window
                );
                self.fail(reason, ctx);
                return;
            }
        };
        record.restart_pending = true;
        TrackerStats::bump(&self.channels.stats.restarts[kind.index()]);
        let delay = self.policy.backoff(attempt);
        warn!(actor = %kind, attempt, delay_ms = delay.as_millis() as u64, "restarting actor");
        ctx.run_later(delay, move |act, ctx| {
            act.records[kind.index()].restart_pending = false;
            if act.phase == Phase::Running {
                act.start_child(kind, ctx);
            }
        });
    }

    fn fail(&mut self, reason: String, _ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        error!(%reason, "restart budget spent; tracker failed");
        self.phase = Phase::Failed;
        self.channels.health.send_replace(Health::Failed { reason });
        self.stop_child(ActorKind::Fetcher);
        self.stop_child(ActorKind::Reporter);
    }

    fn stop_child(&mut self, kind: ActorKind) {
        self.slot_mut(kind).stop();
    }

    fn check_liveness(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        for kind in ActorKind::ALL {
            if !self.records[kind.index()].restart_pending && !self.slot(kind).is_alive() {
                self.child_down(kind, ctx);
            }
        }
    }

    fn gateway(&self) -> Result<DhtHandle, DhtError> {
        self.gateway.clone().ok_or(DhtError::Unavailable)
    }

    /// Rejects calls once the tracker failed or stopped.
    fn usable(&self) -> Result<(), TrackerError> {
        match self.phase {
            Phase::Running => Ok(()),
            Phase::Failed => Err(TrackerError::Failed(
                match &*self.channels.health.borrow() {
                    Health::Failed { reason } => reason.clone(),
                    _ => "tracker failed".into(),
                },
            )),
            Phase::ShuttingDown | Phase::Stopped => Err(TrackerError::Stopped),
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let span = self.span.clone();
        let _span = span.enter();
        info!("tracker starting");
        for kind in ActorKind::ALL {
            self.start_child(kind, ctx);
        }
        ctx.run_interval(self.policy.liveness_interval, |act, ctx| {
            act.check_liveness(ctx)
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.channels.health.send_replace(Health::Stopped);
    }
}

impl Handler<ChildStopped> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildStopped, ctx: &mut Context<Self>) {
        if msg.generation == self.records[msg.kind.index()].generation {
            self.child_down(msg.kind, ctx);
        }
    }
}

impl Handler<ReportProgress> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ReportProgress, _ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        self.last_report = Some(msg);
        if let Some(state_keeper) = &self.state_keeper {
            state_keeper.do_send(msg);
        }
    }
}

impl Handler<RequestRefresh> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: RequestRefresh, _ctx: &mut Context<Self>) {
        if self.config.protocol == Protocol::V2 {
            return;
        }
        if let Some(fetcher) = &self.fetcher {
            fetcher.do_send(FetchNow);
        }
    }
}

impl Handler<PauseUpdates> for Supervisor {
    type Result = ResponseFuture<Result<(), TrackerError>>;

    fn handle(&mut self, _: PauseUpdates, _ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.usable() {
            return Box::pin(async move { Err(e) });
        }
        self.pause_depth += 1;
        let request = self.state_keeper.as_ref().map(|e| e.send(PauseUpdates));
        Box::pin(async move {
            match request {
                // A dead StateKeeper is fine: its successor gets the pause from `restore_intent`.
                Some(request) => request.await.unwrap_or(Ok(())),
                None => Ok(()),
            }
        })
    }
}

impl Handler<ResumeUpdates> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: ResumeUpdates, _ctx: &mut Context<Self>) {
        if self.pause_depth == 0 {
            return;
        }
        self.pause_depth -= 1;
        if let Some(state_keeper) = &self.state_keeper {
            state_keeper.do_send(ResumeUpdates);
        }
    }
}

impl Handler<UpdateEpoch> for Supervisor {
    type Result = ResponseActFuture<Self, Result<u64, TrackerError>>;

    fn handle(&mut self, msg: UpdateEpoch, _ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.usable() {
            return Box::pin(fut::ready(Err(e)));
        }
        let Some(state_keeper) = self.state_keeper.clone() else {
            return Box::pin(fut::ready(Err(TrackerError::Restarting(
                ActorKind::Estimator,
            ))));
        };
        Box::pin(
            state_keeper
                .send(msg)
                .into_actor(self)
                .map(|reply, act, _ctx| {
                    let epoch =
                        reply.map_err(|_| TrackerError::Restarting(ActorKind::Estimator))??;
                    let seq = act.last_report.map_or(0, |r| r.seq);
                    act.last_report = Some(ReportProgress {
                        epoch,
                        samples: 0,
                        update_global_samples: true,
                        seq,
                    });
                    Ok(epoch)
                }),
        )
    }
}

impl Handler<Fetched> for Supervisor {
    type Result = ResponseFuture<Result<f64, TrackerError>>;

    fn handle(&mut self, msg: Fetched, _ctx: &mut Context<Self>) -> Self::Result {
        let request = self.state_keeper.as_ref().map(|e| e.send(msg));
        Box::pin(async move {
            match request {
                Some(request) => request
                    .await
                    .map_err(|_| TrackerError::Restarting(ActorKind::Estimator))?,
                None => Err(TrackerError::Restarting(ActorKind::Estimator)),
            }
        })
    }
}

impl Handler<Publish> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Publish, _ctx: &mut Context<Self>) {
        if let Some(reporter) = &self.reporter {
            reporter.do_send(msg);
        }
    }
}

impl Handler<InjectPanic> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: InjectPanic, _ctx: &mut Context<Self>) {
        self.slot(msg.0).inject_panic(msg);
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), TrackerError>>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        if matches!(self.phase, Phase::ShuttingDown | Phase::Stopped) {
            return Box::pin(fut::ready(Ok(())));
        }
        self.phase = Phase::ShuttingDown;
        self.stop_child(ActorKind::Fetcher);
        self.stop_child(ActorKind::Reporter);
        let key = self.config.progress_key();
        let expiration = self
            .channels
            .signing
            .expiration(self.clock.now(), self.config.metadata_expiration);
        let tombstone =
            SignedEntry::sign_admitted(&self.identity, self.token.as_ref(), &key, None, expiration);
        let gateway = self.gateway();
        let subkey = self.identity.public_key();
        let push = self.config.protocol == Protocol::V2;
        if push {
            TrackerStats::bump(&self.channels.stats.publishes[PublishReason::Tombstone.index()]);
        }
        let store = async move {
            let tombstone = tombstone.map_err(|e| DhtError::Failed(e.to_string()))?;
            let gateway = gateway?;
            let stored = gateway.store(key.clone(), subkey, tombstone.clone(), msg.timeout);
            if !push {
                return stored.await;
            }
            // Both at once, within one timeout. The push is best effort (v2 peers drop this
            // peer at once); the store is what must land.
            let pushed = gateway.push(key, subkey, tombstone, msg.timeout);
            let (stored, pushed) = futures::join!(stored, pushed);
            if let Err(e) = pushed {
                tracing::debug!(error = %e, "tombstone not pushed");
            }
            stored
        };
        Box::pin(store.into_actor(self).map(|stored, act, ctx| {
            let _span = act.span.clone().entered();
            match &stored {
                Ok(_) => info!(peer = %act.identity.peer_id(), "tombstone stored; tracker stopped"),
                Err(e) => warn!(error = %e, "tombstone not stored; tracker stopped"),
            }
            act.stop_child(ActorKind::Estimator);
            act.stop_child(ActorKind::Gateway);
            act.phase = Phase::Stopped;
            ctx.stop();
            stored.map(|_| ()).map_err(TrackerError::Dht)
        }))
    }
}
