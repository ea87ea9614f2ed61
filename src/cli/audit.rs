//! `mugai audit`: the audit trail, filtered — by message (its lines and its parts' lines:
//! requests, approvals, releases, unlocks), by sender or recipient (every message of theirs,
//! with its parts), by date and by event kind. Reads the configured audit file (or `--file`),
//! prints the matching lines as they are (JSON lines, for `jq`).

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::EXIT_USAGE;
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

/// Japan is UTC+9 all year.
const JST: i64 = 9 * 3600;

pub fn audit(config: &Config, args: AuditArgs) -> anyhow::Result<u8> {
    let Some(path) = args
        .file
        .clone()
        .or_else(|| config.audit.log.file(&config.serve.data_dir))
    else {
        eprintln!("mugai: audit.log is not a file (standard output or syslog); give the file with --file");
        return Ok(EXIT_USAGE);
    };
    let day = |d: &Option<String>, end: bool| -> Result<Option<u64>, String> {
        d.as_deref()
            .map(|d| {
                parse_day(d)
                    .map(|start| if end { start + 86_400 } else { start })
                    .ok_or_else(|| format!("mugai: {d:?} is not a date (YYYY-MM-DD)"))
            })
            .transpose()
    };
    let (since, until) = match (day(&args.since, false), day(&args.until, true)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return Ok(EXIT_USAGE);
        }
    };
    let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<(String, Value)> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok().map(|v| (l, v)))
        .collect();

    // Which messages (and so which parts) the filters name: the message lines decide.
    let by_message = args.message.is_some() || args.sender.is_some() || args.recipient.is_some();
    let mut messages = HashSet::new();
    for (_, v) in lines.iter().filter(|(_, v)| v["event"] == "mail.message") {
        let id = v["message"].as_str().unwrap_or_default();
        let matches = args
            .message
            .as_deref()
            .is_none_or(|m| id == m || v["message_id"].as_str() == Some(m))
            && args.sender.as_deref().is_none_or(|s| eq(&v["mail_from"], s))
            && args
                .recipient
                .as_deref()
                .is_none_or(|r| v["rcpt_to"].as_array().is_some_and(|a| a.iter().any(|x| eq(x, r))));
        if matches {
            messages.insert(id.to_string());
        }
    }
    if let Some(m) = &args.message {
        // A message id no mail.message line names (an upload kept for unlocking, say).
        if args.sender.is_none() && args.recipient.is_none() {
            messages.insert(m.clone());
        }
    }
    let parts: HashSet<String> = lines
        .iter()
        .filter(|(_, v)| v["event"] == "mail.part" && v["message"].as_str().is_some_and(|m| messages.contains(m)))
        .filter_map(|(_, v)| v["stored_id"].as_str().map(str::to_string))
        .collect();

    let mut out = std::io::stdout().lock();
    for (line, v) in &lines {
        let ts = v["ts"].as_u64().unwrap_or(0);
        if since.is_some_and(|s| ts < s) || until.is_some_and(|u| ts >= u) {
            continue;
        }
        if let Some(kind) = &args.event {
            let event = v["event"].as_str().unwrap_or_default();
            if !(event == kind || (kind.ends_with('.') && event.starts_with(kind.as_str()))) {
                continue;
            }
        }
        if by_message {
            let of_message = v["message"].as_str().is_some_and(|m| messages.contains(m));
            let of_part = v["part"].as_str().is_some_and(|p| parts.contains(p));
            if !(of_message || of_part) {
                continue;
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(super::EXIT_OK)
}

fn eq(v: &Value, addr: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(addr))
}

/// The first second of a day in Japan time, in Unix seconds.
fn parse_day(d: &str) -> Option<u64> {
    let mut it = d.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (it.next()??, it.next()??, it.next()??);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let days = crate::clock::days_from_civil(y, m, day);
    u64::try_from(days * 86_400 - JST).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_in_japan_time() {
        // 2026-12-01 00:00 JST is 2026-11-30 15:00 UTC.
        assert_eq!(parse_day("2026-12-01"), Some(1_796_050_800));
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
    }
}
