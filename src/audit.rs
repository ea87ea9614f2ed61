//! The audit trail (監査ログ): one JSON line per decision the gateway made, so that every one
//! can be reviewed afterwards (the guideline's ログの事後確認) — what came in and what went out,
//! who asked for an original and who approved it, who unlocked what and who signed in.
//!
//! Every line is an [`Event`]: `ts` (Unix seconds), `event` (the kind, below), `actor`
//! (who did it: `smtp`, `api:<key name>`, `recipient`, `approver:<name>`, `daemon`, `cli`),
//! `client` (the address the request came from, when there was one), `forwarded_for` (the
//! original client a mail server before us named, when it did), then the kind's own
//! fields: ids, names, hashes, outcomes. Never content, never link tokens, keys or passwords.
//!
//! Lines are written whole under a lock and flushed at once; a failed write is reported to
//! the caller (who logs it) but does not undo the decision it describes. A file destination is
//! reopened by [`AuditLog::reopen`] (the daemon calls it on SIGHUP), so logrotate can move the
//! file away and signal, without `copytruncate`. Or the lines go to the local syslog socket
//! (`audit.log = "syslog"`: `/dev/log`, where journald listens too). Uses only `config` and
//! `clock`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::config::{AuditConfig, AuditLogTo};

/// Who did something, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// `smtp`, `api:<key name>`, `recipient`, `approver:<name>`, `daemon`, `cli`.
    pub actor: String,
    /// The peer address of the connection the request came over.
    pub client: Option<String>,
    /// The original client as the server before us told it (Postfix's XFORWARD `ADDR`).
    pub forwarded_for: Option<String>,
}

impl Origin {
    pub fn new(actor: impl Into<String>, client: Option<SocketAddr>) -> Self {
        Origin {
            actor: actor.into(),
            client: client.map(|c| c.to_string()),
            forwarded_for: None,
        }
    }

    /// The same origin, with the original client the server before us named.
    pub fn forwarded_for(mut self, addr: Option<String>) -> Self {
        self.forwarded_for = addr;
        self
    }

    /// The daemon itself (a reload, the purge task).
    pub fn daemon() -> Self {
        Origin::new("daemon", None)
    }

    /// The command line (`mugai mail`, `mugai originals purge`).
    pub fn cli() -> Self {
        Origin::new("cli", None)
    }
}

/// One line of the trail. The kinds and their fields are documented in the README
/// ("Audit trail"); a test drives every kind through the running daemon.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event")]
pub enum Event {
    /// A message was received, stored and disarmed (before the next hop answered).
    #[serde(rename = "mail.message")]
    MailMessage {
        message: String,
        message_id: Option<String>,
        mail_from: String,
        rcpt_to: Vec<String>,
        size: u64,
        sha256: String,
        outcome: &'static str,
        body: &'static str,
        parts: usize,
        damage: Vec<String>,
        duration_ms: u64,
    },
    /// One file of a message, and what became of it.
    #[serde(rename = "mail.part")]
    MailPart {
        message: String,
        message_id: Option<String>,
        path: String,
        name: Option<String>,
        kind: Option<&'static str>,
        outcome: &'static str,
        reason: Option<String>,
        stored_id: Option<String>,
        input_sha256: Option<String>,
        output_sha256: Option<String>,
        findings: serde_json::Value,
    },
    /// The next hop accepted the rebuilt message.
    #[serde(rename = "mail.delivered")]
    MailDelivered {
        message: String,
        outcome: &'static str,
        reply: String,
    },
    /// The message was not passed on: refused by policy or over a limit (5xx), or left with
    /// the sender for a retry (4xx). `message` is absent when it was refused before storing.
    #[serde(rename = "mail.refused")]
    MailRefused {
        message: Option<String>,
        reason: String,
        reply: String,
    },
    /// Files carried in through the carry-in box: the message they became, its outcome.
    #[serde(rename = "carry_in.sent")]
    CarriedIn {
        person: String,
        mailbox: String,
        message: String,
        files: usize,
        bytes: u64,
        outcome: &'static str,
    },
    /// A carry-in refused: `mailbox` (not an allowed domain), `files` (none, or too many), `quota` (the day's), `too_large`,
    /// `next_hop` (the LGWAN-side MTA did not take it), `failed`.
    #[serde(rename = "carry_in.refused")]
    CarryInRefused {
        person: String,
        mailbox: String,
        files: usize,
        bytes: u64,
        reason: &'static str,
    },
    /// A file sanitized for the HTTP API (`/v1/sanitize` or a job).
    #[serde(rename = "file.sanitized")]
    FileSanitized {
        report: Option<String>,
        job: Option<String>,
        name: Option<String>,
        kind: &'static str,
        outcome: &'static str,
        reason: Option<String>,
        size: u64,
        input_sha256: String,
        output_sha256: Option<String>,
        findings: serde_json::Value,
    },
    /// A recipient asked for an original held for approval.
    #[serde(rename = "original.requested")]
    OriginalRequested {
        part: String,
        message: String,
        name: Option<String>,
        /// The recipient address confirmed on the page.
        #[serde(skip_serializing_if = "Option::is_none")]
        requester: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// clamd's verdict when it was asked first (`after_scan_and_approval`).
        #[serde(skip_serializing_if = "Option::is_none")]
        scan: Option<String>,
    },
    #[serde(rename = "original.approved")]
    OriginalApproved {
        part: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    #[serde(rename = "original.denied")]
    OriginalDenied {
        part: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// An original was handed out.
    #[serde(rename = "original.released")]
    OriginalReleased {
        part: String,
        message: String,
        name: Option<String>,
        sha256: String,
        policy: &'static str,
    },
    /// An operator took an original out with `mugai originals get` (情シス on a staff
    /// member's behalf): which one, and why they said they needed it.
    #[serde(rename = "original.fetched")]
    OriginalFetched {
        /// The part's or message's id.
        id: String,
        /// `part` or `message` (the whole `.eml`).
        of: &'static str,
        name: Option<String>,
        sha256: String,
        reason: String,
    },
    /// An original was asked for and not handed out (pending, denied, the scan found
    /// something or could not run).
    #[serde(rename = "original.refused")]
    OriginalRefused { part: String, reason: String },
    /// A password tried on a held archive: `unlocked`, `wrong_password`, `locked` (too many
    /// tries), `blocked` (it opened; its contents were refused), `not_held`.
    #[serde(rename = "held.unlock")]
    Unlock {
        part: String,
        result: &'static str,
        attempts_left: Option<u32>,
        outcome: Option<&'static str>,
    },
    #[serde(rename = "approver.signed_in")]
    SignedIn { approver: String },
    /// A sign-in with a key that is not an approver's (the key is never written).
    #[serde(rename = "approver.sign_in_refused")]
    SignInRefused {},
    #[serde(rename = "approver.signed_out")]
    SignedOut { approver: Option<String> },
    #[serde(rename = "carry_in.signed_in")]
    CarrierSignedIn { person: String },
    /// A refused sign-in at the carry-in box (wrong password, no `carry_in` right, locked).
    #[serde(rename = "carry_in.sign_in_refused")]
    CarrierSignInRefused {},
    #[serde(rename = "carry_in.signed_out")]
    CarrierSignedOut { person: Option<String> },
    /// A job's result was accepted by its callback receiver.
    #[serde(rename = "callback.sent")]
    CallbackSent { job: String, attempt: u32 },
    /// A job's callback was not accepted; tried again unless `gave_up`.
    #[serde(rename = "callback.failed")]
    CallbackFailed {
        job: String,
        attempt: u32,
        error: String,
        gave_up: bool,
    },
    /// An administrator revoked a part's link (its original goes at the next purge).
    #[serde(rename = "link.revoked")]
    LinkRevoked { part: String, reason: String },
    /// A notification mail was accepted by the relay.
    #[serde(rename = "notification.sent")]
    NotificationSent {
        kind: &'static str,
        part: String,
        to: Vec<String>,
    },
    /// A notification mail was not accepted; tried again unless `gave_up`.
    #[serde(rename = "notification.failed")]
    NotificationFailed {
        kind: &'static str,
        part: String,
        to: Vec<String>,
        attempt: u32,
        error: String,
        gave_up: bool,
    },
    /// SIGHUP: the configuration was reloaded, or the reload refused (the old one stays).
    #[serde(rename = "config.reloaded")]
    ConfigReloaded { ok: bool, error: Option<String> },
    /// Retention ran: what it removed.
    #[serde(rename = "purge.ran")]
    PurgeRan {
        messages: u64,
        parts: u64,
        blobs: u64,
        /// Release records past `audit.retention_days`.
        records: u64,
    },
}

/// A line as written: time, origin, event.
#[derive(Serialize)]
struct Line<'a> {
    ts: u64,
    #[serde(flatten)]
    event: &'a Event,
    actor: &'a str,
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarded_for: Option<&'a str>,
}

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
    /// What [`AuditLog::reopen`] opens again; none for a log made over a writer.
    dest: Option<Dest>,
}

/// A configured destination, its data directory resolved.
enum Dest {
    File(PathBuf),
    Syslog(PathBuf),
    Stdout,
}

impl Dest {
    fn open(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Dest::File(path) => Box::new(append(path)?),
            Dest::Syslog(socket) => Box::new(Syslog::connect(socket)?),
            Dest::Stdout => Box::new(io::stdout()),
        })
    }
}

impl AuditLog {
    /// Open the configured destination (appending to a file, created owner-only).
    pub fn open(config: &AuditConfig, data_dir: &Path) -> io::Result<Self> {
        let dest = match (config.log.file(data_dir), &config.log) {
            (Some(path), _) => Dest::File(path),
            (None, AuditLogTo::Syslog(socket)) => Dest::Syslog(socket.clone()),
            (None, _) => Dest::Stdout,
        };
        Ok(AuditLog {
            out: Mutex::new(dest.open()?),
            dest: Some(dest),
        })
    }

    /// A log that keeps its lines in memory (tests) or discards them.
    pub fn to_writer(w: Box<dyn Write + Send>) -> Self {
        AuditLog {
            out: Mutex::new(w),
            dest: None,
        }
    }

    /// Open the destination again under its name (after logrotate moved the file, or a
    /// restarted syslog daemon made a new socket); lines after this go there. On failure the
    /// old one stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let Some(dest) = &self.dest else { return Ok(()) };
        let out = dest.open()?;
        *self.out.lock().unwrap_or_else(|p| p.into_inner()) = out;
        Ok(())
    }

    /// Write one event.
    pub fn record(&self, origin: &Origin, event: Event) -> io::Result<()> {
        let line = Line {
            ts: crate::clock::now(),
            event: &event,
            actor: &origin.actor,
            client: origin.client.as_deref(),
            forwarded_for: origin.forwarded_for.as_deref(),
        };
        let mut line = serde_json::to_vec(&line).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&line)?;
        out.flush()
    }

    /// [`AuditLog::record`], logging a failed write instead of returning it: the decision
    /// stands either way, and the operator learns the trail has a gap.
    pub fn note(&self, origin: &Origin, event: Event) {
        if let Err(e) = self.record(origin, event) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }
}

/// The local syslog socket (`/dev/log`; journald listens there too): one datagram per line,
/// `<PRI>mugai[pid]: {json}` (RFC 3164 framing, as `logger` sends), facility `auth`
/// (security events), severity `info`.
struct Syslog {
    socket: std::os::unix::net::UnixDatagram,
    tag: String,
}

impl Syslog {
    /// `auth` (4) × 8 + `info` (6).
    const PRI: u8 = 38;

    fn connect(path: &Path) -> io::Result<Self> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog {
            socket,
            tag: format!("<{}>mugai[{}]: ", Self::PRI, std::process::id()),
        })
    }
}

impl Write for Syslog {
    /// One call is one whole line ([`AuditLog::record`] writes each line at once).
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let mut datagram = Vec::with_capacity(self.tag.len() + body.len());
        datagram.extend_from_slice(self.tag.as_bytes());
        datagram.extend_from_slice(body);
        self.socket.send(&datagram)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_config(path: &Path) -> AuditConfig {
        AuditConfig {
            log: AuditLogTo::File(path.to_path_buf()),
            retention: std::time::Duration::from_secs(86_400),
        }
    }

    #[test]
    fn a_line_has_time_kind_actor_client_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let log = AuditLog::open(&file_config(&path), dir.path()).unwrap();
        let client: SocketAddr = "192.0.2.1:4242".parse().unwrap();
        log.record(
            &Origin::new("api:fx", Some(client)),
            Event::OriginalApproved {
                part: "ab".into(),
                comment: None,
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["event"], "original.approved");
        assert_eq!(v["actor"], "api:fx");
        assert_eq!(v["client"], "192.0.2.1:4242");
        assert_eq!(v["part"], "ab");
        assert!(v["ts"].as_u64().unwrap() > 1_700_000_000);
    }

    #[test]
    fn to_syslog_each_line_is_one_datagram_with_priority_and_tag() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("log");
        let server = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        let config = AuditConfig {
            log: AuditLogTo::Syslog(socket),
            retention: std::time::Duration::from_secs(86_400),
        };
        let log = AuditLog::open(&config, dir.path()).unwrap();
        log.record(&Origin::daemon(), Event::SignInRefused {}).unwrap();
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let json = text
            .strip_prefix(&format!("<38>mugai[{}]: ", std::process::id()))
            .unwrap_or_else(|| panic!("framing: {text}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["event"], "approver.sign_in_refused");
        assert!(!text.ends_with('\n'));
        log.reopen().unwrap();
        log.record(&Origin::daemon(), Event::SignedOut { approver: None })
            .unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n]).unwrap().contains("approver.signed_out"));
    }

    #[test]
    fn reopen_follows_the_name_after_the_file_was_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let log = AuditLog::open(&file_config(&path), dir.path()).unwrap();
        log.record(&Origin::daemon(), Event::SignInRefused {}).unwrap();
        std::fs::rename(&path, dir.path().join("a.jsonl.1")).unwrap();
        log.reopen().unwrap();
        log.record(&Origin::daemon(), Event::SignedOut { approver: None })
            .unwrap();
        let old = std::fs::read_to_string(dir.path().join("a.jsonl.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(old.contains("approver.sign_in_refused") && !old.contains("signed_out"));
        assert!(new.contains("approver.signed_out") && !new.contains("sign_in_refused"));
    }
}
