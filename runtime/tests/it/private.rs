//! Private collaborations on real nodes (127.0.0.1): a network key keeps strangers from
//! connecting at all; with a run authority, only entries carrying a valid token count, on every
//! path (DHT store, DHT read, gossip), each failure counted under its own reason.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use swarm_progress::{
    AdmissionToken, Clock, DhtError, Identity, KademliaPeer, LocalProgress, NodeConfig,
    PreSharedKey, ProgressTracker, Protocol, RejectionReason, Role, SignedEntry, SystemClock,
    TrackerConfig,
};

use crate::kademlia::{node_config, start_node, TestNode};
use crate::support::{eventually, fast_config, logs, PATIENCE};

fn now() -> f64 {
    SystemClock.now()
}

/// Unix seconds `ahead` from now.
fn in_secs(ahead: f64) -> u64 {
    (now() + ahead) as u64
}

fn progress(id: &Identity, epoch: u64, samples: u64, client_mode: bool) -> LocalProgress {
    LocalProgress {
        peer_id: id.peer_id(),
        epoch,
        samples_accumulated: samples,
        samples_per_second: if samples > 0 { 50.0 } else { 1e-20 },
        time: now(),
        client_mode,
    }
}

/// A run: its authority, and the tracker and node settings every member shares.
struct Run {
    authority: Identity,
    prefix: &'static str,
}

impl Run {
    fn new(prefix: &'static str) -> Self {
        Self {
            authority: Identity::generate().unwrap(),
            prefix,
        }
    }

    fn key(&self) -> String {
        format!("{}_progress", self.prefix)
    }

    fn tracker_config(&self, protocol: Protocol, revoked: &[&Identity]) -> TrackerConfig {
        TrackerConfig {
            protocol,
            authority: self.authority.peer_id(),
            revoked_peers: revoked.iter().map(|i| i.peer_id()).collect(),
            ..fast_config(self.prefix, 1_000)
        }
    }

    fn token(&self, peer: &Identity, role: Role, ahead: f64) -> AdmissionToken {
        AdmissionToken::issue(&self.authority, peer.public_key(), role, in_secs(ahead))
    }

    /// Node settings of a member: the run's admission (with `revoked`), `token` as its own.
    fn node_config(
        &self,
        bootstrap: Vec<swarm_progress::Multiaddr>,
        revoked: &[&Identity],
        token: Option<AdmissionToken>,
    ) -> NodeConfig {
        NodeConfig {
            admission: self
                .tracker_config(Protocol::V1, revoked)
                .admission()
                .unwrap(),
            admission_token: token,
            read_quorum: 0,
            ..node_config(bootstrap)
        }
    }

    /// A member tracker under a fresh identity with a token of `role` valid `ahead` seconds.
    async fn member(
        &self,
        seed: &swarm_progress::Multiaddr,
        protocol: Protocol,
        role: Role,
        ahead: f64,
        revoked: &[&Identity],
    ) -> (Arc<Identity>, KademliaPeer, ProgressTracker) {
        let id = Arc::new(Identity::generate().unwrap());
        let token = self.token(&id, role, ahead);
        let peer = KademliaPeer::new(
            id.clone(),
            self.node_config(vec![seed.clone()], revoked, Some(token)),
            SystemClock::shared(),
        );
        let tracker = ProgressTracker::start(self.tracker_config(protocol, revoked), peer.clone())
            .await
            .unwrap();
        (id, peer, tracker)
    }
}

async fn connected_peers(node: &TestNode) -> usize {
    node.node.info().await.map_or(0, |i| i.connected_peers)
}

#[actix_rt::test]
async fn a_node_without_the_network_key_cannot_connect_and_the_swarm_keeps_working() {
    logs::capture();
    let key = PreSharedKey::new([7; 32]);
    let keyed = |bootstrap| NodeConfig {
        network_key: Some(key),
        ..node_config(bootstrap)
    };
    let (seed, seed_addr) = start_node(keyed(vec![])).await;
    let trackers: Vec<ProgressTracker> = {
        let mut out = Vec::new();
        for _ in 0..2 {
            let peer = KademliaPeer::new(
                Arc::new(Identity::generate().unwrap()),
                keyed(vec![seed_addr.clone()]),
                SystemClock::shared(),
            );
            out.push(
                ProgressTracker::start(fast_config("pnet", 1_000), peer)
                    .await
                    .unwrap(),
            );
        }
        out
    };
    // No key, and another key: both dial the seed and retry with backoff.
    let (keyless, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    let (other_key, _) = start_node(NodeConfig {
        network_key: Some(PreSharedKey::new([8; 32])),
        ..node_config(vec![seed_addr.clone()])
    })
    .await;
    let failures = |n: &TestNode| n.node.stats().handshake_failures.load(Ordering::Relaxed);
    assert!(
        eventually(PATIENCE, || failures(&keyless) >= 3
            && failures(&other_key) >= 3)
        .await,
        "keyless {} other key {}",
        failures(&keyless),
        failures(&other_key)
    );
    assert!(failures(&seed) >= 2, "the seed counts them too");
    assert_eq!(connected_peers(&keyless).await, 0);
    assert_eq!(connected_peers(&other_key).await, 0);
    // Logged once per remote, not per retry.
    let seed_id = seed.node.peer_id().to_string();
    let warned = logs::events(|e| {
        e.field("message").contains("handshake failed") && e.field("remote") == seed_id
    });
    assert_eq!(warned.len(), 2, "one warning by each outsider: {warned:?}");

    // The keyed swarm works: each tracker sees the other and they advance an epoch.
    for tracker in &trackers {
        tracker.report_local_progress(0, 600).unwrap();
    }
    assert!(
        eventually(PATIENCE, || trackers.iter().all(|t| t
            .global_progress()
            .num_peers
            == 2
            && t.ready_to_update_epoch()))
        .await,
        "{:?}",
        trackers
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    for tracker in trackers {
        tracker.shutdown(Duration::from_secs(5)).await.ok();
    }
    for node in [keyless, other_key, seed] {
        node.node.stop();
    }
}

/// A signed entry of `id` with `token`, `samples` at epoch 0.
fn entry_with(
    run: &Run,
    id: &Identity,
    token: Option<&AdmissionToken>,
    samples: u64,
) -> SignedEntry {
    let value = progress(id, 0, samples, false);
    SignedEntry::sign_admitted(id, token, &run.key(), Some(&value), now() + 60.0).unwrap()
}

#[actix_rt::test]
async fn with_an_authority_strangers_count_nowhere_and_bad_tokens_are_rejected_by_reason() {
    let run = Run::new("private");
    let (seed, seed_addr) = start_node(run.node_config(vec![], &[], None)).await;
    let (_, m1_peer, m1) = run
        .member(&seed_addr, Protocol::V2, Role::Trainer, 3_600.0, &[])
        .await;
    let (_, m2_peer, m2) = run
        .member(&seed_addr, Protocol::V2, Role::Trainer, 3_600.0, &[])
        .await;
    m1.report_local_progress(0, 10).unwrap();
    m2.report_local_progress(0, 20).unwrap();
    let members = [&m1, &m2];
    assert!(
        eventually(PATIENCE, || members
            .iter()
            .all(|t| t.global_progress().num_peers == 2))
        .await,
        "the members never saw each other"
    );
    let estimates = || -> Vec<(u64, u64)> {
        members
            .iter()
            .map(|t| {
                let g = t.global_progress();
                (g.num_peers, g.samples_accumulated)
            })
            .collect()
    };
    let before = estimates();

    // A stranger: valid keys, an open node of its own, no token.
    let (stranger, _) = start_node(NodeConfig {
        read_quorum: 0,
        ..node_config(vec![seed_addr.clone()])
    })
    .await;
    let sid = stranger.identity.clone();
    let key = run.key();
    let nodes = [
        seed.node.clone(),
        m1_peer.node().unwrap(),
        m2_peer.node().unwrap(),
    ];
    let count = |reason| {
        nodes
            .iter()
            .map(|n| n.rejections().get(reason))
            .sum::<u64>()
    };

    // DHT store: its own node takes it (open); the members' replicas refuse it.
    stranger
        .node
        .store(
            key.clone(),
            sid.public_key(),
            entry_with(&run, &sid, None, 500),
        )
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, || count(RejectionReason::TokenMissing) >= 1).await,
        "no replica judged the stranger's store"
    );
    // DHT read: a member node reads the copy the stranger's node holds, and drops it.
    let reader = m1_peer.node().unwrap();
    let read_missing = reader.rejections().get(RejectionReason::TokenMissing);
    let record = reader.get(key.clone(), true).await.unwrap().unwrap();
    assert!(record.get(&sid.public_key()).is_none());
    assert!(
        reader.rejections().get(RejectionReason::TokenMissing) > read_missing,
        "the read never met the stranger's copy"
    );

    // Gossip, and the bad tokens: the stranger joins the topic and pushes.
    stranger
        .node
        .subscribe(key.clone(), Box::new(|_, _| {}))
        .await
        .unwrap();
    let other_authority = Identity::generate().unwrap();
    let someone = Identity::generate().unwrap();
    let forged = {
        // Claims the run's authority, signed by another key.
        let mut bytes = AdmissionToken::issue(
            &other_authority,
            sid.public_key(),
            Role::Trainer,
            in_secs(600.0),
        )
        .encode();
        bytes[1..33].copy_from_slice(run.authority.public_key().as_bytes());
        AdmissionToken::decode(&bytes).unwrap()
    };
    let bad: [(Option<AdmissionToken>, RejectionReason); 4] = [
        (None, RejectionReason::TokenMissing),
        (Some(forged), RejectionReason::TokenForged),
        (
            Some(run.token(&someone, Role::Trainer, 600.0)),
            RejectionReason::TokenOtherPeer,
        ),
        (
            Some(AdmissionToken::issue(
                &other_authority,
                sid.public_key(),
                Role::Trainer,
                in_secs(600.0),
            )),
            RejectionReason::TokenOtherAuthority,
        ),
    ];
    let gossip_rejected = || {
        [&m1_peer, &m2_peer]
            .iter()
            .map(|p| {
                p.node()
                    .unwrap()
                    .stats()
                    .gossip_rejected
                    .load(Ordering::Relaxed)
            })
            .sum::<u64>()
    };
    for (i, (token, reason)) in bad.into_iter().enumerate() {
        let before_reason = count(reason);
        let before_gossip = gossip_rejected();
        let bytes =
            entry_with(&run, &sid, token.as_ref(), 1_000 + i as u64).encode(&sid.public_key());
        // Until the stranger's mesh forms, a push reaches no one; try again.
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            match stranger.node.push_raw(key.clone(), bytes.clone()).await {
                Ok(()) => break,
                Err(DhtError::NoTopicPeers) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("push: {e}"),
            }
        }
        assert!(
            eventually(PATIENCE, || count(reason) > before_reason
                && gossip_rejected() > before_gossip)
            .await,
            "{reason} not counted on gossip"
        );
        // The same entry stored through the DHT: the replicas refuse it by the same reason.
        let stored = count(reason);
        let entry = entry_with(&run, &sid, token.as_ref(), 2_000 + i as u64);
        stranger
            .node
            .store(key.clone(), sid.public_key(), entry)
            .await
            .unwrap();
        assert!(
            eventually(PATIENCE, || count(reason) > stored).await,
            "{reason} not counted on a DHT store"
        );
    }
    // Nothing moved: the members count each other only, with the samples they reported.
    assert_eq!(estimates().iter().map(|e| e.0).collect::<Vec<_>>(), [2, 2]);
    m1.report_local_progress(0, 11).unwrap();
    assert!(
        eventually(PATIENCE, || m2.global_progress().samples_accumulated >= 31).await,
        "{:?}",
        m2.global_progress()
    );
    let after = estimates();
    assert!(
        after
            .iter()
            .all(|(peers, samples)| *peers == 2 && *samples <= 31),
        "before {before:?}, after {after:?}"
    );
    // v2: a peer revoked at run time leaves the view at the next estimate.
    let m2_key = m2.peer_key();
    assert!(swarm_progress::GatewayFactory::admission(&m1_peer).set_revoked([m2_key]));
    m1.report_local_progress(0, 12).unwrap();
    assert!(
        eventually(PATIENCE, || m1.global_progress().num_peers == 1).await,
        "{:?}",
        m1.global_progress()
    );
    for tracker in [m1, m2] {
        tracker.shutdown(Duration::from_secs(5)).await.ok();
    }
    stranger.node.stop();
    seed.node.stop();
}

/// Readers count: `brief` until its token lapses, `revoked` except where revoked, and the
/// client's entry only while it counts nothing. The contribution bound is off, so only
/// admission stands between the client's 10^6 samples and the epoch.
#[actix_rt::test]
async fn expired_revoked_and_client_peers_stop_counting() {
    let run = Run::new("admitted");
    let unbounded = |revoked: &[&Identity]| TrackerConfig {
        peer_contribution_bound: false,
        ..run.tracker_config(Protocol::V1, revoked)
    };
    let (seed, seed_addr) = start_node(run.node_config(vec![], &[], None)).await;
    let mut nodes = vec![seed.node.clone()];
    let member = |role: Role, ahead: f64, revoked: &[&Identity]| {
        let id = Arc::new(Identity::generate().unwrap());
        let peer = KademliaPeer::new(
            id.clone(),
            run.node_config(
                vec![seed_addr.clone()],
                revoked,
                Some(run.token(&id, role, ahead)),
            ),
            SystemClock::shared(),
        );
        let config = unbounded(revoked);
        let started = {
            let peer = peer.clone();
            async move { ProgressTracker::start(config, peer).await.unwrap() }
        };
        (id, peer, started)
    };
    let (revoked_id, revoked_peer, revoked) = member(Role::Trainer, 3_600.0, &[]);
    let revoked = revoked.await;
    let (_, judge_peer, judge) = member(Role::Trainer, 3_600.0, &[&revoked_id]);
    let judge = judge.await;
    let (_, plain_peer, plain) = member(Role::Trainer, 3_600.0, &[]);
    let plain = plain.await;
    let (_, client_peer, client) = member(Role::Client, 3_600.0, &[]);
    let client = client.await;
    // Last, so that its token (12 s) lapses after the others have started on a loaded machine.
    let (_, brief_peer, brief) = member(Role::Trainer, 12.0, &[]);
    let brief = brief.await;
    for peer in [
        &brief_peer,
        &revoked_peer,
        &judge_peer,
        &plain_peer,
        &client_peer,
    ] {
        nodes.push(peer.node().unwrap());
    }
    assert!(
        client.local_progress().client_mode,
        "a client token makes a client"
    );
    for t in [&brief, &revoked, &judge, &plain] {
        t.report_local_progress(0, 10).unwrap();
    }
    // Everyone counts the client's watcher entry (no samples); `judge` never counts `revoked`.
    let judge_node = judge_peer.node().unwrap();
    assert!(
        eventually(PATIENCE, || plain.global_progress().num_peers == 5
            && plain.global_progress().num_clients == 1
            && judge.global_progress().num_peers == 4
            && judge_node.rejections().get(RejectionReason::TokenRevoked) >= 1)
        .await,
        "plain {:?}, judge {:?}, judge's rejections {:?}",
        plain.global_progress(),
        judge.global_progress(),
        judge_node.rejections()
    );

    // The client claims 10^6 samples at the current epoch: its own node refuses to publish it.
    client.report_local_progress(0, 1_000_000).unwrap();
    // A client that bypasses that check (an open node of its own) stores the claim directly:
    // every replica refuses it.
    let (cheat, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    let cid = cheat.identity.clone();
    let claim = SignedEntry::sign_admitted(
        &cid,
        Some(&run.token(&cid, Role::Client, 3_600.0)),
        &run.key(),
        Some(&progress(&cid, 0, 1_000_000, true)),
        now() + 60.0,
    )
    .unwrap();
    cheat
        .node
        .store(run.key(), cid.public_key(), claim)
        .await
        .unwrap();
    let refused = |reason| {
        nodes
            .iter()
            .map(|n| n.rejections().get(reason))
            .sum::<u64>()
    };
    assert!(
        eventually(PATIENCE, || refused(RejectionReason::TokenRole) >= 1).await,
        "{:?}",
        nodes.iter().map(|n| n.rejections()).collect::<Vec<_>>()
    );

    // `brief`'s token lapses: it stops counting for every reader at their next read.
    assert!(
        eventually(PATIENCE, || plain.global_progress().num_peers == 4
            && judge.global_progress().num_peers == 3)
        .await,
        "plain {:?}, judge {:?}",
        plain.global_progress(),
        judge.global_progress()
    );
    assert!(refused(RejectionReason::TokenExpired) >= 1);
    // The revocation list changed at run time (as a reloaded setting does): lifted, `judge`
    // counts `revoked` at its next read; revoked again, it drops out at the next read.
    let judge_admission = swarm_progress::GatewayFactory::admission(&judge_peer);
    assert!(judge_admission.set_revoked([]));
    assert!(
        eventually(PATIENCE, || judge.global_progress().num_peers == 4).await,
        "judge {:?}",
        judge.global_progress()
    );
    assert!(judge_admission.set_revoked([revoked_id.public_key()]));
    assert!(
        eventually(PATIENCE, || judge.global_progress().num_peers == 3).await,
        "judge {:?}",
        judge.global_progress()
    );
    // By now every reader has read the swarm several times since the client's claim.
    for t in [&plain, &judge] {
        let g = t.global_progress();
        assert_eq!(g.epoch, 0, "the client drove the epoch: {g:?}");
        assert!(
            g.samples_accumulated < 1_000,
            "the client's samples counted: {g:?}"
        );
        assert!(!t.ready_to_update_epoch());
    }
    for t in [brief, revoked, judge, plain, client] {
        t.shutdown(Duration::from_secs(5)).await.ok();
    }
    cheat.node.stop();
    seed.node.stop();
}

#[actix_rt::test]
async fn a_tracker_refuses_to_start_without_a_token_it_can_use() {
    let run = Run::new("refused");
    let id = Arc::new(Identity::generate().unwrap());
    let start = |token: Option<AdmissionToken>, config: TrackerConfig| {
        let peer = KademliaPeer::new(
            id.clone(),
            run.node_config(vec![], &[], token),
            SystemClock::shared(),
        );
        async move { ProgressTracker::start(config, peer).await.map(|_| ()) }
    };
    let config = run.tracker_config(Protocol::V1, &[]);
    let someone = Identity::generate().unwrap();
    let cases = [
        (None, config.clone(), "no admission token"),
        (
            Some(run.token(&someone, Role::Trainer, 600.0)),
            config.clone(),
            "admits peer",
        ),
        (
            Some(run.token(&id, Role::Trainer, -10.0)),
            config.clone(),
            "expired",
        ),
        (
            Some(run.token(&id, Role::Client, 600.0)),
            TrackerConfig {
                client_mode: Some(false),
                ..config.clone()
            },
            "client role",
        ),
        (
            Some(run.token(&id, Role::Trainer, 600.0)),
            TrackerConfig {
                authority: Identity::generate().unwrap().peer_id(),
                ..config.clone()
            },
            "but the node admits",
        ),
    ];
    for (token, config, expected) in cases {
        let error = start(token, config).await.unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }
}

/// The mock DHT judges a private collaboration as real nodes do: members count each other, a
/// stranger's tracker does not start, and its gossip is refused by reason.
#[actix_rt::test]
async fn the_mock_dht_can_be_private_too() {
    let run = Run::new("mock-private");
    let network = swarm_progress::MemoryNetwork::private(
        SystemClock::shared(),
        run.tracker_config(Protocol::V2, &[]).admission().unwrap(),
    );
    let mut members = Vec::new();
    for _ in 0..2 {
        let id = Arc::new(Identity::generate().unwrap());
        let token = run.token(&id, Role::Trainer, 600.0);
        let peer = network.peer_with_token(id, Some(token));
        let tracker = ProgressTracker::start(run.tracker_config(Protocol::V2, &[]), peer)
            .await
            .unwrap();
        tracker.report_local_progress(0, 5).unwrap();
        members.push(tracker);
    }
    assert!(
        eventually(PATIENCE, || members
            .iter()
            .all(|t| t.global_progress().num_peers == 2))
        .await,
        "{:?}",
        members
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    let stranger = Identity::generate().unwrap();
    let refused = ProgressTracker::start(
        run.tracker_config(Protocol::V2, &[]),
        network.peer_with_identity(Arc::new(Identity::generate().unwrap())),
    )
    .await;
    assert!(matches!(
        refused,
        Err(swarm_progress::TrackerError::Admission(_))
    ));
    let bytes = entry_with(&run, &stranger, None, 1_000).encode(&stranger.public_key());
    assert_eq!(
        network.push_raw(stranger.public_key(), &run.key(), &bytes),
        swarm_progress::records::GossipVerdict::Reject(RejectionReason::TokenMissing)
    );
    assert!(network.rejections().get(RejectionReason::TokenMissing) >= 1);
    assert!(members.iter().all(|t| t.global_progress().num_peers == 2));
    for tracker in members {
        tracker.shutdown(Duration::from_secs(5)).await.ok();
    }
}
