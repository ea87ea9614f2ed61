//! `[carry_in]`: the carry-in box (ファイル持ち込み) on the internet-side listener — which LGWAN
//! mailboxes it may send to, the notice's sender, who may use it, and how much each person
//! may carry in per day.

use serde::Deserialize;

use super::{plausible_address, problem, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawCarryIn {
    /// Domains of the LGWAN mailboxes files may be carried to (exact, case-insensitive). A
    /// listener serving `carry_in` needs at least one: without it the box would mail anyone.
    mailbox_domains: Vec<String>,
    /// Envelope sender and `From:` of the mail that brings the files.
    sender: String,
    /// Files one upload may hold.
    max_files: u64,
    /// Files and bytes one person may carry in per day (Japan time).
    daily_files: u64,
    daily_bytes: u64,
    /// Directory people may use the box only as members of this group (empty: anyone the
    /// directory signs in). Local accounts need the `carry_in` role.
    ldap_group: String,
}

impl Default for RawCarryIn {
    fn default() -> Self {
        Self {
            mailbox_domains: Vec::new(),
            sender: "mugai-carry-in@localhost.localdomain".into(),
            max_files: 10,
            daily_files: 50,
            daily_bytes: 500 * 1024 * 1024,
            ldap_group: String::new(),
        }
    }
}

/// The carry-in box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarryInConfig {
    /// Lower case, no `@`.
    pub mailbox_domains: Vec<String>,
    pub sender: String,
    pub max_files: usize,
    pub daily_files: u64,
    pub daily_bytes: u64,
    pub ldap_group: Option<String>,
}

impl CarryInConfig {
    /// Whether the box may send to `mailbox` (an address in one of the domains).
    pub fn may_send_to(&self, mailbox: &str) -> bool {
        plausible_address(mailbox)
            && mailbox
                .rsplit_once('@')
                .is_some_and(|(_, domain)| self.mailbox_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }
}

impl RawCarryIn {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>, served: bool) -> CarryInConfig {
        range(problems, "carry_in.max_files", self.max_files, 1, 100);
        range(problems, "carry_in.daily_files", self.daily_files, 1, 100_000);
        range(problems, "carry_in.daily_bytes", self.daily_bytes, 1, 1 << 40);
        if !plausible_address(&self.sender) {
            problems.push(problem("carry_in.sender", "must be a mail address"));
        }
        let mailbox_domains: Vec<String> = self
            .mailbox_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .collect();
        if mailbox_domains.iter().any(|d| d.is_empty() || d.contains(['@', ' '])) {
            problems.push(problem("carry_in.mailbox_domains", "each must be a domain name"));
        }
        if served && mailbox_domains.is_empty() {
            problems.push(problem(
                "carry_in.mailbox_domains",
                "a listener serves carry_in: name the LGWAN mail domains it may send to",
            ));
        }
        CarryInConfig {
            mailbox_domains,
            sender: self.sender,
            max_files: usize::try_from(self.max_files).unwrap_or(100),
            daily_files: self.daily_files,
            daily_bytes: self.daily_bytes,
            ldap_group: Some(self.ldap_group.trim().to_string()).filter(|g| !g.is_empty()),
        }
    }
}
