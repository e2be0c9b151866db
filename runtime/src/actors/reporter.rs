//! The Reporter actor: owns the signing identity and publishes this peer's signed entry: on every
//! new local progress and at least every `metadata_expiration / 2`. At most one store is in
//! flight; a newer report supersedes a pending one (only the newest is sent when the store in
//! flight finishes), so a slow DHT never builds a backlog. Each store is bounded by
//! `request_timeout`; a failed store is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{debug, warn};

use crate::actors::child::ChildContext;
use crate::actors::messages::{child_hooks, InjectPanic, Publish, StopChild};
use crate::config::seconds;
use crate::dht::DhtHandle;
use crate::identity::Identity;
use crate::progress::LocalProgress;
use crate::records::SignedEntry;
use crate::status::TrackerStats;

/// The Reporter actor.
pub(crate) struct Reporter {
    context: ChildContext,
    identity: Arc<Identity>,
    key: String,
    dht: DhtHandle,
    /// The newest local progress; republished until replaced.
    latest: LocalProgress,
    /// A store is in flight.
    in_flight: bool,
    /// A newer progress arrived while a store was in flight.
    dirty: bool,
    /// Consecutive failed stores (drives the retry backoff).
    failures: u32,
    /// The pending republish or retry timer.
    timer: Option<SpawnHandle>,
    /// `tracker{prefix, peer, actor}` span for this actor's logs.
    span: tracing::Span,
}

impl Reporter {
    /// A Reporter that starts by publishing `latest`, signing with `identity`, through `dht`.
    pub(crate) fn new(
        context: ChildContext,
        identity: Arc<Identity>,
        dht: DhtHandle,
        latest: LocalProgress,
    ) -> Self {
        Self {
            span: context.span(),
            key: context.config.progress_key(),
            context,
            identity,
            dht,
            latest,
            in_flight: false,
            dirty: false,
            failures: 0,
            timer: None,
        }
    }

    fn publish_or_mark(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight {
            self.dirty = true;
        } else {
            self.start_store(ctx);
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.publish_or_mark(ctx);
        }));
    }

    fn start_store(&mut self, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let now = self.context.clock.now();
        let expiration = now + self.context.config.metadata_expiration;
        let entry =
            match SignedEntry::sign(&self.identity, &self.key, Some(&self.latest), expiration) {
                Ok(entry) => entry,
                Err(e) => {
                    warn!(error = %e, "cannot sign local progress; not published");
                    return;
                }
            };
        self.in_flight = true;
        self.dirty = false;
        let republish = seconds(self.context.config.republish_period());
        self.schedule(ctx, republish);
        let started = std::time::Instant::now();
        let store = self.dht.store(
            self.key.clone(),
            self.identity.public_key(),
            entry,
            self.context.config.request_timeout(),
        );
        ctx.spawn(store.into_actor(self).map(move |result, act, ctx| {
            let _span = act.span.clone().entered();
            act.in_flight = false;
            act.context
                .stats
                .store_latency
                .observe(started.elapsed().as_secs_f64());
            match result {
                Ok(stored) => {
                    TrackerStats::bump(&act.context.stats.stores_ok);
                    act.failures = 0;
                    debug!(stored, "published local progress");
                }
                Err(e) => {
                    TrackerStats::bump(&act.context.stats.stores_failed);
                    act.failures = act.failures.saturating_add(1);
                    let backoff = act
                        .context
                        .config
                        .retry_delay(act.failures, act.context.config.republish_period());
                    warn!(error = %e, failures = act.failures, retry_in = backoff, "store failed");
                    if !act.dirty {
                        act.schedule(ctx, seconds(backoff));
                    }
                }
            }
            if act.dirty {
                act.start_store(ctx);
            }
        }));
    }
}

impl Actor for Reporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_store(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.context.notify_stopped();
    }
}

impl Handler<Publish> for Reporter {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        self.latest = msg.0;
        self.publish_or_mark(ctx);
    }
}

child_hooks!(Reporter, "Reporter");
