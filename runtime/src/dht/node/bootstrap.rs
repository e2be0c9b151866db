//! [`BootstrapSchedule`]: when a node dials its bootstrap peers. The first attempt is at once;
//! while no bootstrap peer answers, attempts repeat with the [`Backoff`] of the node's config; a
//! node with no bootstrap peers starts a new swarm and never bootstraps. A node that loses every
//! connection (its seed restarted, a network split) starts over after the initial wait: without
//! that, a node whose routing table emptied would stay alone. Pure: time is passed in.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;

/// The bootstrap state of one node.
#[derive(Debug, Clone)]
pub(super) struct BootstrapSchedule {
    backoff: Backoff,
    /// Attempts since the node started or last lost every peer.
    attempts: u32,
    /// When the next attempt is due (`None`: no attempt planned).
    next_at: Option<Instant>,
    /// A bootstrap peer answered (or there is none to wait for).
    joined: bool,
}

impl BootstrapSchedule {
    /// The schedule of a node that starts at `now`: the first attempt is due at once when it has
    /// bootstrap peers; without any it has joined (it starts a new swarm).
    pub(super) fn new(has_bootstrap_peers: bool, backoff: Backoff, now: Instant) -> Self {
        Self {
            backoff,
            attempts: 0,
            next_at: has_bootstrap_peers.then_some(now),
            joined: !has_bootstrap_peers,
        }
    }

    /// Whether a bootstrap peer answered since the last start.
    pub(super) fn is_joined(&self) -> bool {
        self.joined
    }

    /// Whether an attempt is due at `now`.
    #[cfg(test)]
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.next_at.is_some_and(|at| now >= at)
    }

    /// When the next attempt is due (`None`: none planned).
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    /// Records an attempt made at `now`; returns its number (1 for the first) and the wait
    /// before the next one, `initial * 2^attempt` up to the maximum.
    pub(super) fn attempt(&mut self, now: Instant) -> (u32, Duration) {
        self.attempts = self.attempts.saturating_add(1);
        let wait = self.backoff.delay(self.attempts);
        self.next_at = Some(now + wait);
        (self.attempts, wait)
    }

    /// A bootstrap peer answered: no more attempts.
    pub(super) fn joined(&mut self) {
        self.joined = true;
        self.next_at = None;
    }

    /// The node lost its last connection at `now`: bootstrap again from the first attempt,
    /// after the initial wait.
    pub(super) fn lost_every_peer(&mut self, now: Instant) {
        self.joined = false;
        self.attempts = 0;
        self.next_at = Some(now + self.backoff.initial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(4))
    }

    #[test]
    fn without_bootstrap_peers_the_node_has_joined_and_never_attempts() {
        let now = Instant::now();
        let schedule = BootstrapSchedule::new(false, backoff(), now);
        assert!(schedule.is_joined());
        assert!(!schedule.is_due(now + Duration::from_secs(3600)));
    }

    #[test]
    fn the_first_attempt_is_due_at_once_and_the_waits_double_up_to_the_max() {
        let start = Instant::now();
        let mut schedule = BootstrapSchedule::new(true, backoff(), start);
        assert!(!schedule.is_joined());
        assert!(schedule.is_due(start));
        let mut now = start;
        let mut waits = Vec::new();
        for expected in 1..=5 {
            let (attempt, wait) = schedule.attempt(now);
            assert_eq!(attempt, expected);
            assert!(!schedule.is_due(now + wait - Duration::from_millis(1)));
            assert!(schedule.is_due(now + wait));
            waits.push(wait.as_millis());
            now += wait;
        }
        assert_eq!(waits, [1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn joining_stops_the_attempts() {
        let now = Instant::now();
        let mut schedule = BootstrapSchedule::new(true, backoff(), now);
        schedule.attempt(now);
        schedule.joined();
        assert!(schedule.is_joined());
        assert!(!schedule.is_due(now + Duration::from_secs(3600)));
    }

    #[test]
    fn losing_every_peer_starts_over_after_the_initial_wait() {
        let now = Instant::now();
        let mut schedule = BootstrapSchedule::new(true, backoff(), now);
        for _ in 0..4 {
            schedule.attempt(now);
        }
        schedule.joined();
        let lost = now + Duration::from_secs(60);
        schedule.lost_every_peer(lost);
        assert!(!schedule.is_joined());
        assert!(!schedule.is_due(lost));
        assert!(schedule.is_due(lost + Duration::from_millis(500)));
        assert_eq!(schedule.attempt(lost).0, 1, "attempts count from one again");
    }
}
