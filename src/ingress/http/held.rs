//! Held files opened with their password (PPAP: the password ZIP arrives in one mail, the
//! password in the next). `POST /v1/held/{token}/unlock` takes the password as JSON
//! `{"password": "..."}` or a form field; the recipient page posts to the same function.
//!
//! The pipeline (`pipeline::unlock`) decrypts and sanitizes the archive, keeps the clean
//! result on the part, counts the tries and writes each to the audit trail; this file is the
//! HTTP translation. The original and the password are never returned or logged. After five
//! wrong passwords in 15 minutes the part answers 429 until the window ends, so a link cannot
//! be used to guess passwords, neither by parallel requests nor across a restart.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::originals::{blocking, file_response, resolve};
use super::{AppState, Client};
use crate::audit::Origin;
use crate::pipeline::UnlockRefused;
use crate::store::PartRow;
/// Longest password accepted (a longer one is not a password anyone typed).
const MAX_PASSWORD: usize = 1024;

/// `POST /v1/held/{token}/unlock`: the clean file (200), 400 for a wrong password, 409 when
/// the part is not a held archive, 429 after too many wrong passwords.
pub async fn unlock_api(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let password = password_from(&headers, &body)?;
    let part = resolve(&state, token).await?;
    let part = unlock(&state, &part, &password, &client.origin("recipient")).await?;
    let store = state.pipeline.store().clone();
    let blob = part.clean_blob.clone().unwrap_or_default();
    let bytes = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
    let name = part
        .clean_name
        .as_deref()
        .or(part.name.as_deref())
        .unwrap_or("unlocked.zip");
    let mut response = file_response(bytes, name, Some("application/zip"));
    response
        .headers_mut()
        .insert("x-mugai-outcome", axum::http::HeaderValue::from_static("unlocked"));
    Ok(response)
}

/// The password from a JSON body (`{"password": ...}`) or a urlencoded form (`password=`).
fn password_from(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"password\": \"...\"} as JSON or password=... as a form",
        )
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let password = if media.starts_with("application/x-www-form-urlencoded") {
        form_field(body, "password")
    } else {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("password")?.as_str().map(str::to_string))
    };
    password
        .filter(|p| !p.is_empty() && p.len() <= MAX_PASSWORD)
        .ok_or_else(bad)
}

/// One field of an `application/x-www-form-urlencoded` body.
pub(super) fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Open `part` with `password` through the pipeline; its refusals as HTTP errors.
pub(super) async fn unlock(
    state: &Arc<AppState>,
    part: &PartRow,
    password: &str,
    origin: &Origin,
) -> Result<PartRow, ApiError> {
    state
        .pipeline
        .unlock(part, password, origin)
        .await
        .map_err(|e| match e {
            UnlockRefused::NotHeld | UnlockRefused::CannotUnlock(_) => {
                ApiError::new(StatusCode::CONFLICT, "not_held", e.to_string())
            }
            UnlockRefused::Locked { retry_after_secs } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong passwords; try again later",
            )
            .retry_after(u32::try_from(retry_after_secs).unwrap_or(u32::MAX)),
            UnlockRefused::WrongPassword { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "wrong_password", e.to_string())
            }
            UnlockRefused::Blocked(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "blocked", e.to_string()),
            UnlockRefused::Failed(e) => ApiError::internal(e),
        })
}
