//! `/healthz` (the process answers), `/readyz` (it can do its work: the store reads and
//! writes, the next hop accepts connections) and `/metrics` (Prometheus).

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

pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let engine = state.gateway.engine();
    let data_dir = engine.config.serve.data_dir.clone();
    let store = state.gateway.store.clone();
    let store_ok = tokio::task::spawn_blocking(move || {
        let probe = data_dir.join(".ready-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .is_ok()
            && store.report(&"0".repeat(32)).is_ok()
    })
    .await
    .unwrap_or(false);
    let next_hop = engine.config.serve.next_hop;
    let hop_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(next_hop)).await,
        Ok(Ok(_))
    );
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

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.gateway.metrics.render() + &body_memory(&state),
    )
}

/// The request-body budget left now (`http.body_memory_bytes`), as a gauge.
fn body_memory(state: &AppState) -> String {
    format!(
        "# HELP mugai_http_body_memory_free_bytes Request-body memory not taken now (of http.body_memory_bytes).\n\
         # TYPE mugai_http_body_memory_free_bytes gauge\nmugai_http_body_memory_free_bytes {}\n",
        state.bodies.available_bytes()
    )
}
