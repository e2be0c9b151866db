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
//!   expiration now + `metadata_expiration`) is stored through the gateway within the timeout,
//!   then the StateKeeper and, last, the gateway stop.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::actors::fetcher::Fetcher;
use crate::actors::messages::{
    ChildStopped, FetchNow, Fetched, InjectPanic, PauseUpdates, Publish, ReportProgress,
    RequestRefresh, ResumeUpdates, SharedStats, Shutdown, StopChild, UpdateEpoch,
};
use crate::actors::reporter::Reporter;
use crate::actors::state_keeper::StateKeeper;
use crate::clock::SharedClock;
use crate::config::TrackerConfig;
use crate::dht::{DhtError, DhtHandle, GatewayFactory, Get, StopGateway, Store};
use crate::identity::Identity;
use crate::progress::GlobalProgress;
use crate::records::{ProgressRecord, SignedEntry};
use crate::status::{ActorKind, Health, TrackerError, TrackerStats};
use crate::tracker_state::TrackerState;
use swarm_progress_core::Backoff;

/// How the Supervisor restarts failed children.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupervisionPolicy {
    /// Restarts of one child allowed within `window`; one more spends the budget.
    pub max_restarts: u32,
    /// The window of the restart budget.
    pub window: Duration,
    /// Delay before the first restart; doubles with each restart inside the window.
    pub backoff_initial: Duration,
    /// Longest delay before a restart.
    pub backoff_max: Duration,
    /// How often the Supervisor checks that its children are alive.
    pub liveness_interval: Duration,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            liveness_interval: Duration::from_millis(500),
        }
    }
}

impl SupervisionPolicy {
    /// The delay before restart number `attempt` (1-based) inside the window.
    pub fn backoff(&self, attempt: u32) -> Duration {
        Backoff::new(self.backoff_initial, self.backoff_max).delay(attempt.saturating_sub(1))
    }
}

/// The channels the tracker handle reads.
#[derive(Debug, Clone)]
pub struct TrackerChannels {
    /// Every new tracker state.
    pub state: Arc<watch::Sender<TrackerState>>,
    /// The global progress, sent when it changes.
    pub global: Arc<watch::Sender<GlobalProgress>>,
    /// The tracker's health.
    pub health: Arc<watch::Sender<Health>>,
    /// Counters.
    pub stats: SharedStats,
}

impl TrackerChannels {
    /// Channels holding `initial`.
    pub fn new(initial: TrackerState) -> Self {
        let (global, _) = watch::channel(initial.global_progress().clone());
        let (state, _) = watch::channel(initial);
        let (health, _) = watch::channel(Health::Running);
        Self {
            state: Arc::new(state),
            global: Arc::new(global),
            health: Arc::new(health),
            stats: SharedStats::default(),
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
pub struct Supervisor {
    config: Arc<TrackerConfig>,
    identity: Arc<Identity>,
    clock: SharedClock,
    policy: SupervisionPolicy,
    factory: Box<dyn GatewayFactory>,
    channels: TrackerChannels,
    gateway: Option<DhtHandle>,
    estimator: Option<Addr<StateKeeper>>,
    reporter: Option<Addr<Reporter>>,
    fetcher: Option<Addr<Fetcher>>,
    /// Incarnation of each child (indexed by `ActorKind::index`); stale stop notices are ignored.
    generations: [u64; 4],
    /// Recent restarts of each child, for the budget.
    restarts: [VecDeque<Instant>; 4],
    /// A restart of the child is scheduled.
    restart_pending: [bool; 4],
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
    pub fn new(
        config: Arc<TrackerConfig>,
        clock: SharedClock,
        policy: SupervisionPolicy,
        factory: Box<dyn GatewayFactory>,
        channels: TrackerChannels,
    ) -> Self {
        let identity = factory.identity();
        let span = tracing::info_span!(
            "tracker",
            prefix = %config.prefix,
            peer = %identity.peer_id(),
            actor = "supervisor"
        );
        Self {
            span,
            identity,
            config,
            clock,
            policy,
            factory,
            channels,
            gateway: None,
            estimator: None,
            reporter: None,
            fetcher: None,
            generations: [0; 4],
            restarts: Default::default(),
            restart_pending: [false; 4],
            phase: Phase::Running,
            last_report: None,
            pause_depth: 0,
        }
    }

    fn is_alive(&self, kind: ActorKind) -> bool {
        match kind {
            ActorKind::Gateway => self.gateway.as_ref().is_some_and(DhtHandle::is_alive),
            ActorKind::Estimator => self.estimator.as_ref().is_some_and(Addr::connected),
            ActorKind::Reporter => self.reporter.as_ref().is_some_and(Addr::connected),
            ActorKind::Fetcher => self.fetcher.as_ref().is_some_and(Addr::connected),
        }
    }

    fn clear(&mut self, kind: ActorKind) {
        match kind {
            ActorKind::Gateway => self.gateway = None,
            ActorKind::Estimator => self.estimator = None,
            ActorKind::Reporter => self.reporter = None,
            ActorKind::Fetcher => self.fetcher = None,
        }
    }

    fn start_child(&mut self, kind: ActorKind, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let i = kind.index();
        self.generations[i] += 1;
        let generation = self.generations[i];
        let me = ctx.address();
        let stats = self.channels.stats.clone();
        match kind {
            ActorKind::Gateway => match self.factory.start() {
                Ok(handle) => self.gateway = Some(handle),
                Err(e) => {
                    error!(error = %e, "cannot start the DHT gateway");
                    self.child_down(kind, ctx);
                }
            },
            ActorKind::Estimator => {
                let estimator = StateKeeper::new(
                    self.channels.state.clone(),
                    self.channels.global.clone(),
                    self.clock.clone(),
                    me.clone().recipient(),
                    me.recipient(),
                    generation,
                    stats,
                )
                .start();
                self.restore_intent(&estimator);
                self.estimator = Some(estimator);
            }
            ActorKind::Reporter => {
                let latest = self.channels.state.borrow().local_progress().clone();
                self.reporter = Some(
                    Reporter::new(
                        self.identity.clone(),
                        self.config.clone(),
                        self.clock.clone(),
                        DhtHandle::of(&me),
                        Some(latest),
                        me.recipient(),
                        generation,
                        stats,
                    )
                    .start(),
                );
            }
            ActorKind::Fetcher => {
                self.fetcher = Some(
                    Fetcher::new(
                        &self.identity.peer_id(),
                        self.config.clone(),
                        self.clock.clone(),
                        DhtHandle::of(&me),
                        me.clone().recipient(),
                        me.recipient(),
                        generation,
                        stats,
                    )
                    .start(),
                );
            }
        }
    }

    /// Brings a (re)started StateKeeper in line with what the trainer has asked for.
    fn restore_intent(&self, estimator: &Addr<StateKeeper>) {
        let (paused, local) = {
            let state = self.channels.state.borrow();
            let local = state.local_progress();
            (
                state.pause_depth(),
                (local.epoch, local.samples_accumulated),
            )
        };
        for _ in paused..self.pause_depth {
            estimator.do_send(PauseUpdates);
        }
        for _ in self.pause_depth..paused {
            estimator.do_send(ResumeUpdates);
        }
        if let Some(report) = self.last_report {
            if (report.epoch, report.samples) != local {
                estimator.do_send(report);
            }
        }
    }

    /// A child is gone: restart it after a backoff, or fail if its budget is spent.
    fn child_down(&mut self, kind: ActorKind, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let i = kind.index();
        self.clear(kind);
        if self.phase != Phase::Running || self.restart_pending[i] {
            return;
        }
        let now = Instant::now();
        let log = &mut self.restarts[i];
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            log.pop_front();
        }
        if log.len() >= self.policy.max_restarts as usize {
            let reason = format!(
                "{kind} stopped {} times within {:?}",
                log.len() + 1,
                self.policy.window
            );
            self.fail(reason, ctx);
            return;
        }
        log.push_back(now);
        let attempt = log.len() as u32;
        TrackerStats::bump(&self.channels.stats.restarts[i]);
        let delay = self.policy.backoff(attempt);
        warn!(actor = %kind, attempt, delay_ms = delay.as_millis() as u64, "restarting actor");
        self.restart_pending[i] = true;
        ctx.run_later(delay, move |act, ctx| {
            act.restart_pending[i] = false;
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
        match kind {
            ActorKind::Gateway => {
                if let Some(gateway) = self.gateway.take() {
                    gateway.stop();
                }
            }
            ActorKind::Estimator => {
                if let Some(a) = self.estimator.take() {
                    a.do_send(StopChild);
                }
            }
            ActorKind::Reporter => {
                if let Some(a) = self.reporter.take() {
                    a.do_send(StopChild);
                }
            }
            ActorKind::Fetcher => {
                if let Some(a) = self.fetcher.take() {
                    a.do_send(StopChild);
                }
            }
        }
    }

    fn check_liveness(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        for kind in ActorKind::ALL {
            if !self.restart_pending[kind.index()] && !self.is_alive(kind) {
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
        if msg.generation == self.generations[msg.kind.index()] {
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
        if let Some(estimator) = &self.estimator {
            estimator.do_send(msg);
        }
    }
}

impl Handler<RequestRefresh> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: RequestRefresh, _ctx: &mut Context<Self>) {
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
        let request = self.estimator.as_ref().map(|e| e.send(PauseUpdates));
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
        if let Some(estimator) = &self.estimator {
            estimator.do_send(ResumeUpdates);
        }
    }
}

impl Handler<UpdateEpoch> for Supervisor {
    type Result = ResponseActFuture<Self, Result<u64, TrackerError>>;

    fn handle(&mut self, msg: UpdateEpoch, _ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.usable() {
            return Box::pin(fut::ready(Err(e)));
        }
        let Some(estimator) = self.estimator.clone() else {
            return Box::pin(fut::ready(Err(TrackerError::Restarting(
                ActorKind::Estimator,
            ))));
        };
        Box::pin(
            estimator
                .send(msg)
                .into_actor(self)
                .map(|reply, act, _ctx| {
                    let epoch =
                        reply.map_err(|_| TrackerError::Restarting(ActorKind::Estimator))??;
                    let seq = act.last_report.map_or(0, |r| r.seq);
                    act.last_report = Some(ReportProgress {
                        epoch,
                        samples: 0,
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
        let request = self.estimator.as_ref().map(|e| e.send(msg));
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

impl Handler<Store> for Supervisor {
    type Result = ResponseFuture<Result<bool, DhtError>>;

    fn handle(&mut self, msg: Store, _ctx: &mut Context<Self>) -> Self::Result {
        let gateway = self.gateway();
        let timeout = self.config.request_timeout();
        Box::pin(async move {
            gateway?
                .store(msg.key, msg.subkey, msg.entry, timeout)
                .await
        })
    }
}

impl Handler<Get> for Supervisor {
    type Result = ResponseFuture<Result<Option<ProgressRecord>, DhtError>>;

    fn handle(&mut self, msg: Get, _ctx: &mut Context<Self>) -> Self::Result {
        let gateway = self.gateway();
        let timeout = self.config.request_timeout();
        Box::pin(async move { gateway?.get(msg.key, msg.latest, timeout).await })
    }
}

/// Children cannot stop the real gateway through the Supervisor; only shutdown does.
impl Handler<StopGateway> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: StopGateway, _ctx: &mut Context<Self>) {}
}

impl Handler<InjectPanic> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: InjectPanic, _ctx: &mut Context<Self>) {
        match msg.0 {
            ActorKind::Estimator => self.estimator.iter().for_each(|a| a.do_send(msg)),
            ActorKind::Reporter => self.reporter.iter().for_each(|a| a.do_send(msg)),
            ActorKind::Fetcher => self.fetcher.iter().for_each(|a| a.do_send(msg)),
            ActorKind::Gateway => {
                warn!("panic injection into the gateway goes through the gateway's own fault hooks")
            }
        }
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
        let expiration = self.clock.now() + self.config.metadata_expiration;
        let tombstone = SignedEntry::sign(&self.identity, &key, None, expiration);
        let gateway = self.gateway();
        let subkey = self.identity.public_key();
        let store = async move {
            let tombstone = tombstone.map_err(|e| DhtError::Failed(e.to_string()))?;
            gateway?.store(key, subkey, tombstone, msg.timeout).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_max() {
        let policy = SupervisionPolicy {
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(300),
            ..SupervisionPolicy::default()
        };
        let delays: Vec<u128> = (1..=6).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300, 300]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(300));
    }
}
