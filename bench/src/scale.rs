//! Scale mode: every peer is a full tracker with its own libp2p node, all in this process, over
//! the in-memory transport (or loopback TCP). CPU and memory are this process's, divided by N;
//! bytes are summed over the peers' nodes (the seed's excluded).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_progress::clock::SystemClock;
use swarm_progress::dht::kademlia::KademliaPeer;
use swarm_progress::dht::node::{Multiaddr, NodeConfig, NodeHandle};
use swarm_progress::dht::threads::NodeThreads;
use swarm_progress::identity::Identity;

use super::figures::{swarm_figures, PeerRun, PerPeer, Report};
use super::resources::{cpu_seconds, peak_rss_mib, pss_mib};
use super::{
    latency_phase, spawn_probe, start_err, BenchError, BenchOptions, NodeCounters, ProbeStop,
};
use swarm_progress::simulation::{SimulatedTrainer, TrainerLog};
use swarm_progress::ProgressTracker;

/// Waits until `node` listens somewhere and returns that address.
pub(crate) async fn first_listen_addr(node: &NodeHandle) -> Result<Multiaddr, BenchError> {
    loop {
        let info = node.info().await.map_err(|e| start_err(&e))?;
        if let Some(addr) = info.listen_addrs.into_iter().next() {
            return Ok(addr);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs scale mode.
pub async fn run(options: &BenchOptions, tcp: bool) -> Result<Report, BenchError> {
    let n = options.peers;
    let config = options.tracker_config();
    let target = config.target_batch_size;
    let listen: Multiaddr = if tcp {
        "/ip4/127.0.0.1/tcp/0".parse().map_err(|e| start_err(&e))?
    } else {
        "/memory/0".parse().map_err(|e| start_err(&e))?
    };
    let node_config = |bootstrap: Vec<Multiaddr>| {
        options.node_config(NodeConfig {
            listen: vec![listen.clone()],
            bootstrap,
            ..NodeConfig::default()
        })
    };
    let seed = NodeHandle::start(
        &Identity::generate().map_err(|e| start_err(&e))?,
        node_config(vec![]),
        SystemClock::shared(),
    )
    .map_err(|e| start_err(&e))?;
    let seed_addr = first_listen_addr(&seed).await?;

    let threads = match options.node_threads {
        0 => None,
        k => Some(NodeThreads::new(k).map_err(|e| start_err(&e))?),
    };
    let setup = Instant::now();
    let mut trackers = Vec::with_capacity(n);
    let mut peers = Vec::with_capacity(n);
    for _ in 0..n {
        let identity = Arc::new(Identity::generate().map_err(|e| start_err(&e))?);
        let mut peer = KademliaPeer::new(
            identity.clone(),
            node_config(vec![seed_addr.clone()]),
            SystemClock::shared(),
        );
        if let Some(threads) = &threads {
            peer = peer.with_threads(threads.clone());
        }
        let tracker = ProgressTracker::start(config.clone(), peer.clone())
            .await
            .map_err(|e| start_err(&e))?;
        trackers.push(Rc::new(tracker));
        peers.push((identity, peer));
    }
    // Wait until every tracker sees the whole swarm (bounded).
    let deadline = Instant::now() + options.setup_limit;
    while Instant::now() < deadline
        && trackers
            .iter()
            .any(|t| (t.global_progress().num_peers as usize) < n)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup_seconds = setup.elapsed().as_secs_f64();
    let nodes: Vec<NodeHandle> = peers.iter().filter_map(|(_, p)| p.node()).collect();

    // Epoch phase.
    let cpu_before = cpu_seconds();
    let counters_before = NodeCounters::read(&nodes);
    let bytes_of = |n: &NodeHandle| {
        let c = NodeCounters::read(std::slice::from_ref(n));
        c.bytes_in + c.bytes_out
    };
    let bytes_before: Vec<u64> = nodes.iter().map(bytes_of).collect();
    let start = Instant::now();
    let probe_stop = Rc::new(ProbeStop::default());
    let probe = spawn_probe(trackers.clone(), options.probe, probe_stop.clone());
    let mut runs = Vec::with_capacity(n);
    for (i, tracker) in trackers.iter().enumerate() {
        let trainer = SimulatedTrainer {
            batch: options.batch_size,
            period: options.peer_period(i),
            start_epoch: 0,
            start_delay: options.period.mul_f64(i as f64 / n as f64),
        };
        let tracker = tracker.clone();
        let limit = options.duration;
        runs.push(actix_rt::spawn(async move {
            trainer.run(&tracker, u64::MAX, limit).await
        }));
    }
    let mut logs: Vec<TrainerLog> = Vec::with_capacity(n);
    for run in runs {
        logs.push(run.await.unwrap_or_default());
    }
    probe_stop.stop();
    let first_ready = probe.await.unwrap_or_default();
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    let counters = NodeCounters::read(&nodes).since(counters_before);
    let peer_bytes: Vec<u64> = nodes
        .iter()
        .zip(&bytes_before)
        .map(|(n, before)| bytes_of(n).saturating_sub(*before))
        .collect();
    let pss = pss_mib();

    let mut ready_by_peer: Vec<HashMap<u64, Instant>> = vec![HashMap::new(); n];
    for ((peer, epoch), at) in first_ready {
        ready_by_peer[peer].insert(epoch, at);
    }
    let runs: Vec<PeerRun> = logs
        .into_iter()
        .zip(ready_by_peer)
        .map(|(log, first_ready)| PeerRun { log, first_ready })
        .collect();
    let swarm = swarm_figures(&runs, target, start);

    // Latency phase: peer 0 gets (latest) and stores its entry, sequentially.
    let (identity, peer) = &peers[0];
    let latencies = match peer.node() {
        Some(node) => {
            latency_phase(
                identity,
                &node,
                &config.progress_key(),
                options.latency_calls,
                options.latency_limit,
            )
            .await
        }
        None => Default::default(),
    };

    // All at once: one by one, a saturated swarm of 1,000 took over an hour to stop.
    futures::future::join_all(
        trackers
            .iter()
            .map(|tracker| tracker.shutdown(Duration::from_secs(5))),
    )
    .await;
    seed.stop();

    let minutes = elapsed / 60.0;
    let per_peer = PerPeer {
        cpu_s_per_min: cpu.map(|c| c / n as f64 / minutes),
        cpu_s_per_min_max: None,
        peak_rss_mib: peak_rss_mib().map(|r| r / n as f64),
        pss_mib: pss.map(|p| p / n as f64),
        ..PerPeer::default()
    }
    .with_counters(&counters, n, elapsed)
    .with_peer_bytes(&peer_bytes, elapsed);
    Ok(Report::new(
        options,
        setup_seconds,
        elapsed,
        swarm,
        per_peer,
        &latencies,
    ))
}
