//! Originals (原本保存) and the ledger: everything mugai keeps after a message or file has
//! gone through.
//!
//! The embedded default needs no set-up: `<data_dir>/blobs/` holds content-addressed files,
//! `<data_dir>/ledger.sqlite3` the rows, `<data_dir>/link.key` the key that signs download
//! links (made on first start, mode 0600, unless the configuration gives one). Originals are
//! written before anything is done with them; retention is enforced by [`Store::purge`],
//! which the daemon runs periodically (`daemon`) and `mugai originals purge` runs once.
//!
//! [`Store`] is the handle the pipeline and the HTTP side hold: it puts blobs and rows together
//! (a blob is written before the row that names it, and looked up again once the row is
//! written, in case a purge in any process sharing the ledger removed it between the two:
//! see `Ledger::remove_unnamed` for the lock that makes that look enough). Its operations
//! are in one file per concern — `messages.rs` (messages, parts, unlock tries, held uploads),
//! `releases.rs`, `jobs.rs` (API reports and jobs), `tokens.rs` (signed links); this file
//! opens it, spools, reads blobs and purges. Below it: `blobs.rs` (the `OriginalStore` trait and
//! files), `ledger.rs` (rows and the repository traits), `sqlite.rs` (the embedded ledger),
//! `links.rs` (signing); for `backend = "shared"`, `postgres.rs` (the ledger in PostgreSQL),
//! `s3.rs` (blobs in an S3-compatible bucket) and `bridge.rs` (the runtime their asynchronous
//! clients run on behind the blocking traits).
//!
//! May use: `config`, `report`, leaves.

pub mod blobs;
mod bridge;
mod jobs;
pub mod ledger;
pub mod links;
mod messages;
pub use messages::PeriodStats;
pub mod postgres;
mod postgres_tls;
mod releases;
pub mod s3;
pub mod sqlite;
mod tokens;

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use crate::kind::FileKind;
pub use crate::report::Outcome;

pub use blobs::{FileBlobs, OriginalStore};
pub use ledger::{
    Asked, DayCount, JobResult, JobRow, Jobs, Ledger, LedgerError, MessageQuery, MessageRow, Messages, PartRow, Parts,
    PeriodRows, Purged, ReleaseRecord, ReleaseRow, ReleaseState, Releases, Removals, Reports, SessionRow, Sessions,
    MAX_SEARCH_ROWS,
};
pub use links::{Link, LinkError, LinkSigner, Purpose};
pub use postgres::PgLedger;
pub use s3::{S3Blobs, S3Config};
pub use sqlite::SqliteLedger;

use crate::config::{StoreBackend, StoreConfig};

/// A stored object's id: 128 random bits, shown as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId(pub [u8; ObjectId::LEN]);

impl ObjectId {
    pub const LEN: usize = 16;

    pub fn random() -> io::Result<Self> {
        let mut id = [0u8; Self::LEN];
        getrandom::fill(&mut id).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
        Ok(ObjectId(id))
    }

    pub fn hex(&self) -> String {
        crate::ids::hex(&self.0)
    }

    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 2 * Self::LEN {
            return None;
        }
        let mut id = [0u8; Self::LEN];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(ObjectId(id))
    }
}

pub(crate) use crate::ids::random_hex;

/// Create the spool directory, removing anything a crash left between creating a spool file
/// and unlinking it.
fn clear_spool(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

pub use crate::clock::now;

/// Store errors: the caller fails closed (a mail is not accepted, a file not answered).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::LedgerError),
}

/// A part to record: what the mail or HTTP layer knows about it.
#[derive(Debug, Clone)]
pub struct NewPart<'a> {
    pub message: &'a str,
    pub path: &'a str,
    pub name: Option<&'a str>,
    pub kind: FileKind,
    pub outcome: Outcome,
    pub reason: Option<&'a str>,
    pub original: &'a [u8],
    /// SHA-256 of `original` when the caller has it (the engine's report); else computed.
    pub original_sha256: Option<&'a str>,
    pub clean: Option<&'a [u8]>,
    pub clean_sha256: Option<&'a str>,
    pub clean_name: Option<&'a str>,
    pub report: &'a str,
    /// The original and clean copy were written by [`Store::write_beside`] (under their
    /// SHA-256 above): not written again before the row, only looked for after it.
    pub written: Option<Written>,
}

/// Blobs [`Store::write_beside`] wrote, and the ledger's count of removal rounds it had seen
/// before it wrote them (see [`Removals`]).
#[derive(Debug, Clone, Copy)]
pub struct Written {
    removals: u64,
}

/// Bytes a [`BlobWriter`] may hold while it writes them: borrowed for its scope, or shared
/// with their owner (a clean copy, given back to its run once written).
pub trait BlobBytes: Send {
    fn bytes(&self) -> &[u8];
}

impl BlobBytes for &[u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl BlobBytes for std::sync::Arc<Vec<u8>> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Writes blobs on threads of their own for [`Store::write_beside`], at most
/// [`BlobWriter::AT_ONCE`] at a time. Shared by the work's threads (the engine's parts may run
/// side by side).
pub struct BlobWriter<'scope, 'env> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    blobs: &'env dyn OriginalStore,
    running: Mutex<VecDeque<std::thread::ScopedJoinHandle<'scope, io::Result<()>>>>,
    /// The first write that failed (the work goes on; [`Store::write_beside`] fails).
    failed: Mutex<Option<io::Error>>,
}

impl<'scope> BlobWriter<'scope, '_> {
    /// Writes in flight at once (a message of a thousand small files starts no more threads).
    pub const AT_ONCE: usize = 8;

    /// Write `bytes` under `address` (their SHA-256), beside the caller.
    pub fn put<B: BlobBytes + 'scope>(&self, bytes: B, address: String) {
        loop {
            let oldest = {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                if running.len() < Self::AT_ONCE {
                    break;
                }
                running.pop_front()
            };
            if let Some(write) = oldest {
                self.joined(write);
            }
        }
        let blobs = self.blobs;
        let write = self.scope.spawn(move || blobs.put_addressed(bytes.bytes(), &address));
        self.running.lock().unwrap_or_else(|p| p.into_inner()).push_back(write);
    }

    fn joined(&self, write: std::thread::ScopedJoinHandle<'scope, io::Result<()>>) {
        let result = write
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a blob write panicked")));
        if let Err(e) = result {
            self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
        }
    }

    /// Wait for every write; the first error, if one failed.
    fn finish(&self) -> io::Result<()> {
        while let Some(write) = self.running.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
            self.joined(write);
        }
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map_or(Ok(()), Err)
    }
}

/// Blobs + ledger + link signing, as one handle shared by the mail path, the HTTP side and
/// the purge task.
pub struct Store {
    blobs: Box<dyn OriginalStore>,
    ledger: Box<dyn Ledger>,
    links: LinkSigner,
    /// Signs kept reports (their receipts), with a key derived from the link key.
    receipts: crate::receipt::ReceiptSigner,
    retention: Duration,
    link_ttl: Duration,
    /// Seconds a purged part's release record is kept (`audit.retention_days`).
    record_retention: u64,
    /// `<data_dir>/spool/`: request bodies too large to hold in memory while they wait.
    spool: PathBuf,
    /// This process's name in job leases (random per start: a restarted instance is another
    /// holder, and its old leases run out like a dead one's).
    instance: String,
    /// Whether other instances may share the ledger (`backend = "shared"`).
    shared: bool,
    /// How long this instance holds a job without renewing it (`store.job_lease_seconds`).
    job_lease: Duration,
    /// One more than the latest count of blob-removal rounds a write was told (0: none yet,
    /// so the first writer always looks).
    removals: AtomicU64,
}

impl Store {
    /// Open the store the configuration names: the embedded one in `data_dir` (created when
    /// needed), or the shared PostgreSQL ledger and bucket (`data_dir` then holds only the
    /// spool). A shared store needs the link key in the configuration (checked there).
    pub fn open(data_dir: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        restrict_dir(data_dir)?;
        let (blobs, ledger): (Box<dyn OriginalStore>, Box<dyn Ledger>) = match &config.backend {
            StoreBackend::Embedded => (
                Box::new(FileBlobs::open(&data_dir.join("blobs"))?),
                Box::new(SqliteLedger::open(&data_dir.join("ledger.sqlite3"))?),
            ),
            StoreBackend::Shared(shared) => (
                Box::new(S3Blobs::open(&shared.s3)?),
                Box::new(PgLedger::connect_tls(
                    shared.postgres_url.expose(),
                    shared.postgres_connections,
                    shared.postgres_ca_file.as_deref(),
                )?),
            ),
        };
        let spool = data_dir.join("spool");
        clear_spool(&spool)?;
        let key = match (&config.link_key, &config.backend) {
            (Some(key), _) => key.expose().clone(),
            (None, StoreBackend::Embedded) => load_or_make_key(&data_dir.join("link.key"))?,
            (None, StoreBackend::Shared(_)) => {
                return Err(StoreError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a shared store needs store.link_key: every instance signs links with the same key",
                )))
            }
        };
        Ok(Store {
            blobs,
            ledger,
            receipts: crate::receipt::ReceiptSigner::from_link_key(&key),
            links: LinkSigner::new(key),
            retention: config.retention,
            link_ttl: config.link_ttl,
            record_retention: config.record_retention.as_secs(),
            spool,
            instance: random_hex(8)?,
            shared: matches!(config.backend, StoreBackend::Shared(_)),
            job_lease: config.job_lease,
            removals: AtomicU64::new(0),
        })
    }

    /// A new spool file, already unlinked: its bytes go when the handle is dropped, also
    /// when the daemon dies, so nothing is left to clean up.
    pub fn spool_file(&self) -> io::Result<std::fs::File> {
        let (path, file) = blobs::tempfile_in(&self.spool)?;
        std::fs::remove_file(path)?;
        Ok(file)
    }

    /// The removal count as last told: read before writing blobs, so that after the row
    /// [`Store::named`] knows whether a removal round came in between.
    fn removals_seen(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// The rows naming `blobs` (bytes, address) are written: put back any that a purge
    /// removed between their write and the row (its last look found no row naming them; see
    /// `Ledger::remove_unnamed`). From here on a row names each, so no purge removes it
    /// while that row lives. `seen` is the removal count read before the blobs were written,
    /// `now` what the row's write reported: the same count means no round came in between,
    /// so there is nothing to look for (on S3 a request per blob saved); otherwise, or when
    /// the backend keeps no count, each blob is looked up (and written if gone).
    fn named(&self, seen: u64, now: Removals, blobs: &[(&[u8], &str)]) -> io::Result<()> {
        if let Some(now) = now.map(|n| n.saturating_add(1)) {
            self.removals.fetch_max(now, Ordering::AcqRel);
            if now == seen {
                return Ok(());
            }
        }
        blobs
            .iter()
            .try_for_each(|&(bytes, address)| self.blobs.put_addressed(bytes, address))
    }

    /// Run `work`, which hands blobs (bytes, their SHA-256 address) to the [`BlobWriter`] as
    /// it makes them; each is written on a thread of its own while the work goes on (the
    /// engine's next part), and all are on disk when this returns — ahead of the rows that
    /// will name them. A blob's write is mostly a wait for the disk (`fdatasync`): written
    /// after the work, one message's waits held its worker while the cores idled (a tenth of
    /// the machine under distinct office mail). The rows' writes then look for the blobs again
    /// only when a purge round came in between ([`Store::named`], with the returned [`Written`]).
    pub fn write_beside<'env, T>(
        &'env self,
        work: impl for<'scope> FnOnce(&BlobWriter<'scope, 'env>) -> T,
    ) -> Result<(T, Written), StoreError> {
        let written = Written {
            removals: self.removals_seen(),
        };
        std::thread::scope(|scope| {
            let writer = BlobWriter {
                scope,
                blobs: &*self.blobs,
                running: Mutex::new(VecDeque::new()),
                failed: Mutex::new(None),
            };
            let out = work(&writer);
            writer.finish()?;
            Ok((out, written))
        })
    }

    /// When something stored at `created` expires.
    pub fn expiry(&self, created: u64) -> u64 {
        created.saturating_add(self.retention.as_secs())
    }

    /// Whether the ledger and the blob store answer (`/readyz`).
    pub fn ready(&self) -> bool {
        self.blobs.reachable() && self.ledger.report(&"0".repeat(32), 0).is_ok()
    }

    /// The bytes behind a blob address.
    pub fn blob(&self, address: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.blobs.get(address)?)
    }

    /// Remove what expired at or before `now`: rows first, then the blobs no row names
    /// (looked at again under the ledger's lock: a writer may be naming one again).
    pub fn purge(&self, now: u64) -> Result<Purged, StoreError> {
        let mut purged = self.ledger.purge(now, self.record_retention)?;
        purged.orphans = self
            .ledger
            .remove_unnamed(&purged.orphans, &mut |blob| self.blobs.remove(blob))?;
        Ok(purged)
    }
}

/// Resolving a link fails either because of the link or because of the store.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Link(LinkError),
    #[error(transparent)]
    Store(StoreError),
}

/// The data directory holds originals of hostile mail and the link key: owner only.
fn restrict_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let _ = dir;
    Ok(())
}

/// Read the link key file, or make one (32 random bytes, hex, mode 0600) when there is none.
fn load_or_make_key(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(text.trim()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a hex key of 32+ bytes", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = random_hex(32)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(key.as_bytes())?;
                    file.sync_all()?;
                    parse_key(&key).ok_or_else(|| io::Error::other("made a bad key"))
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load_or_make_key(path),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub use crate::ids::parse_key;

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StoreConfig {
        StoreConfig {
            retention: Duration::from_secs(100),
            link_ttl: Duration::from_secs(50),
            link_key: None,
            record_retention: Duration::from_secs(1000),
            backend: StoreBackend::Embedded,
            job_lease: Duration::from_secs(60),
        }
    }

    fn part<'a>(message: &'a str, original: &'a [u8]) -> NewPart<'a> {
        NewPart {
            message,
            path: "1.2",
            name: Some("見積書.pdf"),
            kind: FileKind::Pdf,
            outcome: Outcome::Disarmed,
            reason: None,
            original,
            original_sha256: None,
            clean: Some(b"clean"),
            clean_sha256: None,
            clean_name: Some("見積書.pdf"),
            report: "{}",
            written: None,
        }
    }

    #[test]
    fn blobs_written_beside_the_work_are_all_on_disk_when_it_returns() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &config()).unwrap();
        // More blobs than writes in flight, handed over from several threads at once, some
        // borrowed and some shared; one under an address that is no address fails the whole.
        let borrowed: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
        let address = |b: &[u8]| crate::ids::hex(&sha2::Sha256::digest(b));
        let ((), written) = store
            .write_beside(|disk| {
                std::thread::scope(|s| {
                    for chunk in borrowed.chunks(4) {
                        s.spawn(move || {
                            for b in chunk {
                                disk.put(&b[..], address(b));
                                let shared = std::sync::Arc::new(b.repeat(2));
                                disk.put(shared.clone(), address(&shared));
                            }
                        });
                    }
                });
            })
            .unwrap();
        for b in &borrowed {
            assert_eq!(&store.blob(&address(b)).unwrap(), b);
            assert_eq!(store.blob(&address(&b.repeat(2))).unwrap(), b.repeat(2));
        }
        assert_eq!(written.removals, store.removals_seen());
        let failed = store.write_beside(|disk| {
            disk.put(&b"kept"[..], address(b"kept"));
            disk.put(&b"lost"[..], "../../etc/passwd".into());
        });
        assert!(failed.is_err());
        assert_eq!(store.blob(&address(b"kept")).unwrap(), b"kept");
    }

    #[test]
    fn links_resolve_to_the_stored_original_and_stop_at_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &config()).unwrap();
        let msg = store
            .keep_message(b"raw mail", Some("<a@b>"), None, "a@b", &["c@d".into()])
            .unwrap();
        let row = store.keep_part(&part(&msg.id, b"original bytes")).unwrap();
        let token = store.link_for(&row);
        let found = store.resolve(&token, row.created).unwrap();
        assert_eq!(store.blob(&found.original_blob).unwrap(), b"original bytes");
        assert_eq!(found.name.as_deref(), Some("見積書.pdf"));
        assert!(matches!(
            store.resolve(&token, row.created + 50),
            Err(ResolveError::Link(LinkError::Expired))
        ));
        // The key persists: a second handle on the same directory accepts the same token.
        let again = Store::open(dir.path(), &config()).unwrap();
        assert!(again.resolve(&token, row.created).is_ok());
    }

    #[test]
    fn jobs_and_release_requests_live_until_retention_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &config()).unwrap();
        let job = store.submit_job(b"job input", Some("a.pdf"), None).unwrap();
        assert_eq!(store.claim_jobs(true).unwrap(), vec![job.clone()]);
        store
            .finish_job(
                &job.id,
                Outcome::Disarmed,
                "{}",
                Some((b"job output", Some("a.pdf"), "application/pdf")),
            )
            .unwrap();
        assert!(store.claim_jobs(true).unwrap().is_empty());
        let done = store.job(&job.id).unwrap().unwrap();
        assert_eq!(done.outcome, Some(Outcome::Disarmed));
        let clean_blob = done.clean_blob.clone().unwrap();
        assert_eq!(store.blob(&clean_blob).unwrap(), b"job output");

        let m = store.keep_message(b"mail", None, None, "a@b", &[]).unwrap();
        let p = store.keep_part(&part(&m.id, b"wanted original")).unwrap();
        assert_eq!(
            store.request_release(&p.id, &Asked::default()).unwrap().state,
            ReleaseState::Requested
        );
        // Asking twice changes nothing; a decision is taken once.
        assert_eq!(
            store.request_release(&p.id, &Asked::default()).unwrap().state,
            ReleaseState::Requested
        );
        assert_eq!(store.pending_releases().unwrap().len(), 1);
        assert!(store.decide_release(&p.id, true, "boss", None).unwrap());
        assert!(!store.decide_release(&p.id, false, "boss", None).unwrap());
        let row = store.release(&p.id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.decided_by.as_deref()),
            (ReleaseState::Approved, Some("boss"))
        );
        assert!(store.pending_releases().unwrap().is_empty());

        // At expiry: the job, its blobs, the part and its release row are all gone.
        let purged = store.purge(job.expires.max(p.expires)).unwrap();
        assert!(purged.orphans.contains(&job.input_blob) && purged.orphans.contains(&clean_blob));
        assert!(store.ledger.job(&job.id, 0).unwrap().is_none());
        assert!(store.blob(&clean_blob).is_err());
        assert!(store.release(&p.id).unwrap().is_none());
    }

    #[test]
    fn purge_removes_expired_rows_and_only_unshared_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &config()).unwrap();
        let m = store.keep_message(b"mail", None, None, "a@b", &[]).unwrap();
        let p = store.keep_part(&part(&m.id, b"shared")).unwrap();
        // The same attachment in a later message: its row outlives the first.
        let later = store.keep_message(b"later mail", None, None, "a@b", &[]).unwrap();
        store.ledger.finish_message(&later.id, Outcome::Clean, "{}").unwrap();
        let mut again = p.clone();
        again.id = ObjectId::random().unwrap().hex();
        again.message = later.id.clone();
        again.clean_blob = None;
        again.expires = p.expires + 1_000;
        store.ledger.insert_part(&again).unwrap();

        assert_eq!(store.purge(p.created + 99).unwrap(), Purged::default());
        let purged = store.purge(p.created + 100).unwrap();
        // Both messages expire (same retention), the later part only with its message.
        assert_eq!(purged.messages, 2);
        assert_eq!(purged.parts, 2);
        assert!(store.blob(&p.original_blob).is_err());
        assert!(store.message(&m.id).unwrap().is_none());

        // Now a part that outlives its neighbour's expiry keeps the shared blob.
        let m1 = store.keep_message(b"m1", None, None, "a@b", &[]).unwrap();
        let p1 = store.keep_part(&part(&m1.id, b"kept twice")).unwrap();
        let m2 = store.keep_message(b"m2", None, None, "a@b", &[]).unwrap();
        store
            .ledger
            .insert_message(&MessageRow {
                id: "f".repeat(32),
                expires: m2.expires + 1_000,
                ..m2.clone()
            })
            .unwrap();
        let mut long = p1.clone();
        long.id = ObjectId::random().unwrap().hex();
        long.message = "f".repeat(32);
        long.expires = p1.expires + 1_000;
        store.ledger.insert_part(&long).unwrap();
        let purged = store.purge(p1.created + 100).unwrap();
        assert!(!purged.orphans.contains(&p1.original_blob));
        assert_eq!(store.blob(&p1.original_blob).unwrap(), b"kept twice");
    }
}
