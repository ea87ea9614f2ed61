//! Originals (what the gateway kept from before sanitizing) and when they are released:
//! `GET /v1/originals/{token}` by a recipient's signed link, and the approval queue
//! (`GET /v1/approvals`, `POST /v1/originals/{id}/approve|deny` by an `approve`-role key).
//!
//! `http.originals` decides, and every path fails closed: `direct` releases to whoever holds
//! the link; `after_scan` sends the original to clamd first and releases only on a clean
//! verdict (a find, an error or no answer: refused); `after_approval` releases only after an
//! approver approved the recipient's request. The recipient page calls the same functions.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{auth, AppState};
use crate::config::{Release, Role};
use crate::scan::{self, Verdict};
use crate::store::{links::LinkError, now, PartRow, ReleaseState, ResolveError};

/// `GET /v1/originals/{token}`.
pub async fn original(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let part = resolve(&state, token).await?;
    let bytes = release(&state, &part).await?;
    Ok(file_response(
        bytes,
        part.name.as_deref().unwrap_or("original.bin"),
        None,
    ))
}

/// The part a recipient's link names, or the error that link deserves (expired: 410).
pub(super) async fn resolve(state: &Arc<AppState>, token: String) -> Result<PartRow, ApiError> {
    let store = state.gateway.store.clone();
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

/// The original's bytes, if policy releases it now; otherwise why not.
pub(super) async fn release(state: &Arc<AppState>, part: &PartRow) -> Result<Vec<u8>, ApiError> {
    let engine = state.gateway.engine();
    let store = state.gateway.store.clone();
    match engine.config.http.originals {
        Release::Direct => {}
        Release::AfterApproval => {
            let id = part.id.clone();
            let row = blocking(move || store.release(&id))
                .await?
                .map_err(ApiError::internal)?;
            match row.map(|r| r.state) {
                Some(ReleaseState::Approved) => {}
                Some(ReleaseState::Denied) => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "denied",
                        "an approver declined to release this original",
                    ))
                }
                Some(ReleaseState::Requested) => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "pending",
                        "the request for this original awaits an approver",
                    ))
                }
                None => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "not_released",
                        "this original is released only after an approver's decision; request it on the recipient page",
                    ))
                }
            }
        }
        Release::AfterScan => {}
    }
    let store = state.gateway.store.clone();
    let blob = part.original_blob.clone();
    let bytes = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
    if engine.config.http.originals == Release::AfterScan {
        match scan::scan(&engine.config.scan, &bytes).await {
            Ok(Verdict::Clean) => {}
            Ok(Verdict::Infected(signature)) => {
                tracing::warn!(part = %part.id, signature = %signature, "original not released: the scanner found something");
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "infected",
                    format!("the virus scan found {signature}; this original is not released"),
                ));
            }
            Err(e) => {
                tracing::error!(part = %part.id, error = %e, "original not released: no scan verdict");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "scan_unavailable",
                    "the virus scan could not be run; try again later",
                )
                .retry_after(30));
            }
        }
    }
    tracing::info!(part = %part.id, policy = ?engine.config.http.originals, "original released");
    Ok(bytes)
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
    auth::require(&state.gateway.engine().config, &headers, Role::Approve)?;
    let store = state.gateway.store.clone();
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
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = auth::require(&state.gateway.engine().config, &headers, Role::Approve)?;
    decide(&state, &id, true, &key.name).await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "approved" })).into_response())
}

/// `POST /v1/originals/{id}/deny`.
pub async fn deny(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = auth::require(&state.gateway.engine().config, &headers, Role::Approve)?;
    decide(&state, &id, false, &key.name).await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "denied" })).into_response())
}

/// Record an approver's decision on a pending request (404 when none is pending).
pub(super) async fn decide(state: &Arc<AppState>, id: &str, approve: bool, by: &str) -> Result<(), ApiError> {
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
    let store = state.gateway.store.clone();
    let (part, by_name) = (id.to_string(), by.to_string());
    let changed = blocking(move || store.decide_release(&part, approve, &by_name))
        .await?
        .map_err(ApiError::internal)?;
    if !changed {
        return Err(none_pending());
    }
    tracing::info!(part = %id, approver = %by, approved = approve, "release decided");
    Ok(())
}

/// Run store work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)
}
