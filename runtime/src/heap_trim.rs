//! Giving the allocator's free pages back to the kernel, on a schedule: the [`HeapTrimmer`].
//!
//! A peer's heap is busiest while it joins (many connections and lookups at once) and while it
//! answers whole-record reads; glibc keeps the pages that traffic freed inside its arenas, so a
//! peer's resident memory stays at its busiest and grows with the swarm even though its live
//! data barely does (BENCHMARKS.md, "Memory per simulated peer": at N = 200 under Shadow, 7.7
//! MiB live and 13.1 MiB held free). `malloc_trim(0)` hands those pages back. The trimmer is for
//! programs (our `swarm-progress` commands and the benchmark's peers); a library embedded in
//! someone else's process does not trim its host's heap unasked, so nothing here starts it.
//! Only glibc has `malloc_trim`: elsewhere the trimmer starts and does nothing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The period the `swarm-progress` commands trim with.
pub const DEFAULT_HEAP_TRIM_PERIOD: Duration = Duration::from_secs(10);

/// Hands the allocator's free pages back to the kernel now; `true` if any were released.
pub fn trim_heap_now() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim(0) only releases free pages the allocator owns (every arena);
        // live allocations are not touched.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[derive(Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    trims: AtomicU64,
}

/// A thread that trims the heap every `period` until the trimmer is dropped.
pub struct HeapTrimmer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl HeapTrimmer {
    /// Starts the thread; the first trim is one period from now.
    pub fn start(period: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("swarm-progress-heap-trim".into())
            .spawn(move || {
                let mut stop = theirs.stop.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (guard, _) = theirs
                        .wake
                        .wait_timeout_while(stop, period, |stop| !*stop)
                        .unwrap_or_else(|e| e.into_inner());
                    stop = guard;
                    if *stop {
                        return;
                    }
                    theirs.trims.fetch_add(1, Relaxed);
                    trim_heap_now();
                }
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Trims done so far.
    pub fn trims(&self) -> u64 {
        self.shared.trims.load(Relaxed)
    }
}

impl Drop for HeapTrimmer {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The tests that trim this whole process's heap, one at a time (a trim by one would
    /// release the other's pages first).
    static TRIM_TESTS: Mutex<()> = Mutex::new(());

    #[test]
    fn trims_on_its_period_and_stops_when_dropped() {
        let _alone = TRIM_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let trimmer = HeapTrimmer::start(Duration::from_millis(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while trimmer.trims() < 3 {
            assert!(Instant::now() < deadline, "no trims: {}", trimmer.trims());
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        drop(trimmer);
        assert!(started.elapsed() < Duration::from_secs(10), "drop hung");
    }

    #[test]
    fn a_trim_releases_the_pages_of_freed_blocks() {
        if cfg!(not(all(target_os = "linux", target_env = "gnu"))) {
            return;
        }
        let _alone = TRIM_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        // 16 KiB blocks (below the mmap threshold, so in the heap), every other one freed:
        // each hole holds whole pages that only a trim gives back.
        let blocks: Vec<Vec<u8>> = (0..2048).map(|_| vec![1u8; 16 << 10]).collect();
        let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(2).collect();
        assert!(trim_heap_now());
        std::hint::black_box(&kept);
    }
}
