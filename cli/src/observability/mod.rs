//! Observability of a running node: the HTTP server (`GET`/`HEAD /metrics`, `GET /status`,
//! `GET /healthz`), bound to 127.0.0.1 by default.
//!
//! - `collector.rs`: the metric families, read from the node's and tracker's counters.
//! - `text_format.rs`: OpenMetrics or Prometheus text 0.0.4, as the scrape's `Accept` asks.

mod collector;
pub mod text_format;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use prometheus_client::registry::Registry;
use swarm_progress::dht::node::NodeHandle;
use swarm_progress::{Health, TrackerObserver};

use text_format::Format;

/// What the HTTP server reports on: a node, and the tracker running on it if any.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The DHT node.
    pub node: NodeHandle,
    /// The tracker, when the node tracks a collaboration.
    pub tracker: Option<TrackerObserver>,
}

/// `GET` or `HEAD /metrics`: OpenMetrics to a scrape that asks for it, else Prometheus text
/// 0.0.4 (actix sends no body to `HEAD`).
async fn metrics(request: HttpRequest, registry: web::Data<Registry>) -> HttpResponse {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let mut openmetrics = String::new();
    if prometheus_client::encoding::text::encode(&mut openmetrics, &registry).is_err() {
        return HttpResponse::InternalServerError().finish();
    }
    let body = match format {
        Format::OpenMetrics => openmetrics,
        Format::PrometheusText => text_format::to_prometheus_text(&openmetrics),
    };
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(body)
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
            .service(
                web::resource("/metrics")
                    .route(web::get().to(metrics))
                    .route(web::head().to(metrics)),
            )
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
