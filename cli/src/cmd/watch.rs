//! `swarm-progress watch`: joins a collaboration as a client and prints its progress on every
//! update ([`crate::node_runner`]).

use clap::Args;

use super::{init_logging, load_settings, GlobalFlags, NodeFlags};
use crate::error::CliError;
use crate::node_runner::{self, Output};

/// Flags of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
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
}

/// Prints the collaboration's progress until SIGINT / SIGTERM.
pub fn run(args: WatchArgs, global: &GlobalFlags) -> Result<(), CliError> {
    let mut settings = load_settings(global, |settings| {
        args.node.apply(settings);
        if let Some(prefix) = args.prefix {
            settings.tracker.prefix = prefix;
        }
        if let Some(target) = args.target_batch_size {
            settings.tracker.target_batch_size = target;
        }
        settings.tracker.client_mode = Some(true);
    })?;
    if settings.logging.level == "info" && std::env::var_os("RUST_LOG").is_none() {
        // Keep the progress output readable.
        settings.logging.level = "warn".into();
    }
    init_logging(&settings.logging.level, global, Some(&settings));
    let output = if args.json {
        Output::Json
    } else {
        Output::Human
    };
    actix::System::new().block_on(node_runner::run(
        settings,
        node_runner::Role::Tracker,
        output,
        None,
    ))?;
    Ok(())
}
