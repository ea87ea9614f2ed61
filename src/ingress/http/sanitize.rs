//! `POST /v1/sanitize`: a file in, the clean file out (200) or why not (422), the report kept
//! for `GET /v1/reports/{id}`. The engine runs on the blocking pool under the daemon's
//! worker permits; when they are all taken and `http.max_queued` requests already wait, the
//! answer is 503 with Retry-After rather than an unbounded queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{auth, spool, upload, AppState, Client};
use crate::config::Role;
use crate::pipeline::Loaded;
use crate::pipeline::{FileInput, Keep, Permit};

pub async fn sanitize(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let current = state.pipeline.current();
    let key = auth::require(&current.config, &headers, Role::Submit)?;
    let _slot = state.upload_slot()?;
    let received = state.receive_upload(body).await?;
    let (body, permit) = admit(&state, &current, received).await?;
    let file = upload::take(&headers, body.bytes.clone())?;
    // The body's digest is the file's when the file is the whole body (not a multipart part).
    let digest = (file.bytes.len() == body.bytes.len()).then(|| body.digest.clone());
    let name = file.name.clone();
    let input = FileInput {
        bytes: file.bytes,
        name: file.name,
        digest,
    };
    let keep = Keep::Report {
        submitter: format!("http:{}", key.name),
    };
    // The permit goes with the work: a client that hangs up does not free it before the
    // work stops.
    let done = state
        .pipeline
        .file(
            Permit::Held(permit),
            input,
            keep,
            &client.origin(format!("api:{}", key.name)),
        )
        .await
        .map_err(ApiError::internal)?;
    let id = done.report_id.unwrap_or_default();
    let (report, output) = (done.processed.report, done.processed.output);
    tracing::info!(report = %id, name = name.as_deref().unwrap_or(""), outcome = report.outcome.as_str(), "sanitized over HTTP");
    let report = &report;
    let Some(clean) = output else {
        let mut body = serde_json::json!({
            "outcome": report.outcome.as_str(),
            "reason": report.reason,
            "report_id": id,
            "report": report,
        });
        // A held file (a password archive) is kept so it can be unlocked: the answer names
        // the unlock call and the recipient page by a signed link.
        if let Some(token) = &done.held_token {
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
    current: &Loaded,
    received: spool::Received,
) -> Result<(spool::InMemory, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let workers = state.pipeline.workers().clone();
    if !received.spooled() {
        if let Ok(p) = workers.clone().try_acquire_owned() {
            return Ok((received.load(&state.bodies).await?, p));
        }
    }
    if state.queued.fetch_add(1, Ordering::SeqCst) >= current.config.http.max_queued {
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
    let current = state.pipeline.current();
    auth::require(&current.config, &headers, Role::Submit)?;
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
    let store = state.pipeline.store().clone();
    let json = tokio::task::spawn_blocking(move || store.report(&id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .ok_or_else(unknown)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `GET /v1/receipt-key`: the public key kept reports are signed with (their `receipt`), for
/// `mugai verify --key` on the LGWAN side. Public: it proves, it grants nothing.
pub async fn receipt_key(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(serde_json::json!({
        "alg": "ed25519",
        "key": state.pipeline.store().receipt_key(),
    }))
    .into_response()
}
