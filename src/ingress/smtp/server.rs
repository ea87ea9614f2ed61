//! The SMTP listener: accepts connections under a session permit, drives each [`Session`]
//! over its socket with idle and total timeouts, proxies the envelope to the next hop,
//! disarms each message on the blocking pool under a worker permit and a deadline, and
//! answers the final dot with the next hop's reply — or 451 when anything on our side or
//! the next hop's failed, so the sending server keeps the message. On shutdown, idle sessions
//! are told 421 and busy ones finish within the grace period.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, Instant};

use super::{Reply, Session, SessionLimits, Step, Transaction};
use crate::audit::Origin;
use crate::egress::relay::{Connection, Pool, RelayError};
use crate::mail::Envelope;
use crate::pipeline::{MessageError, Pipeline, Received, WorkError};

/// What every SMTP session shares: the pipeline (the daemon's shared state), STARTTLS, and
/// the idle sessions with the next hop.
pub struct Smtp {
    pub pipeline: Arc<Pipeline>,
    /// STARTTLS, when `smtp.tls_cert`/`tls_key` are set (loaded once at start).
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Idle sessions with the next hop (`relay.pool_size`).
    relay_pool: Pool,
}

impl Smtp {
    pub fn new(pipeline: Arc<Pipeline>, tls: Option<tokio_rustls::TlsAcceptor>) -> Arc<Self> {
        Arc::new(Smtp {
            pipeline,
            tls,
            relay_pool: Pool::default(),
        })
    }
}

/// Accept and serve until `shutdown` turns true; then wait up to the grace period for the
/// sessions still busy.
pub async fn serve(listener: TcpListener, gateway: Arc<Smtp>, mut shutdown: watch::Receiver<bool>) {
    let config = gateway.pipeline.current().config.clone();
    let max = config.smtp.max_sessions;
    let permits = Arc::new(Semaphore::new(max));
    let sweeper = tokio::spawn({
        let gateway = gateway.clone();
        async move {
            loop {
                let idle = gateway.pipeline.current().config.relay.pool_idle;
                tokio::time::sleep(idle / 2).await;
                gateway.relay_pool.close_idle(idle).await;
            }
        }
    });
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            handle(stream, peer, gateway, shutdown).await;
            drop(permit);
        });
    }
    drop(listener);
    // Every session returns its permit when it ends; having them all back means done.
    let grace = config.smtp.shutdown_grace;
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if timeout(grace, permits.acquire_many(all)).await.is_err() {
        tracing::warn!("shutdown grace period over with sessions still busy; their messages stay with the sender");
    }
    sweeper.abort();
    gateway.relay_pool.close_idle(std::time::Duration::ZERO).await;
}

/// What a session shares with its connection: the next hop, the daemon, the clock.
struct Conn {
    gateway: Arc<Smtp>,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
    relay: Option<Connection>,
    next_hop: crate::config::NextHop,
    relay_cfg: crate::config::RelayConfig,
    idle: std::time::Duration,
    ends: Instant,
    /// This session's share of the message memory, and its spool once it spilled.
    holding: super::spill::Holding,
}

/// How a conversation over one stream ended.
enum End {
    Closed,
    StartTls,
}

/// One connection, start to end (in the clear, then over TLS after STARTTLS).
async fn handle(mut stream: TcpStream, peer: SocketAddr, gateway: Arc<Smtp>, shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let current = gateway.pipeline.current();
    let cfg = &current.config;
    let limits = SessionLimits {
        hostname: cfg.smtp.hostname.clone(),
        max_line_bytes: cfg.smtp.max_line_bytes,
        reject_bare_lf: cfg.smtp.bare_newline == crate::config::BareNewline::Reject,
        max_message_bytes: cfg.mail.max_message_bytes,
        max_recipients: cfg.smtp.max_recipients,
        max_commands: cfg.smtp.max_commands,
        starttls: gateway.tls.is_some(),
    };
    let mut conn = Conn {
        gateway: gateway.clone(),
        shutdown,
        peer,
        relay: None,
        next_hop: cfg.serve.next_hop.clone(),
        relay_cfg: cfg.relay.clone(),
        idle: cfg.smtp.idle_timeout,
        ends: Instant::now() + cfg.smtp.session_timeout,
        holding: super::spill::Holding::new(gateway.pipeline.message_memory.clone()),
    };
    drop(current);

    let mut session = Session::new(limits.clone());
    let greeting = session.greeting().to_bytes();
    if let End::StartTls = converse(&mut stream, &mut session, greeting, &mut conn).await {
        if let Some(acceptor) = gateway.tls.clone() {
            match timeout(conn.idle, acceptor.accept(stream)).await {
                Ok(Ok(mut tls)) => {
                    let mut session = Session::new(SessionLimits {
                        starttls: false,
                        ..limits
                    });
                    converse(&mut tls, &mut session, Vec::new(), &mut conn).await;
                    let _ = tls.shutdown().await;
                }
                Ok(Err(e)) => tracing::info!(peer = %peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(peer = %peer, "TLS handshake timed out"),
            }
        }
    }
    if let Some(relay) = conn.relay.take() {
        gateway.relay_pool.give_back(relay, &conn.relay_cfg).await;
    }
}

/// Run `session` over `stream` until it closes or asks for TLS.
async fn converse<S>(stream: &mut S, session: &mut Session, mut out: Vec<u8>, conn: &mut Conn) -> End
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match session.step() {
            Step::Reply(r) => out.extend_from_slice(&r.to_bytes()),
            Step::NeedInput => {
                // A message arriving holds memory only while the daemon's budget lasts.
                let held = session.data_held() as u64;
                conn.holding.charge(held);
                if conn.holding.should_spill(held) {
                    let bytes = session.take_data();
                    if let Err(e) = conn.holding.spill(bytes, conn.gateway.pipeline.store()).await {
                        tracing::error!(error = %e, "cannot spool a message being received; sender will retry");
                        out.extend_from_slice(b"421 4.3.0 Error: cannot keep the message, try again later\r\n");
                        let _ = flush(stream, &mut out).await;
                        return End::Closed;
                    }
                }
                if !flush(stream, &mut out).await {
                    return End::Closed;
                }
                if *conn.shutdown.borrow() {
                    let _ = stream.write_all(&session.shutting_down().to_bytes()).await;
                    return End::Closed;
                }
                let wait = conn.idle.min(conn.ends.saturating_duration_since(Instant::now()));
                let read = tokio::select! {
                    r = timeout(wait, stream.read(&mut buf)) => r,
                    _ = conn.shutdown.changed() => {
                        // Idle between commands: tell the client and go (it retries later).
                        let _ = stream.write_all(&session.shutting_down().to_bytes()).await;
                        return End::Closed;
                    }
                };
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return End::Closed,
                    Ok(Ok(n)) => session.push(&buf[..n]),
                    Err(_) => {
                        let _ = stream.write_all(b"421 4.4.2 Error: timeout exceeded\r\n").await;
                        return End::Closed;
                    }
                }
            }
            Step::Mail(from, xforward) => {
                conn.holding.reset();
                if !flush(stream, &mut out).await {
                    return End::Closed;
                }
                let mut pooled = false;
                if conn.relay.is_none() {
                    conn.relay = conn.gateway.relay_pool.take(&conn.next_hop, &conn.relay_cfg);
                    pooled = conn.relay.is_some();
                }
                let mut reply = start_transaction(conn, &from, &xforward).await;
                if pooled && reply.is_err() {
                    // The idle session had gone away (the next hop's own idle timeout): a
                    // fresh one, once. Nothing was sent on it that the next hop kept.
                    conn.relay = None;
                    reply = start_transaction(conn, &from, &xforward).await;
                }
                session.answer(relay_reply(reply, &mut conn.relay, "4.4.1"));
            }
            Step::Rcpt(to) => {
                if !flush(stream, &mut out).await {
                    return End::Closed;
                }
                let reply = match conn.relay.as_mut() {
                    Some(c) => c.rcpt(&to).await,
                    None => Err(RelayError::Protocol("no next hop session".into())),
                };
                session.answer(relay_reply(reply, &mut conn.relay, "4.4.2"));
            }
            Step::Data(tx) => {
                if !flush(stream, &mut out).await {
                    return End::Closed;
                }
                let mut tx = *tx;
                let message = conn.holding.finish(std::mem::take(&mut tx.message));
                let reply = deliver(&conn.gateway, &mut conn.relay, tx, message, conn.peer).await;
                conn.holding.reset();
                session.answer(reply);
            }
            Step::Reset => {
                if let Some(c) = conn.relay.as_mut() {
                    if c.rset().await.is_err() {
                        conn.relay = None;
                    }
                }
            }
            Step::StartTls => {
                return if flush(stream, &mut out).await {
                    End::StartTls
                } else {
                    End::Closed
                };
            }
            Step::Close => {
                let _ = flush(stream, &mut out).await;
                return End::Closed;
            }
        }
    }
}

/// XFORWARD and MAIL on the session's next-hop connection, opening one when it has none.
async fn start_transaction(
    conn: &mut Conn,
    from: &crate::ingress::smtp::MailFrom,
    xforward: &[(String, String)],
) -> Result<Reply, RelayError> {
    if conn.relay.is_none() {
        conn.relay = Some(Connection::open(&conn.next_hop, &conn.relay_cfg).await?);
    }
    let c = conn
        .relay
        .as_mut()
        .ok_or_else(|| RelayError::Protocol("no next hop session".into()))?;
    c.xforward(xforward).await?;
    c.mail(from).await
}

async fn flush<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = stream.write_all(out).await.is_ok();
    out.clear();
    ok
}

/// A next hop's reply as is; a failure to talk to it as 451 (the connection is dropped).
fn relay_reply(result: Result<Reply, RelayError>, relay: &mut Option<Connection>, status: &str) -> Reply {
    match result {
        Ok(reply) => reply,
        Err(e) => {
            tracing::warn!(error = %e, "next hop unavailable");
            *relay = None;
            Reply::new(451, format!("{status} Error: next hop unavailable, try again later"))
        }
    }
}

/// Disarm the message and hand it to the next hop: the reply for the client's final dot.
async fn deliver(
    gateway: &Arc<Smtp>,
    relay: &mut Option<Connection>,
    tx: Transaction,
    message: super::spill::Message,
    peer: SocketAddr,
) -> Reply {
    let pipeline = &gateway.pipeline;
    let origin = Origin::new("smtp", Some(peer))
        .forwarded_for(tx.xforward.iter().find(|(k, _)| k == "ADDR").map(|(_, v)| v.clone()));
    let refuse = |id: Option<&str>, reason: &str, reply: Reply| {
        pipeline.refused(&origin, id, reason, reply_line(&reply));
        reply
    };
    let Some(conn) = relay.as_mut() else {
        return refuse(
            None,
            "next_hop_lost",
            Reply::new(451, "4.4.2 Error: next hop session lost, try again later"),
        );
    };
    let reject = pipeline.current().config.smtp.reject_outcomes.clone();
    let envelope = Envelope {
        mail_from: tx.mail_from.address.clone(),
        rcpt_to: tx.rcpt_to.iter().map(|r| r.address.clone()).collect(),
    };
    // The permit bounds the CPU-bound work only: it goes with the work (back when the work
    // has ended), not with the wait for the next hop's reply, which would idle the cores.
    let message = match message {
        super::spill::Message::Memory(bytes) => Received::Here(bytes),
        spooled => Received::Later(Box::new(move || spooled.into_bytes())),
    };
    let done = pipeline.message(message, envelope, &origin).await;
    let delivery = match done {
        Err(MessageError::Work(WorkError::Timeout)) | Err(MessageError::Stopped) => {
            tracing::error!(peer = %peer, "message took longer than engine.message_timeout_secs; told to stop; sender will retry");
            *relay = None;
            return refuse(
                None,
                "timeout",
                Reply::new(451, "4.3.0 Error: processing took too long, try again later"),
            );
        }
        Err(MessageError::Work(WorkError::ShuttingDown)) => {
            return refuse(
                None,
                "shutting_down",
                Reply::new(451, "4.3.0 Error: shutting down, try again later"),
            );
        }
        Err(MessageError::Work(e)) => {
            tracing::error!(error = %e, "pipeline task failed; sender will retry");
            *relay = None;
            return refuse(
                None,
                "internal_error",
                Reply::new(451, "4.3.0 Error: internal error, try again later"),
            );
        }
        Err(MessageError::TooLarge { .. }) => {
            return refuse(
                None,
                "too_large",
                Reply::new(552, "5.3.4 Error: message size exceeds fixed limit"),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot keep the original; sender will retry");
            return refuse(
                None,
                "store_failed",
                Reply::new(451, "4.3.0 Error: cannot store the message, try again later"),
            );
        }
        Ok(done) => done,
    };
    let (id, outcome) = (delivery.id.as_str(), delivery.outcome);
    if reject.contains(&outcome) {
        tracing::info!(id = %id, outcome = outcome.as_str(), "refused by policy (smtp.reject_outcomes)");
        if conn.rset().await.is_err() {
            *relay = None;
        }
        return refuse(
            Some(id),
            "policy",
            Reply::new(
                554,
                format!("5.7.1 Message refused by policy: {} (id {id})", outcome.as_str()),
            ),
        );
    }
    match conn.data(&delivery.rebuilt).await {
        Ok(reply) => {
            tracing::info!(id = %id, outcome = outcome.as_str(), next_hop = %reply.text(), "relayed");
            if reply.is_positive() {
                pipeline.delivered(&origin, id, outcome, reply_line(&reply));
            } else {
                pipeline.refused(&origin, Some(id), "next_hop", reply_line(&reply));
            }
            reply
        }
        Err(e) => {
            tracing::warn!(id = %id, error = %e, "next hop lost during DATA; sender will retry");
            *relay = None;
            refuse(
                Some(id),
                "next_hop_lost",
                Reply::new(451, "4.4.2 Error: next hop lost, try again later"),
            )
        }
    }
}

/// A reply as one line for the audit trail: `250 2.0.0 Ok: queued as 4XYZ`.
fn reply_line(reply: &Reply) -> String {
    format!("{} {}", reply.code, reply.text())
}
