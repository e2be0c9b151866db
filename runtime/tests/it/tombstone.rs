//! Leaving the swarm: a graceful shutdown stores a tombstone that the others see at their next
//! read; a crash leaves the entry counted until it expires. DHT time is a manual clock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use swarm_progress::{ManualClock, MemoryNetwork, ProgressTracker, TrackerOptions};

use crate::support::{eventually, fast_config, PATIENCE};

#[actix_rt::test]
async fn graceful_leave_drops_at_once_and_a_crash_only_at_expiry() {
    let clock = ManualClock::new(1_800_000_000.0);
    let net = MemoryNetwork::new(clock.shared());
    let options = || TrackerOptions {
        clock: clock.shared(),
        ..TrackerOptions::default()
    };
    let config = || fast_config("leave", 1000);
    let a = ProgressTracker::start_with(config(), net.peer().unwrap(), options())
        .await
        .unwrap();
    let crash_peer = net.peer().unwrap();
    let crash_faults = crash_peer.faults();
    let b = ProgressTracker::start_with(config(), crash_peer, options())
        .await
        .unwrap();
    let c = ProgressTracker::start_with(config(), net.peer().unwrap(), options())
        .await
        .unwrap();
    assert!(eventually(PATIENCE, || c.global_progress().num_peers == 3).await);

    // Graceful: the tombstone is seen within a refresh period (max 0.5 s; generous bound).
    a.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || c.global_progress().num_peers
            == 2)
        .await,
        "{:?}",
        c.global_progress()
    );

    // Crash: b's gateway goes silent, so its shutdown stores nothing.
    crash_faults.update(|f| f.drop_replies = true);
    assert!(b.shutdown(Duration::from_millis(300)).await.is_err());
    drop(b);
    let fetched = c.stats().fetches_ok.load(Ordering::Relaxed);
    assert!(
        eventually(PATIENCE, || c.stats().fetches_ok.load(Ordering::Relaxed)
            >= fetched + 3)
        .await
    );
    assert_eq!(
        c.global_progress().num_peers,
        2,
        "b still counted before expiry"
    );

    // After metadata_expiration (60 s of DHT time) b's entry is gone; c republishes its own.
    clock.advance(61.0);
    c.report_local_progress(0, 5).unwrap();
    assert!(
        eventually(PATIENCE, || c.global_progress().num_peers == 1).await,
        "{:?}",
        c.global_progress()
    );
    c.shutdown(Duration::from_secs(5)).await.unwrap();
}
