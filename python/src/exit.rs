//! Interpreter exit: every tracker and node still running is shut down by an `atexit` hook, so
//! a script that ends without calling `shutdown()` still stores its tombstones (the other peers
//! stop counting it at once instead of after `metadata_expiration`).
//!
//! The registry holds weak references: it never keeps an object alive that Python dropped.

use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;
use swarm_progress::{Health, NodeHandle, ProgressTracker};

use crate::dht::stop_node;
use crate::lock;

/// A node slot of a `DHT` object.
type NodeSlot = Mutex<Option<NodeHandle>>;

static TRACKERS: Mutex<Vec<Weak<ProgressTracker>>> = Mutex::new(Vec::new());
static NODES: Mutex<Vec<Weak<NodeSlot>>> = Mutex::new(Vec::new());

/// Remembers a started tracker, to shut it down at exit.
pub fn track_tracker(tracker: &Arc<ProgressTracker>) {
    let mut trackers = lock(&TRACKERS);
    trackers.retain(|t| t.strong_count() > 0);
    trackers.push(Arc::downgrade(tracker));
}

/// Remembers a DHT object's node slot, to stop its node at exit.
pub fn track_node(node: &Arc<NodeSlot>) {
    let mut nodes = lock(&NODES);
    nodes.retain(|n| n.strong_count() > 0);
    nodes.push(Arc::downgrade(node));
}

/// Shuts down every tracker still running (in parallel, each bounded by its request timeout,
/// so its tombstone is stored), then stops every node.
#[pyfunction]
fn shutdown_all_at_exit(py: Python<'_>) {
    let trackers: Vec<Arc<ProgressTracker>> = std::mem::take(&mut *lock(&TRACKERS))
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|t| t.health() == Health::Running)
        .collect();
    let nodes: Vec<NodeHandle> = std::mem::take(&mut *lock(&NODES))
        .iter()
        .filter_map(Weak::upgrade)
        .filter_map(|slot| lock(&slot).take())
        .collect();
    py.detach(|| {
        std::thread::scope(|scope| {
            for tracker in &trackers {
                scope.spawn(move || {
                    let _ = tracker.shutdown_blocking(tracker.config().request_timeout());
                });
            }
        });
        for node in &nodes {
            stop_node(node);
        }
    });
}

/// Registers the exit hook (at module import).
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(shutdown_all_at_exit, module)?;
    module
        .py()
        .import("atexit")?
        .call_method1("register", (hook,))?;
    Ok(())
}
