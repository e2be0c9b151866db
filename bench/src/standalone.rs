//! One peer that runs on its own (`swarm-progress-bench standalone`): no parent coordinates it,
//! as under the Shadow network simulator (every process starts from its configuration) or on
//! separate hosts. It listens on the address it is given (its host's), joins through a seed
//! address (none: it is the seed), waits for the common start time, runs the epoch phase of the
//! reference workload with its probe exactly as a process-mode peer does
//! ([`super::peer::epoch_phase`]), writes its [`PeerResult`] as JSON to a file, keeps training
//! a little so that the others' phases end before it leaves, shuts down with its tombstone and
//! exits 0. [`collect`] turns a directory of such files into the same [`Report`] as process mode.
//!
//! The seed's identity comes from a key file (`swarm-progress keygen` writes one), so its
//! address, `/ip4/<host>/tcp/<port>/p2p/<peer id>`, is known before anything runs.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_progress::clock::SystemClock;
use swarm_progress::dht::kademlia::KademliaPeer;
use swarm_progress::dht::node::{Multiaddr, NodeConfig};
use swarm_progress::identity::Identity;
use swarm_progress::simulation::SimulatedTrainer;
use swarm_progress::ProgressTracker;

use super::figures::Report;
use super::peer::{epoch_phase, instant_at_unix, reference_trainer, PeerResult};
use super::process::report_from_results;
use super::{start_err, BenchError, BenchOptions};

/// When the epoch phase starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartAt {
    /// This many seconds after the process started.
    AfterOwnStart(f64),
    /// At this wall-clock (or simulated) time, in Unix seconds.
    Unix(f64),
}

/// How one standalone peer runs.
#[derive(Debug, Clone)]
pub struct Standalone {
    /// This peer's index (its place in the staggered steps and in the results).
    pub index: usize,
    /// The seed's address with `/p2p/<peer id>`; `None`: this peer is the seed.
    pub bootstrap: Option<Multiaddr>,
    /// Where the node listens (the host's own address under Shadow, not 0.0.0.0).
    pub listen: Multiaddr,
    /// The identity file; `None`: a fresh identity.
    pub key_file: Option<PathBuf>,
    /// When the epoch phase starts.
    pub start: StartAt,
    /// Where the results go (JSON, one [`PeerResult`]).
    pub out: PathBuf,
    /// How long it keeps training after its phase before it leaves.
    pub linger: Duration,
    /// Dial from fresh ports (Shadow does not emulate port reuse).
    pub fresh_ports: bool,
}

/// Runs one standalone peer of the swarm described by `options`.
pub async fn run(options: &BenchOptions, peer: &Standalone) -> Result<(), BenchError> {
    options.validate()?;
    let launched = Instant::now();
    let identity = Arc::new(match &peer.key_file {
        Some(path) => Identity::load(path)
            .map_err(|e| BenchError::Options(format!("--key-file {}: {e}", path.display())))?,
        None => Identity::generate().map_err(|e| start_err(&e))?,
    });
    let node = KademliaPeer::new(
        identity,
        options.node_config(NodeConfig {
            listen: vec![peer.listen.clone()],
            bootstrap: peer.bootstrap.iter().cloned().collect(),
            dial_from_fresh_ports: peer.fresh_ports,
            ..NodeConfig::default()
        }),
        SystemClock::shared(),
    );
    let tracker = Rc::new(
        ProgressTracker::start(options.tracker_config(), node.clone())
            .await
            .map_err(|e| start_err(&e))?,
    );
    let start = match peer.start {
        StartAt::AfterOwnStart(secs) => launched + Duration::from_secs_f64(secs.max(0.0)),
        StartAt::Unix(at) => instant_at_unix(at),
    };
    let (result, log) = epoch_phase(peer.index, options, &tracker, &node, start).await;
    write_result(&peer.out, &result)?;

    // Keep training while the others finish their phases (they end up to a step apart).
    let trainer = SimulatedTrainer {
        start_epoch: log.final_epoch(0),
        start_delay: Duration::ZERO,
        ..reference_trainer(options, peer.index)
    };
    trainer.run(&tracker, u64::MAX, peer.linger).await;
    // When the whole swarm leaves at once (the end of every run), the key's replicas may be
    // gone before a tombstone lands. The figures are written already and the entry expires on
    // its own, so that is said, not a failed run (the scale lab counts these lines).
    if let Err(e) = tracker.shutdown(Duration::from_secs(10)).await {
        eprintln!("peer {}: tombstone not stored at shutdown: {e}", peer.index);
    }
    Ok(())
}

/// The figures of a run of standalone peers from the result files in `dir` (`*.json`, one
/// [`PeerResult`] each): the same [`Report`] as process mode. `setup_s` is the time the peers
/// were given before the common start.
pub fn collect(options: &BenchOptions, dir: &Path, setup_s: f64) -> Result<Report, BenchError> {
    let read_err =
        |e: &dyn std::fmt::Display| BenchError::Output(format!("{}: {e}", dir.display()));
    let mut results = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| read_err(&e))? {
        let path = entry.map_err(|e| read_err(&e))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| BenchError::Output(format!("{}: {e}", path.display())))?;
            let result: PeerResult = serde_json::from_str(&text)
                .map_err(|e| BenchError::Output(format!("{}: {e}", path.display())))?;
            results.push(result);
        }
    }
    if results.is_empty() {
        return Err(BenchError::Output(format!(
            "{}: no peer result (*.json)",
            dir.display()
        )));
    }
    results.sort_by_key(|r| r.index);
    Ok(report_from_results(options, setup_s, results))
}

fn write_result(path: &Path, result: &PeerResult) -> Result<(), BenchError> {
    let text = serde_json::to_string(result)
        .map_err(|e| BenchError::Output(format!("{}: {e}", path.display())))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| BenchError::Output(format!("{}: {e}", path.display())))
}
