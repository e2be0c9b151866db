//! What this process uses, read from `/proc/self` (Linux): CPU seconds, peak RSS and PSS.
//! Every reader returns `None` where `/proc` is missing or unreadable.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
