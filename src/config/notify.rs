//! `[notify]`: notification mail on the LGWAN side — to the approvers when a request for an
//! original arrives, to the requester when it is approved or declined — through the
//! organisation's submission relay; the templates (Japanese first, English after).

use std::time::Duration;

use serde::Deserialize;

use super::{problem, range, ConfigProblem};

pub const DEFAULT_REQUEST_SUBJECT: &str = "【原本の開示申請】{file} / Request for an original";
pub const DEFAULT_REQUEST_BODY: &str = "原本の開示申請が届きました。承認または却下してください。

ファイル名：{file}
送信者：{sender}
宛先：{recipients}
申請者：{requester}
申請理由：{reason}

承認者のページ：{approvals_url}

--
A request for an original arrived: {file}, asked by {requester} ({reason}).
Approve or decline it on the approver page: {approvals_url}
";
pub const DEFAULT_DECISION_SUBJECT: &str = "【原本の開示申請】{decision_ja}：{file} / {decision_en}";
pub const DEFAULT_DECISION_BODY: &str = "原本の開示申請が{decision_ja}されました。

ファイル名：{file}
判断した人：{approver}
コメント：{comment}

ファイルのページ：{link}

--
Your request for the original of {file} was {decision_en} by {approver}.
Comment: {comment}
The file's page: {link}
";

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawNotify {
    relay: String,
    starttls: bool,
    ca_file: std::path::PathBuf,
    from: String,
    portal_url: String,
    approvers: Vec<String>,
    retries: u64,
    retry_interval_secs: u64,
    request_subject: String,
    request_body: String,
    decision_subject: String,
    decision_body: String,
}

impl Default for RawNotify {
    fn default() -> Self {
        Self {
            relay: String::new(),
            starttls: false,
            ca_file: std::path::PathBuf::new(),
            from: "mugai@localhost".into(),
            portal_url: String::new(),
            approvers: Vec::new(),
            retries: 5,
            retry_interval_secs: 30,
            request_subject: DEFAULT_REQUEST_SUBJECT.into(),
            request_body: DEFAULT_REQUEST_BODY.into(),
            decision_subject: DEFAULT_DECISION_SUBJECT.into(),
            decision_body: DEFAULT_DECISION_BODY.into(),
        }
    }
}

/// Notification mail (`notify.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `host:port` of the submission relay; `None`: no notification mail.
    pub relay: Option<(String, u16)>,
    /// STARTTLS required, the relay's certificate verified (`ca_file`, else the system's).
    pub starttls: bool,
    pub ca_file: Option<std::path::PathBuf>,
    pub from: String,
    /// Base URL of the LGWAN-side pages in the mails; `None`: `mail.link_base_url`.
    pub portal_url: Option<String>,
    /// Who hears of every request when no approver groups are configured.
    pub approvers: Vec<String>,
    /// Tries after the first, each `retry_interval` × 2ⁿ later.
    pub retries: u32,
    pub retry_interval: Duration,
    pub request_subject: String,
    pub request_body: String,
    pub decision_subject: String,
    pub decision_body: String,
}

/// Whether `address` looks like one mailbox (what a relay would take in `RCPT TO`).
pub fn plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

impl RawNotify {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> NotifyConfig {
        range(problems, "notify.retries", self.retries, 0, 20);
        range(
            problems,
            "notify.retry_interval_secs",
            self.retry_interval_secs,
            1,
            3600,
        );
        let relay = self.relay.trim();
        let relay = if relay.is_empty() {
            None
        } else {
            let parsed = relay
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.trim_matches(['[', ']']).to_string(), port.parse::<u16>().ok()?)))
                .filter(|(host, port)| !host.is_empty() && *port != 0);
            if parsed.is_none() {
                problems.push(problem("notify.relay", "must be host:port (the submission relay)"));
            }
            parsed
        };
        if relay.is_some() && !plausible_address(&self.from) {
            problems.push(problem("notify.from", "must be an address"));
        }
        if !self.ca_file.as_os_str().is_empty() {
            if let Err(e) = std::fs::read(&self.ca_file) {
                problems.push(problem("notify.ca_file", &format!("{}: {e}", self.ca_file.display())));
            }
        }
        for a in &self.approvers {
            if !plausible_address(a) {
                problems.push(problem("notify.approvers", &format!("{a:?} is not an address")));
            }
        }
        NotifyConfig {
            relay,
            starttls: self.starttls,
            ca_file: Some(self.ca_file).filter(|p| !p.as_os_str().is_empty()),
            from: self.from,
            portal_url: Some(self.portal_url.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()),
            approvers: self.approvers,
            retries: u32::try_from(self.retries).unwrap_or(5),
            retry_interval: Duration::from_secs(self.retry_interval_secs),
            request_subject: self.request_subject,
            request_body: self.request_body,
            decision_subject: self.decision_subject,
            decision_body: self.decision_body,
        }
    }
}
