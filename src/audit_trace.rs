//! Reading the audit trail back: the lines of one message (its own and its parts' —
//! requests, approvals, releases, unlocks), of a sender's or recipient's messages, within a
//! time range, of one kind of event. `mugai audit` prints them; the admin console shows a
//! message's trace. Reads a file of JSON lines as `audit` writes it; uses `clock` only.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

/// Which lines to keep (every field optional).
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// A message's ledger id or its Message-ID.
    pub message: Option<String>,
    /// Envelope sender / recipient, whole address, case-insensitive.
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// Unix seconds, `until` exclusive.
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// An event kind, or a prefix ending in `.` (`original.`).
    pub event: Option<String>,
}

/// Japan is UTC+9 all year.
const JST: i64 = 9 * 3600;

/// The first second of a day (YYYY-MM-DD) in Japan time, in Unix seconds.
pub fn parse_day(d: &str) -> Option<u64> {
    let mut it = d.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (it.next()??, it.next()??, it.next()??);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let days = crate::clock::days_from_civil(y, m, day);
    u64::try_from(days * 86_400 - JST).ok()
}

/// The lines of the trail at `path` that `filter` keeps, as written, in order. Lines that
/// are not JSON are skipped.
pub fn read(path: &Path, filter: &TraceFilter) -> std::io::Result<Vec<String>> {
    let file = std::fs::File::open(path)?;
    let lines: Vec<(String, Value)> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok().map(|v| (l, v)))
        .collect();

    // Which messages (and so which parts) the filters name: the message lines decide.
    let by_message = filter.message.is_some() || filter.sender.is_some() || filter.recipient.is_some();
    let mut messages = HashSet::new();
    for (_, v) in lines.iter().filter(|(_, v)| v["event"] == "mail.message") {
        let id = v["message"].as_str().unwrap_or_default();
        let matches = filter
            .message
            .as_deref()
            .is_none_or(|m| id == m || v["message_id"].as_str() == Some(m))
            && filter.sender.as_deref().is_none_or(|s| eq(&v["mail_from"], s))
            && filter
                .recipient
                .as_deref()
                .is_none_or(|r| v["rcpt_to"].as_array().is_some_and(|a| a.iter().any(|x| eq(x, r))));
        if matches {
            messages.insert(id.to_string());
        }
    }
    if let Some(m) = &filter.message {
        // A message id no mail.message line names (an upload kept for unlocking, say).
        if filter.sender.is_none() && filter.recipient.is_none() {
            messages.insert(m.clone());
        }
    }
    let parts: HashSet<String> = lines
        .iter()
        .filter(|(_, v)| v["event"] == "mail.part" && v["message"].as_str().is_some_and(|m| messages.contains(m)))
        .filter_map(|(_, v)| v["stored_id"].as_str().map(str::to_string))
        .collect();

    let mut kept = Vec::new();
    for (line, v) in lines {
        let ts = v["ts"].as_u64().unwrap_or(0);
        if filter.since.is_some_and(|s| ts < s) || filter.until.is_some_and(|u| ts >= u) {
            continue;
        }
        if let Some(kind) = &filter.event {
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
        kept.push(line);
    }
    Ok(kept)
}

fn eq(v: &Value, addr: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(addr))
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
