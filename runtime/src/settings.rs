//! Layered settings: the embedded `config/default.toml`, then an optional file, then
//! `SWARM_PROGRESS__<SECTION>__<KEY>` environment variables (lists comma-separated), then
//! command-line flags (applied by the binary); validated as a whole, every error naming its
//! setting.

use std::collections::HashMap;
use std::path::Path;

use std::time::Duration;

use crate::admission_token::{AdmissionToken, TOKEN_LEN};
use crate::config::{ConfigError, TrackerConfig};
use crate::dht::node::{peer_id_of, Multiaddr, NodeConfig};
use crate::records::{RecordLimits, COMPACT_ENTRY_LEN};
use config::{Config, Environment, File, FileFormat};
use libp2p::pnet::PreSharedKey;
use serde::Deserialize;
use thiserror::Error;

/// The embedded default configuration (`config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "SWARM_PROGRESS";

/// All settings of a swarm-progress process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The progress tracker.
    pub tracker: TrackerConfig,
    /// The DHT node.
    pub dht: DhtSettings,
    /// The `node` command.
    pub node: NodeSettings,
    /// The HTTP endpoints of `node` and `watch`.
    pub http: HttpSettings,
    /// Logging.
    pub logging: LoggingSettings,
}

/// The `[node]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// Seconds between progress log lines of `node --prefix`.
    pub status_interval: f64,
}

impl NodeSettings {
    /// The status interval as a `Duration`.
    pub fn status_interval(&self) -> Result<Duration, SettingsError> {
        seconds_setting("node.status_interval", self.status_interval)
    }
}

/// The `[http]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// `host:port` of `/metrics`, `/status` and `/healthz`; empty disables them.
    pub listen: String,
}

impl HttpSettings {
    /// The address to bind, if the endpoints are enabled.
    pub fn bind(&self) -> Result<Option<std::net::SocketAddr>, SettingsError> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen.parse().map(Some).map_err(|e| {
            invalid(
                "http.listen",
                format!("{:?} is not host:port: {e}", self.listen),
            )
        })
    }
}

/// The `[dht]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtSettings {
    /// Multiaddrs to listen on.
    pub listen: Vec<String>,
    /// Multiaddrs of peers to join through, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Identity file (PKCS#8, created with mode 0600 if missing); empty: a new identity per run.
    pub key_file: String,
    /// Bound on every DHT operation, seconds.
    pub request_timeout: f64,
    /// Most entries one record holds.
    pub max_entries: usize,
    /// Largest accepted entry, bytes.
    pub max_entry_bytes: usize,
    /// How far ahead an expiration may lie, seconds.
    pub max_expiration_ahead: f64,
    /// First delay between bootstrap attempts, seconds.
    pub bootstrap_backoff_initial: f64,
    /// Longest delay between bootstrap attempts, seconds.
    pub bootstrap_backoff_max: f64,
    /// Kademlia replication factor (closest peers a store writes to and a get collects from).
    pub replication: usize,
    /// A latest read finishes once this many other peers returned the record (0: the whole
    /// lookup).
    pub read_quorum: usize,
    /// Peer ids this node never connects to nor accepts (a deny list).
    pub deny: Vec<String>,
    /// The private collaboration's network key file (libp2p's `/key/swarm/psk/1.0.0/` format,
    /// written by `swarm-progress keygen --network-key`); empty: none.
    pub network_key_file: String,
    /// This peer's admission token file (written by `swarm-progress authority issue`); empty:
    /// none.
    pub token_file: String,
}

/// The `[logging]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    /// Level filter (tracing `EnvFilter` syntax); `RUST_LOG` overrides it.
    pub level: String,
    /// `human` or `json`.
    pub format: String,
}

/// Settings that could not be loaded or are impossible.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// A source could not be read or parsed, or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A tracker value is impossible.
    #[error("invalid setting {0}")]
    Invalid(#[from] ConfigError),
    /// Another value is impossible.
    #[error("invalid setting {setting}: {reason}")]
    Setting {
        /// `section.key`.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Setting {
        setting,
        reason: reason.into(),
    }
}

fn seconds_setting(setting: &'static str, value: f64) -> Result<Duration, SettingsError> {
    if value.is_finite() && value > 0.0 {
        Ok(crate::config::seconds(value))
    } else {
        Err(invalid(
            setting,
            format!("must be a finite number of seconds > 0, got {value}"),
        ))
    }
}

fn multiaddrs(setting: &'static str, values: &[String]) -> Result<Vec<Multiaddr>, SettingsError> {
    values
        .iter()
        .map(|v| {
            v.parse::<Multiaddr>()
                .map_err(|e| invalid(setting, format!("{v:?} is not a multiaddr: {e}")))
        })
        .collect()
}

impl Settings {
    /// The node configuration for a tracker of these settings: the `[dht]` section, with the
    /// gossip admission rate taken from `tracker.publish_min_interval` (every peer of a swarm
    /// shares it).
    pub fn node_config(&self) -> Result<NodeConfig, SettingsError> {
        let mut config = self.dht.node_config()?;
        config.gossip_min_interval = self.tracker.publish_min_interval;
        config.admission = self.tracker.admission()?;
        let admitted_entry = COMPACT_ENTRY_LEN + TOKEN_LEN;
        if config.admission.authority().is_some() && self.dht.max_entry_bytes < admitted_entry {
            return Err(invalid(
                "dht.max_entry_bytes",
                format!(
                    "must be at least {admitted_entry} with tracker.authority set (a compact entry and its admission token)"
                ),
            ));
        }
        Ok(config)
    }
}

impl DhtSettings {
    /// The node configuration these settings describe.
    pub fn node_config(&self) -> Result<NodeConfig, SettingsError> {
        let listen = multiaddrs("dht.listen", &self.listen)?;
        if listen.is_empty() {
            return Err(invalid("dht.listen", "needs at least one address"));
        }
        let bootstrap = multiaddrs("dht.bootstrap", &self.bootstrap)?;
        if let Some(bad) = bootstrap.iter().find(|a| peer_id_of(a).is_none()) {
            return Err(invalid(
                "dht.bootstrap",
                format!("{bad} has no /p2p/<peer id>"),
            ));
        }
        if self.max_entries == 0 {
            return Err(invalid("dht.max_entries", "must be at least 1"));
        }
        let replication = std::num::NonZeroUsize::new(self.replication)
            .ok_or_else(|| invalid("dht.replication", "must be at least 1"))?;
        if self.max_entry_bytes < COMPACT_ENTRY_LEN {
            return Err(invalid(
                "dht.max_entry_bytes",
                format!("must be at least {COMPACT_ENTRY_LEN} (one compact entry)"),
            ));
        }
        let max_expiration_ahead =
            seconds_setting("dht.max_expiration_ahead", self.max_expiration_ahead)?;
        let initial = seconds_setting(
            "dht.bootstrap_backoff_initial",
            self.bootstrap_backoff_initial,
        )?;
        let max = seconds_setting("dht.bootstrap_backoff_max", self.bootstrap_backoff_max)?;
        if initial > max {
            return Err(invalid(
                "dht.bootstrap_backoff_initial",
                "must not exceed dht.bootstrap_backoff_max",
            ));
        }
        Ok(NodeConfig {
            listen,
            bootstrap,
            limits: RecordLimits {
                max_entries: self.max_entries,
                max_entry_bytes: self.max_entry_bytes,
                max_expiration_ahead: max_expiration_ahead.as_secs_f64(),
            },
            request_timeout: seconds_setting("dht.request_timeout", self.request_timeout)?,
            bootstrap_backoff_initial: initial,
            bootstrap_backoff_max: max,
            replication,
            read_quorum: self.read_quorum,
            deny: self
                .deny
                .iter()
                .map(|id| {
                    id.parse()
                        .map_err(|e| invalid("dht.deny", format!("{id} is not a peer id: {e}")))
                })
                .collect::<Result<_, _>>()?,
            network_key: self.network_key()?,
            admission_token: self.admission_token()?,
            ..NodeConfig::default()
        })
    }

    /// The network key in `network_key_file`, if one is configured.
    pub fn network_key(&self) -> Result<Option<PreSharedKey>, SettingsError> {
        if self.network_key_file.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.network_key_file).map_err(|e| {
            invalid(
                "dht.network_key_file",
                format!("{}: {e}", self.network_key_file),
            )
        })?;
        text.parse().map(Some).map_err(|e| {
            invalid(
                "dht.network_key_file",
                format!(
                    "{} is not a network key (/key/swarm/psk/1.0.0/, /base16/, 64 hex digits): {e}",
                    self.network_key_file
                ),
            )
        })
    }

    /// The admission token in `token_file`, if one is configured.
    pub fn admission_token(&self) -> Result<Option<AdmissionToken>, SettingsError> {
        if self.token_file.is_empty() {
            return Ok(None);
        }
        AdmissionToken::load(Path::new(&self.token_file))
            .map(Some)
            .map_err(|e| invalid("dht.token_file", e.to_string()))
    }

    /// The identity file, if one is configured.
    pub fn key_file(&self) -> Option<&Path> {
        (!self.key_file.is_empty()).then(|| Path::new(&self.key_file))
    }
}

impl LoggingSettings {
    /// Whether logs are JSON.
    pub fn json(&self) -> Result<bool, SettingsError> {
        match self.format.as_str() {
            "human" => Ok(false),
            "json" => Ok(true),
            other => Err(invalid(
                "logging.format",
                format!("must be \"human\" or \"json\", got {other:?}"),
            )),
        }
    }
}

impl Settings {
    /// The embedded defaults, `file` over them if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], with the environment taken from `env` instead of the process
    /// (for tests and embedding).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        let environment = Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("dht.listen")
            .with_list_parse_key("dht.bootstrap")
            .with_list_parse_key("dht.deny")
            .with_list_parse_key("tracker.revoked_peers")
            .source(env);
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every section (call again after applying command-line flags).
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.tracker.validate()?;
        self.node_config()?;
        self.node.status_interval()?;
        self.http.bind()?;
        self.logging.json()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_match_the_code_defaults() {
        let settings = Settings::load_with_env(None, Some(HashMap::new())).unwrap();
        assert_eq!(settings.tracker, TrackerConfig::default());
    }

    #[test]
    fn file_then_environment_override_the_defaults() {
        let dir =
            std::env::temp_dir().join(format!("swarm-progress-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("layer.toml");
        std::fs::write(
            &path,
            "[tracker]\nprefix = \"run7\"\ntarget_batch_size = 512\n",
        )
        .unwrap();
        let env = HashMap::from([(
            "SWARM_PROGRESS__TRACKER__TARGET_BATCH_SIZE".to_owned(),
            "1024".to_owned(),
        )]);
        let settings = Settings::load_with_env(Some(&path), Some(env)).unwrap();
        assert_eq!(settings.tracker.prefix, "run7");
        assert_eq!(settings.tracker.target_batch_size, 1024);
        assert_eq!(settings.tracker.min_refresh_period, 0.5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn embedded_dht_defaults_match_the_node_defaults() {
        let settings = Settings::load_with_env(None, Some(HashMap::new())).unwrap();
        let node = settings.dht.node_config().unwrap();
        let defaults = NodeConfig::default();
        assert_eq!(node.listen, defaults.listen);
        assert_eq!(node.limits, defaults.limits);
        assert_eq!(node.request_timeout, defaults.request_timeout);
        assert_eq!(
            node.bootstrap_backoff_initial,
            defaults.bootstrap_backoff_initial
        );
        assert_eq!(node.bootstrap_backoff_max, defaults.bootstrap_backoff_max);
        assert_eq!(node.replication, defaults.replication);
        assert!(node.bootstrap.is_empty());
        assert!(node.deny.is_empty());
        assert_eq!(settings.dht.key_file(), None);
        assert!(!settings.logging.json().unwrap());
    }

    #[test]
    fn the_example_configs_are_valid() {
        for name in ["seed.toml", "trainer.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("config")
                .join(name);
            let settings = Settings::load_with_env(Some(&path), Some(HashMap::new()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(settings.dht.key_file().is_some(), "{name}");
        }
    }

    #[test]
    fn bad_dht_and_logging_values_name_their_setting() {
        let cases = [
            (
                "SWARM_PROGRESS__DHT__LISTEN",
                "not-an-address",
                "dht.listen",
            ),
            (
                "SWARM_PROGRESS__DHT__BOOTSTRAP",
                "/ip4/127.0.0.1/tcp/4001",
                "dht.bootstrap",
            ),
            (
                "SWARM_PROGRESS__DHT__REQUEST_TIMEOUT",
                "0",
                "dht.request_timeout",
            ),
            ("SWARM_PROGRESS__DHT__MAX_ENTRIES", "0", "dht.max_entries"),
            ("SWARM_PROGRESS__DHT__REPLICATION", "0", "dht.replication"),
            // One byte short of a compact entry: every entry would be refused as oversized.
            (
                "SWARM_PROGRESS__DHT__MAX_ENTRY_BYTES",
                "138",
                "dht.max_entry_bytes",
            ),
            ("SWARM_PROGRESS__DHT__DENY", "not-a-peer-id", "dht.deny"),
            ("SWARM_PROGRESS__LOGGING__FORMAT", "xml", "logging.format"),
            ("SWARM_PROGRESS__HTTP__LISTEN", "localhost", "http.listen"),
            (
                "SWARM_PROGRESS__NODE__STATUS_INTERVAL",
                "-1",
                "node.status_interval",
            ),
        ];
        for (var, value, setting) in cases {
            let env = HashMap::from([(var.to_owned(), value.to_owned())]);
            let err = Settings::load_with_env(None, Some(env)).unwrap_err();
            assert!(err.to_string().contains(setting), "{var}={value}: {err}");
        }
        let env = HashMap::from([(
            "SWARM_PROGRESS__DHT__LISTEN".to_owned(),
            "/ip4/127.0.0.1/tcp/0,/memory/0".to_owned(),
        )]);
        let settings = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(settings.dht.node_config().unwrap().listen.len(), 2);
        let denied = [
            "12D3KooWJoy9HLpn6szGTkvu9ZUdsJsNYG26CsfXrdayVG6Ge7kY",
            "12D3KooWHec25MRNVixNp8mSiB3NpEA8SV79WiEaWq62xpmzJ17A",
        ];
        let env = HashMap::from([("SWARM_PROGRESS__DHT__DENY".to_owned(), denied.join(","))]);
        let settings = Settings::load_with_env(None, Some(env)).unwrap();
        let deny = settings.dht.node_config().unwrap().deny;
        assert_eq!(
            deny.iter().map(ToString::to_string).collect::<Vec<_>>(),
            denied
        );
    }

    #[test]
    fn impossible_and_unknown_values_are_errors() {
        let env = HashMap::from([(
            "SWARM_PROGRESS__TRACKER__PERFORMANCE_EMA_ALPHA".to_owned(),
            "1.5".to_owned(),
        )]);
        let err = Settings::load_with_env(None, Some(env)).unwrap_err();
        assert!(
            matches!(err, SettingsError::Invalid(ConfigError::AlphaOutOfRange(_))),
            "{err}"
        );
        assert!(
            err.to_string().contains("tracker.performance_ema_alpha"),
            "{err}"
        );

        let env = HashMap::from([(
            "SWARM_PROGRESS__TRACKER__TARGET_BATCH_SIZE".to_owned(),
            "lots".to_owned(),
        )]);
        let err = Settings::load_with_env(None, Some(env)).unwrap_err();
        assert!(matches!(err, SettingsError::Load(_)), "{err}");

        let env = HashMap::from([("SWARM_PROGRESS__TRACKER__BOGUS".to_owned(), "1".to_owned())]);
        let err = Settings::load_with_env(None, Some(env)).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");

        let missing =
            Settings::load_with_env(Some(Path::new("/nonexistent/x.toml")), Some(HashMap::new()));
        assert!(matches!(missing, Err(SettingsError::Load(_))));
    }

    #[test]
    fn private_collaboration_settings_are_checked_and_name_their_setting() {
        let authority = crate::Identity::generate().unwrap().peer_id();
        let load = |pairs: &[(&str, &str)]| {
            let env = pairs
                .iter()
                .map(|(k, v)| (format!("SWARM_PROGRESS__{k}"), v.to_string()))
                .collect();
            Settings::load_with_env(None, Some(env))
        };
        let ok = load(&[("TRACKER__AUTHORITY", &authority)]).unwrap();
        let config = ok.node_config().unwrap();
        assert_eq!(
            config.admission.authority().map(|a| a.peer_id()),
            Some(authority.clone())
        );
        for (pairs, setting) in [
            (
                vec![("TRACKER__AUTHORITY", "nonsense")],
                "tracker.authority",
            ),
            (
                vec![
                    ("TRACKER__AUTHORITY", authority.as_str()),
                    ("DHT__MAX_ENTRY_BYTES", "200"),
                ],
                "dht.max_entry_bytes",
            ),
            (
                vec![("DHT__TOKEN_FILE", "/nonexistent/peer.token")],
                "dht.token_file",
            ),
            (
                vec![("DHT__NETWORK_KEY_FILE", "/nonexistent/swarm.key")],
                "dht.network_key_file",
            ),
            (
                vec![("DHT__NETWORK_KEY_FILE", "Cargo.toml")],
                "dht.network_key_file",
            ),
        ] {
            let err = load(&pairs).unwrap_err().to_string();
            assert!(err.contains(setting), "{pairs:?}: {err}");
        }
    }
}
