//! What the Supervisor gives each child and what it keeps about each.
//!
//! - [`ChildContext`]: what every child starts with (the tracker's configuration, clock and
//!   counters, its kind and incarnation, and where to say that it stopped), instead of a long
//!   list of constructor arguments.
//! - [`ChildSlot`]: a child's address as the Supervisor holds it, `Option<Addr<_>>` or
//!   `Option<DhtHandle>`, checked, stopped and (in tests) crashed the same way.
//! - [`ChildRecord`]: a child's incarnation and restart log; [`SupervisionPolicy`] and
//!   [`ChildRecord::admit_restart`] are the restart budget, pure and unit-tested.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tracing::warn;

use crate::actors::messages::{ChildStopped, InjectPanic, SharedStats, StopChild};
use crate::actors::signing_clock::SigningClock;
use crate::backoff::Backoff;
use crate::clock::SharedClock;
use crate::config::TrackerConfig;
use crate::dht::DhtHandle;
use crate::status::ActorKind;

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

/// What every supervised child starts with.
#[derive(Clone)]
pub(crate) struct ChildContext {
    /// Which child this is.
    pub(crate) kind: ActorKind,
    /// The tracker's configuration.
    pub(crate) config: Arc<TrackerConfig>,
    /// DHT time.
    pub(crate) clock: SharedClock,
    /// The tracker's counters.
    pub(crate) stats: SharedStats,
    /// The expirations this tracker signs (on the swarm's clock, never going back).
    pub(crate) signing: SigningClock,
    /// This peer's id, for the logs.
    pub(crate) peer_id: String,
    /// This incarnation of the child (a stop notice of an older one is ignored).
    pub(crate) generation: u64,
    /// Told when the child stops, also after a panic.
    pub(crate) supervisor: Recipient<ChildStopped>,
}

impl ChildContext {
    /// The child's `tracker{prefix, peer, actor}` span.
    pub(crate) fn span(&self) -> tracing::Span {
        tracker_span(&self.config, &self.peer_id, self.kind.as_str())
    }

    /// Tells the Supervisor that this child stopped (from the child's `stopped()` hook).
    pub(crate) fn notify_stopped(&self) {
        self.supervisor.do_send(ChildStopped {
            kind: self.kind,
            generation: self.generation,
        });
    }
}

/// The `tracker{prefix, peer, actor}` span of one of a tracker's actors (the Supervisor's and
/// its children's logs carry the same fields).
pub(crate) fn tracker_span(config: &TrackerConfig, peer_id: &str, actor: &str) -> tracing::Span {
    tracing::info_span!(
        "tracker",
        prefix = %config.prefix,
        peer = %peer_id,
        actor = actor
    )
}

/// A running child's address, as the Supervisor checks, stops and crashes it.
pub(crate) trait ChildAddr {
    /// Whether the child still runs.
    fn is_alive(&self) -> bool;
    /// Asks the child to stop.
    fn stop(&self);
    /// Test hook: makes the child panic inside a handler.
    fn inject_panic(&self, msg: InjectPanic);
}

impl<A> ChildAddr for Addr<A>
where
    A: Actor<Context = Context<A>> + Handler<StopChild> + Handler<InjectPanic>,
{
    fn is_alive(&self) -> bool {
        self.connected()
    }

    fn stop(&self) {
        self.do_send(StopChild);
    }

    fn inject_panic(&self, msg: InjectPanic) {
        self.do_send(msg);
    }
}

impl ChildAddr for DhtHandle {
    fn is_alive(&self) -> bool {
        DhtHandle::is_alive(self)
    }

    fn stop(&self) {
        DhtHandle::stop(self);
    }

    fn inject_panic(&self, _: InjectPanic) {
        warn!("panic injection into the gateway goes through the gateway's own fault hooks");
    }
}

/// Where the Supervisor holds a child's address: empty while the child is down.
pub(crate) trait ChildSlot {
    /// Whether a child is held and runs.
    fn is_alive(&self) -> bool;
    /// Forgets the child (it is gone).
    fn clear(&mut self);
    /// Stops the child held, if any, and forgets it.
    fn stop(&mut self);
    /// Test hook: makes the child held panic.
    fn inject_panic(&self, msg: InjectPanic);
}

impl<C: ChildAddr> ChildSlot for Option<C> {
    fn is_alive(&self) -> bool {
        self.as_ref().is_some_and(C::is_alive)
    }

    fn clear(&mut self) {
        *self = None;
    }

    fn stop(&mut self) {
        if let Some(child) = self.take() {
            child.stop();
        }
    }

    fn inject_panic(&self, msg: InjectPanic) {
        if let Some(child) = self {
            child.inject_panic(msg);
        }
    }
}

/// What the Supervisor remembers about one child across its restarts.
#[derive(Debug, Default)]
pub(crate) struct ChildRecord {
    /// The current incarnation.
    pub(crate) generation: u64,
    /// A restart is scheduled.
    pub(crate) restart_pending: bool,
    /// When the child was restarted within the policy's window.
    restarts: VecDeque<Instant>,
}

impl ChildRecord {
    /// The child went down at `now`: `Ok(attempt)` if the budget allows another restart (the
    /// attempt's number within the window, which sets the backoff), `Err(stops)` with the number
    /// of stops within the window once the budget is spent.
    pub(crate) fn admit_restart(
        &mut self,
        now: Instant,
        policy: &SupervisionPolicy,
    ) -> Result<u32, usize> {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= policy.max_restarts as usize {
            return Err(self.restarts.len() + 1);
        }
        self.restarts.push_back(now);
        Ok(self.restarts.len() as u32)
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

    #[test]
    fn the_budget_allows_max_restarts_within_the_window_then_is_spent() {
        let policy = SupervisionPolicy {
            max_restarts: 3,
            window: Duration::from_secs(10),
            ..SupervisionPolicy::default()
        };
        let mut record = ChildRecord::default();
        let start = Instant::now();
        let attempts: Vec<_> = (0..4)
            .map(|i| record.admit_restart(start + Duration::from_secs(i), &policy))
            .collect();
        assert_eq!(attempts, [Ok(1), Ok(2), Ok(3), Err(4)]);
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let policy = SupervisionPolicy {
            max_restarts: 2,
            window: Duration::from_secs(10),
            ..SupervisionPolicy::default()
        };
        let mut record = ChildRecord::default();
        let start = Instant::now();
        assert_eq!(record.admit_restart(start, &policy), Ok(1));
        assert_eq!(
            record.admit_restart(start + Duration::from_secs(1), &policy),
            Ok(2)
        );
        // The first restart left the window; the second still counts.
        let later = start + Duration::from_secs(11);
        assert_eq!(record.admit_restart(later, &policy), Ok(2));
        assert_eq!(record.admit_restart(later, &policy), Err(3));
    }
}
