//! Protocol v2 (push over gossip): the swarm scenario over real libp2p nodes; a swarm of v1 and
//! v2 trackers advancing together through the DHT; v2's request rate against v1's; hostile
//! gossip (forged, malformed, oversized, replayed, flooding) on real nodes and on the mock;
//! connections outside the gossip mesh closing after the idle timeout.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swarm_progress::records::GossipVerdict;
use swarm_progress::simulation::SimulatedTrainer as Trainer;
use swarm_progress::{
    DhtError, Identity, KademliaPeer, LocalProgress, MemoryNetwork, NodeConfig, ProgressTracker,
    Protocol, PublishReason, RejectionReason, SignedEntry, SystemClock, TrackerConfig,
};

use crate::kademlia::{node_config, start_node};
use crate::support::{eventually, fast_config, PATIENCE};

fn config(prefix: &str, target: u64, protocol: Protocol) -> TrackerConfig {
    TrackerConfig {
        protocol,
        ..fast_config(prefix, target)
    }
}

#[actix_rt::test]
async fn the_swarm_scenario_runs_over_real_nodes_with_protocol_v2() {
    crate::kademlia::scenario_over_real_nodes(Protocol::V2).await;
}

/// Two v1 and two v2 trackers on real nodes: every trainer goes through every epoch and the
/// swarm's epochs advance together (no tracker is left behind or runs ahead alone).
#[actix_rt::test]
async fn v1_and_v2_trackers_advance_epochs_together_through_the_dht() {
    const TARGET: u64 = 800;
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let mut trackers = Vec::new();
    for protocol in [Protocol::V1, Protocol::V2, Protocol::V1, Protocol::V2] {
        let peer = KademliaPeer::new(
            Arc::new(Identity::generate().unwrap()),
            node_config(vec![seed_addr.clone()]),
            SystemClock::shared(),
        );
        // v2 learns of v1 peers only by reading: in a mixed swarm it reads as often as they do.
        let c = TrackerConfig {
            anti_entropy_period: 0.5,
            ..config("mixed", TARGET, protocol)
        };
        let tracker = ProgressTracker::start(c, peer).await.unwrap();
        trackers.push(Rc::new(tracker));
    }
    let final_epoch = 4;
    let limit = Duration::from_secs(90);
    let mut runs = Vec::new();
    for tracker in &trackers {
        let tracker = tracker.clone();
        // 8 samples every 40 ms each: 4 x 200 = 800 samples/s, about 1 s per epoch.
        let trainer = Trainer {
            batch: 8,
            period: Duration::from_millis(40),
            start_epoch: 0,
            start_delay: Duration::ZERO,
        };
        runs.push(actix_rt::spawn(async move {
            trainer.run(&tracker, final_epoch, limit).await
        }));
    }
    let mut logs = Vec::new();
    for run in runs {
        logs.push(run.await.unwrap());
    }
    for (log, tracker) in logs.iter().zip(&trackers) {
        let epochs: Vec<u64> = log.transitions.iter().map(|t| t.to).collect();
        assert_eq!(epochs, vec![1, 2, 3, 4], "{:?}", tracker.global_progress());
    }
    // Each epoch ended within a short window across the four trackers: they saw each other.
    for epoch in 1..=final_epoch {
        let times: Vec<_> = logs
            .iter()
            .map(|l| l.transitions.iter().find(|t| t.to == epoch).unwrap().at)
            .collect();
        let first = *times.iter().min().unwrap();
        let last = *times.iter().max().unwrap();
        assert!(
            last - first < Duration::from_millis(900),
            "epoch {epoch} spread over {:?}",
            last - first
        );
    }
    // Each v2 tracker counted the v1 peers (3 others + itself), and pushed on events.
    for tracker in [&trackers[1], &trackers[3]] {
        assert!(tracker.global_progress().num_peers >= 3);
        assert!(tracker.stats().publishes_for(PublishReason::EpochChanged) >= 3);
    }
    for tracker in trackers {
        Rc::try_unwrap(tracker)
            .ok()
            .unwrap()
            .shutdown(Duration::from_secs(5))
            .await
            .ok();
    }
    seed.node.stop();
}

/// The same trainers over the mock, once with v1 and once with v2: v2 stores and reads the DHT
/// a fraction as often, and its trackers receive each other's entries by push.
#[actix_rt::test]
async fn v2_reaches_the_same_epochs_with_a_fraction_of_the_dht_requests() {
    async fn run(protocol: Protocol) -> (swarm_progress::dht::memory::MemoryStats, u64) {
        let net = MemoryNetwork::new(SystemClock::shared());
        let mut trackers = Vec::new();
        for _ in 0..3 {
            let mut c = config("rate", 600, protocol);
            // hivemind's default refresh periods, so v1 reads on its own schedule.
            c.min_refresh_period = 0.5;
            c.default_refresh_period = 3.0;
            c.max_refresh_period = 10.0;
            let tracker = ProgressTracker::start(c, net.peer().unwrap())
                .await
                .unwrap();
            trackers.push(Rc::new(tracker));
        }
        let mut runs = Vec::new();
        for tracker in &trackers {
            let tracker = tracker.clone();
            let trainer = Trainer {
                batch: 4,
                period: Duration::from_millis(20),
                start_epoch: 0,
                start_delay: Duration::ZERO,
            };
            runs.push(actix_rt::spawn(async move {
                trainer.run(&tracker, 3, Duration::from_secs(60)).await
            }));
        }
        for run in runs {
            let log = run.await.unwrap();
            assert_eq!(log.transitions.last().map(|t| t.to), Some(3), "{protocol}");
        }
        let received: u64 = trackers
            .iter()
            .map(|t| {
                t.stats()
                    .pushes_received
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        (net.stats(), received)
    }
    let (v1, v1_received) = run(Protocol::V1).await;
    let (v2, v2_received) = run(Protocol::V2).await;
    assert_eq!(v1.pushes, 0);
    assert_eq!(v1_received, 0);
    assert!(v2_received > 0, "{v2:?}");
    // v1 stores every report (about 150 a tracker); v2 on events.
    assert!(
        v2.stores * 5 < v1.stores,
        "stores: v1 {} vs v2 {}",
        v1.stores,
        v2.stores
    );
    assert!(
        v2.stores + v2.gets < (v1.stores + v1.gets) / 4,
        "v1 {v1:?} vs v2 {v2:?}"
    );
}

fn entry(id: &Identity, key: &str, samples: u64, expiration: f64) -> SignedEntry {
    let progress = LocalProgress {
        peer_id: id.peer_id(),
        epoch: 0,
        samples_accumulated: samples,
        samples_per_second: 1.0,
        time: expiration - 60.0,
        client_mode: false,
    };
    SignedEntry::sign(id, key, Some(&progress), expiration).unwrap()
}

fn now() -> f64 {
    use swarm_progress::Clock;
    SystemClock.now()
}

/// Hostile gossip on real nodes: a node that publishes raw bytes (forged, malformed,
/// oversized, replayed, and a flood) changes nothing an honest tracker believes, and each bad
/// message is counted under its reason by the honest node.
#[actix_rt::test]
async fn hostile_gossip_is_rejected_by_reason_on_real_nodes() {
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let honest_peer = KademliaPeer::new(
        Arc::new(Identity::generate().unwrap()),
        node_config(vec![seed_addr.clone()]),
        SystemClock::shared(),
    );
    let honest = ProgressTracker::start(config("hostile", 1000, Protocol::V2), honest_peer.clone())
        .await
        .unwrap();
    let key = "hostile_progress".to_string();
    let (liar, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    // The liar follows the topic too, so the mesh forms with it.
    liar.node
        .subscribe(key.clone(), Box::new(|_, _| {}))
        .await
        .unwrap();
    let honest_node = honest_peer.node().unwrap();
    join_the_mesh(&liar, &honest, &key).await;
    let id = liar.identity.clone();
    let believed = honest.global_progress();

    let rejected = |reason| honest_node.rejections().get(reason);
    let before: Vec<u64> = RejectionReason::ALL.iter().map(|r| rejected(*r)).collect();
    // A forgery: the liar signs an entry under another identity's subkey.
    let victim = Identity::generate().unwrap();
    let forged = entry(&id, &key, 1_000_000, now() + 60.0).encode(&victim.public_key());
    liar.node.push_raw(key.clone(), forged).await.unwrap();
    liar.node
        .push_raw(key.clone(), b"not an entry".to_vec())
        .await
        .unwrap();
    liar.node
        .push_raw(key.clone(), vec![7u8; 4000])
        .await
        .unwrap();
    let delta = |reason: RejectionReason| {
        let i = RejectionReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap();
        rejected(reason) - before[i]
    };
    assert!(
        eventually(PATIENCE, || delta(RejectionReason::BadSignature) >= 1
            && delta(RejectionReason::Malformed) >= 1
            && delta(RejectionReason::Oversized) >= 1)
        .await,
        "{:?}",
        honest_node.rejections()
    );
    // Nothing the honest tracker believes came from them.
    let after = honest.global_progress();
    assert_eq!(after.num_peers, believed.num_peers);
    assert!(after.samples_accumulated < 1_000_000);
    let stats = honest_node.stats();
    assert!(
        stats
            .gossip_rejected
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3
    );

    honest.shutdown(Duration::from_secs(5)).await.ok();
    liar.node.stop();
    seed.node.stop();
}

/// Pushes valid entries of `liar`'s own identity, spaced by more than the minimum interval,
/// until `honest` counts it (the mesh forms within a few gossip heartbeats).
async fn join_the_mesh(liar: &crate::kademlia::TestNode, honest: &ProgressTracker, key: &str) {
    let id = liar.identity.clone();
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut samples = 0;
    while honest.global_progress().num_peers < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the honest tracker never heard the liar's valid push"
        );
        samples += 1;
        let e = entry(&id, key, samples, now() + 60.0);
        // Until the liar knows a subscriber, its push reaches no one (and says so).
        match liar.node.push(key.to_string(), id.public_key(), e).await {
            Ok(()) | Err(DhtError::NoTopicPeers) => {}
            Err(e) => panic!("push failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

/// A peer in the honest node's mesh floods it with 2,000 distinct, correctly signed entries as
/// fast as it can. The gate accepts a burst, rejects the excess as `rate_limited`, and each
/// rejection costs the flooder score until gossipsub drops its messages unread (graylist): the
/// honest node validates (decodes and checks the signature of) a few dozen of the 2,000 at
/// most, so the work a flooder can take from it is bounded.
#[actix_rt::test]
async fn a_flooding_peer_is_graylisted_and_its_cost_is_bounded() {
    const FLOOD: u64 = 2_000;
    /// At most this many of the flood are validated: a burst of 4, ~10 rejections before the
    /// score falls under the graylist, one per `publish_min_interval` while the flood lasts,
    /// and the messages already in flight (a generous margin for a loaded machine).
    const MOST_VALIDATED: u64 = 100;
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let honest_peer = KademliaPeer::new(
        Arc::new(Identity::generate().unwrap()),
        node_config(vec![seed_addr.clone()]),
        SystemClock::shared(),
    );
    let honest = ProgressTracker::start(
        config("flood", 1_000_000, Protocol::V2),
        honest_peer.clone(),
    )
    .await
    .unwrap();
    let key = "flood_progress".to_string();
    let (flooder, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    flooder
        .node
        .subscribe(key.clone(), Box::new(|_, _| {}))
        .await
        .unwrap();
    join_the_mesh(&flooder, &honest, &key).await;
    let honest_node = honest_peer.node().unwrap();
    let stats = honest_node.stats();
    let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let validated_before = read(&stats.gossip_received);
    let rate_limited_before = honest_node.rejections().get(RejectionReason::RateLimited);

    let id = flooder.identity.clone();
    for i in 0..FLOOD {
        let e = entry(&id, &key, 1_000 + i, now() + 60.0);
        flooder
            .node
            .push(key.clone(), id.public_key(), e)
            .await
            .unwrap();
    }
    // The flood is noticed ...
    assert!(
        eventually(PATIENCE, || honest_node
            .rejections()
            .get(RejectionReason::RateLimited)
            > rate_limited_before)
        .await,
        "no flood message was rate-limited: {:?}",
        honest_node.rejections()
    );
    // ... and then over: nothing more arrives for half a second.
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut last = read(&stats.gossip_arrived);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now_arrived = read(&stats.gossip_arrived);
        if now_arrived == last {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flood never ended"
        );
        last = now_arrived;
    }
    let validated = read(&stats.gossip_received) - validated_before;
    let rate_limited =
        honest_node.rejections().get(RejectionReason::RateLimited) - rate_limited_before;
    eprintln!(
        "flood of {FLOOD}: the honest node validated {validated}, rate-limited {rate_limited}"
    );
    assert!(
        validated <= MOST_VALIDATED,
        "the honest node validated {validated} of {FLOOD} flood messages"
    );
    // The honest tracker still counts the flooder as one peer, at most as far as it accepted.
    let global = honest.global_progress();
    assert_eq!(global.num_peers, 2);
    assert!(global.samples_accumulated < 1_000 + FLOOD);

    honest.shutdown(Duration::from_secs(5)).await.ok();
    flooder.node.stop();
    seed.node.stop();
}

/// The mock's topic applies the same gate: forged and malformed bytes are rejected by reason,
/// a replay is stale, and a flood beyond the burst is rate-limited; only valid, fresh entries
/// reach a subscribed tracker.
#[actix_rt::test]
async fn the_mock_carries_pushes_through_the_same_gate() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let tracker = ProgressTracker::start(config("mock", 1000, Protocol::V2), net.peer().unwrap())
        .await
        .unwrap();
    let key = "mock_progress";
    let liar = Identity::generate().unwrap();
    // The tracker subscribes as it starts: push until it hears (spaced by the minimum
    // interval, so none of these is rate-limited).
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut last = Vec::new();
    for i in 0.. {
        assert!(
            std::time::Instant::now() < deadline,
            "the tracker never heard"
        );
        last = entry(&liar, key, 10 + i, now() + 60.0).encode(&liar.public_key());
        assert!(matches!(
            net.push_raw(liar.public_key(), key, &last),
            GossipVerdict::Accept(..)
        ));
        if eventually(Duration::from_millis(600), || {
            tracker.global_progress().num_peers == 2
        })
        .await
        {
            break;
        }
    }
    assert_eq!(
        net.push_raw(liar.public_key(), key, &last),
        GossipVerdict::Ignore(RejectionReason::Stale)
    );
    let victim = Identity::generate().unwrap();
    let forged = entry(&liar, key, 10, now() + 61.0).encode(&victim.public_key());
    assert_eq!(
        net.push_raw(liar.public_key(), key, &forged),
        GossipVerdict::Reject(RejectionReason::BadSignature)
    );
    assert_eq!(
        net.push_raw(liar.public_key(), key, b"junk"),
        GossipVerdict::Reject(RejectionReason::Malformed)
    );
    let mut limited = 0;
    for i in 0..50u64 {
        let e = entry(&liar, key, 20 + i, now() + 62.0 + i as f64 * 0.01);
        if net.push_raw(liar.public_key(), key, &e.encode(&liar.public_key()))
            == GossipVerdict::Reject(RejectionReason::RateLimited)
        {
            limited += 1;
        }
    }
    assert!(limited >= 40, "only {limited} of 50 rate-limited");
    assert_eq!(net.rejections().get(RejectionReason::RateLimited), limited);
    tracker.shutdown(Duration::from_secs(5)).await.ok();
}

/// Gossip streams do not keep a connection open (libp2p-gossipsub is patched for that,
/// `vendor/README.md`): a seed that follows no topic loses its connections to two v2 nodes once
/// they are idle, while the two, each in the other's mesh, stay connected and still hear each
/// other. Unpatched, every connection carries gossip streams and none ever closes.
#[actix_rt::test]
async fn connections_outside_the_gossip_mesh_close_after_the_idle_timeout() {
    let config = |bootstrap| NodeConfig {
        idle_connection_timeout: Duration::from_secs(3),
        ..node_config(bootstrap)
    };
    let (seed, seed_addr) = start_node(config(vec![])).await;
    let key = "keepalive_progress".to_string();
    let (a, _) = start_node(config(vec![seed_addr.clone()])).await;
    a.node
        .subscribe(key.clone(), Box::new(|_, _| {}))
        .await
        .unwrap();
    let (b, _) = start_node(config(vec![seed_addr.clone()])).await;
    let heard = Arc::new(AtomicU64::new(0));
    let sink = heard.clone();
    b.node
        .subscribe(
            key.clone(),
            Box::new(move |_, _| {
                sink.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .await
        .unwrap();
    // The mesh forms: b hears a's pushes (a's bootstrap lookup or b's connects them).
    let mut samples = 0;
    let mut push_until_heard = async |what: &str| {
        let before = heard.load(Ordering::Relaxed);
        let deadline = std::time::Instant::now() + PATIENCE;
        while heard.load(Ordering::Relaxed) == before {
            assert!(std::time::Instant::now() < deadline, "b never heard {what}");
            samples += 1;
            let e = entry(&a.identity, &key, samples, now() + 60.0);
            match a.node.push(key.clone(), a.identity.public_key(), e).await {
                Ok(()) | Err(DhtError::NoTopicPeers) => {}
                Err(e) => panic!("push failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    };
    push_until_heard("a's push").await;

    let connected = |node: &crate::kademlia::TestNode| {
        let node = node.node.clone();
        async move { node.info().await.map_or(usize::MAX, |i| i.connected_peers) }
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (s, ca, cb) = (
            connected(&seed).await,
            connected(&a).await,
            connected(&b).await,
        );
        if s == 0 && ca == 1 && cb == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections never settled to the mesh: seed {s}, a {ca}, b {cb} connected peers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The mesh connection outlived the idle timeout and still carries pushes.
    push_until_heard("a's push after the seed's connections closed").await;

    a.node.stop();
    b.node.stop();
    seed.node.stop();
}
