//! The Reporter actor: owns the signing identity and publishes this peer's signed entry.
//!
//! - v1 (hivemind's): a DHT store on every new local progress and at least every
//!   `metadata_expiration / 2`.
//! - v2: the publishing rule ([`crate::publish_rule::decide`]) says when to push the entry on
//!   gossip (epoch change, drift, speed change, heartbeat; never faster than
//!   `publish_min_interval`); [`crate::publish_rule::store_due`] says which pushes are also
//!   stored in the DHT. Its timer wakes it for a deferred push and for the heartbeat.
//!
//! At most one store is in flight; a newer report supersedes a pending one (only the newest is
//! sent when the store in flight finishes), so a slow DHT never builds a backlog. Each store
//! and push is bounded by `request_timeout`; a failed store is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{debug, warn};

use crate::actors::child::ChildContext;
use crate::actors::messages::{child_hooks, InjectPanic, Publish, StopChild};
use crate::admission_token::AdmissionToken;
use crate::config::{seconds, Protocol};
use crate::dht::{DhtError, DhtHandle};
use crate::identity::Identity;
use crate::progress::LocalProgress;
use crate::publish_rule::{
    decide, store_due, Decision, PublishReason, PublishRule, Published, FIRST_PUSH_REPEAT,
};
use crate::records::SignedEntry;
use crate::status::TrackerStats;

/// The Reporter actor.
pub(crate) struct Reporter {
    context: ChildContext,
    identity: Arc<Identity>,
    /// This peer's admission token, carried in every entry (private collaborations).
    token: Option<AdmissionToken>,
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
    /// v2: the publishing rule (`None` in v1).
    rule: Option<PublishRule>,
    /// v2: what was last pushed, and when.
    pushed: Option<Published>,
    /// v2: when an entry was last stored in the DHT.
    last_store: Option<f64>,
    /// v2: consecutive failed pushes (drives the retry backoff).
    push_failures: u32,
    /// v2: the timer of the next decision (a deferred push or the heartbeat).
    push_timer: Option<SpawnHandle>,
    /// v2: a store deferred by the store interval (the DHT copy catches up with a push that
    /// was not stored).
    store_timer: Option<SpawnHandle>,
    /// `tracker{prefix, peer, actor}` span for this actor's logs.
    span: tracing::Span,
}

impl Reporter {
    /// A Reporter that starts by publishing `latest`, signing with `identity` (and carrying
    /// `token`), through `dht`.
    pub(crate) fn new(
        context: ChildContext,
        identity: Arc<Identity>,
        token: Option<AdmissionToken>,
        dht: DhtHandle,
        latest: LocalProgress,
    ) -> Self {
        let rule = (context.config.protocol == Protocol::V2)
            .then(|| PublishRule::from_config(&context.config));
        Self {
            rule,
            pushed: None,
            last_store: None,
            push_failures: 0,
            push_timer: None,
            store_timer: None,
            span: context.span(),
            key: context.config.progress_key(),
            context,
            identity,
            token,
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

    /// The latest local progress signed with an expiration `metadata_expiration` ahead on the
    /// swarm's clock ([`SigningClock`]) (`None`, logged, if it cannot be signed).
    ///
    /// [`SigningClock`]: crate::actors::signing_clock::SigningClock
    fn sign_latest(&self, now: f64) -> Option<SignedEntry> {
        let expiration = self
            .context
            .signing
            .expiration(now, self.context.config.metadata_expiration);
        SignedEntry::sign_admitted(
            &self.identity,
            self.token.as_ref(),
            &self.key,
            Some(&self.latest),
            expiration,
        )
        .map_err(|e| warn!(error = %e, "cannot sign local progress; not published"))
        .ok()
    }

    fn start_store(&mut self, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let now = self.context.clock.now();
        let Some(entry) = self.sign_latest(now) else {
            return;
        };
        self.in_flight = true;
        self.dirty = false;
        if self.rule.is_none() {
            // v2 republishes through the heartbeat instead.
            let republish = seconds(self.context.config.republish_period());
            self.schedule(ctx, republish);
        }
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
                    TrackerStats::mark(&act.context.stats.last_store_ok, act.context.clock.now());
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

impl Reporter {
    /// v2: applies the publishing rule to the latest local progress now.
    fn decide(&mut self, ctx: &mut Context<Self>) {
        let Some(rule) = self.rule else {
            return;
        };
        if let Some(timer) = self.push_timer.take() {
            ctx.cancel_future(timer);
        }
        let now = self.context.clock.now();
        let wake_at = match decide(&rule, self.pushed.as_ref(), &self.latest, now) {
            Decision::Publish(reason) => {
                self.push(reason, now, ctx);
                now + rule.heartbeat
            }
            Decision::WaitUntil(at, _) | Decision::IdleUntil(at) => at,
        };
        self.push_timer = Some(ctx.run_later(seconds(wake_at - now), |act, ctx| {
            act.push_timer = None;
            act.decide(ctx);
        }));
    }

    /// v2: pushes the latest local progress on gossip for `reason`, and stores it in the DHT
    /// when [`store_due`] says so.
    fn push(&mut self, reason: PublishReason, now: f64, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let Some(rule) = self.rule else {
            return;
        };
        let Some(entry) = self.sign_latest(now) else {
            return;
        };
        self.pushed = Some(Published {
            progress: self.latest.clone(),
            at: now,
        });
        TrackerStats::bump(&self.context.stats.publishes[reason.index()]);
        debug!(%reason, epoch = self.latest.epoch, samples = self.latest.samples_accumulated, "push");
        let push = self.dht.push(
            self.key.clone(),
            self.identity.public_key(),
            entry,
            self.context.config.request_timeout(),
        );
        let pushed_at = now;
        if reason == PublishReason::First {
            self.push_again_later(FIRST_PUSH_REPEAT, PublishReason::Heartbeat, pushed_at, ctx);
        }
        ctx.spawn(push.into_actor(self).map(move |result, act, ctx| {
            let Err(e) = result else {
                act.push_failures = 0;
                return;
            };
            let _span = act.span.clone().entered();
            TrackerStats::bump(&act.context.stats.publishes_failed);
            act.push_failures = act.push_failures.saturating_add(1);
            // Typically no topic peer is known yet (a node that just joined): push again with
            // backoff rather than leave the others without this entry until the heartbeat.
            let heartbeat = act.rule.map_or(1.0, |rule| rule.heartbeat);
            let retry_in = act
                .context
                .config
                .retry_delay(act.push_failures - 1, heartbeat);
            if matches!(e, DhtError::NoTopicPeers) {
                debug!(
                    failures = act.push_failures,
                    retry_in, "push reached no peer yet"
                );
            } else {
                warn!(error = %e, failures = act.push_failures, retry_in, "push failed");
            }
            act.push_again_later(retry_in, reason, pushed_at, ctx);
        }));
        if store_due(&rule, reason, self.last_store, now) {
            if let Some(timer) = self.store_timer.take() {
                ctx.cancel_future(timer);
            }
            self.last_store = Some(now);
            self.publish_or_mark(ctx);
        } else if self.store_timer.is_none() {
            let due = self.last_store.map_or(now, |at| at + rule.store_interval);
            self.store_timer = Some(ctx.run_later(seconds(due - now), |act, ctx| {
                act.store_timer = None;
                act.last_store = Some(act.context.clock.now());
                act.publish_or_mark(ctx);
            }));
        }
    }
}

impl Reporter {
    /// v2: pushes the latest local progress again for `reason` in `delay` seconds, unless
    /// something newer than the push made at `pushed_at` went out meanwhile.
    fn push_again_later(
        &mut self,
        delay: f64,
        reason: PublishReason,
        pushed_at: f64,
        ctx: &mut Context<Self>,
    ) {
        ctx.run_later(seconds(delay), move |act, ctx| {
            if act.pushed.as_ref().is_some_and(|p| p.at == pushed_at) {
                let now = act.context.clock.now();
                act.push(reason, now, ctx);
            }
        });
    }
}

impl Actor for Reporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.rule.is_some() {
            self.decide(ctx);
        } else {
            self.start_store(ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.context.notify_stopped();
    }
}

impl Handler<Publish> for Reporter {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        self.latest = msg.progress;
        match self.rule {
            Some(_) if msg.clock_corrected => {
                let now = self.context.clock.now();
                self.push(PublishReason::ClockCorrected, now, ctx);
            }
            Some(_) => self.decide(ctx),
            None => self.publish_or_mark(ctx),
        }
    }
}

child_hooks!(Reporter, "Reporter");
