//! `swarm-progress-bench`: the reference workload as a command. `run` measures a swarm (every
//! peer in this process, or one OS process per peer) and prints a markdown row, with the figures
//! as JSON under `--out`; `peer` is one peer of a process-mode run, started by `run`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
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
}

impl WorkloadFlags {
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
            ..bench::BenchOptions::default()
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
    println!("{}", bench::Report::markdown_header());
    println!("{}", report.markdown_row());
    if let Some(path) = out {
        let text = serde_json::to_string(&report)
            .map_err(|e| bench::BenchError::Output(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text + "\n")
            .map_err(|e| bench::BenchError::Output(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `peer`: one peer of a process-mode run.
fn peer(workload: &WorkloadFlags, index: usize, bootstrap: &str) -> Result<(), bench::BenchError> {
    let options = workload.options(bench::Mode::Process)?;
    let bootstrap = bootstrap
        .parse()
        .map_err(|e| bench::BenchError::Options(format!("--bootstrap: {e}")))?;
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {who}{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
