//! The tracker over MemoryDht: reporting, fetching, pausing, epochs, client mode.

use std::time::Duration;

use swarm_progress::{MemoryNetwork, ProgressTracker, SystemClock};

use crate::support::{eventually, fast_config, PATIENCE};

#[actix_rt::test]
async fn two_trackers_see_each_other() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start(fast_config("two", 1000), net.peer().unwrap())
        .await
        .unwrap();
    let b = ProgressTracker::start(fast_config("two", 1000), net.peer().unwrap())
        .await
        .unwrap();
    a.report_local_progress(0, 100).unwrap();
    b.report_local_progress(0, 50).unwrap();
    assert!(
        eventually(PATIENCE, || {
            let g = b.global_progress();
            g.num_peers == 2 && g.samples_accumulated == 150
        })
        .await,
        "b sees {:?}",
        b.global_progress()
    );
    assert!(eventually(PATIENCE, || a.global_progress().samples_accumulated == 150).await);
    a.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        eventually(PATIENCE, || b.global_progress().num_peers == 1).await,
        "tombstone seen"
    );
    b.shutdown(Duration::from_secs(5)).await.unwrap();
}
