//! The Fetcher actor: reads the swarm's entries (get with latest semantics) when the estimated
//! `next_fetch_time` comes or when nudged ("state updated"), and hands them to the StateKeeper,
//! which replies with the time of the next fetch. At most one get is in flight; a nudge during
//! one triggers exactly one more. Failed gets are retried with backoff. Every wait is at least
//! `min_refresh_period`, so no clock jump or estimate can make it spin.

use std::sync::Arc;

use actix::prelude::*;
use tracing::warn;

use crate::actors::child::ChildContext;
use crate::actors::messages::{child_hooks, FetchNow, Fetched, InjectPanic, StopChild};
use crate::config::{seconds, Protocol};
use crate::dht::DhtHandle;
use crate::status::{TrackerError, TrackerStats};

/// The Fetcher actor.
pub(crate) struct Fetcher {
    context: ChildContext,
    key: String,
    dht: DhtHandle,
    /// Where fetched entries go (the Supervisor forwards them to the StateKeeper).
    fetched: Recipient<Fetched>,
    /// The pending timer of the next fetch.
    timer: Option<SpawnHandle>,
    in_flight: bool,
    /// A nudge arrived during a fetch.
    again: bool,
    /// Consecutive failures (drives the retry backoff).
    failures: u32,
    /// When the last read began: nudges never start reads closer than `min_refresh_period`.
    last_started: Option<std::time::Instant>,
    /// `tracker{prefix, peer, actor}` span for this actor's logs.
    span: tracing::Span,
}

impl Fetcher {
    /// A Fetcher that reads through `dht` as soon as it starts and sends what it read to
    /// `fetched`.
    pub(crate) fn new(context: ChildContext, dht: DhtHandle, fetched: Recipient<Fetched>) -> Self {
        Self {
            span: context.span(),
            key: context.config.progress_key(),
            context,
            dht,
            fetched,
            timer: None,
            in_flight: false,
            again: false,
            failures: 0,
            last_started: None,
        }
    }

    fn fetch(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        self.in_flight = true;
        self.last_started = Some(std::time::Instant::now());
        let get = self.dht.get(
            self.key.clone(),
            true,
            self.context.config.request_timeout(),
        );
        let fetched = self.fetched.clone();
        let stats = self.context.stats.clone();
        let work = async move {
            let started = std::time::Instant::now();
            let record = get.await;
            stats.fetch_latency.observe(started.elapsed().as_secs_f64());
            let record = record?.unwrap_or_default();
            fetched.send(Fetched(Arc::new(record))).await?
        };
        ctx.spawn(work.into_actor(self).map(|result: Result<f64, TrackerError>, act, ctx| {
            let _span = act.span.clone().entered();
            act.in_flight = false;
            let now = act.context.clock.now();
            let next = match result {
                Ok(next) => {
                    TrackerStats::bump(&act.context.stats.fetches_ok);
                    TrackerStats::mark(&act.context.stats.last_fetch_ok, now);
                    act.failures = 0;
                    next
                }
                Err(e) => {
                    TrackerStats::bump(&act.context.stats.fetches_failed);
                    act.failures = act.failures.saturating_add(1);
                    let config = &act.context.config;
                    let backoff = config.retry_delay(act.failures, config.max_refresh_period);
                    warn!(error = %e, failures = act.failures, retry_in = backoff, "fetch failed");
                    now + backoff
                }
            };
            if std::mem::take(&mut act.again) {
                act.fetch_soon(ctx);
            } else {
                act.schedule(ctx, next - now);
            }
        }));
    }

    /// A nudge ([`FetchNow`]): reads now, or once `min_refresh_period` has passed since the
    /// last read began, so a caller nudging in a loop does not read in a loop. The timer it
    /// replaces was never due sooner (every scheduled read is at least that far apart).
    fn fetch_soon(&mut self, ctx: &mut Context<Self>) {
        let min = seconds(self.context.config.min_refresh_period);
        match self.last_started.map(|at| at.elapsed()) {
            Some(elapsed) if elapsed < min => {
                if let Some(timer) = self.timer.take() {
                    ctx.cancel_future(timer);
                }
                self.timer = Some(ctx.run_later(min - elapsed, |act, ctx| {
                    act.timer = None;
                    act.fetch(ctx);
                }));
            }
            _ => self.fetch(ctx),
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, delay: f64) {
        let config = &self.context.config;
        let mut longest = config.max_refresh_period.max(config.default_refresh_period);
        if config.protocol == Protocol::V2 {
            // Anti-entropy reads grow rarer with the swarm (TrackerConfig::anti_entropy_delay).
            longest = f64::INFINITY;
        }
        let delay = delay.clamp(self.context.config.min_refresh_period, longest);
        self.timer = Some(ctx.run_later(seconds(delay), |act, ctx| {
            act.timer = None;
            act.fetch(ctx);
        }));
    }
}

impl Actor for Fetcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.fetch(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.context.notify_stopped();
    }
}

impl Handler<FetchNow> for Fetcher {
    type Result = ();

    fn handle(&mut self, _: FetchNow, ctx: &mut Context<Self>) {
        if self.in_flight {
            self.again = true;
        } else {
            self.fetch_soon(ctx);
        }
    }
}

child_hooks!(Fetcher, "Fetcher");
