//! `[audit]`: where the audit trail goes, and how long the ledger keeps the records behind
//! it (requests for originals and their decisions) after the originals themselves are gone.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{problem, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAudit {
    /// Where the audit trail (one JSON line per decision) goes: empty for
    /// `<data_dir>/audit.jsonl`, `-` for standard output, `syslog` for the local syslog
    /// socket (`/dev/log`; `syslog:/path` for another), or a file path.
    log: String,
    /// Days the ledger keeps each request for an original and its decision (who, when),
    /// independent of `store.retention_days` (the original may be gone long before).
    retention_days: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            log: String::new(),
            retention_days: 365,
        }
    }
}

/// The audit trail's destination and the records' retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub log: AuditLogTo,
    pub retention: Duration,
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLogTo {
    /// `<data_dir>/audit.jsonl`
    DataDir,
    Stdout,
    File(PathBuf),
    /// A local syslog socket (`/dev/log`, where journald listens too).
    Syslog(PathBuf),
}

impl AuditLogTo {
    /// The file the trail is written to, when it goes to a file.
    pub fn file(&self, data_dir: &std::path::Path) -> Option<PathBuf> {
        match self {
            AuditLogTo::DataDir => Some(data_dir.join("audit.jsonl")),
            AuditLogTo::File(path) => Some(path.clone()),
            AuditLogTo::Stdout | AuditLogTo::Syslog(_) => None,
        }
    }
}

impl RawAudit {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> AuditConfig {
        range(problems, "audit.retention_days", self.retention_days, 1, 36_500);
        let log = match self.log.as_str() {
            "" => AuditLogTo::DataDir,
            "-" => AuditLogTo::Stdout,
            "syslog" => AuditLogTo::Syslog(PathBuf::from("/dev/log")),
            other => match other.strip_prefix("syslog:") {
                Some(socket) if socket.starts_with('/') => AuditLogTo::Syslog(PathBuf::from(socket)),
                Some(_) => {
                    problems.push(problem("audit.log", "syslog:PATH needs an absolute socket path"));
                    AuditLogTo::Stdout
                }
                None => AuditLogTo::File(PathBuf::from(other)),
            },
        };
        AuditConfig {
            log,
            retention: Duration::from_secs(self.retention_days.saturating_mul(86_400)),
        }
    }
}
