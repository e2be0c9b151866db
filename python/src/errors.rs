//! How the Rust side's errors become Python exceptions.
//!
//! - An impossible argument is a `ValueError` whose message starts with the argument's Python
//!   name (`min_refresh_period: must be …`), translated from the setting the Rust validation
//!   names (`tracker.min_refresh_period`, `dht.listen`, …).
//! - A call that ran out of time is a `TimeoutError`.
//! - Everything else (a stopped tracker, a refused admission, a DHT failure) is a
//!   `SwarmProgressError`, a `RuntimeError`.

use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::PyErr;
use swarm_progress::{ConfigError, SettingsError, TrackerError};

pyo3::create_exception!(
    swarm_progress,
    SwarmProgressError,
    PyRuntimeError,
    "A swarm-progress operation failed (the tracker is stopped or failed, admission was refused, the DHT failed)."
);

/// Python argument names of the Rust settings whose names differ.
const ARGUMENT_NAMES: &[(&str, &str)] = &[
    ("dht.listen", "host_maddrs"),
    ("dht.bootstrap", "initial_peers"),
    ("dht.key_file", "identity_path"),
    ("dht.network_key_file", "network_key_path"),
    ("dht.token_file", "token_path"),
    ("dht.request_timeout", "request_timeout"),
    ("tracker.authority", "authority"),
    ("tracker.revoked_peers", "revoked_peers"),
];

/// The Python argument a Rust setting (`section.key`) is set by.
fn argument_of(setting: &str) -> &str {
    ARGUMENT_NAMES
        .iter()
        .find(|(rust, _)| *rust == setting)
        .map(|(_, python)| *python)
        .unwrap_or_else(|| setting.rsplit('.').next().unwrap_or(setting))
}

/// A Rust message with every setting it names (`tracker.x`, `dht.y`) replaced by the Python
/// argument that sets it: `"tracker.x: reason"` becomes `"x: reason"`.
fn renamed(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = ["tracker.", "dht."]
        .iter()
        .filter_map(|section| rest.find(section))
        .min()
    {
        out.push_str(&rest[..start]);
        let name_len = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len() - start);
        out.push_str(argument_of(&rest[start..start + name_len]));
        rest = &rest[start + name_len..];
    }
    out.push_str(rest);
    out
}

/// A `ValueError` about the argument `argument`.
pub fn bad_argument(argument: &str, reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{argument}: {reason}"))
}

/// A tracker configuration error as a `ValueError` naming the argument.
pub fn config_error(error: &ConfigError) -> PyErr {
    PyValueError::new_err(renamed(&error.to_string()))
}

/// A settings error (the node's configuration) as a `ValueError` naming the argument.
pub fn settings_error(error: &SettingsError) -> PyErr {
    match error {
        SettingsError::Invalid(config) => config_error(config),
        SettingsError::Setting { setting, reason } => bad_argument(argument_of(setting), reason),
        SettingsError::Load(load) => PyValueError::new_err(load.to_string()),
    }
}

/// A tracker error as the exception a Python caller expects.
pub fn tracker_error(error: TrackerError) -> PyErr {
    match error {
        TrackerError::Config(config) => config_error(&config),
        TrackerError::Timeout(_) => PyTimeoutError::new_err(error.to_string()),
        TrackerError::Dht(swarm_progress::DhtError::Timeout(_)) => {
            PyTimeoutError::new_err(error.to_string())
        }
        other => SwarmProgressError::new_err(other.to_string()),
    }
}
