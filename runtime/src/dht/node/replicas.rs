//! [`Replicas`]: the peers a key's stores go to without a lookup. Kademlia's put runs a
//! closest-peers lookup before every put; for one hot key that doubled the requests of every
//! store, so the event loop keeps the closest peers of each key it stores under and refreshes
//! them every `replica_refresh`, or sooner (at most once a second) when the routing table gains
//! a peer. Pure: time is passed in.

use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Shortest time between two lookups of the same key.
const MIN_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// The cached replicas of one key.
#[derive(Debug, Default)]
pub(super) struct Replicas {
    /// The closest peers to the key, from the last lookup.
    peers: Vec<PeerId>,
    /// When that lookup finished.
    found_at: Option<Instant>,
    /// When the last lookup started (rate limit) and whether it is still running.
    lookup_started: Option<Instant>,
    lookup_running: bool,
    /// The routing table gained a peer since the lookup: it may be closer.
    stale: bool,
}

impl Replicas {
    /// The cached replicas, if they can be used now.
    pub(super) fn usable(&self, now: Instant, refresh: Duration) -> Option<&[PeerId]> {
        let found = self.found_at?;
        (!self.peers.is_empty() && now.duration_since(found) < refresh).then_some(&self.peers)
    }

    /// Whether a new lookup should start now: the cache is unusable or stale, no lookup is
    /// running, and none started in the last second.
    pub(super) fn wants_lookup(&self, now: Instant, refresh: Duration) -> bool {
        let due = self.usable(now, refresh).is_none() || self.stale;
        let recent = self
            .lookup_started
            .is_some_and(|t| now.duration_since(t) < MIN_LOOKUP_INTERVAL);
        due && !self.lookup_running && !recent
    }

    /// A lookup started at `now`.
    pub(super) fn lookup_started(&mut self, now: Instant) {
        self.lookup_started = Some(now);
        self.lookup_running = true;
    }

    /// The lookup finished at `now` with `closest` (closest first); the first `replication`
    /// become the replicas. An empty answer keeps the previous replicas.
    pub(super) fn lookup_finished(
        &mut self,
        closest: impl IntoIterator<Item = PeerId>,
        replication: usize,
        now: Instant,
    ) {
        self.lookup_running = false;
        let peers: Vec<PeerId> = closest.into_iter().take(replication).collect();
        if !peers.is_empty() {
            self.peers = peers;
            self.found_at = Some(now);
            self.stale = false;
        }
    }

    /// The routing table gained a peer, which may be closer to the key than the replicas.
    pub(super) fn mark_stale(&mut self) {
        self.stale = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: Duration = Duration::from_secs(30);

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn an_empty_cache_is_unusable_and_wants_a_lookup() {
        let cache = Replicas::default();
        let now = Instant::now();
        assert!(cache.usable(now, REFRESH).is_none());
        assert!(cache.wants_lookup(now, REFRESH));
    }

    #[test]
    fn a_finished_lookup_keeps_the_closest_replication_peers_until_the_refresh() {
        let mut cache = Replicas::default();
        let now = Instant::now();
        let found = peers(8);
        cache.lookup_started(now);
        assert!(!cache.wants_lookup(now, REFRESH), "one lookup at a time");
        cache.lookup_finished(found.clone(), 5, now);
        assert_eq!(cache.usable(now, REFRESH), Some(&found[..5]));
        assert!(!cache.wants_lookup(now + Duration::from_secs(2), REFRESH));
        let later = now + REFRESH;
        assert!(cache.usable(later, REFRESH).is_none());
        assert!(cache.wants_lookup(later, REFRESH));
    }

    #[test]
    fn a_new_peer_in_the_routing_table_asks_for_a_lookup_at_most_once_a_second() {
        let mut cache = Replicas::default();
        let now = Instant::now();
        cache.lookup_started(now);
        cache.lookup_finished(peers(5), 5, now);
        cache.mark_stale();
        assert!(cache.usable(now, REFRESH).is_some(), "still used meanwhile");
        assert!(!cache.wants_lookup(now + Duration::from_millis(500), REFRESH));
        assert!(cache.wants_lookup(now + Duration::from_secs(1), REFRESH));
        let again = now + Duration::from_secs(1);
        cache.lookup_started(again);
        cache.lookup_finished(peers(5), 5, again);
        assert!(!cache.wants_lookup(again + Duration::from_secs(2), REFRESH));
    }

    #[test]
    fn an_empty_answer_keeps_the_previous_replicas() {
        let mut cache = Replicas::default();
        let now = Instant::now();
        let found = peers(3);
        cache.lookup_finished(found.clone(), 5, now);
        cache.lookup_started(now);
        cache.lookup_finished(Vec::new(), 5, now);
        assert_eq!(cache.usable(now, REFRESH), Some(&found[..]));
    }
}
