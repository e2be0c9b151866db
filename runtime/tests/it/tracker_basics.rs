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

#[actix_rt::test]
async fn pause_holds_fetched_results_until_the_guard_is_dropped() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start(fast_config("pause", 1000), net.peer().unwrap())
        .await
        .unwrap();
    let b = ProgressTracker::start(fast_config("pause", 1000), net.peer().unwrap())
        .await
        .unwrap();
    a.report_local_progress(0, 100).unwrap();
    assert!(eventually(PATIENCE, || b.global_progress().samples_accumulated == 100).await);

    let guard = b.pause_updates().await.unwrap();
    assert!(b.is_paused());
    a.report_local_progress(0, 300).unwrap();
    let key = a.config().progress_key();
    // Wait until a's new entry is in the DHT and b has fetched it at least twice since.
    assert!(
        eventually(PATIENCE, || net
            .record(&key)
            .and_then(|r| r.get(&a.peer_key()).and_then(|e| e.value().cloned()))
            .is_some_and(|v| v.samples_accumulated == 300))
        .await
    );
    let fetched_before = b
        .stats()
        .fetches_ok
        .load(std::sync::atomic::Ordering::Relaxed);
    b.request_refresh();
    assert!(
        eventually(PATIENCE, || b
            .stats()
            .fetches_ok
            .load(std::sync::atomic::Ordering::Relaxed)
            >= fetched_before + 2)
        .await
    );
    assert_eq!(
        b.global_progress().samples_accumulated,
        100,
        "held back while paused"
    );
    drop(guard);
    assert!(
        eventually(PATIENCE, || b.global_progress().samples_accumulated == 300).await,
        "applied after resume: {:?}",
        b.global_progress()
    );
    assert!(!b.is_paused());
}

#[actix_rt::test]
async fn update_epoch_resets_local_progress_and_publishes_it() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start(fast_config("epoch", 100), net.peer().unwrap())
        .await
        .unwrap();
    let b = ProgressTracker::start(fast_config("epoch", 100), net.peer().unwrap())
        .await
        .unwrap();
    a.report_local_progress(0, 100).unwrap();
    assert!(eventually(PATIENCE, || a.ready_to_update_epoch()).await);
    {
        let guard = a.pause_updates().await.unwrap();
        assert_eq!(guard.update_epoch(None).await.unwrap(), 1);
    }
    let local = a.local_progress();
    assert_eq!((local.epoch, local.samples_accumulated), (1, 0));
    assert_eq!(a.global_epoch(), 1);
    assert!(!a.fetched_this_epoch());
    let key = a.config().progress_key();
    assert!(
        eventually(PATIENCE, || net
            .record(&key)
            .and_then(|r| r.get(&a.peer_key()).and_then(|e| e.value().cloned()))
            .is_some_and(|v| v.epoch == 1 && v.samples_accumulated == 0))
        .await,
        "the reset progress is published"
    );
    // b, still at epoch 0, sees the swarm ahead and is ready to catch up.
    assert!(
        eventually(PATIENCE, || b.global_epoch() == 1
            && b.ready_to_update_epoch())
        .await
    );
}

#[actix_rt::test]
async fn a_client_at_a_higher_epoch_does_not_move_the_global_epoch() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peer = ProgressTracker::start(fast_config("client", 1000), net.peer().unwrap())
        .await
        .unwrap();
    let client_config = swarm_progress::TrackerConfig {
        client_mode: Some(true),
        ..fast_config("client", 1000)
    };
    let client = ProgressTracker::start(client_config, net.peer().unwrap())
        .await
        .unwrap();
    client.report_local_progress(7, 10).unwrap();
    peer.report_local_progress(0, 20).unwrap();
    assert!(
        eventually(PATIENCE, || {
            let g = peer.global_progress();
            g.num_peers == 2 && g.num_clients == 1 && g.samples_accumulated == 20
        })
        .await,
        "{:?}",
        peer.global_progress()
    );
    assert_eq!(peer.global_epoch(), 0);
    // Control: a non-client at epoch 7 does move it.
    let other = ProgressTracker::start(fast_config("client", 1000), net.peer().unwrap())
        .await
        .unwrap();
    other.report_local_progress(7, 1).unwrap();
    assert!(eventually(PATIENCE, || peer.global_epoch() == 7).await);
}

#[test]
fn a_spawned_tracker_serves_plain_threads() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let watcher_peer = net.peer().unwrap();
    let tracker = ProgressTracker::spawn(fast_config("spawned", 50), net.peer().unwrap()).unwrap();
    let watcher = ProgressTracker::spawn(fast_config("spawned", 50), watcher_peer).unwrap();
    tracker.report_local_progress(0, 50).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !tracker.ready_to_update_epoch() {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    {
        let guard = tracker.pause_updates_blocking().unwrap();
        assert_eq!(guard.update_epoch_blocking(None).unwrap(), 1);
    }
    assert_eq!(tracker.local_progress().epoch, 1);
    while watcher.global_epoch() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "watcher never saw epoch 1"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    tracker.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(tracker.health(), swarm_progress::Health::Stopped);
    watcher.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn start_outside_a_system_and_bad_config_are_errors() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let outside = futures::executor::block_on(ProgressTracker::start(
        fast_config("outside", 1),
        net.peer().unwrap(),
    ));
    assert!(matches!(
        outside,
        Err(swarm_progress::TrackerError::Runtime(_))
    ));
    let bad = swarm_progress::TrackerConfig {
        target_batch_size: 0,
        ..fast_config("bad", 1)
    };
    assert!(matches!(
        ProgressTracker::spawn(bad, net.peer().unwrap()),
        Err(swarm_progress::TrackerError::Config(
            swarm_progress::ConfigError::ZeroTargetBatchSize
        ))
    ));
}

#[actix_rt::test]
async fn a_report_is_visible_to_the_very_next_read() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start(fast_config("ryw", 100), net.peer().unwrap())
        .await
        .unwrap();
    // Alone, at epoch 0: a report of 100 samples reaches the target at once.
    for samples in [10, 60, 100] {
        a.report_local_progress(0, samples).unwrap();
        assert_eq!(a.local_progress().samples_accumulated, samples);
    }
    assert!(a.ready_to_update_epoch());
    assert_eq!(a.global_progress().samples_accumulated, 100);
    // A report at another epoch is seen at once too.
    a.report_local_progress(5, 1).unwrap();
    assert_eq!(a.local_progress().epoch, 5);
}

#[actix_rt::test]
async fn a_report_without_update_global_samples_leaves_the_global_samples() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start(fast_config("noglobal", 100), net.peer().unwrap())
        .await
        .unwrap();
    // Paused, so that no read re-estimates the global samples meanwhile.
    let guard = a.pause_updates().await.unwrap();
    a.report_local_progress(0, 10).unwrap();
    assert_eq!(a.global_progress().samples_accumulated, 10);
    a.report_local_progress_with(0, 60, false).unwrap();
    assert_eq!(a.local_progress().samples_accumulated, 60);
    assert_eq!(a.global_progress().samples_accumulated, 10);
    // hivemind's arithmetic: the 50 samples reported without updating stay uncounted until
    // the next read; the next 10 count.
    a.report_local_progress_with(0, 70, true).unwrap();
    assert_eq!(a.global_progress().samples_accumulated, 20);
    drop(guard);
}

#[actix_rt::test]
async fn dropping_the_handle_shuts_down_in_the_background() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let silent_peer = net.peer().unwrap();
    silent_peer.faults().update(|f| f.drop_replies = true);
    let silent = ProgressTracker::start(fast_config("drop", 100), silent_peer)
        .await
        .unwrap();
    let a = ProgressTracker::start(fast_config("drop", 100), net.peer().unwrap())
        .await
        .unwrap();
    let b = ProgressTracker::start(fast_config("drop", 100), net.peer().unwrap())
        .await
        .unwrap();
    assert!(eventually(PATIENCE, || b.global_progress().num_peers == 2).await);
    let started = std::time::Instant::now();
    drop(silent); // its gateway never answers: dropping must still return at once
    drop(a);
    assert!(started.elapsed() < Duration::from_millis(500));
    // a's tombstone is stored in the background.
    assert!(
        eventually(PATIENCE, || b.global_progress().num_peers == 1).await,
        "{:?}",
        b.global_progress()
    );
}

/// `request_refresh` reads now, but a caller nudging in a loop does not read in a loop: reads
/// start at least `min_refresh_period` apart (hivemind has no such call; PROTOCOL.md §6.5).
#[actix_rt::test]
async fn request_refresh_reads_at_once_but_never_faster_than_min_refresh_period() {
    use std::sync::atomic::Ordering;
    let net = MemoryNetwork::new(SystemClock::shared());
    let config = swarm_progress::TrackerConfig {
        min_refresh_period: 0.5,
        default_refresh_period: 30.0,
        max_refresh_period: 60.0,
        ..fast_config("nudge", 1000)
    };
    let t = ProgressTracker::start(config, net.peer().unwrap())
        .await
        .unwrap();
    let reads = || t.stats().fetches_ok.load(Ordering::Relaxed);
    // Alone, the next scheduled read is 30 s away: a nudge is served by its own read.
    assert!(eventually(PATIENCE, || reads() >= 1).await);
    let before = reads();
    let started = std::time::Instant::now();
    t.request_refresh();
    assert!(eventually(PATIENCE, || reads() > before).await);
    // Nudged every 5 ms for 1.2 s.
    while started.elapsed() < Duration::from_millis(1200) {
        t.request_refresh();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let made = reads() - before;
    // One at once, then at most one per 0.5 s (+1 in flight at the end).
    let most = 2 + (elapsed / 0.5) as u64;
    assert!(made >= 1 && made <= most, "{made} reads in {elapsed:.2} s");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}
