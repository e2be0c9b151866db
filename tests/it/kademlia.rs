//! The libp2p gateway with real nodes on 127.0.0.1 (port 0): sharing and merging records,
//! nodes leaving and joining, forged and oversized input, a 2,000-entry record.

use std::sync::Arc;
use std::time::Duration;

use swarm_progress::{
    Clock, Identity, LocalProgress, Multiaddr, NodeConfig, NodeHandle, ProgressRecord,
    RecordLimits, RejectionReason, SignedEntry, SystemClock,
};

use crate::support::{eventually, PATIENCE};

const KEY: &str = "kad_progress";

/// Node settings for tests: loopback TCP, quick bootstrap retries.
pub fn node_config(bootstrap: Vec<Multiaddr>) -> NodeConfig {
    NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        request_timeout: Duration::from_secs(5),
        bootstrap_backoff_initial: Duration::from_millis(100),
        bootstrap_backoff_max: Duration::from_secs(1),
        ..NodeConfig::default()
    }
}

/// A node and its identity.
pub struct TestNode {
    pub identity: Arc<Identity>,
    pub node: NodeHandle,
}

/// Starts a node; waits until it listens and returns it with its first listen address.
pub async fn start_node(config: NodeConfig) -> (TestNode, Multiaddr) {
    let identity = Arc::new(Identity::generate().unwrap());
    let node = NodeHandle::start(&identity, config, SystemClock::shared()).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let info = node.info().await.unwrap();
        if let Some(addr) = info.listen_addrs.first() {
            return (TestNode { identity, node }, addr.clone());
        }
        assert!(std::time::Instant::now() < deadline, "node never listened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn now() -> f64 {
    SystemClock.now()
}

fn progress(id: &Identity, samples: u64) -> LocalProgress {
    LocalProgress {
        peer_id: id.peer_id(),
        epoch: 1,
        samples_accumulated: samples,
        samples_per_second: 2.0,
        time: now(),
        client_mode: false,
    }
}

fn entry(id: &Identity, samples: u64, ahead: f64) -> SignedEntry {
    SignedEntry::sign(id, KEY, Some(&progress(id, samples)), now() + ahead).unwrap()
}

/// Reads `key` from `node` until it holds `n` entries (or the patience runs out).
async fn read_until(node: &NodeHandle, n: usize) -> Option<ProgressRecord> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let record = node.get(KEY.into(), true).await.ok().flatten();
        if record.as_ref().is_some_and(|r| r.len() == n) || std::time::Instant::now() >= deadline {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn the_libp2p_peer_id_is_the_signing_key() {
    let (node, _) = start_node(node_config(vec![])).await;
    assert_eq!(node.node.peer_id().to_string(), node.identity.peer_id());
    node.node.stop();
}

#[actix_rt::test]
async fn eight_nodes_share_merge_survive_a_leave_and_teach_a_late_joiner() {
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let mut nodes = Vec::new();
    for _ in 0..8 {
        nodes.push(start_node(node_config(vec![seed_addr.clone()])).await.0);
    }
    for (i, n) in nodes.iter().enumerate() {
        let stored = n
            .node
            .store(
                KEY.into(),
                n.identity.public_key(),
                entry(&n.identity, i as u64, 60.0),
            )
            .await;
        assert_eq!(stored, Ok(true), "node {i}");
    }
    // Every node sees all eight entries, merged.
    for (i, n) in nodes.iter().enumerate() {
        let seen = read_until(&n.node, 8).await.map_or(0, |r| r.len());
        assert_eq!(seen, 8, "node {i} sees {seen} entries");
    }
    // A node leaves: gets from the others still work and still see its (unexpired) entry.
    let gone = nodes.pop().unwrap();
    gone.node.stop();
    assert!(eventually(PATIENCE, || !gone.node.is_running()).await);
    for n in &nodes {
        let record = n.node.get(KEY.into(), true).await.unwrap().unwrap();
        assert_eq!(record.len(), 8);
    }
    // A late node bootstraps and sees the current record.
    let (late, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    assert_eq!(read_until(&late.node, 8).await.map_or(0, |r| r.len()), 8);
    for n in nodes.iter().chain([&late, &seed]) {
        n.node.stop();
    }
}
