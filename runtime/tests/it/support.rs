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

/// A trainer adding 8 samples every 50 ms (160 samples/s).
pub fn trainer() -> swarm_progress::simulation::SimulatedTrainer {
    swarm_progress::simulation::SimulatedTrainer {
        batch: 8,
        period: Duration::from_millis(50),
        start_epoch: 0,
        start_delay: Duration::ZERO,
    }
}

/// Generous bound for conditions that normally take well under a second (CI is a loaded
/// 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A clock `offset` seconds ahead of (or, negative, behind) this machine's wall clock: a peer
/// with a skewed clock.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock(pub f64);

impl swarm_progress::Clock for SkewedClock {
    fn now(&self) -> f64 {
        swarm_progress::SystemClock.now() + self.0
    }
}

/// CPU time (user + system) the calling thread has used, from `/proc/thread-self/stat` (Linux;
/// 10 ms resolution). `None` where that file does not exist.
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Warn-and-above log events of the whole test binary, captured by a global subscriber that
/// [`logs::capture`] installs once.
pub mod logs {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    /// One captured event: its message and other fields, as text.
    #[derive(Debug, Clone)]
    pub struct Event {
        /// The event's level.
        pub level: tracing::Level,
        /// Every field, `message` included.
        pub fields: HashMap<String, String>,
    }

    impl Event {
        /// A field as text (`""` when absent).
        pub fn field(&self, name: &str) -> &str {
            self.fields.get(name).map_or("", String::as_str)
        }
    }

    static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

    struct Capture;

    struct Fields<'a>(&'a mut HashMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            EVENTS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Event {
                    level: *event.metadata().level(),
                    fields,
                });
        }
    }

    /// Installs the capturing subscriber (warn and above) for the whole test binary, once.
    pub fn capture() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            let subscriber = tracing_subscriber::registry()
                .with(Capture.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
    }

    /// The captured events that satisfy `wanted`.
    pub fn events(wanted: impl Fn(&Event) -> bool) -> Vec<Event> {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| wanted(e))
            .cloned()
            .collect()
    }
}
