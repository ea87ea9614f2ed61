//! The shared ledger of scale-out: PostgreSQL behind the repository traits of `ledger.rs`,
//! the same rows and rules as the embedded SQLite ledger (`tests/store_conformance.rs` runs one
//! suite against both). The only file that knows tokio-postgres.
//!
//! The repository calls are blocking; tokio-postgres is asynchronous, so each call runs on
//! the store's own runtime ([`super::bridge`]) and waits for the answer, from any thread.
//! Several connections, one taken per call, so one slow query does not hold up the mail
//! path.
//!
//! Versioned schema: `schema_version` holds the version applied; [`PgLedger::connect`]
//! applies what is missing, in one transaction each, under an advisory lock (two instances
//! starting at once migrate once), and refuses a database newer than this binary.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

use super::bridge::Bridge;
use super::ledger::*;
use crate::kind::FileKind;
use crate::report::Outcome;

/// Migrations, in order; version N is `MIGRATIONS[N - 1]`. Never edit one that shipped: add.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    message_id TEXT,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    outcome TEXT,
    report TEXT
);
CREATE TABLE parts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    message TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    name TEXT,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    original_blob TEXT NOT NULL,
    original_size BIGINT NOT NULL,
    clean_blob TEXT,
    clean_name TEXT,
    report TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX messages_expires ON messages(expires);
CREATE INDEX messages_blob ON messages(blob);
CREATE INDEX parts_expires ON parts(expires);
CREATE INDEX parts_message ON parts(message, seq);
CREATE INDEX parts_original ON parts(original_blob);
CREATE INDEX parts_clean ON parts(clean_blob);
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX reports_expires ON reports(expires);
CREATE TABLE releases (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    part TEXT PRIMARY KEY REFERENCES parts(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    requested BIGINT NOT NULL,
    decided BIGINT,
    decided_by TEXT
);
CREATE TABLE release_records (
    part TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    name TEXT,
    kind TEXT NOT NULL,
    original_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    requested BIGINT NOT NULL,
    decided BIGINT,
    decided_by TEXT,
    keep_until BIGINT NOT NULL
);
CREATE TABLE jobs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    name TEXT,
    input_blob TEXT NOT NULL,
    outcome TEXT,
    report TEXT,
    clean_blob TEXT,
    clean_name TEXT,
    media_type TEXT,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX jobs_expires ON jobs(expires);
CREATE INDEX jobs_input ON jobs(input_blob);
CREATE INDEX jobs_clean ON jobs(clean_blob);
CREATE TABLE unlock_tries (
    part TEXT PRIMARY KEY REFERENCES parts(id) ON DELETE CASCADE,
    tries BIGINT NOT NULL,
    since BIGINT NOT NULL
);
",
    "
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN claimed_until BIGINT;
CREATE INDEX jobs_unfinished ON jobs(created, seq) WHERE outcome IS NULL;
",
    "
CREATE TABLE blob_removals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rounds BIGINT NOT NULL
);
INSERT INTO blob_removals VALUES (1, 0);
",
    "
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    source TEXT NOT NULL,
    grants TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires);
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE jobs ADD COLUMN callback TEXT;
CREATE INDEX messages_created ON messages(created);
ALTER TABLE releases ADD COLUMN requester TEXT, ADD COLUMN reason TEXT, ADD COLUMN comment TEXT,
    ADD COLUMN scan TEXT;
ALTER TABLE release_records ADD COLUMN requester TEXT, ADD COLUMN reason TEXT, ADD COLUMN comment TEXT,
    ADD COLUMN scan TEXT;
CREATE TABLE signin_tries (
    who TEXT PRIMARY KEY,
    tries BIGINT NOT NULL,
    since BIGINT NOT NULL
);
",
    "
CREATE TABLE carry_quota (
    who TEXT NOT NULL,
    day BIGINT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (who, day)
);
",
];

/// Advisory lock keys (any two constants of ours): migrations, and the retention purge.
const MIGRATE_LOCK: i64 = 0x6d75_6761_6901;
const PURGE_LOCK: i64 = 0x6d75_6761_6902;

/// Per-blob advisory locks, in the two-key space (apart from the keys above): a writer
/// naming blobs in a row holds theirs shared until the row is committed; the purge holds
/// them exclusively from its last look for rows naming them until the blobs are gone. So a
/// row is either seen by that look or written after the removal, and its writer then puts
/// the blob again (`Store::named`).
const BLOB_LOCKS: i32 = 0x6d75;

/// The lock keys of `blobs`, sorted (two purges lock in one order) and without repeats.
fn blob_keys<'a>(blobs: impl IntoIterator<Item = &'a str>) -> Vec<i32> {
    let mut keys: Vec<i32> = blobs
        .into_iter()
        .map(|b| {
            // A content address is hex: its first 32 bits are as good a key as any; two
            // blobs on one key only wait for each other.
            let key = b.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok());
            key.unwrap_or_else(|| {
                b.bytes()
                    .fold(0x811c_9dc5_u32, |h, c| (h ^ u32::from(c)).wrapping_mul(0x0100_0193))
            }) as i32
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// One connection, its driver running on the current runtime until the server closes it.
async fn open<T>(config: &tokio_postgres::Config, tls: T) -> Result<Client>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let (client, connection) = config.connect(tls).await.map_err(pg)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "ledger connection ended");
        }
    });
    Ok(client)
}

/// Write a row naming blobs: `statement` (an INSERT or UPDATE) in a transaction that first
/// holds the blobs' locks (`keys`) shared, so a purge removing one of them either finished
/// before or waits until this row is committed and then sees it. Returns the count of
/// blob-removal rounds, read after the locks were taken (none when the statement matched no
/// row).
async fn write_naming(
    c: &mut Client,
    keys: &[i32],
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> std::result::Result<Removals, tokio_postgres::Error> {
    let tx = c.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock_shared($1, k) FROM unnest($2::INT4[]) AS k",
        &[&BLOB_LOCKS, &keys],
    )
    .await?;
    let rows = tx
        .query(
            &format!("{statement} RETURNING (SELECT rounds FROM blob_removals)"),
            params,
        )
        .await?;
    tx.commit().await?;
    Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)).map(to_u64))
}

fn pg(e: tokio_postgres::Error) -> LedgerError {
    // The driver's own text is only "db error" for what the server said: its message and
    // SQLSTATE are what an operator needs. Neither carries the password.
    let message = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    };
    LedgerError {
        backend: "postgres",
        message,
    }
}

fn failed(message: impl Into<String>) -> LedgerError {
    LedgerError {
        backend: "postgres",
        message: message.into(),
    }
}

fn stopped() -> LedgerError {
    failed("the ledger's runtime stopped")
}

type Call<'c, T> = Pin<Box<dyn Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send + 'c>>;

/// The ledger in PostgreSQL.
pub struct PgLedger {
    bridge: Bridge,
    clients: Vec<Arc<Mutex<Client>>>,
    next: AtomicUsize,
}

impl PgLedger {
    /// Connect `connections` clients with a libpq-style configuration (`host=… port=…
    /// user=… dbname=…` or a `postgresql://` URL), then bring the schema up to date. TLS as
    /// [`PgLedger::connect_tls`] without a CA file.
    pub fn connect(config: &str, connections: usize) -> Result<Self> {
        PgLedger::connect_tls(config, connections, None)
    }

    /// As [`PgLedger::connect`], with TLS when `ca_file` is given (required, and verified
    /// against its authorities) or the configuration says `sslmode=require` (verified against
    /// the system's); otherwise in the clear (`sslmode=prefer`, the default, never tries a
    /// session it could not verify). See `postgres_tls`.
    pub fn connect_tls(config: &str, connections: usize, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let mut config: tokio_postgres::Config = config.parse().map_err(pg)?;
        // A server that does not answer fails the start (and `/readyz`) in bounded time,
        // unless the URL says otherwise.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        let tls = if ca_file.is_some() || config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = super::postgres_tls::Verifying::new(ca_file).map_err(|e| failed(format!("TLS: {e}")))?;
            Some(tls)
        } else {
            None
        };
        let bridge = Bridge::new("mugai-postgres").map_err(|e| failed(format!("the ledger's runtime: {e}")))?;
        let clients = bridge
            .wait_for(async move {
                let mut clients = Vec::new();
                for _ in 0..connections.max(1) {
                    let client = match &tls {
                        Some(tls) => open(&config, tls.clone()).await?,
                        None => open(&config, NoTls).await?,
                    };
                    clients.push(Arc::new(Mutex::new(client)));
                }
                Ok::<_, LedgerError>(clients)
            })
            .map_err(|_| stopped())??;
        let ledger = PgLedger {
            bridge,
            clients,
            next: AtomicUsize::new(0),
        };
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Apply the migrations the database lacks; refuse one newer than this binary.
    fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let applied = self.call(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK]).await?;
                tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
                    .await?;
                let row = tx.query_opt("SELECT max(version) FROM schema_version", &[]).await?;
                let mut version: i64 = row.and_then(|r| r.get::<_, Option<i64>>(0)).unwrap_or(0);
                if version > known {
                    return Ok(Err(version));
                }
                while version < known {
                    tx.batch_execute(MIGRATIONS[version as usize]).await?;
                    version += 1;
                    tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&version])
                        .await?;
                }
                tx.commit().await?;
                Ok(Ok(version))
            })
        })?;
        match applied {
            Ok(_) => Ok(()),
            Err(newer) => Err(failed(format!(
                "the database's schema is version {newer}, newer than this binary's {known}: upgrade mugai"
            ))),
        }
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64> {
        self.call(|c| {
            Box::pin(async move {
                let row = c.query_one("SELECT max(version) FROM schema_version", &[]).await?;
                Ok(row.get::<_, Option<i64>>(0).unwrap_or(0))
            })
        })
    }

    /// The next connection, in turn.
    fn client(&self) -> Arc<Mutex<Client>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }

    /// Run `f` with one of the clients on the ledger's runtime and wait for its answer.
    fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Client) -> Call<'c, T> + Send + 'static,
    {
        let client = self.client();
        self.bridge
            .wait_for(async move {
                let mut client = client.lock().await;
                f(&mut client).await
            })
            .map_err(|_| stopped())?
            .map_err(pg)
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Kinds and outcomes are stored by their report names; a name this version does not know
/// reads as `unknown` and `error`, as in the embedded ledger.
fn kind_at(row: &Row, at: usize) -> FileKind {
    FileKind::from_name(&row.get::<_, String>(at)).unwrap_or(FileKind::Unknown)
}

fn outcome_at(row: &Row, at: usize) -> Option<Outcome> {
    row.get::<_, Option<String>>(at)
        .map(|o| Outcome::parse(&o).unwrap_or(Outcome::Error))
}

const MESSAGE_COLUMNS: &str =
    "id, message_id, mail_from, rcpt_to, blob, size, created, expires, outcome, report, subject";

fn message_from(row: &Row) -> MessageRow {
    MessageRow {
        id: row.get(0),
        message_id: row.get(1),
        mail_from: row.get(2),
        rcpt_to: serde_json::from_str(row.get::<_, &str>(3)).unwrap_or_default(),
        blob: row.get(4),
        size: to_u64(row.get(5)),
        created: to_u64(row.get(6)),
        expires: to_u64(row.get(7)),
        outcome: outcome_at(row, 8),
        report: row.get(9),
        subject: row.get(10),
    }
}

const PART_COLUMNS: &str = "id, message, path, name, kind, outcome, reason, original_blob, original_size, \
                            clean_blob, clean_name, report, created, expires";

fn part_from(row: &Row) -> PartRow {
    PartRow {
        id: row.get(0),
        message: row.get(1),
        path: row.get(2),
        name: row.get(3),
        kind: kind_at(row, 4),
        outcome: outcome_at(row, 5).unwrap_or(Outcome::Error),
        reason: row.get(6),
        original_blob: row.get(7),
        original_size: to_u64(row.get(8)),
        clean_blob: row.get(9),
        clean_name: row.get(10),
        report: row.get(11),
        created: to_u64(row.get(12)),
        expires: to_u64(row.get(13)),
    }
}

const RELEASE_COLUMNS: &str = "part, state, requested, decided, decided_by, requester, reason, comment, scan";

fn release_from(row: &Row, at: usize) -> ReleaseRow {
    ReleaseRow {
        part: row.get(at),
        state: ReleaseState::parse(row.get::<_, &str>(at + 1)),
        requested: to_u64(row.get(at + 2)),
        decided: row.get::<_, Option<i64>>(at + 3).map(to_u64),
        decided_by: row.get(at + 4),
        requester: row.get(at + 5),
        reason: row.get(at + 6),
        comment: row.get(at + 7),
        scan: row.get(at + 8),
    }
}

const JOB_COLUMNS: &str =
    "id, name, input_blob, outcome, report, clean_blob, clean_name, media_type, created, expires, callback";

fn job_from(row: &Row) -> JobRow {
    JobRow {
        id: row.get(0),
        name: row.get(1),
        input_blob: row.get(2),
        outcome: outcome_at(row, 3),
        report: row.get(4),
        clean_blob: row.get(5),
        clean_name: row.get(6),
        media_type: row.get(7),
        created: to_u64(row.get(8)),
        expires: to_u64(row.get(9)),
        callback: row.get(10),
    }
}

impl Messages for PgLedger {
    fn insert_message(&self, m: &MessageRow) -> Result<Removals> {
        let m = m.clone();
        let rcpt = serde_json::to_string(&m.rcpt_to).unwrap_or_else(|_| "[]".into());
        let keys = blob_keys([m.blob.as_str()]);
        self.call(move |c| {
            Box::pin(async move {
                write_naming(
                    c,
                    &keys,
                    &format!(
                        "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    ),
                    &[
                        &m.id,
                        &m.message_id,
                        &m.mail_from,
                        &rcpt,
                        &m.blob,
                        &to_i64(m.size),
                        &to_i64(m.created),
                        &to_i64(m.expires),
                        &m.outcome.map(Outcome::as_str),
                        &m.report,
                        &m.subject,
                    ],
                )
                .await
            })
        })
    }

    fn finish_message(&self, id: &str, outcome: Outcome, report: &str) -> Result<()> {
        let (id, report) = (id.to_owned(), report.to_owned());
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE messages SET outcome = $2, report = $3 WHERE id = $1",
                    &[&id, &outcome.as_str(), &report],
                )
                .await
                .map(drop)
            })
        })
    }

    fn message(&self, id: &str) -> Result<Option<MessageRow>> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"), &[&id])
                    .await?;
                Ok(row.as_ref().map(message_from))
            })
        })
    }

    fn search_messages(&self, q: &MessageQuery) -> Result<Vec<MessageRow>> {
        let q = q.clone();
        let limit = to_i64(q.limit.clamp(1, MAX_SEARCH_ROWS) as u64);
        self.call(move |c| {
            Box::pin(async move {
                // A NULL parameter is "any": one statement for every combination.
                let rows = c
                    .query(
                        &format!(
                            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE \
                             ($1::TEXT IS NULL OR strpos(lower(mail_from), lower($1)) > 0) \
                             AND ($2::TEXT IS NULL OR strpos(lower(rcpt_to), lower($2)) > 0) \
                             AND ($3::TEXT IS NULL OR strpos(lower(COALESCE(subject, '')), lower($3)) > 0) \
                             AND ($4::TEXT IS NULL OR strpos(lower(COALESCE(message_id, '')), lower($4)) > 0) \
                             AND ($5::BIGINT IS NULL OR created >= $5) AND ($6::BIGINT IS NULL OR created < $6) \
                             AND ($7::TEXT IS NULL OR outcome = $7) \
                             ORDER BY created DESC, id DESC LIMIT $8"
                        ),
                        &[
                            &q.sender,
                            &q.recipient,
                            &q.subject,
                            &q.message_id,
                            &q.since.map(to_i64),
                            &q.until.map(to_i64),
                            &q.outcome.map(Outcome::as_str),
                            &limit,
                        ],
                    )
                    .await?;
                Ok(rows.iter().map(message_from).collect())
            })
        })
    }

    fn period_rows(&self, since: u64, until: u64) -> Result<PeriodRows> {
        let (since, until) = (to_i64(since), to_i64(until));
        self.call(move |c| {
            Box::pin(async move {
                let kinds = c
                    .query(
                        "SELECT kind, COUNT(*) AS n FROM parts WHERE created >= $1 AND created < $2 \
                         GROUP BY kind ORDER BY n DESC, kind",
                        &[&since, &until],
                    )
                    .await?
                    .iter()
                    .map(|r| (kind_at(r, 0), to_u64(r.get(1))))
                    .collect();
                let reports = c
                    .query(
                        "SELECT report FROM parts WHERE created >= $1 AND created < $2 \
                         AND octet_length(report) <= $4::BIGINT ORDER BY created DESC LIMIT $3",
                        &[
                            &since,
                            &until,
                            &(MAX_REPORTS_READ as i64),
                            &(MAX_REPORT_READ_BYTES as i64),
                        ],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let approvals = c
                    .query(
                        "SELECT state, COUNT(*), AVG(decided - requested)::FLOAT8 FROM releases \
                         WHERE requested >= $1 AND requested < $2 GROUP BY state ORDER BY state",
                        &[&since, &until],
                    )
                    .await?
                    .iter()
                    .map(|r| {
                        (
                            ReleaseState::parse(r.get::<_, &str>(0)),
                            to_u64(r.get(1)),
                            r.get::<_, Option<f64>>(2).map(|w| w.max(0.0) as u64),
                        )
                    })
                    .collect();
                Ok(PeriodRows {
                    kinds,
                    reports,
                    approvals,
                })
            })
        })
    }

    fn message_days(&self, since: u64, until: u64) -> Result<Vec<DayCount>> {
        self.call(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT (created + 32400) / 86400 AS day, outcome, COUNT(*) FROM messages \
                         WHERE created >= $1 AND created < $2 GROUP BY day, outcome ORDER BY day, outcome",
                        &[&to_i64(since), &to_i64(until)],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| DayCount {
                        day: to_u64(r.get(0)),
                        outcome: outcome_at(r, 1),
                        messages: to_u64(r.get(2)),
                    })
                    .collect())
            })
        })
    }
}

impl Parts for PgLedger {
    fn insert_part(&self, p: &PartRow) -> Result<Removals> {
        let p = p.clone();
        let keys = blob_keys(std::iter::once(p.original_blob.as_str()).chain(p.clean_blob.as_deref()));
        self.call(move |c| {
            Box::pin(async move {
                write_naming(
                    c,
                    &keys,
                    &format!(
                        "INSERT INTO parts ({PART_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    ),
                    &[
                        &p.id,
                        &p.message,
                        &p.path,
                        &p.name,
                        &p.kind.as_str(),
                        &p.outcome.as_str(),
                        &p.reason,
                        &p.original_blob,
                        &to_i64(p.original_size),
                        &p.clean_blob,
                        &p.clean_name,
                        &p.report,
                        &to_i64(p.created),
                        &to_i64(p.expires),
                    ],
                )
                .await
            })
        })
    }

    fn part(&self, id: &str) -> Result<Option<PartRow>> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(&format!("SELECT {PART_COLUMNS} FROM parts WHERE id = $1"), &[&id])
                    .await?;
                Ok(row.as_ref().map(part_from))
            })
        })
    }

    fn parts_of(&self, message: &str) -> Result<Vec<PartRow>> {
        let message = message.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!("SELECT {PART_COLUMNS} FROM parts WHERE message = $1 ORDER BY seq"),
                        &[&message],
                    )
                    .await?;
                Ok(rows.iter().map(part_from).collect())
            })
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
        let (id, clean_blob, report) = (id.to_owned(), clean_blob.to_owned(), report.to_owned());
        let clean_name = clean_name.map(str::to_owned);
        let keys = blob_keys([clean_blob.as_str()]);
        self.call(move |c| {
            Box::pin(async move {
                write_naming(
                    c,
                    &keys,
                    "UPDATE parts SET outcome = $2, reason = NULL, clean_blob = $3, clean_name = $4, report = $5 \
                     WHERE id = $1",
                    &[&id, &outcome.as_str(), &clean_blob, &clean_name, &report],
                )
                .await
            })
        })
    }

    fn take_unlock_try(&self, part: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>> {
        self.take_try(Tries::UNLOCK, part, now, max, window)
    }

    fn clear_unlock_tries(&self, part: &str) -> Result<()> {
        self.clear_tries(Tries::UNLOCK, part)
    }

    fn revoke_part(&self, part: &str, now: u64) -> Result<bool> {
        let part = part.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE parts SET expires = $2 WHERE id = $1 AND expires > $2",
                        &[&part, &to_i64(now)],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }
}

impl Reports for PgLedger {
    fn insert_report(&self, id: &str, created: u64, expires: u64, json: &str) -> Result<()> {
        let (id, json) = (id.to_owned(), json.to_owned());
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO reports (id, created, expires, json) VALUES ($1, $2, $3, $4)",
                    &[&id, &to_i64(created), &to_i64(expires), &json],
                )
                .await
                .map(drop)
            })
        })
    }

    fn report(&self, id: &str, now: u64) -> Result<Option<String>> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT json FROM reports WHERE id = $1 AND expires > $2",
                        &[&id, &to_i64(now)],
                    )
                    .await?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }
}

impl Releases for PgLedger {
    fn request_release(&self, part: &str, asked: &Asked<'_>, now: u64) -> Result<ReleaseRow> {
        let part = part.to_owned();
        let (requester, reason, scan) = (
            asked.requester.map(str::to_owned),
            asked.reason.map(str::to_owned),
            asked.scan.map(str::to_owned),
        );
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO releases (part, state, requested, requester, reason, scan) \
                     VALUES ($1, 'requested', $2, $3, $4, $5) ON CONFLICT (part) DO NOTHING",
                    &[&part, &to_i64(now), &requester, &reason, &scan],
                )
                .await?;
                let row = c
                    .query_one(
                        &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE part = $1"),
                        &[&part],
                    )
                    .await?;
                Ok(release_from(&row, 0))
            })
        })
    }

    fn release(&self, part: &str) -> Result<Option<ReleaseRow>> {
        let part = part.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE part = $1"),
                        &[&part],
                    )
                    .await?;
                Ok(row.map(|r| release_from(&r, 0)))
            })
        })
    }

    fn decide_release(&self, part: &str, approve: bool, by: &str, comment: Option<&str>, now: u64) -> Result<bool> {
        let (part, by, comment) = (part.to_owned(), by.to_owned(), comment.map(str::to_owned));
        let state = if approve { "approved" } else { "denied" };
        self.call(move |c| {
            Box::pin(async move {
                // One statement: of two approvers deciding at once on two instances, one wins.
                let n = c
                    .execute(
                        "UPDATE releases SET state = $2, decided = $3, decided_by = $4, comment = $5 \
                         WHERE part = $1 AND state = 'requested'",
                        &[&part, &state, &to_i64(now), &by, &comment],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }

    fn pending_releases(&self, now: u64) -> Result<Vec<(PartRow, ReleaseRow)>> {
        let columns = PART_COLUMNS
            .split(", ")
            .map(|col| format!("p.{col}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.call(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {columns}, r.part, r.state, r.requested, r.decided, r.decided_by, r.requester, \
                             r.reason, r.comment, r.scan \
                             FROM releases r JOIN parts p ON p.id = r.part \
                             WHERE r.state = 'requested' AND p.expires > $1 ORDER BY r.requested, r.seq"
                        ),
                        &[&to_i64(now)],
                    )
                    .await?;
                Ok(rows.iter().map(|r| (part_from(r), release_from(r, 14))).collect())
            })
        })
    }

    fn release_record(&self, part: &str) -> Result<Option<ReleaseRecord>> {
        let part = part.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let record = |r: &Row| ReleaseRecord {
                    part: r.get(0),
                    message: r.get(1),
                    name: r.get(2),
                    kind: kind_at(r, 3),
                    original_sha256: r.get(4),
                    keep_until: r.get::<_, Option<i64>>(5).map(to_u64),
                    release: release_from(r, 6),
                };
                let live = c
                    .query_opt(
                        "SELECT r.part, p.message, p.name, p.kind, p.original_blob, NULL::BIGINT, r.part, r.state, \
                                r.requested, r.decided, r.decided_by, r.requester, r.reason, r.comment, r.scan \
                         FROM releases r JOIN parts p ON p.id = r.part WHERE r.part = $1",
                        &[&part],
                    )
                    .await?;
                if let Some(row) = live {
                    return Ok(Some(record(&row)));
                }
                let kept = c
                    .query_opt(
                        &format!(
                            "SELECT part, message, name, kind, original_sha256, keep_until, {RELEASE_COLUMNS} \
                             FROM release_records WHERE part = $1"
                        ),
                        &[&part],
                    )
                    .await?;
                Ok(kept.as_ref().map(record))
            })
        })
    }
}

impl Jobs for PgLedger {
    fn insert_job(&self, j: &JobRow, owner: &str, until: u64) -> Result<Removals> {
        let j = j.clone();
        let owner = owner.to_owned();
        let keys = blob_keys(std::iter::once(j.input_blob.as_str()).chain(j.clean_blob.as_deref()));
        self.call(move |c| {
            Box::pin(async move {
                write_naming(
                    c,
                    &keys,
                    &format!(
                        "INSERT INTO jobs ({JOB_COLUMNS}, claimed_by, claimed_until) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                    ),
                    &[
                        &j.id,
                        &j.name,
                        &j.input_blob,
                        &j.outcome.map(Outcome::as_str),
                        &j.report,
                        &j.clean_blob,
                        &j.clean_name,
                        &j.media_type,
                        &to_i64(j.created),
                        &to_i64(j.expires),
                        &j.callback,
                        &owner,
                        &to_i64(until),
                    ],
                )
                .await
            })
        })
    }

    fn finish_job(&self, id: &str, r: &JobResult<'_>) -> Result<Removals> {
        let id = id.to_owned();
        let (outcome, report) = (r.outcome, r.report.to_owned());
        let (clean_blob, clean_name, media_type) = (
            r.clean_blob.map(str::to_owned),
            r.clean_name.map(str::to_owned),
            r.media_type.map(str::to_owned),
        );
        let keys = blob_keys(clean_blob.as_deref());
        self.call(move |c| {
            Box::pin(async move {
                write_naming(
                    c,
                    &keys,
                    "UPDATE jobs SET outcome = $2, report = $3, clean_blob = $4, clean_name = $5, media_type = $6 \
                     WHERE id = $1",
                    &[&id, &outcome.as_str(), &report, &clean_blob, &clean_name, &media_type],
                )
                .await
            })
        })
    }

    fn job(&self, id: &str, now: u64) -> Result<Option<JobRow>> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND expires > $2"),
                        &[&id, &to_i64(now)],
                    )
                    .await?;
                Ok(row.as_ref().map(job_from))
            })
        })
    }

    fn claim_jobs(&self, owner: &str, now: u64, until: u64, all: bool) -> Result<Vec<JobRow>> {
        let owner = owner.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                // SKIP LOCKED: instances sweeping at once each take different jobs, none waits.
                let rows = c
                    .query(
                        &format!(
                            "UPDATE jobs SET claimed_by = $1, claimed_until = $3 WHERE id IN \
                             (SELECT id FROM jobs WHERE outcome IS NULL \
                              AND ($4 OR claimed_until IS NULL OR claimed_until <= $2) \
                              ORDER BY created, seq FOR UPDATE SKIP LOCKED) \
                             RETURNING {JOB_COLUMNS}, seq"
                        ),
                        &[&owner, &to_i64(now), &to_i64(until), &all],
                    )
                    .await?;
                let mut jobs: Vec<(i64, JobRow)> = rows.iter().map(|r| (r.get(11), job_from(r))).collect();
                jobs.sort_by_key(|(seq, job)| (job.created, *seq));
                Ok(jobs.into_iter().map(|(_, job)| job).collect())
            })
        })
    }

    fn renew_jobs(&self, owner: &str, ids: &[String], until: u64) -> Result<usize> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.call(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE jobs SET claimed_until = $3 \
                         WHERE id = ANY($1) AND claimed_by = $2 AND outcome IS NULL",
                        &[&ids, &owner, &to_i64(until)],
                    )
                    .await?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            })
        })
    }
}

impl PgLedger {
    /// Take one try of `key` from the counter table `t` (see [`Tries`]): `Ok(left)`, or
    /// `Err(seconds)` until the window ends when `max` were taken within it.
    fn take_try(&self, t: Tries, key: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>> {
        let key = key.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                // The row is made first, then locked: instances taking tries for one key at
                // once take them one after another.
                let tx = c.transaction().await?;
                tx.execute(
                    &format!(
                        "INSERT INTO {table} ({col}, tries, since) VALUES ($1, 0, $2) ON CONFLICT ({col}) DO NOTHING",
                        table = t.table,
                        col = t.key
                    ),
                    &[&key, &to_i64(now)],
                )
                .await?;
                let row = tx
                    .query_one(
                        &format!("SELECT tries, since FROM {} WHERE {} = $1 FOR UPDATE", t.table, t.key),
                        &[&key],
                    )
                    .await?;
                let (tries, since) = (to_u64(row.get(0)), to_u64(row.get(1)));
                let (tries, since) = if now < since.saturating_add(window) {
                    (tries, since)
                } else {
                    (0, now)
                };
                if tries >= u64::from(max) {
                    tx.commit().await?;
                    return Ok(Err(since.saturating_add(window).saturating_sub(now).max(1)));
                }
                tx.execute(
                    &format!("UPDATE {} SET tries = $2, since = $3 WHERE {} = $1", t.table, t.key),
                    &[&key, &to_i64(tries + 1), &to_i64(since)],
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(u32::try_from(u64::from(max) - tries - 1).unwrap_or(0)))
            })
        })
    }

    fn clear_tries(&self, t: Tries, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                c.execute(&format!("DELETE FROM {} WHERE {} = $1", t.table, t.key), &[&key])
                    .await
                    .map(drop)
            })
        })
    }
}

impl Sessions for PgLedger {
    fn insert_session(&self, row: &SessionRow) -> Result<()> {
        let row = row.clone();
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO sessions (id, person, source, grants, created, expires) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &row.id,
                        &row.person,
                        &row.source,
                        &row.grants.join("\n"),
                        &to_i64(row.created),
                        &to_i64(row.expires),
                    ],
                )
                .await
                .map(drop)
            })
        })
    }

    fn session(&self, id: &str, now: u64) -> Result<Option<SessionRow>> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT id, person, source, grants, created, expires FROM sessions WHERE id = $1 AND expires > $2",
                        &[&id, &to_i64(now)],
                    )
                    .await?;
                Ok(row.map(|r| SessionRow {
                    id: r.get(0),
                    person: r.get(1),
                    source: r.get(2),
                    grants: split_grants(r.get(3)),
                    created: to_u64(r.get(4)),
                    expires: to_u64(r.get(5)),
                }))
            })
        })
    }

    fn end_session(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |c| {
            Box::pin(async move {
                let n = c.execute("DELETE FROM sessions WHERE id = $1", &[&id]).await?;
                Ok(n > 0)
            })
        })
    }

    fn take_signin_try(&self, who: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>> {
        self.take_try(Tries::SIGN_IN, who, now, max, window)
    }

    fn clear_signin_tries(&self, who: &str) -> Result<()> {
        self.clear_tries(Tries::SIGN_IN, who)
    }

    fn take_carry_quota(
        &self,
        who: &str,
        day: u64,
        use_: (u64, u64),
        max: (u64, u64),
    ) -> Result<std::result::Result<(), (u64, u64)>> {
        let who = who.to_owned();
        let day = to_i64(day);
        self.call(move |c| {
            Box::pin(async move {
                // The row is made first, then locked, as for attempt counters.
                let tx = c.transaction().await?;
                tx.execute(
                    "INSERT INTO carry_quota (who, day, files, bytes) VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING",
                    &[&who, &day],
                )
                .await?;
                let row = tx
                    .query_one(
                        "SELECT files, bytes FROM carry_quota WHERE who = $1 AND day = $2 FOR UPDATE",
                        &[&who, &day],
                    )
                    .await?;
                let used = (to_u64(row.get(0)), to_u64(row.get(1)));
                if used.0.saturating_add(use_.0) > max.0 || used.1.saturating_add(use_.1) > max.1 {
                    tx.commit().await?;
                    return Ok(Err(used));
                }
                tx.execute(
                    "UPDATE carry_quota SET files = files + $3, bytes = bytes + $4 WHERE who = $1 AND day = $2",
                    &[&who, &day, &to_i64(use_.0), &to_i64(use_.1)],
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(()))
            })
        })
    }

    fn give_back_carry_quota(&self, who: &str, day: u64, use_: (u64, u64)) -> Result<()> {
        let who = who.to_owned();
        let (day, files, bytes) = (to_i64(day), to_i64(use_.0), to_i64(use_.1));
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE carry_quota SET files = GREATEST(files - $3, 0), bytes = GREATEST(bytes - $4, 0) \
                     WHERE who = $1 AND day = $2",
                    &[&who, &day, &files, &bytes],
                )
                .await
                .map(drop)
            })
        })
    }
}

impl Ledger for PgLedger {
    fn purge(&self, now: u64, record_retention: u64) -> Result<Purged> {
        let (now, keep) = (to_i64(now), to_i64(record_retention));
        self.call(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                // Instances purging at once take turns: the second finds nothing left, so each
                // row and blob is reported (and removed) once.
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PURGE_LOCK]).await?;
                // The request and decision outlive the original (監査: who released what).
                tx.execute(
                    "INSERT INTO release_records \
                     (part, message, name, kind, original_sha256, state, requested, decided, decided_by, requester, \
                      reason, comment, scan, keep_until) \
                     SELECT r.part, p.message, p.name, p.kind, p.original_blob, r.state, r.requested, r.decided, \
                            r.decided_by, r.requester, r.reason, r.comment, r.scan, COALESCE(r.decided, r.requested) + $2 \
                     FROM releases r JOIN parts p ON p.id = r.part \
                     WHERE p.expires <= $1 OR p.message IN (SELECT id FROM messages WHERE expires <= $1) \
                     ON CONFLICT (part) DO UPDATE SET message = excluded.message, name = excluded.name, \
                        kind = excluded.kind, original_sha256 = excluded.original_sha256, state = excluded.state, \
                        requested = excluded.requested, decided = excluded.decided, \
                        decided_by = excluded.decided_by, requester = excluded.requester, reason = excluded.reason, \
                        comment = excluded.comment, scan = excluded.scan, keep_until = excluded.keep_until",
                    &[&now, &keep],
                )
                .await?;
                let records = tx
                    .execute("DELETE FROM release_records WHERE keep_until <= $1", &[&now])
                    .await?;
                let mut candidates: Vec<String> = Vec::new();
                let gone_parts = tx
                    .query(
                        "DELETE FROM parts WHERE expires <= $1 \
                         OR message IN (SELECT id FROM messages WHERE expires <= $1) \
                         RETURNING original_blob, clean_blob",
                        &[&now],
                    )
                    .await?;
                for row in &gone_parts {
                    candidates.push(row.get(0));
                    candidates.extend(row.get::<_, Option<String>>(1));
                }
                let gone_messages = tx
                    .query("DELETE FROM messages WHERE expires <= $1 RETURNING blob", &[&now])
                    .await?;
                candidates.extend(gone_messages.iter().map(|r| r.get::<_, String>(0)));
                tx.execute("DELETE FROM reports WHERE expires <= $1", &[&now]).await?;
                tx.execute("DELETE FROM sessions WHERE expires <= $1", &[&now]).await?;
                tx.execute(
                    "DELETE FROM signin_tries WHERE since <= $1",
                    &[&now.saturating_sub(86_400)],
                )
                .await?;
                tx.execute("DELETE FROM carry_quota WHERE day < $1", &[&(now / 86_400 - 1)])
                    .await?;
                let gone_jobs = tx
                    .query(
                        "DELETE FROM jobs WHERE expires <= $1 RETURNING input_blob, clean_blob",
                        &[&now],
                    )
                    .await?;
                for row in &gone_jobs {
                    candidates.push(row.get(0));
                    candidates.extend(row.get::<_, Option<String>>(1));
                }
                candidates.sort();
                candidates.dedup();
                let orphans = tx.query(UNNAMED, &[&candidates]).await?;
                let orphans = orphans.iter().map(|r| r.get(0)).collect();
                tx.commit().await?;
                Ok(Purged {
                    messages: gone_messages.len(),
                    parts: gone_parts.len(),
                    records: usize::try_from(records).unwrap_or(usize::MAX),
                    orphans,
                })
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
            // A transaction on the store's runtime holds the batch's locks while this thread
            // removes the blobs (the blob store has a runtime of its own): it sends the
            // blobs still unnamed, waits for `done`, then commits, which lets the locks go.
            let (unnamed_tx, unnamed_rx) = std::sync::mpsc::sync_channel(1);
            let (ended_tx, ended_rx) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let (client, batch) = (self.client(), batch.to_vec());
            self.bridge.spawn(async move {
                let held = async {
                    let mut c = client.lock().await;
                    let tx = c.transaction().await?;
                    tx.execute(
                        "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::INT4[]) AS k",
                        &[&BLOB_LOCKS, &blob_keys(batch.iter().map(String::as_str))],
                    )
                    .await?;
                    let unnamed = tx.query(UNNAMED, &[&batch]).await?;
                    let unnamed: Vec<String> = unnamed.iter().map(|r| r.get(0)).collect();
                    let any = !unnamed.is_empty();
                    let _ = unnamed_tx.send(unnamed);
                    // Also when the caller went away (dropped `done`).
                    let _ = done_rx.await;
                    // Writers that saw the count before this round look for their blobs.
                    if any {
                        tx.execute("UPDATE blob_removals SET rounds = rounds + 1", &[]).await?;
                    }
                    tx.commit().await
                };
                let _ = ended_tx.send(held.await);
            });
            let outcome: Result<()> = match unnamed_rx.recv() {
                Ok(unnamed) => unnamed.iter().try_for_each(|blob| {
                    remove(blob).map_err(|e| failed(format!("removing blob {blob}: {e}")))?;
                    removed.push(blob.clone());
                    Ok(())
                }),
                // The transaction failed before its look: its error follows.
                Err(_) => Ok(()),
            };
            drop(done_tx);
            ended_rx.recv().map_err(|_| stopped())?.map_err(pg)?;
            outcome?;
        }
        Ok(removed)
    }
}

/// Those of the blobs `$1` that no row names.
const UNNAMED: &str = "SELECT b FROM unnest($1::TEXT[]) AS b WHERE NOT ( \
        EXISTS (SELECT 1 FROM parts WHERE original_blob = b OR clean_blob = b) \
     OR EXISTS (SELECT 1 FROM messages WHERE blob = b) \
     OR EXISTS (SELECT 1 FROM jobs WHERE input_blob = b OR clean_blob = b))";
