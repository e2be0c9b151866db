//! The metric families of `/metrics`: a `prometheus-client` collector over the node's and the
//! tracker's counters and state ([`Observed`]), read at each scrape. Family names follow
//! Prometheus's conventions (base units, `_total` on counters' samples, no `_sum` outside
//! histograms) so that `promtool check metrics` passes.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use swarm_progress::records::RejectionReason;
use swarm_progress::{ActorKind, Health, PublishReason, TrackerStats};

use super::Observed;

type Encoded = Result<(), std::fmt::Error>;

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Encoded {
    let metric = ConstCounter::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn seconds_counter(e: &mut DescriptorEncoder, name: &str, help: &str, micros: u64) -> Encoded {
    let metric = ConstCounter::new(micros as f64 / 1e6);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Encoded {
    let metric = ConstGauge::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// `name{label=value}` counters, one per (value, count).
fn labeled_counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    series: &[(&'static str, u64)],
) -> Encoded {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in series {
        let labels = [(label, *value)];
        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A `*_timestamp_seconds` gauge of one of the tracker's `last_*` times; absent until it
/// happens (a dashboard shows `time() - metric`).
fn last_time(e: &mut DescriptorEncoder, name: &str, help: &str, at: &AtomicU64) -> Encoded {
    match TrackerStats::when(at) {
        Some(unix) => gauge(e, name, help, unix),
        None => Ok(()),
    }
}

impl Collector for Observed {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        encode_node(self, &mut e)?;
        match &self.tracker {
            Some(_) => encode_tracker(self, &mut e),
            None => Ok(()),
        }
    }
}

fn encode_node(observed: &Observed, e: &mut DescriptorEncoder) -> Encoded {
    let node = observed.node.stats();
    labeled_counters(
        e,
        "swarm_progress_dht_stores",
        "DHT stores by outcome",
        "outcome",
        &[
            ("ok", read(&node.stores_ok)),
            ("failed", read(&node.stores_failed)),
        ],
    )?;
    labeled_counters(
        e,
        "swarm_progress_dht_gets",
        "DHT gets by outcome",
        "outcome",
        &[
            ("ok", read(&node.gets_ok)),
            ("failed", read(&node.gets_failed)),
        ],
    )?;
    seconds_counter(
        e,
        "swarm_progress_dht_store_seconds",
        "Time spent in DHT stores",
        read(&node.store_micros),
    )?;
    seconds_counter(
        e,
        "swarm_progress_dht_get_seconds",
        "Time spent in DHT gets",
        read(&node.get_micros),
    )?;
    counter(
        e,
        "swarm_progress_dht_inbound_puts",
        "Records other peers put to this node",
        read(&node.inbound_puts),
    )?;
    counter(
        e,
        "swarm_progress_dht_inbound_requests",
        "Kademlia requests other peers made to this node, every kind",
        read(&node.inbound_requests),
    )?;
    counter(
        e,
        "swarm_progress_dht_bootstrap_attempts",
        "Bootstrap attempts",
        read(&node.bootstrap_attempts),
    )?;
    counter(
        e,
        "swarm_progress_dht_rebootstraps",
        "Times the node lost every connection and bootstrapped again",
        read(&node.rebootstraps),
    )?;
    counter(
        e,
        "swarm_progress_handshake_failures",
        "Connections that failed their handshake (with a network key set: mostly peers without it)",
        read(&node.handshake_failures),
    )?;
    labeled_counters(
        e,
        "swarm_progress_network_bytes",
        "Bytes on all connections, encryption and multiplexing framing included",
        "direction",
        &[
            ("received", read(&node.bytes_in)),
            ("sent", read(&node.bytes_out)),
        ],
    )?;
    gauge(
        e,
        "swarm_progress_connected_peers",
        "Peers with an open connection",
        read(&node.connected_peers) as f64,
    )?;
    gauge(
        e,
        "swarm_progress_routing_table_peers",
        "Peers in the Kademlia routing table",
        read(&node.routing_table_peers) as f64,
    )?;
    labeled_counters(
        e,
        "swarm_progress_gossip_messages",
        "Gossip messages received (v2) by outcome: arrived counts every copy, duplicate the \
         copies gossipsub dropped, accepted / ignored / rejected the validation verdicts",
        "outcome",
        &[
            ("arrived", read(&node.gossip_arrived)),
            ("duplicate", node.gossip_duplicates()),
            ("accepted", read(&node.gossip_accepted)),
            ("ignored", read(&node.gossip_ignored)),
            ("rejected", read(&node.gossip_rejected)),
        ],
    )?;
    labeled_counters(
        e,
        "swarm_progress_gossip_published",
        "Entries this node published on gossip (v2) by outcome",
        "outcome",
        &[
            ("sent", read(&node.gossip_published)),
            ("no_peers_or_failed", read(&node.gossip_publish_failed)),
        ],
    )?;
    gauge(
        e,
        "swarm_progress_gossip_mesh_peers",
        "Peers in this node's gossip mesh (v2)",
        read(&node.gossip_mesh_peers) as f64,
    )?;
    let rejections = observed.node.rejections();
    let by_reason: Vec<(&'static str, u64)> = RejectionReason::ALL
        .iter()
        .map(|r| (r.as_str(), rejections.get(*r)))
        .collect();
    labeled_counters(
        e,
        "swarm_progress_rejected_entries",
        "Entries refused by validation, by reason",
        "reason",
        &by_reason,
    )
}

fn encode_tracker(observed: &Observed, e: &mut DescriptorEncoder) -> Encoded {
    let Some(tracker) = &observed.tracker else {
        return Ok(());
    };
    let stats = &tracker.stats;
    counter(
        e,
        "swarm_progress_reports",
        "Local progress reports applied",
        read(&stats.reports),
    )?;
    labeled_counters(
        e,
        "swarm_progress_tracker_stores",
        "The Reporter's stores by outcome",
        "outcome",
        &[
            ("ok", read(&stats.stores_ok)),
            ("failed", read(&stats.stores_failed)),
        ],
    )?;
    labeled_counters(
        e,
        "swarm_progress_tracker_fetches",
        "The Fetcher's gets by outcome",
        "outcome",
        &[
            ("ok", read(&stats.fetches_ok)),
            ("failed", read(&stats.fetches_failed)),
        ],
    )?;
    last_time(
        e,
        "swarm_progress_last_store_success_timestamp_seconds",
        "When the Reporter's last store succeeded (Unix time)",
        &stats.last_store_ok,
    )?;
    last_time(
        e,
        "swarm_progress_last_read_success_timestamp_seconds",
        "When the Fetcher's last read succeeded (Unix time)",
        &stats.last_fetch_ok,
    )?;
    last_time(
        e,
        "swarm_progress_last_push_received_timestamp_seconds",
        "When the last valid entry arrived by gossip (v2, Unix time)",
        &stats.last_push_received,
    )?;
    stats.store_latency.encode(e.encode_descriptor(
        "swarm_progress_store_latency_seconds",
        "Latency of the Reporter's stores",
        None,
        stats.store_latency.metric_type(),
    )?)?;
    stats.fetch_latency.encode(e.encode_descriptor(
        "swarm_progress_fetch_latency_seconds",
        "Latency of the Fetcher's gets",
        None,
        stats.fetch_latency.metric_type(),
    )?)?;
    let publishes: Vec<(&'static str, u64)> = PublishReason::ALL
        .iter()
        .map(|r| (r.as_str(), stats.publishes_for(*r)))
        .collect();
    labeled_counters(
        e,
        "swarm_progress_publishes",
        "Entries pushed on gossip (v2) by reason",
        "reason",
        &publishes,
    )?;
    labeled_counters(
        e,
        "swarm_progress_pushes_received",
        "Valid entries received by gossip (v2): applied ones changed the view, stale ones did not",
        "outcome",
        &[
            ("applied", read(&stats.pushes_applied)),
            (
                "stale",
                read(&stats.pushes_received).saturating_sub(read(&stats.pushes_applied)),
            ),
        ],
    )?;
    let restarts: Vec<(&'static str, u64)> = ActorKind::ALL
        .iter()
        .map(|k| (k.as_str(), stats.restarts_of(*k)))
        .collect();
    labeled_counters(
        e,
        "swarm_progress_actor_restarts",
        "Actor restarts",
        "actor",
        &restarts,
    )?;

    let state = tracker.state.borrow().clone();
    let global = state.global_progress();
    let now = tracker.clock.now();
    let up = matches!(*tracker.health.borrow(), Health::Running);
    gauge(
        e,
        "swarm_progress_up",
        "1 while the tracker runs",
        if up { 1.0 } else { 0.0 },
    )?;
    gauge(
        e,
        "swarm_progress_global_epoch",
        "The swarm's epoch",
        global.epoch as f64,
    )?;
    gauge(
        e,
        "swarm_progress_local_epoch",
        "This peer's epoch",
        state.local_progress().epoch as f64,
    )?;
    gauge(
        e,
        "swarm_progress_samples_accumulated",
        "Samples reported at the global epoch",
        global.samples_accumulated as f64,
    )?;
    gauge(
        e,
        "swarm_progress_target_batch_size",
        "Samples per epoch",
        global.target_batch_size as f64,
    )?;
    gauge(
        e,
        "swarm_progress_peers",
        "Live peers",
        global.num_peers as f64,
    )?;
    gauge(
        e,
        "swarm_progress_clients",
        "Live peers in client mode",
        global.num_clients as f64,
    )?;
    gauge(
        e,
        "swarm_progress_samples_per_second",
        "This peer's speed estimate",
        state.samples_per_second(),
    )?;
    let eta = global.eta_next_epoch - now;
    if eta.is_finite() {
        gauge(
            e,
            "swarm_progress_eta_seconds",
            "Estimated seconds until the next epoch",
            eta.max(0.0),
        )?;
    }
    Ok(())
}
