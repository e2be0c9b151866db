//! `ProgressTracker` (hivemind's `hivemind.optim.progress_tracker.ProgressTracker`) and its
//! `pause_updates()` context manager, over the Rust [`swarm_progress::ProgressTracker`] running
//! on a background thread of its own.
//!
//! Reads and reports go straight to the Rust handle (a snapshot read, a message send) with the
//! GIL held: they never block. Starting, pausing, `update_epoch` and `shutdown` wait for the
//! tracker's actors, so they release the GIL and are bounded by `request_timeout`. The pause
//! guard lives in a mutex that is only ever locked with the GIL released.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use swarm_progress::config::seconds;
use swarm_progress::{
    Health, KademliaPeer, PauseGuard, ProgressTracker, Protocol, TrackerConfig, TrackerError,
};

use crate::dht::Dht;
use crate::errors::{bad_argument, config_error, tracker_error, SwarmProgressError};
use crate::progress::{GlobalTrainingProgress, LocalTrainingProgress, PerformanceEma};
use crate::{exit, lock};

/// Tracks the swarm's training progress and tells when to move to the next epoch.
#[pyclass(frozen, name = "ProgressTracker", module = "swarm_progress")]
pub struct Tracker {
    config: TrackerConfig,
    peer: KademliaPeer,
    peer_id: String,
    running: OnceLock<Arc<ProgressTracker>>,
    /// Held while updates are paused (`with tracker.pause_updates():`).
    pause: Mutex<Option<PauseGuard<Arc<ProgressTracker>>>>,
}

/// A non-negative integer argument.
fn count(argument: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| bad_argument(argument, format!("must be >= 0, got {value}")))
}

impl Tracker {
    /// The running tracker, or an error if it was never started.
    fn running(&self) -> PyResult<&Arc<ProgressTracker>> {
        self.running
            .get()
            .ok_or_else(|| SwarmProgressError::new_err("the tracker is not started (call start())"))
    }

    /// `timeout` seconds, or the request timeout when `None`.
    fn timeout(&self, timeout: Option<f64>) -> PyResult<Duration> {
        match timeout {
            None => Ok(self.config.request_timeout()),
            Some(t) if t.is_finite() && t >= 0.0 => Ok(seconds(t)),
            Some(t) => Err(bad_argument(
                "timeout",
                format!("must be a number of seconds >= 0, got {t}"),
            )),
        }
    }
}

#[pymethods]
impl Tracker {
    /// A tracker of the collaboration `prefix` on `dht`, which moves to the next epoch once the
    /// swarm has accumulated `target_batch_size` samples. The keyword arguments are
    /// hivemind's, with the same defaults, plus `protocol` ("v2": entries pushed over gossip
    /// on events; "v1": hivemind's, a DHT store per report) and `request_timeout` (the bound
    /// on every DHT operation and blocking call). With `start=True` it returns once its first
    /// read of the swarm is done (at most `request_timeout`).
    #[new]
    #[pyo3(signature = (
        dht, prefix, target_batch_size, *, client_mode=None, min_refresh_period=0.5,
        max_refresh_period=10.0, default_refresh_period=3.0, expected_drift_peers=3.0,
        expected_drift_rate=0.2, performance_ema_alpha=0.1, metadata_expiration=60.0,
        protocol="v2", request_timeout=10.0, start=true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dht: &Bound<'_, Dht>,
        prefix: String,
        target_batch_size: i64,
        client_mode: Option<bool>,
        min_refresh_period: f64,
        max_refresh_period: f64,
        default_refresh_period: f64,
        expected_drift_peers: f64,
        expected_drift_rate: f64,
        performance_ema_alpha: f64,
        metadata_expiration: f64,
        protocol: &str,
        request_timeout: f64,
        start: bool,
    ) -> PyResult<Self> {
        let dht = dht.get();
        let (authority, revoked_peers) = dht.admission_settings();
        let config = TrackerConfig {
            prefix,
            target_batch_size: count("target_batch_size", target_batch_size)?,
            client_mode,
            min_refresh_period,
            max_refresh_period,
            default_refresh_period,
            expected_drift_peers,
            expected_drift_rate,
            performance_ema_alpha,
            metadata_expiration,
            request_timeout,
            protocol: protocol
                .parse::<Protocol>()
                .map_err(|e| bad_argument("protocol", e))?,
            authority,
            revoked_peers,
            ..TrackerConfig::default()
        };
        config.validate().map_err(|e| config_error(&e))?;
        let peer = dht.peer()?;
        let tracker = Self {
            config,
            peer_id: dht_peer_id(&peer),
            peer,
            running: OnceLock::new(),
            pause: Mutex::new(None),
        };
        if start {
            tracker.start(py)?;
        }
        Ok(tracker)
    }

    /// Starts the tracker (a no-op if it is started): returns once its first read of the
    /// swarm is done, at most `request_timeout`.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        if self.running.get().is_some() {
            return Ok(());
        }
        let started = py
            .detach(|| ProgressTracker::spawn(self.config.clone(), self.peer.clone()))
            .map_err(tracker_error)?;
        let started = Arc::new(started);
        if self.running.set(started.clone()).is_ok() {
            exit::track_tracker(&started);
        }
        Ok(())
    }

    /// Whether the tracker is running (started, not shut down, not failed).
    fn is_alive(&self) -> bool {
        self.running
            .get()
            .is_some_and(|t| t.health() == Health::Running)
    }

    /// The swarm's progress as this peer sees it.
    #[getter]
    fn global_progress(&self) -> PyResult<GlobalTrainingProgress> {
        Ok(self.running()?.global_progress().into())
    }

    /// This peer's own progress.
    #[getter]
    fn local_progress(&self) -> PyResult<LocalTrainingProgress> {
        Ok(self.running()?.local_progress().into())
    }

    /// The swarm's epoch (`global_progress.epoch`).
    #[getter]
    fn global_epoch(&self) -> PyResult<u64> {
        Ok(self.running()?.global_epoch())
    }

    /// Whether this peer should move to the next epoch now: the swarm has accumulated
    /// `target_batch_size` samples, or the global epoch is ahead of the local one.
    #[getter]
    fn ready_to_update_epoch(&self) -> PyResult<bool> {
        Ok(self.running()?.ready_to_update_epoch())
    }

    /// DHT time (`get_dht_time()`) at which the next epoch is expected.
    #[getter]
    fn estimated_next_update_time(&self) -> PyResult<f64> {
        Ok(self.running()?.estimated_next_update_time())
    }

    /// This peer's speed estimate.
    #[getter]
    fn performance_ema(&self) -> PyResult<PerformanceEma> {
        let tracker = self.running()?;
        Ok(PerformanceEma {
            alpha: self.config.performance_ema_alpha,
            samples_per_second: tracker.samples_per_second(),
            paused: tracker.is_paused(),
        })
    }

    /// The collaboration's name.
    #[getter]
    fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// Samples the swarm accumulates per epoch.
    #[getter]
    fn target_batch_size(&self) -> u64 {
        self.config.target_batch_size
    }

    /// Whether this peer is a client (reports, does not drive the epoch).
    #[getter]
    fn client_mode(&self) -> bool {
        match self.running.get() {
            Some(tracker) => tracker.local_progress().client_mode,
            None => self.config.client_mode.unwrap_or(false),
        }
    }

    /// This peer's id (the DHT's).
    #[getter]
    fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Reports the local epoch and the samples accumulated in it since it began. Does not wait.
    /// With `update_global_samples=False` the swarm's total is left as it is until the next
    /// read.
    #[pyo3(signature = (local_epoch, samples_accumulated, update_global_samples=true))]
    fn report_local_progress(
        &self,
        local_epoch: i64,
        samples_accumulated: i64,
        update_global_samples: bool,
    ) -> PyResult<()> {
        let epoch = count("local_epoch", local_epoch)?;
        let samples = count("samples_accumulated", samples_accumulated)?;
        self.running()?
            .report_local_progress_with(epoch, samples, update_global_samples)
            .map_err(tracker_error)
    }

    /// `with tracker.pause_updates():` holds the swarm's progress and the speed estimate still
    /// while this peer moves to a new epoch (call `update_epoch` inside).
    fn pause_updates(slf: Py<Self>) -> PauseUpdates {
        PauseUpdates { tracker: slf }
    }

    /// Moves to `new_epoch` (default: the local epoch + 1) with 0 samples, and publishes it.
    /// Only inside `with tracker.pause_updates():`, as in hivemind. Returns the new epoch.
    #[pyo3(signature = (new_epoch=None))]
    fn update_epoch(&self, py: Python<'_>, new_epoch: Option<i64>) -> PyResult<u64> {
        let new_epoch = new_epoch.map(|e| count("new_epoch", e)).transpose()?;
        py.detach(|| match lock(&self.pause).as_ref() {
            Some(guard) => guard.update_epoch_blocking(new_epoch),
            None => Err(TrackerError::NotPaused),
        })
        .map_err(|e| match e {
            TrackerError::NotPaused => SwarmProgressError::new_err(
                "update_epoch must be called inside `with tracker.pause_updates():`",
            ),
            other => tracker_error(other),
        })
    }

    /// Shuts the tracker down: it stops publishing and stores a tombstone so the others stop
    /// counting it. Waits at most `timeout` seconds (default `request_timeout`). Returns True
    /// if it shut down cleanly in time, False if the tombstone could not be stored first (no
    /// peer reached in time; it is stopped anyway, and the others stop counting it when its
    /// entry expires). Does not stop the DHT.
    #[pyo3(signature = (timeout=None))]
    fn shutdown(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = self.timeout(timeout)?;
        let Some(tracker) = self.running.get() else {
            return Ok(true);
        };
        py.detach(|| {
            lock(&self.pause).take();
            match tracker.shutdown_blocking(timeout) {
                Ok(()) | Err(TrackerError::Stopped) => Ok(true),
                // Stopped, but the tombstone may not be stored (no peer took it in time): the
                // others stop counting this peer when its entry expires instead.
                Err(TrackerError::Timeout(_) | TrackerError::Dht(_)) => Ok(false),
                Err(other) => Err(other),
            }
        })
        .map_err(tracker_error)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.shutdown(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "ProgressTracker(prefix={:?}, target_batch_size={}, alive={})",
            self.config.prefix,
            self.config.target_batch_size,
            if self.is_alive() { "True" } else { "False" }
        )
    }
}

/// The peer id of the DHT a tracker runs on.
fn dht_peer_id(peer: &KademliaPeer) -> String {
    use swarm_progress::GatewayFactory;
    peer.identity().peer_id()
}

/// The context manager `tracker.pause_updates()` returns.
#[pyclass(frozen, module = "swarm_progress")]
pub struct PauseUpdates {
    tracker: Py<Tracker>,
}

#[pymethods]
impl PauseUpdates {
    fn __enter__(&self, py: Python<'_>) -> PyResult<()> {
        let tracker = self.tracker.get();
        let running = tracker.running()?.clone();
        py.detach(|| {
            let mut pause = lock(&tracker.pause);
            if pause.is_some() {
                return Err(SwarmProgressError::new_err(
                    "updates are already paused (pause_updates() does not nest)",
                ));
            }
            *pause = Some(
                running
                    .pause_updates_owned_blocking()
                    .map_err(tracker_error)?,
            );
            Ok(())
        })
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        let tracker = self.tracker.get();
        py.detach(|| drop(lock(&tracker.pause).take()));
        false
    }
}
