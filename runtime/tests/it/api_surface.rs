//! The names a trainer imports from `swarm_progress` and the signatures it calls, as they were
//! before the crates were split (issue 12): this module stops compiling if one goes missing or
//! changes. The modules `bench`, `demo`, `node` and `observability` left on purpose: they were
//! the command line's and the benchmark's, now `swarm-progress-cli` and `swarm-progress-bench`.

use std::path::Path;
use std::sync::Arc;

#[allow(unused_imports)]
use swarm_progress::{
    clock, config, dht, ema, estimator, identity, progress, records, settings, simulation, tracker,
    ActorKind, Clock, ConfigError, DhtError, DhtHandle, FaultControl, Faults, GatewayFactory,
    GlobalProgress, Health, Identity, IdentityError, KademliaGateway, KademliaPeer, LocalProgress,
    ManualClock, MemoryDht, MemoryNetwork, MemoryPeer, Multiaddr, NodeConfig, NodeHandle, NodeInfo,
    PauseGuard, PeerId, PeerKey, PerformanceEma, ProgressRecord, ProgressTracker, RecordLimits,
    RejectionCounts, RejectionReason, Settings, SettingsError, SharedClock, SignedEntry,
    SupervisionPolicy, SystemClock, TrackerConfig, TrackerError, TrackerOptions,
};

#[test]
fn the_embedding_api_keeps_its_names_and_signatures() {
    let _: fn(&Identity, NodeConfig, SharedClock) -> Result<NodeHandle, DhtError> =
        NodeHandle::start;
    let _: fn(Arc<Identity>, NodeConfig, SharedClock) -> KademliaPeer = KademliaPeer::new;
    let _: fn(SharedClock) -> MemoryNetwork = MemoryNetwork::new;
    let _: fn(&MemoryNetwork) -> Result<MemoryPeer, IdentityError> = MemoryNetwork::peer;
    let _: fn(Option<&Path>) -> Result<Settings, SettingsError> = Settings::load;
    let _: fn() -> Result<Identity, IdentityError> = Identity::generate;
    let _: fn(&ProgressTracker) -> swarm_progress::tracker::TrackerObserver =
        ProgressTracker::observer;
    let _: fn(&ProgressTracker) -> GlobalProgress = ProgressTracker::global_progress;
    let _: fn(&ProgressTracker, u64, u64) -> Result<(), TrackerError> =
        ProgressTracker::report_local_progress;
    let _: fn(&ProgressTracker, u64, u64, bool) -> Result<(), TrackerError> =
        ProgressTracker::report_local_progress_with;
    let _ = |config: TrackerConfig, peer: MemoryPeer| ProgressTracker::spawn(config, peer);
    let _ = estimator::estimate::<std::iter::Empty<Option<&LocalProgress>>>;
    // Metrics and logs label the state-keeping actor as before.
    assert_eq!(ActorKind::Estimator.as_str(), "estimator");
    assert_eq!(SupervisionPolicy::default().max_restarts, 5);
}
