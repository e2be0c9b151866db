//! Layered settings: the embedded `config/default.toml`, then an optional file, then
//! `SWARM_PROGRESS__<SECTION>__<KEY>` environment variables; validated as a whole.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use swarm_progress_actors::config::{ConfigError, TrackerConfig};
use thiserror::Error;

/// The embedded default configuration (`config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "SWARM_PROGRESS";

/// All settings of a swarm-progress process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The progress tracker.
    pub tracker: TrackerConfig,
}

/// Settings that could not be loaded or are impossible.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// A source could not be read or parsed, or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is impossible.
    #[error("invalid setting {0}")]
    Invalid(#[from] ConfigError),
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
            .source(env);
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        settings.tracker.validate()?;
        Ok(settings)
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
}
