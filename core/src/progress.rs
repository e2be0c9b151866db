//! The domain model: what a peer publishes ([`LocalProgress`]) and what a peer believes of the
//! swarm ([`GlobalProgress`]), PROTOCOL.md §3.3 and §6.
//!
//! `LocalProgress` travels between peers, so its decoding is strict: unknown fields are refused,
//! and numbers that must be finite and non-negative are checked on decode (a value that breaks
//! the schema never becomes a `LocalProgress`).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest accepted `peer_id` (a libp2p Ed25519 peer id is 52 characters).
pub const MAX_PEER_ID_LEN: usize = 128;

/// The progress one peer publishes under its subkey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LocalProgressFields")]
pub struct LocalProgress {
    /// The publishing peer's libp2p peer id (base58).
    pub peer_id: String,
    /// The peer's local epoch.
    pub epoch: u64,
    /// Samples the peer accumulated towards its epoch.
    pub samples_accumulated: u64,
    /// The peer's EMA speed, samples per second (finite, >= 0).
    pub samples_per_second: f64,
    /// DHT time of the report (finite, >= 0).
    pub time: f64,
    /// A client does not drive the global epoch.
    pub client_mode: bool,
}

/// A value that breaks the `LocalProgress` schema.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SchemaError {
    /// `peer_id` is empty.
    #[error("peer_id is empty")]
    EmptyPeerId,
    /// `peer_id` is longer than [`MAX_PEER_ID_LEN`] or holds characters outside base58.
    #[error("peer_id is not a base58 peer id of at most {MAX_PEER_ID_LEN} characters")]
    BadPeerId,
    /// A number that must be finite and non-negative is not.
    #[error("{field} must be finite and >= 0, got {value}")]
    BadNumber {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

impl LocalProgress {
    /// Checks the schema rules that the types alone do not express.
    pub fn check(&self) -> Result<(), SchemaError> {
        if self.peer_id.is_empty() {
            return Err(SchemaError::EmptyPeerId);
        }
        let base58 = |c: char| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l');
        if self.peer_id.len() > MAX_PEER_ID_LEN || !self.peer_id.chars().all(base58) {
            return Err(SchemaError::BadPeerId);
        }
        for (field, value) in [
            ("samples_per_second", self.samples_per_second),
            ("time", self.time),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(SchemaError::BadNumber { field, value });
            }
        }
        Ok(())
    }
}

/// The wire shape of [`LocalProgress`]: decoded first, then checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalProgressFields {
    peer_id: String,
    epoch: u64,
    samples_accumulated: u64,
    samples_per_second: f64,
    time: f64,
    client_mode: bool,
}

impl TryFrom<LocalProgressFields> for LocalProgress {
    type Error = SchemaError;

    fn try_from(f: LocalProgressFields) -> Result<Self, SchemaError> {
        let progress = LocalProgress {
            peer_id: f.peer_id,
            epoch: f.epoch,
            samples_accumulated: f.samples_accumulated,
            samples_per_second: f.samples_per_second,
            time: f.time,
            client_mode: f.client_mode,
        };
        progress.check()?;
        Ok(progress)
    }
}

/// What a peer believes of the whole swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalProgress {
    /// The swarm's epoch: the highest epoch of any non-client peer (or the local one).
    pub epoch: u64,
    /// Samples reported at the global epoch.
    pub samples_accumulated: u64,
    /// Samples the swarm needs for the next epoch.
    pub target_batch_size: u64,
    /// Live (non-tombstone) entries.
    pub num_peers: u64,
    /// Live entries in client mode.
    pub num_clients: u64,
    /// Estimated DHT time at which the swarm reaches the target (may be +inf right after an
    /// epoch change).
    pub eta_next_epoch: f64,
    /// DHT time at which the swarm should be read again.
    pub next_fetch_time: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LocalProgress {
        LocalProgress {
            peer_id: "12D3KooWabc".into(),
            epoch: 3,
            samples_accumulated: 96,
            samples_per_second: 12.5,
            time: 1_700_000_000.25,
            client_mode: false,
        }
    }

    #[test]
    fn json_round_trips() {
        let json = serde_json::to_string(&sample()).unwrap();
        let back: LocalProgress = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":1.0,
            "time":5.0,"client_mode":false,"extra":1}"#;
        let err = serde_json::from_str::<LocalProgress>(json).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn wrong_types_and_negative_integers_are_refused() {
        for json in [
            r#"{"peer_id":"abc","epoch":-1,"samples_accumulated":2,"samples_per_second":1.0,"time":5.0,"client_mode":false}"#,
            r#"{"peer_id":"abc","epoch":1.5,"samples_accumulated":2,"samples_per_second":1.0,"time":5.0,"client_mode":false}"#,
            r#"{"peer_id":"abc","epoch":1,"samples_accumulated":"2","samples_per_second":1.0,"time":5.0,"client_mode":false}"#,
            r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":1.0,"time":5.0,"client_mode":0}"#,
            r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":null,"time":5.0,"client_mode":false}"#,
            r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"time":5.0,"client_mode":false}"#,
        ] {
            assert!(
                serde_json::from_str::<LocalProgress>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn negative_speed_and_time_are_refused_on_decode() {
        let neg_speed = r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":-0.5,"time":5.0,"client_mode":false}"#;
        let err = serde_json::from_str::<LocalProgress>(neg_speed).unwrap_err();
        assert!(err.to_string().contains("samples_per_second"), "{err}");
        let neg_time = r#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":0.5,"time":-5.0,"client_mode":false}"#;
        let err = serde_json::from_str::<LocalProgress>(neg_time).unwrap_err();
        assert!(err.to_string().contains("time"), "{err}");
    }

    #[test]
    fn check_catches_non_finite_numbers_and_bad_peer_ids() {
        let mut p = sample();
        p.samples_per_second = f64::NAN;
        assert!(matches!(
            p.check(),
            Err(SchemaError::BadNumber {
                field: "samples_per_second",
                ..
            })
        ));
        let mut p = sample();
        p.time = f64::INFINITY;
        assert!(matches!(
            p.check(),
            Err(SchemaError::BadNumber { field: "time", .. })
        ));
        let mut p = sample();
        p.peer_id.clear();
        assert_eq!(p.check(), Err(SchemaError::EmptyPeerId));
        let mut p = sample();
        p.peer_id = "has space".into();
        assert_eq!(p.check(), Err(SchemaError::BadPeerId));
        let mut p = sample();
        p.peer_id = "a".repeat(MAX_PEER_ID_LEN + 1);
        assert_eq!(p.check(), Err(SchemaError::BadPeerId));
    }
}
