//! `swarm_progress`, the Python module: hivemind's `DHT` and `ProgressTracker` interface over
//! swarm-progress, so a hivemind training loop switches trackers by changing an import.
//!
//! # Layout
//!
//! - [`dht`]: `DHT`, a libp2p node of ours that any number of trackers share (hivemind's `DHT`
//!   object), built from the same `[dht]` settings as the command line.
//! - [`tracker`]: `ProgressTracker` and the `pause_updates()` context manager.
//! - [`progress`]: the values a tracker reports, with hivemind's names and fields
//!   (`GlobalTrainingProgress`, `LocalTrainingProgress`, `PerformanceEMA`).
//! - [`errors`]: how Rust errors become Python exceptions (`ValueError` naming the argument,
//!   `TimeoutError`, `SwarmProgressError`).
//! - [`exit`]: the trackers and nodes still running when the interpreter exits, shut down then
//!   (with their tombstones) by an `atexit` hook.
//!
//! Blocking calls (starting a node or tracker, pausing, moving to a new epoch, shutting down)
//! release the GIL and are bounded by the tracker's `request_timeout`; reads and reports never
//! block and keep it (they cost well under a microsecond on the Rust side).

use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use swarm_progress::Clock;

mod dht;
mod errors;
mod exit;
mod progress;
mod tracker;

/// The current DHT time in seconds since the epoch: what entries are stamped with and
/// `estimated_next_update_time` is expressed in (hivemind's `get_dht_time()`).
#[pyfunction]
fn get_dht_time() -> f64 {
    swarm_progress::SystemClock.now()
}

/// Locks `mutex`, whose data stays consistent even if a holder panicked. Never called with the
/// GIL held around a blocking call (another thread waiting for the lock with the GIL would
/// deadlock with it).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// swarm_progress: hivemind's DHT and ProgressTracker interface over swarm-progress.
///
/// A hivemind training loop switches trackers by changing its imports:
/// `from swarm_progress import DHT, ProgressTracker`. Blocking calls release the GIL and are
/// bounded by `request_timeout`; reads and reports never block.
#[pymodule(name = "swarm_progress")]
fn python_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<dht::Dht>()?;
    m.add_class::<tracker::Tracker>()?;
    m.add_class::<tracker::PauseUpdates>()?;
    m.add_class::<progress::GlobalTrainingProgress>()?;
    m.add_class::<progress::LocalTrainingProgress>()?;
    m.add_class::<progress::PerformanceEma>()?;
    m.add(
        "SwarmProgressError",
        m.py().get_type::<errors::SwarmProgressError>(),
    )?;
    m.add_function(wrap_pyfunction!(get_dht_time, m)?)?;
    exit::register(m)
}
