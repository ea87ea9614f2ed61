//! `[limits]`: the budgets for one file (every one finite; exceeding one is a typed refusal).

use std::time::Duration;

use serde::Deserialize;

use super::{range, Config, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawLimits {
    /// Largest input file accepted, in bytes.
    max_input_bytes: u64,
    /// Total bytes that all decompression inside one file may produce.
    max_decompressed_bytes: u64,
    /// How deep containers may nest (ZIP in ZIP, PDF attachment in mail, ...).
    max_depth: u32,
    /// Wall-clock budget for one file, in seconds.
    timeout_secs: u64,
    /// Most entries in one archive or Office package.
    max_entries: u64,
    /// Deepest XML element nesting in an Office part.
    max_xml_depth: u32,
    /// Largest expansion of one archive entry (uncompressed / compressed; entries under
    /// 64 KiB are exempt).
    max_entry_ratio: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: 100 * 1024 * 1024,
            max_decompressed_bytes: 256 * 1024 * 1024,
            max_depth: 8,
            timeout_secs: 60,
            max_entries: 10_000,
            max_xml_depth: 256,
            max_entry_ratio: 200,
        }
    }
}

/// Budgets for one file. Every field is finite; exceeding one is a typed refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_input_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_depth: u32,
    pub timeout: Duration,
    pub max_entries: u64,
    pub max_xml_depth: u32,
    pub max_entry_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Config::default().limits
    }
}

impl RawLimits {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> Limits {
        range(problems, "limits.max_input_bytes", self.max_input_bytes, 1, 1 << 40);
        range(
            problems,
            "limits.max_decompressed_bytes",
            self.max_decompressed_bytes,
            1,
            1 << 42,
        );
        range(problems, "limits.max_depth", u64::from(self.max_depth), 1, 64);
        range(problems, "limits.timeout_secs", self.timeout_secs, 1, 24 * 3600);
        range(problems, "limits.max_entries", self.max_entries, 1, 10_000_000);
        range(
            problems,
            "limits.max_xml_depth",
            u64::from(self.max_xml_depth),
            8,
            10_000,
        );
        Limits {
            max_input_bytes: self.max_input_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            max_depth: self.max_depth,
            timeout: Duration::from_secs(self.timeout_secs),
            max_entries: self.max_entries,
            max_xml_depth: self.max_xml_depth,
            max_entry_ratio: self.max_entry_ratio,
        }
    }
}
