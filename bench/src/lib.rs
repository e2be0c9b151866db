//! `swarm-progress-bench run`: the reference workload of `../shared/baseline` (N peers joined through
//! one seed node; each adds `batch_size` samples every `period` and moves to the next epoch when
//! its tracker says so), in two modes:
//!
//! - **scale** ([`scale`]): every peer is a full tracker with its own libp2p node, all in this
//!   process, over the in-memory transport (or loopback TCP);
//! - **process** ([`process`]): every peer is its own OS process (`swarm-progress-bench peer`,
//!   [`peer`]) on loopback TCP, as in the reference.
//!
//! Measured as in the reference ([`figures`]): complete epochs vs ideal; detection lag from each
//! peer's step loop and from a probe that polls `ready_to_update_epoch` every few milliseconds;
//! spread; overshoot; CPU seconds per minute per peer, peak RSS and PSS per peer
//! ([`resources`]); bytes sent and received per peer per minute (counted on every connection by
//! the node); then `get(latest)` and `store` latency from peer 0 with N entries in the record
//! while the others keep training.

pub mod figures;
pub mod peer;
pub mod process;
pub mod resources;
pub mod scale;
pub mod shadow;
pub mod standalone;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use swarm_progress::clock::{Clock, SystemClock};
use swarm_progress::config::{Protocol, TrackerConfig};
use swarm_progress::dht::node::{NodeConfig, NodeHandle};
use swarm_progress::identity::Identity;
use swarm_progress::progress::LocalProgress;
use swarm_progress::records::SignedEntry;
use thiserror::Error;

use swarm_progress::ProgressTracker;

pub use figures::Report;

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

    /// The preset's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Refresh::Fast => "fast",
            Refresh::Default => "default",
        }
    }

    /// Parses a preset name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fast" => Some(Refresh::Fast),
            "default" => Some(Refresh::Default),
            _ => None,
        }
    }
}

/// Where the peers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All peers in this process; `tcp` selects loopback TCP over the in-memory transport.
    Scale {
        /// Loopback TCP instead of `/memory`.
        tcp: bool,
    },
    /// One OS process per peer, loopback TCP.
    Process,
    /// Standalone peers, each started on its own (under Shadow, or on separate hosts) and
    /// collected from their result files.
    Standalone,
}

impl Mode {
    /// The mode as printed in the table.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Scale { tcp: false } => "scale (memory)",
            Mode::Scale { tcp: true } => "scale (tcp)",
            Mode::Process => "process (tcp)",
            Mode::Standalone => "standalone (tcp)",
        }
    }
}

/// What the benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Peers (trackers with their own node).
    pub peers: usize,
    /// Scale or process mode.
    pub mode: Mode,
    /// Refresh preset.
    pub refresh: Refresh,
    /// How entries travel (v1 or v2).
    pub protocol: Protocol,
    /// Samples per step.
    pub batch_size: u64,
    /// Time between steps.
    pub period: Duration,
    /// Length of the epoch phase.
    pub duration: Duration,
    /// Ideal epoch length: target = peers * batch / period * epoch_seconds.
    pub epoch_seconds: f64,
    /// The probe's longest wait between checks (it also wakes on state changes and at the ETA).
    pub probe: Duration,
    /// Most calls of each kind in the latency phase.
    pub latency_calls: usize,
    /// Longest latency phase.
    pub latency_limit: Duration,
    /// Longest wait for the swarm to assemble before the epoch phase.
    pub setup_limit: Duration,
    /// Scale mode: the peers' nodes share this many threads (0: a thread per node).
    pub node_threads: usize,
    /// Spread of the peers' speeds, as the reference's `--rate-spread`: peer i steps every
    /// `period * (1 + rate_spread * (2i / (N - 1) - 1))`; 0 = all peers equal. In [0, 1).
    pub rate_spread: f64,
    /// How long the peers' nodes keep an idle connection (`None`: the node's default).
    pub idle_timeout: Option<Duration>,
    /// How many replicas' copies a read waits for (`None`: the node's default, 3).
    pub read_quorum: Option<usize>,
    /// How often a process or standalone peer trims its heap (`None`: never).
    pub heap_trim: Option<Duration>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            peers: 4,
            mode: Mode::Scale { tcp: false },
            refresh: Refresh::Fast,
            protocol: Protocol::V1,
            batch_size: 16,
            period: Duration::from_millis(250),
            duration: Duration::from_secs(40),
            epoch_seconds: 4.0,
            probe: Duration::from_millis(1000),
            latency_calls: 300,
            latency_limit: Duration::from_secs(25),
            setup_limit: Duration::from_secs(120),
            node_threads: 0,
            rate_spread: 0.0,
            idle_timeout: None,
            read_quorum: None,
            heap_trim: Some(swarm_progress::heap_trim::DEFAULT_HEAP_TRIM_PERIOD),
        }
    }
}

impl BenchOptions {
    /// `config` with the options that concern every peer's node applied.
    pub fn node_config(&self, config: NodeConfig) -> NodeConfig {
        NodeConfig {
            idle_connection_timeout: self.idle_timeout.unwrap_or(config.idle_connection_timeout),
            read_quorum: self.read_quorum.unwrap_or(config.read_quorum),
            ..config
        }
    }

    /// Checks the options; the message names the flag.
    pub fn validate(&self) -> Result<(), BenchError> {
        let max = match self.mode {
            Mode::Process => 256,
            Mode::Scale { .. } => 2000,
            // Each peer only needs N for the target; Shadow runs go past 10,000.
            Mode::Standalone => 1_000_000,
        };
        if self.peers == 0 || self.peers > max {
            return Err(BenchError::Options(format!(
                "--peers must be between 1 and {max} in this mode"
            )));
        }
        if self.period.is_zero() || self.batch_size == 0 {
            return Err(BenchError::Options(
                "--period-ms and --batch-size must be positive".into(),
            ));
        }
        if self.duration.is_zero() || self.latency_limit.is_zero() || self.probe.is_zero() {
            return Err(BenchError::Options(
                "--duration, --latency-limit and --probe-ms must be positive".into(),
            ));
        }
        if !(self.epoch_seconds.is_finite() && self.epoch_seconds > 0.0) {
            return Err(BenchError::Options(
                "--epoch-seconds must be positive".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.rate_spread) {
            return Err(BenchError::Options(
                "--rate-spread must be at least 0 and below 1".into(),
            ));
        }
        Ok(())
    }

    /// Peer `index`'s step period: `period` spread by `rate_spread` (the reference's formula);
    /// the target keeps the nominal `period`, as in the reference.
    pub fn peer_period(&self, index: usize) -> Duration {
        if self.peers < 2 || self.rate_spread == 0.0 {
            return self.period;
        }
        let position = 2.0 * index as f64 / (self.peers - 1) as f64 - 1.0;
        self.period.mul_f64(1.0 + self.rate_spread * position)
    }

    /// The swarm's target: `peers * batch / period * epoch_seconds`.
    pub fn target(&self) -> u64 {
        ((self.peers as f64 * self.batch_size as f64 / self.period.as_secs_f64()
            * self.epoch_seconds) as u64)
            .max(1)
    }

    /// The tracker configuration every peer uses.
    pub fn tracker_config(&self) -> TrackerConfig {
        let (min, default, max) = self.refresh.periods();
        TrackerConfig {
            prefix: "bench".into(),
            target_batch_size: self.target(),
            min_refresh_period: min,
            default_refresh_period: default,
            max_refresh_period: max,
            request_timeout: 10.0,
            protocol: self.protocol,
            ..TrackerConfig::default()
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
    /// A peer process misbehaved (died, spoke nonsense, timed out).
    #[error("peer process: {0}")]
    Peer(String),
    /// The figures could not be written.
    #[error("cannot write the figures: {0}")]
    Output(String),
}

impl BenchError {
    /// The process exit code for this error: 2 for impossible options, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Options(_) => 2,
            _ => 1,
        }
    }
}

pub(crate) fn start_err(e: &dyn std::fmt::Display) -> BenchError {
    BenchError::Start(e.to_string())
}

/// Runs the benchmark in this actix System.
pub async fn run(options: BenchOptions) -> Result<Report, BenchError> {
    options.validate()?;
    match options.mode {
        Mode::Scale { tcp } => scale::run(&options, tcp).await,
        Mode::Process => process::run(&options).await,
        Mode::Standalone => Err(BenchError::Options(
            "standalone peers run one by one (`standalone`) and are collected (`collect`)".into(),
        )),
    }
}

/// Tells the probe to stop: at once, not at its next periodic check.
#[derive(Default)]
pub(crate) struct ProbeStop {
    stopped: Cell<bool>,
    notify: tokio::sync::Notify,
}

impl ProbeStop {
    /// Stops every probe task.
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        self.notify.notify_waiters();
    }
}

/// Watches every tracker's `ready_to_update_epoch` until `stop` is set; returns when each
/// (tracker, local epoch) was first seen ready.
///
/// Readiness changes only when the tracker's state changes (a fetch, a report, an epoch change)
/// or when the clock passes the ETA, so each tracker's probe wakes on exactly those: on every
/// state change, at the ETA, and at least every `period` as a safety net. That is as precise as
/// polling every few milliseconds without the cost (a 5 ms poll alone was ~0.1 CPU-s/min per
/// peer, half of the CPU budget this benchmark checks).
pub(crate) fn spawn_probe(
    trackers: Vec<Rc<ProgressTracker>>,
    period: Duration,
    stop: Rc<ProbeStop>,
) -> tokio::task::JoinHandle<HashMap<(usize, u64), Instant>> {
    let probes: Vec<_> = trackers
        .into_iter()
        .enumerate()
        .map(|(i, tracker)| {
            let stop = stop.clone();
            actix_rt::spawn(async move {
                let mut first_ready: HashMap<(usize, u64), Instant> = HashMap::new();
                let mut changes = tracker.subscribe_state();
                while !stop.stopped.get() {
                    let epoch = tracker.local_progress().epoch;
                    let mut wait = period;
                    if tracker.ready_to_update_epoch() {
                        first_ready.entry((i, epoch)).or_insert_with(Instant::now);
                    } else {
                        let eta = tracker.estimated_next_update_time() - SystemClock.now();
                        // Just past the ETA, so the next check sees it passed.
                        let until_eta = eta + 0.000_5;
                        if until_eta >= 0.0 && until_eta < wait.as_secs_f64() {
                            wait = Duration::from_secs_f64(until_eta);
                        }
                    }
                    tokio::select! {
                        changed = changes.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                        () = tokio::time::sleep(wait) => {}
                        () = stop.notify.notified() => break,
                    }
                }
                first_ready
            })
        })
        .collect();
    actix_rt::spawn(async move {
        let mut all = HashMap::new();
        for probe in probes {
            all.extend(probe.await.unwrap_or_default());
        }
        all
    })
}

/// Latencies of the latency phase, seconds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Latencies {
    /// Each `get(latest)`.
    pub gets: Vec<f64>,
    /// Each `store`.
    pub stores: Vec<f64>,
    /// Entries in the last record read.
    pub entries_seen: usize,
}

/// The latency phase: sequential `get(latest)` + `store` of `identity`'s entry through `node`,
/// at most `calls` of each, for at most `limit`.
pub(crate) async fn latency_phase(
    identity: &Identity,
    node: &NodeHandle,
    key: &str,
    calls: usize,
    limit: Duration,
) -> Latencies {
    let mut out = Latencies::default();
    let phase = Instant::now();
    while out.gets.len() < calls && phase.elapsed() < limit {
        let t = Instant::now();
        if let Ok(Some(record)) = node.get(key.to_owned(), true).await {
            out.entries_seen = record.len();
        }
        out.gets.push(t.elapsed().as_secs_f64());
        let now = SystemClock.now();
        let value = LocalProgress {
            peer_id: identity.peer_id(),
            epoch: 0,
            samples_accumulated: 0,
            samples_per_second: 0.0,
            time: now,
            client_mode: false,
        };
        if let Ok(entry) = SignedEntry::sign(identity, key, Some(&value), now + 60.0) {
            let t = Instant::now();
            let _ = node
                .store(key.to_owned(), identity.public_key(), entry)
                .await;
            out.stores.push(t.elapsed().as_secs_f64());
        }
    }
    out
}

/// A node's traffic and DHT operation counters at one moment.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct NodeCounters {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Stores (ok or failed).
    pub stores: u64,
    /// Gets (ok or failed).
    pub gets: u64,
    /// Inbound Kademlia requests.
    pub inbound_requests: u64,
    /// v2: entries published on gossip.
    #[serde(default)]
    pub gossip_published: u64,
    /// v2: gossip messages that arrived, duplicates included.
    #[serde(default)]
    pub gossip_arrived: u64,
    /// v2: gossip messages that arrived first (the rest were duplicates).
    #[serde(default)]
    pub gossip_first: u64,
    /// v2: payload bytes of the gossip messages that arrived, duplicates included.
    #[serde(default)]
    pub gossip_arrived_bytes: u64,
}

impl NodeCounters {
    /// The counters of `nodes`, summed.
    pub fn read(nodes: &[NodeHandle]) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        nodes.iter().fold(Self::default(), |acc, n| {
            let s = n.stats();
            acc.plus(Self {
                bytes_in: s.bytes_in.load(Relaxed),
                bytes_out: s.bytes_out.load(Relaxed),
                stores: s.stores_ok.load(Relaxed) + s.stores_failed.load(Relaxed),
                gets: s.gets_ok.load(Relaxed) + s.gets_failed.load(Relaxed),
                inbound_requests: s.inbound_requests.load(Relaxed),
                gossip_published: s.gossip_published.load(Relaxed),
                gossip_arrived: s.gossip_arrived.load(Relaxed),
                gossip_first: s.gossip_received.load(Relaxed),
                gossip_arrived_bytes: s.gossip_arrived_bytes.load(Relaxed),
            })
        })
    }

    /// Both counters added.
    pub fn plus(self, other: Self) -> Self {
        Self {
            bytes_in: self.bytes_in + other.bytes_in,
            bytes_out: self.bytes_out + other.bytes_out,
            stores: self.stores + other.stores,
            gets: self.gets + other.gets,
            inbound_requests: self.inbound_requests + other.inbound_requests,
            gossip_published: self.gossip_published + other.gossip_published,
            gossip_arrived: self.gossip_arrived + other.gossip_arrived,
            gossip_first: self.gossip_first + other.gossip_first,
            gossip_arrived_bytes: self.gossip_arrived_bytes + other.gossip_arrived_bytes,
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
            stores: self.stores.saturating_sub(earlier.stores),
            gets: self.gets.saturating_sub(earlier.gets),
            inbound_requests: self
                .inbound_requests
                .saturating_sub(earlier.inbound_requests),
            gossip_published: self
                .gossip_published
                .saturating_sub(earlier.gossip_published),
            gossip_arrived: self.gossip_arrived.saturating_sub(earlier.gossip_arrived),
            gossip_first: self.gossip_first.saturating_sub(earlier.gossip_first),
            gossip_arrived_bytes: self
                .gossip_arrived_bytes
                .saturating_sub(earlier.gossip_arrived_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_options_apply_only_when_given() {
        let base = NodeConfig::default();
        let untouched = BenchOptions::default().node_config(base.clone());
        assert_eq!(
            untouched.idle_connection_timeout,
            base.idle_connection_timeout
        );
        assert_eq!(untouched.read_quorum, base.read_quorum);
        let options = BenchOptions {
            idle_timeout: Some(Duration::from_secs(10)),
            read_quorum: Some(1),
            ..BenchOptions::default()
        };
        let changed = options.node_config(base);
        assert_eq!(changed.idle_connection_timeout, Duration::from_secs(10));
        assert_eq!(changed.read_quorum, 1);
    }

    #[test]
    fn peer_periods_follow_the_reference_spread() {
        let options = BenchOptions {
            peers: 5,
            period: Duration::from_millis(1000),
            rate_spread: 0.5,
            ..BenchOptions::default()
        };
        let periods: Vec<u128> = (0..5).map(|i| options.peer_period(i).as_millis()).collect();
        assert_eq!(periods, [500, 750, 1000, 1250, 1500]);
        // The target keeps the nominal period.
        assert_eq!(options.target(), 5 * 16 * 4);
        let equal = BenchOptions {
            rate_spread: 0.0,
            ..options.clone()
        };
        assert!((0..5).all(|i| equal.peer_period(i) == equal.period));
        let alone = BenchOptions {
            peers: 1,
            ..options
        };
        assert_eq!(alone.peer_period(0), alone.period);
    }

    #[test]
    fn a_rate_spread_outside_0_to_1_is_refused_by_name() {
        for spread in [-0.1, 1.0, 2.0, f64::NAN] {
            let options = BenchOptions {
                rate_spread: spread,
                ..BenchOptions::default()
            };
            let error = options.validate().unwrap_err().to_string();
            assert!(error.contains("--rate-spread"), "{spread}: {error}");
        }
        let fine = BenchOptions {
            rate_spread: 0.9,
            ..BenchOptions::default()
        };
        assert!(fine.validate().is_ok());
    }
}
