//! Supervision: panics in every actor are followed by restarts with no local progress lost; a
//! failing or silent gateway stalls neither reporting nor shutdown; a spent restart budget
//! shows in `health()`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use swarm_progress::{
    ActorKind, Health, MemoryNetwork, ProgressTracker, SupervisionPolicy, SystemClock,
    TrackerError, TrackerOptions,
};

use crate::support::{eventually, fast_config, PATIENCE};

fn quick_restarts(max_restarts: u32) -> TrackerOptions {
    TrackerOptions {
        supervision: SupervisionPolicy {
            max_restarts,
            window: Duration::from_secs(120),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(200),
            liveness_interval: Duration::from_millis(50),
        },
        ..TrackerOptions::default()
    }
}

#[actix_rt::test]
async fn a_panic_in_each_actor_is_followed_by_a_restart_and_nothing_is_lost() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peer = net.peer().unwrap();
    let faults = peer.faults();
    let a = ProgressTracker::start_with(fast_config("panics", 100_000), peer, quick_restarts(5))
        .await
        .unwrap();
    let b = ProgressTracker::start(fast_config("panics", 100_000), net.peer().unwrap())
        .await
        .unwrap();
    let mut samples = 0;
    for kind in [
        ActorKind::Estimator,
        ActorKind::Reporter,
        ActorKind::Fetcher,
        ActorKind::Gateway,
    ] {
        samples += 10;
        a.report_local_progress(0, samples).unwrap();
        if kind == ActorKind::Gateway {
            faults.update(|f| f.panic_on_next_request = true);
        } else {
            a.inject_panic(kind);
        }
        samples += 10;
        a.report_local_progress(0, samples).unwrap();
        assert!(
            eventually(PATIENCE, || a.stats().restarts_of(kind) >= 1).await,
            "{kind} was not restarted"
        );
        assert!(
            eventually(PATIENCE, || a.local_progress().samples_accumulated
                == samples)
            .await,
            "{kind}: local progress lost: {:?}",
            a.local_progress()
        );
        assert!(
            eventually(PATIENCE, || b.global_progress().samples_accumulated
                == samples)
            .await,
            "{kind}: progress stopped flowing: {:?}",
            b.global_progress()
        );
    }
    assert_eq!(a.health(), Health::Running);
    // The speed estimate survived the Estimator restart (it was computed before the panic).
    assert!(a.samples_per_second() > 1e-3);
    a.shutdown(Duration::from_secs(5)).await.unwrap();
    b.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[actix_rt::test]
async fn a_failing_gateway_stalls_neither_reporting_nor_shutdown() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peer = net.peer().unwrap();
    peer.faults().update(|f| f.fail_probability = 1.0);
    let a = ProgressTracker::start(fast_config("failing", 1000), peer)
        .await
        .unwrap();
    for samples in 1..=20 {
        a.report_local_progress(0, samples * 5).unwrap();
    }
    assert!(eventually(PATIENCE, || a.local_progress().samples_accumulated == 100).await);
    assert!(
        eventually(PATIENCE, || a.stats().stores_failed.load(Ordering::Relaxed)
            >= 2
            && a.stats().fetches_failed.load(Ordering::Relaxed) >= 2)
        .await
    );
    // Reports are never queued behind failing stores: at most one store is in flight.
    assert!(a.stats().stores_failed.load(Ordering::Relaxed) < 20);
    assert_eq!(a.health(), Health::Running);
    let started = Instant::now();
    let result = a.shutdown(Duration::from_secs(2)).await;
    assert!(matches!(result, Err(TrackerError::Dht(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(a.health(), Health::Stopped);
}

#[actix_rt::test]
async fn a_silent_gateway_does_not_hang_shutdown() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let peer = net.peer().unwrap();
    peer.faults().update(|f| f.drop_replies = true);
    let a = ProgressTracker::start(fast_config("silent", 1000), peer)
        .await
        .unwrap();
    a.report_local_progress(0, 10).unwrap();
    assert!(eventually(PATIENCE, || a.local_progress().samples_accumulated == 10).await);
    let started = Instant::now();
    let result = a.shutdown(Duration::from_millis(500)).await;
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[actix_rt::test]
async fn a_spent_restart_budget_shows_in_health() {
    let net = MemoryNetwork::new(SystemClock::shared());
    let a = ProgressTracker::start_with(
        fast_config("budget", 1000),
        net.peer().unwrap(),
        quick_restarts(2),
    )
    .await
    .unwrap();
    for round in 1..=2 {
        a.inject_panic(ActorKind::Fetcher);
        assert!(
            eventually(PATIENCE, || a.stats().restarts_of(ActorKind::Fetcher)
                == round)
            .await
        );
        // Wait for the restarted Fetcher to be up before killing it again.
        let fetched = a.stats().fetches_ok.load(Ordering::Relaxed);
        assert!(
            eventually(PATIENCE, || a.stats().fetches_ok.load(Ordering::Relaxed)
                > fetched)
            .await
        );
    }
    a.inject_panic(ActorKind::Fetcher);
    assert!(
        eventually(PATIENCE, || matches!(a.health(), Health::Failed { .. })).await,
        "{:?}",
        a.health()
    );
    let Health::Failed { reason } = a.health() else {
        unreachable!()
    };
    assert!(reason.contains("fetcher"), "{reason}");
    assert!(matches!(
        a.report_local_progress(0, 1),
        Err(TrackerError::Failed(_))
    ));
    assert!(matches!(
        a.pause_updates().await,
        Err(TrackerError::Failed(_))
    ));
    assert_eq!(
        a.stats().restarts_of(ActorKind::Fetcher),
        2,
        "no restart after failing"
    );
    // A failed tracker still shuts down cleanly (its gateway stores the tombstone).
    a.shutdown(Duration::from_secs(5)).await.unwrap();
}
