//! Process mode: the seed node runs here; each peer is its own OS process
//! (`swarm-progress-bench peer`, [`super::peer`]) on loopback TCP, as in the reference. This
//! process starts them, waits until every peer sees the whole swarm, gives them one common start
//! time, collects what each did and used, and stops them. Children are killed if anything goes
//! wrong (or this process's handle on them is dropped), so a run never leaves processes behind.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use swarm_progress::clock::{Clock, SystemClock};
use swarm_progress::dht::node::{NodeConfig, NodeHandle};
use swarm_progress::identity::Identity;
use tokio::sync::mpsc;

use super::figures::{mean, swarm_figures, PeerRun, PerPeer, Report};
use super::peer::{instant_at_unix, PeerMessage, PeerResult};
use super::scale::first_listen_addr;
use super::{start_err, BenchError, BenchOptions, NodeCounters};
use swarm_progress::simulation::{Report as Step, TrainerLog, Transition};

/// The peer processes; dropping this kills whatever still runs.
struct Peers {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
}

impl Peers {
    fn tell_all(&mut self, line: &str) {
        for stdin in self.stdins.iter_mut().flatten() {
            let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        }
    }

    /// Says stop, closes stdin, and waits up to `grace` for every child before killing it.
    fn stop(&mut self, grace: Duration) {
        self.tell_all("stop");
        self.stdins.clear();
        let deadline = Instant::now() + grace;
        for child in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

enum Event {
    Message(usize, PeerMessage),
    Garbage(usize, String),
    Exited(usize),
}

/// Runs process mode with the current executable as the peers' program.
pub async fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    let n = options.peers;
    let program = std::env::current_exe().map_err(|e| start_err(&e))?;
    let seed = NodeHandle::start(
        &Identity::generate().map_err(|e| start_err(&e))?,
        options.node_config(NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| start_err(&e))?],
            ..NodeConfig::default()
        }),
        SystemClock::shared(),
    )
    .map_err(|e| start_err(&e))?;
    let seed_addr = first_listen_addr(&seed).await?;

    let setup = Instant::now();
    let (events, mut inbox) = mpsc::unbounded_channel();
    let mut peers = Peers {
        children: Vec::with_capacity(n),
        stdins: Vec::with_capacity(n),
    };
    for index in 0..n {
        let mut child = Command::new(&program)
            .arg("peer")
            .args(["--index", &index.to_string()])
            .args(["--bootstrap", &seed_addr.to_string()])
            .args(["--peers", &n.to_string()])
            .args(["--refresh", options.refresh.name()])
            .args(["--protocol", options.protocol.as_str()])
            .args(["--batch-size", &options.batch_size.to_string()])
            .args(["--period-ms", &options.period.as_millis().to_string()])
            .args(["--duration", &options.duration.as_secs_f64().to_string()])
            .args(["--epoch-seconds", &options.epoch_seconds.to_string()])
            .args(["--latency-calls", &options.latency_calls.to_string()])
            .args([
                "--latency-limit",
                &options.latency_limit.as_secs_f64().to_string(),
            ])
            .args(["--probe-ms", &options.probe.as_millis().to_string()])
            .args(["--rate-spread", &options.rate_spread.to_string()])
            .args([
                "--heap-trim-s",
                &options
                    .heap_trim
                    .map_or(0.0, |t| t.as_secs_f64())
                    .to_string(),
            ])
            .args(
                options
                    .idle_timeout
                    .map(|t| ["--idle-timeout-s".to_owned(), t.as_secs_f64().to_string()])
                    .into_iter()
                    .flatten(),
            )
            .args(
                options
                    .read_quorum
                    .map(|q| ["--read-quorum".to_owned(), q.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Peer(format!("cannot start {}: {e}", program.display())))?;
        let stdout = child.stdout.take();
        peers.stdins.push(child.stdin.take());
        peers.children.push(child);
        let events = events.clone();
        std::thread::spawn(move || {
            if let Some(stdout) = stdout {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = match serde_json::from_str::<PeerMessage>(&line) {
                        Ok(message) => Event::Message(index, message),
                        Err(_) => Event::Garbage(index, line),
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
            let _ = events.send(Event::Exited(index));
        });
    }
    drop(events);

    // Wait until every peer is ready, then start them together.
    let mut ready = 0;
    let setup_deadline = Instant::now() + options.setup_limit + Duration::from_secs(30);
    while ready < n {
        match tokio::time::timeout_at(setup_deadline.into(), inbox.recv()).await {
            Ok(Some(Event::Message(_, PeerMessage::Ready { .. }))) => ready += 1,
            Ok(Some(Event::Garbage(i, line))) => {
                tracing::warn!(peer = i, line, "unexpected output from a peer");
            }
            Ok(Some(Event::Exited(i))) => {
                return Err(BenchError::Peer(format!("peer {i} exited during setup")))
            }
            Ok(Some(Event::Message(i, _))) => {
                return Err(BenchError::Peer(format!("peer {i} answered out of turn")))
            }
            Ok(None) | Err(_) => {
                return Err(BenchError::Peer(format!(
                    "only {ready} of {n} peers were ready in time"
                )))
            }
        }
    }
    let setup_seconds = setup.elapsed().as_secs_f64();
    let start_unix = SystemClock.now() + 0.5;
    let start = instant_at_unix(start_unix);
    peers.tell_all(&format!("go {start_unix:.6}"));

    // Collect every peer's result.
    let mut results: HashMap<usize, PeerResult> = HashMap::new();
    let deadline = start + options.duration + options.latency_limit + Duration::from_secs(90);
    while results.len() < n {
        match tokio::time::timeout_at(deadline.into(), inbox.recv()).await {
            Ok(Some(Event::Message(i, PeerMessage::Result(result)))) => {
                results.insert(i, *result);
            }
            Ok(Some(Event::Garbage(i, line))) => {
                tracing::warn!(peer = i, line, "unexpected output from a peer");
            }
            Ok(Some(Event::Exited(i))) if !results.contains_key(&i) => {
                return Err(BenchError::Peer(format!(
                    "peer {i} exited before reporting"
                )))
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                return Err(BenchError::Peer(format!(
                    "only {} of {n} peers reported in time",
                    results.len()
                )))
            }
        }
    }
    peers.stop(Duration::from_secs(15));
    seed.stop();

    let ordered: Vec<PeerResult> = (0..n).filter_map(|i| results.remove(&i)).collect();
    Ok(report_from_results(options, setup_seconds, ordered))
}

/// The figures of a run from its peers' results (process mode, and standalone peers'
/// files): times in the results are seconds since the common start of the epoch phase.
pub(crate) fn report_from_results(
    options: &BenchOptions,
    setup_seconds: f64,
    mut ordered: Vec<PeerResult>,
) -> Report {
    let n = ordered.len();
    let start = Instant::now();
    let at = |t: f64| start + Duration::from_secs_f64(t.max(0.0));
    ordered.sort_by_key(|r| r.index);
    let runs: Vec<PeerRun> = ordered
        .iter()
        .map(|r| PeerRun {
            log: TrainerLog {
                reports: r
                    .reports
                    .iter()
                    .map(|&(epoch, samples, t)| Step {
                        epoch,
                        samples,
                        at: at(t),
                    })
                    .collect(),
                transitions: r
                    .transitions
                    .iter()
                    .map(|&(from, to, t)| Transition {
                        from,
                        to,
                        at: at(t),
                    })
                    .collect(),
            },
            first_ready: r.first_ready.iter().map(|&(e, t)| (e, at(t))).collect(),
        })
        .collect();
    let swarm = swarm_figures(&runs, options.target(), start);
    let per_min = |r: &PeerResult, v: f64| (r.phase_s > 0.0).then(|| v / (r.phase_s / 60.0));
    let cpu: Vec<Option<f64>> = ordered
        .iter()
        .map(|r| r.cpu_s.and_then(|c| per_min(r, c)))
        .collect();
    let cpu_mean = mean(cpu.iter().copied());
    let phase = mean(ordered.iter().map(|r| Some(r.phase_s))).unwrap_or(0.0);
    let counters = ordered
        .iter()
        .fold(NodeCounters::default(), |acc, r| acc.plus(r.counters));
    let latencies = ordered
        .first()
        .and_then(|r| r.latencies.clone())
        .unwrap_or_default();
    let per_peer = PerPeer {
        cpu_s_per_min: cpu_mean,
        cpu_s_per_min_max: cpu.iter().flatten().copied().reduce(f64::max),
        peak_rss_mib: mean(ordered.iter().map(|r| r.peak_rss_mib)),
        pss_mib: mean(ordered.iter().map(|r| r.pss_mib)),
        heap_in_use_mib: mean(ordered.iter().map(|r| r.heap_in_use_mib)),
        heap_free_mib: mean(ordered.iter().map(|r| r.heap_free_mib)),
        pss_after_trim_mib: mean(ordered.iter().map(|r| r.pss_after_trim_mib)),
        ..PerPeer::default()
    }
    .with_counters(&counters, n, phase)
    .with_peer_bytes(
        &ordered
            .iter()
            .map(|r| r.counters.bytes_in + r.counters.bytes_out)
            .collect::<Vec<_>>(),
        phase,
    );
    Report::new(options, setup_seconds, phase, swarm, per_peer, &latencies)
}
