//! The per-file report: what came in, what was found, what was done, what went out.
//!
//! This JSON is an interface (mail headers, the HTTP API, audit logs and operators' scripts
//! read it), so its shape is versioned by [`SCHEMA`]: fields are only ever added within one
//! version; renaming or removing one bumps it.
//!
//! May use: leaves (`kind`, `ids`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kind::FileKind;

/// Schema identifier written into every report.
pub const SCHEMA: &str = "mugai.report/1";

/// What happened to a file, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing needed removing; the output is the rebuilt file.
    Clean,
    /// Something was removed or neutralised; the rest was kept.
    Disarmed,
    /// Policy refuses the file (executable, unknown type, over a limit, encrypted, ...).
    Blocked,
    /// Kept aside until someone acts (a password, an approval).
    Held,
    /// We could not process it (our fault or an internal failure); nothing is passed.
    Error,
}

impl Outcome {
    /// Whether an output file exists for this outcome.
    pub fn has_output(self) -> bool {
        matches!(self, Outcome::Clean | Outcome::Disarmed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::Disarmed => "disarmed",
            Outcome::Blocked => "blocked",
            Outcome::Held => "held",
            Outcome::Error => "error",
        }
    }

    /// The outcome [`Outcome::as_str`] names.
    pub fn parse(name: &str) -> Option<Outcome> {
        [
            Outcome::Clean,
            Outcome::Disarmed,
            Outcome::Blocked,
            Outcome::Held,
            Outcome::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }
}

/// What a finding is about. Serialized in snake_case; new variants may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    Javascript,
    AutoAction,
    Launch,
    EmbeddedFile,
    ExternalLink,
    Uri,
    FormSubmit,
    Multimedia,
    Macro,
    OleObject,
    Activex,
    Dde,
    Xfa,
    Metadata,
    Annotation,
    Action,
    Encryption,
    PrivateData,
    Structure,
    /// Content of the input that could not be carried over (pages of a broken page tree):
    /// the output lacks it, the original has it.
    Damage,
}

/// What was done about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Removed,
    Kept,
    Neutralized,
}

/// One thing found in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub what: What,
    /// Where it was: an object or part path (`obj 12 0 /OpenAction`, `word/vbaProject.bin`).
    #[serde(rename = "where")]
    pub location: String,
    pub action: Action,
    /// A short human-readable detail (action type, file name); never file content.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Finding {
    pub fn removed(what: What, location: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            what,
            location: location.into(),
            action: Action::Removed,
            detail: detail.into(),
        }
    }

    /// The same finding, located inside `container` (an archive entry or package part path):
    /// `word/embeddings/book.xlsm: xl/vbaProject.bin`.
    pub fn within(mut self, container: &str) -> Self {
        self.location = format!("{container}: {}", self.location);
        self
    }
}

/// Size and SHA-256 of a byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest256 {
    pub size: u64,
    pub sha256: String,
}

impl Digest256 {
    pub fn of(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        Digest256 {
            size: bytes.len() as u64,
            sha256: hex(&hash),
        }
    }
}

pub use crate::ids::hex;

/// The output file, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputInfo {
    #[serde(flatten)]
    pub digest: Digest256,
    /// Kind of the output (may differ from the input: docm → docx).
    pub kind: FileKind,
    /// Suggested name for the output (extension changed when the kind changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The report for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub mugai_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub detected_kind: FileKind,
    /// The name's extension says another kind than the content.
    pub extension_mismatch: bool,
    pub outcome: Outcome,
    /// Why a file was blocked, held or errored (stable snake_case code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail for the reason; never file content or secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_detail: Option<String>,
    pub input: Digest256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputInfo>,
    pub findings: Vec<Finding>,
    pub duration_ms: u64,
}

impl Report {
    /// Compact JSON; serializing our own types cannot fail, but never panic on it either.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"schema\":\"{SCHEMA}\",\"outcome\":\"error\",\"reason\":\"report_serialization\",\"reason_detail\":\"{e}\"}}"))
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        let d = Digest256::of(b"abc");
        assert_eq!(d.size, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn finding_serializes_with_stable_names() {
        let f = Finding::removed(What::AutoAction, "obj 3 0 /OpenAction", "JavaScript");
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["what"], "auto_action");
        assert_eq!(j["where"], "obj 3 0 /OpenAction");
        assert_eq!(j["action"], "removed");
        assert_eq!(j["detail"], "JavaScript");
    }
}
