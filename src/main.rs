//! The `swarm-progress` command: `demo` (a local collaboration, the main job), `node` (a
//! headless DHT node), `watch` (a live view of a collaboration) and `keygen`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad arguments or an impossible setting.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use swarm_progress::bench;
use swarm_progress::demo::{self, DemoOptions};
use swarm_progress::node::{self, Output};
use swarm_progress::{Identity, Settings};

/// Tracks the training progress of a decentralized deep-learning collaboration.
#[derive(Debug, Parser)]
#[command(name = "swarm-progress", version, about)]
struct Cli {
    /// A TOML file layered over the embedded defaults (config/default.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format (overrides logging.format).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
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

/// The workload flags of `bench` (and its peers).
#[derive(Debug, Args)]
struct BenchFlags {
    /// Peers.
    #[arg(long, default_value_t = 4)]
    peers: usize,
    /// Refresh preset: fast (0.1/0.2/0.5 s) or default (0.5/3/10 s).
    #[arg(long, value_enum, default_value_t = RefreshArg::Fast)]
    refresh: RefreshArg,
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
    /// at least this often, milliseconds.
    #[arg(long, default_value_t = 50)]
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

impl BenchFlags {
    fn options(&self, mode: bench::Mode) -> Result<bench::BenchOptions, String> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.duration)
            && positive(self.epoch_seconds)
            && positive(self.latency_limit))
        {
            return Err("--duration, --epoch-seconds and --latency-limit must be positive".into());
        }
        if self.probe_ms == 0 {
            return Err("--probe-ms must be positive".into());
        }
        let options = bench::BenchOptions {
            peers: self.peers,
            mode,
            refresh: match self.refresh {
                RefreshArg::Fast => bench::Refresh::Fast,
                RefreshArg::Default => bench::Refresh::Default,
            },
            batch_size: self.batch_size,
            period: Duration::from_millis(self.period_ms),
            duration: Duration::from_secs_f64(self.duration),
            epoch_seconds: self.epoch_seconds,
            probe: Duration::from_millis(self.probe_ms),
            latency_calls: self.latency_calls,
            latency_limit: Duration::from_secs_f64(self.latency_limit),
            node_threads: self.node_threads,
            rate_spread: self.rate_spread,
            ..bench::BenchOptions::default()
        };
        options.validate().map_err(|e| e.to_string())?;
        Ok(options)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Flags shared by the commands that run a node.
#[derive(Debug, Args)]
struct NodeFlags {
    /// Address to listen on (repeatable; overrides dht.listen).
    #[arg(long)]
    listen: Vec<String>,
    /// Peer to join through, with /p2p/<peer id> (repeatable; overrides dht.bootstrap).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Identity file, created if missing (overrides dht.key_file).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// host:port of /metrics, /status and /healthz; "" disables them (overrides http.listen).
    #[arg(long)]
    http: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local collaboration on 127.0.0.1: simulated trainers of different speeds, each with
    /// its own tracker and libp2p node, joined through one seed node; shows the progress live
    /// and prints a per-epoch summary.
    Demo {
        /// Number of simulated trainers.
        #[arg(long, default_value_t = 6)]
        peers: usize,
        /// Epochs to complete.
        #[arg(long, default_value_t = 3)]
        epochs: u64,
        /// Samples per epoch (default: about 3 s of the swarm's combined speed).
        #[arg(long)]
        target_batch_size: Option<u64>,
        /// Samples each trainer adds per step.
        #[arg(long, default_value_t = 16)]
        batch_size: u64,
        /// Step period of the fastest trainer, in milliseconds.
        #[arg(long, default_value_t = 100)]
        period_ms: u64,
        /// Do not print the live progress lines.
        #[arg(long)]
        quiet: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// host:port of the first trainer's /metrics, /status and /healthz; "" disables them.
        #[arg(long, default_value = "127.0.0.1:0")]
        http: String,
    },
    /// Run a headless DHT node: prints its peer id and listen addresses and serves records until
    /// SIGINT / SIGTERM. With --prefix it also tracks that collaboration in client mode and logs
    /// its progress.
    Node {
        #[command(flatten)]
        node: NodeFlags,
        /// Collaboration to track in client mode (overrides tracker.prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// Seconds between progress log lines when tracking (overrides node.status_interval).
        #[arg(long)]
        status_interval: Option<f64>,
    },
    /// Join a collaboration as a client and print its progress on every update.
    Watch {
        #[command(flatten)]
        node: NodeFlags,
        /// The collaboration (overrides tracker.prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// The collaboration's target batch size (overrides tracker.target_batch_size).
        #[arg(long)]
        target_batch_size: Option<u64>,
        /// One JSON object per update instead of a progress line.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark the reference workload: in one process (--mode scale) or one OS process per
    /// peer (--mode process); prints a markdown row and writes JSON with --out.
    Bench {
        #[command(flatten)]
        workload: BenchFlags,
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
    /// One peer of `bench --mode process` (started by it; speaks JSON lines on stdout).
    #[command(hide = true)]
    BenchPeer {
        #[command(flatten)]
        workload: BenchFlags,
        /// This peer's index.
        #[arg(long)]
        index: usize,
        /// The seed's address, with /p2p/<peer id>.
        #[arg(long)]
        bootstrap: String,
    },
    /// Write a new identity (Ed25519 PKCS#8, mode 0600) and print its peer id.
    Keygen {
        /// Where to write it (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads the settings and applies the flags; an impossible value ends the program with code 2.
fn settings(cli_config: Option<&PathBuf>, flags: Option<&NodeFlags>) -> Result<Settings, ExitCode> {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let mut settings = Settings::load(cli_config.map(PathBuf::as_path)).map_err(|e| fail(&e))?;
    if let Some(flags) = flags {
        if !flags.listen.is_empty() {
            settings.dht.listen = flags.listen.clone();
        }
        if !flags.bootstrap.is_empty() {
            settings.dht.bootstrap = flags.bootstrap.clone();
        }
        if let Some(path) = &flags.key_file {
            settings.dht.key_file = path.display().to_string();
        }
        if let Some(http) = &flags.http {
            settings.http.listen = http.clone();
        }
    }
    settings.validate().map_err(|e| fail(&e))?;
    Ok(settings)
}

fn run_node(
    mut settings: Settings,
    log_format: Option<LogFormat>,
    with_tracker: bool,
    output: Output,
    status_every: Option<Duration>,
) -> ExitCode {
    let json = match log_format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Human) => false,
        None => settings.logging.json().unwrap_or(false),
    };
    init_logging(&settings.logging.level, json);
    if with_tracker {
        settings.tracker.client_mode = true;
    }
    let result = actix::System::new()
        .block_on(async move { node::run(settings, with_tracker, output, status_every).await });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            peers,
            epochs,
            target_batch_size,
            batch_size,
            period_ms,
            quiet,
            timeout,
            http,
        } => {
            // The demo keeps its output clean: warnings only unless RUST_LOG says otherwise.
            init_logging("warn", matches!(cli.log_format, Some(LogFormat::Json)));
            let options = DemoOptions {
                peers,
                epochs,
                target_batch_size,
                batch_size,
                period: Duration::from_millis(period_ms),
                live: !quiet,
                timeout: Duration::from_secs(timeout),
                http: (!http.is_empty()).then_some(http),
                ..DemoOptions::default()
            };
            let result = actix::System::new().block_on(async move {
                let mut stdout = std::io::stdout();
                demo::run(options, &mut stdout).await
            });
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(demo::DemoError::Options(message)) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Node {
            node,
            prefix,
            status_interval,
        } => {
            let mut settings = match settings(cli.config.as_ref(), Some(&node)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let with_tracker = prefix.is_some();
            if let Some(prefix) = prefix {
                settings.tracker.prefix = prefix;
            }
            if let Some(interval) = status_interval {
                settings.node.status_interval = interval;
            }
            let every = match settings
                .validate()
                .and_then(|()| settings.node.status_interval())
            {
                Ok(every) => every,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            run_node(
                settings,
                cli.log_format,
                with_tracker,
                Output::Silent,
                Some(every),
            )
        }
        Command::Watch {
            node,
            prefix,
            target_batch_size,
            json,
        } => {
            let mut settings = match settings(cli.config.as_ref(), Some(&node)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Some(prefix) = prefix {
                settings.tracker.prefix = prefix;
            }
            if let Some(target) = target_batch_size {
                settings.tracker.target_batch_size = target;
            }
            if let Err(e) = settings.validate() {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            if settings.logging.level == "info" && std::env::var_os("RUST_LOG").is_none() {
                // Keep the progress output readable.
                settings.logging.level = "warn".into();
            }
            let output = if json { Output::Json } else { Output::Human };
            run_node(settings, cli.log_format, true, output, None)
        }
        Command::Bench {
            workload,
            mode,
            tcp,
            out,
        } => {
            init_logging("warn", matches!(cli.log_format, Some(LogFormat::Json)));
            let mode = match mode {
                ModeArg::Scale => bench::Mode::Scale { tcp },
                ModeArg::Process => bench::Mode::Process,
            };
            let options = match workload.options(mode) {
                Ok(options) => options,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let result = actix::System::new().block_on(bench::run(options));
            match result {
                Ok(report) => {
                    println!("{}", bench::Report::markdown_header());
                    println!("{}", report.markdown_row());
                    if let Some(path) = out {
                        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
                        if let Err(e) = std::fs::write(&path, text) {
                            eprintln!("error: cannot write {}: {e}", path.display());
                            return ExitCode::FAILURE;
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(bench::BenchError::Options(message)) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::BenchPeer {
            workload,
            index,
            bootstrap,
        } => {
            init_logging("warn", matches!(cli.log_format, Some(LogFormat::Json)));
            let options = workload.options(bench::Mode::Process);
            let bootstrap = bootstrap.parse();
            let (options, bootstrap) = match (options, bootstrap) {
                (Ok(o), Ok(b)) => (o, b),
                (Err(message), _) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
                (_, Err(e)) => {
                    eprintln!("error: --bootstrap: {e}");
                    return ExitCode::from(2);
                }
            };
            match actix::System::new().block_on(bench::peer::run(index, &options, bootstrap)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: peer {index}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keygen { out } => match Identity::generate().and_then(|id| {
            id.save(&out)?;
            Ok(id)
        }) {
            Ok(identity) => {
                println!("{}", identity.peer_id());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
