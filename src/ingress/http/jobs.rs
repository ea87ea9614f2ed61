//! `POST /v1/jobs`, `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/result`: the asynchronous form
//! of `/v1/sanitize`, for files too large to wait on.
//!
//! A job is acknowledged (202) only after its input is in the blob store and its ledger row
//! written, so a restart loses nothing: [`resume`] runs every unfinished job again at start.
//! Jobs wait for the same worker permits as everything else, holding no bytes in memory
//! while they wait; their results and reports are kept until retention ends.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::originals::{blocking, file_response};
use super::{auth, upload, AppState, Client};
use crate::audit::Origin;
use crate::config::Role;
use crate::pipeline::{FileInput, Keep, Permit};
use crate::store::JobRow;

/// Jobs accepted and not finished; more are answered 503 (the disk is not a queue without end).
pub const MAX_PENDING: usize = 10_000;

#[derive(Debug, Default, serde::Deserialize)]
pub struct SubmitQuery {
    /// Where to POST the result when the job ends (`callback`).
    callback_url: Option<String>,
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    client: Client,
    axum::extract::Query(query): axum::extract::Query<SubmitQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let current = state.pipeline.current();
    let key = auth::require(&current.config, &headers, Role::Submit)?;
    // A callback host not allowed is refused before the body is read.
    if let Some(url) = &query.callback_url {
        super::callback::check_url(&current.config.http, url)
            .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, "callback_not_allowed", why))?;
    }
    let _slot = state.upload_slot()?;
    let body = state.receive_upload(body).await?.load(&state.bodies).await?;
    let file = upload::take(&headers, body.bytes.clone())?;
    if state.jobs_pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
        state.jobs_pending.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::busy());
    }
    let store = state.pipeline.store().clone();
    let callback = query.callback_url.clone();
    let row = blocking(move || store.submit_job(&file.bytes, file.name.as_deref(), callback.as_deref())).await?;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            state.jobs_pending.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::internal(e));
        }
    };
    tracing::info!(job = %row.id, name = row.name.as_deref().unwrap_or(""), "job accepted");
    let id = row.id.clone();
    tokio::spawn(run(state.clone(), row, client.origin(format!("api:{}", key.name))));
    let mut response = (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "status": "queued", "href": format!("/v1/jobs/{id}") })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Run one job to its end and record the result. Errors are logged and leave the job
/// unfinished, so the next start runs it again (on a shared store, the first sweep after its
/// lease lapsed, on any instance).
async fn run(state: Arc<AppState>, job: JobRow, origin: Origin) {
    state.hold_job(&job.id, true);
    let done = run_inner(&state, &job, &origin).await;
    state.hold_job(&job.id, false);
    state.jobs_pending.fetch_sub(1, Ordering::SeqCst);
    if let Err(e) = done {
        tracing::error!(job = %job.id, error = %e.message, "job failed on our side; it runs again at the next start");
    }
}

async fn run_inner(state: &Arc<AppState>, job: &JobRow, origin: &Origin) -> Result<(), ApiError> {
    let store = state.pipeline.store().clone();
    let blob = job.input_blob.clone();
    let input = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
    let input = FileInput {
        bytes: input.into(),
        name: job.name.clone(),
        digest: None,
    };
    let keep = Keep::Job { id: job.id.clone() };
    let done = state
        .pipeline
        .file(Permit::Wait, input, keep, origin)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(job = %job.id, outcome = done.processed.report.outcome.as_str(), "job finished");
    if let Some(url) = job.callback.clone() {
        let report = &done.processed.report;
        let result = serde_json::json!({
            "id": job.id,
            "status": "done",
            "outcome": report.outcome.as_str(),
            "sha256": report.output.as_ref().map(|o| o.digest.sha256.clone()),
            "report": format!("/v1/jobs/{}", job.id),
        });
        super::callback::send(state, &job.id, url, result);
    }
    Ok(())
}

/// Run the jobs left to this instance: at start, every job a previous process accepted and
/// did not finish (on a shared store, those whose holder's lease ran out); later, on a shared
/// store, those another instance took and died holding.
pub fn resume(state: &Arc<AppState>, starting: bool) {
    let jobs = match state.pipeline.store().claim_jobs(starting) {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "could not read unfinished jobs");
            return;
        }
    };
    if !jobs.is_empty() {
        tracing::info!(
            jobs = jobs.len(),
            "running jobs left unfinished (by the last run, or by an instance that died)"
        );
    }
    for job in jobs {
        state.jobs_pending.fetch_add(1, Ordering::SeqCst);
        // The key that submitted it is not kept with the job: the daemon runs it again.
        tokio::spawn(run(state.clone(), job, Origin::daemon()));
    }
}

async fn find(state: &Arc<AppState>, headers: &HeaderMap, id: String) -> Result<JobRow, ApiError> {
    auth::require(&state.pipeline.current().config, headers, Role::Submit)?;
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_job", "no such job (or it expired)");
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let store = state.pipeline.store().clone();
    blocking(move || store.job(&id))
        .await?
        .map_err(ApiError::internal)?
        .ok_or_else(unknown)
}

/// `GET /v1/jobs/{id}`: `queued` (no report yet) or `done` with the outcome and report.
pub async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = find(&state, &headers, id).await?;
    let report: Option<serde_json::Value> = job.report.as_deref().and_then(|r| serde_json::from_str(r).ok());
    let body = serde_json::json!({
        "id": job.id,
        "status": if job.outcome.is_some() { "done" } else { "queued" },
        "name": job.name,
        "outcome": job.outcome,
        "report": report,
        "result": job.clean_blob.as_ref().map(|_| format!("/v1/jobs/{}/result", job.id)),
        "expires": job.expires,
    });
    Ok(Json(body).into_response())
}

/// `GET /v1/jobs/{id}/result`: the clean file; 409 while queued, 422 when it was refused.
pub async fn result(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = find(&state, &headers, id).await?;
    let Some(outcome) = job.outcome.map(|o| o.as_str()) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", "the job has not finished yet").retry_after(1));
    };
    let Some(blob) = job.clean_blob.clone() else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!(
                "the file was {outcome}; there is no clean file (see GET /v1/jobs/{})",
                job.id
            ),
        ));
    };
    let store = state.pipeline.store().clone();
    let bytes = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
    let name = job.clean_name.as_deref().unwrap_or("sanitized.bin");
    let mut response = file_response(bytes, name, None);
    if let Some(Ok(v)) = job.media_type.as_deref().map(HeaderValue::from_str) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(outcome) {
        response.headers_mut().insert("x-mugai-outcome", v);
    }
    Ok(response)
}
