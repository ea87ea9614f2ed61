//! The embedded ledger: SQLite in one file (WAL journal), behind the repository traits of
//! `ledger.rs`. The only file that knows rusqlite.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::ledger::*;
use crate::kind::FileKind;
use crate::report::Outcome;

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError {
            backend: "sqlite",
            message: e.to_string(),
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    message_id TEXT,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    outcome TEXT,
    report TEXT,
    subject TEXT
);
CREATE TABLE IF NOT EXISTS parts (
    id TEXT PRIMARY KEY,
    message TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    name TEXT,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    original_blob TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    clean_blob TEXT,
    clean_name TEXT,
    report TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_expires ON messages(expires);
CREATE INDEX IF NOT EXISTS parts_expires ON parts(expires);
CREATE INDEX IF NOT EXISTS parts_message ON parts(message);
CREATE INDEX IF NOT EXISTS parts_original ON parts(original_blob);
CREATE INDEX IF NOT EXISTS parts_clean ON parts(clean_blob);
CREATE INDEX IF NOT EXISTS messages_blob ON messages(blob);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_expires ON reports(expires);
CREATE TABLE IF NOT EXISTS releases (
    part TEXT PRIMARY KEY REFERENCES parts(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    requested INTEGER NOT NULL,
    decided INTEGER,
    decided_by TEXT,
    requester TEXT,
    reason TEXT,
    comment TEXT,
    scan TEXT
);
CREATE TABLE IF NOT EXISTS release_records (
    part TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    name TEXT,
    kind TEXT NOT NULL,
    original_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    requested INTEGER NOT NULL,
    decided INTEGER,
    decided_by TEXT,
    requester TEXT,
    reason TEXT,
    comment TEXT,
    scan TEXT,
    keep_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT,
    input_blob TEXT NOT NULL,
    outcome TEXT,
    report TEXT,
    clean_blob TEXT,
    clean_name TEXT,
    media_type TEXT,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    callback TEXT
);
CREATE INDEX IF NOT EXISTS jobs_expires ON jobs(expires);
CREATE TABLE IF NOT EXISTS unlock_tries (
    part TEXT PRIMARY KEY REFERENCES parts(id) ON DELETE CASCADE,
    tries INTEGER NOT NULL,
    since INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_created ON messages(created);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    source TEXT NOT NULL,
    grants TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);
CREATE TABLE IF NOT EXISTS signin_tries (
    who TEXT PRIMARY KEY,
    tries INTEGER NOT NULL,
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS carry_quota (
    who TEXT NOT NULL,
    day INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (who, day)
);
";

/// The ledger in one SQLite file. One connection behind a mutex: rows are small and writes
/// are a few per message, far below what one connection does.
pub struct SqliteLedger {
    conn: Mutex<Connection>,
}

impl SqliteLedger {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        // WAL: readers (the recipient page) never wait for the writer (the mail path).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        add_missing_columns(&conn)?;
        Ok(SqliteLedger { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A panic while holding the lock cannot leave a half-written row (SQLite
        // transactions), so a poisoned lock is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn)?)
    }
}

/// Columns later versions added to tables of the embedded ledger, in the order they came:
/// a ledger made by an older version gets each one it lacks, once, at open (SQLite has no
/// `ADD COLUMN IF NOT EXISTS`; the `CREATE TABLE`s above already have them all).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // Job leases.
    ("jobs", "claimed_by", "TEXT"),
    ("jobs", "claimed_until", "INTEGER"),
    // A job's callback.
    ("jobs", "callback", "TEXT"),
    // The decoded Subject, for the admin console's search.
    ("messages", "subject", "TEXT"),
    // Who asked for an original, why, the approver's comment, clamd's verdict.
    ("releases", "requester", "TEXT"),
    ("releases", "reason", "TEXT"),
    ("releases", "comment", "TEXT"),
    ("releases", "scan", "TEXT"),
    ("release_records", "requester", "TEXT"),
    ("release_records", "reason", "TEXT"),
    ("release_records", "comment", "TEXT"),
    ("release_records", "scan", "TEXT"),
];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
            params![table, column],
            |r| r.get(0),
        )?;
        if present == 0 {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind};"))?;
        }
    }
    Ok(())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Kinds and outcomes are stored by their report names; a name this version does not know
/// reads as `unknown` and `error` — nothing unreadable is ever taken for clean or held.
fn kind_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<FileKind> {
    Ok(FileKind::from_name(&row.get::<_, String>(at)?).unwrap_or(FileKind::Unknown))
}

fn outcome_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<Outcome>> {
    Ok(row
        .get::<_, Option<String>>(at)?
        .map(|o| Outcome::parse(&o).unwrap_or(Outcome::Error)))
}

fn message_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let rcpt: String = row.get(3)?;
    Ok(MessageRow {
        id: row.get(0)?,
        message_id: row.get(1)?,
        mail_from: row.get(2)?,
        rcpt_to: serde_json::from_str(&rcpt).unwrap_or_default(),
        blob: row.get(4)?,
        size: to_u64(row.get(5)?),
        created: to_u64(row.get(6)?),
        expires: to_u64(row.get(7)?),
        outcome: outcome_at(row, 8)?,
        report: row.get(9)?,
        subject: row.get(10)?,
    })
}

/// A message's columns, in [`message_from`]'s order.
const MESSAGE_COLUMNS: &str =
    "id, message_id, mail_from, rcpt_to, blob, size, created, expires, outcome, report, subject";

const PART_COLUMNS: &str = "id, message, path, name, kind, outcome, reason, original_blob, original_size, \
                            clean_blob, clean_name, report, created, expires";

fn part_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<PartRow> {
    Ok(PartRow {
        id: row.get(0)?,
        message: row.get(1)?,
        path: row.get(2)?,
        name: row.get(3)?,
        kind: kind_at(row, 4)?,
        outcome: outcome_at(row, 5)?.unwrap_or(Outcome::Error),
        reason: row.get(6)?,
        original_blob: row.get(7)?,
        original_size: to_u64(row.get(8)?),
        clean_blob: row.get(9)?,
        clean_name: row.get(10)?,
        report: row.get(11)?,
        created: to_u64(row.get(12)?),
        expires: to_u64(row.get(13)?),
    })
}

fn release_from(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ReleaseRow> {
    Ok(ReleaseRow {
        part: row.get(at)?,
        state: ReleaseState::parse(&row.get::<_, String>(at + 1)?),
        requested: to_u64(row.get(at + 2)?),
        decided: row.get::<_, Option<i64>>(at + 3)?.map(to_u64),
        decided_by: row.get(at + 4)?,
        requester: row.get(at + 5)?,
        reason: row.get(at + 6)?,
        comment: row.get(at + 7)?,
        scan: row.get(at + 8)?,
    })
}

/// A release's columns, in [`release_from`]'s order.
const RELEASE_COLUMNS: &str = "part, state, requested, decided, decided_by, requester, reason, comment, scan";

const JOB_COLUMNS: &str =
    "id, name, input_blob, outcome, report, clean_blob, clean_name, media_type, created, expires, callback";

fn job_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: row.get(0)?,
        name: row.get(1)?,
        input_blob: row.get(2)?,
        outcome: outcome_at(row, 3)?,
        report: row.get(4)?,
        clean_blob: row.get(5)?,
        clean_name: row.get(6)?,
        media_type: row.get(7)?,
        created: to_u64(row.get(8)?),
        expires: to_u64(row.get(9)?),
        callback: row.get(10)?,
    })
}

impl Messages for SqliteLedger {
    fn insert_message(&self, m: &MessageRow) -> Result<Removals> {
        let rcpt = serde_json::to_string(&m.rcpt_to).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            // Cached statements: the mail path runs these for every message.
            c.prepare_cached(
                "INSERT INTO messages (id, message_id, mail_from, rcpt_to, blob, size, created, expires, outcome, report, \
                 subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                m.id,
                m.message_id,
                m.mail_from,
                rcpt,
                m.blob,
                to_i64(m.size),
                to_i64(m.created),
                to_i64(m.expires),
                m.outcome.map(Outcome::as_str),
                m.report,
                m.subject
            ])
            .map(|_| None)
        })
    }

    fn finish_message(&self, id: &str, outcome: Outcome, report: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached("UPDATE messages SET outcome = ?2, report = ?3 WHERE id = ?1")?
                .execute(params![id, outcome.as_str(), report])
                .map(drop)
        })
    }

    fn message(&self, id: &str) -> Result<Option<MessageRow>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
                [id],
                message_from,
            )
            .optional()
        })
    }

    fn search_messages(&self, q: &MessageQuery) -> Result<Vec<MessageRow>> {
        let limit = q.limit.clamp(1, MAX_SEARCH_ROWS);
        self.with(|c| {
            // A NULL parameter is "any": one statement for every combination.
            let mut stmt = c.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE \
                 (?1 IS NULL OR instr(lower(mail_from), lower(?1)) > 0) \
                 AND (?2 IS NULL OR instr(lower(rcpt_to), lower(?2)) > 0) \
                 AND (?3 IS NULL OR instr(lower(COALESCE(subject, '')), lower(?3)) > 0) \
                 AND (?4 IS NULL OR instr(lower(COALESCE(message_id, '')), lower(?4)) > 0) \
                 AND (?5 IS NULL OR created >= ?5) AND (?6 IS NULL OR created < ?6) \
                 AND (?7 IS NULL OR outcome = ?7) \
                 ORDER BY created DESC, rowid DESC LIMIT ?8"
            ))?;
            let rows = stmt.query_map(
                params![
                    q.sender,
                    q.recipient,
                    q.subject,
                    q.message_id,
                    q.since.map(to_i64),
                    q.until.map(to_i64),
                    q.outcome.map(Outcome::as_str),
                    to_i64(limit as u64)
                ],
                message_from,
            )?;
            rows.collect()
        })
    }

    fn period_rows(&self, since: u64, until: u64) -> Result<PeriodRows> {
        let (since, until) = (to_i64(since), to_i64(until));
        self.with(|c| {
            let kinds = c
                .prepare(
                    "SELECT kind, COUNT(*) AS n FROM parts WHERE created >= ?1 AND created < ?2 \
                     GROUP BY kind ORDER BY n DESC, kind",
                )?
                .query_map(params![since, until], |r| Ok((kind_at(r, 0)?, to_u64(r.get(1)?))))?
                .collect::<rusqlite::Result<_>>()?;
            let reports = c
                .prepare(
                    "SELECT report FROM parts WHERE created >= ?1 AND created < ?2 AND length(report) <= ?4 \
                     ORDER BY created DESC LIMIT ?3",
                )?
                .query_map(
                    params![since, until, MAX_REPORTS_READ as i64, MAX_REPORT_READ_BYTES as i64],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let approvals = c
                .prepare(
                    "SELECT state, COUNT(*), AVG(decided - requested) FROM releases \
                     WHERE requested >= ?1 AND requested < ?2 GROUP BY state ORDER BY state",
                )?
                .query_map(params![since, until], |r| {
                    Ok((
                        ReleaseState::parse(&r.get::<_, String>(0)?),
                        to_u64(r.get(1)?),
                        r.get::<_, Option<f64>>(2)?.map(|w| w.max(0.0) as u64),
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(PeriodRows {
                kinds,
                reports,
                approvals,
            })
        })
    }

    fn message_days(&self, since: u64, until: u64) -> Result<Vec<DayCount>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT (created + 32400) / 86400 AS day, outcome, COUNT(*) FROM messages \
                 WHERE created >= ?1 AND created < ?2 GROUP BY day, outcome ORDER BY day, outcome",
            )?;
            let rows = stmt.query_map(params![to_i64(since), to_i64(until)], |r| {
                Ok(DayCount {
                    day: to_u64(r.get(0)?),
                    outcome: outcome_at(r, 1)?,
                    messages: to_u64(r.get(2)?),
                })
            })?;
            rows.collect()
        })
    }
}

// The writes naming blobs report no removal count (`None`): here the writer's look for its
// blobs after the row is one `stat`, cheaper than keeping a count.
impl Parts for SqliteLedger {
    fn insert_part(&self, p: &PartRow) -> Result<Removals> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO parts ({PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))?
            .execute(params![
                p.id,
                p.message,
                p.path,
                p.name,
                p.kind.as_str(),
                p.outcome.as_str(),
                p.reason,
                p.original_blob,
                to_i64(p.original_size),
                p.clean_blob,
                p.clean_name,
                p.report,
                to_i64(p.created),
                to_i64(p.expires)
            ])
            .map(|_| None)
        })
    }

    fn part(&self, id: &str) -> Result<Option<PartRow>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {PART_COLUMNS} FROM parts WHERE id = ?1"),
                [id],
                part_from,
            )
            .optional()
        })
    }

    fn parts_of(&self, message: &str) -> Result<Vec<PartRow>> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {PART_COLUMNS} FROM parts WHERE message = ?1 ORDER BY rowid"
            ))?;
            let rows = stmt.query_map([message], part_from)?;
            rows.collect()
        })
    }

    fn unlock_part(
        &self,
        id: &str,
        outcome: Outcome,
        clean_blob: &str,
        clean_name: Option<&str>,
        report: &str,
    ) -> Result<Removals> {
        self.with(|c| {
            c.execute(
                "UPDATE parts SET outcome = ?2, reason = NULL, clean_blob = ?3, clean_name = ?4, report = ?5 WHERE id = ?1",
                params![id, outcome.as_str(), clean_blob, clean_name, report],
            )
            .map(|_| None)
        })
    }

    fn take_unlock_try(&self, part: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>> {
        self.with(|c| take_try(c, Tries::UNLOCK, part, now, max, window))
    }

    fn clear_unlock_tries(&self, part: &str) -> Result<()> {
        self.with(|c| clear_tries(c, Tries::UNLOCK, part))
    }

    fn revoke_part(&self, part: &str, now: u64) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE parts SET expires = ?2 WHERE id = ?1 AND expires > ?2",
                params![part, to_i64(now)],
            )? == 1)
        })
    }
}

impl Reports for SqliteLedger {
    fn insert_report(&self, id: &str, created: u64, expires: u64, json: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached("INSERT INTO reports (id, created, expires, json) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![id, to_i64(created), to_i64(expires), json])
                .map(drop)
        })
    }

    fn report(&self, id: &str, now: u64) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT json FROM reports WHERE id = ?1 AND expires > ?2",
                params![id, to_i64(now)],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

impl Releases for SqliteLedger {
    fn request_release(&self, part: &str, asked: &Asked<'_>, now: u64) -> Result<ReleaseRow> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO releases (part, state, requested, requester, reason, scan) \
                 VALUES (?1, 'requested', ?2, ?3, ?4, ?5)",
                params![part, to_i64(now), asked.requester, asked.reason, asked.scan],
            )?;
            c.query_row(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE part = ?1"),
                [part],
                |r| release_from(r, 0),
            )
        })
    }

    fn release(&self, part: &str) -> Result<Option<ReleaseRow>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE part = ?1"),
                [part],
                |r| release_from(r, 0),
            )
            .optional()
        })
    }

    fn decide_release(&self, part: &str, approve: bool, by: &str, comment: Option<&str>, now: u64) -> Result<bool> {
        let state = if approve { "approved" } else { "denied" };
        self.with(|c| {
            c.execute(
                "UPDATE releases SET state = ?2, decided = ?3, decided_by = ?4, comment = ?5 \
                 WHERE part = ?1 AND state = 'requested'",
                params![part, state, to_i64(now), by, comment],
            )
            .map(|n| n == 1)
        })
    }

    fn pending_releases(&self, now: u64) -> Result<Vec<(PartRow, ReleaseRow)>> {
        self.with(|c| {
            let columns = PART_COLUMNS
                .split(", ")
                .map(|col| format!("p.{col}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = c.prepare(&format!(
                "SELECT {columns}, r.part, r.state, r.requested, r.decided, r.decided_by, r.requester, r.reason, \
                 r.comment, r.scan \
                 FROM releases r JOIN parts p ON p.id = r.part \
                 WHERE r.state = 'requested' AND p.expires > ?1 ORDER BY r.requested, r.rowid"
            ))?;
            let rows = stmt.query_map([to_i64(now)], |r| Ok((part_from(r)?, release_from(r, 14)?)))?;
            rows.collect()
        })
    }

    fn release_record(&self, part: &str) -> Result<Option<ReleaseRecord>> {
        self.with(|c| {
            let record = |r: &rusqlite::Row<'_>| {
                Ok(ReleaseRecord {
                    part: r.get(0)?,
                    message: r.get(1)?,
                    name: r.get(2)?,
                    kind: kind_at(r, 3)?,
                    original_sha256: r.get(4)?,
                    keep_until: r.get::<_, Option<i64>>(5)?.map(to_u64),
                    release: release_from(r, 6)?,
                })
            };
            let live = c
                .query_row(
                    "SELECT r.part, p.message, p.name, p.kind, p.original_blob, NULL, r.part, r.state, r.requested, \
                            r.decided, r.decided_by, r.requester, r.reason, r.comment, r.scan \
                     FROM releases r JOIN parts p ON p.id = r.part WHERE r.part = ?1",
                    [part],
                    record,
                )
                .optional()?;
            match live {
                Some(r) => Ok(Some(r)),
                None => c
                    .query_row(
                        &format!(
                            "SELECT part, message, name, kind, original_sha256, keep_until, {RELEASE_COLUMNS} \
                             FROM release_records WHERE part = ?1"
                        ),
                        [part],
                        record,
                    )
                    .optional(),
            }
        })
    }
}

impl Jobs for SqliteLedger {
    fn insert_job(&self, j: &JobRow, owner: &str, until: u64) -> Result<Removals> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO jobs ({JOB_COLUMNS}, claimed_by, claimed_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    j.id,
                    j.name,
                    j.input_blob,
                    j.outcome.map(Outcome::as_str),
                    j.report,
                    j.clean_blob,
                    j.clean_name,
                    j.media_type,
                    to_i64(j.created),
                    to_i64(j.expires),
                    j.callback,
                    owner,
                    to_i64(until)
                ],
            )
            .map(|_| None)
        })
    }

    fn finish_job(&self, id: &str, r: &JobResult<'_>) -> Result<Removals> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET outcome = ?2, report = ?3, clean_blob = ?4, clean_name = ?5, media_type = ?6 WHERE id = ?1",
                params![id, r.outcome.as_str(), r.report, r.clean_blob, r.clean_name, r.media_type],
            )
            .map(|_| None)
        })
    }

    fn job(&self, id: &str, now: u64) -> Result<Option<JobRow>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND expires > ?2"),
                params![id, to_i64(now)],
                job_from,
            )
            .optional()
        })
    }

    fn claim_jobs(&self, owner: &str, now: u64, until: u64, all: bool) -> Result<Vec<JobRow>> {
        self.with(|c| {
            // One write transaction: two processes on one file take turns.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let jobs: Vec<JobRow> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE outcome IS NULL \
                     AND (?1 OR claimed_until IS NULL OR claimed_until <= ?2) ORDER BY created, rowid"
                ))?;
                let rows = stmt.query_map(params![all, to_i64(now)], job_from)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for job in &jobs {
                tx.execute(
                    "UPDATE jobs SET claimed_by = ?2, claimed_until = ?3 WHERE id = ?1",
                    params![job.id, owner, to_i64(until)],
                )?;
            }
            tx.commit()?;
            Ok(jobs)
        })
    }

    fn renew_jobs(&self, owner: &str, ids: &[String], until: u64) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut renewed = 0;
            for id in ids {
                renewed += tx.execute(
                    "UPDATE jobs SET claimed_until = ?3 WHERE id = ?1 AND claimed_by = ?2 AND outcome IS NULL",
                    params![id, owner, to_i64(until)],
                )?;
            }
            tx.commit()?;
            Ok(renewed)
        })
    }
}

/// Take one try of `key` from the counter table `t` (see [`Tries`]): `Ok(left)`, or
/// `Err(seconds)` until the window ends when `max` were taken within it.
fn take_try(
    c: &mut Connection,
    t: Tries,
    key: &str,
    now: u64,
    max: u32,
    window: u64,
) -> rusqlite::Result<std::result::Result<u32, u64>> {
    // One transaction: parallel requests for one key take tries one after another.
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let row: Option<(i64, i64)> = tx
        .query_row(
            &format!("SELECT tries, since FROM {} WHERE {} = ?1", t.table, t.key),
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (tries, since) = match row {
        Some((tries, since)) if now < to_u64(since).saturating_add(window) => (to_u64(tries), to_u64(since)),
        _ => (0, now),
    };
    if tries >= u64::from(max) {
        return Ok(Err(since.saturating_add(window).saturating_sub(now).max(1)));
    }
    tx.execute(
        &format!(
            "INSERT INTO {table} ({key}, tries, since) VALUES (?1, ?2, ?3) \
             ON CONFLICT({key}) DO UPDATE SET tries = excluded.tries, since = excluded.since",
            table = t.table,
            key = t.key
        ),
        params![key, to_i64(tries + 1), to_i64(since)],
    )?;
    tx.commit()?;
    Ok(Ok(u32::try_from(u64::from(max) - tries - 1).unwrap_or(0)))
}

fn clear_tries(c: &mut Connection, t: Tries, key: &str) -> rusqlite::Result<()> {
    c.execute(&format!("DELETE FROM {} WHERE {} = ?1", t.table, t.key), [key])?;
    Ok(())
}

impl Sessions for SqliteLedger {
    fn insert_session(&self, row: &SessionRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (id, person, source, grants, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    row.id,
                    row.person,
                    row.source,
                    row.grants.join("\n"),
                    to_i64(row.created),
                    to_i64(row.expires)
                ],
            )
            .map(drop)
        })
    }

    fn session(&self, id: &str, now: u64) -> Result<Option<SessionRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, person, source, grants, created, expires FROM sessions WHERE id = ?1 AND expires > ?2",
                params![id, to_i64(now)],
                |r| {
                    Ok(SessionRow {
                        id: r.get(0)?,
                        person: r.get(1)?,
                        source: r.get(2)?,
                        grants: split_grants(&r.get::<_, String>(3)?),
                        created: to_u64(r.get(4)?),
                        expires: to_u64(r.get(5)?),
                    })
                },
            )
            .optional()
        })
    }

    fn end_session(&self, id: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM sessions WHERE id = ?1", [id])? > 0))
    }

    fn take_signin_try(&self, who: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>> {
        self.with(|c| take_try(c, Tries::SIGN_IN, who, now, max, window))
    }

    fn clear_signin_tries(&self, who: &str) -> Result<()> {
        self.with(|c| clear_tries(c, Tries::SIGN_IN, who))
    }

    fn take_carry_quota(
        &self,
        who: &str,
        day: u64,
        use_: (u64, u64),
        max: (u64, u64),
    ) -> Result<std::result::Result<(), (u64, u64)>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let used: (i64, i64) = tx
                .query_row(
                    "SELECT files, bytes FROM carry_quota WHERE who = ?1 AND day = ?2",
                    params![who, to_i64(day)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0, 0));
            let used = (to_u64(used.0), to_u64(used.1));
            if used.0.saturating_add(use_.0) > max.0 || used.1.saturating_add(use_.1) > max.1 {
                return Ok(Err(used));
            }
            tx.execute(
                "INSERT INTO carry_quota (who, day, files, bytes) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(who, day) DO UPDATE SET files = files + excluded.files, bytes = bytes + excluded.bytes",
                params![who, to_i64(day), to_i64(use_.0), to_i64(use_.1)],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
    }

    fn give_back_carry_quota(&self, who: &str, day: u64, use_: (u64, u64)) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE carry_quota SET files = MAX(files - ?3, 0), bytes = MAX(bytes - ?4, 0) \
                 WHERE who = ?1 AND day = ?2",
                params![who, to_i64(day), to_i64(use_.0), to_i64(use_.1)],
            )?;
            Ok(())
        })
    }
}

impl Ledger for SqliteLedger {
    fn purge(&self, now: u64, record_retention: u64) -> Result<Purged> {
        self.with(|c| {
            let tx = c.transaction()?;
            let now = to_i64(now);
            // The request and decision outlive the original (監査: who released what).
            tx.execute(
                "INSERT OR REPLACE INTO release_records \
                 (part, message, name, kind, original_sha256, state, requested, decided, decided_by, requester, reason, \
                  comment, scan, keep_until) \
                 SELECT r.part, p.message, p.name, p.kind, p.original_blob, r.state, r.requested, r.decided, \
                        r.decided_by, r.requester, r.reason, r.comment, r.scan, COALESCE(r.decided, r.requested) + ?2 \
                 FROM releases r JOIN parts p ON p.id = r.part \
                 WHERE p.expires <= ?1 OR p.message IN (SELECT id FROM messages WHERE expires <= ?1)",
                params![now, to_i64(record_retention)],
            )?;
            let records = tx.execute("DELETE FROM release_records WHERE keep_until <= ?1", [now])?;
            let mut candidates: Vec<String> = Vec::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT original_blob, clean_blob FROM parts WHERE expires <= ?1 \
                     OR message IN (SELECT id FROM messages WHERE expires <= ?1)",
                )?;
                let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
                for row in rows {
                    let (original, clean) = row?;
                    candidates.push(original);
                    candidates.extend(clean);
                }
                let mut stmt = tx.prepare("SELECT blob FROM messages WHERE expires <= ?1")?;
                let rows = stmt.query_map([now], |r| r.get::<_, String>(0))?;
                for row in rows {
                    candidates.push(row?);
                }
                let mut stmt = tx.prepare("SELECT input_blob, clean_blob FROM jobs WHERE expires <= ?1")?;
                let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
                for row in rows {
                    let (input, clean) = row?;
                    candidates.push(input);
                    candidates.extend(clean);
                }
            }
            let parts = tx.execute(
                "DELETE FROM parts WHERE expires <= ?1 OR message IN (SELECT id FROM messages WHERE expires <= ?1)",
                [now],
            )?;
            let messages = tx.execute("DELETE FROM messages WHERE expires <= ?1", [now])?;
            tx.execute("DELETE FROM reports WHERE expires <= ?1", [now])?;
            tx.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
            tx.execute(
                "DELETE FROM signin_tries WHERE since <= ?1",
                [now.saturating_sub(86_400)],
            )?;
            tx.execute("DELETE FROM carry_quota WHERE day < ?1", [now / 86_400 - 1])?;
            tx.execute("DELETE FROM jobs WHERE expires <= ?1", [now])?;
            candidates.sort();
            candidates.dedup();
            let mut orphans = Vec::new();
            for blob in candidates {
                if !named(&tx, &blob)? {
                    orphans.push(blob);
                }
            }
            tx.commit()?;
            Ok(Purged {
                messages,
                parts,
                records,
                orphans,
            })
        })
    }

    fn remove_unnamed(
        &self,
        blobs: &[String],
        remove: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for batch in blobs.chunks(REMOVE_BATCH) {
            let mut failed = None;
            // An immediate transaction holds SQLite's write lock from the first look to the
            // last removal: a row naming one of these, from this process or another, is
            // written before (and seen) or after (and its writer puts the blob again).
            self.with(|c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                for blob in batch {
                    if named(&tx, blob)? {
                        continue;
                    }
                    match remove(blob) {
                        Ok(()) => removed.push(blob.clone()),
                        Err(e) => {
                            failed = Some(format!("removing blob {blob}: {e}"));
                            break;
                        }
                    }
                }
                tx.commit()
            })?;
            if let Some(message) = failed {
                return Err(LedgerError {
                    backend: "sqlite",
                    message,
                });
            }
        }
        Ok(removed)
    }
}

/// Whether a row (message, part, job) names `blob`.
fn named(tx: &rusqlite::Transaction<'_>, blob: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM parts WHERE original_blob = ?1 OR clean_blob = ?1) \
             OR EXISTS (SELECT 1 FROM messages WHERE blob = ?1) \
             OR EXISTS (SELECT 1 FROM jobs WHERE input_blob = ?1 OR clean_blob = ?1)",
        [blob],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_from_before_job_leases_gets_their_columns_and_keeps_its_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT, input_blob TEXT NOT NULL, outcome TEXT, report TEXT, \
             clean_blob TEXT, clean_name TEXT, media_type TEXT, created INTEGER NOT NULL, expires INTEGER NOT NULL); \
             INSERT INTO jobs (id, input_blob, created, expires) VALUES ('j', 'in', 1, 99);",
        )
        .unwrap();
        drop(old);
        let ledger = SqliteLedger::open(&path).unwrap();
        let taken = ledger.claim_jobs("me", 2, 600, true).unwrap();
        assert_eq!(taken.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["j"]);
        drop(ledger);
        // Opened again: the columns are there, nothing is added twice.
        SqliteLedger::open(&path).unwrap();
    }

    #[test]
    fn a_kind_or_outcome_this_version_does_not_know_reads_as_unknown_and_error() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("l.sqlite")).unwrap();
        let message = MessageRow {
            id: "m".into(),
            message_id: None,
            mail_from: String::new(),
            rcpt_to: Vec::new(),
            blob: "b".into(),
            size: 1,
            created: 0,
            expires: 9,
            outcome: None,
            report: None,
            subject: None,
        };
        ledger.insert_message(&message).unwrap();
        ledger
            .with(|c| {
                c.execute(
                    "INSERT INTO parts (id, message, path, kind, outcome, original_blob, original_size, report, created, expires) \
                     VALUES ('p', 'm', '1', 'hologram', 'fine', 'b', 1, '{}', 0, 9)",
                    [],
                )
            })
            .unwrap();
        let part = ledger.part("p").unwrap().unwrap();
        assert_eq!((part.kind, part.outcome), (FileKind::Unknown, Outcome::Error));
    }
}
