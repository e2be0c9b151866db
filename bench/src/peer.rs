//! One peer of a process-mode benchmark (`swarm-progress-bench peer`, started by
//! [`super::process`]): a tracker with its own libp2p node on loopback TCP that trains like the
//! reference's worker and reports what it did.
//!
//! It talks to the parent in lines: on stdout one JSON [`PeerMessage`] per line (`ready` once
//! it sees the whole swarm, then `result`); on stdin `go <unix seconds>` (when the epoch phase
//! starts) and `stop` (shut down, storing a tombstone). EOF on stdin also stops it, so a dead
//! parent never leaves peers behind.

use std::io::{BufRead, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use swarm_progress::clock::{Clock, SystemClock};
use swarm_progress::dht::kademlia::KademliaPeer;
use swarm_progress::dht::node::{Multiaddr, NodeConfig};
use swarm_progress::identity::Identity;
use tokio::sync::mpsc;

use super::resources::{cpu_seconds, heap_use, peak_rss_mib, pss_mib, pss_mib_after_trim};
use super::{
    latency_phase, spawn_probe, start_err, BenchError, BenchOptions, Latencies, NodeCounters,
    ProbeStop,
};
use swarm_progress::simulation::{SimulatedTrainer, TrainerLog};
use swarm_progress::ProgressTracker;

/// What a peer tells its parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PeerMessage {
    /// The tracker runs and sees `peers_seen` peers (the whole swarm, unless setup timed out).
    Ready {
        /// Peers its tracker counts.
        peers_seen: u64,
    },
    /// The epoch phase (and for peer 0 the latency phase) is over.
    Result(Box<PeerResult>),
}

/// What one peer did and used; times are seconds since the common start of the epoch phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerResult {
    /// The peer's index.
    pub index: usize,
    /// `(epoch, samples, t)` of every report.
    pub reports: Vec<(u64, u64, f64)>,
    /// `(from, to, t)` of every transition.
    pub transitions: Vec<(u64, u64, f64)>,
    /// `(epoch, t)`: when the probe first saw it ready in that epoch.
    pub first_ready: Vec<(u64, f64)>,
    /// Length of its epoch phase, seconds.
    pub phase_s: f64,
    /// CPU seconds it used in the epoch phase.
    pub cpu_s: Option<f64>,
    /// Peak RSS, MiB.
    pub peak_rss_mib: Option<f64>,
    /// PSS at the end of the epoch phase, MiB.
    pub pss_mib: Option<f64>,
    /// Bytes in live heap allocations at the end of the epoch phase, MiB (glibc only).
    #[serde(default)]
    pub heap_in_use_mib: Option<f64>,
    /// Bytes the allocator held free at the same time, MiB (glibc only).
    #[serde(default)]
    pub heap_free_mib: Option<f64>,
    /// PSS once the allocator has handed its free pages back, MiB (glibc only; measured after
    /// the other figures).
    #[serde(default)]
    pub pss_after_trim_mib: Option<f64>,
    /// Its node's traffic and operations in the epoch phase.
    pub counters: NodeCounters,
    /// Peers its node had a connection with at the end of the epoch phase (each costs buffers:
    /// what a peer's memory grows with).
    #[serde(default)]
    pub connected_peers: Option<u64>,
    /// Peers in its node's routing table at the end of the epoch phase.
    #[serde(default)]
    pub routing_table_peers: Option<u64>,
    /// The latency phase (peer 0 only).
    pub latencies: Option<Latencies>,
}

/// The `Instant` at which the wall clock reads `unix` (the clock is shared by every process on
/// the machine, so all peers agree on it to the resolution of the clock).
pub(crate) fn instant_at_unix(unix: f64) -> Instant {
    let now = Instant::now();
    let ahead = unix - SystemClock.now();
    if ahead >= 0.0 {
        now + Duration::from_secs_f64(ahead)
    } else {
        now.checked_sub(Duration::from_secs_f64(-ahead))
            .unwrap_or(now)
    }
}

fn say(message: &PeerMessage) -> Result<(), BenchError> {
    let line = serde_json::to_string(message).map_err(|e| BenchError::Peer(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| BenchError::Peer(format!("parent gone: {e}")))
}

/// Lines from stdin, read on a thread; `None` at EOF.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Peer `index`'s trainer: the reference workload, its steps staggered across the period.
pub(crate) fn reference_trainer(options: &BenchOptions, index: usize) -> SimulatedTrainer {
    SimulatedTrainer {
        batch: options.batch_size,
        period: options.peer_period(index),
        start_epoch: 0,
        start_delay: options
            .period
            .mul_f64(index as f64 / options.peers.max(1) as f64),
    }
}

/// The epoch phase of peer `index`, from `start`: the reference trainer with its probe, and
/// what it did and used (without latencies), with the trainer's log.
pub(crate) async fn epoch_phase(
    index: usize,
    options: &BenchOptions,
    tracker: &Rc<ProgressTracker>,
    peer: &KademliaPeer,
    start: Instant,
) -> (PeerResult, TrainerLog) {
    tokio::time::sleep_until(start.into()).await;
    let node = peer.node();
    let nodes: Vec<_> = node.iter().cloned().collect();
    let bytes = || NodeCounters::read(&nodes);
    let cpu_before = cpu_seconds();
    let bytes_before = bytes();
    let stop_probe = Rc::new(ProbeStop::default());
    let probe = spawn_probe(vec![tracker.clone()], options.probe, stop_probe.clone());
    let log = reference_trainer(options, index)
        .run(tracker, u64::MAX, options.duration)
        .await;
    stop_probe.stop();
    let first_ready = probe.await.unwrap_or_default();
    let phase_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    let bytes_after = bytes();
    let pss = pss_mib();
    let heap = heap_use();
    let pss_after_trim = pss_mib_after_trim();
    let gauge = |read: fn(&swarm_progress::dht::node::NodeStats) -> &AtomicU64| {
        (!nodes.is_empty()).then(|| nodes.iter().map(|n| read(n.stats()).load(Relaxed)).sum())
    };
    let connected_peers = gauge(|s| &s.connected_peers);
    let routing_table_peers = gauge(|s| &s.routing_table_peers);

    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let result = PeerResult {
        index,
        reports: log
            .reports
            .iter()
            .map(|r| (r.epoch, r.samples, secs(r.at)))
            .collect(),
        transitions: log
            .transitions
            .iter()
            .map(|t| (t.from, t.to, secs(t.at)))
            .collect(),
        first_ready: first_ready
            .into_iter()
            .map(|((_, epoch), at)| (epoch, secs(at)))
            .collect(),
        phase_s,
        cpu_s,
        peak_rss_mib: peak_rss_mib(),
        pss_mib: pss,
        heap_in_use_mib: heap.map(|h| h.in_use_mib),
        heap_free_mib: heap.map(|h| h.free_mib),
        pss_after_trim_mib: pss_after_trim,
        counters: bytes_after.since(bytes_before),
        connected_peers,
        routing_table_peers,
        latencies: None,
    };
    (result, log)
}

/// Runs peer `index` of the swarm described by `options`, joining through `bootstrap`.
pub async fn run(
    index: usize,
    options: &BenchOptions,
    bootstrap: Multiaddr,
) -> Result<(), BenchError> {
    options.validate()?;
    let n = options.peers;
    let config = options.tracker_config();
    let identity = Arc::new(Identity::generate().map_err(|e| start_err(&e))?);
    let peer = KademliaPeer::new(
        identity.clone(),
        options.node_config(NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| start_err(&e))?],
            bootstrap: vec![bootstrap],
            ..NodeConfig::default()
        }),
        SystemClock::shared(),
    );
    let tracker = Rc::new(
        ProgressTracker::start(config.clone(), peer.clone())
            .await
            .map_err(|e| start_err(&e))?,
    );
    let mut commands = stdin_lines();
    let deadline = Instant::now() + options.setup_limit;
    while Instant::now() < deadline && (tracker.global_progress().num_peers as usize) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(&PeerMessage::Ready {
        peers_seen: tracker.global_progress().num_peers,
    })?;
    let start = loop {
        match commands.recv().await.as_deref().map(str::split_whitespace) {
            Some(mut words) => {
                if let (Some("go"), Some(at)) = (words.next(), words.next()) {
                    let at: f64 = at
                        .parse()
                        .map_err(|_| BenchError::Peer(format!("bad start time {at}")))?;
                    break instant_at_unix(at);
                }
            }
            None => {
                let _ = tracker.shutdown(Duration::from_secs(5)).await;
                return Err(BenchError::Peer("stdin closed before go".into()));
            }
        }
    };
    let (mut result, log) = epoch_phase(index, options, &tracker, &peer, start).await;
    let node = peer.node();

    // Peer 0 measures the DHT while the others keep training, once every peer's epoch phase is
    // over (they end up to one step after the common deadline): its hundreds of requests a
    // second must not land in their figures.
    let mut keep_training = None;
    let latencies = if index == 0 {
        let others_done = start + options.duration + options.period * 2;
        tokio::time::sleep_until(others_done.into()).await;
        match &node {
            Some(node) => Some(
                latency_phase(
                    &identity,
                    node,
                    &config.progress_key(),
                    options.latency_calls,
                    options.latency_limit,
                )
                .await,
            ),
            None => None,
        }
    } else {
        let trainer = SimulatedTrainer {
            start_epoch: log.final_epoch(0),
            start_delay: Duration::ZERO,
            ..reference_trainer(options, index)
        };
        let tracker = tracker.clone();
        let limit = options.latency_limit + Duration::from_secs(60);
        keep_training = Some(actix_rt::spawn(async move {
            trainer.run(&tracker, u64::MAX, limit).await;
        }));
        None
    };

    result.latencies = latencies;
    say(&PeerMessage::Result(Box::new(result)))?;

    // Until the parent says stop (or goes away), bounded.
    let _ = tokio::time::timeout(options.latency_limit + Duration::from_secs(120), async {
        while let Some(line) = commands.recv().await {
            if line.trim() == "stop" {
                break;
            }
        }
    })
    .await;
    if let Some(handle) = keep_training {
        handle.abort();
    }
    let _ = tracker.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
