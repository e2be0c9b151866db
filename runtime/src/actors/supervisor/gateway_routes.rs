//! The Supervisor's gateway routes: the DHT and gossip requests its children send it (store,
//! get, push, subscribe) go to the current gateway, whichever it is after restarts, and pushed
//! entries go on to the StateKeeper; v2's subscription of each new gateway, retried with backoff.

use actix::prelude::*;
use tracing::{error, warn};

use super::{Phase, Supervisor};
use crate::dht::{DhtError, DhtHandle, Get, Push, Pushed, StopGateway, Store, Subscribe};
use crate::records::ProgressRecord;

impl Supervisor {
    /// v2: subscribes the Supervisor to the key's topic through a new gateway; a failed
    /// subscription is retried with backoff while that gateway is the current one (a repeated
    /// subscription replaces the earlier one, so a late success is harmless).
    pub(super) fn subscribe(&self, gateway: &DhtHandle, ctx: &mut Context<Self>) {
        self.subscribe_attempt(gateway.clone(), 1, ctx);
    }

    fn subscribe_attempt(&self, gateway: DhtHandle, attempt: u32, ctx: &mut Context<Self>) {
        let subscribe = gateway.subscribe(
            self.config.progress_key(),
            ctx.address().recipient(),
            self.config.request_timeout(),
        );
        ctx.spawn(subscribe.into_actor(self).map(move |result, act, ctx| {
            let Err(e) = result else {
                return;
            };
            let _span = act.span.clone().entered();
            if matches!(e, DhtError::NoGossip) {
                error!(error = %e, "cannot follow the gossip topic; only DHT reads bring news");
                return;
            }
            let delay = act
                .config
                .retry_delay(attempt, act.config.max_refresh_period);
            warn!(error = %e, attempt, retry_in = delay, "gossip subscription failed; retrying");
            ctx.run_later(crate::config::seconds(delay), move |act, ctx| {
                let current = act.gateway.as_ref().is_some_and(|g| g.same_as(&gateway));
                if act.phase == Phase::Running && current {
                    act.subscribe_attempt(gateway, attempt.saturating_add(1), ctx);
                }
            });
        }));
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

impl Handler<Push> for Supervisor {
    type Result = ResponseFuture<Result<(), DhtError>>;

    fn handle(&mut self, msg: Push, _ctx: &mut Context<Self>) -> Self::Result {
        let gateway = self.gateway();
        let timeout = self.config.request_timeout();
        Box::pin(async move { gateway?.push(msg.key, msg.subkey, msg.entry, timeout).await })
    }
}

impl Handler<Subscribe> for Supervisor {
    type Result = ResponseFuture<Result<(), DhtError>>;

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Context<Self>) -> Self::Result {
        let gateway = self.gateway();
        let timeout = self.config.request_timeout();
        Box::pin(async move { gateway?.subscribe(msg.key, msg.sink, timeout).await })
    }
}

impl Handler<Pushed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Pushed, _ctx: &mut Context<Self>) {
        if let Some(state_keeper) = &self.state_keeper {
            state_keeper.do_send(msg);
        }
    }
}

/// Children cannot stop the real gateway through the Supervisor; only shutdown does.
impl Handler<StopGateway> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: StopGateway, _ctx: &mut Context<Self>) {}
}
