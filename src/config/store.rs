//! `[store]`: retention of originals, link lifetime, the link-signing key (a `Secret`).

use std::time::Duration;

use serde::Deserialize;

use super::{problem, range, ConfigProblem};
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStore {
    /// Days originals and the ledger rows are kept.
    retention_days: u64,
    /// Hours a download link stays valid (never past retention).
    link_ttl_hours: u64,
    /// Key signing download links, hex, 32 bytes or more. Empty: a random key is made in
    /// `<data_dir>/link.key` on first start.
    link_key: Secret<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            retention_days: 30,
            link_ttl_hours: 168,
            link_key: Secret::default(),
        }
    }
}

/// Originals and links (`store/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub retention: Duration,
    pub link_ttl: Duration,
    /// `None`: the key file in the data directory. Never printed (`Secret`).
    pub link_key: Option<Secret<Vec<u8>>>,
    /// How long a purged original's release request and decision are kept: the `[audit]`
    /// section's `retention_days`.
    pub record_retention: Duration,
}

impl RawStore {
    /// `record_retention` comes from the `[audit]` section.
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>, record_retention: Duration) -> StoreConfig {
        range(problems, "store.retention_days", self.retention_days, 1, 36_500);
        range(problems, "store.link_ttl_hours", self.link_ttl_hours, 1, 24 * 36_500);
        let link_key = if self.link_key.expose().is_empty() {
            None
        } else {
            let key = crate::ids::parse_key(self.link_key.expose().trim());
            if key.is_none() {
                problems.push(problem("store.link_key", "must be hex, 32 bytes (64 digits) or more"));
            }
            key.map(Secret::new)
        };
        StoreConfig {
            retention: Duration::from_secs(self.retention_days.saturating_mul(86_400)),
            link_ttl: Duration::from_secs(self.link_ttl_hours.saturating_mul(3_600)),
            link_key,
            record_retention,
        }
    }
}
