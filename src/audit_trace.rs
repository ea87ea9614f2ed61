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

/// A `since`–`until` pair of days (YYYY-MM-DD, Japan time, both optional) as Unix seconds:
/// from the first second of `since` to before the day after `until`. `Err` names a text that
/// is not a date.
pub fn day_range(since: Option<&str>, until: Option<&str>) -> Result<(Option<u64>, Option<u64>), String> {
    let day = |d: Option<&str>| d.map(|d| parse_day(d).ok_or_else(|| d.to_string())).transpose();
    Ok((day(since)?, day(until)?.map(|u| u + 86_400)))
}

/// The lines of the trail at `path` that `filter` keeps, as written, in order, at most
/// `max_lines` (the first ones). Lines that are not JSON are skipped. The file is read twice
/// as a stream — first for the messages and parts the filter names, then for their lines —
/// so memory follows what is kept, never the size of the trail.
pub fn read(path: &Path, filter: &TraceFilter, max_lines: usize) -> std::io::Result<Vec<String>> {
    let lines = || -> std::io::Result<_> {
        Ok(std::io::BufReader::new(std::fs::File::open(path)?)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok().map(|v| (l, v))))
    };

    // Which messages (and so which parts) the filters name: the message lines decide.
    let by_message = filter.message.is_some() || filter.sender.is_some() || filter.recipient.is_some();
    let mut messages = HashSet::new();
    let mut parts_of: Vec<(String, String)> = Vec::new();
    if by_message {
        for (_, v) in lines()? {
            match v["event"].as_str() {
                Some("mail.message") => {
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
                Some("mail.part") => {
                    // Kept only while the message could still match: a message id of the
                    // filter, or every part when the filter is by sender or recipient.
                    let (m, p) = (v["message"].as_str(), v["stored_id"].as_str());
                    if let (Some(m), Some(p)) = (m, p) {
                        if filter.message.as_deref().is_none_or(|f| f == m)
                            || filter.sender.is_some()
                            || filter.recipient.is_some()
                        {
                            parts_of.push((m.to_string(), p.to_string()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(m) = &filter.message {
        // A message id no mail.message line names (an upload kept for unlocking, say).
        if filter.sender.is_none() && filter.recipient.is_none() {
            messages.insert(m.clone());
        }
    }
    let parts: HashSet<String> = parts_of
        .into_iter()
        .filter(|(m, _)| messages.contains(m))
        .map(|(_, p)| p)
        .collect();

    let mut kept = Vec::new();
    for (line, v) in lines()? {
        if kept.len() >= max_lines {
            break;
        }
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
    fn a_message_trace_holds_its_lines_and_its_parts_lines_in_order_and_bounded() {
        let dir = std::env::temp_dir().join(format!("mugai-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let lines = [
            r#"{"ts":1,"event":"mail.part","message":"m1","stored_id":"p1"}"#,
            r#"{"ts":2,"event":"mail.part","message":"m2","stored_id":"p2"}"#,
            r#"{"ts":3,"event":"mail.message","message":"m1","mail_from":"a@x.jp","rcpt_to":["b@y.jp"]}"#,
            r#"{"ts":4,"event":"mail.message","message":"m2","mail_from":"c@x.jp","rcpt_to":["d@y.jp"]}"#,
            "not json",
            r#"{"ts":5,"event":"original.requested","part":"p1"}"#,
            r#"{"ts":6,"event":"original.requested","part":"p2"}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let trace = |filter: TraceFilter, max: usize| -> Vec<u64> {
            read(&path, &filter, max)
                .unwrap()
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["ts"].as_u64().unwrap())
                .collect()
        };
        let m1 = TraceFilter {
            message: Some("m1".into()),
            ..Default::default()
        };
        assert_eq!(trace(m1.clone(), 100), [1, 3, 5]);
        assert_eq!(trace(m1, 2), [1, 3], "bounded");
        let sender = TraceFilter {
            sender: Some("C@X.JP".into()),
            ..Default::default()
        };
        assert_eq!(trace(sender, 100), [2, 4, 6]);
        assert_eq!(
            trace(TraceFilter::default(), 100).len(),
            6,
            "no filter: every JSON line"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn days_are_read_in_japan_time() {
        // 2026-12-01 00:00 JST is 2026-11-30 15:00 UTC.
        assert_eq!(parse_day("2026-12-01"), Some(1_796_050_800));
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
        // A range ends before the day after `until`.
        assert_eq!(
            day_range(Some("2026-12-01"), Some("2026-12-01")),
            Ok((Some(1_796_050_800), Some(1_796_050_800 + 86_400)))
        );
        assert_eq!(day_range(None, None), Ok((None, None)));
        assert_eq!(day_range(None, Some("yesterday")), Err("yesterday".into()));
    }
}
