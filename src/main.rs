//! The `swarm-progress` command: `demo` (a local collaboration, the main job) and `keygen`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use swarm_progress::demo::{self, DemoOptions};
use swarm_progress::Identity;

/// Tracks the training progress of a decentralized deep-learning collaboration.
#[derive(Debug, Parser)]
#[command(name = "swarm-progress", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
    /// Write a new identity (Ed25519 PKCS#8, mode 0600) and print its peer id.
    Keygen {
        /// Where to write it (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Demo {
            peers,
            epochs,
            target_batch_size,
            batch_size,
            period_ms,
            quiet,
            timeout,
        } => {
            let options = DemoOptions {
                peers,
                epochs,
                target_batch_size,
                batch_size,
                period: Duration::from_millis(period_ms),
                live: !quiet,
                timeout: Duration::from_secs(timeout),
                ..DemoOptions::default()
            };
            let system = actix::System::new();
            let result = system.block_on(async move {
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
