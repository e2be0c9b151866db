//! swarm-progress: tracks the training progress of a decentralized deep-learning collaboration.
//!
//! Peers publish signed progress entries (v1: to a Kademlia DHT on every report; v2: pushed over
//! gossipsub on events, the DHT as the way in); each peer decides locally when the
//! swarm has accumulated `target_batch_size` samples for the next epoch, and estimates when that
//! will happen. A port of hivemind's `ProgressTracker` (see `PROTOCOL.md` and `ARCHITECTURE.md`).
//!
//! This is the crate a trainer embeds: the [`ProgressTracker`] handle, the actors behind it, and
//! the DHT gateways ([`MemoryNetwork`] in process, [`KademliaPeer`] over libp2p). It pulls no
//! command line, HTTP server or benchmark (those are `swarm-progress-cli` and
//! `swarm-progress-bench`). The pure rules it runs live in `swarm-progress-core`, re-exported
//! here.
//!
//! # Layout
//!
//! - [`tracker`]: the handle, [`ProgressTracker`] (start, report, read snapshots without a round
//!   trip, pause, shut down) with [`PauseGuard`] and [`TrackerObserver`].
//! - [`status`]: what the handle reports: [`Health`], [`TrackerStats`], [`ActorKind`], and the
//!   API's error, [`TrackerError`].
//! - `actors` (private): the Supervisor, which owns the children's addresses and restarts them,
//!   the StateKeeper (owns the [`TrackerState`]), the Reporter (signs and stores the local
//!   entry), the Fetcher (reads the swarm's entries on schedule) and their messages.
//! - [`dht`]: the gateway contract ([`dht::Store`], [`dht::Get`], [`GatewayFactory`]) and its
//!   two implementations: [`dht::memory`] (the mock, with fault injection) and
//!   [`dht::kademlia`] over the libp2p node in [`dht::node`].
//! - [`settings`]: layered settings (embedded defaults, file, environment) for programs that
//!   configure a tracker and a node from files.
//! - [`heap_trim`]: the [`HeapTrimmer`], which gives the allocator's free pages back to the
//!   kernel on a schedule (started by programs, never by the library itself).
//! - [`simulation`]: a simulated trainer and the per-epoch analysis of a run (the demo, the
//!   benchmark and the tests drive trackers with it).
//! - Re-exported from `swarm-progress-core`: [`clock`], [`config`], [`ema`], [`estimator`],
//!   [`identity`], [`progress`], [`records`], [`tracker_state`], [`backoff`], and v2's
//!   [`publish_rule`] and [`swarm_view`].

mod actors;
pub mod dht;
pub mod heap_trim;
pub mod settings;
pub mod simulation;
pub mod status;
pub mod tracker;

/// libp2p's pre-shared network key (`dht.network_key_file`), re-exported for embedders.
pub use libp2p::pnet::PreSharedKey;
pub use swarm_progress_core::{
    admission_token, backoff, clock, config, ema, estimator, identity, peer_clocks, progress,
    publish_rule, records, swarm_view, tracker_state,
};
pub use swarm_progress_core::{
    Admission, AdmissionToken, Backoff, Clock, ConfigError, GlobalProgress, Identity,
    IdentityError, LocalProgress, ManualClock, PeerClocks, PeerKey, PerformanceEma, ProgressRecord,
    Protocol, PublishReason, RecordLimits, RejectionCounts, RejectionReason, Role, SharedClock,
    SignedEntry, SwarmView, SystemClock, TokenError, TrackerConfig, TrackerState, ValueEncoding,
};

pub use actors::child::SupervisionPolicy;
pub use dht::kademlia::{KademliaGateway, KademliaPeer};
pub use dht::memory::{FaultControl, Faults, MemoryDht, MemoryNetwork, MemoryPeer};
pub use dht::node::{Multiaddr, NodeConfig, NodeHandle, NodeInfo, PeerId};
pub use dht::threads::NodeThreads;
pub use dht::{DhtError, DhtHandle, GatewayFactory, Push, Pushed, Subscribe};
pub use heap_trim::HeapTrimmer;
pub use settings::{Settings, SettingsError};
pub use status::{ActorKind, Health, TrackerError, TrackerStats};
pub use tracker::{PauseGuard, ProgressTracker, TrackerObserver, TrackerOptions};
