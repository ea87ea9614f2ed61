//! `[smtp]`: the SMTP content filter — limits, timeouts, STARTTLS, bare LF, refused outcomes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{choice, hostname, problem, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSmtp {
    /// Name in the greeting and the EHLO reply.
    hostname: String,
    /// Sessions at once; a permit is taken before a connection is accepted.
    max_sessions: u64,
    /// Longest command line in bytes (RFC 5321 asks for at least 512).
    max_line_bytes: u64,
    /// Most recipients of one message.
    max_recipients: u64,
    /// Most commands in one session.
    max_commands: u64,
    /// Seconds the client may stay silent.
    idle_timeout_secs: u64,
    /// Seconds one session may last.
    session_timeout_secs: u64,
    /// Seconds in-flight messages get to finish after SIGTERM.
    shutdown_grace_secs: u64,
    /// Message outcomes refused with 554 instead of delivered (`blocked`, `held`, `error`).
    reject_outcomes: Vec<String>,
    /// PEM certificate chain for STARTTLS; empty: STARTTLS not offered.
    tls_cert: PathBuf,
    /// PEM private key for STARTTLS.
    tls_key: PathBuf,
    /// A line ended by a bare LF: `reject` (default) or `normalize` (taken as CRLF; the
    /// end of data is still only CRLF.CRLF).
    bare_newline: String,
    /// Bytes of messages being received held in memory, all sessions together; past it a
    /// message goes on arriving into a spool file.
    message_memory_bytes: u64,
}

impl Default for RawSmtp {
    fn default() -> Self {
        Self {
            hostname: "mugai".into(),
            max_sessions: 1000,
            max_line_bytes: 2048,
            max_recipients: 1000,
            max_commands: 10_000,
            idle_timeout_secs: 300,
            session_timeout_secs: 3600,
            shutdown_grace_secs: 60,
            reject_outcomes: Vec::new(),
            bare_newline: "reject".into(),
            message_memory_bytes: 256 * 1024 * 1024,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

/// The SMTP listener (`ingress/smtp/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub hostname: String,
    pub max_sessions: usize,
    pub max_line_bytes: usize,
    pub max_recipients: usize,
    pub max_commands: u64,
    pub idle_timeout: Duration,
    pub session_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Outcomes answered 554 5.7.1 (the message is stored, not delivered).
    pub reject_outcomes: Vec<crate::report::Outcome>,
    /// Certificate chain and key for STARTTLS (both or neither).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub bare_newline: BareNewline,
    pub message_memory_bytes: u64,
}

/// What the SMTP server does with a line ended by a bare LF (no CR): the way one message is
/// smuggled behind another (`…\n.\nMAIL FROM:…`) when two servers disagree on where data
/// ends. The end of data is `<CR><LF>.<CR><LF>` only, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNewline {
    /// A command with one is refused (500); a message with one is refused (550).
    Reject,
    /// Taken as CRLF, as Postfix's `smtpd_forbid_bare_newline = normalize`.
    Normalize,
}

impl RawSmtp {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> SmtpConfig {
        range(problems, "smtp.max_sessions", self.max_sessions, 1, 100_000);
        range(problems, "smtp.max_line_bytes", self.max_line_bytes, 512, 1 << 20);
        range(problems, "smtp.max_recipients", self.max_recipients, 1, 100_000);
        range(problems, "smtp.max_commands", self.max_commands, 10, 1 << 32);
        range(problems, "smtp.idle_timeout_secs", self.idle_timeout_secs, 1, 86_400);
        range(
            problems,
            "smtp.session_timeout_secs",
            self.session_timeout_secs,
            1,
            7 * 86_400,
        );
        range(
            problems,
            "smtp.shutdown_grace_secs",
            self.shutdown_grace_secs,
            0,
            86_400,
        );
        hostname(problems, "smtp.hostname", &self.hostname);
        range(
            problems,
            "smtp.message_memory_bytes",
            self.message_memory_bytes,
            1 << 20,
            1 << 40,
        );
        SmtpConfig {
            hostname: self.hostname.clone(),
            max_sessions: self.max_sessions as usize,
            max_line_bytes: self.max_line_bytes as usize,
            max_recipients: self.max_recipients as usize,
            max_commands: self.max_commands,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            session_timeout: Duration::from_secs(self.session_timeout_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            message_memory_bytes: self.message_memory_bytes,
            bare_newline: choice(
                problems,
                "smtp.bare_newline",
                &self.bare_newline,
                &[("reject", BareNewline::Reject), ("normalize", BareNewline::Normalize)],
            ),
            reject_outcomes: self
                .reject_outcomes
                .iter()
                .map(|word| {
                    use crate::report::Outcome;
                    choice(
                        problems,
                        "smtp.reject_outcomes",
                        word,
                        &[
                            ("blocked", Outcome::Blocked),
                            ("held", Outcome::Held),
                            ("error", Outcome::Error),
                        ],
                    )
                })
                .collect(),
            tls: match (
                self.tls_cert.as_os_str().is_empty(),
                self.tls_key.as_os_str().is_empty(),
            ) {
                (true, true) => None,
                (false, false) => Some((self.tls_cert.clone(), self.tls_key.clone())),
                _ => {
                    problems.push(problem("smtp.tls_cert", "tls_cert and tls_key go together"));
                    None
                }
            },
        }
    }
}
