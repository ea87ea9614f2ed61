//! `POST /v1/sanitize`: a file in, the clean file out (200) or why not (422), the report kept
//! for `GET /v1/reports/{id}`. The engine runs on the blocking pool under the daemon's
//! worker permits; when they are all taken and `http.max_queued` requests already wait, the
//! answer is 503 with Retry-After rather than an unbounded queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{auth, spool, upload, AppState};
use crate::config::Role;
use crate::Engine;

pub async fn sanitize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let engine = state.gateway.engine();
    let key = auth::require(&engine.config, &headers, Role::Submit)?;
    let _slot = state.upload_slot()?;
    let received = state.receive_upload(body).await?;
    let (body, permit) = admit(&state, &engine, received).await?;
    let file = upload::take(&headers, body.bytes.clone())?;
    // The body's digest is the file's when the file is the whole body (not a multipart part).
    let digest = (file.bytes.len() == body.bytes.len()).then(|| body.digest.clone());
    let started = Instant::now();
    let worker = engine.clone();
    let name = file.name.clone();
    let store = state.gateway.store.clone();
    // One trip to the blocking pool: the engine, then the report into the ledger. The permit
    // goes with the work: a client that hangs up does not free it before the work stops.
    let (processed, file, id) = state
        .gateway
        .run_work_with(permit, None, move || {
            let processed = match digest {
                Some(d) => worker.run_digested(&file.bytes, file.name.as_deref(), d),
                None => worker.run(&file.bytes, file.name.as_deref()),
            };
            let elapsed = started.elapsed();
            let id = store.keep_report(&processed.report.to_json());
            (processed, file, id.map(|id| (id, elapsed)))
        })
        .await
        .map_err(ApiError::internal)?;
    let (id, elapsed) = id.map_err(ApiError::internal)?;
    state.gateway.metrics.file(&processed.report, elapsed);
    tracing::info!(report = %id, name = name.as_deref().unwrap_or(""), outcome = processed.report.outcome.as_str(), "sanitized over HTTP");
    let report = &processed.report;
    let Some(clean) = processed.output else {
        let mut body = serde_json::json!({
            "outcome": report.outcome.as_str(),
            "reason": report.reason,
            "report_id": id,
            "report": report,
        });
        // A held file (a password archive) is kept so it can be unlocked: the answer names
        // the unlock call and the recipient page by a signed link.
        if report.outcome == crate::report::Outcome::Held {
            let store = state.gateway.store.clone();
            let (submitter, kind, reason, json) = (
                format!("http:{}", key.name),
                report.detected_kind.as_str().to_string(),
                report.reason.clone(),
                report.to_json(),
            );
            let token = tokio::task::spawn_blocking(move || {
                store
                    .keep_held_upload(
                        &submitter,
                        &file.bytes,
                        file.name.as_deref(),
                        &kind,
                        reason.as_deref(),
                        &json,
                    )
                    .map(|(_, token)| token)
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
            body["unlock"] = format!("/v1/held/{token}/unlock").into();
            body["page"] = format!("/o/{token}").into();
        }
        let mut response = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        report_headers(&mut response, &id, report.outcome.as_str());
        return Ok(response);
    };
    let kind = report.output.as_ref().map_or(report.detected_kind, |o| o.kind);
    let out_name = report.output.as_ref().and_then(|o| o.name.clone());
    let mut response = Response::new(Body::from(clean));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.media_type()));
    if let Some(n) = out_name {
        if let Ok(v) = HeaderValue::from_str(&content_disposition(&n)) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    if let Some(o) = &report.output {
        if let Ok(v) = HeaderValue::from_str(&o.digest.sha256) {
            h.insert("x-mugai-sha256", v);
        }
    }
    report_headers(&mut response, &id, report.outcome.as_str());
    Ok(response)
}

fn report_headers(response: &mut Response, id: &str, outcome: &'static str) {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-mugai-report-id", v);
    }
    h.insert("x-mugai-outcome", HeaderValue::from_static(outcome));
}

/// `attachment` with an ASCII fallback name and the real one in RFC 5987 form.
pub(super) fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The body in memory and a worker permit: at once when both are free, else after waiting in
/// the bounded queue, or 503 when `http.max_queued` requests already wait. A spooled body
/// takes its memory budget before the worker permit (see `spool`).
async fn admit(
    state: &AppState,
    engine: &Engine,
    received: spool::Received,
) -> Result<(spool::InMemory, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let workers = state.gateway.workers().clone();
    if !received.spooled() {
        if let Ok(p) = workers.clone().try_acquire_owned() {
            return Ok((received.load(&state.bodies).await?, p));
        }
    }
    if state.queued.fetch_add(1, Ordering::SeqCst) >= engine.config.http.max_queued {
        state.queued.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::busy());
    }
    let waited = async {
        let body = received.load(&state.bodies).await?;
        let permit = workers.acquire_owned().await.map_err(|_| ApiError::busy())?;
        Ok((body, permit))
    }
    .await;
    state.queued.fetch_sub(1, Ordering::SeqCst);
    waited
}

/// `GET /v1/reports/{id}`: a kept report, while retention lasts.
pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let engine = state.gateway.engine();
    auth::require(&engine.config, &headers, Role::Submit)?;
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_report",
            "no such report (or it expired)",
        )
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let store = state.gateway.store.clone();
    let json = tokio::task::spawn_blocking(move || store.report(&id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .ok_or_else(unknown)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}
