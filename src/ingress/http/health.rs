//! `/healthz` (the process answers), `/readyz` (it can do its work: the store reads and
//! writes, the next hop accepts connections; probed at most every 5 s, whoever asks) and
//! `/metrics` (Prometheus).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::AppState;

pub async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n")
}

/// How long a readiness probe is reused: a load balancer asking every second, from several
/// places, costs one probe (a file written, a connection to the next hop) per interval.
const PROBE_FRESH: Duration = Duration::from_secs(5);

/// The last probe: when, and whether the store and the next hop were usable. One probe runs
/// at a time; requests during it wait for its answer.
#[derive(Default)]
pub struct Readiness(tokio::sync::Mutex<Option<(std::time::Instant, bool, bool)>>);

pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut last = state.readiness.0.lock().await;
    let (store_ok, hop_ok) = match *last {
        Some((at, store, hop)) if at.elapsed() < PROBE_FRESH => (store, hop),
        _ => {
            let (store, hop) = probe(&state).await;
            *last = Some((std::time::Instant::now(), store, hop));
            (store, hop)
        }
    };
    drop(last);
    let status = if store_ok && hop_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({ "store": store_ok, "next_hop": hop_ok })),
    )
}

/// Whether the store reads and writes, and the next hop accepts a connection.
async fn probe(state: &AppState) -> (bool, bool) {
    let current = state.pipeline.current();
    let data_dir = current.config.serve.data_dir.clone();
    let store = state.pipeline.store().clone();
    let store_ok = tokio::task::spawn_blocking(move || {
        let probe = data_dir.join(".ready-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .is_ok()
            && store.ready()
    })
    .await
    .unwrap_or(false);
    let hop = &current.config.serve.next_hop;
    let hop_ok = matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((hop.host.as_str(), hop.port))
        )
        .await,
        Ok(Ok(_))
    );
    (store_ok, hop_ok)
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.pipeline.metrics.render() + &body_memory(&state),
    )
}

/// The request-body budget left now (`http.body_memory_bytes`), and the memory held by SMTP
/// messages being received (`smtp.message_memory_bytes`), as gauges.
fn body_memory(state: &AppState) -> String {
    format!(
        "# HELP mugai_http_body_memory_free_bytes Request-body memory not taken now (of http.body_memory_bytes).\n\
         # TYPE mugai_http_body_memory_free_bytes gauge\nmugai_http_body_memory_free_bytes {}\n\
         # HELP mugai_smtp_message_memory_bytes Memory held by SMTP messages being received (of smtp.message_memory_bytes).\n\
         # TYPE mugai_smtp_message_memory_bytes gauge\nmugai_smtp_message_memory_bytes {}\n",
        state.bodies.available_bytes(),
        state.pipeline.message_memory.used()
    )
}
