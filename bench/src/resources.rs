//! What this process uses, read from `/proc/self` (Linux): CPU seconds, peak RSS and PSS; and
//! from glibc's allocator, how much of its heap is live. Every reader returns `None` where
//! `/proc` is missing or unreadable, or the allocator is not glibc's.

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports in clock ticks of USER_HZ, 100 on every mainstream configuration.
    Some((utime + stime) / 100.0)
}

fn kib_field(path: &str, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process (`VmHWM`), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    kib_field("/proc/self/status", "VmHWM:").map(|kib| kib / 1024.0)
}

/// Proportional set size of this process now (shared pages split among their users), MiB.
pub fn pss_mib() -> Option<f64> {
    kib_field("/proc/self/smaps_rollup", "Pss:").map(|kib| kib / 1024.0)
}

/// The allocator's view of this process's heap, every arena and mapped block included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeapUse {
    /// Bytes in live allocations, MiB.
    pub in_use_mib: f64,
    /// Bytes the allocator holds free (counted in RSS once touched, reusable by this process
    /// only), MiB.
    pub free_mib: f64,
}

/// The heap's live and free bytes now (glibc's `mallinfo2`; `None` with another C library).
pub fn heap_use() -> Option<HeapUse> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and only reads the allocator's own counters,
        // under each arena's lock.
        let info = unsafe { libc::mallinfo2() };
        let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
        Some(HeapUse {
            in_use_mib: mib(info.uordblks + info.hblkhd),
            free_mib: mib(info.fordblks),
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Hands the allocator's free pages back to the kernel (glibc's `malloc_trim(0)`, every
/// arena), then reads PSS: how small the process would be if the allocator kept nothing free.
/// `None` with another C library.
pub fn pss_mib_after_trim() -> Option<f64> {
    if cfg!(not(all(target_os = "linux", target_env = "gnu"))) {
        return None;
    }
    swarm_progress::heap_trim::trim_heap_now();
    pss_mib()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that measure this whole process's memory, one at a time.
    static MEMORY_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn readings_are_plausible_on_linux() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let before = cpu_seconds().unwrap();
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds().unwrap() >= before);
        let rss = peak_rss_mib().unwrap();
        assert!(rss > 0.5 && rss < 64.0 * 1024.0, "{rss}");
        if let Some(pss) = pss_mib() {
            assert!(pss > 0.0 && pss <= rss * 1.01 + 1.0, "{pss} vs {rss}");
        }
    }

    #[test]
    fn heap_use_counts_a_live_block_and_not_a_freed_one() {
        let _alone = MEMORY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(before) = heap_use() else { return };
        let block = vec![1u8; 64 << 20];
        let during = heap_use().unwrap();
        assert!(
            during.in_use_mib - before.in_use_mib >= 56.0,
            "{before:?} -> {during:?}"
        );
        std::hint::black_box(&block);
        drop(block);
        let after = heap_use().unwrap();
        assert!(
            during.in_use_mib - after.in_use_mib >= 56.0,
            "{during:?} -> {after:?}"
        );
        assert!(after.free_mib >= 0.0);
    }

    #[test]
    fn trimming_returns_freed_heap_pages() {
        let _alone = MEMORY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(before) = pss_mib() else { return };
        // Many 16 KiB blocks (below the mmap threshold, so they live in the heap), every other
        // one freed: the holes stay resident until trimmed.
        let blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 16 << 10]).collect();
        let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(2).collect();
        let untrimmed = pss_mib().unwrap();
        let Some(trimmed) = pss_mib_after_trim() else {
            return;
        };
        std::hint::black_box(&kept);
        assert!(untrimmed - before >= 48.0, "{before} -> {untrimmed}");
        assert!(untrimmed - trimmed >= 16.0, "{untrimmed} -> {trimmed}");
    }
}
