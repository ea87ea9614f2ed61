//! `GET /v1/originals/{token}`: an original the gateway kept (an attachment as it arrived),
//! named by a signed, expiring capability token (`store::links`). Released as
//! `http.originals` says; until the scan and approval paths exist, anything but `direct`
//! is refused (fail closed).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::AppState;
use crate::config::Release;
use crate::store::{links::LinkError, now, ResolveError};

pub async fn original(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let engine = state.gateway.engine();
    let store = state.gateway.store.clone();
    let part = tokio::task::spawn_blocking(move || store.resolve(&token, now()).map(|p| (store, p)))
        .await
        .map_err(ApiError::internal)?;
    let (store, part) = part.map_err(|e| match e {
        ResolveError::Link(LinkError::Expired) => ApiError::new(StatusCode::GONE, "expired", "this link has expired"),
        ResolveError::Link(LinkError::Unknown) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown",
            "nothing is kept under this link any more",
        ),
        ResolveError::Link(_) => ApiError::new(StatusCode::NOT_FOUND, "invalid_link", "not a valid link"),
        ResolveError::Store(e) => ApiError::internal(e),
    })?;
    match engine.config.http.originals {
        Release::Direct => {}
        Release::AfterScan | Release::AfterApproval => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_released",
                "this original is released only after a scan or an approver's decision",
            ))
        }
    }
    let blob = part.original_blob.clone();
    let bytes = tokio::task::spawn_blocking(move || store.blob(&blob))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    tracing::info!(part = %part.id, "original released");
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let name = part.name.as_deref().unwrap_or("original.bin");
    if let Ok(v) = HeaderValue::from_str(&super::sanitize::content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
