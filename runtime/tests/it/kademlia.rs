//! The libp2p gateway with real nodes on 127.0.0.1 (port 0): sharing and merging records,
//! nodes leaving and joining, forged and oversized input, a 2,000-entry record.

use std::sync::Arc;
use std::time::Duration;

use swarm_progress::{
    Clock, DhtError, GatewayFactory, Identity, KademliaPeer, LocalProgress, Multiaddr, NodeConfig,
    NodeHandle, ProgressRecord, RecordLimits, RejectionReason, SignedEntry, SystemClock,
    ValueEncoding,
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

/// Raw bytes of a one-entry record whose entry is hand-built (for schema-breaking values).
fn raw_record_with_entry(subkey: &[u8; 32], json: &[u8], expiration: f64) -> Vec<u8> {
    let mut entry = vec![1u8];
    entry.extend_from_slice(subkey);
    entry.push(1);
    entry.extend_from_slice(&(json.len() as u32).to_be_bytes());
    entry.extend_from_slice(json);
    entry.extend_from_slice(&expiration.to_bits().to_be_bytes());
    entry.extend_from_slice(&[7u8; 64]);
    let mut record = b"SPRG\x01".to_vec();
    record.extend_from_slice(&1u32.to_be_bytes());
    record.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    record.extend_from_slice(&entry);
    record
}

fn one_entry(subkey: swarm_progress::PeerKey, entry: SignedEntry) -> Vec<u8> {
    let mut record = ProgressRecord::new();
    record.insert(subkey, entry, now());
    record.encode()
}

#[actix_rt::test]
async fn a_forging_node_changes_nothing_honest_nodes_return() {
    let limits = RecordLimits {
        max_entries: 64,
        ..RecordLimits::default()
    };
    let config = |bootstrap| NodeConfig {
        limits,
        ..node_config(bootstrap)
    };
    let (seed, seed_addr) = start_node(config(vec![])).await;
    let (a, a_addr) = start_node(config(vec![seed_addr.clone()])).await;
    let (b, b_addr) = start_node(config(vec![seed_addr.clone()])).await;
    let old_a = entry(&a.identity, 1, 30.0);
    a.node
        .store(KEY.into(), a.identity.public_key(), old_a.clone())
        .await
        .unwrap();
    let real_a = entry(&a.identity, 100, 60.0);
    a.node
        .store(KEY.into(), a.identity.public_key(), real_a.clone())
        .await
        .unwrap();
    let real_b = entry(&b.identity, 200, 60.0);
    b.node
        .store(KEY.into(), b.identity.public_key(), real_b.clone())
        .await
        .unwrap();
    for n in [&seed, &a, &b] {
        assert_eq!(read_until(&n.node, 2).await.map(|r| r.len()), Some(2));
    }
    let before: u64 = [&seed, &a, &b]
        .iter()
        .map(|n| n.node.rejections().total())
        .sum();

    let (forger, _) = start_node(config(vec![seed_addr, a_addr, b_addr])).await;
    let f = &forger.identity;
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(forger.node.info())
            .is_ok_and(|i| i.connected_peers >= 3))
        .await
    );
    let mut lie = progress(&a.identity, 1_000_000);
    lie.samples_per_second = 1e9;
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "signed by the forger under a's subkey",
            one_entry(
                a.identity.public_key(),
                SignedEntry::sign_as(f, KEY, Some(&lie), now() + 90.0, ValueEncoding::Json)
                    .unwrap(),
            ),
        ),
        ("replay of a's older entry", one_entry(a.identity.public_key(), old_a)),
        (
            "tombstone forged for b",
            one_entry(
                b.identity.public_key(),
                SignedEntry::sign(f, KEY, None, now() + 90.0).unwrap(),
            ),
        ),
        (
            "far-future expiration",
            one_entry(f.public_key(), entry(f, 5, 100_000.0)),
        ),
        (
            "schema-breaking value",
            raw_record_with_entry(
                f.public_key().as_bytes(),
                br#"{"peer_id":"x","epoch":1,"samples_accumulated":-5,"samples_per_second":1.0,"time":1.0,"client_mode":false}"#,
                now() + 60.0,
            ),
        ),
        ("oversized record", vec![0u8; limits.max_record_bytes() + 1]),
        (
            "forged signature (random bytes) on a value naming a",
            raw_record_with_entry(
                a.identity.public_key().as_bytes(),
                &serde_json::to_vec(&lie).unwrap(),
                now() + 60.0,
            ),
        ),
        (
            "the forger's own entry naming a's peer id",
            one_entry(
                f.public_key(),
                SignedEntry::sign_as(f, KEY, Some(&lie), now() + 60.0, ValueEncoding::Json)
                    .unwrap(),
            ),
        ),
        (
            "NaN speed",
            raw_record_with_entry(
                f.public_key().as_bytes(),
                br#"{"peer_id":"x","epoch":1,"samples_accumulated":5,"samples_per_second":NaN,"time":1.0,"client_mode":false}"#,
                now() + 60.0,
            ),
        ),
        (
            "unknown field",
            raw_record_with_entry(
                f.public_key().as_bytes(),
                br#"{"peer_id":"x","epoch":1,"samples_accumulated":5,"samples_per_second":1.0,"time":1.0,"client_mode":false,"admin":true}"#,
                now() + 60.0,
            ),
        ),
    ];
    for (_what, bytes) in attacks {
        // Delivery may fail for the oversized one (peers refuse it); either way it must not land.
        let _ = forger.node.put_raw(KEY.into(), bytes).await;
    }

    // Honest nodes return exactly the honest entries, unchanged.
    for n in [&seed, &a, &b] {
        let record = n.node.get(KEY.into(), true).await.unwrap().unwrap();
        assert_eq!(record.len(), 2, "{record:?}");
        assert_eq!(record.get(&a.identity.public_key()), Some(&real_a));
        assert_eq!(record.get(&b.identity.public_key()), Some(&real_b));
    }
    // And the rejections were counted, by reason.
    let mut counts = swarm_progress::RejectionCounts::default();
    for n in [&seed, &a, &b] {
        counts.add(&n.node.rejections());
    }
    for reason in [
        RejectionReason::BadSignature,
        RejectionReason::PeerIdMismatch,
        RejectionReason::Stale,
        RejectionReason::ExpirationTooFar,
        RejectionReason::Schema,
        RejectionReason::Oversized,
    ] {
        assert!(counts.get(reason) >= 1, "{reason} not counted: {counts:?}");
    }
    assert!(counts.total() > before);
    for n in [&seed, &a, &b, &forger] {
        n.node.stop();
    }
}

/// A record of `n` sybils: fresh identities, each validly signed with the furthest expiration
/// the stores allow, plus `junk` entries with forged signatures.
fn sybil_flood(n: usize, junk: usize, limits: &RecordLimits) -> Vec<u8> {
    let mut record = ProgressRecord::new();
    for _ in 0..n {
        let id = Identity::generate().unwrap();
        let mut lie = progress(&id, 1_000_000);
        lie.samples_per_second = 1e9;
        let ahead = limits.max_expiration_ahead - 5.0;
        let e = SignedEntry::sign(&id, KEY, Some(&lie), now() + ahead).unwrap();
        record.insert(id.public_key(), e, now());
    }
    let mut bytes = record.encode();
    let count = u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize + junk;
    for _ in 0..junk {
        let id = Identity::generate().unwrap();
        let json = serde_json::to_vec(&progress(&id, 1_000_000)).unwrap();
        let raw = raw_record_with_entry(id.public_key().as_bytes(), &json, now() + 300.0);
        bytes.extend_from_slice(&raw[9..]);
    }
    bytes[5..9].copy_from_slice(&(count as u32).to_be_bytes());
    bytes
}

#[actix_rt::test]
async fn a_sybil_flood_never_evicts_honest_entries_on_real_nodes() {
    let limits = RecordLimits {
        max_entries: 16,
        ..RecordLimits::default()
    };
    let config = |bootstrap| NodeConfig {
        limits,
        request_timeout: Duration::from_secs(15),
        ..node_config(bootstrap)
    };
    let (seed, seed_addr) = start_node(config(vec![])).await;
    let (a, a_addr) = start_node(config(vec![seed_addr.clone()])).await;
    let (b, b_addr) = start_node(config(vec![seed_addr.clone()])).await;
    let real_a = entry(&a.identity, 100, 60.0);
    let real_b = entry(&b.identity, 200, 60.0);
    a.node
        .store(KEY.into(), a.identity.public_key(), real_a.clone())
        .await
        .unwrap();
    b.node
        .store(KEY.into(), b.identity.public_key(), real_b.clone())
        .await
        .unwrap();
    for n in [&seed, &a, &b] {
        assert_eq!(read_until(&n.node, 2).await.map(|r| r.len()), Some(2));
    }
    let (forger, _) = start_node(config(vec![seed_addr, a_addr, b_addr])).await;
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(forger.node.info())
            .is_ok_and(|i| i.connected_peers >= 3))
        .await
    );
    // 6 puts of 40 sybils (expiration now + 595 s, ten times an honest entry's) and 10 forged
    // entries each: 240 valid newcomers against room for 14, and 60 invalid ones.
    let (puts, per_put, junk) = (6, 40, 10);
    for _ in 0..puts {
        let flood = sybil_flood(per_put, junk, &limits);
        assert!(
            flood.len() <= limits.max_record_bytes(),
            "{} bytes",
            flood.len()
        );
        let _ = forger.node.put_raw(KEY.into(), flood).await;
    }
    // Every honest node still returns both honest entries, unchanged, and at most 16 entries.
    for n in [&seed, &a, &b] {
        let record = n.node.get(KEY.into(), true).await.unwrap().unwrap();
        assert!(record.len() <= limits.max_entries, "{}", record.len());
        assert_eq!(record.get(&a.identity.public_key()), Some(&real_a));
        assert_eq!(record.get(&b.identity.public_key()), Some(&real_b));
    }
    // Rejections by reason: the flood was refused for room, the forgeries for their signatures.
    let mut counts = swarm_progress::RejectionCounts::default();
    for n in [&seed, &a, &b] {
        counts.add(&n.node.rejections());
    }
    eprintln!(
        "sybil flood: {puts} puts x ({per_put} sybils + {junk} forged), limit {}: rejections {:?}",
        limits.max_entries,
        counts
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect::<Vec<_>>()
    );
    assert!(
        counts.get(RejectionReason::TooManyEntries) >= 1,
        "{counts:?}"
    );
    assert!(counts.get(RejectionReason::BadSignature) >= 1, "{counts:?}");
    // Incumbents keep updating while the record is full.
    let newer_a = entry(&a.identity, 300, 90.0);
    a.node
        .store(KEY.into(), a.identity.public_key(), newer_a.clone())
        .await
        .unwrap();
    for n in [&seed, &b] {
        assert!(
            eventually(PATIENCE, || futures::executor::block_on(
                n.node.get(KEY.into(), true)
            )
            .ok()
            .flatten()
            .and_then(|r| r.get(&a.identity.public_key()).cloned())
                == Some(newer_a.clone()))
            .await,
            "a's update did not reach every node"
        );
    }
    for n in [&seed, &a, &b, &forger] {
        n.node.stop();
    }
}

#[actix_rt::test]
async fn a_record_of_two_thousand_entries_round_trips() {
    // Validating 2,000 signatures takes a while on a loaded machine: allow for it.
    let patient = |bootstrap| NodeConfig {
        request_timeout: Duration::from_secs(30),
        ..node_config(bootstrap)
    };
    let (a, a_addr) = start_node(patient(vec![])).await;
    let (b, _) = start_node(patient(vec![a_addr])).await;
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(b.node.info())
            .is_ok_and(|i| i.connected_peers >= 1))
        .await
    );
    let mut record = ProgressRecord::new();
    for i in 0..2000 {
        let id = Identity::generate().unwrap();
        record.insert(id.public_key(), entry(&id, i, 120.0), now());
    }
    let bytes = record.encode();
    // Larger than a yamux stream's 256 KiB receive window, so the record crosses several.
    assert!(bytes.len() > 256 * 1024, "{} bytes", bytes.len());
    // b sends the whole record to a (b keeps no copy), then reads it back from a.
    b.node.put_raw(KEY.into(), bytes).await.unwrap();
    let back = read_until(&b.node, 2000).await.unwrap();
    assert_eq!(back.len(), 2000);
    assert_eq!(back, record);
    assert_eq!(a.node.rejections().total(), 0);
    a.node.stop();
    b.node.stop();
}

#[actix_rt::test]
async fn the_swarm_scenario_runs_over_real_nodes() {
    scenario_over_real_nodes(swarm_progress::Protocol::V1).await;
}

/// The swarm scenario with trackers of `protocol`, each on its own real node joined through a
/// seed node, whose record is what the scenario reads as the DHT's.
pub async fn scenario_over_real_nodes(protocol: swarm_progress::Protocol) {
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let seed_node = seed.node.clone();
    crate::swarm::scenario(
        protocol,
        move || {
            let identity = Arc::new(Identity::generate().unwrap());
            Box::new(KademliaPeer::new(
                identity,
                node_config(vec![seed_addr.clone()]),
                SystemClock::shared(),
            )) as Box<dyn GatewayFactory>
        },
        move |key| {
            futures::executor::block_on(seed_node.get(key.into(), true))
                .ok()
                .flatten()
        },
    )
    .await;
    seed.node.stop();
}

#[actix_rt::test]
async fn nodes_on_the_in_memory_transport_share_records() {
    let memory = |bootstrap| NodeConfig {
        listen: vec!["/memory/0".parse().unwrap()],
        ..node_config(bootstrap)
    };
    let (a, a_addr) = start_node(memory(vec![])).await;
    assert!(a_addr.to_string().starts_with("/memory/"), "{a_addr}");
    let (b, _) = start_node(memory(vec![a_addr])).await;
    b.node
        .store(
            KEY.into(),
            b.identity.public_key(),
            entry(&b.identity, 3, 60.0),
        )
        .await
        .unwrap();
    assert_eq!(read_until(&a.node, 1).await.map(|r| r.len()), Some(1));
    a.node.stop();
    b.node.stop();
}

/// A seed whose address is fixed before it runs (a free port and a known identity), so other
/// nodes can be told to bootstrap through it while it is still down.
struct LateSeed {
    port: u16,
    identity: Arc<Identity>,
}

impl LateSeed {
    /// Picks the port and identity; returns the seed (not running) and its address.
    fn reserve() -> (Self, Multiaddr) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let identity = Arc::new(Identity::generate().unwrap());
        let addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", identity.peer_id())
            .parse()
            .unwrap();
        (Self { port, identity }, addr)
    }

    /// Starts the seed on its reserved address.
    fn start(&self) -> NodeHandle {
        let config = NodeConfig {
            listen: vec![format!("/ip4/127.0.0.1/tcp/{}", self.port).parse().unwrap()],
            ..node_config(vec![])
        };
        NodeHandle::start(&self.identity, config, SystemClock::shared()).unwrap()
    }
}

#[actix_rt::test]
async fn bootstrap_retries_until_the_seed_comes_up() {
    let (late_seed, seed_addr) = LateSeed::reserve();
    let (a, _) = start_node(node_config(vec![seed_addr])).await;
    // Before the node has reached any peer, a store waits for it (bounded by the node's
    // request timeout, 5 s here) instead of landing only in the local replica.
    let first = entry(&a.identity, 1, 60.0);
    let first_store = {
        let (node, subkey, first) = (a.node.clone(), a.identity.public_key(), first.clone());
        actix_rt::spawn(async move { node.store(KEY.into(), subkey, first).await })
    };
    assert!(
        eventually(PATIENCE, || a
            .node
            .stats()
            .bootstrap_attempts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3)
        .await,
        "no retries"
    );
    let seed = late_seed.start();
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(a.node.info())
            .is_ok_and(|i| i.connected_peers >= 1))
        .await,
        "never joined the seed"
    );
    assert_eq!(first_store.await.unwrap(), Ok(true));
    let on_seed = read_until(&seed, 1).await.unwrap();
    assert_eq!(on_seed.get(&a.identity.public_key()), Some(&first));
    let second = entry(&a.identity, 2, 70.0);
    a.node
        .store(KEY.into(), a.identity.public_key(), second.clone())
        .await
        .unwrap();
    let on_seed = read_until(&seed, 1).await.unwrap();
    assert_eq!(on_seed.get(&a.identity.public_key()), Some(&second));
    a.node.stop();
    seed.stop();
}

/// `NodeHandle::start` needs no actix System: from a thread without one (here a bare tokio
/// runtime, as a trainer that does not use actix has) two nodes start, join and share an entry.
/// `NodeThreads`, which does need a System, says so instead of panicking.
#[test]
fn nodes_start_and_share_entries_without_an_actix_system() {
    assert!(actix::System::try_current().is_none());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (seed, seed_addr) = start_node(node_config(vec![])).await;
        let (peer, _) = start_node(node_config(vec![seed_addr])).await;
        let sent = entry(&peer.identity, 7, 30.0);
        let stored = peer
            .node
            .store(KEY.into(), peer.identity.public_key(), sent.clone())
            .await;
        assert_eq!(stored, Ok(true));
        let record = read_until(&seed.node, 1)
            .await
            .expect("the seed reads the entry");
        assert_eq!(record.get(&peer.identity.public_key()), Some(&sent));
    });
    let refused = swarm_progress::NodeThreads::new(2).unwrap_err();
    assert!(refused.to_string().contains("actix System"), "{refused}");
}

/// A read that comes before the node has reached any bootstrap peer waits for the first
/// connection (bounded by the caller's own timeout) and then reads the swarm, instead of
/// answering at once from an empty store: a tracker starting beside its node sees the swarm
/// with its first read, not one refresh period later.
#[actix_rt::test]
async fn a_read_before_the_first_connection_waits_for_it_and_sees_the_swarm() {
    // The seed's address is fixed before it runs: a free port and a known identity.
    let (late_seed, seed_addr) = LateSeed::reserve();
    // The newcomer dials the seed at once (refused: it is not up), then again after 2 s.
    let newcomer_config = NodeConfig {
        bootstrap_backoff_initial: Duration::from_secs(2),
        bootstrap_backoff_max: Duration::from_secs(2),
        ..node_config(vec![seed_addr.clone()])
    };
    let (newcomer, _) = start_node(newcomer_config).await;
    assert!(
        eventually(PATIENCE, || newcomer
            .node
            .stats()
            .bootstrap_attempts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1)
        .await
    );
    let read = {
        let node = newcomer.node.clone();
        actix_rt::spawn(async move { node.get(KEY.into(), true).await })
    };

    // Now the swarm: the seed holds an entry before the newcomer's next attempt.
    let seed = late_seed.start();
    let writer = Identity::generate().unwrap();
    let _ = seed
        .store(KEY.into(), writer.public_key(), entry(&writer, 7, 60.0))
        .await;

    let record = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the parked read never finished")
        .unwrap()
        .unwrap();
    let record = record.expect("the first read came back empty: it did not wait for the swarm");
    assert_eq!(record.len(), 1);
    assert!(record.get(&writer.public_key()).is_some());
    newcomer.node.stop();
    seed.stop();
}

/// A tracker joining a running swarm knows the swarm's epoch as soon as `start` returns
/// (hivemind's initial fetch): `start` waits for its first read, bounded by the request
/// timeout, so a trainer never sees itself alone at epoch 0 for a refresh period.
#[actix_rt::test]
async fn a_tracker_joining_a_running_swarm_knows_its_epoch_when_start_returns() {
    use swarm_progress::ProgressTracker;
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let config = || crate::support::fast_config("joining", 1000);
    let peer = || {
        KademliaPeer::new(
            Arc::new(Identity::generate().unwrap()),
            node_config(vec![seed_addr.clone()]),
            SystemClock::shared(),
        )
    };
    let running = ProgressTracker::start(config(), peer()).await.unwrap();
    {
        let guard = running.pause_updates().await.unwrap();
        assert_eq!(guard.update_epoch(Some(7)).await.unwrap(), 7);
    }
    running.report_local_progress(7, 100).unwrap();
    // The swarm's record says epoch 7.
    assert!(
        eventually(PATIENCE, || {
            futures::executor::block_on(seed.node.get("joining_progress".into(), true))
                .ok()
                .flatten()
                .is_some_and(|r| r.values().flatten().any(|p| p.epoch == 7))
        })
        .await
    );
    let started = std::time::Instant::now();
    let newcomer = ProgressTracker::start(config(), peer()).await.unwrap();
    let waited = started.elapsed();
    let global = newcomer.global_progress();
    assert_eq!(global.epoch, 7, "{global:?}");
    assert!(global.num_peers >= 1, "{global:?}");
    assert!(newcomer.fetched_this_epoch());
    println!("FIGURES joining: start returned with the swarm's epoch after {waited:?}");
    let _ = newcomer.shutdown(Duration::from_secs(5)).await;
    let _ = running.shutdown(Duration::from_secs(5)).await;
    seed.node.stop();
}

/// `client_mode` unset follows the node, as in hivemind: a node that listens on no address
/// cannot be dialed, so its tracker is a client (counted, never driving the epoch); a node
/// that listens is a trainer; an explicit setting wins either way.
#[actix_rt::test]
async fn client_mode_follows_the_node_unless_set() {
    use swarm_progress::ProgressTracker;
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let start = |listen: bool, client_mode: Option<bool>| {
        let mut node = node_config(vec![seed_addr.clone()]);
        if !listen {
            node.listen.clear();
        }
        let peer = KademliaPeer::new(
            Arc::new(Identity::generate().unwrap()),
            node,
            SystemClock::shared(),
        );
        let config = swarm_progress::TrackerConfig {
            client_mode,
            ..crate::support::fast_config("following", 1000)
        };
        ProgressTracker::start(config, peer)
    };
    let trainer = start(true, None).await.unwrap();
    let undialable = start(false, None).await.unwrap();
    let forced_trainer = start(false, Some(false)).await.unwrap();
    let forced_client = start(true, Some(true)).await.unwrap();
    assert!(!trainer.local_progress().client_mode);
    assert!(undialable.local_progress().client_mode);
    assert!(!forced_trainer.local_progress().client_mode);
    assert!(forced_client.local_progress().client_mode);
    // The undialable node still takes part: everyone counts 4 peers, 2 of them clients.
    let all = [&trainer, &undialable, &forced_trainer, &forced_client];
    assert!(
        eventually(PATIENCE, || all.iter().all(|t| {
            let g = t.global_progress();
            g.num_peers == 4 && g.num_clients == 2
        }))
        .await,
        "{:?}",
        all.iter().map(|t| t.global_progress()).collect::<Vec<_>>()
    );
    for t in all {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
    seed.node.stop();
}

/// A store issued before the node has reached any peer waits for the first connection, as a
/// read does, instead of answering `Ok` having reached no one: a tracker's first entry (stored
/// at start, then only every 30 s while idle) used to stay invisible to readers until its
/// republication. Here from a node that cannot be dialed, whose replicas only learn of the
/// entry through its own put.
#[actix_rt::test]
async fn a_store_before_the_first_connection_waits_for_it_and_reaches_the_replicas() {
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let mut nodes = vec![seed];
    for _ in 0..3 {
        nodes.push(start_node(node_config(vec![seed_addr.clone()])).await.0);
    }
    let mut config = node_config(vec![seed_addr.clone()]);
    config.listen.clear();
    let identity = Arc::new(Identity::generate().unwrap());
    let newcomer = NodeHandle::start(&identity, config, SystemClock::shared()).unwrap();
    // At once: the node is still dialing the seed.
    let stored = newcomer
        .store(KEY.into(), identity.public_key(), entry(&identity, 5, 60.0))
        .await;
    assert_eq!(stored, Ok(true));
    for (i, node) in nodes.iter().enumerate() {
        let mut seen = false;
        assert!(
            eventually(PATIENCE, || {
                seen = seen
                    || futures::executor::block_on(node.node.get(KEY.into(), true))
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.get(&identity.public_key()).is_some());
                seen
            })
            .await,
            "node {i} never read the newcomer's first entry"
        );
    }
    newcomer.stop();
    for node in nodes {
        node.node.stop();
    }
}

/// A node that never reaches its bootstrap peer answers parked reads and stores with a
/// timeout after its `request_timeout`: no call hangs, and a store that reached no one is not
/// reported as a success.
#[actix_rt::test]
async fn a_node_that_never_joins_times_out_its_parked_requests() {
    let (_never, seed_addr) = LateSeed::reserve();
    let config = NodeConfig {
        request_timeout: Duration::from_secs(1),
        ..node_config(vec![seed_addr])
    };
    let (a, _) = start_node(config).await;
    let stored = a
        .node
        .store(
            KEY.into(),
            a.identity.public_key(),
            entry(&a.identity, 1, 60.0),
        )
        .await;
    assert!(matches!(stored, Err(DhtError::Timeout(_))), "{stored:?}");
    let read = a.node.get(KEY.into(), true).await;
    assert!(matches!(read, Err(DhtError::Timeout(_))), "{read:?}");
    a.node.stop();
}
