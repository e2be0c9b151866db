//! Helpers shared by the integration tests: configs with fast refresh, and waiting for a
//! condition with a deadline (never a fixed sleep).

use std::time::{Duration, Instant};

use swarm_progress::TrackerConfig;

/// A tracker config with hivemind's test refresh periods (0.1 / 0.2 / 0.5 s).
pub fn fast_config(prefix: &str, target_batch_size: u64) -> TrackerConfig {
    TrackerConfig {
        prefix: prefix.into(),
        target_batch_size,
        min_refresh_period: 0.1,
        default_refresh_period: 0.2,
        max_refresh_period: 0.5,
        request_timeout: 2.0,
        ..TrackerConfig::default()
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Generous bound for conditions that normally take well under a second (CI is a loaded
/// 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(20);
