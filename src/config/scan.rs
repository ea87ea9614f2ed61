//! `[scan]`: clamd, asked before an original is released under `after_scan`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{problem, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawScan {
    /// clamd's socket: a Unix socket path or `host:port`; empty: no scanning.
    clamd: String,
    /// Seconds for one scan (connect, send, verdict); past it the original is not released.
    timeout_secs: u64,
}

impl Default for RawScan {
    fn default() -> Self {
        Self {
            clamd: String::new(),
            timeout_secs: 60,
        }
    }
}

/// The virus scanner asked before an original is released under `after_scan` (`scan.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanConfig {
    pub clamd: Option<ClamdAddress>,
    pub timeout: Duration,
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl RawScan {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> ScanConfig {
        let clamd = match self.clamd.trim() {
            "" => None,
            a if a.starts_with('/') => Some(ClamdAddress::Unix(PathBuf::from(a))),
            a if a.parse::<SocketAddr>().is_ok()
                || a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) =>
            {
                Some(ClamdAddress::Tcp(a.to_string()))
            }
            _ => {
                problems.push(problem("scan.clamd", "must be an absolute socket path or host:port"));
                None
            }
        };
        if self.timeout_secs == 0 || self.timeout_secs > 3600 {
            problems.push(problem("scan.timeout_secs", "must be between 1 and 3600"));
        }
        ScanConfig {
            clamd,
            timeout: Duration::from_secs(self.timeout_secs),
        }
    }

    /// No clamd address was given (`after_scan` needs one).
    pub(super) fn clamd_unset(&self) -> bool {
        self.clamd.trim().is_empty()
    }
}
