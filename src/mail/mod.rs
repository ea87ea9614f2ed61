//! Mail without protocol and without storage (メール無害化の部品): parsing a message into its
//! header block, readable text, files and forwarded messages (`parse.rs`, `mime.rs`,
//! `header.rs`, `codec.rs`), HTML made plain text (`text.rs`), the notice to the recipient
//! (`notice.rs`), the rebuilt message (`rebuild.rs`), and the mail report's shape (here).
//!
//! The run of one message — storing the original first, each file through the engine, the
//! ledger and the audit trail — is `pipeline::message`; this module knows no store, no audit
//! log and no SMTP. May use `cdr` and leaves.

pub mod codec;
pub mod embedded;
pub mod header;
pub mod mime;
pub mod notice;
pub mod parse;
pub mod rebuild;
pub mod text;

use serde::Serialize;

use crate::report::{Digest256, Outcome, Report};
use parse::Damage;

/// Schema of the mail report (`--report`, the HTTP API, `X-Mugai-Id` lookups).
pub const SCHEMA: &str = "mugai.mail-report/1";

/// The SMTP envelope (empty for `mugai mail` unless given).
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

/// What a message became.
#[derive(Debug, Serialize)]
pub struct MailReport {
    pub schema: &'static str,
    pub mugai_version: &'static str,
    /// The ledger id of the stored original (also in the `X-Mugai-Id` header).
    pub id: String,
    pub message_id: Option<String>,
    /// The most severe outcome of the body and any part.
    pub outcome: Outcome,
    pub input: Digest256,
    pub body: BodyReport,
    pub signature_removed: bool,
    /// Why the structure was not trusted (the malformed-mail policy applied).
    pub damage: Vec<String>,
    pub parts: Vec<PartReport>,
    pub duration_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct BodyReport {
    /// `plain`, `html` (converted to text) or `none`.
    pub source: &'static str,
    pub urls_defanged: usize,
    pub alternatives_removed: usize,
    /// Whether the text was delivered (`false` under `malformed = "notice_only"`).
    pub delivered: bool,
}

/// One file of the message.
#[derive(Debug, Serialize)]
pub struct PartReport {
    pub path: String,
    pub name: Option<String>,
    /// Subject of the forwarded message it was in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub media_type: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The name it is attached under in the rebuilt mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_as: Option<String>,
    /// The ledger id of the stored original (the recipient page's object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_id: Option<String>,
    /// The engine's report, when the engine looked at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// The recipient link. A capability: not serialized into reports or logs.
    #[serde(skip)]
    pub link: Option<String>,
}

/// A message run through the pipeline (`pipeline::message::process`).
#[derive(Debug)]
pub struct Processed {
    pub rebuilt: rebuild::Rebuilt,
    pub report: MailReport,
}

pub fn subject_for(subject: Option<String>) -> String {
    let s = subject.unwrap_or_default();
    if s.trim().is_empty() {
        "（件名なし）".into()
    } else {
        s.chars().take(80).collect()
    }
}

pub fn describe_damage(d: &Damage) -> String {
    match d {
        Damage::NoHeaders => "no_headers".into(),
        Damage::MissingBoundary(p) => format!("missing_boundary:{p}"),
        Damage::BadEncoding(p) => format!("bad_encoding:{p}"),
        Damage::OverLimit(k) => format!("over_limit:{k}"),
        Damage::ParserFailed => "parser_failed".into(),
    }
}

pub fn summary(body: &BodyReport) -> String {
    let mut s = match body.source {
        "html" => "本文: HTML形式の本文をテキストに変換しました（スクリプト・フォーム等は削除）。".to_string(),
        "plain" => "本文: テキスト形式のため内容は変更していません。".to_string(),
        _ => "本文: 読み取れる本文はありませんでした。".to_string(),
    };
    if body.urls_defanged > 0 {
        s.push_str(&format!(
            "\nURL {} 件をクリックできない形（hxxps://example[.]jp）にしました。",
            body.urls_defanged
        ));
    }
    s
}

pub fn notes(signed: bool, body: &BodyReport, malformed: bool, over_limit: bool, damage: &[String]) -> Vec<String> {
    let mut n = Vec::new();
    if body.alternatives_removed > 0 {
        n.push("HTML版など同じ内容の別形式の本文は削除しました。".to_string());
    }
    if signed {
        n.push("電子署名は、無害化で内容が変わり無効になるため削除しました。".to_string());
    }
    if malformed {
        n.push(format!(
            "メールの構造が壊れていたため（{}）、添付ファイルはすべて保留しました。",
            damage.join(", ")
        ));
        if !body.delivered {
            n.push("本文も保留しました。原本をご確認ください。".to_string());
        }
    }
    if over_limit {
        n.push("部品数または入れ子の上限を超えた部分は配送せず、原本とともに保管しました。".to_string());
    }
    n
}

/// `X-Mugai-Report`: the body and each part in a few words (names left out: they are in the
/// notice, and a header should stay ASCII).
pub fn header_summary(body: &BodyReport, parts: &[PartReport]) -> String {
    let mut items = vec![format!(
        "body={}",
        if body.source == "html" {
            "html-to-text"
        } else {
            body.source
        }
    )];
    if body.urls_defanged > 0 {
        items.push(format!("urls-defanged={}", body.urls_defanged));
    }
    for p in parts {
        let kind = p.report.as_ref().map_or("-", |r| r.detected_kind.as_str());
        let mut s = format!("{}={} {}", p.path, kind, p.outcome.as_str());
        if let Some(r) = &p.reason {
            s.push_str(&format!(" ({r})"));
        }
        items.push(s);
    }
    items.join("; ")
}
