//! The ledger (台帳): one row per message received and one per part kept, so an operator can
//! answer "what arrived, from whom, what happened to it, where is the original" and the purge
//! task knows what has expired. This file holds the rows (kinds and outcomes typed) and the
//! repository traits a backend implements; the embedded backend is `sqlite.rs`.
//!
//! Rows reference blobs by content address; a blob is removed only when no row still
//! names it (the same attachment mailed twice is one blob and two rows).

use crate::kind::FileKind;
use crate::report::Outcome;

/// Ledger errors are store errors: the caller fails closed (the mail is not accepted).
pub type Result<T> = std::result::Result<T, LedgerError>;

/// A ledger failure, whatever the backend: which backend and what it said. The caller fails
/// closed on any of them (a message is not accepted, a file not answered).
#[derive(Debug, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct LedgerError {
    pub backend: &'static str,
    pub message: String,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: String,
    pub message_id: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub blob: String,
    pub size: u64,
    pub created: u64,
    pub expires: u64,
    /// `None` while the message is being processed (a crash leaves it so: received, stored,
    /// never delivered by us — the upstream still has it).
    pub outcome: Option<Outcome>,
    pub report: Option<String>,
    /// The Subject, decoded (RFC 2047), for 情シス's search.
    pub subject: Option<String>,
}

/// What 情シス looks for among the messages kept (every field optional; text fields match
/// anywhere in the value, case-insensitively; times are Unix seconds, `until` exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub outcome: Option<Outcome>,
    /// Most rows returned (newest first); at most [`MAX_SEARCH_ROWS`].
    pub limit: usize,
}

/// The most rows one search returns.
pub const MAX_SEARCH_ROWS: usize = 1000;

/// Messages received on one day (Japan time) with one outcome (`None`: not finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// Days since 1970-01-01 in Japan time.
    pub day: u64,
    pub outcome: Option<Outcome>,
    pub messages: u64,
}

/// What a period's parts and requests were (the console's statistics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodRows {
    /// Parts received by kind, most first.
    pub kinds: Vec<(FileKind, u64)>,
    /// The reports of the period's parts (newest first, at most [`MAX_REPORTS_READ`], none
    /// longer than [`MAX_REPORT_READ_BYTES`]).
    pub reports: Vec<String>,
    /// Requests made in the period by state: how many, and the average seconds from request
    /// to decision of those decided.
    pub approvals: Vec<(ReleaseState, u64, Option<u64>)>,
}

/// The most part reports one statistics request reads (their findings are counted): the
/// period's newest, each at most [`MAX_REPORT_READ_BYTES`], so a page view holds a bounded
/// amount of report text (at most 128 MiB, a few MiB as reports usually are).
pub const MAX_REPORTS_READ: usize = 2_000;
pub const MAX_REPORT_READ_BYTES: usize = 64 * 1024;

/// A part of a message (an attachment, a held encrypted part, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    /// The object id links name (32 hex digits).
    pub id: String,
    pub message: String,
    /// Where in the message: `1.2`, `1.3.1` (MIME part numbers as IMAP counts them).
    pub path: String,
    pub name: Option<String>,
    pub kind: FileKind,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub original_blob: String,
    pub original_size: u64,
    pub clean_blob: Option<String>,
    pub clean_name: Option<String>,
    /// The engine's JSON report for the part.
    pub report: String,
    pub created: u64,
    pub expires: u64,
}

/// A recipient's request for an original held for approval (上長承認), and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub part: String,
    pub state: ReleaseState,
    pub requested: u64,
    pub decided: Option<u64>,
    /// The approver's name (a person's, or an API key's, never the key).
    pub decided_by: Option<String>,
    /// Who asked: the recipient address the link was issued to, as confirmed on the page.
    pub requester: Option<String>,
    /// Why they need the original (required on the page).
    pub reason: Option<String>,
    /// The approver's comment with the decision, for the requester.
    pub comment: Option<String>,
    /// The virus scan's verdict when the request was made (`clean`, `infected: <signature>`),
    /// under `after_scan_and_approval`.
    pub scan: Option<String>,
}

/// What a request for an original says: who asks, why, and what clamd said of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked<'a> {
    pub requester: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub scan: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseState {
    Requested,
    Approved,
    Denied,
}

impl ReleaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Requested => "requested",
            ReleaseState::Approved => "approved",
            ReleaseState::Denied => "denied",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "approved" => ReleaseState::Approved,
            "requested" => ReleaseState::Requested,
            // Anything unreadable releases nothing.
            _ => ReleaseState::Denied,
        }
    }
}

/// A file submitted to `POST /v1/jobs`: queued until the engine has run, then done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub name: Option<String>,
    pub input_blob: String,
    /// `None` while queued or running; the outcome once done.
    pub outcome: Option<Outcome>,
    pub report: Option<String>,
    pub clean_blob: Option<String>,
    pub clean_name: Option<String>,
    pub media_type: Option<String>,
    pub created: u64,
    pub expires: u64,
    /// Where to POST the result when the job ends (`POST /v1/jobs?callback_url=`).
    pub callback: Option<String>,
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult<'a> {
    pub outcome: Outcome,
    pub report: &'a str,
    pub clean_blob: Option<&'a str>,
    pub clean_name: Option<&'a str>,
    pub media_type: Option<&'a str>,
}

/// A release request and its decision, as kept for the audit (監査) after the original is
/// gone: which file, whose request, who decided what and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub part: String,
    pub message: String,
    pub name: Option<String>,
    pub kind: FileKind,
    pub original_sha256: String,
    pub release: ReleaseRow,
    /// When the record goes (Unix seconds); `None` while the part itself is kept.
    pub keep_until: Option<u64>,
}

/// A signed-in person's session on the portal pages, kept in the ledger so that it works on
/// every instance of a shared store and ends on all of them at sign-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The session's random id (the cookie carries it signed with the link key).
    pub id: String,
    /// Who signed in: an account's or an API key's name, as the audit names them.
    pub person: String,
    /// How: `key` (an approver's API key), `local` (an account in the configuration) or
    /// `ldap`; the pages check a `key` session's key again on every request.
    pub source: String,
    /// What the directory granted at sign-in (`admin`, `group:総務課`) for an `ldap` session;
    /// empty for the others, whose grants are read from the configuration on every request.
    pub grants: Vec<String>,
    pub created: u64,
    pub expires: u64,
}

/// Which rows and blobs a purge removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: usize,
    pub parts: usize,
    /// Release records past `audit.retention_days`.
    pub records: usize,
    /// Blob addresses no row names any more: from the ledger, those its purge left unnamed;
    /// from the store, those it then removed.
    pub orphans: Vec<String>,
}

/// What a write of a row naming blobs reports: how many rounds of blob removals the ledger
/// had committed when the row was written, or `None` when the backend keeps no count (the
/// writer then always looks for its blobs again). A writer that saw the same count before it
/// wrote its blobs knows no purge removed one in between (`Store::named`).
pub type Removals = Option<u64>;

/// Messages received: written when stored, finished when disarmed.
pub trait Messages: Send + Sync {
    fn insert_message(&self, row: &MessageRow) -> Result<Removals>;
    fn finish_message(&self, id: &str, outcome: Outcome, report: &str) -> Result<()>;
    fn message(&self, id: &str) -> Result<Option<MessageRow>>;
    /// Messages matching `query`, newest first.
    fn search_messages(&self, query: &MessageQuery) -> Result<Vec<MessageRow>>;
    /// Messages received from `since` to before `until`, by Japan-time day and outcome.
    fn message_days(&self, since: u64, until: u64) -> Result<Vec<DayCount>>;
    /// Parts by kind, their reports, and requests by state, from `since` to before `until`.
    fn period_rows(&self, since: u64, until: u64) -> Result<PeriodRows>;
}

/// The parts of messages (and held uploads): kept with their original and clean blobs, unlocked
/// with a password, and the password tries counted.
pub trait Parts: Send + Sync {
    fn insert_part(&self, row: &PartRow) -> Result<Removals>;
    fn part(&self, id: &str) -> Result<Option<PartRow>>;
    fn parts_of(&self, message: &str) -> Result<Vec<PartRow>>;
    /// Replace a held part's outcome once it was unlocked (the clean blob is new).
    fn unlock_part(
        &self,
        id: &str,
        outcome: Outcome,
        clean_blob: &str,
        clean_name: Option<&str>,
        report: &str,
    ) -> Result<Removals>;
    /// Take one password try for a held part, atomically: `Ok(tries left after this one)`,
    /// or `Err(seconds until the window ends)` when `max` tries were taken within `window`.
    fn take_unlock_try(&self, part: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>>;
    /// Forget a part's tries (it was unlocked).
    fn clear_unlock_tries(&self, part: &str) -> Result<()>;
    /// End a part's life now (an administrator revoked its link): its link resolves no more
    /// and the next purge removes it; `false` when it was not alive.
    fn revoke_part(&self, part: &str, now: u64) -> Result<bool>;
}

/// Reports of files sanitized over the API (`GET /v1/reports/{id}`).
pub trait Reports: Send + Sync {
    /// Keep the report of a file sanitized through the API (`GET /v1/reports/{id}`).
    fn insert_report(&self, id: &str, created: u64, expires: u64, json: &str) -> Result<()>;
    fn report(&self, id: &str, now: u64) -> Result<Option<String>>;
}

/// Requests for originals and approvers' decisions (上長承認), and their records after the
/// originals are gone.
pub trait Releases: Send + Sync {
    /// Record a request for a part's original; an existing request or decision stays as it is.
    /// Ask for a part's original, by `requester` for `reason`; a request already there stays
    /// as it was (the first asker's words are kept).
    fn request_release(&self, part: &str, asked: &Asked<'_>, now: u64) -> Result<ReleaseRow>;
    fn release(&self, part: &str) -> Result<Option<ReleaseRow>>;
    /// Decide a pending request; `false` when there was none pending.
    fn decide_release(&self, part: &str, approve: bool, by: &str, comment: Option<&str>, now: u64) -> Result<bool>;
    /// Pending requests, oldest first, with their parts.
    fn pending_releases(&self, now: u64) -> Result<Vec<(PartRow, ReleaseRow)>>;
    /// The record of a part's release request and decision, while the part lives or, after
    /// it was purged, while the record's retention lasts.
    fn release_record(&self, part: &str) -> Result<Option<ReleaseRecord>>;
}

/// Asynchronous API jobs (`POST /v1/jobs`): accepted, finished, run again after a restart.
///
/// Each unfinished job is held by one instance at a time: a lease (`owner`, `until`) taken
/// when the job is accepted, or by [`Jobs::claim_jobs`] once the holder's lease ran out (it
/// died, or was restarted), so several instances never run one job at once while its
/// holder lives, and a job whose holder died is finished by another.
pub trait Jobs: Send + Sync {
    /// Accept a job, held by `owner` until `until`.
    fn insert_job(&self, row: &JobRow, owner: &str, until: u64) -> Result<Removals>;
    fn finish_job(&self, id: &str, result: &JobResult<'_>) -> Result<Removals>;
    fn job(&self, id: &str, now: u64) -> Result<Option<JobRow>>;
    /// Take the unfinished jobs whose lease ended at or before `now` — every unfinished job
    /// when `all` (an embedded store starting: no other instance exists) — for `owner` until
    /// `until`, oldest first. A job is returned to one caller only.
    fn claim_jobs(&self, owner: &str, now: u64, until: u64, all: bool) -> Result<Vec<JobRow>>;
    /// Extend `owner`'s leases on the unfinished jobs `ids` to `until` (its heartbeat over the
    /// jobs it is running: a live holder keeps them however long they run; a dead holder's,
    /// and a job that failed on the holder's side, lapse a lease later); how many.
    fn renew_jobs(&self, owner: &str, ids: &[String], until: u64) -> Result<usize>;
}

/// A session's grants as stored: one per line.
pub(crate) fn split_grants(stored: &str) -> Vec<String> {
    stored.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Portal sessions: made at sign-in, read on every page, ended at sign-out or expiry (the
/// purge removes expired ones).
pub trait Sessions: Send + Sync {
    fn insert_session(&self, row: &SessionRow) -> Result<()>;
    /// The session, unless it ended or expired by `now`.
    fn session(&self, id: &str, now: u64) -> Result<Option<SessionRow>>;
    /// End a session; `false` when there was none.
    fn end_session(&self, id: &str) -> Result<bool>;
    /// Count one sign-in attempt for the account `who`, as [`Parts::take_unlock_try`] does
    /// for a held part's password: `Ok(left)`, or `Err(seconds)` while locked out.
    fn take_signin_try(&self, who: &str, now: u64, max: u32, window: u64) -> Result<std::result::Result<u32, u64>>;
    /// Forget `who`'s attempts (after a sign-in that succeeded).
    fn clear_signin_tries(&self, who: &str) -> Result<()>;
    /// Count `use_.0` files of `use_.1` bytes carried in by `who` on `day` (days since the
    /// epoch, Japan time) when the day's total stays within `max` (files, bytes): `Ok(())`,
    /// or `Err(used)` — the day's total so far — and nothing counted. One transaction:
    /// instances counting for one person at once count one after another.
    fn take_carry_quota(
        &self,
        who: &str,
        day: u64,
        use_: (u64, u64),
        max: (u64, u64),
    ) -> Result<std::result::Result<(), (u64, u64)>>;
    /// Give back what [`Sessions::take_carry_quota`] counted for a carry-in that did not
    /// reach its mailbox (never below zero).
    fn give_back_carry_quota(&self, who: &str, day: u64, use_: (u64, u64)) -> Result<()>;
}

/// A table of attempt counters (`key`, `tries`, `since`): each backend counts password tries
/// of held parts and of portal sign-ins with one piece of code over these constant names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tries {
    pub table: &'static str,
    pub key: &'static str,
}

impl Tries {
    pub const UNLOCK: Tries = Tries {
        table: "unlock_tries",
        key: "part",
    };
    pub const SIGN_IN: Tries = Tries {
        table: "signin_tries",
        key: "who",
    };
}

/// The whole ledger: every repository, and retention across them. The embedded default is
/// SQLite (`store::sqlite`); scale-out puts PostgreSQL behind the same traits, and
/// `tests/store_conformance.rs` runs one suite against each. No backend type appears in a
/// signature: errors are [`LedgerError`]s.
pub trait Ledger: Messages + Parts + Reports + Releases + Jobs + Sessions {
    /// Remove every row that expired at or before `now`; report blobs left unreferenced.
    /// A purged part's release request and decision stay as a [`ReleaseRecord`] for
    /// `record_retention` seconds after its decision (or request); records older go.
    fn purge(&self, now: u64, record_retention: u64) -> Result<Purged>;

    /// Remove, through `remove`, each of `blobs` that no row names, looking again under the
    /// backend's lock: a row naming one of them that is written meanwhile is either seen
    /// (the blob stays) or waits until the blob is gone, and then its writer finds the blob
    /// missing and writes it again (see `Store::named`). Several processes may share the
    /// ledger (the CLI's purge beside the daemon, or instances of a shared store), so a lock
    /// of one process's own would not do. Returns the blobs removed.
    fn remove_unnamed(
        &self,
        blobs: &[String],
        remove: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<Vec<String>>;
}

/// Blobs looked at again and removed under one lock (a transaction): bounded, so a writer
/// naming one of them waits for a few removals, not for the whole purge.
pub const REMOVE_BATCH: usize = 64;
