//! Held files opened with their password (PPAP: the password ZIP arrives in one mail, the
//! password in the next). `POST /v1/held/{token}/unlock` takes the password as JSON
//! `{"password": "..."}` or a form field; the recipient page posts to the same function.
//!
//! The archive is decrypted and sanitized by the engine (`Engine::unlock`), the clean result
//! kept on the part and offered; the original and the password are never returned or logged.
//! Tries are counted per part in the ledger, each taken *before* it is tried: after
//! [`MAX_FAILURES`] in [`WINDOW`] the part answers 429 until the window ends (a successful
//! unlock starts the count again), so a link cannot be used to guess passwords, neither by
//! parallel requests nor across a restart. Each attempt holds a worker permit.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::originals::{blocking, file_response, resolve};
use super::AppState;
use crate::cdr::UnlockError;
use crate::store::PartRow;

/// Tries allowed per part in one window (counted before each attempt).
pub const MAX_FAILURES: u32 = 5;
/// How long a part stays locked after its tries are spent.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longest password accepted (a longer one is not a password anyone typed).
const MAX_PASSWORD: usize = 1024;

/// `POST /v1/held/{token}/unlock`: the clean file (200), 400 for a wrong password, 409 when
/// the part is not a held archive, 429 after too many wrong passwords.
pub async fn unlock_api(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let password = password_from(&headers, &body)?;
    let part = resolve(&state, token).await?;
    let part = unlock(&state, &part, &password).await?;
    let store = state.gateway.store.clone();
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

/// Open `part` with `password`, sanitize what it holds, keep the clean result on the part.
pub(super) async fn unlock(state: &Arc<AppState>, part: &PartRow, password: &str) -> Result<PartRow, ApiError> {
    if part.outcome != "held" || part.kind != "zip" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_held",
            "this file is not a held password archive",
        ));
    }
    // The try is taken before the attempt, atomically in the ledger: parallel requests cannot
    // make more guesses than the limit, and a restart does not give tries back.
    let store = state.gateway.store.clone();
    let id = part.id.clone();
    let window = WINDOW.as_secs();
    let left = match blocking(move || store.take_unlock_try(&id, MAX_FAILURES, window))
        .await?
        .map_err(ApiError::internal)?
    {
        Ok(left) => left,
        Err(secs) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong passwords; try again later",
            )
            .retry_after(u32::try_from(secs).unwrap_or(u32::MAX)))
        }
    };
    let engine = state.gateway.engine();
    let store = state.gateway.store.clone();
    let blob = part.original_blob.clone();
    let original = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
    let name = part.name.clone();
    let password = password.to_string();
    let worker = engine.clone();
    // Opening an archive is CPU-bound work like any other: it takes a worker permit.
    let processed = state
        .gateway
        .run_work(None, move || worker.unlock(&original, name.as_deref(), &password))
        .await
        .map_err(ApiError::internal)?;
    let processed = match processed {
        Ok(p) => p,
        Err(UnlockError::WrongPassword) => {
            tracing::warn!(part = %part.id, attempts_left = left, "wrong password for a held archive");
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "wrong_password",
                format!("the password does not open this archive ({left} attempts left)"),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_held",
                format!("this file cannot be unlocked: {e}"),
            ))
        }
    };
    let store = state.gateway.store.clone();
    let id = part.id.clone();
    blocking(move || store.clear_unlock_tries(&id))
        .await?
        .map_err(ApiError::internal)?;
    let report = processed.report.to_json();
    let Some(clean) = processed.output else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "blocked",
            format!(
                "the archive opened, but its contents were refused: {}",
                processed.report.reason.as_deref().unwrap_or("blocked")
            ),
        ));
    };
    let clean_name = processed.report.output.as_ref().and_then(|o| o.name.clone());
    let outcome = processed.report.outcome.as_str();
    let store = state.gateway.store.clone();
    let part = part.clone();
    let row = blocking(move || store.unlock_part(&part, outcome, &clean, clean_name.as_deref(), &report))
        .await?
        .map_err(ApiError::internal)?;
    tracing::info!(part = %row.id, outcome, "held archive unlocked and sanitized");
    Ok(row)
}
