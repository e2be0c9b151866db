//! What `node`, `watch` and `train` run: a DHT node, optionally with a tracker that logs
//! (`node`) or prints (`watch`, `train`) the swarm's progress, and for `train` a simulated
//! trainer reporting to it, until SIGINT / SIGTERM (or the trainer's last epoch). All shut down
//! gracefully: the tracker's tombstone is stored, then the node stops. SIGHUP reloads the
//! private collaboration's revocation list ([`reload_revocations`]).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::signal::unix::{signal, SignalKind};
use indicatif::{ProgressBar, ProgressStyle};
use swarm_progress::simulation::SimulatedTrainer;
use swarm_progress::{
    Admission, Clock, DhtError, GlobalProgress, Identity, IdentityError, KademliaPeer, NodeHandle,
    ProgressTracker, Settings, SettingsError, SystemClock, TrackerError,
};
use thiserror::Error;

use crate::observability::{self, Observed};

/// How long the tracker's node may take to start.
const NODE_START_LIMIT: Duration = Duration::from_secs(30);
/// How long the tracker's shutdown (tombstone included) may take.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Why a node or watcher stopped with an error.
#[derive(Debug, Error)]
pub enum NodeRunError {
    /// The signal handlers could not be installed.
    #[error("cannot handle signals: {0}")]
    Signals(#[source] std::io::Error),
    /// The identity file could not be read or created.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A setting could not be turned into the node's configuration.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The node failed to start or to answer.
    #[error("node: {0}")]
    Node(#[from] DhtError),
    /// The tracker failed to start.
    #[error("tracker: {0}")]
    Tracker(#[source] TrackerError),
    /// The tracker's node did not start in time.
    #[error("the tracker's node did not start within {0:?}")]
    NodeDidNotStart(Duration),
    /// The HTTP endpoints could not be served.
    #[error("cannot serve http on {bind}: {source}")]
    Http {
        /// The address asked for.
        bind: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The tracker did not shut down cleanly.
    #[error("shutdown: {0}")]
    Shutdown(#[source] TrackerError),
}

/// How `node` / `watch` print the swarm's progress (`Human` draws a progress bar on a terminal
/// and prints lines otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// No progress lines (a plain node).
    Silent,
    /// A human-readable line.
    Human,
    /// One JSON object per line.
    Json,
}

/// What runs beside the node.
#[derive(Debug)]
pub enum Role {
    /// Nothing: a plain DHT node.
    Node,
    /// A tracker (client mode as the settings say).
    Tracker,
    /// A tracker and a simulated trainer reporting to it.
    Trainer(Training),
}

/// The simulated trainer of `train`.
#[derive(Debug)]
pub struct Training {
    /// Its steps (its start epoch is the swarm's when it joins).
    pub trainer: SimulatedTrainer,
    /// Epochs to train past the one it joined at; `None`: until a signal.
    pub epochs: Option<u64>,
}

/// A limit that never comes in practice (`Instant + Duration::MAX` would overflow).
const TRAIN_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Runs a node (with what `role` says beside it) until SIGINT / SIGTERM, or until the
/// trainer's last epoch; `config_file` is re-read on SIGHUP for the revocation list.
pub async fn run(
    settings: Settings,
    config_file: Option<&Path>,
    role: Role,
    output: Output,
    status_every: Option<Duration>,
) -> Result<(), NodeRunError> {
    let with_tracker = !matches!(role, Role::Node);
    // Handle the signals before anything is printed, so a signal that follows the printed
    // addresses always gets a graceful shutdown.
    let mut terminate = signal(SignalKind::terminate()).map_err(NodeRunError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(NodeRunError::Signals)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(NodeRunError::Signals)?;
    let identity = match settings.dht.key_file() {
        Some(path) => Identity::load_or_create(path),
        None => Identity::generate(),
    }?;
    let identity = Arc::new(identity);
    let node_config = settings.node_config()?;
    let admission = node_config.admission.clone();
    let (node, tracker) = if with_tracker {
        let peer = KademliaPeer::new(identity.clone(), node_config, SystemClock::shared());
        let tracker = ProgressTracker::start(settings.tracker.clone(), peer.clone())
            .await
            .map_err(NodeRunError::Tracker)?;
        // The Supervisor starts the gateway (and its node) once it runs: wait for it.
        let deadline = std::time::Instant::now() + NODE_START_LIMIT;
        let node = loop {
            if let Some(node) = peer.node() {
                break node;
            }
            if std::time::Instant::now() >= deadline {
                let _ = tracker.shutdown(Duration::from_secs(1)).await;
                return Err(NodeRunError::NodeDidNotStart(NODE_START_LIMIT));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        (node, Some(tracker))
    } else {
        let node = NodeHandle::start(&identity, node_config, SystemClock::shared())?;
        (node, None)
    };

    let mut stdout = std::io::stdout();
    let info = loop {
        let info = node.info().await?;
        if !info.listen_addrs.is_empty() {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _ = writeln!(stdout, "peer id {}", info.peer_id);
    for addr in &info.listen_addrs {
        let _ = writeln!(stdout, "listening on {addr}");
    }
    let mut http = None;
    if let Some(bind) = settings.http.bind()? {
        let observed = Observed {
            node: node.clone(),
            tracker: tracker.as_ref().map(ProgressTracker::observer),
        };
        let (handle, addrs) = observability::serve(&bind.to_string(), observed)
            .map_err(|source| NodeRunError::Http { bind, source })?;
        for addr in addrs {
            let _ = writeln!(stdout, "http on http://{addr}");
        }
        http = Some(handle);
    }
    let _ = stdout.flush();

    let mut updates = tracker.as_ref().map(|t| t.subscribe());
    let bar = (output == Output::Human && std::io::stdout().is_terminal()).then(|| {
        let bar = ProgressBar::new(settings.tracker.target_batch_size);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix:>4} [{bar:30}] {pos:>8}/{len} samples | {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-"),
        );
        bar
    });
    let mut ticker = tokio::time::interval(status_every.unwrap_or(Duration::from_secs(3600)));
    let training = async {
        match (&role, &tracker) {
            (Role::Trainer(training), Some(tracker)) => {
                let joined_at = tracker.global_epoch();
                let trainer = SimulatedTrainer {
                    start_epoch: joined_at,
                    ..training.trainer.clone()
                };
                let until = training
                    .epochs
                    .map_or(u64::MAX, |epochs| joined_at.saturating_add(epochs));
                trainer
                    .run(tracker, until, TRAIN_FOREVER)
                    .await
                    .final_epoch(joined_at)
            }
            _ => std::future::pending().await,
        }
    };
    tokio::pin!(training);
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload_revocations(config_file, &admission),
            reached = &mut training => {
                let _ = writeln!(stdout, "trained to epoch {reached}");
                break;
            }
            changed = async {
                match updates.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    break;
                }
                if let (Role::Tracker, Some(tracker)) = (&role, &tracker) {
                    follow_swarm_epoch(tracker).await;
                }
                if let (Some(rx), Output::Human | Output::Json) = (updates.as_ref(), output) {
                    let progress = rx.borrow().clone();
                    match &bar {
                        Some(bar) => draw_bar(bar, &progress),
                        None => print_progress(&mut stdout, &progress, output),
                    }
                }
            }
            _ = ticker.tick(), if status_every.is_some() => {
                if let Some(tracker) = &tracker {
                    tracing::info!(
                        epoch = tracker.global_epoch(),
                        samples = tracker.global_progress().samples_accumulated,
                        peers = tracker.global_progress().num_peers,
                        "swarm progress"
                    );
                }
            }
        }
    }
    if let Some(bar) = &bar {
        bar.abandon();
    }
    let mut result = Ok(());
    if let Some(tracker) = &tracker {
        match tracker.shutdown(SHUTDOWN_LIMIT).await {
            Ok(()) => {
                let _ = writeln!(stdout, "tombstone stored; stopped");
            }
            Err(e) => result = Err(NodeRunError::Shutdown(e)),
        }
    }
    node.stop();
    if let Some(http) = http {
        http.stop(true).await;
    }
    let _ = stdout.flush();
    result
}

/// SIGHUP: reads `tracker.revoked_peers` again (the settings file and the environment; the
/// file must then name `tracker.authority` too) and applies it at once: the node's store,
/// reads and gossip gate, and the tracker's view, drop the revoked peers. Anything wrong
/// leaves the list as it was, with a warning.
fn reload_revocations(config_file: Option<&Path>, admission: &Admission) {
    if admission.authority().is_none() {
        tracing::warn!(
            "SIGHUP: tracker.authority is not set, so there is no revocation list to reload"
        );
        return;
    }
    let reloaded = Settings::load(config_file)
        .map_err(|e| e.to_string())
        .and_then(|settings| {
            let keys = settings.tracker.revoked_keys().map_err(|e| e.to_string())?;
            Ok((keys, settings.tracker.revoked_peers))
        });
    match reloaded {
        Ok((keys, revoked)) => {
            admission.set_revoked(keys);
            tracing::info!(?revoked, "SIGHUP: revocation list reloaded");
        }
        Err(error) => {
            tracing::warn!(%error, "SIGHUP: settings not reloaded; the revocation list is unchanged")
        }
    }
}

/// The swarm's speed as the estimator sees it: remaining samples over the time to the ETA.
fn swarm_speed(g: &GlobalProgress, now: f64) -> Option<f64> {
    let remaining = g.target_batch_size.saturating_sub(g.samples_accumulated) as f64;
    let left = g.eta_next_epoch - now;
    (remaining > 0.0 && left > 0.0 && left.is_finite()).then(|| remaining / left)
}

fn eta_text(g: &GlobalProgress, now: f64) -> String {
    let eta = g.eta_next_epoch - now;
    if (0.0..1e6).contains(&eta) {
        format!("{eta:.1}s")
    } else if eta < 0.0 {
        "now".into()
    } else {
        "-".into()
    }
}

fn summary_text(g: &GlobalProgress, now: f64) -> String {
    let speed = swarm_speed(g, now).map_or("-".into(), |s| format!("{s:.0}"));
    format!(
        "{} peers ({} clients) | {speed} samples/s | eta {}",
        g.num_peers,
        g.num_clients,
        eta_text(g, now)
    )
}

fn draw_bar(bar: &ProgressBar, g: &GlobalProgress) {
    bar.set_length(g.target_batch_size);
    bar.set_position(g.samples_accumulated.min(g.target_batch_size));
    bar.set_prefix(g.epoch.to_string());
    bar.set_message(summary_text(g, SystemClock.now()));
}

fn print_progress(out: &mut dyn Write, g: &GlobalProgress, output: Output) {
    match output {
        Output::Json => {
            if let Ok(line) = serde_json::to_string(g) {
                let _ = writeln!(out, "{line}");
            }
        }
        Output::Human => {
            let fraction =
                (g.samples_accumulated as f64 / g.target_batch_size.max(1) as f64).min(1.0);
            let filled = (fraction * 30.0).round() as usize;
            let eta = eta_text(g, SystemClock.now());
            let _ = writeln!(
                out,
                "epoch {:>4} [{}{}] {:>8}/{} samples | {} peers ({} clients) | eta {eta}",
                g.epoch,
                "#".repeat(filled),
                "-".repeat(30 - filled),
                g.samples_accumulated,
                g.target_batch_size,
                g.num_peers,
                g.num_clients,
            );
        }
        Output::Silent => {}
    }
    let _ = out.flush();
}

/// A tracker with no trainer (`watch`, `node --prefix`) moves its own epoch to the swarm's,
/// as a hivemind client's optimizer does: after the trainers leave, its view keeps the epoch
/// the swarm reached instead of falling back to its own start epoch.
async fn follow_swarm_epoch(tracker: &ProgressTracker) {
    let swarm = tracker.global_epoch();
    if swarm <= tracker.local_progress().epoch {
        return;
    }
    let followed = match tracker.pause_updates().await {
        Ok(guard) => guard.update_epoch(Some(swarm)).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = followed {
        tracing::warn!(error = %e, epoch = swarm, "could not follow the swarm's epoch");
    }
}
