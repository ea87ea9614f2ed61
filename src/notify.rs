//! Notification mail on the LGWAN side (issue 20): the approvers hear of a request for an
//! original, the requester of the decision — through the organisation's submission relay
//! (`[notify]`), pooled, STARTTLS when configured (the certificate always verified).
//!
//! Never in the way: a note is sent in the background, so a decision never waits for mail;
//! a relay that is down or refuses is tried again (`retries`, each `retry_interval` × 2ⁿ
//! later), and every attempt's end is in the audit trail (`notification.sent`,
//! `notification.failed` with `gave_up` on the last).
//!
//! Uses: `config` (`NotifyConfig`), `audit`, `retry`; lettre is known only here.

use std::sync::Arc;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::audit::{AuditLog, Event, Origin};
use crate::config::NotifyConfig;

/// One notification: what it is about, to whom, the words.
#[derive(Debug, Clone)]
pub struct Note {
    /// `request` (to approvers) or `decision` (to the requester).
    pub kind: &'static str,
    /// The part the request is for.
    pub part: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

pub struct Notifier {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
    retries: u32,
    interval: std::time::Duration,
    audit: Arc<AuditLog>,
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn off(audit: Arc<AuditLog>) -> Notifier {
        Notifier {
            transport: None,
            from: None,
            retries: 0,
            interval: std::time::Duration::ZERO,
            audit,
        }
    }

    /// The notifier `config` describes; without a relay, one that sends nothing.
    pub fn new(config: &NotifyConfig, audit: Arc<AuditLog>) -> Result<Notifier, String> {
        let mut notifier = Notifier {
            retries: config.retries,
            interval: config.retry_interval,
            ..Notifier::off(audit)
        };
        let Some((host, port)) = &config.relay else {
            return Ok(notifier);
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("notify.from {:?}: {e}", config.from))?;
        let tls = if config.starttls {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("notify.ca_file {}: {e}", path.display()))?;
                let cert =
                    Certificate::from_pem(&pem).map_err(|e| format!("notify.ca_file {}: {e}", path.display()))?;
                params = params.add_root_certificate(cert);
            }
            Tls::Required(
                params
                    .build_rustls()
                    .map_err(|e| format!("notify: TLS settings: {e}"))?,
            )
        } else {
            Tls::None
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(*port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(30)))
            .pool_config(PoolConfig::new().max_size(4))
            .build();
        notifier.transport = Some(transport);
        notifier.from = Some(from);
        Ok(notifier)
    }

    /// Whether notes go anywhere.
    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Send `note` in the background, tried again as configured; returns at once. Outside a
    /// runtime (the command line) nothing is sent.
    pub fn send(self: &Arc<Self>, note: Note) {
        if !self.enabled() || note.to.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(kind = note.kind, "notification not sent: no runtime");
            return;
        };
        let notifier = self.clone();
        runtime.spawn(async move { notifier.deliver(note).await });
    }

    async fn deliver(&self, note: Note) {
        let message = match self.message(&note) {
            Ok(m) => m,
            Err(e) => {
                self.failed(&note, 1, &e, true);
                return;
            }
        };
        let Some(transport) = &self.transport else {
            return;
        };
        let sent = crate::retry::with_backoff(
            self.retries,
            self.interval,
            || {
                let message = message.clone();
                async move { transport.send(message).await.map(drop).map_err(|e| e.to_string()) }
            },
            |attempt, error: &String, gave_up| self.failed(&note, attempt, error, gave_up),
        )
        .await;
        if sent {
            tracing::info!(kind = note.kind, part = %note.part, "notification sent");
            self.audit.note(
                &Origin::daemon(),
                Event::NotificationSent {
                    kind: note.kind,
                    part: note.part.clone(),
                    to: note.to.clone(),
                },
            );
        }
    }

    fn failed(&self, note: &Note, attempt: u32, error: &str, gave_up: bool) {
        tracing::warn!(kind = note.kind, part = %note.part, attempt, gave_up, error, "notification not sent");
        self.audit.note(
            &Origin::daemon(),
            Event::NotificationFailed {
                kind: note.kind,
                part: note.part.clone(),
                to: note.to.clone(),
                attempt,
                error: error.to_string(),
                gave_up,
            },
        );
    }

    fn message(&self, note: &Note) -> Result<Message, String> {
        let from = self.from.clone().ok_or("no sender")?;
        let mut builder = Message::builder()
            .from(from)
            .subject(one_line(&note.subject))
            .header(ContentType::TEXT_PLAIN);
        for to in &note.to {
            builder = builder.to(to.parse().map_err(|e| format!("{to:?}: {e}"))?);
        }
        builder.body(note.body.clone()).map_err(|e| e.to_string())
    }
}

/// The values that may span lines (what a person wrote in a form); every other value is put
/// on one line.
const MULTI_LINE: [&str; 2] = ["reason", "comment"];

/// `template` with each `{key}` replaced by its value. Values come from mail and forms (file
/// names, reasons): a file name's line breaks become spaces and other control characters go,
/// so a value cannot add lines a reader would take for the gateway's own.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_string();
    for (key, value) in values {
        let clean: String = if MULTI_LINE.contains(key) {
            value.chars().filter(|c| *c == '\n' || !c.is_control()).collect()
        } else {
            one_line(value)
        };
        text = text.replace(&format!("{{{key}}}"), &clean);
    }
    text
}

/// A subject on one line, whatever the template and values held.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_without_letting_values_forge_lines() {
        let text = fill(
            "ファイル：{file}\n理由：{reason}\n",
            &[("file", "a\r\nBcc: x@y.z"), ("reason", "一行目\n二行目")],
        );
        assert_eq!(text, "ファイル：a  Bcc: x@y.z\n理由：一行目\n二行目\n");
        assert_eq!(one_line("件名\r\nBcc: x"), "件名  Bcc: x");
    }
}
