//! One received message, start to end — the single code path of the SMTP content filter and
//! of `mugai mail`:
//! 1. the whole message is stored, before anything reads it;
//! 2. it is parsed (`mail::parse`): header block, readable text, files, forwarded messages;
//! 3. each file goes through the engine (or is held/blocked: TNEF, encrypted, broken) and is
//!    stored with its clean copy;
//! 4. the text is made plain, the notice written, and the message rebuilt (`mail::rebuild`)
//!    with the files re-attached or replaced by links, per policy;
//! 5. the ledger row is completed and the audit trail written (`mail.message`, `mail.part`).
//!
//! [`process`] is that run, synchronous; [`Pipeline::message`] runs it for the daemon under a
//! worker permit and `engine.message_timeout_secs` (step 1 before the permit for a message in
//! memory: storing is a wait for the disk, not work for a core), and records the per-message
//! and per-file metrics. Broken mail never fails here: its text is delivered and its files held (or only
//! the notice, by policy). Only the store failing, a message over the size limit, or the
//! deadline is an error — the caller then refuses the message so the sender's server keeps it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Loaded;
use super::{Permit, Pipeline, WorkError};
use crate::audit::{AuditLog, Event, Origin};
use crate::cdr::FileKind;
use crate::config::AttachmentMode;
use crate::ids::hex;
use crate::mail::parse::{self, Attachment, BodySource, Damage, Item, Mail, Special};
use crate::mail::rebuild::{self, OutPart, Rebuilt};
use crate::mail::{
    describe_damage, header_summary, notes, notice, subject_for, summary, text, BodyReport, Envelope, MailReport,
    PartReport, Processed, SCHEMA,
};
use crate::report::{Action, Digest256, Outcome, Report, What};
use crate::store::{MessageRow, NewPart, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message of {size} bytes is over mail.max_message_bytes ({limit})")]
    TooLarge { size: u64, limit: u64 },
    #[error("could not keep the original: {0}")]
    Store(#[from] StoreError),
    /// The job was told to stop (its deadline passed); the sender retries.
    #[error("stopped: the message took longer than its deadline")]
    Stopped,
    /// No worker ran it to its end (deadline, shutdown, a failed task).
    #[error("{0}")]
    Work(WorkError),
}

/// The gateway's own trace field (RFC 5321 §4.4): which host passed the message on, when,
/// under which ledger id; the recipient only when there is one (a list would leak the others).
fn received_field(loaded: &Loaded, id: &str, envelope: &Envelope) -> String {
    let host = &loaded.config.smtp.hostname;
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
    loaded: &Loaded,
    store: &Store,
    audit: &AuditLog,
    origin: &Origin,
    raw: R,
    envelope: &Envelope,
) -> Result<Processed, MessageError> {
    process_as(
        loaded,
        store,
        (audit, origin),
        (raw, None),
        envelope,
        loaded.config.mail.attachments,
    )
}

/// [`process`], its files re-attached or linked as `attachments` says (the carry-in box
/// always links, whatever `mail.attachments` says for mail). `kept`: the message when
/// [`keep`] has kept it already (before a worker was taken); it is only parsed here.
fn process_as<R: AsRef<[u8]>>(
    loaded: &Loaded,
    store: &Store,
    (audit, origin): (&AuditLog, &Origin),
    (raw, kept): (R, Option<Kept>),
    envelope: &Envelope,
    attachments: AttachmentMode,
) -> Result<Processed, MessageError> {
    // The report's duration counts storing the message, wherever it was done, and not the
    // wait for a worker in between.
    let now = Instant::now();
    let started = kept.as_ref().map_or(now, |k| now.checked_sub(k.took).unwrap_or(now));
    let (row, message_id, mail) = match kept {
        Some(kept) => (
            kept.row,
            kept.message_id,
            parse::parse(raw.as_ref(), kept.bounds).into_owned(),
        ),
        None => receive(loaded, store, raw.as_ref(), envelope)?,
    };
    drop(raw);
    finish(
        loaded,
        store,
        (audit, origin),
        (envelope, attachments),
        (row, message_id),
        mail,
        started,
    )
}

/// Messages at least this large are parsed on one thread while stored on another.
const OVERLAP_BYTES: usize = 256 * 1024;

/// What is read of a message before it is kept: its size checked, its Message-ID and
/// Subject for the ledger row, the parser's bounds.
struct Admitted {
    message_id: Option<String>,
    subject: Option<String>,
    bounds: parse::Bounds,
}

fn admit(loaded: &Loaded, raw: &[u8]) -> Result<Admitted, MessageError> {
    let cfg = &loaded.config.mail;
    if raw.len() as u64 > cfg.max_message_bytes {
        return Err(MessageError::TooLarge {
            size: raw.len() as u64,
            limit: cfg.max_message_bytes,
        });
    }
    Ok(Admitted {
        message_id: parse::message_id(raw),
        subject: parse::subject(raw),
        bounds: parse::Bounds {
            max_parts: cfg.max_parts,
            max_nesting: cfg.max_nesting,
        },
    })
}

/// Keep the message (its blob and ledger row), before anything else reads it.
fn keep(loaded: &Loaded, store: &Store, raw: &[u8], envelope: &Envelope) -> Result<Kept, MessageError> {
    let started = Instant::now();
    let admitted = admit(loaded, raw)?;
    let row = store.keep_message(
        raw,
        admitted.message_id.as_deref(),
        admitted.subject.as_deref(),
        &envelope.mail_from,
        &envelope.rcpt_to,
    )?;
    Ok(Kept {
        row,
        message_id: admitted.message_id,
        bounds: admitted.bounds,
        took: started.elapsed(),
    })
}

/// A message kept: its ledger row, what [`admit`] read of it, how long keeping it took.
struct Kept {
    row: MessageRow,
    message_id: Option<String>,
    bounds: parse::Bounds,
    took: Duration,
}

/// Store the message and parse it into owned parts.
fn receive(
    loaded: &Loaded,
    store: &Store,
    raw: &[u8],
    envelope: &Envelope,
) -> Result<(MessageRow, Option<String>, Mail<'static>), MessageError> {
    let Admitted {
        message_id,
        subject,
        bounds,
    } = admit(loaded, raw)?;
    // A large message is parsed while its original goes to disk; nothing goes further (no
    // file reaches the engine) until it is stored. With a worker free, the message is hashed
    // and written on it; under load the hash (CPU) is done here and only the write — a wait
    // on the disk — goes to a thread of its own. A small message costs less to parse than a
    // thread.
    let keep_at = |address: String| {
        store.keep_message_at(
            raw,
            address,
            message_id.as_deref(),
            subject.as_deref(),
            &envelope.mail_from,
            &envelope.rcpt_to,
        )
    };
    let read = || parse::parse(raw, bounds).into_owned();
    let hash = || hex(&Sha256::digest(raw));
    if raw.len() < OVERLAP_BYTES {
        let row = keep_at(hash())?;
        let mail = read();
        return Ok((row, message_id, mail));
    }
    let panicked = || StoreError::Io(std::io::Error::other("storing the message panicked"));
    let (row, mail) = if crate::cdr::parallel::width() > 1 {
        let keep = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| keep_at(hash())))
                .unwrap_or_else(|_| Err(panicked()))
        };
        crate::cdr::parallel::beside(keep, read)
    } else {
        let address = hash();
        std::thread::scope(|disk| {
            let kept = disk.spawn(|| keep_at(address));
            let mail = read();
            (kept.join().unwrap_or_else(|_| Err(panicked())), mail)
        })
    };
    Ok((row?, message_id, mail))
}

/// Disarm the parts, rebuild the message, complete the ledger row, write the audit lines.
fn finish(
    loaded: &Loaded,
    store: &Store,
    (audit, origin): (&AuditLog, &Origin),
    (envelope, attachments): (&Envelope, AttachmentMode),
    (row, message_id): (MessageRow, Option<String>),
    mail: Mail<'static>,
    started: Instant,
) -> Result<Processed, MessageError> {
    let cfg = &loaded.config.mail;
    let mut run = Run {
        loaded,
        attachments,
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
        loaded.config.store.retention.as_secs() / 86_400,
    );
    rebuilt.set_text(&format!("{notice}\n{body_text}"), cfg.body_charset);
    rebuilt.gateway_headers = vec![
        ("Received".into(), received_field(loaded, &row.id, envelope)),
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
    store.finish_message(&row.id, outcome, &report_json)?;
    write_audit(audit, origin, &report, envelope);
    Ok(Processed { rebuilt, report })
}

/// Run the engine on one attachment and hand its original and clean copy (unless the clean
/// copy is the original, given back) to `disk`. The clean copy comes back beside the run,
/// shared with its write until [`Store::write_beside`] returns.
fn run_and_write<'scope>(
    engine: &crate::cdr::Engine,
    a: &'scope Attachment<'_>,
    disk: &crate::store::BlobWriter<'scope, '_>,
) -> (crate::cdr::Processed, Option<Arc<Vec<u8>>>) {
    let mut processed = engine.run(&a.bytes, a.name.as_deref());
    let input = processed.report.input.sha256.clone();
    let output = processed.output.take().map(Arc::new);
    if let (Some(bytes), Some(o)) = (&output, &processed.report.output) {
        if o.digest.sha256 != input {
            disk.put(bytes.clone(), o.digest.sha256.clone());
        }
    }
    disk.put(&a.bytes[..], input);
    (processed, output)
}

/// State of one message's run.
struct Run<'e> {
    loaded: &'e Loaded,
    /// Files re-attached, linked, or both.
    attachments: AttachmentMode,
    store: &'e Store,
    message: &'e str,
    malformed: bool,
    parts: Vec<PartReport>,
    lines: Vec<notice::Line>,
}

impl Run<'_> {
    /// Rebuild one message (outer or forwarded): its files, and its readable text, returned
    /// beside it for the caller to put in (`Rebuilt::set_text`, after the notice for the outer one).
    fn message(
        &mut self,
        mail: Mail<'_>,
        within: Option<String>,
    ) -> Result<(Rebuilt, String, BodyReport), MessageError> {
        let cfg = &self.loaded.config.mail;
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

        // The engine's runs first, side by side on spare workers when some are free (under
        // load, one after another as before); each part's original and clean copy go to disk
        // as soon as its run ends, while the next part runs, and all are on disk before the
        // rows name them; storing, the notice and the audit follow in the message's order.
        let engine = &self.loaded.engine;
        let (runs, written) = self.store.write_beside(|disk| {
            let jobs: Vec<_> = mail
                .items
                .iter()
                .map(|item| match item {
                    Item::File(a) if self.decided(a).is_none() => Some(a),
                    _ => None,
                })
                .map(|a| move || a.map(|a| run_and_write(engine, a, disk)))
                .collect();
            crate::cdr::parallel::side_by_side(jobs)
        })?;
        // The writes are done: each clean copy is the run's alone again.
        let runs: Vec<_> = runs
            .into_iter()
            .map(|run| {
                run.map(|(mut processed, output)| {
                    processed.output = output.map(|o| Arc::try_unwrap(o).unwrap_or_else(|shared| shared.to_vec()));
                    processed
                })
            })
            .collect();
        let mut runs = runs.into_iter();
        let mut parts = Vec::new();
        for item in mail.items {
            let run = runs.next().flatten();
            if crate::cdr::stop_requested() {
                return Err(MessageError::Stopped);
            }
            match item {
                Item::File(a) => {
                    if let Some(part) = self.file(a, within.clone(), run, written)? {
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

    /// What a file gets without the engine, where the mail itself says enough.
    fn decided(&self, a: &Attachment<'_>) -> Option<(Outcome, &'static str)> {
        let cfg = &self.loaded.config.mail;
        match a.special {
            Some(Special::Signature) => Some((Outcome::Disarmed, "signature")),
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
            None if self.malformed => Some((Outcome::Held, "malformed_mail")),
            None => None,
        }
    }

    /// One file: decide, store, and say what goes into the rebuilt message. `run` is the
    /// engine's run of it, when [`Run::decided`] left it to the engine; its original and
    /// clean copy were then `written` already.
    fn file(
        &mut self,
        a: Attachment<'_>,
        within: Option<String>,
        run: Option<crate::cdr::Processed>,
        written: crate::store::Written,
    ) -> Result<Option<OutPart>, MessageError> {
        let written = run.is_some().then_some(written);
        let cfg = &self.loaded.config.mail;
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
        let (outcome, reason, report, clean) = match (self.decided(&a), run) {
            (Some((outcome, reason)), _) => (outcome, Some(reason.to_string()), None, None),
            (None, run) => {
                // Run here when it was not run beforehand (it always is).
                let processed = run.unwrap_or_else(|| self.loaded.engine.run(&a.bytes, a.name.as_deref()));
                let r = processed.report;
                (r.outcome, r.reason.clone(), Some(r), processed.output)
            }
        };
        let kind = report.as_ref().map_or(FileKind::Unknown, |r| r.detected_kind);
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
            outcome,
            reason: reason.as_deref(),
            original: &a.bytes,
            original_sha256: report.as_ref().map(|r| r.input.sha256.as_str()),
            clean: clean.as_deref(),
            clean_sha256: report
                .as_ref()
                .and_then(|r| r.output.as_ref().map(|o| o.digest.sha256.as_str())),
            clean_name: attach_name.as_deref(),
            report: &report_json,
            written,
        })?;
        drop(a.bytes);
        let attach = clean.is_some() && self.attachments.reattaches();
        // A file in the mail with nothing else reaches its page only by this link; the rest
        // as `mail.links` says.
        let wants_link = (clean.is_some() && !attach) || cfg.links.link(outcome, attach);
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

fn write_audit(audit: &AuditLog, origin: &Origin, report: &MailReport, envelope: &Envelope) {
    for p in &report.parts {
        let r = p.report.as_ref();
        audit.note(
            origin,
            Event::MailPart {
                message: report.id.clone(),
                message_id: report.message_id.clone(),
                path: p.path.clone(),
                name: p.name.clone(),
                kind: r.map(|r| r.detected_kind.as_str()),
                outcome: p.outcome.as_str(),
                reason: p.reason.clone(),
                stored_id: p.stored_id.clone(),
                input_sha256: r.map(|r| r.input.sha256.clone()),
                output_sha256: r.and_then(|r| r.output.as_ref().map(|o| o.digest.sha256.clone())),
                findings: r.map_or_else(|| json!([]), |r| serde_json::to_value(&r.findings).unwrap_or_default()),
            },
        );
    }
    audit.note(
        origin,
        Event::MailMessage {
            message: report.id.clone(),
            message_id: report.message_id.clone(),
            mail_from: envelope.mail_from.clone(),
            rcpt_to: envelope.rcpt_to.clone(),
            size: report.input.size,
            sha256: report.input.sha256.clone(),
            outcome: report.outcome.as_str(),
            body: report.body.source,
            parts: report.parts.len(),
            damage: report.damage.clone(),
            duration_ms: report.duration_ms,
        },
    );
}

/// A message disarmed for the next hop.
pub struct Delivery {
    /// The ledger id (`X-Mugai-Id`).
    pub id: String,
    pub outcome: Outcome,
    /// The rebuilt message, ready to send.
    pub rebuilt: Vec<u8>,
}

/// A message for [`Pipeline::message`]: in memory already, or to be read (a spooled one read
/// back, the carry-in box's mail composed) under the worker permit, so that what the workers
/// hold stays bounded by their count.
pub enum Received {
    Here(Vec<u8>),
    Later(Box<dyn FnOnce() -> std::io::Result<Vec<u8>> + Send>),
}

impl Pipeline {
    /// Disarm one received message for the daemon; [`process`] runs within
    /// `engine.message_timeout_secs`. A message in memory is kept (its blob flushed, its row
    /// written) before a worker is taken: that is a wait for the disk, and a worker held
    /// through it idled a core (under distinct small mail, most of its time).
    pub async fn message(
        self: &Arc<Self>,
        message: Received,
        envelope: Envelope,
        origin: &Origin,
    ) -> Result<Delivery, MessageError> {
        self.message_as(message, envelope, origin, None).await
    }

    /// [`Pipeline::message`], the files re-attached or linked as `attachments` says (or as
    /// `mail.attachments` says).
    pub(super) async fn message_as(
        self: &Arc<Self>,
        message: Received,
        envelope: Envelope,
        origin: &Origin,
        attachments: Option<AttachmentMode>,
    ) -> Result<Delivery, MessageError> {
        let current = self.current();
        let attachments = attachments.unwrap_or(current.config.mail.attachments);
        let deadline = current.config.engine.message_timeout;
        let (store, audit, who) = (self.store.clone(), self.audit.clone(), origin.clone());
        let started = Instant::now();
        let message = match message {
            Received::Here(raw) => {
                let (loaded, store, envelope) = (current.clone(), store.clone(), envelope.clone());
                let kept = Self::blocking(move || keep(&loaded, &store, &raw, &envelope).map(|kept| (raw, kept)))
                    .await
                    .map_err(MessageError::Work)??;
                Ok(kept)
            }
            Received::Later(load) => Err(load),
        };
        let (report, rebuilt) = self
            .run_work(Permit::Wait, Some(deadline), move || {
                let message = match message {
                    Ok((raw, kept)) => (raw, Some(kept)),
                    Err(load) => (load().map_err(|e| MessageError::Store(e.into()))?, None),
                };
                let processed = process_as(&current, &store, (&audit, &who), message, &envelope, attachments)?;
                let bytes = processed
                    .rebuilt
                    .to_bytes()
                    .map_err(|e| MessageError::Store(e.into()))?;
                Ok::<_, MessageError>((processed.report, bytes))
            })
            .await
            .map_err(MessageError::Work)??;
        self.metrics.message(report.outcome.as_str(), started.elapsed());
        // Every file the engine judged counts in the per-file metrics, as over HTTP.
        for part in report.parts.iter().filter_map(|p| p.report.as_ref()) {
            self.metrics.file(part, Duration::from_millis(part.duration_ms));
        }
        Ok(Delivery {
            id: report.id,
            outcome: report.outcome,
            rebuilt,
        })
    }

    /// The next hop accepted message `id` with `reply`.
    pub fn delivered(&self, origin: &Origin, id: &str, outcome: Outcome, reply: String) {
        self.audit.note(
            origin,
            Event::MailDelivered {
                message: id.to_string(),
                outcome: outcome.as_str(),
                reply,
            },
        );
    }

    /// A message was not passed on (`id` when it was stored): why, and what the sender was told.
    pub fn refused(&self, origin: &Origin, id: Option<&str>, reason: &str, reply: String) {
        self.audit.note(
            origin,
            Event::MailRefused {
                message: id.map(str::to_string),
                reason: reason.to_string(),
                reply,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::parallel::{with_spare, Counted, Spare};

    /// A daemon's pipeline with one worker, storing in `dir`.
    fn one_worker(dir: &std::path::Path) -> (Arc<Pipeline>, Arc<Store>) {
        let mut config = crate::Config::default();
        config.engine.workers = 1;
        let store = Arc::new(Store::open(dir, &config.store).unwrap());
        let audit = Arc::new(AuditLog::to_writer(Box::new(std::io::sink())));
        (Arc::new(Pipeline::new(config, store.clone(), audit)), store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_in_memory_is_kept_before_a_worker_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let (pipeline, store) = one_worker(dir.path());
        let raw = b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: kept\r\n\r\nhello\r\n".to_vec();
        let address = hex(&Sha256::digest(&raw));
        // The only worker is busy: the message is kept all the same, and waits for it.
        let busy = pipeline.workers.clone().acquire_owned().await.unwrap();
        let running = {
            let (pipeline, raw) = (pipeline.clone(), raw.clone());
            tokio::spawn(async move {
                pipeline
                    .message(Received::Here(raw), Envelope::default(), &Origin::cli())
                    .await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.blob(&address).is_err() {
            assert!(Instant::now() < deadline, "not kept while the worker was busy");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!running.is_finished(), "disarmed without a worker");
        drop(busy);
        let delivery = running.await.unwrap().unwrap();
        let row = store.message(&delivery.id).unwrap().unwrap();
        assert_eq!(row.blob, address);
        assert_eq!(store.blob(&address).unwrap(), raw);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_that_cannot_be_kept_is_refused_before_any_worker_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let (pipeline, store) = one_worker(dir.path());
        // Every blob directory is a file now: no blob can be written (root or not).
        for byte in 0..=255u8 {
            let shard = dir.path().join("blobs").join(hex(&[byte]));
            std::fs::remove_dir_all(&shard).unwrap();
            std::fs::write(&shard, b"not a directory").unwrap();
        }
        let raw = b"From: a@example.jp\r\nSubject: lost?\r\n\r\nhello\r\n".to_vec();
        // The only worker is busy: the refusal comes all the same, without one.
        let _busy = pipeline.workers.clone().acquire_owned().await.unwrap();
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            pipeline.message(Received::Here(raw), Envelope::default(), &Origin::cli()),
        )
        .await
        .expect("refused without waiting for a worker");
        assert!(matches!(refused, Err(MessageError::Store(_))), "{:?}", refused.err());
        let all = crate::store::ledger::MessageQuery {
            limit: 10,
            ..Default::default()
        };
        assert!(
            store.search_messages(&all).unwrap().is_empty(),
            "no row for a message not kept"
        );
    }

    #[test]
    fn a_large_message_is_kept_whole_with_a_worker_free_or_none() {
        let mut raw = b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: big\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
            --b\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\n"
            .to_vec();
        while raw.len() < OVERLAP_BYTES + 1000 {
            raw.extend_from_slice(b"a line of notes, long enough to make the message large\r\n");
        }
        raw.extend_from_slice(b"--b--\r\n");
        let mut reports = Vec::new();
        for free in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let loaded = Loaded::new(crate::Config::default());
            let store = Store::open(dir.path(), &loaded.config.store).unwrap();
            let audit = AuditLog::to_writer(Box::new(std::io::sink()));
            let envelope = Envelope::default();
            let workers = Counted::new(free);
            let done = with_spare(Arc::new(workers.clone()), || {
                process(&loaded, &store, &audit, &Origin::cli(), &raw[..], &envelope)
            })
            .unwrap();
            assert_eq!(workers.free(), free, "every worker given back");
            let row = store.message(&done.report.id).unwrap().unwrap();
            assert_eq!(row.blob, hex(&Sha256::digest(&raw)));
            assert_eq!(
                store.blob(&row.blob).unwrap(),
                raw,
                "{free} free: the message kept whole"
            );
            assert_eq!(done.report.parts.len(), 1, "{:?}", done.report.parts);
            reports.push((
                done.report.outcome,
                done.report.parts[0].outcome,
                done.report.input.sha256,
            ));
        }
        assert_eq!(reports[0], reports[1], "the same message, whoever stored it");
    }
}
