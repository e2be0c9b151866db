//! The running tracker (DESIGN.md §4): the Supervisor and its children (Estimator, Reporter,
//! Fetcher, and the DHT gateway), the messages between them, and the tracker's errors, health
//! and counters.

pub mod estimator;
pub mod fetcher;
pub mod messages;
pub mod reporter;
pub mod supervisor;

pub use messages::{ActorKind, Health, SharedStats, TrackerError, TrackerStats};
pub use supervisor::{SupervisionPolicy, Supervisor, TrackerChannels};
