//! swarm-progress's pure core: everything a peer computes, with no actors and no network.
//!
//! Time is always passed in (a [`Clock`] or a `now: f64`), so every rule here is a function that
//! unit and property tests drive directly. This crate depends on neither actix, tokio nor libp2p;
//! the runtime crate (`swarm-progress`) moves messages between these values and the network.
//!
//! # Layout
//!
//! - [`progress`]: [`LocalProgress`] (one peer's entry, strictly decoded) and
//!   [`GlobalProgress`] (what a peer believes about the swarm).
//! - [`ema`]: [`PerformanceEma`], the bias-corrected moving average of seconds per sample.
//! - [`estimator`]: [`estimate`], the swarm's samples, ETA and next read time from the entries a
//!   peer holds, and the per-peer contribution bound ([`estimator::bound_contributions`]).
//! - [`tracker_state`]: [`TrackerState`], hivemind's `ProgressTracker` operations (report,
//!   apply a read, pause, update the epoch, readiness) on one value.
//! - [`publish_rule`]: v2's rule of when a peer pushes its entry ([`publish_rule::decide`]) and
//!   which pushes are also stored in the DHT.
//! - [`swarm_view`]: [`SwarmView`], a v2 peer's merged view of the others' entries.
//! - [`peer_clocks`]: [`PeerClocks`], each publisher's clock offset as seen from here (where
//!   the estimator anchors its entries) and [`peer_clocks::signing_expiration`].
//! - [`records`]: [`SignedEntry`] (sign, encode, decode, verify) and [`ProgressRecord`] (the
//!   merged dictionary under one key, its limits and rejection counting), wire formats drawn at
//!   the top of `records/entry.rs` and `records/record.rs`; [`records::gossip`], the v2 gossip
//!   message and its admission ([`GossipGate`]).
//! - [`identity`]: [`Identity`] (an Ed25519 key and its file) and [`PeerKey`] (the public half,
//!   its libp2p peer id, single and batch signature checks).
//! - [`admission_token`]: [`AdmissionToken`], a run authority's signed admission of one peer in
//!   a [`Role`] until a time; [`records::Admission`] judges entries by it (private
//!   collaborations).
//! - [`config`]: [`TrackerConfig`] and its validation, naming the setting at fault.
//! - [`clock`]: [`Clock`], [`SystemClock`] and [`ManualClock`].
//! - [`backoff`]: [`Backoff`], the one exponential backoff every retry loop uses.

pub mod admission_token;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod ema;
pub mod estimator;
pub mod identity;
pub mod peer_clocks;
pub mod progress;
pub mod publish_rule;
pub mod records;
pub mod swarm_view;
pub mod tracker_state;

pub use admission_token::{check_own_token, AdmissionToken, OwnTokenError, Role, TokenError};
pub use backoff::Backoff;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::{ConfigError, Protocol, TrackerConfig};
pub use ema::PerformanceEma;
pub use estimator::{estimate, LocalView};
pub use identity::{Identity, IdentityError, PeerKey};
pub use peer_clocks::PeerClocks;
pub use progress::{GlobalProgress, LocalProgress, SchemaError};
pub use publish_rule::{PublishReason, PublishRule};
pub use records::{
    Admission, InsertOutcome, ProgressRecord, RecordDecodeError, RecordLimits, RejectionCounts,
    RejectionReason, SignedEntry, Validated, ValueEncoding,
};
pub use swarm_view::SwarmView;
pub use tracker_state::{FetchOutcome, TrackerState};
