//! `[office]`: how Office hyperlinks are treated.

use serde::Deserialize;

use super::{choice, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawOffice {
    /// `text` (default): hyperlinks lose their target and stay as text; `keep`: web links stay.
    hyperlinks: String,
}

impl Default for RawOffice {
    fn default() -> Self {
        Self {
            hyperlinks: "text".into(),
        }
    }
}

/// How Office hyperlinks are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hyperlinks {
    /// The link target is removed; the linked text stays.
    Text,
    /// `http`, `https` and `mailto` links stay clickable.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficePolicy {
    pub hyperlinks: Hyperlinks,
}

impl RawOffice {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> OfficePolicy {
        let hyperlinks = choice(
            problems,
            "office.hyperlinks",
            &self.hyperlinks,
            &[("text", Hyperlinks::Text), ("keep", Hyperlinks::Keep)],
        );
        OfficePolicy { hyperlinks }
    }
}
