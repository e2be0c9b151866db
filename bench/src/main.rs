//! `swarm-progress-bench`: the reference workload as a command. `run` measures a swarm (every
//! peer in this process, or one OS process per peer) and prints a markdown row, with the figures
//! as JSON under `--out`; `peer` is one peer of a process-mode run, started by `run`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use swarm_progress::HeapTrimmer;
use swarm_progress_bench as bench;

/// Benchmarks swarm-progress on the reference workload of hivemind's tracker benchmark.
#[derive(Debug, Parser)]
#[command(name = "swarm-progress-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RefreshArg {
    Fast,
    Default,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Scale,
    Process,
}

/// The workload flags of `run` (and of its peers).
#[derive(Debug, Args)]
struct WorkloadFlags {
    /// Peers.
    #[arg(long, default_value_t = 4)]
    peers: usize,
    /// Refresh preset: fast (0.1/0.2/0.5 s) or default (0.5/3/10 s).
    #[arg(long, value_enum, default_value_t = RefreshArg::Fast)]
    refresh: RefreshArg,
    /// How entries travel: v1 (a DHT store per report, reads on a schedule) or v2 (push over
    /// gossip on events, the DHT as the way in).
    #[arg(long, default_value = "v1")]
    protocol: swarm_progress::Protocol,
    /// Samples per step.
    #[arg(long, default_value_t = 16)]
    batch_size: u64,
    /// Step period, milliseconds.
    #[arg(long, default_value_t = 250)]
    period_ms: u64,
    /// Length of the epoch phase, seconds.
    #[arg(long, default_value_t = 40.0)]
    duration: f64,
    /// Ideal epoch length, seconds (sets the target batch size).
    #[arg(long, default_value_t = 4.0)]
    epoch_seconds: f64,
    /// The probe checks ready_to_update_epoch on every tracker state change, at the ETA, and
    /// at least this often, milliseconds (the first two see every change; polling every 50 ms
    /// measured the same lag and cost a v2 peer a third of its CPU).
    #[arg(long, default_value_t = 1000)]
    probe_ms: u64,
    /// Most calls of each kind in the latency phase.
    #[arg(long, default_value_t = 300)]
    latency_calls: usize,
    /// Longest latency phase, seconds.
    #[arg(long, default_value_t = 25.0)]
    latency_limit: f64,
    /// Scale mode: run the peers' libp2p nodes on this many shared threads (0: a thread per
    /// node).
    #[arg(long, default_value_t = 0)]
    node_threads: usize,
    /// Spread of the peers' speeds: peer i steps every period*(1+spread*(2i/(N-1)-1)); 0 = all
    /// peers equal (the reference's --rate-spread).
    #[arg(long, default_value_t = 0.0)]
    rate_spread: f64,
    /// Seconds the peers' nodes keep an idle connection (default: the node's, 120).
    #[arg(long)]
    idle_timeout_s: Option<f64>,
    /// Replicas' copies a read waits for (default: the node's, 3; 0 waits for the lookup).
    #[arg(long)]
    read_quorum: Option<usize>,
    /// Process and standalone peers: seconds between trims of the process's heap, which give
    /// the allocator's free pages back to the kernel, as the `swarm-progress` commands do
    /// (0: never).
    #[arg(long, default_value_t = 10.0)]
    heap_trim_s: f64,
}

impl WorkloadFlags {
    /// These flags as arguments, to pass them on to standalone peers.
    fn to_args(&self) -> Vec<String> {
        let refresh = match self.refresh {
            RefreshArg::Fast => "fast",
            RefreshArg::Default => "default",
        };
        [
            ("--peers", self.peers.to_string()),
            ("--refresh", refresh.to_string()),
            ("--protocol", self.protocol.as_str().to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--period-ms", self.period_ms.to_string()),
            ("--duration", self.duration.to_string()),
            ("--epoch-seconds", self.epoch_seconds.to_string()),
            ("--probe-ms", self.probe_ms.to_string()),
            ("--rate-spread", self.rate_spread.to_string()),
            ("--heap-trim-s", self.heap_trim_s.to_string()),
        ]
        .into_iter()
        .chain(
            self.idle_timeout_s
                .map(|s| ("--idle-timeout-s", s.to_string())),
        )
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect()
    }

    /// The benchmark options these flags describe (checked by `BenchOptions::validate` when
    /// they run; here only what cannot become a `Duration`).
    fn options(&self, mode: bench::Mode) -> Result<bench::BenchOptions, bench::BenchError> {
        let seconds = |flag: &'static str, value: f64| {
            Duration::try_from_secs_f64(value)
                .map_err(|_| bench::BenchError::Options(format!("{flag} must be positive")))
        };
        Ok(bench::BenchOptions {
            peers: self.peers,
            mode,
            refresh: match self.refresh {
                RefreshArg::Fast => bench::Refresh::Fast,
                RefreshArg::Default => bench::Refresh::Default,
            },
            protocol: self.protocol,
            batch_size: self.batch_size,
            period: Duration::from_millis(self.period_ms),
            duration: seconds("--duration", self.duration)?,
            epoch_seconds: self.epoch_seconds,
            probe: Duration::from_millis(self.probe_ms),
            latency_calls: self.latency_calls,
            latency_limit: seconds("--latency-limit", self.latency_limit)?,
            node_threads: self.node_threads,
            rate_spread: self.rate_spread,
            idle_timeout: self
                .idle_timeout_s
                .map(|s| seconds("--idle-timeout-s", s))
                .transpose()?,
            read_quorum: self.read_quorum,
            heap_trim: (self.heap_trim_s != 0.0)
                .then(|| seconds("--heap-trim-s", self.heap_trim_s))
                .transpose()?,
            ..bench::BenchOptions::default()
        })
    }
}

/// The flags of `standalone` besides the workload.
#[derive(Debug, Args)]
struct StandaloneFlags {
    /// This peer's index (0..peers).
    #[arg(long)]
    index: usize,
    /// The seed's address, with /p2p/<peer id>; omit for the seed itself.
    #[arg(long)]
    bootstrap: Option<String>,
    /// The address to listen on: the host's own, e.g. /ip4/11.0.0.5/tcp/4001.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    listen: String,
    /// The identity file (`swarm-progress keygen` writes one); default: a fresh identity.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Start the epoch phase this many seconds after this process started.
    #[arg(long, conflicts_with = "start_at")]
    start_after: Option<f64>,
    /// Start the epoch phase at this time (Unix seconds).
    #[arg(long)]
    start_at: Option<f64>,
    /// Train this many seconds more after the phase, so the others' phases end first.
    #[arg(long, default_value_t = 5.0)]
    linger: f64,
    /// Dial every connection from a fresh port (needed under Shadow).
    #[arg(long)]
    fresh_ports: bool,
    /// Where this peer's figures go (JSON).
    #[arg(long)]
    out: PathBuf,
}

impl StandaloneFlags {
    /// The standalone peer these flags describe; the message names the flag at fault.
    fn peer(&self) -> Result<bench::standalone::Standalone, bench::BenchError> {
        let bad = |flag: &str, e: &dyn std::fmt::Display| {
            bench::BenchError::Options(format!("{flag}: {e}"))
        };
        let bootstrap = self
            .bootstrap
            .as_deref()
            .map(|b| b.parse().map_err(|e| bad("--bootstrap", &e)))
            .transpose()?;
        let listen = self.listen.parse().map_err(|e| bad("--listen", &e))?;
        let start = match (self.start_after, self.start_at) {
            (Some(after), None) if after.is_finite() && after >= 0.0 => {
                bench::standalone::StartAt::AfterOwnStart(after)
            }
            (None, Some(at)) if at.is_finite() => bench::standalone::StartAt::Unix(at),
            _ => {
                return Err(bench::BenchError::Options(
                    "give one of --start-after (seconds >= 0) or --start-at (Unix seconds)".into(),
                ))
            }
        };
        let linger = Duration::try_from_secs_f64(self.linger)
            .map_err(|_| bench::BenchError::Options("--linger must be seconds >= 0".into()))?;
        Ok(bench::standalone::Standalone {
            index: self.index,
            bootstrap,
            listen,
            key_file: self.key_file.clone(),
            start,
            out: self.out.clone(),
            linger,
            fresh_ports: self.fresh_ports,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmark the reference workload: in one process (--mode scale) or one OS process per
    /// peer (--mode process); prints a markdown row and writes JSON with --out.
    Run {
        #[command(flatten)]
        workload: WorkloadFlags,
        /// scale: every peer in this process; process: one OS process per peer (loopback TCP).
        #[arg(long, value_enum, default_value_t = ModeArg::Scale)]
        mode: ModeArg,
        /// Scale mode over loopback TCP instead of the in-memory transport.
        #[arg(long)]
        tcp: bool,
        /// Write the figures as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One peer that runs on its own (under the Shadow simulator, or on separate hosts): joins
    /// through --bootstrap (none: it is the seed), starts the epoch phase at --start-after
    /// seconds after its own start (or --start-at, Unix seconds), writes its figures to --out,
    /// trains --linger seconds more, then leaves with its tombstone and exits 0.
    Standalone {
        #[command(flatten)]
        workload: WorkloadFlags,
        #[command(flatten)]
        peer: StandaloneFlags,
    },
    /// Writes a Shadow scenario for --peers standalone peers (one per simulated host) into
    /// --dir: shadow.yaml, graph.gml, the seed's key, and results/ for their figures. Run it
    /// with `shadow --data-directory DIR/shadow.data DIR/shadow.yaml`, then `collect`.
    ShadowConfig {
        #[command(flatten)]
        workload: WorkloadFlags,
        /// The network: calibration (like loopback) or volunteer (5 regions, home links).
        #[arg(long, default_value = "volunteer")]
        graph: String,
        /// Where the scenario goes.
        #[arg(long)]
        dir: PathBuf,
        /// Simulated seconds before the common start of the epoch phase.
        #[arg(long, default_value_t = 60.0)]
        setup: f64,
        /// Simulated seconds over which the peers' processes start (within --setup).
        #[arg(long, default_value_t = 20.0)]
        join_spread: f64,
        /// Seconds each peer trains on after its phase.
        #[arg(long, default_value_t = 5.0)]
        linger: f64,
        /// Shadow's worker threads.
        #[arg(long, default_value_t = 2)]
        parallelism: usize,
        /// The swarm-progress-bench binary the hosts run (default: this one).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// The figures of a run of standalone peers, from the directory of their --out files:
    /// prints the markdown row, and writes JSON with --out.
    Collect {
        #[command(flatten)]
        workload: WorkloadFlags,
        /// The directory of the peers' result files.
        #[arg(long)]
        results: PathBuf,
        /// Seconds the peers were given before the common start (reported as set-up time).
        #[arg(long, default_value_t = 0.0)]
        setup: f64,
        /// Write the figures as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One peer of `run --mode process` (started by it; speaks JSON lines on stdout).
    #[command(hide = true)]
    Peer {
        #[command(flatten)]
        workload: WorkloadFlags,
        /// This peer's index.
        #[arg(long)]
        index: usize,
        /// The seed's address, with /p2p/<peer id>.
        #[arg(long)]
        bootstrap: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `run`: the whole benchmark.
fn run(
    workload: &WorkloadFlags,
    mode: ModeArg,
    tcp: bool,
    out: Option<PathBuf>,
) -> Result<(), bench::BenchError> {
    let mode = match mode {
        ModeArg::Scale => bench::Mode::Scale { tcp },
        ModeArg::Process => bench::Mode::Process,
    };
    let options = workload.options(mode)?;
    let report = actix::System::new().block_on(bench::run(options))?;
    print_report(&report, out)
}

/// Writes the markdown row of `report` to stdout and its JSON to `out`.
fn print_report(report: &bench::Report, out: Option<PathBuf>) -> Result<(), bench::BenchError> {
    println!("{}", bench::Report::markdown_header());
    println!("{}", report.markdown_row());
    if let Some(path) = out {
        let text = serde_json::to_string(report)
            .map_err(|e| bench::BenchError::Output(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text + "\n")
            .map_err(|e| bench::BenchError::Output(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `standalone`: one peer on its own.
fn standalone(workload: &WorkloadFlags, flags: &StandaloneFlags) -> Result<(), bench::BenchError> {
    let options = workload.options(bench::Mode::Standalone)?;
    if flags.index >= options.peers {
        return Err(bench::BenchError::Options(format!(
            "--index {} must be below --peers {}",
            flags.index, options.peers
        )));
    }
    let peer = flags.peer()?;
    let _trimmer = heap_trimmer(options.heap_trim)?;
    actix::System::new().block_on(bench::standalone::run(&options, &peer))
}

/// The peer process's heap trimmer (`--heap-trim-s`), or none.
fn heap_trimmer(period: Option<Duration>) -> Result<Option<HeapTrimmer>, bench::BenchError> {
    period
        .map(HeapTrimmer::start)
        .transpose()
        .map_err(|e| bench::BenchError::Peer(format!("starting the heap trimmer: {e}")))
}

/// `shadow-config`: writes a Shadow scenario.
#[allow(clippy::too_many_arguments)]
fn shadow_config(
    workload: &WorkloadFlags,
    graph: &str,
    dir: &std::path::Path,
    setup: f64,
    join_spread: f64,
    linger: f64,
    parallelism: usize,
    binary: Option<PathBuf>,
) -> Result<(), bench::BenchError> {
    let options = workload.options(bench::Mode::Standalone)?;
    options.validate()?;
    let graph = bench::shadow::Graph::parse(graph).ok_or_else(|| {
        bench::BenchError::Options(format!(
            "--graph must be calibration or volunteer, got {graph:?}"
        ))
    })?;
    let positive = |flag: &str, v: f64| {
        (v.is_finite() && v >= 0.0)
            .then_some(v)
            .ok_or_else(|| bench::BenchError::Options(format!("{flag} must be seconds >= 0")))
    };
    if join_spread >= setup {
        return Err(bench::BenchError::Options(
            "--join-spread must be shorter than --setup".into(),
        ));
    }
    let binary = match binary {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| bench::BenchError::Options(format!("--binary: {e}")))?,
    };
    let scenario = bench::shadow::Scenario {
        peers: options.peers,
        graph,
        binary,
        workload_args: workload.to_args(),
        setup_s: positive("--setup", setup)?,
        join_spread_s: positive("--join-spread", join_spread)?,
        duration_s: options.duration.as_secs_f64(),
        linger_s: positive("--linger", linger)?,
        parallelism: parallelism.max(1),
    };
    let written = scenario.write(dir)?;
    println!("config {}", written.config.display());
    println!("results {}", written.results.display());
    println!("seed {}", written.seed_addr);
    Ok(())
}

/// `collect`: the figures of a run of standalone peers.
fn collect(
    workload: &WorkloadFlags,
    results: &std::path::Path,
    setup: f64,
    out: Option<PathBuf>,
) -> Result<(), bench::BenchError> {
    let options = workload.options(bench::Mode::Standalone)?;
    let report = bench::standalone::collect(&options, results, setup)?;
    print_report(&report, out)
}

/// `peer`: one peer of a process-mode run.
fn peer(workload: &WorkloadFlags, index: usize, bootstrap: &str) -> Result<(), bench::BenchError> {
    let options = workload.options(bench::Mode::Process)?;
    let bootstrap = bootstrap
        .parse()
        .map_err(|e| bench::BenchError::Options(format!("--bootstrap: {e}")))?;
    let _trimmer = heap_trimmer(options.heap_trim)?;
    actix::System::new().block_on(bench::peer::run(index, &options, bootstrap))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // Errors of a peer process name the peer: its parent shows them beside the others'.
    let (result, who) = match &cli.command {
        Command::Run {
            workload,
            mode,
            tcp,
            out,
        } => (run(workload, *mode, *tcp, out.clone()), String::new()),
        Command::Peer {
            workload,
            index,
            bootstrap,
        } => (peer(workload, *index, bootstrap), format!("peer {index}: ")),
        Command::Standalone { workload, peer } => {
            (standalone(workload, peer), format!("peer {}: ", peer.index))
        }
        Command::Collect {
            workload,
            results,
            setup,
            out,
        } => (
            collect(workload, results, *setup, out.clone()),
            String::new(),
        ),
        Command::ShadowConfig {
            workload,
            graph,
            dir,
            setup,
            join_spread,
            linger,
            parallelism,
            binary,
        } => (
            shadow_config(
                workload,
                graph,
                dir,
                *setup,
                *join_spread,
                *linger,
                *parallelism,
                binary.clone(),
            ),
            String::new(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {who}{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
