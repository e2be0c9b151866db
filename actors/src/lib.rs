//! swarm-progress internals: the pure domain core (progress model, performance EMA, estimator,
//! tracker configuration, clock), identities and signed records.
//!
//! The embedding API lives in the `swarm-progress` crate, which re-exports what users need.

pub mod clock;
pub mod config;
pub mod dht;
pub mod ema;
pub mod estimator;
pub mod identity;
pub mod progress;
pub mod records;
pub mod tracker;
pub mod tracker_state;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::{ConfigError, TrackerConfig};
pub use ema::PerformanceEma;
pub use estimator::{estimate, LocalView};
pub use identity::{Identity, IdentityError, PeerKey};
pub use progress::{GlobalProgress, LocalProgress, SchemaError};
pub use records::{
    InsertOutcome, ProgressRecord, RecordDecodeError, RecordLimits, RejectionCounts,
    RejectionReason, SignedEntry, Validated,
};
