//! [`Backoff`]: the one exponential backoff of swarm-progress. The Supervisor's restarts, the
//! Reporter's and Fetcher's retries of failed DHT operations and the node's bootstrap attempts all
//! compute their waits with it.

use std::time::Duration;

/// Exponential backoff: `initial * 2^doublings`, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after no doubling.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// Most doublings taken into account (2^30 times any useful initial wait exceeds any
    /// useful maximum; the cap keeps the arithmetic in range).
    const MAX_DOUBLINGS: u32 = 30;

    /// A backoff from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The wait after `doublings` doublings: `initial * 2^doublings`, at most `max`. Saturates
    /// instead of overflowing, whatever `doublings` is.
    pub fn delay(&self, doublings: u32) -> Duration {
        let factor = 1u32 << doublings.min(Self::MAX_DOUBLINGS);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_from_the_initial_wait_up_to_the_max() {
        let backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let waits: Vec<u128> = (0..6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 300, 300, 300]);
    }

    #[test]
    fn huge_attempt_counts_saturate_at_the_max() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(30));
        let unbounded = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(unbounded.delay(40), Duration::MAX);
    }

    proptest! {
        #[test]
        fn never_shrinks_and_never_exceeds_the_max(
            initial_ms in 0u64..10_000, max_ms in 0u64..100_000, n in 0u32..64,
        ) {
            let backoff = Backoff::new(
                Duration::from_millis(initial_ms),
                Duration::from_millis(max_ms),
            );
            prop_assert!(backoff.delay(n) <= backoff.max);
            prop_assert!(backoff.delay(n) <= backoff.delay(n + 1));
            prop_assert_eq!(backoff.delay(0), backoff.initial.min(backoff.max));
        }
    }
}
