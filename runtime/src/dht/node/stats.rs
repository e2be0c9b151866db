//! [`NodeStats`]: the counters one node keeps (requests, latencies, bytes, bootstrap attempts),
//! readable through its handle without a round trip.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Stores that succeeded.
    pub stores_ok: AtomicU64,
    /// Stores that failed (rejected, quorum failed, timed out).
    pub stores_failed: AtomicU64,
    /// Gets that succeeded.
    pub gets_ok: AtomicU64,
    /// Gets that failed.
    pub gets_failed: AtomicU64,
    /// Sum of store latencies, microseconds.
    pub store_micros: AtomicU64,
    /// Sum of get latencies, microseconds.
    pub get_micros: AtomicU64,
    /// Inbound puts received from other peers.
    pub inbound_puts: AtomicU64,
    /// Inbound Kademlia requests of every kind (FIND_NODE, GET_VALUE, PUT_VALUE, ...).
    pub inbound_requests: AtomicU64,
    /// Bootstrap attempts.
    pub bootstrap_attempts: AtomicU64,
    /// Bytes received on all connections (Noise and Yamux framing included).
    pub bytes_in: AtomicU64,
    /// Bytes sent on all connections (Noise and Yamux framing included).
    pub bytes_out: AtomicU64,
    /// Times the node lost every connection and started bootstrapping again.
    pub rebootstraps: AtomicU64,
    /// v2: entries this node published on gossip.
    pub gossip_published: AtomicU64,
    /// v2: publishes that reached no peer (none subscribed yet) or failed.
    pub gossip_publish_failed: AtomicU64,
    /// v2: gossip messages that arrived, duplicates included.
    pub gossip_arrived: AtomicU64,
    /// v2: payload bytes of the gossip messages that arrived, duplicates included (gossipsub's
    /// framing and control messages not counted).
    pub gossip_arrived_bytes: AtomicU64,
    /// v2: gossip messages validated (the first copy of each; the rest are duplicates).
    pub gossip_received: AtomicU64,
    /// v2: gossip messages accepted and delivered to the tracker.
    pub gossip_accepted: AtomicU64,
    /// v2: gossip messages dropped without penalty (stale, expired, no room).
    pub gossip_ignored: AtomicU64,
    /// v2: gossip messages rejected, their sender penalised (forged, malformed, rate-limited).
    pub gossip_rejected: AtomicU64,
    /// v2: peers in this node's gossip mesh (all topics), as of the last tick.
    pub gossip_mesh_peers: AtomicU64,
    /// Connections that failed their handshake (protocol negotiation, Noise or the private
    /// network's key): with a network key set, mostly peers without it.
    pub handshake_failures: AtomicU64,
    /// Peers with an open connection, as of the last tick.
    pub connected_peers: AtomicU64,
    /// Peers in the Kademlia routing table, as of the last tick.
    pub routing_table_peers: AtomicU64,
}

impl NodeStats {
    /// v2: messages gossipsub dropped as duplicates (arrived minus validated).
    pub fn gossip_duplicates(&self) -> u64 {
        let arrived = self.gossip_arrived.load(Ordering::Relaxed);
        arrived.saturating_sub(self.gossip_received.load(Ordering::Relaxed))
    }
}

/// Adds `by` to `counter`.
pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
