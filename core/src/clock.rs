//! DHT time: wall-clock seconds since the Unix epoch as `f64`, read through one abstraction so
//! tests (and simulations) can control it.
//!
//! Everything in swarm-progress that needs "now" (report timestamps, expirations, ETAs, the
//! performance EMA's intervals) reads it from a [`Clock`]. Production code uses [`SystemClock`];
//! tests use [`ManualClock`] and move time forward explicitly instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of DHT time (seconds since the Unix epoch).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current DHT time in seconds. Always finite.
    fn now(&self) -> f64;
}

/// A shareable clock handle, the form in which actors and the tracker hold their clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock of this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => elapsed.as_secs_f64(),
            // A clock set before 1970 is broken; report the epoch rather than a negative time.
            Err(_) => 0.0,
        }
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Clone)]
pub struct ManualClock {
    /// The current time, stored as `f64` bits so reads are lock-free.
    bits: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock that starts at `start` seconds.
    ///
    /// Non-finite starts are replaced by 0 so that [`Clock::now`] is always finite.
    pub fn new(start: f64) -> Self {
        let start = if start.is_finite() { start } else { 0.0 };
        Self {
            bits: Arc::new(AtomicU64::new(start.to_bits())),
        }
    }

    /// This clock as a [`SharedClock`] (sharing the same time as `self`).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Sets the time to `now` seconds (ignored if `now` is not finite).
    pub fn set(&self, now: f64) {
        if now.is_finite() {
            self.bits.store(now.to_bits(), Ordering::SeqCst);
        }
    }

    /// Moves the time by `seconds` (may be negative, to simulate a clock stepping back).
    pub fn advance(&self, seconds: f64) {
        let mut current = self.bits.load(Ordering::SeqCst);
        loop {
            let next = f64::from_bits(current) + seconds;
            if !next.is_finite() {
                return;
            }
            match self.bits.compare_exchange(
                current,
                next.to_bits(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800.0);
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::new(100.0);
        let shared = clock.shared();
        assert_eq!(shared.now(), 100.0);
        clock.advance(2.5);
        assert_eq!(shared.now(), 102.5);
        clock.set(10.0);
        assert_eq!(clock.now(), 10.0);
        clock.advance(-4.0);
        assert_eq!(shared.now(), 6.0);
    }

    #[test]
    fn manual_clock_ignores_non_finite_times() {
        let clock = ManualClock::new(f64::NAN);
        assert_eq!(clock.now(), 0.0);
        clock.set(f64::INFINITY);
        assert_eq!(clock.now(), 0.0);
        clock.advance(f64::NEG_INFINITY);
        assert_eq!(clock.now(), 0.0);
    }
}
