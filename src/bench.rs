//! `swarm-progress bench`: the reference workload of `../shared/baseline` (N peers joined through
//! one seed node; each adds `batch_size` samples every `period` and moves to the next epoch when
//! its tracker says so), here in **scale mode**: every peer is a full tracker with its own libp2p
//! node, all in this process, over the in-memory transport (or loopback TCP).
//!
//! Measured as in the reference: complete epochs vs ideal; detection lag from each peer's step
//! loop and from a probe that polls `ready_to_update_epoch` every few milliseconds; spread;
//! overshoot; CPU seconds per minute per peer and peak RSS per peer (this process, divided by
//! N); then `get(latest)` and `store` latency from one peer with N entries in the record.

use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use swarm_progress_actors::clock::{Clock, SystemClock};
use swarm_progress_actors::config::TrackerConfig;
use swarm_progress_actors::dht::kademlia::KademliaPeer;
use swarm_progress_actors::dht::node::{Multiaddr, NodeConfig, NodeHandle};
use swarm_progress_actors::identity::Identity;
use swarm_progress_actors::progress::LocalProgress;
use swarm_progress_actors::records::SignedEntry;
use thiserror::Error;

use crate::simulation::{quantile, summarize, SimulatedTrainer, TrainerLog};
use crate::tracker::ProgressTracker;

/// The refresh presets of the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// min 0.1 / default 0.2 / max 0.5 s (hivemind's test).
    Fast,
    /// min 0.5 / default 3 / max 10 s (hivemind's defaults).
    Default,
}

impl Refresh {
    fn periods(self) -> (f64, f64, f64) {
        match self {
            Refresh::Fast => (0.1, 0.2, 0.5),
            Refresh::Default => (0.5, 3.0, 10.0),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Refresh::Fast => "fast",
            Refresh::Default => "default",
        }
    }
}

/// What the benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Peers (trackers with their own node).
    pub peers: usize,
    /// Refresh preset.
    pub refresh: Refresh,
    /// Samples per step.
    pub batch_size: u64,
    /// Time between steps.
    pub period: Duration,
    /// Length of the epoch phase.
    pub duration: Duration,
    /// Ideal epoch length: target = peers * batch / period * epoch_seconds.
    pub epoch_seconds: f64,
    /// Use loopback TCP instead of the in-memory transport.
    pub tcp: bool,
    /// Probe period.
    pub probe: Duration,
    /// Most calls of each kind in the latency phase.
    pub latency_calls: usize,
    /// Longest latency phase.
    pub latency_limit: Duration,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            peers: 4,
            refresh: Refresh::Fast,
            batch_size: 16,
            period: Duration::from_millis(250),
            duration: Duration::from_secs(40),
            epoch_seconds: 4.0,
            tcp: false,
            probe: Duration::from_millis(5),
            latency_calls: 300,
            latency_limit: Duration::from_secs(25),
        }
    }
}

/// Why the benchmark could not run.
#[derive(Debug, Error)]
pub enum BenchError {
    /// Impossible options.
    #[error("{0}")]
    Options(String),
    /// The swarm could not start.
    #[error("could not start the swarm: {0}")]
    Start(String),
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports in clock ticks of USER_HZ, 100 on every mainstream configuration.
    Some((utime + stime) / 100.0)
}

/// Peak resident set size of this process, MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn ms(values: &[f64], q: f64) -> Option<f64> {
    quantile(values, q).map(|v| v * 1000.0)
}

/// Runs the benchmark in this actix System; prints a markdown table and returns the figures as
/// JSON.
pub async fn run(
    options: BenchOptions,
    out: &mut dyn Write,
) -> Result<serde_json::Value, BenchError> {
    if options.peers == 0 || options.peers > 2000 {
        return Err(BenchError::Options(
            "--peers must be between 1 and 2000".into(),
        ));
    }
    if options.period.is_zero() || options.batch_size == 0 || options.duration.is_zero() {
        return Err(BenchError::Options(
            "--period-ms, --batch-size and --duration must be positive".into(),
        ));
    }
    let n = options.peers;
    let target = ((n as f64 * options.batch_size as f64 / options.period.as_secs_f64()
        * options.epoch_seconds) as u64)
        .max(1);
    let (min, default, max) = options.refresh.periods();
    let config = TrackerConfig {
        prefix: "bench".into(),
        target_batch_size: target,
        min_refresh_period: min,
        default_refresh_period: default,
        max_refresh_period: max,
        request_timeout: 10.0,
        ..TrackerConfig::default()
    };
    let start_err = |e: &dyn std::fmt::Display| BenchError::Start(e.to_string());
    let listen: Multiaddr = if options.tcp {
        "/ip4/127.0.0.1/tcp/0".parse().map_err(|e| start_err(&e))?
    } else {
        "/memory/0".parse().map_err(|e| start_err(&e))?
    };
    let node_config = |bootstrap: Vec<Multiaddr>| NodeConfig {
        listen: vec![listen.clone()],
        bootstrap,
        ..NodeConfig::default()
    };
    let seed = NodeHandle::start(
        &Identity::generate().map_err(|e| start_err(&e))?,
        node_config(vec![]),
        SystemClock::shared(),
    )
    .map_err(|e| start_err(&e))?;
    let seed_addr = loop {
        let info = seed.info().await.map_err(|e| start_err(&e))?;
        if let Some(addr) = info.listen_addrs.into_iter().next() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };

    let setup = Instant::now();
    let mut trackers = Vec::with_capacity(n);
    let mut peers = Vec::with_capacity(n);
    for _ in 0..n {
        let identity = Arc::new(Identity::generate().map_err(|e| start_err(&e))?);
        let peer = KademliaPeer::new(
            identity.clone(),
            node_config(vec![seed_addr.clone()]),
            SystemClock::shared(),
        );
        let tracker = ProgressTracker::start(config.clone(), peer.clone())
            .await
            .map_err(|e| start_err(&e))?;
        trackers.push(Rc::new(tracker));
        peers.push((identity, peer));
    }
    // Wait until every tracker sees the whole swarm (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && trackers
            .iter()
            .any(|t| (t.global_progress().num_peers as usize) < n)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup_seconds = setup.elapsed().as_secs_f64();

    // Epoch phase.
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let probe_stop = Rc::new(std::cell::Cell::new(false));
    let probe = {
        let trackers = trackers.clone();
        let stop = probe_stop.clone();
        let period = options.probe;
        actix_rt::spawn(async move {
            let mut first_ready: HashMap<(usize, u64), Instant> = HashMap::new();
            while !stop.get() {
                for (i, t) in trackers.iter().enumerate() {
                    if t.ready_to_update_epoch() {
                        first_ready
                            .entry((i, t.local_progress().epoch))
                            .or_insert_with(Instant::now);
                    }
                }
                tokio::time::sleep(period).await;
            }
            first_ready
        })
    };
    let mut runs = Vec::with_capacity(n);
    for (i, tracker) in trackers.iter().enumerate() {
        let trainer = SimulatedTrainer {
            batch: options.batch_size,
            period: options.period,
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
    probe_stop.set(true);
    let first_ready = probe.await.unwrap_or_default();
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);

    // Figures of the complete epochs (every peer left them).
    let epochs = summarize(&logs, target, start);
    let complete: Vec<_> = epochs.iter().filter(|e| e.peers == n).collect();
    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut lags = Vec::new();
    let mut probe_lags = Vec::new();
    let mut spreads = Vec::new();
    let mut overshoots = Vec::new();
    for e in &complete {
        let Some(crossed) = e.crossed_at else {
            continue;
        };
        lags.extend(&e.lags);
        overshoots.push(e.overshoot(target));
        let exits: Vec<f64> = logs
            .iter()
            .filter_map(|l| l.transitions.iter().find(|t| t.from == e.epoch))
            .map(|t| secs(t.at))
            .collect();
        if let (Some(first), Some(last)) = (quantile(&exits, 0.0), quantile(&exits, 1.0)) {
            spreads.push(last - first);
        }
        for peer in 0..n {
            if let Some(at) = first_ready.get(&(peer, e.epoch)) {
                probe_lags.push(secs(*at) - crossed);
            }
        }
    }

    // Latency phase: peer 0 gets (latest) and stores its entry, sequentially.
    let (identity, peer) = &peers[0];
    let node = peer.node();
    let key = config.progress_key();
    let mut gets = Vec::new();
    let mut stores = Vec::new();
    let mut seen_entries = 0;
    if let Some(node) = node {
        let phase = Instant::now();
        while gets.len() < options.latency_calls && phase.elapsed() < options.latency_limit {
            let t = Instant::now();
            if let Ok(Some(record)) = node.get(key.clone(), true).await {
                seen_entries = record.len();
            }
            gets.push(t.elapsed().as_secs_f64());
            let now = SystemClock.now();
            let value = LocalProgress {
                peer_id: identity.peer_id(),
                epoch: 0,
                samples_accumulated: 0,
                samples_per_second: 0.0,
                time: now,
                client_mode: false,
            };
            if let Ok(entry) = SignedEntry::sign(identity, &key, Some(&value), now + 60.0) {
                let t = Instant::now();
                let _ = node.store(key.clone(), identity.public_key(), entry).await;
                stores.push(t.elapsed().as_secs_f64());
            }
        }
    }

    for tracker in &trackers {
        let _ = tracker.shutdown(Duration::from_secs(5)).await;
    }
    seed.stop();

    let ideal = options.duration.as_secs_f64() / options.epoch_seconds;
    let cpu_per_min_per_peer = cpu.map(|c| c / n as f64 / (elapsed / 60.0));
    let rss_per_peer = peak_rss_mib().map(|r| r / n as f64);
    let report = json!({
        "mode": "scale",
        "transport": if options.tcp { "tcp" } else { "memory" },
        "peers": n,
        "refresh": options.refresh.name(),
        "batch_size": options.batch_size,
        "period_s": options.period.as_secs_f64(),
        "target_batch_size": target,
        "duration_s": elapsed,
        "setup_s": setup_seconds,
        "complete_epochs": complete.len(),
        "ideal_epochs": ideal,
        "lag_s": {"p50": quantile(&lags, 0.5), "p95": quantile(&lags, 0.95), "max": quantile(&lags, 1.0), "n": lags.len()},
        "probe_lag_s": {"p50": quantile(&probe_lags, 0.5), "p95": quantile(&probe_lags, 0.95), "max": quantile(&probe_lags, 1.0), "n": probe_lags.len()},
        "spread_s": {"p50": quantile(&spreads, 0.5), "max": quantile(&spreads, 1.0)},
        "overshoot": {"p50": quantile(&overshoots, 0.5), "max": quantile(&overshoots, 1.0)},
        "cpu_s_per_min_per_peer": cpu_per_min_per_peer,
        "peak_rss_mib_per_peer": rss_per_peer,
        "get_latest_ms": {"p50": ms(&gets, 0.5), "p95": ms(&gets, 0.95), "calls": gets.len(), "entries_seen": seen_entries},
        "store_ms": {"p50": ms(&stores, 0.5), "p95": ms(&stores, 0.95), "calls": stores.len()},
    });

    let f = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    let _ = writeln!(
        out,
        "| mode | N | refresh | load (batch/period) | epochs / ideal | lag p50 / p95 / max s | probe lag p50 / p95 s | spread p50 s | overshoot p50 / max | CPU s/min/peer | peak RSS MiB/peer | get p50 / p95 ms | store p50 / p95 ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| scale ({}) | {n} | {} | {} / {:.2} s | {} / {:.1} | {} / {} / {} | {} / {} | {} | {} / {} | {} | {} | {} / {} | {} / {} |",
        if options.tcp { "tcp" } else { "memory" },
        options.refresh.name(),
        options.batch_size,
        options.period.as_secs_f64(),
        complete.len(),
        ideal,
        f(quantile(&lags, 0.5)),
        f(quantile(&lags, 0.95)),
        f(quantile(&lags, 1.0)),
        f(quantile(&probe_lags, 0.5)),
        f(quantile(&probe_lags, 0.95)),
        f(quantile(&spreads, 0.5)),
        f(quantile(&overshoots, 0.5)),
        f(quantile(&overshoots, 1.0)),
        f(cpu_per_min_per_peer),
        f(rss_per_peer),
        f(ms(&gets, 0.5)),
        f(ms(&gets, 0.95)),
        f(ms(&stores, 0.5)),
        f(ms(&stores, 0.95)),
    );
    Ok(report)
}
