//! The mail pipeline (メール無害化): one received message in, one rebuilt message out, with
//! the original and every attachment kept first.
//!
//! `process` is the single code path of the SMTP gateway and of `mugai mail`:
//! 1. the whole message is stored (`store/`), before anything reads it;
//! 2. it is parsed (`parse.rs`): header block, readable text, files, forwarded messages;
//! 3. each file goes through the engine (or is held/blocked: TNEF, encrypted, broken) and is
//!    stored with its clean copy;
//! 4. the text is made plain (`text.rs`), the notice written (`notice.rs`), and the message
//!    rebuilt (`rebuild.rs`) with the files re-attached or replaced by links, per policy;
//! 5. the ledger row is completed and the audit log written.
//!
//! Broken mail never fails here: its text is delivered and its files held (or only the
//! notice, by policy). Only the store failing, or a message over the size limit, is an
//! error — the caller then refuses the message so the sender's server keeps it.

pub mod codec;
pub mod embedded;
pub mod header;
pub mod mime;
pub mod notice;
pub mod parse;
pub mod rebuild;
pub mod text;

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::audit::AuditLog;
use crate::cdr::{Engine, FileKind};
use crate::report::{Action, Digest256, Outcome, Report, What};
use crate::store::{MessageRow, NewPart, Store, StoreError};
use parse::{Attachment, BodySource, Damage, Item, Mail, Special};
use rebuild::{OutPart, Rebuilt};

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

/// The result of [`process`].
#[derive(Debug)]
pub struct Processed {
    pub rebuilt: Rebuilt,
    pub report: MailReport,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("message of {size} bytes is over mail.max_message_bytes ({limit})")]
    TooLarge { size: u64, limit: u64 },
    #[error("could not keep the original: {0}")]
    Store(#[from] StoreError),
    /// The job was told to stop (its deadline passed); the sender retries.
    #[error("stopped: the message took longer than its deadline")]
    Stopped,
}

/// The gateway's own trace field (RFC 5321 §4.4): which host passed the message on, when,
/// under which ledger id; the recipient only when there is one (a list would leak the others).
fn received_field(engine: &Engine, id: &str, envelope: &Envelope) -> String {
    let host = &engine.config.smtp.hostname;
    let version = env!("CARGO_PKG_VERSION");
    let date = crate::clock::rfc5322_jst(crate::clock::now());
    match envelope.rcpt_to.as_slice() {
        [one] if one.bytes().all(|b| b.is_ascii_graphic()) => {
            format!("by {host} (mugai {version}) id {id}\r\n\tfor <{one}>; {date}")
        }
        _ => format!("by {host} (mugai {version}) id {id};\r\n\t{date}"),
    }
}

/// Run one message through the gateway (see the module documentation). `raw` is dropped as
/// soon as the message is stored and parsed, before the files are disarmed.
pub fn process<R: AsRef<[u8]>>(
    engine: &Engine,
    store: &Store,
    audit: &AuditLog,
    raw: R,
    envelope: &Envelope,
) -> Result<Processed, MailError> {
    let started = Instant::now();
    let (row, message_id, mail) = receive(engine, store, raw.as_ref(), envelope)?;
    drop(raw);
    finish(engine, store, audit, envelope, (row, message_id), mail, started)
}

/// Store the message, then parse it into owned parts.
fn receive(
    engine: &Engine,
    store: &Store,
    raw: &[u8],
    envelope: &Envelope,
) -> Result<(MessageRow, Option<String>, Mail<'static>), MailError> {
    let cfg = &engine.config.mail;
    if raw.len() as u64 > cfg.max_message_bytes {
        return Err(MailError::TooLarge {
            size: raw.len() as u64,
            limit: cfg.max_message_bytes,
        });
    }
    let message_id = parse::message_id(raw);
    let row = store.keep_message(raw, message_id.as_deref(), &envelope.mail_from, &envelope.rcpt_to)?;
    let bounds = parse::Bounds {
        max_parts: cfg.max_parts,
        max_nesting: cfg.max_nesting,
    };
    let mail = parse::parse(raw, bounds).into_owned();
    Ok((row, message_id, mail))
}

/// Disarm the parts, rebuild the message, complete the ledger row, write the audit lines.
fn finish(
    engine: &Engine,
    store: &Store,
    audit: &AuditLog,
    envelope: &Envelope,
    (row, message_id): (MessageRow, Option<String>),
    mail: Mail<'static>,
    started: Instant,
) -> Result<Processed, MailError> {
    let cfg = &engine.config.mail;
    let mut run = Run {
        engine,
        store,
        message: &row.id,
        malformed: !mail.damage.is_empty(),
        parts: Vec::new(),
        lines: Vec::new(),
    };
    let damage: Vec<String> = mail.damage.iter().map(describe_damage).collect();
    let signed = mail.signed;
    let over_limit = mail.damage.iter().any(|d| matches!(d, Damage::OverLimit(_)));
    let (mut rebuilt, body_text, body) = run.message(mail, None)?;

    // The outer message gets the notice and the gateway's headers.
    let mut outcome = run.parts.iter().map(|p| p.outcome).max().unwrap_or(Outcome::Clean);
    if body.source == "html" || body.urls_defanged > 0 || body.alternatives_removed > 0 || signed || !body.delivered {
        outcome = outcome.max(Outcome::Disarmed);
    }
    let notes = notes(signed, &body, run.malformed, over_limit, &damage);
    let summary = summary(&body);
    let notice = notice::render(
        &cfg.notice_template,
        &summary,
        &run.lines,
        &notes,
        engine.config.store.retention.as_secs() / 86_400,
    );
    rebuilt.set_text(&format!("{notice}\n{body_text}"), cfg.body_charset);
    rebuilt.gateway_headers = vec![
        ("Received".into(), received_field(engine, &row.id, envelope)),
        ("X-Mugai-Outcome".into(), outcome.as_str().into()),
        ("X-Mugai-Id".into(), row.id.clone()),
        (
            "X-Mugai-Report".into(),
            rebuild::fold("X-Mugai-Report", &header_summary(&body, &run.parts)),
        ),
    ];

    let report = MailReport {
        schema: SCHEMA,
        mugai_version: env!("CARGO_PKG_VERSION"),
        id: row.id.clone(),
        message_id,
        outcome,
        input: Digest256 {
            size: row.size,
            sha256: row.blob.clone(),
        },
        body,
        signature_removed: signed,
        damage,
        parts: std::mem::take(&mut run.parts),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let report_json = serde_json::to_string(&report).unwrap_or_default();
    store.finish_message(&row.id, outcome.as_str(), &report_json)?;
    write_audit(audit, &report, envelope);
    Ok(Processed { rebuilt, report })
}

/// State of one message's run.
struct Run<'e> {
    engine: &'e Engine,
    store: &'e Store,
    message: &'e str,
    malformed: bool,
    parts: Vec<PartReport>,
    lines: Vec<notice::Line>,
}

impl Run<'_> {
    /// Rebuild one message (outer or forwarded): its files, and its readable text, returned
    /// beside it for the caller to put in (`Rebuilt::set_text`, after the notice for the outer one).
    fn message(&mut self, mail: Mail<'_>, within: Option<String>) -> Result<(Rebuilt, String, BodyReport), MailError> {
        let cfg = &self.engine.config.mail;
        let fields = mail.fields();
        let kept_headers = rebuild::kept_fields(&fields);
        let mut source = "none";
        let mut texts = Vec::new();
        for (kind, body) in &mail.bodies {
            match kind {
                BodySource::Html => {
                    source = "html";
                    texts.push(text::html_to_text(body));
                }
                BodySource::Plain => {
                    if source == "none" {
                        source = "plain";
                    }
                    texts.push(body.clone());
                }
                BodySource::None => {}
            }
        }
        let mut body_text = texts.join("\n\n");
        let mut urls_defanged = 0;
        if cfg.defang_urls {
            let (t, n) = text::defang(&body_text);
            body_text = t;
            urls_defanged = n;
        }
        let delivered = !(self.malformed && cfg.malformed_notice_only);
        if !delivered {
            body_text.clear();
        }
        let body = BodyReport {
            source,
            urls_defanged,
            alternatives_removed: mail.dropped_alternatives,
            delivered,
        };

        let mut parts = Vec::new();
        for item in mail.items {
            if crate::cdr::stop_requested() {
                return Err(MailError::Stopped);
            }
            match item {
                Item::File(a) => {
                    if let Some(part) = self.file(a, within.clone())? {
                        parts.push(part);
                    }
                }
                Item::Message(f) => {
                    let inner_within = Some(subject_for(f.mail.header_text("subject")));
                    let (mut inner, inner_text, _) = self.message(f.mail, inner_within)?;
                    inner.set_text(&inner_text, cfg.body_charset);
                    parts.push(OutPart::Message {
                        name: f.name,
                        message: Box::new(inner),
                    });
                }
            }
        }
        Ok((
            Rebuilt {
                gateway_headers: Vec::new(),
                kept_headers,
                text: Vec::new(),
                charset: None,
                parts,
            },
            body_text,
            body,
        ))
    }

    /// One file: decide, store, and say what goes into the rebuilt message.
    fn file(&mut self, a: Attachment<'_>, within: Option<String>) -> Result<Option<OutPart>, MailError> {
        let cfg = &self.engine.config.mail;
        if a.special == Some(Special::Signature) {
            // Named in the notice like every other part: what it was and that it went.
            self.lines.push(notice::Line {
                name: a.name.clone().unwrap_or_else(|| "電子署名".into()),
                within: within.clone(),
                outcome: Outcome::Disarmed,
                reason: Some("signature".into()),
                renamed: None,
                attached: false,
                removed: Vec::new(),
                link: None,
            });
            self.parts.push(PartReport {
                path: a.path,
                name: a.name,
                within,
                media_type: a.media_type,
                outcome: Outcome::Disarmed,
                reason: Some("signature".into()),
                attached_as: None,
                stored_id: None,
                report: None,
                link: None,
            });
            return Ok(None);
        }
        // Decide without the engine where the mail itself says enough.
        let decided: Option<(Outcome, &str)> = match a.special {
            Some(Special::Tnef) => Some((if cfg.hold_tnef { Outcome::Held } else { Outcome::Blocked }, "tnef")),
            Some(Special::Encrypted) => Some((
                if cfg.hold_encrypted {
                    Outcome::Held
                } else {
                    Outcome::Blocked
                },
                "encrypted",
            )),
            Some(Special::BadEncoding) => Some((Outcome::Held, "bad_encoding")),
            Some(Special::EncodedInText) => Some((Outcome::Blocked, "encoded_block")),
            _ if self.malformed => Some((Outcome::Held, "malformed_mail")),
            _ => None,
        };
        let (outcome, reason, report, clean) = match decided {
            Some((outcome, reason)) => (outcome, Some(reason.to_string()), None, None),
            None => {
                let processed = self.engine.run(&a.bytes, a.name.as_deref());
                let r = processed.report;
                (r.outcome, r.reason.clone(), Some(r), processed.output)
            }
        };
        let kind = report.as_ref().map_or("unknown", |r| r.detected_kind.as_str());
        let out_kind = report.as_ref().and_then(|r| r.output.as_ref().map(|o| o.kind));
        let display = a
            .name
            .clone()
            .unwrap_or_else(|| format!("（名前なし: {}）", a.media_type));
        let attach_name = out_kind.map(|k| match &a.name {
            Some(n) => report
                .as_ref()
                .and_then(|r| r.output.as_ref().and_then(|o| o.name.clone()))
                .unwrap_or_else(|| n.clone()),
            None => format!("part-{}.{}", a.path, k.extension().unwrap_or("bin")),
        });
        let report_json = report
            .as_ref()
            .map(Report::to_json)
            .unwrap_or_else(|| json!({"outcome": outcome.as_str(), "reason": reason}).to_string());
        let row = self.store.keep_part(&NewPart {
            message: self.message,
            path: &a.path,
            name: a.name.as_deref(),
            kind,
            outcome: outcome.as_str(),
            reason: reason.as_deref(),
            original: &a.bytes,
            original_sha256: report.as_ref().map(|r| r.input.sha256.as_str()),
            clean: clean.as_deref(),
            clean_sha256: report
                .as_ref()
                .and_then(|r| r.output.as_ref().map(|o| o.digest.sha256.as_str())),
            clean_name: attach_name.as_deref(),
            report: &report_json,
        })?;
        drop(a.bytes);
        let attach = clean.is_some() && cfg.attachments.reattaches();
        let wants_link = !outcome.has_output() || cfg.attachments.links();
        let link = wants_link.then(|| format!("{}/o/{}", cfg.link_base_url, self.store.link_for(&row)));
        let removed: Vec<What> = report
            .as_ref()
            .map(|r| {
                let mut w: Vec<What> = r
                    .findings
                    .iter()
                    .filter(|f| f.action != Action::Kept)
                    .map(|f| f.what)
                    .collect();
                w.sort();
                w.dedup();
                w
            })
            .unwrap_or_default();
        self.lines.push(notice::Line {
            name: display,
            within: within.clone(),
            outcome,
            reason: reason.clone(),
            renamed: attach_name.clone().filter(|n| Some(n) != a.name.as_ref()),
            attached: attach,
            removed,
            link: link.clone(),
        });
        let out = match (attach, clean, &attach_name) {
            (true, Some(bytes), Some(name)) => Some(OutPart::File {
                name: name.clone(),
                media_type: out_kind.unwrap_or(FileKind::Unknown).media_type().to_string(),
                bytes,
            }),
            _ => None,
        };
        self.parts.push(PartReport {
            path: a.path,
            name: a.name,
            within,
            media_type: a.media_type,
            outcome,
            reason,
            attached_as: if out.is_some() { attach_name } else { None },
            stored_id: Some(row.id),
            report,
            link,
        });
        Ok(out)
    }
}

fn subject_for(subject: Option<String>) -> String {
    let s = subject.unwrap_or_default();
    if s.trim().is_empty() {
        "（件名なし）".into()
    } else {
        s.chars().take(80).collect()
    }
}

fn describe_damage(d: &Damage) -> String {
    match d {
        Damage::NoHeaders => "no_headers".into(),
        Damage::MissingBoundary(p) => format!("missing_boundary:{p}"),
        Damage::BadEncoding(p) => format!("bad_encoding:{p}"),
        Damage::OverLimit(k) => format!("over_limit:{k}"),
        Damage::ParserFailed => "parser_failed".into(),
    }
}

fn summary(body: &BodyReport) -> String {
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

fn notes(signed: bool, body: &BodyReport, malformed: bool, over_limit: bool, damage: &[String]) -> Vec<String> {
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
fn header_summary(body: &BodyReport, parts: &[PartReport]) -> String {
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

fn write_audit(audit: &AuditLog, report: &MailReport, envelope: &Envelope) {
    for p in &report.parts {
        let (input, output, findings) = match &p.report {
            Some(r) => (
                Some(r.input.sha256.clone()),
                r.output.as_ref().map(|o| o.digest.sha256.clone()),
                serde_json::to_value(&r.findings).unwrap_or_default(),
            ),
            None => (None, None, json!([])),
        };
        let line = json!({
            "event": "mail.part",
            "message": report.id,
            "message_id": report.message_id,
            "path": p.path,
            "name": p.name,
            "kind": p.report.as_ref().map(|r| r.detected_kind.as_str()),
            "outcome": p.outcome.as_str(),
            "reason": p.reason,
            "stored_id": p.stored_id,
            "input_sha256": input,
            "output_sha256": output,
            "findings": findings,
        });
        if let Err(e) = audit.record(line) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }
    let line = json!({
        "event": "mail.message",
        "message": report.id,
        "message_id": report.message_id,
        "mail_from": envelope.mail_from,
        "rcpt_to": envelope.rcpt_to,
        "size": report.input.size,
        "sha256": report.input.sha256,
        "outcome": report.outcome.as_str(),
        "body": report.body.source,
        "parts": report.parts.len(),
        "damage": report.damage,
        "duration_ms": report.duration_ms,
    });
    if let Err(e) = audit.record(line) {
        tracing::error!(error = %e, "audit log write failed");
    }
}
