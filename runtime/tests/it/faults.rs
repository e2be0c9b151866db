//! Faults survived (issue 7): a peer killed with SIGKILL and restarted under the same identity,
//! the seed down while trainers start, a network split and its heal, a slow / failing / hung
//! DHT, a storm of panics, and skewed clocks. Every wait is a condition with a deadline; each
//! test prints its figures on one `FIGURES` line (see RELIABILITY.md).

use std::cell::Cell;
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use swarm_progress::estimator::{estimate, LocalView};
use swarm_progress::{
    ActorKind, Clock, Faults, Health, Identity, KademliaPeer, LocalProgress, MemoryNetwork,
    Multiaddr, NodeConfig, NodeHandle, PeerId, ProgressTracker, RejectionReason, SupervisionPolicy,
    SystemClock, TrackerConfig, TrackerError, TrackerOptions,
};

use crate::kademlia::{node_config, start_node};
use crate::support::{
    eventually, fast_config, logs, thread_cpu_time, trainer, SkewedClock, PATIENCE,
};

/// Longer patience for multi-node scenarios on a loaded machine.
const LONG: Duration = Duration::from_secs(60);

/// Runs `trainer()` on `tracker` in the background until aborted (or two minutes).
fn train(tracker: &Rc<ProgressTracker>) -> tokio::task::JoinHandle<()> {
    let tracker = tracker.clone();
    actix_rt::spawn(async move {
        trainer()
            .run(&tracker, u64::MAX, Duration::from_secs(120))
            .await;
    })
}

/// A tracker config with fast refresh and a short metadata expiration (entries of a dead peer
/// stop counting after `expiration` seconds).
fn short_lived(prefix: &str, target: u64, expiration: f64) -> TrackerConfig {
    TrackerConfig {
        metadata_expiration: expiration,
        ..fast_config(prefix, target)
    }
}

/// A tracker over a real libp2p node that joins through `bootstrap`; returns it with its node.
async fn kad_tracker(
    config: TrackerConfig,
    identity: Identity,
    node: NodeConfig,
) -> (Rc<ProgressTracker>, NodeHandle) {
    let peer = KademliaPeer::new(identity.into(), node, SystemClock::shared());
    let tracker = ProgressTracker::start(config, peer.clone()).await.unwrap();
    let mut handle = None;
    assert!(
        eventually(PATIENCE, || {
            handle = peer.node();
            handle.is_some()
        })
        .await,
        "the tracker's node never started"
    );
    (Rc::new(tracker), handle.unwrap())
}

/// Whether `condition` holds for every tracker.
fn all(trackers: &[Rc<ProgressTracker>], condition: impl Fn(&ProgressTracker) -> bool) -> bool {
    trackers.iter().all(|t| condition(t))
}

/// The global epochs of `trackers`, if they all agree.
fn common_epoch(trackers: &[Rc<ProgressTracker>]) -> Option<u64> {
    let first = trackers[0].global_epoch();
    all(trackers, |t| t.global_epoch() == first).then_some(first)
}

/// A free loopback TCP port (reserved for a seed that starts later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn seed_on(port: u16, identity: &Identity) -> (Multiaddr, NodeConfig) {
    let addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", identity.peer_id())
        .parse()
        .unwrap();
    let config = NodeConfig {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()],
        ..node_config(vec![])
    };
    (addr, config)
}

fn connected(node: &NodeHandle) -> usize {
    futures::executor::block_on(node.info()).map_or(0, |i| i.connected_peers)
}

/// Samples the largest `num_peers` any of `trackers` reports, every 10 ms, until aborted.
fn watch_max_peers(
    trackers: Vec<Rc<ProgressTracker>>,
) -> (Rc<Cell<u64>>, tokio::task::JoinHandle<()>) {
    let max = Rc::new(Cell::new(0));
    let seen = max.clone();
    let task = actix_rt::spawn(async move {
        loop {
            for t in &trackers {
                seen.set(seen.get().max(t.global_progress().num_peers));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (max, task)
}

// ---- 1. SIGKILL mid-run, restart with the same identity ------------------------------------

const CHILD_SEED: &str = "SWARM_PROGRESS_FAULTS_CHILD_SEED";
const CHILD_KEY: &str = "SWARM_PROGRESS_FAULTS_CHILD_KEY";
const CHILD_PREFIX: &str = "SWARM_PROGRESS_FAULTS_CHILD_PREFIX";
const KILL_TARGET: u64 = 400;
const KILL_EXPIRATION: f64 = 3.0;

/// The trainer process that `a_peer_killed_with_sigkill_...` starts (this test binary run again
/// with only this test): a tracker over its own libp2p node, identity from a key file, training
/// until killed. Without its environment it does nothing.
#[actix_rt::test]
#[ignore = "the child process of a_peer_killed_with_sigkill_expires_and_rejoins_under_its_identity"]
async fn sigkill_child_trainer() {
    let (Ok(seed), Ok(key), Ok(prefix)) = (
        std::env::var(CHILD_SEED),
        std::env::var(CHILD_KEY),
        std::env::var(CHILD_PREFIX),
    ) else {
        return;
    };
    let identity = Identity::load_or_create(Path::new(&key)).unwrap();
    let config = short_lived(&prefix, KILL_TARGET, KILL_EXPIRATION);
    let (tracker, _node) =
        kad_tracker(config, identity, node_config(vec![seed.parse().unwrap()])).await;
    trainer()
        .run(&tracker, u64::MAX, Duration::from_secs(120))
        .await;
}

/// A child process, killed with SIGKILL when dropped.
struct ChildProcess(std::process::Child);

impl ChildProcess {
    fn start(seed: &Multiaddr, key: &Path, prefix: &str) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "faults::sigkill_child_trainer",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_SEED, seed.to_string())
            .env(CHILD_KEY, key)
            .env(CHILD_PREFIX, prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// SIGKILL: no shutdown, no tombstone.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn a_peer_killed_with_sigkill_expires_and_rejoins_under_its_identity() {
    let prefix = format!("sigkill{}", std::process::id());
    let key_dir = std::env::temp_dir().join(format!("swarm-progress-{prefix}"));
    std::fs::create_dir_all(&key_dir).unwrap();
    let key = key_dir.join("child.key");
    let _ = std::fs::remove_file(&key);
    let child_id = Identity::load_or_create(&key).unwrap();
    let child_key = child_id.public_key();

    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let config = || short_lived(&prefix, KILL_TARGET, KILL_EXPIRATION);
    let mut trackers = Vec::new();
    for _ in 0..2 {
        let identity = Identity::generate().unwrap();
        trackers.push(
            kad_tracker(config(), identity, node_config(vec![seed_addr.clone()]))
                .await
                .0,
        );
    }
    let runs: Vec<_> = trackers.iter().map(train).collect();
    let (max_peers, watcher) = watch_max_peers(trackers.clone());
    let a = trackers[0].clone();
    let read_child = || {
        futures::executor::block_on(seed.node.get(format!("{prefix}_progress"), false))
            .ok()
            .flatten()
            .and_then(|r| r.get(&child_key).cloned())
    };

    let child = ChildProcess::start(&seed_addr, &key, &prefix);
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 3))
        .await,
        "the child never joined: {:?}",
        a.global_progress()
    );
    let joined_epoch = a.global_epoch();
    assert!(
        eventually(LONG, || a.global_epoch() > joined_epoch).await,
        "no epoch with the child in"
    );

    // SIGKILL: no tombstone. The others keep training; the entry stops counting on expiry.
    let killed_at = Instant::now();
    let epoch_at_kill = a.global_epoch();
    child.kill();
    let last_before_kill = read_child().expect("the child's entry");
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 2))
        .await,
        "the dead peer's entry kept counting: {:?}",
        a.global_progress()
    );
    let expired_after = killed_at.elapsed();
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_epoch()
            >= epoch_at_kill + 2))
        .await,
        "the survivors stopped advancing: {:?}",
        a.global_progress()
    );
    let epochs_while_dead = a.global_epoch() - epoch_at_kill;

    // Restart under the same identity file: it rejoins, its entry is replaced (one subkey).
    let restarted_at = Instant::now();
    let child = ChildProcess::start(&seed_addr, &key, &prefix);
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 3))
        .await,
        "the restarted child never rejoined: {:?}",
        a.global_progress()
    );
    let rejoined_after = restarted_at.elapsed();
    // It catches up to the swarm's epoch and trains in it with the others.
    assert!(
        eventually(LONG, || read_child()
            .and_then(|e| e.value().cloned())
            .is_some_and(
                |v| v.epoch == a.global_epoch() && v.samples_accumulated > 0
            ))
        .await,
        "the restarted child did not catch up: {:?} vs {:?}",
        read_child(),
        a.global_progress()
    );
    let after = read_child().unwrap();
    assert!(after.expiration() > last_before_kill.expiration());
    let record = futures::executor::block_on(seed.node.get(format!("{prefix}_progress"), false))
        .unwrap()
        .unwrap();
    assert_eq!(record.len(), 3, "one entry per peer");
    let epoch_rejoined = a.global_epoch();
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_epoch()
            > epoch_rejoined
            && t.global_progress().num_peers == 3))
        .await
    );
    watcher.abort();
    assert_eq!(max_peers.get(), 3, "a peer was counted twice");
    println!(
        "FIGURES sigkill: peers 3 (1 child process); entry expired {:.1} s after SIGKILL \
         (expiration {KILL_EXPIRATION} s); survivors advanced {epochs_while_dead} epochs while it \
         was dead; rejoined {:.1} s after restart; max num_peers seen {}; record entries {}",
        expired_after.as_secs_f64(),
        rejoined_after.as_secs_f64(),
        max_peers.get(),
        record.len()
    );
    drop(child);
    for run in runs {
        run.abort();
    }
    for t in &trackers {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
    seed.node.stop();
    let _ = std::fs::remove_dir_all(&key_dir);
}

// ---- 2. The seed is down when trainers start ------------------------------------------------

#[actix_rt::test]
async fn trainers_started_while_the_seed_is_down_retry_and_converge_when_it_comes_up() {
    logs::capture();
    let port = free_port();
    let seed_identity = Identity::generate().unwrap();
    let (seed_addr, seed_config) = seed_on(port, &seed_identity);
    let mut trackers = Vec::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let (t, n) = kad_tracker(
            fast_config("seeddown", 400),
            Identity::generate().unwrap(),
            node_config(vec![seed_addr.clone()]),
        )
        .await;
        trackers.push(t);
        nodes.push(n);
    }
    let runs: Vec<_> = trackers.iter().map(train).collect();
    let attempts = |n: &NodeHandle| n.stats().bootstrap_attempts.load(Ordering::Relaxed);
    assert!(
        eventually(PATIENCE, || nodes.iter().all(|n| attempts(n) >= 4)).await,
        "no retries"
    );
    // Alone, each trainer works on its own.
    assert!(all(&trackers, |t| t.health() == Health::Running));

    let seed_up_at = Instant::now();
    let seed = NodeHandle::start(&seed_identity, seed_config, SystemClock::shared()).unwrap();
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 3))
        .await,
        "never converged: {:?}",
        trackers
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    let converged_after = seed_up_at.elapsed();
    let mut epoch = None;
    assert!(
        eventually(LONG, || {
            epoch = common_epoch(&trackers);
            epoch.is_some()
        })
        .await
    );
    let epoch = epoch.unwrap();
    // Together through the next epoch.
    assert!(
        eventually(LONG, || common_epoch(&trackers).is_some_and(|e| e > epoch)
            && all(&trackers, |t| t.global_progress().num_peers == 3))
        .await,
        "no epoch together"
    );
    // Bootstrapping stopped once the seed answered; one warning per retry, numbered.
    let attempts_now: Vec<u64> = nodes.iter().map(attempts).collect();
    for (node, total) in nodes.iter().zip(&attempts_now) {
        let peer = node.peer_id().to_string();
        let mut warned: Vec<u64> = logs::events(|e| {
            e.level == tracing::Level::WARN
                && e.field("message").contains("no bootstrap peer answered")
                && e.field("peer") == peer
        })
        .iter()
        .map(|e| e.field("attempt").parse().unwrap())
        .collect();
        warned.sort_unstable();
        assert_eq!(
            warned,
            (2..=*total).collect::<Vec<_>>(),
            "one warning per retry, {total} attempts"
        );
    }
    println!(
        "FIGURES seed-down: peers 3; bootstrap attempts while down {attempts_now:?} (one warn each \
         after the first); converged {:.1} s after the seed came up; common epoch {} then {}",
        converged_after.as_secs_f64(),
        epoch,
        epoch + 1
    );
    for run in runs {
        run.abort();
    }
    for t in &trackers {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
    seed.stop();
}

// ---- 3. Network split and heal --------------------------------------------------------------

#[actix_rt::test]
async fn a_node_that_loses_every_peer_bootstraps_again() {
    let port = free_port();
    let seed_identity = Identity::generate().unwrap();
    let (seed_addr, seed_config) = seed_on(port, &seed_identity);
    let seed =
        NodeHandle::start(&seed_identity, seed_config.clone(), SystemClock::shared()).unwrap();
    let (a, _) = start_node(node_config(vec![seed_addr])).await;
    assert!(eventually(PATIENCE, || connected(&a.node) >= 1).await);
    seed.stop();
    assert!(eventually(PATIENCE, || !seed.is_running()).await);
    assert!(eventually(PATIENCE, || connected(&a.node) == 0).await);
    assert!(
        eventually(PATIENCE, || a
            .node
            .stats()
            .rebootstraps
            .load(Ordering::Relaxed)
            >= 1)
        .await,
        "no re-bootstrap after losing every peer"
    );
    // The seed comes back (same identity, same port): the node finds it by itself.
    let seed = NodeHandle::start(&seed_identity, seed_config, SystemClock::shared()).unwrap();
    assert!(
        eventually(PATIENCE, || connected(&a.node) >= 1).await,
        "never reconnected to the restarted seed"
    );
    let entry = swarm_progress::SignedEntry::sign(
        &a.identity,
        "rejoin_progress",
        None,
        SystemClock.now() + 60.0,
    )
    .unwrap();
    a.node
        .store("rejoin_progress".into(), a.identity.public_key(), entry)
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(
            seed.get("rejoin_progress".into(), false)
        )
        .ok()
        .flatten()
        .is_some())
        .await,
        "the store did not reach the restarted seed"
    );
    a.node.stop();
    seed.stop();
}

#[actix_rt::test]
async fn a_denied_peer_is_disconnected_and_refused() {
    let (a, a_addr) = start_node(node_config(vec![])).await;
    let (b, _) = start_node(node_config(vec![a_addr.clone()])).await;
    assert!(eventually(PATIENCE, || connected(&b.node) == 1).await);
    b.node.block_peers(&[a.node.peer_id()]).await.unwrap();
    assert!(eventually(PATIENCE, || connected(&b.node) == 0).await);
    // A third node that denies `a` from its configuration never connects to it either.
    let (c, _) = start_node(NodeConfig {
        deny: vec![a.node.peer_id()],
        ..node_config(vec![a_addr])
    })
    .await;
    assert!(
        eventually(PATIENCE, || c
            .node
            .stats()
            .bootstrap_attempts
            .load(Ordering::Relaxed)
            >= 3)
        .await
    );
    assert_eq!(connected(&c.node), 0);
    assert_eq!(connected(&b.node), 0);
    b.node.unblock_peers(&[a.node.peer_id()]).await.unwrap();
    assert!(
        eventually(PATIENCE, || connected(&b.node) == 1).await,
        "no reconnection after unblocking"
    );
    for n in [a, b, c] {
        n.node.stop();
    }
}

#[actix_rt::test]
async fn a_split_swarm_keeps_working_in_each_half_and_converges_after_the_heal() {
    const EXPIRATION: f64 = 4.0;
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let mut trackers = Vec::new();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let (t, n) = kad_tracker(
            short_lived("split", 400, EXPIRATION),
            Identity::generate().unwrap(),
            node_config(vec![seed_addr.clone()]),
        )
        .await;
        trackers.push(t);
        nodes.push(n);
    }
    let runs: Vec<_> = trackers.iter().map(train).collect();
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 4))
        .await,
        "the swarm never formed"
    );
    // Halves: {seed, t0, t1} and {t2, t3}.
    let left: Vec<NodeHandle> = vec![seed.node.clone(), nodes[0].clone(), nodes[1].clone()];
    let right: Vec<NodeHandle> = vec![nodes[2].clone(), nodes[3].clone()];
    let ids = |half: &[NodeHandle]| {
        half.iter()
            .map(NodeHandle::peer_id)
            .collect::<Vec<PeerId>>()
    };
    let (left_ids, right_ids) = (ids(&left), ids(&right));
    let split_at = Instant::now();
    for n in &left {
        n.block_peers(&right_ids).await.unwrap();
    }
    for n in &right {
        n.block_peers(&left_ids).await.unwrap();
    }
    let (left_t, right_t) = (trackers[..2].to_vec(), trackers[2..].to_vec());
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_progress().num_peers
            == 2))
        .await,
        "the halves still see each other: {:?}",
        trackers
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    let (l0, r0) = (left_t[0].global_epoch(), right_t[0].global_epoch());
    assert!(
        eventually(LONG, || all(&left_t, |t| t.global_epoch() >= l0 + 2)
            && all(&right_t, |t| t.global_epoch() >= r0 + 2))
        .await,
        "a half stopped working: left {:?} right {:?}",
        left_t[0].global_progress(),
        right_t[0].global_progress()
    );
    // Neither half saw the other while it worked on its own.
    assert!(all(&trackers, |t| t.global_progress().num_peers <= 2));
    let split_for = split_at.elapsed();
    let (l1, r1) = (left_t[0].global_epoch(), right_t[0].global_epoch());

    let healed_at = Instant::now();
    for n in &left {
        n.unblock_peers(&right_ids).await.unwrap();
    }
    for n in &right {
        n.unblock_peers(&left_ids).await.unwrap();
    }
    let mut epoch = None;
    assert!(
        eventually(LONG, || {
            epoch = common_epoch(&trackers);
            epoch.is_some() && all(&trackers, |t| t.global_progress().num_peers == 4)
        })
        .await,
        "no convergence after the heal: {:?}",
        trackers
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    let converged_after = healed_at.elapsed();
    let epoch = epoch.unwrap();
    assert!(
        eventually(LONG, || common_epoch(&trackers).is_some_and(|e| e > epoch)
            && all(&trackers, |t| t.global_progress().num_peers == 4))
        .await,
        "no epoch together after the heal"
    );
    println!(
        "FIGURES split: peers 4 + seed, halves 2 | 2 for {:.1} s; epochs during the split: left \
         {l0}->{l1}, right {r0}->{r1}; converged on epoch {epoch} {:.1} s after the heal, then {}",
        split_for.as_secs_f64(),
        converged_after.as_secs_f64(),
        epoch + 1
    );
    for run in runs {
        run.abort();
    }
    for t in &trackers {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
    seed.node.stop();
}

// ---- 4. A slow, failing or hung DHT ---------------------------------------------------------

#[actix_rt::test]
async fn a_slow_and_failing_dht_delays_but_does_not_stop_the_swarm() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let flaky = net.peer().unwrap();
    flaky.faults().set(Faults {
        latency: Duration::from_millis(200),
        fail_probability: 0.3,
        ..Faults::default()
    });
    let config = || fast_config("flaky", 400);
    let a = Rc::new(ProgressTracker::start(config(), flaky).await.unwrap());
    let b = Rc::new(
        ProgressTracker::start(config(), net.peer().unwrap())
            .await
            .unwrap(),
    );
    let trackers = vec![a.clone(), b.clone()];
    let runs: Vec<_> = trackers.iter().map(train).collect();
    let stats = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_epoch() >= 3
            && t.global_progress().num_peers == 2)
            && stats(&a.stats().stores_failed) >= 1
            && stats(&a.stats().fetches_failed) >= 1)
        .await,
        "{:?} {:?}",
        a.global_progress(),
        a.stats()
    );
    let s = a.stats();
    println!(
        "FIGURES flaky: peers 2, one with 200 ms latency and 30 % failures; epochs {}; its \
         stores ok/failed {}/{}, fetches ok/failed {}/{}",
        a.global_epoch(),
        stats(&s.stores_ok),
        stats(&s.stores_failed),
        stats(&s.fetches_ok),
        stats(&s.fetches_failed)
    );
    assert_eq!(a.health(), Health::Running);
    for run in runs {
        run.abort();
    }
    for t in &trackers {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
}

#[actix_rt::test]
async fn hung_gets_never_block_stores_nor_hung_stores_fetches_and_shutdown_keeps_its_timeout() {
    // A 10 s request timeout: anything that waited for a hung request would take >= 10 s.
    let config = || TrackerConfig {
        request_timeout: 10.0,
        ..fast_config("hung", 1_000_000)
    };
    let quick = Duration::from_secs(5);
    let net = MemoryNetwork::new(SystemClock::shared());
    let no_gets = net.peer().unwrap();
    no_gets.faults().update(|f| f.hang_gets = true);
    let no_stores = net.peer().unwrap();
    no_stores.faults().update(|f| f.hang_stores = true);
    let a = ProgressTracker::start(config(), no_gets).await.unwrap();
    let b = ProgressTracker::start(config(), no_stores).await.unwrap();
    let c = ProgressTracker::start(config(), net.peer().unwrap())
        .await
        .unwrap();
    let key = "hung_progress";

    // a's gets hang: each of its reports still lands in the DHT, quickly.
    let mut slowest_store = Duration::ZERO;
    for samples in [10, 20, 30, 40, 50] {
        let at = Instant::now();
        a.report_local_progress(0, samples).unwrap();
        assert!(
            eventually(quick, || net
                .record(key)
                .and_then(|r| r.get(&a.peer_key()).and_then(|e| e.value().cloned()))
                .is_some_and(|v| v.samples_accumulated == samples))
            .await,
            "a's report of {samples} did not land while its gets hang"
        );
        slowest_store = slowest_store.max(at.elapsed());
    }
    // b's stores hang: it still reads c's progress, quickly.
    let mut slowest_fetch = Duration::ZERO;
    for samples in [10, 20, 30, 40, 50] {
        let at = Instant::now();
        c.report_local_progress(0, samples).unwrap();
        assert!(
            eventually(quick, || b.global_progress().samples_accumulated >= samples).await,
            "b did not read c's {samples} while its stores hang: {:?}",
            b.global_progress()
        );
        slowest_fetch = slowest_fetch.max(at.elapsed());
    }
    assert_eq!(a.stats().fetches_ok.load(Ordering::Relaxed), 0);
    assert_eq!(b.stats().stores_ok.load(Ordering::Relaxed), 0);
    // Shutdown keeps its own timeout with a hung DHT (b's tombstone store hangs).
    let mut shutdowns = Vec::new();
    for (t, hangs) in [(&b, true), (&a, false)] {
        let at = Instant::now();
        let result = t.shutdown(Duration::from_millis(500)).await;
        assert_eq!(result.is_err(), hangs, "{result:?}");
        let took = at.elapsed();
        assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
        shutdowns.push(took);
    }
    println!(
        "FIGURES hung: request timeout 10 s; slowest store with gets hung {:.0} ms; slowest fetch \
         with stores hung {:.0} ms; shutdown(500 ms) with a hung store took {:.0} ms, with hung \
         gets {:.0} ms",
        slowest_store.as_secs_f64() * 1e3,
        slowest_fetch.as_secs_f64() * 1e3,
        shutdowns[0].as_secs_f64() * 1e3,
        shutdowns[1].as_secs_f64() * 1e3
    );
    c.shutdown(Duration::from_secs(5)).await.unwrap();
}

// ---- 5. A storm of panics -------------------------------------------------------------------

#[actix_rt::test]
async fn a_panic_storm_backs_off_then_fails_without_a_busy_loop() {
    let policy = SupervisionPolicy {
        max_restarts: 5,
        window: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(500),
        liveness_interval: Duration::from_millis(50),
    };
    let net = MemoryNetwork::new(SystemClock::shared());
    let stormy = net.peer().unwrap();
    stormy.faults().update(|f| f.panic_on_every_request = true);
    let cpu_before = thread_cpu_time();
    let started = Instant::now();
    let a = ProgressTracker::start_with(
        fast_config("storm", 1000),
        stormy,
        TrackerOptions {
            supervision: policy,
            ..TrackerOptions::default()
        },
    )
    .await
    .unwrap();
    let b = ProgressTracker::start(fast_config("storm", 1000), net.peer().unwrap())
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, || matches!(a.health(), Health::Failed { .. })).await,
        "{:?}",
        a.health()
    );
    let failed_after = started.elapsed();
    let restarts = a.stats().restarts_of(ActorKind::Gateway);
    assert_eq!(restarts, u64::from(policy.max_restarts));
    // The backoff was honoured: 20 + 40 + 80 + 160 + 320 ms at least.
    let backoffs: Duration = (1..=policy.max_restarts).map(|n| policy.backoff(n)).sum();
    assert!(failed_after >= backoffs, "{failed_after:?} < {backoffs:?}");
    // Failed means quiet: no more restarts, no more requests, while the process carries on.
    let requests = net.stats();
    let a_requests = |t: &ProgressTracker| {
        let s = t.stats();
        [
            &s.stores_ok,
            &s.stores_failed,
            &s.fetches_ok,
            &s.fetches_failed,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<u64>()
    };
    let a_at_failure = a_requests(&a);
    let fetched = b.stats().fetches_ok.load(Ordering::Relaxed);
    assert!(
        eventually(PATIENCE, || b.stats().fetches_ok.load(Ordering::Relaxed)
            >= fetched + 5)
        .await,
        "the other tracker in the process stalled"
    );
    let b_requests = net.stats();
    assert_eq!(a.stats().restarts_of(ActorKind::Gateway), restarts);
    assert!(
        a_requests(&a) <= a_at_failure + 2,
        "the failed tracker kept calling the DHT"
    );
    assert!(matches!(a.health(), Health::Failed { .. }));
    assert!(matches!(
        a.report_local_progress(0, 1),
        Err(TrackerError::Failed(_))
    ));
    let cpu = thread_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    // The thread runs both trackers (and any test on it): a busy loop would use ~all of the
    // wall time.
    let wall = started.elapsed();
    if let Some(cpu) = cpu {
        assert!(
            cpu < wall / 2 && cpu < Duration::from_secs(3),
            "{cpu:?} of CPU in {wall:?}"
        );
    }
    let at = Instant::now();
    let _ = a.shutdown(Duration::from_secs(1)).await;
    assert!(at.elapsed() < Duration::from_secs(3));
    println!(
        "FIGURES storm: gateway panicking on every request; {restarts} restarts then Failed after \
         {:.0} ms (backoffs sum {:.0} ms); DHT requests of the failed tracker {} at failure, {} \
         later; requests of the whole network {} then +{} (the healthy tracker's); CPU of the actors' thread {:?} over {:.1} s",
        failed_after.as_secs_f64() * 1e3,
        backoffs.as_secs_f64() * 1e3,
        a_at_failure,
        a_requests(&a),
        requests.stores + requests.gets,
        b_requests.stores + b_requests.gets - requests.stores - requests.gets,
        cpu,
        wall.as_secs_f64()
    );
    b.shutdown(Duration::from_secs(5)).await.unwrap();
}

// ---- 6. Clock skew ---------------------------------------------------------------------------

fn progress_at(name: &str, time: f64, samples: u64, speed: f64) -> LocalProgress {
    LocalProgress {
        peer_id: name.into(),
        epoch: 3,
        samples_accumulated: samples,
        samples_per_second: speed,
        time,
        client_mode: false,
    }
}

#[test]
fn entries_from_skewed_clocks_are_clamped_and_never_make_the_estimate_negative_or_explode() {
    let config = TrackerConfig {
        target_batch_size: 1000,
        ..TrackerConfig::default()
    };
    let now = 1_000_000.0;
    let local = progress_at("local", now, 100, 10.0);
    let view = LocalView {
        progress: &local,
        samples_per_second: 10.0,
        eps: 1e-20,
    };
    let run = |peers: &[LocalProgress]| estimate(&view, peers.iter().map(Some), now, &config);
    let on_time = run(&[
        progress_at("a", now, 200, 50.0),
        progress_at("b", now, 300, 50.0),
    ]);
    // Ahead by 5 s and by an hour: no extrapolation at all (clamped), the same estimate.
    for ahead in [5.0, 3600.0, 1e9] {
        let skewed = run(&[
            progress_at("a", now + ahead, 200, 50.0),
            progress_at("b", now + ahead / 2.0, 300, 50.0),
        ]);
        assert_eq!(skewed, on_time, "ahead {ahead}");
    }
    // Behind: extrapolated, but the ETA never goes below now nor becomes non-finite.
    for behind in [5.0, 3600.0, 1e12] {
        let skewed = run(&[
            progress_at("a", now - behind, 200, 50.0),
            progress_at("b", now - behind, 300, 1e6),
        ]);
        assert!(skewed.eta_next_epoch.is_finite() && skewed.eta_next_epoch >= now);
        assert!(skewed.next_fetch_time.is_finite() && skewed.next_fetch_time >= now);
        assert!(skewed.eta_next_epoch <= on_time.eta_next_epoch);
    }
    assert!(on_time.eta_next_epoch > now && on_time.eta_next_epoch < now + 10.0);
}

#[actix_rt::test]
async fn peers_with_skewed_clocks_train_together_and_a_far_future_one_is_rejected() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let mut trackers = Vec::new();
    for skew in [0.0, 5.0, -5.0] {
        let options = TrackerOptions {
            clock: std::sync::Arc::new(SkewedClock(skew)),
            ..TrackerOptions::default()
        };
        trackers.push(Rc::new(
            ProgressTracker::start_with(fast_config("skew", 400), net.peer().unwrap(), options)
                .await
                .unwrap(),
        ));
    }
    // An hour ahead: every expiration it signs is too far in the future for the others.
    let far = Rc::new(
        ProgressTracker::start_with(
            fast_config("skew", 400),
            net.peer().unwrap(),
            TrackerOptions {
                clock: std::sync::Arc::new(SkewedClock(3600.0)),
                ..TrackerOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let mut runs: Vec<_> = trackers.iter().map(train).collect();
    runs.push(train(&far));
    // Once speeds are known (before, the ETA is `remaining / eps`, ~1e22 s, skew or not),
    // check every tracker's view every 10 ms while they train through three more epochs.
    assert!(eventually(LONG, || all(&trackers, |t| t.global_epoch() >= 1)).await);
    let from_epoch_one = Instant::now();
    let worst = Rc::new(Cell::new((f64::INFINITY, f64::NEG_INFINITY)));
    let checked = {
        let (trackers, worst) = (trackers.clone(), worst.clone());
        actix_rt::spawn(async move {
            loop {
                for t in &trackers {
                    let now = t.clock().now();
                    let g = t.global_progress();
                    // +inf is the contract's ETA right after `update_epoch`, until the next
                    // fetch; anything else must be a finite time.
                    assert!(
                        g.eta_next_epoch.is_finite() || g.eta_next_epoch == f64::INFINITY,
                        "{g:?}"
                    );
                    assert!(t.samples_per_second() >= 0.0);
                    if g.eta_next_epoch.is_finite() {
                        let (low, high) = worst.get();
                        let ahead = g.eta_next_epoch - now;
                        worst.set((low.min(ahead), high.max(ahead)));
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    assert!(
        eventually(LONG, || all(&trackers, |t| t.global_epoch() >= 4
            && t.global_progress().num_peers == 3))
        .await,
        "{:?}",
        trackers
            .iter()
            .map(|t| t.global_progress())
            .collect::<Vec<_>>()
    );
    let three_epochs = from_epoch_one.elapsed();
    assert!(!checked.is_finished(), "a check failed");
    checked.abort();
    let (low, high) = worst.get();
    // ETAs stay near now: never far in the past (a fetch re-estimates at least every 0.5 s) nor
    // exploding (an epoch takes ~1 s).
    assert!(low > -5.0 && high < 60.0, "eta - now in [{low}, {high}]");
    let rejected = net.rejections().get(RejectionReason::ExpirationTooFar);
    assert!(rejected >= 1, "{:?}", net.rejections());
    assert!(net
        .record("skew_progress")
        .unwrap()
        .get(&far.peer_key())
        .is_none());
    println!(
        "FIGURES skew: peers at 0 / +5 / -5 s trained to epoch {} counting 3 peers (epochs 1 to \
         4 in {:.2} s; 400 samples at 480 samples/s take 0.83 s each); eta - now stayed in \
         [{low:.2}, {high:.2}] s; the +1 h peer's entries rejected {rejected} times \
         (expiration_too_far), never counted",
        trackers[0].global_epoch(),
        three_epochs.as_secs_f64()
    );
    for run in runs {
        run.abort();
    }
    for t in trackers.iter().chain([&far]) {
        let _ = t.shutdown(Duration::from_secs(5)).await;
    }
}
