//! The pipeline: the only place the daemon runs the engine, and the one place its decisions
//! are written to the audit trail. Every way in — the SMTP content filter, `/v1/sanitize`,
//! jobs, the unlock call and page, the original's download and its approval — translates its
//! wire format into a call here and back:
//!
//! - [`Pipeline::message`] (`message.rs`): a received mail, disarmed and rebuilt;
//! - [`Pipeline::file`] (`file.rs`): one file for the HTTP API;
//! - [`Pipeline::carry_in`] (`carry_in.rs`): files from the carry-in box, as one mail;
//! - [`Pipeline::unlock`] (`held.rs`): a held password archive opened with its password;
//! - [`Pipeline::release`], [`Pipeline::request`], [`Pipeline::decide`] (`originals.rs`): an
//!   original handed out, asked for, approved or denied.
//!
//! Each takes a worker permit for the CPU-bound work (`work.rs`: the permit goes *with* the
//! work, so a caller that stops waiting never lets more than `engine.workers` jobs run), keeps
//! to its deadline (the work is told to stop), records its metrics and writes a typed
//! [`audit::Event`](crate::audit::Event) with the actor and client address.
//!
//! `Pipeline` is also the daemon's shared state — the configuration and engine in force
//! (swapped whole on reload), the store, the audit log, the permits, the metrics, the memory
//! budget for messages being received — so the ingresses depend on this module and on
//! nothing of each other. May use `cdr`, `mail`, `store`, `audit`, `policy`, `scan`, leaves.

mod carry_in;
mod file;
mod held;
mod memory;
pub mod message;
mod notes;
mod originals;
mod work;

use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

pub use carry_in::{CarriedIn, CarryIn, CarryInError};
pub use file::{FileDone, FileInput, Keep};
pub use held::UnlockRefused;
pub use memory::MessageMemory;
pub use message::{Delivery, MessageError, Received};
pub use originals::{fetch_original, FetchRefused, Fetched, ReleaseRefused};
pub use work::{Permit, WorkError};

use crate::audit::{AuditLog, Event, Origin};
use crate::cdr::Engine;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Where a person signs in: the approver's page and admin console (LGWAN side) or the
/// carry-in box (internet side). The same accounts, different rights; a session counts only
/// at its own door, and the audit trail names the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Approvals,
    CarryIn,
}

/// The configuration in force and the engine built from it, swapped together on reload.
pub struct Loaded {
    pub config: Config,
    pub engine: Engine,
    /// The policy version: SHA-256 of what the engine reads of the configuration (limits,
    /// per-format and per-kind policy), hex — signed into every receipt, so a report says
    /// under which rules its file was rebuilt.
    pub policy_sha256: String,
}

impl Loaded {
    pub fn new(config: Config) -> Self {
        let engine = Engine::new(&config);
        let policy = format!("{:?}", crate::config::EngineConfig::from(&config));
        let policy_sha256 = crate::ids::hex(&<sha2::Sha256 as sha2::Digest>::digest(policy.as_bytes()));
        Loaded {
            config,
            engine,
            policy_sha256,
        }
    }
}

/// What every way in shares (see the module documentation).
pub struct Pipeline {
    /// Replaced whole on reload (SIGHUP); each piece of work takes the current one.
    current: RwLock<Arc<Loaded>>,
    store: Arc<Store>,
    audit: Arc<AuditLog>,
    /// Permits for CPU-bound work (`engine.workers`), fixed at start.
    workers: Arc<Semaphore>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Memory for SMTP messages being received (`smtp.message_memory_bytes`).
    pub message_memory: Arc<MessageMemory>,
    /// Notification mail (`[notify]`, read at start).
    notifier: Arc<crate::notify::Notifier>,
}

impl Pipeline {
    pub fn new(config: Config, store: Arc<Store>, audit: Arc<AuditLog>) -> Self {
        let workers = Arc::new(Semaphore::new(config.engine.workers));
        let message_memory = MessageMemory::new(config.smtp.message_memory_bytes);
        let notifier = crate::notify::Notifier::new(&config.notify, audit.clone()).unwrap_or_else(|e| {
            // The configuration was checked (the CA file read); what is left is rare.
            tracing::error!(error = %e, "notification mail is off");
            crate::notify::Notifier::off(audit.clone())
        });
        Pipeline {
            notifier: Arc::new(notifier),
            current: RwLock::new(Arc::new(Loaded::new(config))),
            store,
            audit,
            workers,
            metrics: Metrics::default(),
            message_memory,
        }
    }

    /// The configuration and engine in force now.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The store, for reads (a link resolved, a report or job looked up, pages listed).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The audit trail, for the ways in that write their own lines through `pipeline`'s
    /// functions (an operator's fetch).
    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// The permits for CPU-bound work (`engine.workers`).
    pub fn workers(&self) -> &Arc<Semaphore> {
        &self.workers
    }

    /// Put a new configuration in force for work that starts from now on (policy, limits,
    /// timeouts; listener addresses and the worker count stay as they were), or record that
    /// the new one was refused. The audit file is reopened either way (log rotation).
    pub fn reload(&self, loaded: Result<Config, String>) {
        if let Err(e) = self.audit.reopen() {
            tracing::error!(error = %e, "could not reopen the audit log; lines go on to the old file");
        }
        let error = match loaded {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Loaded::new(config));
                tracing::info!("configuration reloaded");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "reload refused; the running configuration stays");
                Some(e)
            }
        };
        self.audit.note(
            &Origin::daemon(),
            Event::ConfigReloaded {
                ok: error.is_none(),
                error,
            },
        );
    }

    /// A person signed in at `door` (`Some(name)`) or a sign-in was refused (`None`).
    pub fn signed_in(&self, origin: &Origin, door: Door, person: Option<&str>) {
        let person = person.map(str::to_string);
        let event = match (door, person) {
            (Door::Approvals, Some(approver)) => Event::SignedIn { approver },
            (Door::Approvals, None) => Event::SignInRefused {},
            (Door::CarryIn, Some(person)) => Event::CarrierSignedIn { person },
            (Door::CarryIn, None) => Event::CarrierSignInRefused {},
        };
        self.audit.note(origin, event);
    }

    /// A person signed out at `door`.
    pub fn signed_out(&self, origin: &Origin, door: Door, person: Option<&str>) {
        let person = person.map(str::to_string);
        let event = match door {
            Door::Approvals => Event::SignedOut { approver: person },
            Door::CarryIn => Event::CarrierSignedOut { person },
        };
        self.audit.note(origin, event);
    }

    /// Remove what is past retention now, and say so in the trail.
    pub async fn purge(&self) -> Result<crate::store::Purged, StoreError> {
        let store = self.store.clone();
        let purged = tokio::task::spawn_blocking(move || store.purge(crate::clock::now()))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        purged_event(&self.audit, &Origin::daemon(), &purged);
        Ok(purged)
    }
}

/// The `purge.ran` line (the daemon's task and `mugai originals purge` write the same).
pub fn purged_event(audit: &AuditLog, origin: &Origin, purged: &crate::store::Purged) {
    audit.note(
        origin,
        Event::PurgeRan {
            messages: purged.messages as u64,
            parts: purged.parts as u64,
            blobs: purged.orphans.len() as u64,
            records: purged.records as u64,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::Loaded;
    use crate::config::Config;

    #[test]
    fn the_policy_version_follows_the_engine_rules_only() {
        let a = Loaded::new(Config::default()).policy_sha256;
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            Loaded::new(Config::default()).policy_sha256,
            "the same rules, the same version"
        );
        let other_rules = Config::from_toml("[limits]\nmax_depth = 3\n").expect("config");
        assert_ne!(a, Loaded::new(other_rules).policy_sha256);
        let other_listener = Config::from_toml("[serve]\nhttp_listen = \"127.0.0.1:9999\"\n").expect("config");
        assert_eq!(
            a,
            Loaded::new(other_listener).policy_sha256,
            "not the engine's business"
        );
    }
}
