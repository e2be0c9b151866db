//! `swarm-progress train`: a simulated trainer that joins a collaboration (the demo's trainer:
//! `--batch-size` samples every `--period-ms`), reports its progress to a full tracker, moves
//! to the next epoch when the swarm is ready, and prints the swarm's progress on every update
//! ([`crate::node_runner`]). It stops after `--epochs` epochs, or on SIGINT / SIGTERM, storing
//! its tombstone.

use std::time::Duration;

use clap::Args;
use swarm_progress::simulation::SimulatedTrainer;

use super::{GlobalFlags, ProgressFlags};
use crate::error::CliError;
use crate::node_runner::{self, Training};

/// Flags of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    progress: ProgressFlags,
    /// Samples per step.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Milliseconds between steps.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    period_ms: u64,
    /// Stop after the swarm has moved this many epochs past the one this trainer joined at
    /// (default: train until SIGINT / SIGTERM).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: Option<u64>,
}

/// Trains until the epochs are done or a signal comes.
pub fn run(args: TrainArgs, global: &GlobalFlags) -> Result<(), CliError> {
    let settings = args.progress.load_settings(global, |_| {})?;
    let training = Training {
        trainer: SimulatedTrainer {
            batch: args.batch_size,
            period: Duration::from_millis(args.period_ms),
            start_epoch: 0,
            start_delay: Duration::ZERO,
        },
        epochs: args.epochs,
    };
    actix::System::new().block_on(node_runner::run(
        settings,
        global.config.as_deref(),
        node_runner::Role::Trainer(training),
        args.progress.output(),
        None,
    ))?;
    Ok(())
}
