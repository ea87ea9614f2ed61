//! `mugai audit`: the audit trail, filtered — by message (its lines and its parts' lines:
//! requests, approvals, releases, unlocks), by sender or recipient (every message of theirs,
//! with its parts), by date and by event kind. Reads the configured audit file (or `--file`)
//! through `audit_trace` and prints the matching lines as they are (JSON lines, for `jq`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::EXIT_USAGE;
use crate::audit_trace::{day_range, TraceFilter};
use crate::config::Config;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// The audit file (default: the configured `audit.log`).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A message's ledger id (`X-Mugai-Id`) or its Message-ID: its lines and its parts'.
    #[arg(long, value_name = "ID")]
    pub message: Option<String>,
    /// Messages from this envelope sender (case-insensitive), with their parts.
    #[arg(long, value_name = "ADDR")]
    pub sender: Option<String>,
    /// Messages to this envelope recipient (case-insensitive), with their parts.
    #[arg(long, value_name = "ADDR")]
    pub recipient: Option<String>,
    /// From this day on (YYYY-MM-DD, Japan time).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Up to and with this day (YYYY-MM-DD, Japan time).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this kind of event (`mail.message`, `original.released`, ...; a prefix like
    /// `original.` takes every kind under it).
    #[arg(long, value_name = "KIND")]
    pub event: Option<String>,
}

pub fn audit(config: &Config, args: AuditArgs) -> anyhow::Result<u8> {
    let Some(path) = args
        .file
        .clone()
        .or_else(|| config.audit.log.file(&config.serve.data_dir))
    else {
        eprintln!("mugai: audit.log is not a file (standard output or syslog); give the file with --file");
        return Ok(EXIT_USAGE);
    };
    let (since, until) = match day_range(args.since.as_deref(), args.until.as_deref()) {
        Ok(range) => range,
        Err(d) => {
            eprintln!("mugai: {d:?} is not a date (YYYY-MM-DD)");
            return Ok(EXIT_USAGE);
        }
    };
    let filter = TraceFilter {
        message: args.message,
        sender: args.sender,
        recipient: args.recipient,
        since,
        until,
        event: args.event,
    };
    let lines =
        crate::audit_trace::read(&path, &filter, usize::MAX).with_context(|| format!("reading {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(super::EXIT_OK)
}
