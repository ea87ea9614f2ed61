//! `[policy]`: per kind sanitize / pass / block, the admission table (which extensions a kind may
//! carry), CSV injection; validated into `crate::policy::Policy`.

use serde::Deserialize;

use super::{choice, ConfigProblem};
use crate::policy::{Admission, CsvInjection, MissingExtension, Policy};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPolicy {
    /// Per file kind: `sanitize`, `block` or `pass`.
    kinds: std::collections::BTreeMap<String, String>,
    /// Write `_mugai_report.txt` into archives that had entries left out.
    archive_report: bool,
    /// CSV formula cells: `neutralize` (default) or `keep`.
    csv_injection: String,
    /// Names without an extension: `admit` (default; the content decides) or `block`.
    missing_extension: String,
    /// Per file kind: extensions added to the ones mugai admits for it.
    extensions: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        Self {
            kinds: Default::default(),
            archive_report: true,
            csv_injection: "neutralize".into(),
            missing_extension: "admit".into(),
            extensions: Default::default(),
        }
    }
}

impl RawPolicy {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> Policy {
        let csv_injection = choice(
            problems,
            "policy.csv_injection",
            &self.csv_injection,
            &[("neutralize", CsvInjection::Neutralize), ("keep", CsvInjection::Keep)],
        );
        let missing_extension = choice(
            problems,
            "policy.missing_extension",
            &self.missing_extension,
            &[("admit", MissingExtension::Admit), ("block", MissingExtension::Block)],
        );
        let admission = Admission::from_config(&self.extensions, missing_extension).unwrap_or_else(|found| {
            problems.extend(found.into_iter().map(|(key, message)| ConfigProblem { key, message }));
            Admission::default()
        });
        Policy::from_table(&self.kinds, self.archive_report, csv_injection, admission).unwrap_or_else(|found| {
            problems.extend(found.into_iter().map(|(key, message)| ConfigProblem { key, message }));
            Policy::default()
        })
    }
}
