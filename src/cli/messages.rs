//! `mugai messages search …` and `mugai messages trace ID`: the admin console's search and
//! trace for scripts — the messages kept, as JSON lines (newest first), and one message's
//! lines of the audit trail.

use std::io::Write;

use anyhow::Context;

use super::{open_store, EXIT_OK, EXIT_USAGE};
use crate::audit_trace::{day_range, TraceFilter};
use crate::config::Config;
use crate::report::Outcome;
use crate::store::MessageQuery;

#[derive(clap::Subcommand)]
pub enum MessagesCommand {
    /// Messages kept, newest first, one JSON line each; every filter is optional and text
    /// matches anywhere, without regard to case.
    Search {
        #[arg(long)]
        sender: Option<String>,
        #[arg(long)]
        recipient: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long = "message-id")]
        message_id: Option<String>,
        /// From this day on (YYYY-MM-DD, Japan time).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Up to and with this day (YYYY-MM-DD, Japan time).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// clean, disarmed, blocked, held or error.
        #[arg(long)]
        outcome: Option<String>,
        /// Most messages printed (at most 1,000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A message's lines of the audit trail, in order (its own and its parts').
    Trace {
        /// The message's ledger id (`X-Mugai-Id`) or its Message-ID.
        id: String,
    },
}

pub fn messages(config: &Config, action: MessagesCommand) -> anyhow::Result<u8> {
    match action {
        MessagesCommand::Search {
            sender,
            recipient,
            subject,
            message_id,
            since,
            until,
            outcome,
            limit,
        } => {
            let (since, until) = match day_range(since.as_deref(), until.as_deref()) {
                Ok(range) => range,
                Err(d) => {
                    eprintln!("mugai: {d:?} is not a date (YYYY-MM-DD)");
                    return Ok(EXIT_USAGE);
                }
            };
            let outcome = match outcome.as_deref().map(|o| Outcome::parse(o).ok_or(o)) {
                None => None,
                Some(Ok(o)) => Some(o),
                Some(Err(o)) => {
                    eprintln!("mugai: {o:?} is not an outcome (clean, disarmed, blocked, held, error)");
                    return Ok(EXIT_USAGE);
                }
            };
            let (store, _) = open_store(config)?;
            let rows = store.search_messages(&MessageQuery {
                sender,
                recipient,
                subject,
                message_id,
                since,
                until,
                outcome,
                limit,
            })?;
            let mut out = std::io::stdout().lock();
            for m in rows {
                let line = serde_json::json!({
                    "id": m.id,
                    "received": m.created,
                    "mail_from": m.mail_from,
                    "rcpt_to": m.rcpt_to,
                    "subject": m.subject,
                    "message_id": m.message_id,
                    "outcome": m.outcome.map(Outcome::as_str),
                    "size": m.size,
                });
                writeln!(out, "{line}")?;
            }
            Ok(EXIT_OK)
        }
        MessagesCommand::Trace { id } => {
            let Some(path) = config.audit.log.file(&config.serve.data_dir) else {
                eprintln!("mugai: audit.log is not a file (standard output or syslog); use mugai audit --file");
                return Ok(EXIT_USAGE);
            };
            let filter = TraceFilter {
                message: Some(id),
                ..Default::default()
            };
            let lines = crate::audit_trace::read(&path, &filter, usize::MAX)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut out = std::io::stdout().lock();
            for line in lines {
                writeln!(out, "{line}")?;
            }
            Ok(EXIT_OK)
        }
    }
}
