//! The operator's policy: what happens to each kind of file (`[policy]` in the config), and
//! the switches for what the rebuilders add or change beyond removing active content.
//!
//! Defaults fail closed: every kind mugai can rebuild is rebuilt, every other kind is
//! blocked, and HTML attachments are blocked unless the operator has them converted to text.
//! An operator may block more (`svg = "block"` is the default anyway) or let a kind through
//! unchanged (`pass`) — never one that runs, scripts or mounts ([`NEVER_PASSED`]), which the
//! config refuses. Which names a kind may carry is [`admission`]'s.
//!
//! May use: leaves (`kind`).

pub mod admission;

use std::collections::BTreeMap;

pub use admission::{Admission, MissingExtension, NameVerdict};

use crate::kind::FileKind;

/// What happens to files of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindAction {
    /// Rebuilt by its sanitizer (blocked as `unsupported` when there is none).
    Sanitize,
    /// Refused whatever it holds (reason `policy`).
    Block,
    /// Kept byte for byte, reported as passed by policy.
    Pass,
}

/// CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvInjection {
    /// Such cells get a leading `'`, so spreadsheets show them as text (numbers like `-12`
    /// are left alone).
    Neutralize,
    /// Left as they are.
    Keep,
}

/// The validated `[policy]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    kinds: BTreeMap<FileKind, KindAction>,
    /// Archives with entries left out get a `_mugai_report.txt` saying which and why.
    pub archive_report: bool,
    pub csv_injection: CsvInjection,
    /// Which (kind, extension) pairs may cross.
    pub admission: Admission,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            kinds: BTreeMap::new(),
            archive_report: true,
            csv_injection: CsvInjection::Neutralize,
            admission: Admission::default(),
        }
    }
}

/// Kinds that can never be passed: they run, mount, fetch or script when opened.
pub const NEVER_PASSED: &[FileKind] = &[
    FileKind::Pe,
    FileKind::Elf,
    FileKind::MachO,
    FileKind::Lnk,
    FileKind::Script,
    FileKind::Unknown,
    FileKind::Html,
    FileKind::Svg,
    FileKind::Xml,
    FileKind::ShellText,
    FileKind::Mime,
    FileKind::DiskImage,
    FileKind::Chm,
    FileKind::OneNote,
    FileKind::Msi,
    FileKind::Jar,
];

impl Policy {
    /// The action for `kind`: the operator's, else `Block` for HTML (a page is converted to
    /// text only when asked: `html = "sanitize"`), else `Sanitize`.
    pub fn action(&self, kind: FileKind) -> KindAction {
        self.kinds.get(&kind).copied().unwrap_or(match kind {
            FileKind::Html => KindAction::Block,
            _ => KindAction::Sanitize,
        })
    }

    /// Build from the config's per-kind table; every problem is returned with its key path.
    pub fn from_table(
        table: &BTreeMap<String, String>,
        archive_report: bool,
        csv_injection: CsvInjection,
        admission: Admission,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut kinds = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, action) in table {
            let key = format!("policy.kinds.{name}");
            let Some(kind) = FileKind::from_name(name) else {
                problems.push((key, format!("`{name}` is not a file kind mugai knows")));
                continue;
            };
            let action = match action.as_str() {
                "sanitize" => KindAction::Sanitize,
                "block" => KindAction::Block,
                "pass" if NEVER_PASSED.contains(&kind) => {
                    problems.push((key, format!("{name} files run when opened and cannot be passed")));
                    continue;
                }
                "pass" => KindAction::Pass,
                other => {
                    problems.push((key, format!("`{other}` is not one of: sanitize, block, pass")));
                    continue;
                }
            };
            kinds.insert(kind, action);
        }
        if problems.is_empty() {
            Ok(Policy {
                kinds,
                archive_report,
                csv_injection,
                admission,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kinds_default_to_sanitize_and_take_the_operators_word() {
        let p = Policy::from_table(
            &table(&[("png", "pass"), ("docx", "block")]),
            true,
            CsvInjection::Neutralize,
            Admission::default(),
        )
        .unwrap();
        assert_eq!(p.action(FileKind::Png), KindAction::Pass);
        assert_eq!(p.action(FileKind::Docx), KindAction::Block);
        assert_eq!(p.action(FileKind::Pdf), KindAction::Sanitize);
    }

    #[test]
    fn executables_cannot_be_passed_and_typos_are_named() {
        let err = Policy::from_table(
            &table(&[("pe", "pass"), ("pfd", "block"), ("pdf", "allow")]),
            true,
            CsvInjection::Keep,
            Admission::default(),
        )
        .unwrap_err();
        let keys: Vec<&str> = err.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["policy.kinds.pdf", "policy.kinds.pe", "policy.kinds.pfd"]);
    }
}
