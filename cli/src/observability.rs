//! Observability of a running node: a Prometheus collector over the tracker's and node's
//! counters and state, and the HTTP server that exposes it (`GET /metrics`, `GET /status`,
//! `GET /healthz`), bound to 127.0.0.1 by default.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use swarm_progress::dht::node::NodeHandle;
use swarm_progress::records::RejectionReason;
use swarm_progress::{ActorKind, Health, PublishReason, TrackerObserver};

/// What the HTTP server reports on: a node, and the tracker running on it if any.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The DHT node.
    pub node: NodeHandle,
    /// The tracker, when the node tracks a collaboration.
    pub tracker: Option<TrackerObserver>,
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// `name{label=value}` counters, one per (value, count).
fn labeled_counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    series: &[(&'static str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (value, count) in series {
        let labels = [(label, *value)];
        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Observed {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let node = self.node.stats();
        let read = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        labeled_counters(
            &mut e,
            "swarm_progress_dht_stores",
            "DHT stores by outcome",
            "outcome",
            &[
                ("ok", read(&node.stores_ok)),
                ("failed", read(&node.stores_failed)),
            ],
        )?;
        labeled_counters(
            &mut e,
            "swarm_progress_dht_gets",
            "DHT gets by outcome",
            "outcome",
            &[
                ("ok", read(&node.gets_ok)),
                ("failed", read(&node.gets_failed)),
            ],
        )?;
        let micros = |c: &std::sync::atomic::AtomicU64| read(c) as f64 / 1e6;
        gauge(
            &mut e,
            "swarm_progress_dht_store_seconds_sum",
            "Total time spent in DHT stores",
            micros(&node.store_micros),
        )?;
        gauge(
            &mut e,
            "swarm_progress_dht_get_seconds_sum",
            "Total time spent in DHT gets",
            micros(&node.get_micros),
        )?;
        counter(
            &mut e,
            "swarm_progress_dht_inbound_puts",
            "Records other peers put to this node",
            read(&node.inbound_puts),
        )?;
        counter(
            &mut e,
            "swarm_progress_dht_bootstrap_attempts",
            "Bootstrap attempts",
            read(&node.bootstrap_attempts),
        )?;
        labeled_counters(
            &mut e,
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
            &mut e,
            "swarm_progress_gossip_published",
            "Entries this node published on gossip (v2) by outcome",
            "outcome",
            &[
                ("sent", read(&node.gossip_published)),
                ("no_peers_or_failed", read(&node.gossip_publish_failed)),
            ],
        )?;
        gauge(
            &mut e,
            "swarm_progress_gossip_mesh_peers",
            "Peers in this node's gossip mesh (v2)",
            read(&node.gossip_mesh_peers) as f64,
        )?;
        let rejections = self.node.rejections();
        let by_reason: Vec<(&'static str, u64)> = RejectionReason::ALL
            .iter()
            .map(|r| (r.as_str(), rejections.get(*r)))
            .collect();
        labeled_counters(
            &mut e,
            "swarm_progress_rejected_entries",
            "Entries refused by validation, by reason",
            "reason",
            &by_reason,
        )?;

        let Some(tracker) = &self.tracker else {
            return Ok(());
        };
        let stats = &tracker.stats;
        counter(
            &mut e,
            "swarm_progress_reports",
            "Local progress reports applied",
            read(&stats.reports),
        )?;
        labeled_counters(
            &mut e,
            "swarm_progress_tracker_stores",
            "The Reporter's stores by outcome",
            "outcome",
            &[
                ("ok", read(&stats.stores_ok)),
                ("failed", read(&stats.stores_failed)),
            ],
        )?;
        labeled_counters(
            &mut e,
            "swarm_progress_tracker_fetches",
            "The Fetcher's gets by outcome",
            "outcome",
            &[
                ("ok", read(&stats.fetches_ok)),
                ("failed", read(&stats.fetches_failed)),
            ],
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
            &mut e,
            "swarm_progress_publishes",
            "Entries pushed on gossip (v2) by reason",
            "reason",
            &publishes,
        )?;
        labeled_counters(
            &mut e,
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
            &mut e,
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
            &mut e,
            "swarm_progress_up",
            "1 while the tracker runs",
            if up { 1.0 } else { 0.0 },
        )?;
        gauge(
            &mut e,
            "swarm_progress_global_epoch",
            "The swarm's epoch",
            global.epoch as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_local_epoch",
            "This peer's epoch",
            state.local_progress().epoch as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_samples_accumulated",
            "Samples reported at the global epoch",
            global.samples_accumulated as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_target_batch_size",
            "Samples per epoch",
            global.target_batch_size as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_peers",
            "Live peers",
            global.num_peers as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_clients",
            "Live peers in client mode",
            global.num_clients as f64,
        )?;
        gauge(
            &mut e,
            "swarm_progress_samples_per_second",
            "This peer's speed estimate",
            state.samples_per_second(),
        )?;
        let eta = global.eta_next_epoch - now;
        if eta.is_finite() {
            gauge(
                &mut e,
                "swarm_progress_eta_seconds",
                "Estimated seconds until the next epoch",
                eta.max(0.0),
            )?;
        }
        Ok(())
    }
}

async fn metrics(registry: web::Data<Registry>) -> HttpResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn health_text(health: &Health) -> String {
    match health {
        Health::Running => "running".into(),
        Health::Failed { reason } => format!("failed: {reason}"),
        Health::Stopped => "stopped".into(),
    }
}

async fn status(observed: web::Data<Observed>) -> HttpResponse {
    let node = observed.node.info().await.ok();
    let rejections: serde_json::Map<String, serde_json::Value> = observed
        .node
        .rejections()
        .iter()
        .map(|(r, n)| (r.as_str().to_owned(), n.into()))
        .collect();
    let mut body = serde_json::json!({
        "node": {
            "peer_id": observed.node.peer_id().to_string(),
            "listen_addrs": node.as_ref().map(|i| i.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
            "connected_peers": node.as_ref().map(|i| i.connected_peers),
            "rejected_entries": rejections,
        }
    });
    if let Some(tracker) = &observed.tracker {
        let state = tracker.state.borrow().clone();
        let now = tracker.clock.now();
        body["tracker"] = serde_json::json!({
            "peer_id": tracker.peer_id,
            "protocol": state.config().protocol,
            "health": health_text(&tracker.health.borrow()),
            "local": state.local_progress(),
            "global": state.global_progress(),
            "samples_per_second": state.samples_per_second(),
            "fetched_this_epoch": state.fetched_this_epoch(),
            "ready_to_update_epoch": state.ready_to_update_epoch(now),
            "paused": state.is_paused(),
        });
    }
    HttpResponse::Ok().json(body)
}

async fn healthz(observed: web::Data<Observed>) -> HttpResponse {
    let health = observed
        .tracker
        .as_ref()
        .map_or(Health::Running, |t| t.health.borrow().clone());
    let alive = observed.node.is_running();
    match (&health, alive) {
        (Health::Running, true) => HttpResponse::Ok().body("ok"),
        (_, false) => HttpResponse::ServiceUnavailable().body("node stopped"),
        (other, _) => HttpResponse::ServiceUnavailable().body(health_text(other)),
    }
}

/// Starts the HTTP server on `bind` inside the current actix System. Returns its handle (to
/// stop it) and the addresses it is bound to.
pub fn serve(bind: &str, observed: Observed) -> std::io::Result<(ServerHandle, Vec<SocketAddr>)> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(observed.clone()));
    let registry = web::Data::new(registry);
    let observed = web::Data::new(observed);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(registry.clone())
            .app_data(observed.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/status", web::get().to(status))
            .route("/healthz", web::get().to(healthz))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((handle, addrs))
}
