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
}

/// Adds `by` to `counter`.
pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
