//! The long-running commands: `node` (a headless DHT node, optionally with a client-mode tracker
//! that logs the swarm's progress) and `watch` (a client that prints the swarm's progress on every
//! update). Both shut down gracefully on SIGINT / SIGTERM: the tracker's tombstone is stored, then
//! the node stops.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use actix_rt::signal::unix::{signal, SignalKind};
use indicatif::{ProgressBar, ProgressStyle};
use swarm_progress_actors::clock::{Clock, SystemClock};
use swarm_progress_actors::dht::kademlia::KademliaPeer;
use swarm_progress_actors::dht::node::NodeHandle;
use swarm_progress_actors::identity::Identity;
use swarm_progress_actors::progress::GlobalProgress;

use crate::observability::Observed;
use crate::settings::Settings;
use crate::tracker::ProgressTracker;

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

/// Runs a node (with a tracker when `with_tracker`) until SIGINT / SIGTERM.
pub async fn run(
    settings: Settings,
    with_tracker: bool,
    output: Output,
    status_every: Option<Duration>,
) -> Result<(), String> {
    // Handle the signals before anything is printed, so a signal that follows the printed
    // addresses always gets a graceful shutdown.
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let identity = match settings.dht.key_file() {
        Some(path) => Identity::load_or_create(path),
        None => Identity::generate(),
    }
    .map_err(|e| e.to_string())?;
    let identity = Arc::new(identity);
    let node_config = settings.dht.node_config().map_err(|e| e.to_string())?;
    let (node, tracker) = if with_tracker {
        let peer = KademliaPeer::new(identity.clone(), node_config, SystemClock::shared());
        let tracker = ProgressTracker::start(settings.tracker.clone(), peer.clone())
            .await
            .map_err(|e| e.to_string())?;
        // The Supervisor starts the gateway (and its node) once it runs: wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let node = loop {
            if let Some(node) = peer.node() {
                break node;
            }
            if std::time::Instant::now() >= deadline {
                let _ = tracker.shutdown(Duration::from_secs(1)).await;
                return Err("the tracker's node did not start".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        (node, Some(tracker))
    } else {
        let node = NodeHandle::start(&identity, node_config, SystemClock::shared())
            .map_err(|e| e.to_string())?;
        (node, None)
    };

    let mut stdout = std::io::stdout();
    let info = loop {
        let info = node.info().await.map_err(|e| e.to_string())?;
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
    if let Some(bind) = settings.http.bind().map_err(|e| e.to_string())? {
        let observed = Observed {
            node: node.clone(),
            tracker: tracker.as_ref().map(ProgressTracker::observer),
        };
        let (handle, addrs) = crate::observability::serve(&bind.to_string(), observed)
            .map_err(|e| format!("cannot serve http on {bind}: {e}"))?;
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
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            changed = async {
                match updates.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    break;
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
        match tracker.shutdown(Duration::from_secs(10)).await {
            Ok(()) => {
                let _ = writeln!(stdout, "tombstone stored; stopped");
            }
            Err(e) => result = Err(format!("shutdown: {e}")),
        }
    }
    node.stop();
    if let Some(http) = http {
        http.stop(true).await;
    }
    let _ = stdout.flush();
    result
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
            let eta = g.eta_next_epoch - SystemClock.now();
            let eta = if (0.0..1e6).contains(&eta) {
                format!("{eta:.1}s")
            } else if eta < 0.0 {
                "now".into()
            } else {
                "-".into()
            };
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
