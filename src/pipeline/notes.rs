//! What the approvers and the requester are told (`notify`): who hears of a request — the
//! approver groups deciding for the mail's recipients (`[[portal.approver_groups]] notify`),
//! or `notify.approvers` where no groups are configured — and the words, from the templates
//! of `[notify]`.

use crate::config::Config;
use crate::notify::{fill, Note};
use crate::store::{MessageRow, PartRow, ReleaseRow};

/// The base of the LGWAN-side pages in notification mail.
fn portal_base(config: &Config) -> &str {
    config
        .notify
        .portal_url
        .as_deref()
        .unwrap_or(&config.mail.link_base_url)
}

fn file_name(part: &PartRow) -> &str {
    part.name.as_deref().unwrap_or("(no name)")
}

/// The note to the approvers of a new request; `None` when nobody is to hear of it.
pub(super) fn request(
    config: &Config,
    part: &PartRow,
    message: Option<&MessageRow>,
    release: &ReleaseRow,
) -> Option<Note> {
    let recipients = message.map(|m| m.rcpt_to.as_slice()).unwrap_or_default();
    let groups = &config.portal.approver_groups;
    let mut to: Vec<String> = if groups.is_empty() {
        config.notify.approvers.clone()
    } else {
        groups
            .iter()
            .filter(|g| recipients.iter().any(|r| g.decides_for(r)))
            .flat_map(|g| g.notify.iter().cloned())
            .collect()
    };
    to.sort();
    to.dedup();
    if to.is_empty() {
        return None;
    }
    let approvals_url = format!("{}/approvals", portal_base(config));
    let recipients = recipients.join(", ");
    let values = [
        ("file", file_name(part)),
        ("sender", message.map_or("", |m| m.mail_from.as_str())),
        ("recipients", recipients.as_str()),
        ("requester", release.requester.as_deref().unwrap_or("")),
        ("reason", release.reason.as_deref().unwrap_or("")),
        ("approvals_url", approvals_url.as_str()),
    ];
    Some(Note {
        kind: "request",
        part: part.id.clone(),
        to,
        subject: fill(&config.notify.request_subject, &values),
        body: fill(&config.notify.request_body, &values),
    })
}

/// The note to the requester of a decided request (with the file page's `token`); `None`
/// when the request named nobody to tell.
pub(super) fn decision(
    config: &Config,
    part: &PartRow,
    release: &ReleaseRow,
    token: &str,
    approved: bool,
) -> Option<Note> {
    let requester = release
        .requester
        .clone()
        .filter(|r| crate::config::plausible_address(r))?;
    let link = format!("{}/o/{token}", portal_base(config));
    let values = [
        ("file", file_name(part)),
        ("decision_ja", if approved { "承認" } else { "却下" }),
        ("decision_en", if approved { "approved" } else { "declined" }),
        ("approver", release.decided_by.as_deref().unwrap_or("")),
        ("comment", release.comment.as_deref().unwrap_or("（なし / none）")),
        ("link", link.as_str()),
    ];
    Some(Note {
        kind: "decision",
        part: part.id.clone(),
        to: vec![requester],
        subject: fill(&config.notify.decision_subject, &values),
        body: fill(&config.notify.decision_body, &values),
    })
}
