//! `swarm-progress watch`: joins a collaboration as a client and prints its progress on every
//! update ([`crate::node_runner`]).

use clap::Args;

use super::{GlobalFlags, ProgressFlags};
use crate::error::CliError;
use crate::node_runner;

/// Flags of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    progress: ProgressFlags,
}

/// Prints the collaboration's progress until SIGINT / SIGTERM.
pub fn run(args: WatchArgs, global: &GlobalFlags) -> Result<(), CliError> {
    let settings = args.progress.load_settings(global, |settings| {
        settings.tracker.client_mode = Some(true);
    })?;
    actix::System::new().block_on(node_runner::run(
        settings,
        global.config.as_deref(),
        node_runner::Role::Tracker,
        args.progress.output(),
        None,
    ))?;
    Ok(())
}
