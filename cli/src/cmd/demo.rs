//! `swarm-progress demo`: the main job, a local collaboration of simulated trainers
//! ([`crate::demo_swarm`]).

use std::time::Duration;

use clap::Args;
use swarm_progress::Protocol;

use super::{init_logging, GlobalFlags};
use crate::demo_swarm::{self, DemoOptions};
use crate::error::CliError;

/// Flags of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
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
    /// Give up after this many seconds (default: a minute plus three times the expected length
    /// of the epochs asked for, at least 120).
    #[arg(long)]
    timeout: Option<u64>,
    /// host:port of the first trainer's /metrics, /status and /healthz; "" disables them.
    #[arg(long, default_value = "127.0.0.1:0")]
    http: String,
    /// How entries travel: v1 (a DHT store per report, reads on a schedule) or v2 (push over
    /// gossip on events).
    #[arg(long, default_value = "v1")]
    protocol: Protocol,
}

/// Runs the demo swarm to its last epoch and prints the per-epoch summary.
pub fn run(args: DemoArgs, global: &GlobalFlags) -> Result<(), CliError> {
    // The demo keeps its output clean: warnings only unless RUST_LOG says otherwise.
    init_logging("warn", global, None);
    let options = DemoOptions {
        peers: args.peers,
        epochs: args.epochs,
        target_batch_size: args.target_batch_size,
        batch_size: args.batch_size,
        period: Duration::from_millis(args.period_ms),
        live: !args.quiet,
        timeout: args.timeout.map(Duration::from_secs),
        http: (!args.http.is_empty()).then_some(args.http),
        protocol: args.protocol,
        ..DemoOptions::default()
    };
    actix::System::new().block_on(async move {
        let mut stdout = std::io::stdout();
        demo_swarm::run(options, &mut stdout).await
    })?;
    Ok(())
}
