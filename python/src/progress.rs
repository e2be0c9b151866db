//! The values a tracker reports, as Python objects with hivemind's class and field names:
//! `GlobalTrainingProgress`, `LocalTrainingProgress` and `PerformanceEMA`. Each is a snapshot,
//! taken when the property is read.

use pyo3::prelude::*;
use swarm_progress::{GlobalProgress, LocalProgress};

/// The swarm's progress as this peer sees it (hivemind's `GlobalTrainingProgress`).
#[pyclass(frozen, get_all, skip_from_py_object, module = "swarm_progress")]
#[derive(Debug, Clone)]
pub struct GlobalTrainingProgress {
    /// The swarm's epoch: the highest epoch among the live peers.
    pub epoch: u64,
    /// Samples the peers at that epoch have accumulated in it.
    pub samples_accumulated: u64,
    /// Samples the swarm accumulates per epoch.
    pub target_batch_size: u64,
    /// Live peers, this one included.
    pub num_peers: u64,
    /// Live client peers (they report but do not drive the epoch).
    pub num_clients: u64,
    /// DHT time at which the next epoch is expected.
    pub eta_next_epoch: f64,
    /// DHT time of the next scheduled read of the swarm.
    pub next_fetch_time: f64,
}

impl From<GlobalProgress> for GlobalTrainingProgress {
    fn from(p: GlobalProgress) -> Self {
        Self {
            epoch: p.epoch,
            samples_accumulated: p.samples_accumulated,
            target_batch_size: p.target_batch_size,
            num_peers: p.num_peers,
            num_clients: p.num_clients,
            eta_next_epoch: p.eta_next_epoch,
            next_fetch_time: p.next_fetch_time,
        }
    }
}

#[pymethods]
impl GlobalTrainingProgress {
    fn __repr__(&self) -> String {
        format!(
            "GlobalTrainingProgress(epoch={}, samples_accumulated={}, target_batch_size={}, \
             num_peers={}, num_clients={}, eta_next_epoch={}, next_fetch_time={})",
            self.epoch,
            self.samples_accumulated,
            self.target_batch_size,
            self.num_peers,
            self.num_clients,
            self.eta_next_epoch,
            self.next_fetch_time
        )
    }
}

/// This peer's own progress, as it publishes it (hivemind's `LocalTrainingProgress`).
#[pyclass(frozen, get_all, skip_from_py_object, module = "swarm_progress")]
#[derive(Debug, Clone)]
pub struct LocalTrainingProgress {
    /// This peer's id (`12D3KooW…`).
    pub peer_id: String,
    /// The local epoch.
    pub epoch: u64,
    /// Samples accumulated in the local epoch.
    pub samples_accumulated: u64,
    /// This peer's speed estimate (the performance EMA).
    pub samples_per_second: f64,
    /// DHT time of the report.
    pub time: f64,
    /// Whether this peer is a client.
    pub client_mode: bool,
}

impl From<LocalProgress> for LocalTrainingProgress {
    fn from(p: LocalProgress) -> Self {
        Self {
            peer_id: p.peer_id,
            epoch: p.epoch,
            samples_accumulated: p.samples_accumulated,
            samples_per_second: p.samples_per_second,
            time: p.time,
            client_mode: p.client_mode,
        }
    }
}

#[pymethods]
impl LocalTrainingProgress {
    fn __repr__(&self) -> String {
        format!(
            "LocalTrainingProgress(peer_id={:?}, epoch={}, samples_accumulated={}, \
             samples_per_second={}, time={}, client_mode={})",
            self.peer_id,
            self.epoch,
            self.samples_accumulated,
            self.samples_per_second,
            self.time,
            if self.client_mode { "True" } else { "False" }
        )
    }
}

/// The tracker's speed estimate (hivemind's `PerformanceEMA`).
#[pyclass(
    frozen,
    get_all,
    skip_from_py_object,
    name = "PerformanceEMA",
    module = "swarm_progress"
)]
#[derive(Debug, Clone)]
pub struct PerformanceEma {
    /// Smoothing factor (`performance_ema_alpha`).
    pub alpha: f64,
    /// Samples per second this peer processes.
    pub samples_per_second: f64,
    /// Whether time is not being counted (inside `pause_updates()`).
    pub paused: bool,
}

#[pymethods]
impl PerformanceEma {
    fn __repr__(&self) -> String {
        format!(
            "PerformanceEMA(alpha={}, samples_per_second={}, paused={})",
            self.alpha,
            self.samples_per_second,
            if self.paused { "True" } else { "False" }
        )
    }
}
