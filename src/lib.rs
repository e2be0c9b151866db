//! swarm-progress: tracks the training progress of a decentralized deep-learning collaboration.
//!
//! Peers publish signed progress entries to a Kademlia DHT; each peer decides locally when the
//! swarm has accumulated `target_batch_size` samples for the next epoch, and estimates when that
//! will happen. A port of hivemind's `ProgressTracker`; see `DESIGN.md` for the contract.
//!
//! This crate is the embedding API and the settings; the domain core, records and actors live in
//! `swarm-progress-actors`, whose public types are re-exported here.

pub mod bench;
pub mod demo;
pub mod node;
pub mod observability;
pub mod settings;
pub mod simulation;
pub mod tracker;

pub use settings::{Settings, SettingsError};
pub use swarm_progress_actors::dht::kademlia::{KademliaGateway, KademliaPeer};
pub use swarm_progress_actors::dht::memory::{
    FaultControl, Faults, MemoryDht, MemoryNetwork, MemoryPeer,
};
pub use swarm_progress_actors::dht::node::{Multiaddr, NodeConfig, NodeHandle, NodeInfo, PeerId};
pub use swarm_progress_actors::dht::{DhtError, DhtHandle, GatewayFactory};
pub use swarm_progress_actors::tracker::{ActorKind, Health, SupervisionPolicy, TrackerError};
pub use swarm_progress_actors::{
    clock, config, dht, ema, estimator, identity, progress, records, Clock, ConfigError,
    GlobalProgress, Identity, IdentityError, LocalProgress, ManualClock, PeerKey, PerformanceEma,
    ProgressRecord, RecordLimits, RejectionCounts, RejectionReason, SharedClock, SignedEntry,
    SystemClock, TrackerConfig,
};
pub use tracker::{PauseGuard, ProgressTracker, TrackerOptions};
