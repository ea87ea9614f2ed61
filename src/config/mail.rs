//! `[mail]`: what the mail pipeline does — attachments re-attached or linked, URLs, charsets,
//! TNEF/encrypted/broken parts, the notice, the message limits.

use serde::Deserialize;

use super::{choice, problem, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawMail {
    /// Attachments: `reattach` (sanitized files in the mail), `url` (download links in the
    /// notice instead), `both`.
    attachments: String,
    /// Which notice lines carry their recipient-page link: `always`, `refused_only`, `never`.
    links: String,
    /// Web addresses in the text: `defang` (`hxxps://example[.]jp`) or `keep`.
    urls: String,
    /// Charset of the rebuilt text body: `utf-8` or `iso-2022-jp`.
    body_charset: String,
    /// TNEF (`winmail.dat`): `block` or `hold`.
    tnef: String,
    /// S/MIME and PGP encrypted parts: `hold` or `block`.
    encrypted: String,
    /// A mail whose MIME structure is broken: `deliver` (the text, attachments held) or
    /// `notice_only` (only the notice; the body is held with the original).
    malformed: String,
    /// Base of the links in the notice (the recipient page, `GET /o/{token}`).
    link_base_url: String,
    /// Most MIME parts in one message (all levels).
    max_parts: u64,
    /// Deepest MIME nesting (multiparts and forwarded messages).
    max_nesting: u32,
    /// Largest message accepted, in bytes, as it arrives (encoded).
    max_message_bytes: u64,
    /// The notice at the top of the body.
    notice_template: String,
}

impl Default for RawMail {
    fn default() -> Self {
        Self {
            attachments: "reattach".into(),
            links: "always".into(),
            urls: "defang".into(),
            body_charset: "utf-8".into(),
            tnef: "block".into(),
            encrypted: "hold".into(),
            malformed: "deliver".into(),
            link_base_url: "http://127.0.0.1:8080".into(),
            max_parts: 1000,
            max_nesting: 32,
            max_message_bytes: 150 * 1024 * 1024,
            notice_template: DEFAULT_NOTICE.into(),
        }
    }
}

/// The default notice (Japanese). `{summary}`, `{attachments}`, `{notes}` and
/// `{retention_days}` are filled in; `{attachments}` must appear.
pub const DEFAULT_NOTICE: &str = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
【無害化通知】このメールはインターネットから届いたため、mugai が無害化しました。
{summary}
{attachments}
{notes}
原本は {retention_days} 日間保管されます。リンクのあるファイルは、そのページから原本の開示を申請できます。
お問い合わせは情報システム担当まで。
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
";

/// What the mail layer does (`mail/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    pub attachments: AttachmentMode,
    pub links: NoticeLinks,
    pub defang_urls: bool,
    pub body_charset: BodyCharset,
    /// TNEF parts are held (true) or blocked (false, the default).
    pub hold_tnef: bool,
    /// Encrypted parts are held (true, the default) or blocked.
    pub hold_encrypted: bool,
    /// Broken MIME: deliver the text (false, the default) or only the notice.
    pub malformed_notice_only: bool,
    pub link_base_url: String,
    pub max_parts: u64,
    pub max_nesting: u32,
    pub max_message_bytes: u64,
    pub notice_template: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentMode {
    Reattach,
    Url,
    Both,
}

impl AttachmentMode {
    pub fn reattaches(self) -> bool {
        matches!(self, AttachmentMode::Reattach | AttachmentMode::Both)
    }
    pub fn links(self) -> bool {
        matches!(self, AttachmentMode::Url | AttachmentMode::Both)
    }
}

/// Which lines of the notice carry their part's recipient-page link (`mail.links`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLinks {
    /// Every part that was disarmed, blocked or held (the default): the recipient can ask
    /// for the original of a disarmed file (a macro that was removed) in one click, also when
    /// the clean file is attached. A file that needed nothing removed and is attached has no
    /// original worth asking for: no link.
    Always,
    /// Only parts without a clean file in the mail (blocked, held; disarmed ones under
    /// `attachments = "url"`, whose link is the only way to them).
    RefusedOnly,
    /// None (only with `attachments = "reattach"`: the notice then tells to ask IT).
    Never,
}

impl NoticeLinks {
    /// Whether a part's line links to its page: its `outcome`, and whether its clean file is
    /// `attached` to the mail.
    pub fn link(self, outcome: crate::report::Outcome, attached: bool) -> bool {
        use crate::report::Outcome;
        match self {
            NoticeLinks::Always => !(attached && outcome == Outcome::Clean),
            NoticeLinks::RefusedOnly => !attached,
            NoticeLinks::Never => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCharset {
    Utf8,
    Iso2022Jp,
}

impl RawMail {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> MailConfig {
        let mail = MailConfig {
            attachments: choice(
                problems,
                "mail.attachments",
                &self.attachments,
                &[
                    ("reattach", AttachmentMode::Reattach),
                    ("url", AttachmentMode::Url),
                    ("both", AttachmentMode::Both),
                ],
            ),
            links: choice(
                problems,
                "mail.links",
                &self.links,
                &[
                    ("always", NoticeLinks::Always),
                    ("refused_only", NoticeLinks::RefusedOnly),
                    ("never", NoticeLinks::Never),
                ],
            ),
            defang_urls: choice(problems, "mail.urls", &self.urls, &[("defang", true), ("keep", false)]),
            body_charset: choice(
                problems,
                "mail.body_charset",
                &self.body_charset,
                &[("utf-8", BodyCharset::Utf8), ("iso-2022-jp", BodyCharset::Iso2022Jp)],
            ),
            hold_tnef: choice(problems, "mail.tnef", &self.tnef, &[("block", false), ("hold", true)]),
            hold_encrypted: choice(
                problems,
                "mail.encrypted",
                &self.encrypted,
                &[("hold", true), ("block", false)],
            ),
            malformed_notice_only: choice(
                problems,
                "mail.malformed",
                &self.malformed,
                &[("deliver", false), ("notice_only", true)],
            ),
            link_base_url: self.link_base_url.trim_end_matches('/').to_string(),
            max_parts: self.max_parts,
            max_nesting: self.max_nesting,
            max_message_bytes: self.max_message_bytes,
            notice_template: self.notice_template.clone(),
        };
        if mail.links == NoticeLinks::Never && mail.attachments.links() {
            problems.push(problem(
                "mail.links",
                "\"never\" leaves a file that is not attached (attachments = \"url\" or \"both\") out of reach",
            ));
        }
        if !(mail.link_base_url.starts_with("http://") || mail.link_base_url.starts_with("https://")) {
            problems.push(problem("mail.link_base_url", "must start with http:// or https://"));
        }
        range(problems, "mail.max_parts", self.max_parts, 1, 100_000);
        range(problems, "mail.max_nesting", u64::from(self.max_nesting), 1, 100);
        range(
            problems,
            "mail.max_message_bytes",
            self.max_message_bytes,
            1024,
            1 << 34,
        );
        if !mail.notice_template.contains("{attachments}") {
            problems.push(problem("mail.notice_template", "must contain {attachments}"));
        }
        mail
    }
}

#[cfg(test)]
mod tests {
    use super::NoticeLinks;
    use crate::config::Config;
    use crate::report::Outcome;

    #[test]
    fn which_lines_link() {
        use NoticeLinks::*;
        // (outcome, attached) -> always, refused_only, never
        for (outcome, attached, expect) in [
            (Outcome::Disarmed, true, [true, false, false]),
            (Outcome::Disarmed, false, [true, true, false]),
            (Outcome::Clean, true, [false, false, false]),
            (Outcome::Held, false, [true, true, false]),
            (Outcome::Blocked, false, [true, true, false]),
        ] {
            let got = [Always, RefusedOnly, Never].map(|l| l.link(outcome, attached));
            assert_eq!(got, expect, "{outcome:?} attached={attached}");
        }
        // "never" would leave a file not in the mail out of reach.
        for attachments in ["url", "both"] {
            let toml = format!("[mail]\nattachments = \"{attachments}\"\nlinks = \"never\"\n");
            let keys: Vec<String> = Config::from_toml(&toml)
                .expect_err("refused")
                .0
                .into_iter()
                .map(|p| p.key)
                .collect();
            assert_eq!(keys, ["mail.links"]);
        }
        assert!(Config::from_toml("[mail]\nlinks = \"never\"\n").is_ok());
    }
}
