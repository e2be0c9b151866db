//! The figures of one benchmark run, as defined in the reference (`../shared/baseline`): pure
//! functions from the peers' logs to lags, spread and overshoot, and the [`Report`] that is
//! printed as a markdown row and written as JSON.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::{BenchOptions, Latencies, Mode};
use swarm_progress::simulation::{quantile, summarize, TrainerLog};

/// What one peer did in the epoch phase.
#[derive(Debug, Clone, Default)]
pub struct PeerRun {
    /// Its trainer's reports and transitions.
    pub log: TrainerLog,
    /// When the probe first saw it ready, per local epoch.
    pub first_ready: HashMap<u64, Instant>,
}

/// p50 / p95 / max and how many values.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Values.
    pub n: usize,
}

impl Spread {
    /// The statistics of `values` (nearest rank).
    pub fn of(values: &[f64]) -> Self {
        Self {
            p50: quantile(values, 0.5),
            p95: quantile(values, 0.95),
            max: quantile(values, 1.0),
            n: values.len(),
        }
    }

    fn scaled(&self, by: f64) -> Self {
        Self {
            p50: self.p50.map(|v| v * by),
            p95: self.p95.map(|v| v * by),
            max: self.max.map(|v| v * by),
            n: self.n,
        }
    }
}

/// The swarm-level figures of the epochs every peer left.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SwarmFigures {
    /// Epochs every peer left.
    pub complete_epochs: usize,
    /// Loop lag (seconds) per (peer, complete epoch).
    pub lag_s: Spread,
    /// Probe lag (seconds) per (peer, complete epoch).
    pub probe_lag_s: Spread,
    /// The late side of the probe lag alone: `max(0, probe lag)` per (peer, complete epoch).
    /// An ETA that fires early is not late; this is what a trainer waits for.
    pub late_probe_lag_s: Spread,
    /// The early side alone: `max(0, -probe lag)`, how long before the true crossing the peer
    /// said it was ready (its trainer then moves on with fewer samples than the target; the
    /// overshoot does not show this).
    pub early_probe_lag_s: Spread,
    /// Last minus first transition per complete epoch (seconds).
    pub spread_s: Spread,
    /// Overshoot fraction per complete epoch.
    pub overshoot: Spread,
    /// Every epoch some peer left: when the true sum crossed the target, how many peers left,
    /// each one's lag.
    pub epochs: Vec<swarm_progress::simulation::EpochSummary>,
}

/// Computes the figures of the epochs that all `runs` left, relative to `start`.
pub fn swarm_figures(runs: &[PeerRun], target: u64, start: Instant) -> SwarmFigures {
    let logs: Vec<TrainerLog> = runs.iter().map(|r| r.log.clone()).collect();
    let n = runs.len();
    let epochs = summarize(&logs, target, start);
    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut lags = Vec::new();
    let mut probe_lags = Vec::new();
    let mut spreads = Vec::new();
    let mut overshoots = Vec::new();
    let complete: Vec<_> = epochs.iter().filter(|e| e.peers == n).collect();
    let complete_epochs = complete.len();
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
        for run in runs {
            if let Some(at) = run.first_ready.get(&e.epoch) {
                probe_lags.push(secs(*at) - crossed);
            }
        }
    }
    let late: Vec<f64> = probe_lags.iter().map(|l| l.max(0.0)).collect();
    let early: Vec<f64> = probe_lags.iter().map(|l| (-l).max(0.0)).collect();
    SwarmFigures {
        complete_epochs,
        lag_s: Spread::of(&lags),
        late_probe_lag_s: Spread::of(&late),
        early_probe_lag_s: Spread::of(&early),
        probe_lag_s: Spread::of(&probe_lags),
        spread_s: Spread::of(&spreads),
        overshoot: Spread::of(&overshoots),
        epochs,
    }
}

/// Resource use per peer over the epoch phase.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PerPeer {
    /// CPU seconds per minute per peer (mean over peers).
    pub cpu_s_per_min: Option<f64>,
    /// The busiest peer's CPU seconds per minute (process mode).
    pub cpu_s_per_min_max: Option<f64>,
    /// Peak RSS per peer, MiB.
    pub peak_rss_mib: Option<f64>,
    /// PSS per peer at the end of the epoch phase, MiB.
    pub pss_mib: Option<f64>,
    /// Live heap bytes per peer at the end of the epoch phase, MiB (process and standalone
    /// modes, glibc only).
    pub heap_in_use_mib: Option<f64>,
    /// Heap bytes the allocator held free per peer at the same time, MiB.
    pub heap_free_mib: Option<f64>,
    /// PSS per peer once the allocator has handed its free pages back, MiB.
    pub pss_after_trim_mib: Option<f64>,
    /// KiB sent per peer per minute (every connection, Noise and Yamux framing included).
    pub sent_kib_per_min: Option<f64>,
    /// KiB received per peer per minute.
    pub received_kib_per_min: Option<f64>,
    /// The tracker's stores per peer per minute.
    pub stores_per_min: Option<f64>,
    /// The tracker's gets per peer per minute.
    pub gets_per_min: Option<f64>,
    /// Kademlia requests each peer's node answered per minute.
    pub inbound_requests_per_min: Option<f64>,
    /// v2: entries each peer published on gossip per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gossip_published_per_min: Option<f64>,
    /// v2: gossip messages that reached each peer per minute, duplicates included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gossip_arrived_per_min: Option<f64>,
    /// v2: of those, the first copies per minute (the rest were duplicates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gossip_first_per_min: Option<f64>,
    /// v2: KiB of gossip payload that reached each peer per minute, duplicates included
    /// (gossipsub's framing and control messages not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gossip_arrived_kib_per_min: Option<f64>,
    /// KiB sent + received per minute, across peers: mean, median, max and max / median (a
    /// replica or mesh hotspot shows as a large max / median).
    pub kib_per_min: Option<ByteSpread>,
}

/// How one per-peer quantity is spread across the peers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ByteSpread {
    /// Mean over peers.
    pub mean: f64,
    /// Median over peers.
    pub median: f64,
    /// The busiest peer.
    pub max: f64,
    /// max / median.
    pub max_over_median: f64,
}

impl ByteSpread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        let median = quantile(values, 0.5)?;
        let max = quantile(values, 1.0)?;
        Some(Self {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            median,
            max,
            max_over_median: if median > 0.0 { max / median } else { f64::NAN },
        })
    }
}

impl PerPeer {
    /// Fills the traffic and operation rates from `counters` summed over `peers` peers during
    /// `seconds`.
    pub fn with_counters(
        mut self,
        counters: &super::NodeCounters,
        peers: usize,
        seconds: f64,
    ) -> Self {
        let rate = |v: u64| {
            (seconds > 0.0 && peers > 0).then(|| v as f64 / peers as f64 / (seconds / 60.0))
        };
        self.sent_kib_per_min = rate(counters.bytes_out).map(|v| v / 1024.0);
        self.received_kib_per_min = rate(counters.bytes_in).map(|v| v / 1024.0);
        self.stores_per_min = rate(counters.stores);
        self.gets_per_min = rate(counters.gets);
        self.inbound_requests_per_min = rate(counters.inbound_requests);
        if counters.gossip_published + counters.gossip_arrived > 0 {
            self.gossip_published_per_min = rate(counters.gossip_published);
            self.gossip_arrived_per_min = rate(counters.gossip_arrived);
            self.gossip_first_per_min = rate(counters.gossip_first);
            self.gossip_arrived_kib_per_min =
                rate(counters.gossip_arrived_bytes).map(|v| v / 1024.0);
        }
        self
    }

    /// Fills [`PerPeer::kib_per_min`] from each peer's bytes (sent + received) over `seconds`.
    pub fn with_peer_bytes(mut self, bytes: &[u64], seconds: f64) -> Self {
        if seconds > 0.0 {
            let per_min: Vec<f64> = bytes
                .iter()
                .map(|b| *b as f64 / 1024.0 / (seconds / 60.0))
                .collect();
            self.kib_per_min = ByteSpread::of(&per_min);
        }
        self
    }
}

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `scale` or `process`.
    pub mode: &'static str,
    /// `memory` or `tcp`.
    pub transport: &'static str,
    /// Scale mode: threads the nodes share (0: a thread per node; process mode: 0).
    pub node_threads: usize,
    /// Spread of the peers' step periods (0: all equal).
    pub rate_spread: f64,
    /// Peers.
    pub peers: usize,
    /// Refresh preset.
    pub refresh: &'static str,
    /// `v1` or `v2`.
    pub protocol: &'static str,
    /// Samples per step.
    pub batch_size: u64,
    /// Step period, seconds.
    pub period_s: f64,
    /// The swarm's target.
    pub target_batch_size: u64,
    /// Length of the epoch phase as run, seconds.
    pub duration_s: f64,
    /// Time for the swarm to assemble, seconds.
    pub setup_s: f64,
    /// Epoch phase / ideal epoch length.
    pub ideal_epochs: f64,
    /// Lags, spread, overshoot.
    #[serde(flatten)]
    pub swarm: SwarmFigures,
    /// Resources per peer.
    pub per_peer: PerPeer,
    /// CPU seconds per minute per peer (mean), kept at the top level for scripts.
    pub cpu_s_per_min_per_peer: Option<f64>,
    /// `get(latest)` latency, milliseconds, and entries in the record read.
    pub get_latest_ms: Spread,
    /// Entries in the last record peer 0 read in the latency phase.
    pub entries_seen: usize,
    /// `store` latency, milliseconds.
    pub store_ms: Spread,
}

impl Report {
    /// The report of a run of `options`: the workload (mode, transport, load, target, …) is
    /// taken from the options, the rest is what the run measured.
    pub fn new(
        options: &BenchOptions,
        setup_s: f64,
        duration_s: f64,
        swarm: SwarmFigures,
        per_peer: PerPeer,
        latencies: &Latencies,
    ) -> Self {
        let (mode, transport, node_threads) = match options.mode {
            Mode::Scale { tcp } => {
                let transport = if tcp { "tcp" } else { "memory" };
                ("scale", transport, options.node_threads)
            }
            Mode::Process => ("process", "tcp", 0),
            Mode::Standalone => ("standalone", "tcp", 0),
        };
        Self {
            mode,
            transport,
            node_threads,
            rate_spread: options.rate_spread,
            peers: options.peers,
            refresh: options.refresh.name(),
            protocol: options.protocol.as_str(),
            batch_size: options.batch_size,
            period_s: options.period.as_secs_f64(),
            target_batch_size: options.target(),
            duration_s,
            setup_s,
            ideal_epochs: options.duration.as_secs_f64() / options.epoch_seconds,
            swarm,
            cpu_s_per_min_per_peer: per_peer.cpu_s_per_min,
            per_peer,
            get_latest_ms: Spread::of(&latencies.gets).scaled(1000.0),
            entries_seen: latencies.entries_seen,
            store_ms: Spread::of(&latencies.stores).scaled(1000.0),
        }
    }

    /// The markdown header of [`Report::markdown_row`].
    pub fn markdown_header() -> &'static str {
        "| mode | protocol | N | refresh | load (batch/period) | epochs / ideal | lag p50 / p95 / max s | probe lag p95 early / late s | spread p50 s | overshoot p50 / max | CPU s/min/peer (mean / max) | peak RSS / PSS MiB/peer | KiB/min/peer sent / recv | KiB/min/peer median / max (max/median) | stores / gets / inbound req per min/peer | get p50 / p95 ms | store p50 / p95 ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    }

    /// One markdown row.
    pub fn markdown_row(&self) -> String {
        let f = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
        let k = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
        let s = &self.swarm;
        let p = &self.per_peer;
        let spread = if self.rate_spread > 0.0 {
            format!(" ±{:.0} %", self.rate_spread * 100.0)
        } else {
            String::new()
        };
        let placement = match self.node_threads {
            0 => self.transport.to_owned(),
            k => format!("{}, nodes on {k} threads", self.transport),
        };
        format!(
            "| {} ({}) | {} | {} | {} | {} / {:.2} s{} | {} / {:.1} | {} / {} / {} | {} / {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} / {} / {} | {} / {} | {} / {} |",
            self.mode,
            placement,
            self.protocol,
            self.peers,
            self.refresh,
            self.batch_size,
            self.period_s,
            spread,
            s.complete_epochs,
            self.ideal_epochs,
            f(s.lag_s.p50),
            f(s.lag_s.p95),
            f(s.lag_s.max),
            f(s.early_probe_lag_s.p95),
            f(s.late_probe_lag_s.p95),
            f(s.spread_s.p50),
            f(s.overshoot.p50),
            f(s.overshoot.max),
            f(p.cpu_s_per_min),
            f(p.cpu_s_per_min_max),
            f(p.peak_rss_mib),
            f(p.pss_mib),
            k(p.sent_kib_per_min),
            k(p.received_kib_per_min),
            p.kib_per_min.as_ref().map_or("–".to_owned(), |b| format!(
                "{:.0} / {:.0} ({:.2})",
                b.median, b.max, b.max_over_median
            )),
            k(p.stores_per_min),
            k(p.gets_per_min),
            k(p.inbound_requests_per_min),
            f(self.get_latest_ms.p50),
            f(self.get_latest_ms.p95),
            f(self.store_ms.p50),
            f(self.store_ms.p95),
        )
    }
}

/// The mean of the values present; `None` when none is.
pub fn mean(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.into_iter().flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use swarm_progress::simulation::{Report as Step, Transition};

    #[test]
    fn probe_lag_is_measured_from_the_true_crossing() {
        let s = Instant::now();
        let at = |t: f64| s + Duration::from_secs_f64(t);
        // Target 100: 60 (peer 0, 1 s) + 50 (peer 1, 2 s) crosses at 2 s. The probe saw peer 0
        // ready at 1.8 s (early, −0.2) and peer 1 at 2.3 s (+0.3); both left at 2.5 / 2.6 s.
        let run = |samples, t_report, t_ready, t_exit| PeerRun {
            log: TrainerLog {
                reports: vec![Step {
                    epoch: 0,
                    samples,
                    at: at(t_report),
                }],
                transitions: vec![Transition {
                    from: 0,
                    to: 1,
                    at: at(t_exit),
                }],
            },
            first_ready: HashMap::from([(0, at(t_ready))]),
        };
        let figures = swarm_figures(&[run(60, 1.0, 1.8, 2.5), run(50, 2.0, 2.3, 2.6)], 100, s);
        assert_eq!(figures.complete_epochs, 1);
        let probe = figures.probe_lag_s;
        assert_eq!(probe.n, 2);
        assert!((probe.p50.unwrap() + 0.2).abs() < 1e-6, "{probe:?}");
        assert!((probe.max.unwrap() - 0.3).abs() < 1e-6, "{probe:?}");
        // The early reading counts as 0 on the late side.
        let late = figures.late_probe_lag_s;
        assert_eq!(late.n, 2);
        assert!(late.p50.unwrap().abs() < 1e-6, "{late:?}");
        assert!((late.max.unwrap() - 0.3).abs() < 1e-6, "{late:?}");
        // ... and the late one as 0 on the early side.
        let early = figures.early_probe_lag_s;
        assert_eq!(early.n, 2);
        assert!((early.max.unwrap() - 0.2).abs() < 1e-6, "{early:?}");
        assert!(early.p50.unwrap().abs() < 1e-6, "{early:?}");
        assert!((figures.spread_s.p50.unwrap() - 0.1).abs() < 1e-6);
        assert!((figures.overshoot.p50.unwrap() - 0.1).abs() < 1e-9);
        assert!((figures.lag_s.p95.unwrap() - 0.6).abs() < 1e-6);
    }

    #[test]
    fn an_epoch_not_every_peer_left_is_not_complete() {
        let s = Instant::now();
        let left = PeerRun {
            log: TrainerLog {
                reports: vec![],
                transitions: vec![Transition {
                    from: 0,
                    to: 1,
                    at: s,
                }],
            },
            first_ready: HashMap::new(),
        };
        let figures = swarm_figures(&[left, PeerRun::default()], 10, s);
        assert_eq!(figures.complete_epochs, 0);
        assert_eq!(figures.lag_s.n, 0);
    }

    #[test]
    fn byte_spread_names_the_hotspot() {
        let b = ByteSpread::of(&[10.0, 10.0, 10.0, 40.0]).unwrap();
        assert_eq!((b.median, b.max), (10.0, 40.0));
        assert!((b.mean - 17.5).abs() < 1e-9);
        assert!((b.max_over_median - 4.0).abs() < 1e-9);
        assert_eq!(ByteSpread::of(&[]), None);
    }

    #[test]
    fn mean_skips_missing_values() {
        assert_eq!(mean([Some(1.0), None, Some(3.0)]), Some(2.0));
        assert_eq!(mean([None]), None);
    }
}
