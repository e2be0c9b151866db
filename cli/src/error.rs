//! [`CliError`]: every way a subcommand can fail, and the exit code each one means.

use swarm_progress::{IdentityError, SettingsError, TokenError, TrackerError};
use thiserror::Error;

use crate::demo_swarm::DemoError;
use crate::node_runner::NodeRunError;

/// Why a subcommand failed. [`CliError::exit_code`]: 2 for bad input (an impossible setting or
/// flag, named in the message), 1 for a failure at run time.
#[derive(Debug, Error)]
pub enum CliError {
    /// A setting (from a file, the environment or a flag) is impossible.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The demo failed (its options, or the swarm).
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// A node or watcher failed.
    #[error(transparent)]
    Node(#[from] NodeRunError),
    /// An identity could not be created, loaded or written.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// An admission token could not be read or written.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A flag's value is impossible.
    #[error("{0}")]
    Arguments(String),
    /// A file could not be written, or the system failed us.
    #[error("{0}")]
    Io(String),
}

impl CliError {
    /// The process exit code: 2 for bad input, 1 for a failure at run time.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Settings(_)
            | CliError::Demo(DemoError::Options(_))
            | CliError::Arguments(_)
            | CliError::Node(NodeRunError::Tracker(
                TrackerError::Config(_) | TrackerError::Admission(_),
            )) => 2,
            CliError::Demo(_)
            | CliError::Node(_)
            | CliError::Identity(_)
            | CliError::Token(_)
            | CliError::Io(_) => 1,
        }
    }
}
