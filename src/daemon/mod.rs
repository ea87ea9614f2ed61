//! The daemon (`mugai serve`): builds the shared state ([`Pipeline`]: configuration and
//! engine, store, audit trail, worker permits, metrics), starts the SMTP and HTTP listeners
//! and the purge task, and handles the signals — SIGTERM/SIGINT stop (no new sessions, busy
//! ones may finish), SIGHUP reloads the configuration file for work that starts afterwards and
//! reopens the audit file (log rotation). The top of the crate: may use everything below it.

mod tls;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::ingress::{http, smtp};
use crate::pipeline::Pipeline;
use crate::store::Store;

/// How often retention runs (and once at start).
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Run the daemon until SIGTERM or SIGINT; `path` is the configuration file SIGHUP reloads.
pub fn run(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    raise_open_file_limit(config.smtp.max_sessions);
    crate::alloc::tune_for_daemon();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config, path))
}

async fn serve(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let data_dir = config.serve.data_dir.clone();
    let store = Arc::new(
        Store::open(&data_dir, &config.store)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let audit = Arc::new(AuditLog::open(&config.audit, &data_dir).context("opening the audit log")?);
    let listen = config.serve.smtp_listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let (http_listeners, mut certificates) = http_listeners(&config).await?;
    let http_listen: Vec<String> = http_listeners
        .iter()
        .map(|l| {
            let scheme = if l.tls.is_some() { "https" } else { "http" };
            let addr = l.listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string());
            format!("{scheme}://{addr} ({}: {})", l.name, l.groups.names().join(", "))
        })
        .collect();
    let http_listen = http_listen.join(", ");
    tracing::info!(smtp = %listen, next_hop = %config.serve.next_hop, data_dir = %data_dir.display(), "mugai serving");
    // Not eprintln!: a daemon whose stderr is gone goes on.
    let _ = writeln!(
        std::io::stderr(),
        "mugai {}: SMTP content filter on {listen}, next hop {}, HTTP on {http_listen}, data in {}",
        env!("CARGO_PKG_VERSION"),
        config.serve.next_hop,
        data_dir.display(),
    );
    if config.http.api_keys.is_empty() {
        tracing::warn!("no http.api_keys configured: the /v1 API refuses every call (make one with `mugai apikey`)");
    }
    let starttls = match &config.smtp.tls {
        Some((cert, key)) => Some(
            certificates
                .acceptor(cert, key)
                .map_err(|e| anyhow::anyhow!("STARTTLS: {e}"))?,
        ),
        None => None,
    };
    let pipeline = Arc::new(Pipeline::new(config, store, audit));
    let purge = tokio::spawn(purge_task(pipeline.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let reloading = pipeline.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    let loaded = Config::load(path.as_deref()).map_err(|e| e.to_string());
                    reloading.reload(loaded);
                    // Certificates renewed in place (same files): new handshakes get them,
                    // connections already open keep theirs. Addresses and route groups
                    // are read at start only.
                    certificates.reload();
                }
            }
        }
        tracing::info!("stopping: no new sessions, busy ones may finish");
        let _ = stop.send(true);
    });
    let http_state = http::AppState::new(pipeline.clone());
    http_state.resume();
    let serving: Vec<_> = http_listeners
        .into_iter()
        .map(|l| tokio::spawn(http::serve(l, http_state.clone(), stopped.clone())))
        .collect();
    smtp::server::serve(listener, smtp::server::Smtp::new(pipeline, starttls), stopped).await;
    for http in serving {
        let _ = http.await;
    }
    purge.abort();
    Ok(())
}

/// Bind every HTTP listener of `http.listeners` and load its certificate.
async fn http_listeners(config: &Config) -> anyhow::Result<(Vec<http::Listening>, tls::Certificates)> {
    let (mut listening, mut certificates) = (Vec::new(), tls::Certificates::default());
    for l in &config.http.listeners {
        if l.implicit && !l.listen.ip().is_loopback() {
            tracing::warn!(
                listen = %l.listen,
                "serve.http_listen is reachable from elsewhere in plain HTTP: end TLS in front of it, \
                 or use [http.listeners] with tls_cert and tls_key"
            );
        }
        let listener = tokio::net::TcpListener::bind(l.listen)
            .await
            .with_context(|| format!("listening on {} (http listener {})", l.listen, l.name))?;
        let tls = match &l.tls {
            Some((cert, key)) => Some(
                certificates
                    .acceptor(cert, key)
                    .map_err(|e| anyhow::anyhow!("http listener {}: {e}", l.name))?,
            ),
            None => None,
        };
        listening.push(http::Listening {
            name: l.name.clone(),
            listener,
            tls,
            groups: l.groups,
        });
    }
    Ok((listening, certificates))
}

/// Retention, at start and every [`PURGE_EVERY`]; each run is a `purge.ran` line.
async fn purge_task(pipeline: Arc<Pipeline>) {
    loop {
        match pipeline.purge().await {
            Ok(p) if p.messages + p.parts > 0 => tracing::info!(
                messages = p.messages,
                parts = p.parts,
                blobs = p.orphans.len(),
                "purged expired originals"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purge failed; will retry"),
        }
        tokio::time::sleep(PURGE_EVERY).await;
    }
}

/// Each SMTP session holds two sockets (client and next hop) and each message a few files:
/// with `smtp.max_sessions` at 1,000 a soft limit of 1,024 open files would refuse
/// connections long before the permit does. Raise the soft limit to the hard one.
fn raise_open_file_limit(sessions: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
        }
        let needed = (2 * sessions + 64) as u64;
        if limit.rlim_cur < needed {
            tracing::warn!(
                open_files = limit.rlim_cur,
                needed,
                "the open-file limit is below what smtp.max_sessions needs; raise LimitNOFILE"
            );
        }
    }
    let _ = sessions;
}
