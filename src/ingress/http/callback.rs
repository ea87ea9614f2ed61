//! Callbacks for file-exchange systems (issue 21): a job submitted with `callback_url` has
//! its result POSTed there when it ends — `{"id", "status": "done", "outcome", "sha256",
//! "report"}` — signed so the receiver can tell it is the gateway's and fresh:
//!
//! - `X-Mugai-Timestamp`: Unix seconds when it was sent;
//! - `X-Mugai-Signature`: `sha256=` and the hex HMAC-SHA256, under `http.callback_secret`, of
//!   the timestamp, a `.`, and the body's bytes. A receiver recomputes it over what it got,
//!   compares in constant time, and refuses a timestamp more than a few minutes old.
//!
//! Only hosts in `http.callback_hosts` may be named (checked when the job is submitted, so
//! the gateway is nobody's proxy). A receiver that does not answer 2xx is tried again (five
//! more times, 1, 2, 4, 8, 16 s apart: `retry`); every attempt's end is audited.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::AppState;
use crate::audit::{Event, Origin};
use crate::config::HttpConfig;

/// Tries after the first.
const RETRIES: u32 = 5;

/// Why a callback URL is refused at submission.
pub fn check_url(config: &HttpConfig, url: &str) -> Result<(), &'static str> {
    if config.callback_hosts.is_empty() {
        return Err("callbacks are not configured here (http.callback_hosts)");
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| "callback_url is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("callback_url must be http(s) without credentials");
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if !config.callback_hosts.contains(&host) {
        return Err("callback_url names a host not in http.callback_hosts");
    }
    Ok(())
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes any key length; kept total all the same.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", crate::ids::hex(&mac.finalize().into_bytes()))
}

/// The HTTP client of this server's callbacks (connections and TLS settings shared), made
/// at the first callback; `None`, logged, when it cannot be made. Kept with the server's state
/// rather than in a static: its pooled connections belong to the server's runtime.
fn client(state: &AppState) -> Option<&reqwest::Client> {
    state
        .callback_client
        .get_or_init(|| {
            // https receivers: rustls with the ring provider the rest of mugai uses.
            let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .inspect_err(|e| tracing::error!(error = %e, "no HTTP client for callbacks"))
                .ok()
        })
        .as_ref()
}

/// POST `result` to `url` in the background, retried, audited; returns at once.
pub fn send(state: &Arc<AppState>, job: &str, url: String, result: serde_json::Value) {
    let state = state.clone();
    let job = job.to_string();
    tokio::spawn(async move {
        let secret = state.pipeline.current().config.http.callback_secret.clone();
        let body = result.to_string();
        let Some(client) = client(&state) else {
            return;
        };
        let (url, body, secret) = (&url, &body, &secret);
        let mut tries = 0;
        let sent = crate::retry::with_backoff(
            RETRIES,
            Duration::from_secs(1),
            || {
                tries += 1;
                let timestamp = crate::clock::now();
                async move {
                    let answer = client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("x-mugai-timestamp", timestamp.to_string())
                        .header(
                            "x-mugai-signature",
                            signature(secret.expose().as_bytes(), timestamp, body.as_bytes()),
                        )
                        .body(body.clone())
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
            |attempt, error: &String, gave_up| {
                tracing::warn!(job = %job, attempt, gave_up, error = %error, "callback not accepted");
                state.pipeline.audit().note(
                    &Origin::daemon(),
                    Event::CallbackFailed {
                        job: job.clone(),
                        attempt,
                        error: error.clone(),
                        gave_up,
                    },
                );
            },
        )
        .await;
        if sent {
            state.pipeline.audit().note(
                &Origin::daemon(),
                Event::CallbackSent {
                    job: job.clone(),
                    attempt: tries,
                },
            );
        }
    });
}
