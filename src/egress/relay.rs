//! The SMTP client to the next hop (Postfix's re-injection listener, or any MTA): a session
//! per upstream session, reused across its messages, and kept in a small pool of idle
//! sessions when the upstream one ends (opening one costs a TCP handshake, the greeting and
//! EHLO: three round trips through a busy MTA, for every message Postfix hands over).
//!
//! Written here rather than with lettre because the content filter must pass on what lettre
//! cannot send: XFORWARD (the real client's name and address, for the next hop's logs and
//! policies), DSN parameters (NOTIFY, ORCPT, RET, ENVID) and BODY=8BITMIME/SMTPUTF8 — and it
//! must ask recipient by recipient, so each answer can be reflected upstream. Every read and
//! write has a timeout; every reply is bounded in lines and length.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::config::{NextHop, RelayConfig};
use crate::smtp::dot::stuffed_pieces;
use crate::smtp::{MailFrom, RcptTo, Reply};

/// Why the next hop could not be talked to (as opposed to a reply it gave).
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot connect to the next hop {0}: {1}")]
    Connect(NextHop, std::io::Error),
    #[error("the next hop did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("the next hop refused the session: {0}")]
    Greeting(String),
    #[error("the next hop broke the protocol: {0}")]
    Protocol(String),
    #[error("connection to the next hop lost: {0}")]
    Io(#[from] std::io::Error),
}

/// What the next hop said it supports in its EHLO reply.
#[derive(Debug, Default, Clone)]
pub struct Extensions {
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    /// XFORWARD attribute names it accepts.
    pub xforward: Vec<String>,
}

/// An open session with the next hop.
pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub extensions: Extensions,
    config: RelayConfig,
    peer: NextHop,
    /// MAIL was accepted and neither the end of DATA nor RSET has closed the transaction.
    in_transaction: bool,
}

/// Most lines in one reply and longest line: a next hop that sends more is broken.
const MAX_REPLY_LINES: usize = 100;
const MAX_REPLY_LINE: usize = 4096;

impl Connection {
    /// Connect, read the greeting, say EHLO (HELO if EHLO is refused).
    /// A host name is looked up now (each of its addresses tried in turn), so a next hop
    /// whose addresses change — a container restarted — is found again.
    pub async fn open(hop: &NextHop, config: &RelayConfig) -> Result<Self, RelayError> {
        let stream = timeout(
            config.connect_timeout,
            TcpStream::connect((hop.host.as_str(), hop.port)),
        )
        .await
        .map_err(|_| RelayError::Timeout("connect"))?
        .map_err(|e| RelayError::Connect(hop.clone(), e))?;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        let mut conn = Connection {
            reader: BufReader::new(read),
            writer,
            extensions: Extensions::default(),
            config: config.clone(),
            peer: hop.clone(),
            in_transaction: false,
        };
        let greeting = conn.read_reply(config.connect_timeout, "greeting").await?;
        if greeting.code != 220 {
            return Err(RelayError::Greeting(greeting.text()));
        }
        let helo = config.helo_name.clone();
        let ehlo = conn.command(&format!("EHLO {helo}")).await?;
        if ehlo.code == 250 {
            conn.extensions = parse_extensions(&ehlo);
        } else {
            let reply = conn.command(&format!("HELO {helo}")).await?;
            if reply.code != 250 {
                return Err(RelayError::Greeting(reply.text()));
            }
        }
        Ok(conn)
    }

    async fn read_reply(&mut self, limit: Duration, what: &'static str) -> Result<Reply, RelayError> {
        timeout(limit, self.read_reply_inner())
            .await
            .map_err(|_| RelayError::Timeout(what))?
    }

    async fn read_reply_inner(&mut self) -> Result<Reply, RelayError> {
        let mut lines = Vec::new();
        let mut code = 0u16;
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_REPLY_LINE as u64 + 2)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Err(RelayError::Protocol("connection closed".into()));
            }
            if !line.ends_with(b"\n") {
                return Err(RelayError::Protocol("reply line too long".into()));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let this: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| RelayError::Protocol(format!("not a reply: {:.60}", text)))?;
            if code != 0 && this != code {
                return Err(RelayError::Protocol("reply lines with different codes".into()));
            }
            code = this;
            lines.push(text.get(4..).unwrap_or("").to_string());
            if lines.len() > MAX_REPLY_LINES {
                return Err(RelayError::Protocol("reply too long".into()));
            }
            if text.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply::multi(code, lines));
            }
        }
    }

    async fn write(&mut self, bytes: &[u8], limit: Duration, what: &'static str) -> Result<(), RelayError> {
        timeout(limit, self.writer.write_all(bytes))
            .await
            .map_err(|_| RelayError::Timeout(what))??;
        Ok(())
    }

    /// Send one command line and read its reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, RelayError> {
        let limit = self.config.command_timeout;
        self.write(format!("{line}\r\n").as_bytes(), limit, "command").await?;
        self.read_reply(limit, "command reply").await
    }

    /// Pass on the XFORWARD attributes the next hop accepts (none when it offers none).
    pub async fn xforward(&mut self, attributes: &[(String, String)]) -> Result<(), RelayError> {
        let wanted: Vec<String> = attributes
            .iter()
            .filter(|(name, _)| self.extensions.xforward.iter().any(|a| a.eq_ignore_ascii_case(name)))
            .map(|(name, value)| format!("{name}={}", if value.is_empty() { "[UNAVAILABLE]" } else { value }))
            .collect();
        // Postfix takes XFORWARD lines of up to 512 bytes; send a few attributes per line.
        for chunk in wanted.chunks(3) {
            let reply = self.command(&format!("XFORWARD {}", chunk.join(" "))).await?;
            if !reply.is_positive() {
                // Not fatal: the origin is only missing from the next hop's logs.
                tracing::warn!(reply = %reply.text(), "next hop refused XFORWARD");
            }
        }
        Ok(())
    }

    pub async fn mail(&mut self, from: &MailFrom) -> Result<Reply, RelayError> {
        let mut line = format!("MAIL FROM:<{}>", from.address);
        if from.eight_bit && self.extensions.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        if from.smtputf8 && self.extensions.smtputf8 {
            line.push_str(" SMTPUTF8");
        }
        if self.extensions.dsn {
            if let Some(ret) = &from.ret {
                line.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = &from.envid {
                line.push_str(&format!(" ENVID={envid}"));
            }
        }
        let reply = self.command(&line).await?;
        self.in_transaction = reply.is_positive();
        Ok(reply)
    }

    pub async fn rcpt(&mut self, to: &RcptTo) -> Result<Reply, RelayError> {
        let mut line = format!("RCPT TO:<{}>", to.address);
        if self.extensions.dsn {
            if let Some(notify) = &to.notify {
                line.push_str(&format!(" NOTIFY={notify}"));
            }
            if let Some(orcpt) = &to.orcpt {
                line.push_str(&format!(" ORCPT={orcpt}"));
            }
        }
        self.command(&line).await
    }

    /// DATA, the message dot-stuffed, the final dot; the reply to it.
    pub async fn data(&mut self, message: &[u8]) -> Result<Reply, RelayError> {
        let go = self.command("DATA").await?;
        if go.code != 354 {
            return Ok(go);
        }
        let limit = self.config.data_timeout;
        let send = async {
            // Large runs go straight to the socket; the added dots are gathered with them.
            let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, &mut self.writer);
            for piece in stuffed_pieces(message) {
                out.write_all(piece).await?;
            }
            out.flush().await
        };
        timeout(limit, send).await.map_err(|_| RelayError::Timeout("data"))??;
        let reply = self.read_reply(limit, "reply to the end of data").await?;
        // Whatever the reply, the transaction is over (RFC 5321 4.1.1.4).
        self.in_transaction = false;
        Ok(reply)
    }

    pub async fn rset(&mut self) -> Result<Reply, RelayError> {
        let reply = self.command("RSET").await?;
        if reply.is_positive() {
            self.in_transaction = false;
        }
        Ok(reply)
    }

    /// Say goodbye (errors do not matter any more, nor does a next hop that does not answer).
    pub async fn quit(mut self) {
        let _ = timeout(Duration::from_secs(5), self.command("QUIT")).await;
    }
}

/// Idle sessions with the next hop, newest last. A session comes back only outside a
/// transaction; one idle longer than the configured time is closed (by [`Pool::close_idle`], or
/// when met in [`Pool::take`]), so the next hop's processes are not held for long.
pub struct Pool {
    idle: Mutex<Vec<(Connection, Instant)>>,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Connection, Instant)>> {
        // Nothing a panic could leave half-done: the vector is only pushed and popped.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle session with `hop`, fresh enough under `config`, if there is one.
    pub fn take(&self, hop: &NextHop, config: &RelayConfig) -> Option<Connection> {
        let mut idle = self.lock();
        while let Some((conn, since)) = idle.pop() {
            if conn.peer == *hop && since.elapsed() < config.pool_idle {
                return Some(conn);
            }
            // Stale, or for a next hop the configuration no longer names: just close it.
        }
        None
    }

    /// Keep `conn` for the next message if it is out of a transaction (RSET when needed) and
    /// the pool has room under `config`; else say QUIT.
    pub async fn give_back(&self, mut conn: Connection, config: &RelayConfig) {
        if conn.in_transaction && !conn.rset().await.is_ok_and(|r| r.is_positive()) {
            return;
        }
        let refused = {
            let mut idle = self.lock();
            if idle.len() < config.pool_size {
                idle.push((conn, Instant::now()));
                None
            } else {
                Some(conn)
            }
        };
        if let Some(conn) = refused {
            conn.quit().await;
        }
    }

    /// Close the sessions idle for `older_than` or longer (all of them for zero).
    pub async fn close_idle(&self, older_than: Duration) {
        let stale: Vec<Connection> = {
            let mut idle = self.lock();
            let (keep, stale) = idle
                .drain(..)
                .partition::<Vec<_>, _>(|(_, since)| since.elapsed() < older_than);
            *idle = keep;
            stale.into_iter().map(|(c, _)| c).collect()
        };
        for conn in stale {
            conn.quit().await;
        }
    }
}

fn parse_extensions(ehlo: &Reply) -> Extensions {
    let mut ext = Extensions::default();
    for line in ehlo.lines.iter().skip(1) {
        let mut words = line.split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        match keyword.as_str() {
            "8BITMIME" => ext.eight_bit = true,
            "SMTPUTF8" => ext.smtputf8 = true,
            "DSN" => ext.dsn = true,
            "XFORWARD" => ext.xforward = words.map(str::to_ascii_uppercase).collect(),
            _ => {}
        }
    }
    ext
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_read_from_ehlo() {
        let ehlo = Reply::multi(
            250,
            vec![
                "mx".into(),
                "PIPELINING".into(),
                "8BITMIME".into(),
                "DSN".into(),
                "XFORWARD NAME ADDR PROTO HELO".into(),
            ],
        );
        let ext = parse_extensions(&ehlo);
        assert!(ext.eight_bit && ext.dsn && !ext.smtputf8);
        assert_eq!(ext.xforward, ["NAME", "ADDR", "PROTO", "HELO"]);
    }
}
