//! `swarm-progress demo`: a local collaboration on 127.0.0.1. Several simulated trainers of
//! different speeds, each a full tracker with its own libp2p node, join through one seed node,
//! run a few epochs while the progress is shown live, and a per-epoch summary is printed.

use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_progress::clock::{Clock, SystemClock};
use swarm_progress::config::{Protocol, TrackerConfig};
use swarm_progress::dht::kademlia::KademliaPeer;
use swarm_progress::dht::node::{NodeConfig, NodeHandle};
use swarm_progress::identity::Identity;
use thiserror::Error;

use crate::observability::{serve, Observed};
use swarm_progress::simulation::{quantile, summarize, EpochSummary, SimulatedTrainer, TrainerLog};
use swarm_progress::ProgressTracker;

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated trainers.
    pub peers: usize,
    /// Epochs to complete.
    pub epochs: u64,
    /// Samples per epoch; default: about `epoch_seconds` of the swarm's combined speed.
    pub target_batch_size: Option<u64>,
    /// Samples per step.
    pub batch_size: u64,
    /// Step period of the fastest trainer (others are 1.5x and 2x slower, in turn).
    pub period: Duration,
    /// Intended epoch length when the target is derived.
    pub epoch_seconds: f64,
    /// Print the live progress lines.
    pub live: bool,
    /// Give up after this long; `None`: [`default_timeout`] of the epochs asked for.
    pub timeout: Option<Duration>,
    /// `host:port` for `/metrics`, `/status`, `/healthz` of the first trainer; `None` disables.
    pub http: Option<String>,
    /// How the trainers' entries travel.
    pub protocol: Protocol,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            peers: 6,
            epochs: 3,
            target_batch_size: None,
            batch_size: 16,
            period: Duration::from_millis(100),
            epoch_seconds: 3.0,
            live: true,
            timeout: None,
            http: Some("127.0.0.1:0".into()),
            protocol: Protocol::default(),
        }
    }
}

/// Why the demo failed.
#[derive(Debug, Error)]
pub enum DemoError {
    /// Impossible options.
    #[error("{0}")]
    Options(String),
    /// A node or tracker could not start.
    #[error("could not start the swarm: {0}")]
    Start(String),
    /// The swarm did not finish its epochs in time.
    #[error("the swarm did not finish {epochs} epochs within {timeout:?}")]
    Timeout {
        /// Epochs asked for.
        epochs: u64,
        /// The time limit.
        timeout: Duration,
    },
}

/// The outcome of a demo run.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The target batch size used.
    pub target_batch_size: u64,
    /// Per-epoch figures.
    pub epochs: Vec<EpochSummary>,
}

/// The time limit when none is given: a minute to start and stop, plus three times the
/// expected length of the epochs asked for (`target` samples at the swarm's `speed`), and never
/// under two minutes. 3 epochs of the default demo: 2 minutes; 100 epochs: 16 minutes.
pub fn default_timeout(epochs: u64, target: u64, speed: f64) -> Duration {
    let epoch_s = target as f64 / speed.max(f64::MIN_POSITIVE);
    let limit = 60.0 + 3.0 * epochs as f64 * epoch_s;
    Duration::try_from_secs_f64(limit.max(120.0)).unwrap_or(Duration::MAX)
}

fn step_period(options: &DemoOptions, peer: usize) -> Duration {
    options.period.mul_f64([1.0, 1.5, 2.0][peer % 3])
}

/// Runs the demo inside the current actix System.
pub async fn run(options: DemoOptions, out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    if options.peers == 0 || options.peers > 64 {
        return Err(DemoError::Options(
            "--peers must be between 1 and 64".into(),
        ));
    }
    if options.epochs == 0 || options.batch_size == 0 || options.period.is_zero() {
        return Err(DemoError::Options(
            "--epochs, --batch-size and --period-ms must be at least 1".into(),
        ));
    }
    if let Some(bind) = &options.http {
        bind.parse::<std::net::SocketAddr>()
            .map_err(|e| DemoError::Options(format!("--http {bind:?} is not host:port: {e}")))?;
    }
    let speed: f64 = (0..options.peers)
        .map(|i| options.batch_size as f64 / step_period(&options, i).as_secs_f64())
        .sum();
    let target = options
        .target_batch_size
        .unwrap_or(((speed * options.epoch_seconds) as u64).max(1));
    let timeout = options
        .timeout
        .unwrap_or_else(|| default_timeout(options.epochs, target, speed));
    let config = TrackerConfig {
        prefix: "demo".into(),
        target_batch_size: target,
        min_refresh_period: 0.1,
        default_refresh_period: 0.2,
        max_refresh_period: 0.5,
        request_timeout: 5.0,
        protocol: options.protocol,
        ..TrackerConfig::default()
    };
    config
        .validate()
        .map_err(|e| DemoError::Options(e.to_string()))?;

    let start_err = |e: &dyn std::fmt::Display| DemoError::Start(e.to_string());
    let seed_identity = Identity::generate().map_err(|e| start_err(&e))?;
    let seed = NodeHandle::start(&seed_identity, NodeConfig::default(), SystemClock::shared())
        .map_err(|e| start_err(&e))?;
    let seed_addr = loop {
        let info = seed.info().await.map_err(|e| start_err(&e))?;
        if let Some(addr) = info.listen_addrs.into_iter().next() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _ = writeln!(
        out,
        "seed node {seed_addr}\n{} trainers, target {target} samples per epoch, {} epochs",
        options.peers, options.epochs
    );

    let mut trackers = Vec::new();
    let mut first_peer = None;
    for _ in 0..options.peers {
        let identity = Arc::new(Identity::generate().map_err(|e| start_err(&e))?);
        let node = NodeConfig {
            bootstrap: vec![seed_addr.clone()],
            request_timeout: Duration::from_secs(5),
            ..NodeConfig::default()
        };
        let peer = KademliaPeer::new(identity, node, SystemClock::shared());
        first_peer.get_or_insert_with(|| peer.clone());
        let tracker = ProgressTracker::start(config.clone(), peer)
            .await
            .map_err(|e| start_err(&e))?;
        trackers.push(Rc::new(tracker));
    }

    let mut http = None;
    if let (Some(bind), Some(peer)) = (&options.http, &first_peer) {
        let node = loop {
            if let Some(node) = peer.node() {
                break node;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let observed = Observed {
            node,
            tracker: Some(trackers[0].observer()),
        };
        let (handle, addrs) = serve(bind, observed).map_err(|e| start_err(&e))?;
        for addr in addrs {
            let _ = writeln!(out, "first trainer's metrics and status on http://{addr}");
        }
        http = Some(handle);
    }

    let start = Instant::now();
    let mut runs = Vec::new();
    for (i, tracker) in trackers.iter().enumerate() {
        let trainer = SimulatedTrainer {
            batch: options.batch_size,
            period: step_period(&options, i),
            start_epoch: 0,
            start_delay: Duration::ZERO,
        };
        let tracker = tracker.clone();
        let (epochs, limit) = (options.epochs, timeout);
        runs.push(actix_rt::spawn(async move {
            trainer.run(&tracker, epochs, limit).await
        }));
    }

    let mut last_line = Instant::now() - Duration::from_secs(1);
    while runs.iter().any(|r| !r.is_finished()) {
        if options.live && last_line.elapsed() >= Duration::from_millis(500) {
            last_line = Instant::now();
            let g = trackers[0].global_progress();
            let speed: f64 = trackers.iter().map(|t| t.samples_per_second()).sum();
            let eta = (g.eta_next_epoch - SystemClock.now()).max(0.0);
            let _ = writeln!(
                out,
                "[{:6.1}s] epoch {:>3} | {:>6}/{} samples | {} peers, {} clients | {:>7.0} samples/s | eta {}",
                start.elapsed().as_secs_f64(),
                g.epoch,
                g.samples_accumulated,
                g.target_batch_size,
                g.num_peers,
                g.num_clients,
                speed,
                // Alone at the start the ETA is astronomically far (speed ~0): show it as unknown.
                if eta < 1e6 { format!("{eta:.1}s") } else { "-".into() },
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut logs: Vec<TrainerLog> = Vec::new();
    for run in runs {
        logs.push(run.await.unwrap_or_default());
    }
    // Every tracker leaves at once, then the seed: each tombstone is stored while the other
    // nodes (its replicas) still run. One after another, the last ones found their replicas
    // already gone and warned that the tombstone was not stored.
    let leaving: Vec<_> = trackers
        .iter()
        .map(|tracker| {
            let tracker = tracker.clone();
            actix_rt::spawn(async move { tracker.shutdown(Duration::from_secs(5)).await })
        })
        .collect();
    for left in leaving {
        let _ = left.await;
    }
    seed.stop();
    if let Some(http) = http {
        http.stop(true).await;
    }

    let done = logs.iter().all(|l| l.final_epoch(0) >= options.epochs);
    let report = DemoReport {
        target_batch_size: target,
        epochs: summarize(&logs, target, start),
    };
    print_summary(&report, out);
    if !done {
        return Err(DemoError::Timeout {
            epochs: options.epochs,
            timeout,
        });
    }
    Ok(report)
}

/// Prints the per-epoch table.
pub fn print_summary(report: &DemoReport, out: &mut dyn Write) {
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    let _ = writeln!(
        out,
        "\nsummary (target {} samples)",
        report.target_batch_size
    );
    let _ = writeln!(
        out,
        "| epoch | duration s | peers | samples at transition | overshoot | lag p50 s | lag max s | lag per peer s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for e in &report.epochs {
        let per_peer: Vec<String> = e.lags.iter().map(|l| format!("{l:+.2}")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:+.1}% | {} | {} | {} |",
            e.epoch,
            fmt(e.duration),
            e.peers,
            e.samples,
            e.overshoot(report.target_batch_size) * 100.0,
            fmt(quantile(&e.lags, 0.5)),
            fmt(quantile(&e.lags, 1.0)),
            if per_peer.is_empty() {
                "-".into()
            } else {
                per_peer.join(" ")
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_time_limit_follows_the_epochs_asked_for() {
        // The default demo: 3 s epochs.
        assert_eq!(default_timeout(3, 3000, 1000.0), Duration::from_secs(120));
        assert_eq!(default_timeout(100, 3000, 1000.0), Duration::from_secs(960));
        assert!(default_timeout(100, 3000, 1000.0) > default_timeout(50, 3000, 1000.0));
        // No speed at all: no overflow, no panic.
        assert_eq!(default_timeout(5, 10, 0.0), Duration::MAX);
    }
}
