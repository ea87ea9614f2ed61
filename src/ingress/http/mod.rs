//! The HTTP side (axum on hyper): the file-exchange API (`/v1/...`), health and metrics, and
//! the OpenAPI document. `router(state)` is the whole surface, so tests drive it with
//! `oneshot`; the daemon serves `router_for` each listener of `http.listeners` (its route
//! groups, TLS) with `serve`.
//!
//! Every handler is small and named for its route: `sanitize.rs` (files in, clean files and
//! reports out), `originals.rs` (capability links to stored originals), `health.rs`
//! (`/healthz`, `/readyz`, `/metrics`), `openapi.rs`; `auth.rs` checks API keys and roles,
//! `upload.rs` takes a file out of a raw or multipart body, `error.rs` is the one JSON error
//! shape; `jobs.rs` (asynchronous sanitizing), `held.rs` (password archives unlocked) and
//! `pages/` (the recipient and approver pages, the admin console, the carry-in box:
//! server-rendered HTML).
//!
//! May use: `pipeline`, `store` reads, `mail` (MIME headers of uploads), `config`, leaves; never
//! `ingress::smtp`.

mod auth;
pub mod callback;
mod error;
mod health;
mod held;
mod jobs;
mod openapi;
mod originals;
mod pages;
mod sanitize;
mod spool;
mod upload;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::new_key;
pub use error::ApiError;
pub use openapi::spec;

use crate::audit::Origin;
use crate::config::RouteGroups;
use crate::pipeline::Pipeline;

/// What every request shares: the pipeline (the daemon's engine, store, audit trail and
/// worker permits, shared with the SMTP side), and the HTTP side's own counters.
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    /// Requests waiting for a worker permit now (bounded by `http.max_queued`).
    queued: AtomicUsize,
    /// Jobs accepted and not yet finished (bounded by `jobs::MAX_PENDING`).
    jobs_pending: AtomicUsize,
    /// Ids of the jobs this process runs or will run now: their leases are renewed. One that
    /// failed on our side leaves the set, so its lease lapses and a sweep retries it.
    jobs_held: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The HTTP client of job callbacks, made at the first one (`callback`).
    callback_client: std::sync::OnceLock<Option<reqwest::Client>>,
    /// Memory for request bodies (`http.body_memory_bytes`); the rest wait in the spool.
    bodies: spool::Budget,
    /// Uploads being received, waiting or running: `engine.workers + http.max_queued`. Taken
    /// before a body is read, so the spool's disk use is bounded too (at most this many
    /// bodies of `http.max_body_bytes`); past it the answer is 503 at once.
    uploads: tokio::sync::Semaphore,
    /// The last readiness probe (`/readyz`), reused while fresh.
    readiness: health::Readiness,
    /// Connections open, all listeners together (`http.max_connections`; read at start).
    connections: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>) -> Arc<Self> {
        let config = &pipeline.current().config;
        let body_memory = config.http.body_memory_bytes;
        let uploads = config.engine.workers.saturating_add(config.http.max_queued);
        Arc::new(AppState {
            pipeline,
            queued: AtomicUsize::new(0),
            jobs_pending: AtomicUsize::new(0),
            jobs_held: std::sync::Mutex::default(),
            callback_client: std::sync::OnceLock::new(),
            bodies: spool::Budget::new(body_memory),
            uploads: tokio::sync::Semaphore::new(uploads.min(tokio::sync::Semaphore::MAX_PERMITS)),
            readiness: health::Readiness::default(),
            connections: Arc::new(tokio::sync::Semaphore::new(config.http.max_connections)),
        })
    }

    /// A place for one more upload, or 503 when `engine.workers + http.max_queued` are taken.
    fn upload_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, error::ApiError> {
        self.uploads.try_acquire().map_err(|_| error::ApiError::busy())
    }

    /// An upload's body, in memory or spooled (counted in `/metrics`), within
    /// `http.max_body_bytes`.
    async fn receive_upload(&self, body: axum::body::Body) -> Result<spool::Received, error::ApiError> {
        let current = self.pipeline.current();
        let http = &current.config.http;
        let receiving = spool::receive(body, http.max_body_bytes, &self.bodies, self.pipeline.store());
        // A client has `http.body_timeout_secs` for its whole body (a slow one holds an
        // upload place, and the queue behind it, no longer than that).
        let received = tokio::time::timeout(http.body_timeout, receiving).await.map_err(|_| {
            error::ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body took longer than http.body_timeout_secs",
            )
        })??;
        if received.spooled() {
            self.pipeline.metrics.spooled();
        }
        Ok(received)
    }

    /// The ids of the jobs this process holds now.
    fn held_jobs(&self) -> Vec<String> {
        let held = self.jobs_held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.iter().cloned().collect()
    }

    /// Mark a job as held by this process (`true`) or no longer (`false`).
    fn hold_job(&self, id: &str, held: bool) {
        let mut set = self.jobs_held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    /// Pick up what the last run left: jobs accepted and not finished; on a shared store,
    /// then every third of a job lease ([`crate::store::Store::job_sweep`]) renew this
    /// instance's leases and take the jobs of instances that died.
    pub fn resume(self: &Arc<Self>) {
        jobs::resume(self, true);
        if self.pipeline.store().is_shared() {
            let state = self.clone();
            let every = state.pipeline.store().job_sweep();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let state = state.clone();
                    // Ledger calls: off the async threads.
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = state.pipeline.store().renew_jobs(&state.held_jobs()) {
                            tracing::error!(error = %e, "could not renew this instance's job leases");
                        }
                        jobs::resume(&state, false)
                    })
                    .await;
                }
            });
        }
    }
}

/// The address a request came from: put on every request by [`serve`] (absent when a test
/// drives the router directly).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The client address of a request, as an extractor (none when a test drives the router).
pub struct Client(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(parts.extensions.get::<ClientAddr>().map(|c| c.0)))
    }
}

impl Client {
    /// Who made the request, for the audit trail.
    pub fn origin(&self, actor: impl Into<String>) -> Origin {
        Origin::new(actor, self.0)
    }
}

/// Every route, as the default listener serves them (tests drive this one). The OpenAPI
/// document lists the same paths (a test holds them equal).
pub fn router(state: Arc<AppState>) -> Router {
    router_for(state, RouteGroups::ALL, false)
}

/// The routes of `groups` (`[http.listeners]`); the rest answer 404 here. Health checks are
/// on every listener. Over `tls`, answers also carry HSTS and every cookie is `Secure`.
pub fn router_for(state: Arc<AppState>, groups: RouteGroups, tls: bool) -> Router {
    let body_limit = usize::try_from(state.pipeline.current().config.http.max_body_bytes).unwrap_or(usize::MAX);
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if groups.api {
        app = app.merge(api_routes());
    }
    if groups.portal {
        app = app.merge(portal_forms());
    }
    if groups.carry_in {
        app = app.merge(carry_in_forms(body_limit));
    }
    if groups.portal || groups.carry_in {
        app = app.merge(page_forms(Router::new().route("/display", get(pages::display::choose))));
    }
    let app = app
        .fallback(error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(security_headers));
    let app = if tls {
        app.layer(axum::middleware::map_response(over_tls))
    } else {
        app
    };
    app.with_state(state)
}

/// The file-exchange API, monitoring and the API's document.
fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/sanitize", post(sanitize::sanitize))
        .route("/v1/reports/{id}", get(sanitize::report))
        .route("/v1/receipt-key", get(sanitize::receipt_key))
        .route("/v1/jobs", post(jobs::submit))
        .route("/v1/jobs/{id}", get(jobs::status))
        .route("/v1/jobs/{id}/result", get(jobs::result))
        .route("/v1/originals/{token}", get(originals::original))
        .route("/v1/originals/{id}/approve", post(originals::approve))
        .route("/v1/originals/{id}/deny", post(originals::deny))
        .route("/v1/approvals", get(originals::pending))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .merge(
            Router::new()
                .route("/v1/held/{token}/unlock", post(held::unlock_api))
                .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT)),
        )
}

/// The LGWAN-side pages: recipient page, admin console, approvers.
fn portal_forms() -> Router<Arc<AppState>> {
    page_forms(
        Router::new()
            .route("/o/{token}", get(pages::recipient::show))
            .route("/o/{token}/clean", get(pages::recipient::clean))
            .route("/o/{token}/original", get(pages::recipient::original))
            .route("/o/{token}/request", post(pages::recipient::request))
            .route("/o/{token}/unlock", post(pages::recipient::unlock_form))
            .route("/admin", get(pages::admin::search))
            .route("/admin/messages/{id}", get(pages::admin::message))
            .route("/admin/messages/{id}/original", post(pages::admin::original))
            .route("/admin/parts/{id}/original", post(pages::admin::original))
            .route("/admin/parts/{id}/release", post(pages::admin::release))
            .route("/admin/parts/{id}/revoke", post(pages::admin::revoke))
            .route("/admin/stats", get(pages::admin::stats))
            .route("/admin/stats.csv", get(pages::admin::stats_csv))
            .route("/admin/config", get(pages::admin::config))
            .route("/approvals", get(pages::approver::show))
            .route("/approvals/login", post(pages::approver::login))
            .route("/approvals/logout", post(pages::approver::logout))
            .route("/approvals/{id}/approve", post(pages::approver::approve))
            .route("/approvals/{id}/deny", post(pages::approver::deny)),
    )
}

/// The internet-side carry-in box: its forms, and the upload (files, up to the upload limit).
fn carry_in_forms(body_limit: usize) -> Router<Arc<AppState>> {
    page_forms(
        Router::new()
            .route("/carry-in", get(pages::carry_in::show))
            .route("/carry-in/login", post(pages::carry_in::login))
            .route("/carry-in/logout", post(pages::carry_in::logout)),
    )
    .merge(
        Router::new()
            .route("/carry-in/upload", post(pages::carry_in::upload))
            .layer(axum::middleware::from_fn(pages::display::apply))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit)),
    )
}

/// Pages' routes: the display settings applied, bodies limited to [`FORM_LIMIT`] (a form or
/// a password, never a file).
fn page_forms(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    routes
        .layer(axum::middleware::from_fn(pages::display::apply))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT))
}

/// Largest form or password body.
const FORM_LIMIT: usize = 64 * 1024;

/// What [`parse_request`] found: the upload's name and size (or the error code it was
/// refused with), whether the page language is English, whether a form passed the CSRF check.
#[doc(hidden)]
pub struct ParsedRequest {
    pub upload: Result<(Option<String>, usize), &'static str>,
    pub english: bool,
    pub csrf_ok: bool,
}

/// Everything the HTTP side parses from a request before a handler acts on it — the file
/// of an upload, the carry-in box's form of files and fields, the page language, cookies and
/// the CSRF pair of a form — for the fuzz target `http_request`.
#[doc(hidden)]
pub fn parse_request(headers: &axum::http::HeaderMap, body: axum::body::Bytes) -> ParsedRequest {
    let csrf_ok = pages::check_csrf(headers, &body).is_ok();
    // The carry-in box's form: many files and fields.
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if let Ok(form) = upload::form(content_type, &body, 64) {
        let _ = pages::check_csrf_field(headers, form.field("csrf"));
    }
    let _ = held::form_field(&body, "password");
    let english = pages::Lang::from_headers(headers) == pages::Lang::En;
    let upload = upload::take(headers, body)
        .map(|u| (u.name, u.bytes.len()))
        .map_err(|e| e.code);
    ParsedRequest {
        upload,
        english,
        csrf_ok,
    }
}

/// Headers every answer carries: nothing here is meant to be framed, sniffed or cached by a
/// shared cache, and no page loads anything from elsewhere.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages set their own (allowing their inline stylesheet by hash); the rest allow nothing.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// What answers over TLS carry besides: HSTS (a browser that has seen the site over TLS
/// never tries plain HTTP for it again), and `Secure` on every cookie set.
async fn over_tls(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let h = response.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    let cookies: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
    if !cookies.is_empty() {
        h.remove(header::SET_COOKIE);
        for cookie in cookies {
            let secure = cookie
                .to_str()
                .map(|c| c.split(';').any(|a| a.trim().eq_ignore_ascii_case("secure")))
                .unwrap_or(true);
            let cookie = if secure {
                Some(cookie)
            } else {
                HeaderValue::from_str(&format!("{}; Secure", cookie.to_str().unwrap_or_default())).ok()
            };
            if let Some(c) = cookie {
                h.append(header::SET_COOKIE, c);
            }
        }
    }
    response
}

/// One HTTP listener as the daemon opened it: the socket, TLS when configured, the route
/// groups it serves.
pub struct Listening {
    pub name: String,
    pub listener: TcpListener,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub groups: RouteGroups,
}

/// Serve `listening` until `shutdown` turns true; requests in flight finish.
///
/// hyper directly rather than `axum::serve`, for what a listener facing many clients needs:
/// at most `http.max_connections` connections, all listeners together (a permit is taken before one is
/// accepted, so the next waits in the kernel's backlog), and `http.header_timeout_secs` to
/// finish the TLS handshake and then to send a request's headers (a client that never
/// finishes them is closed instead of held).
pub async fn serve(listening: Listening, state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let http = state.pipeline.current().config.http.clone();
    let Listening {
        name,
        listener,
        tls,
        groups,
    } = listening;
    let connections = state.connections.clone();
    let app = router_for(state, groups, tls.is_some());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stopped = async {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        let accepted = tokio::select! {
            biased;
            () = stopped => break,
            accepted = async {
                let permit = connections.clone().acquire_owned().await;
                (permit, listener.accept().await)
            } => accepted,
        };
        let (Ok(permit), accept) = accepted else { break };
        let (stream, peer) = match accept {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment instead of spinning.
                tracing::warn!(error = %e, listener = %name, "HTTP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (app, watcher, tls) = (app.clone(), graceful.watcher(), tls.clone());
        let timeout = http.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, peer, app, timeout, watcher).await,
                Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, peer, app, timeout, watcher).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    // Requests in flight finish; idle keep-alive connections are closed.
    graceful.shutdown().await;
}

/// One connection, HTTP/1.1, until it ends or the server stops.
async fn connection<S>(
    stream: S,
    peer: std::net::SocketAddr,
    app: Router,
    header_timeout: std::time::Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(
            TokioIo::new(stream),
            // Each request learns the address it came from (for the audit trail).
            hyper::service::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ClientAddr(peer));
                let mut app = app.clone();
                tower_service::Service::call(&mut app, request)
            }),
        );
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}
