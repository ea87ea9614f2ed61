//! Originals (what the gateway kept from before sanitizing) and when they are released:
//! `GET /v1/originals/{token}` by a recipient's signed link, and the approval queue
//! (`GET /v1/approvals`, `POST /v1/originals/{id}/approve|deny` by an `approve`-role key).
//!
//! `http.originals` decides (`pipeline::release`: direct, after a clean scan, or after an
//! approver's approval; every path fails closed); this file is the HTTP translation, and the
//! recipient and approver pages call the same functions.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{auth, AppState, Client};
use crate::audit::Origin;
use crate::config::Role;
use crate::pipeline::ReleaseRefused;
use crate::store::{links::LinkError, now, PartRow, ResolveError};

/// `GET /v1/originals/{token}`.
pub async fn original(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let part = resolve(&state, token).await?;
    let bytes = release(&state, &part, &client.origin("recipient")).await?;
    Ok(file_response(
        bytes,
        part.name.as_deref().unwrap_or("original.bin"),
        None,
    ))
}

/// The part a recipient's link names, or the error that link deserves (expired: 410).
pub(super) async fn resolve(state: &Arc<AppState>, token: String) -> Result<PartRow, ApiError> {
    let store = state.pipeline.store().clone();
    blocking(move || store.resolve(&token, now()))
        .await?
        .map_err(|e| match e {
            ResolveError::Link(LinkError::Expired) => {
                ApiError::new(StatusCode::GONE, "expired", "this link has expired")
            }
            ResolveError::Link(LinkError::Unknown) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown",
                "nothing is kept under this link any more",
            ),
            ResolveError::Link(_) => ApiError::new(StatusCode::NOT_FOUND, "invalid_link", "not a valid link"),
            ResolveError::Store(e) => ApiError::internal(e),
        })
}

/// The original's bytes, if policy releases it now (`pipeline::release`); otherwise why not.
pub(super) async fn release(state: &Arc<AppState>, part: &PartRow, origin: &Origin) -> Result<Vec<u8>, ApiError> {
    state.pipeline.release(part, origin).await.map_err(refused)
}

/// Why an original was not handed out (or a request not made), as the API says it.
pub(super) fn refused(e: ReleaseRefused) -> ApiError {
    let forbidden = |code| ApiError::new(StatusCode::FORBIDDEN, code, e.to_string());
    match &e {
        ReleaseRefused::Denied => forbidden("denied"),
        ReleaseRefused::Pending => forbidden("pending"),
        ReleaseRefused::NotRequested => forbidden("not_released"),
        ReleaseRefused::Infected(_) => forbidden("infected"),
        ReleaseRefused::ScanUnavailable => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "scan_unavailable", e.to_string()).retry_after(30)
        }
        ReleaseRefused::Failed(f) => ApiError::internal(f),
    }
}

/// A file download: `attachment` with the name, never rendered by the browser.
pub(super) fn file_response(bytes: Vec<u8>, name: &str, media_type: Option<&'static str>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type.unwrap_or("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&super::sanitize::content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /v1/approvals`: pending requests, oldest first.
pub async fn pending(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::require(&state.pipeline.current().config, &headers, Role::Approve)?;
    let store = state.pipeline.store().clone();
    let rows = blocking(move || store.pending_releases())
        .await?
        .map_err(ApiError::internal)?;
    let list: Vec<_> = rows
        .iter()
        .map(|(part, request)| {
            serde_json::json!({
                "id": part.id,
                "name": part.name,
                "kind": part.kind,
                "outcome": part.outcome,
                "size": part.original_size,
                "received": part.created,
                "requested": request.requested,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "pending": list })).into_response())
}

/// `POST /v1/originals/{id}/approve`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = auth::require(&state.pipeline.current().config, &headers, Role::Approve)?;
    decide(
        &state,
        &id,
        true,
        &key.name,
        None,
        &client.origin(format!("api:{}", key.name)),
    )
    .await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "approved" })).into_response())
}

/// `POST /v1/originals/{id}/deny`.
pub async fn deny(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = auth::require(&state.pipeline.current().config, &headers, Role::Approve)?;
    decide(
        &state,
        &id,
        false,
        &key.name,
        None,
        &client.origin(format!("api:{}", key.name)),
    )
    .await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "denied" })).into_response())
}

/// Record an approver's decision (with an optional comment for the requester) on a pending
/// request (404 when none is pending).
pub(super) async fn decide(
    state: &Arc<AppState>,
    id: &str,
    approve: bool,
    by: &str,
    comment: Option<&str>,
    origin: &Origin,
) -> Result<(), ApiError> {
    let none_pending = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_request",
            "no pending request for this original",
        )
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(none_pending());
    }
    let changed = state
        .pipeline
        .decide(id, approve, by, comment, origin)
        .await
        .map_err(ApiError::internal)?;
    if !changed {
        return Err(none_pending());
    }
    Ok(())
}

/// Run store work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)
}
