//! The two exposition formats of `/metrics`: OpenMetrics 1.0 (what `prometheus-client` writes)
//! and the Prometheus text format 0.0.4 (what `promtool check metrics`, older Prometheus
//! servers and many client parsers read), chosen by the scrape's `Accept` header, and
//! [`to_prometheus_text`], which turns the first into the second.

/// Content type of an OpenMetrics body.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of a Prometheus text 0.0.4 body.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The format a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    PrometheusText,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it (as Prometheus servers since 2.5 do),
    /// else the 0.0.4 text that every client reads (no header, `*/*`, `text/plain`).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let wants_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or_default();
                let refused = parts.any(|p| p.replace(' ', "") == "q=0");
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    /// The content type of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// Rewrites an OpenMetrics body as Prometheus text 0.0.4:
/// - a counter family `x` (samples `x_total`) is announced as `x_total`, since 0.0.4 names a
///   family by its samples;
/// - `unknown` is `untyped`; `# UNIT` lines and the `# EOF` marker are dropped;
/// - exemplars (` # {...}` after a sample) are dropped;
/// - HELP text loses the OpenMetrics escape of `"` (0.0.4 escapes only `\` and newlines).
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, kind)| kind.trim() == "counter")
        .map(|(name, _)| name)
        .collect();
    let family = |name: &str| {
        if counters.contains(name) {
            format!("{name}_total")
        } else {
            name.to_owned()
        }
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        let rewritten = if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            format!("# HELP {} {}", family(name), help.replace("\\\"", "\""))
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let kind = match kind.trim() {
                "unknown" => "untyped",
                other => other,
            };
            format!("# TYPE {} {kind}", family(name))
        } else if line.starts_with('#') {
            line.to_owned()
        } else {
            without_exemplar(line).to_owned()
        };
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

/// A sample line without its exemplar: the first ` # ` outside the label set ends the sample.
fn without_exemplar(line: &str) -> &str {
    let labels_end = match (line.find('{'), line.find('}')) {
        (Some(open), Some(close)) if open < close && !line[..open].contains(' ') => close,
        _ => 0,
    };
    match line[labels_end..].find(" # ") {
        Some(at) => &line[..labels_end + at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS_BODY: &str = "\
# HELP swarm_progress_dht_stores DHT stores by outcome.
# TYPE swarm_progress_dht_stores counter
swarm_progress_dht_stores_total{outcome=\"ok\"} 3
swarm_progress_dht_stores_total{outcome=\"failed\"} 0
# HELP swarm_progress_peers Live peers.
# TYPE swarm_progress_peers gauge
swarm_progress_peers 4
# HELP swarm_progress_store_latency_seconds Latency of the \\\"Reporter\\\"'s stores.
# TYPE swarm_progress_store_latency_seconds histogram
# UNIT swarm_progress_store_latency_seconds seconds
swarm_progress_store_latency_seconds_sum 0.5
swarm_progress_store_latency_seconds_count 2
swarm_progress_store_latency_seconds_bucket{le=\"0.001\"} 0 # {trace=\"a # b\"} 0.0005
swarm_progress_store_latency_seconds_bucket{le=\"+Inf\"} 2
# HELP swarm_progress_mystery Something.
# TYPE swarm_progress_mystery unknown
swarm_progress_mystery 1
# EOF
";

    #[test]
    fn counter_families_take_their_samples_name_and_openmetrics_only_lines_go() {
        let text = to_prometheus_text(OPENMETRICS_BODY);
        let expected = "\
# HELP swarm_progress_dht_stores_total DHT stores by outcome.
# TYPE swarm_progress_dht_stores_total counter
swarm_progress_dht_stores_total{outcome=\"ok\"} 3
swarm_progress_dht_stores_total{outcome=\"failed\"} 0
# HELP swarm_progress_peers Live peers.
# TYPE swarm_progress_peers gauge
swarm_progress_peers 4
# HELP swarm_progress_store_latency_seconds Latency of the \"Reporter\"'s stores.
# TYPE swarm_progress_store_latency_seconds histogram
swarm_progress_store_latency_seconds_sum 0.5
swarm_progress_store_latency_seconds_count 2
swarm_progress_store_latency_seconds_bucket{le=\"0.001\"} 0
swarm_progress_store_latency_seconds_bucket{le=\"+Inf\"} 2
# HELP swarm_progress_mystery Something.
# TYPE swarm_progress_mystery untyped
swarm_progress_mystery 1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn openmetrics_is_served_only_to_a_scrape_that_asks_for_it() {
        let prometheus_server = "application/openmetrics-text;version=1.0.0,application/\
                                 openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;\
                                 q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_server)),
            Format::OpenMetrics
        );
        for accept in [
            None,
            Some("*/*"),
            Some("text/plain"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text; q=0, text/plain"),
        ] {
            assert_eq!(
                Format::negotiate(accept),
                Format::PrometheusText,
                "{accept:?}"
            );
        }
    }
}
