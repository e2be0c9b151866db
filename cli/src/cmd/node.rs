//! `swarm-progress node`: a headless DHT node, tracking a collaboration in client mode when
//! given `--prefix` ([`crate::node_runner`]).

use clap::Args;

use super::{init_logging, load_settings, GlobalFlags, NodeFlags};
use crate::error::CliError;
use crate::node_runner::{self, Output};

/// Flags of `node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    node: NodeFlags,
    /// Collaboration to track in client mode (overrides tracker.prefix).
    #[arg(long)]
    prefix: Option<String>,
    /// Seconds between progress log lines when tracking (overrides node.status_interval).
    #[arg(long)]
    status_interval: Option<f64>,
}

/// Runs the node until SIGINT / SIGTERM.
pub fn run(args: NodeArgs, global: &GlobalFlags) -> Result<(), CliError> {
    let with_tracker = args.prefix.is_some();
    let settings = load_settings(global, |settings| {
        args.node.apply(settings);
        if let Some(prefix) = args.prefix {
            settings.tracker.prefix = prefix;
        }
        if let Some(interval) = args.status_interval {
            settings.node.status_interval = interval;
        }
        if with_tracker {
            settings.tracker.client_mode = Some(true);
        }
    })?;
    let every = settings.node.status_interval()?;
    init_logging(&settings.logging.level, global, Some(&settings));
    let role = if with_tracker {
        node_runner::Role::Tracker
    } else {
        node_runner::Role::Node
    };
    actix::System::new().block_on(node_runner::run(
        settings,
        global.config.as_deref(),
        role,
        Output::Silent,
        Some(every),
    ))?;
    Ok(())
}
