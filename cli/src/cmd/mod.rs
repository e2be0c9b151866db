//! The subcommands, one file each, and what they share: the global flags, the flags of the
//! commands that run a node, loading the settings (validated once, after every flag is applied)
//! and logging.

pub mod authority;
pub mod demo;
pub mod keygen;
pub mod node;
pub mod train;
pub mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use swarm_progress::{Protocol, Settings};

use crate::error::CliError;
use crate::node_runner::Output;

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalFlags {
    /// A TOML file layered over the embedded defaults (config/default.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log format (overrides logging.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per event.
    Json,
}

/// Flags shared by the commands that run a node.
#[derive(Debug, Args)]
pub struct NodeFlags {
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
    /// How entries travel, v1 or v2 (overrides tracker.protocol).
    #[arg(long)]
    protocol: Option<Protocol>,
    /// The private collaboration's network key file (overrides dht.network_key_file).
    #[arg(long)]
    network_key_file: Option<PathBuf>,
    /// This peer's admission token file (overrides dht.token_file).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The private collaboration's run authority, 12D3KooW... (overrides tracker.authority).
    #[arg(long)]
    authority: Option<String>,
}

impl NodeFlags {
    /// Writes the flags that were given over `settings`.
    fn apply(&self, settings: &mut Settings) {
        if !self.listen.is_empty() {
            settings.dht.listen = self.listen.clone();
        }
        if !self.bootstrap.is_empty() {
            settings.dht.bootstrap = self.bootstrap.clone();
        }
        if let Some(path) = &self.key_file {
            settings.dht.key_file = path.display().to_string();
        }
        if let Some(http) = &self.http {
            settings.http.listen = http.clone();
        }
        if let Some(protocol) = self.protocol {
            settings.tracker.protocol = protocol;
        }
        if let Some(path) = &self.network_key_file {
            settings.dht.network_key_file = path.display().to_string();
        }
        if let Some(path) = &self.token_file {
            settings.dht.token_file = path.display().to_string();
        }
        if let Some(authority) = &self.authority {
            settings.tracker.authority = authority.clone();
        }
    }
}

/// Flags of the commands that follow one collaboration and print its progress on every update
/// (`watch`, `train`).
#[derive(Debug, Args)]
pub struct ProgressFlags {
    #[command(flatten)]
    node: NodeFlags,
    /// The collaboration (overrides tracker.prefix).
    #[arg(long)]
    prefix: Option<String>,
    /// Samples per epoch, the same for every peer of the collaboration (overrides
    /// tracker.target_batch_size).
    #[arg(long)]
    target_batch_size: Option<u64>,
    /// One JSON object per update instead of a progress line.
    #[arg(long)]
    json: bool,
}

impl ProgressFlags {
    /// Loads the settings with these flags (and then `adjust`) written over them, and starts
    /// logging: at `warn` unless a level other than the default `info` was asked for, so the
    /// progress lines stay readable.
    pub fn load_settings(
        &self,
        global: &GlobalFlags,
        adjust: impl FnOnce(&mut Settings),
    ) -> Result<Settings, CliError> {
        let mut settings = load_settings(global, |settings| {
            self.node.apply(settings);
            if let Some(prefix) = &self.prefix {
                settings.tracker.prefix = prefix.clone();
            }
            if let Some(target) = self.target_batch_size {
                settings.tracker.target_batch_size = target;
            }
            adjust(settings);
        })?;
        if settings.logging.level == "info" && std::env::var_os("RUST_LOG").is_none() {
            settings.logging.level = "warn".into();
        }
        init_logging(&settings.logging.level, global, Some(&settings));
        Ok(settings)
    }

    /// How the progress is printed.
    pub fn output(&self) -> Output {
        if self.json {
            Output::Json
        } else {
            Output::Human
        }
    }
}

/// Loads the settings (defaults, `--config`, environment), lets `apply` write the flags over
/// them, then validates the result once: an impossible value is a [`CliError::Settings`]
/// naming the setting (exit code 2).
pub fn load_settings(
    global: &GlobalFlags,
    apply: impl FnOnce(&mut Settings),
) -> Result<Settings, CliError> {
    let mut settings = Settings::load(global.config.as_deref())?;
    apply(&mut settings);
    settings.validate()?;
    Ok(settings)
}

/// Logs to stderr at `level` (unless `RUST_LOG` says otherwise), as JSON or human-readable
/// lines: `--log-format` first, then `logging.format` when settings are given.
pub fn init_logging(level: &str, global: &GlobalFlags, settings: Option<&Settings>) {
    let json = match global.log_format {
        Some(format) => format == LogFormat::Json,
        None => settings
            .and_then(|s| s.logging.json().ok())
            .unwrap_or(false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log redirected to a file or a journal stays plain.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
