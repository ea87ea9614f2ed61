//! The carry-in box (ファイル持ち込み): files a signed-in staff member uploads on the internet
//! side, for an LGWAN mailbox. They become one mail — from `carry_in.sender` to the mailbox,
//! the files attached, the person's note as its text — and that mail takes the one message
//! path ([`Pipeline::message`]) with every file linked, never attached: the mailbox receives
//! the notice with links to the recipient page on the LGWAN side, where the disarmed files
//! and, under the release policy, the originals are fetched. The rebuilt notice is handed to
//! the next hop (`serve.next_hop`, the LGWAN-side MTA) as the content filter hands mail on.
//!
//! The person's day's quota (`carry_in.daily_files`, `daily_bytes`) is counted in the ledger
//! before anything is stored, and given back when the notice does not reach the next hop;
//! every carry-in and every refusal is a line of the audit trail.

use std::sync::Arc;

use axum::body::Bytes;

use super::{Loaded, MessageError, Pipeline, Received};
use crate::audit::{Event, Origin};
use crate::config::{AttachmentMode, Config};
use crate::egress::relay::Connection;
use crate::mail::Envelope;
use crate::report::Outcome;
use crate::smtp::{MailFrom, RcptTo};

/// What a person carries in.
#[derive(Clone)]
pub struct CarryIn {
    /// Who (the signed-in account).
    pub person: String,
    /// The LGWAN mailbox the files go to (checked against `carry_in.mailbox_domains`).
    pub mailbox: String,
    /// A few words for the recipient (may be empty).
    pub note: String,
    /// Each file's name (when the browser gave one) and bytes.
    pub files: Vec<(Option<String>, Bytes)>,
}

impl CarryIn {
    /// Each file's name, `file-N.bin` for one the browser sent without.
    pub fn names(&self) -> Vec<String> {
        (self.files.iter().enumerate())
            .map(|(i, (name, _))| name.clone().unwrap_or_else(|| format!("file-{}.bin", i + 1)))
            .collect()
    }

    /// The files' bytes together.
    fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// What came of it.
#[derive(Debug)]
pub struct CarriedIn {
    /// The ledger id of the message the files became.
    pub message: String,
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum CarryInError {
    #[error("the mailbox is not one the carry-in box may send to")]
    Mailbox,
    #[error("no file, or more than carry_in.max_files")]
    Files,
    #[error("over the day's quota: {0} files, {1} bytes carried in today")]
    Quota(u64, u64),
    #[error("{0}")]
    Message(#[from] MessageError),
    #[error("the next hop did not take the notice: {0}")]
    NextHop(String),
    #[error("{0}")]
    Store(String),
}

impl CarryInError {
    /// The short reason in the audit trail and on the page.
    pub fn code(&self) -> &'static str {
        match self {
            CarryInError::Mailbox => "mailbox",
            CarryInError::Files => "files",
            CarryInError::Quota(..) => "quota",
            CarryInError::Message(MessageError::TooLarge { .. }) => "too_large",
            CarryInError::Message(_) | CarryInError::Store(_) => "failed",
            CarryInError::NextHop(_) => "next_hop",
        }
    }
}

impl Pipeline {
    /// Carry `c` in (see the module documentation).
    pub async fn carry_in(self: &Arc<Self>, c: CarryIn, origin: &Origin) -> Result<CarriedIn, CarryInError> {
        let result = self.carry_in_inner(&c, origin).await;
        let bytes = c.bytes();
        let event = match &result {
            Ok(done) => Event::CarriedIn {
                person: c.person.clone(),
                mailbox: c.mailbox.clone(),
                message: done.message.clone(),
                files: c.files.len(),
                bytes,
                outcome: done.outcome.as_str(),
            },
            Err(e) => Event::CarryInRefused {
                person: c.person.clone(),
                mailbox: c.mailbox.clone(),
                files: c.files.len(),
                bytes,
                reason: e.code(),
            },
        };
        self.audit.note(origin, event);
        result
    }

    async fn carry_in_inner(self: &Arc<Self>, c: &CarryIn, origin: &Origin) -> Result<CarriedIn, CarryInError> {
        // One configuration for the whole carry-in, whatever a reload does meanwhile.
        let current = self.current();
        let box_ = &current.config.carry_in;
        if !box_.may_send_to(&c.mailbox) {
            return Err(CarryInError::Mailbox);
        }
        if c.files.is_empty() || c.files.len() > box_.max_files {
            return Err(CarryInError::Files);
        }
        let bytes = c.bytes();
        let (store, person, files) = (self.store.clone(), c.person.clone(), c.files.len() as u64);
        let max = (box_.daily_files, box_.daily_bytes);
        let quota = tokio::task::spawn_blocking(move || store.take_carry_quota(&person, files, bytes, max))
            .await
            .map_err(|e| CarryInError::Store(e.to_string()))?
            .map_err(|e| CarryInError::Store(e.to_string()))?;
        let day = match quota {
            Ok(day) => day,
            Err((files, bytes)) => return Err(CarryInError::Quota(files, bytes)),
        };
        let sent = self.send(&current, c, origin).await;
        if sent.is_err() {
            // Nothing reached the mailbox: the day's quota is given back.
            let (store, person) = (self.store.clone(), c.person.clone());
            let given =
                tokio::task::spawn_blocking(move || store.give_back_carry_quota(&person, day, files, bytes)).await;
            if !matches!(given, Ok(Ok(()))) {
                tracing::error!(person = %c.person, "could not give back a carry-in's quota");
            }
        }
        sent
    }

    /// The files as one mail through the message pipeline, and its notice to the next hop.
    async fn send(
        self: &Arc<Self>,
        current: &Arc<Loaded>,
        c: &CarryIn,
        origin: &Origin,
    ) -> Result<CarriedIn, CarryInError> {
        let config = &current.config;
        let envelope = Envelope {
            mail_from: config.carry_in.sender.clone(),
            rcpt_to: vec![c.mailbox.clone()],
        };
        // The mail is written under the worker permit, as a received one is read: its copies
        // of the files (and their base64) are bounded by `engine.workers`, not by the uploads
        // waiting.
        let (current, carried) = (current.clone(), c.clone());
        let load = move || compose(&current.config, &carried).map_err(std::io::Error::other);
        let delivery = self
            .message_as(
                Received::Later(Box::new(load)),
                envelope,
                origin,
                Some(AttachmentMode::Url),
            )
            .await?;
        match hand_over(config, &c.mailbox, &delivery.rebuilt).await {
            Ok(reply) => {
                self.delivered(origin, &delivery.id, delivery.outcome, reply);
                Ok(CarriedIn {
                    message: delivery.id,
                    outcome: delivery.outcome,
                })
            }
            Err(reply) => {
                self.refused(origin, Some(&delivery.id), "next_hop", reply.clone());
                Err(CarryInError::NextHop(reply))
            }
        }
    }
}

/// The mail the files become: a note for the recipient, then the files as attachments.
fn compose(config: &Config, c: &CarryIn) -> Result<Vec<u8>, CarryInError> {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, MultiPart, SinglePart};
    let failed = |e: &dyn std::fmt::Display| CarryInError::Store(format!("composing the mail: {e}"));
    let mut text = format!(
        "{} さんがファイル持ち込み窓口（インターネット側）から {} 件のファイルを送りました。\n\
         ファイルは無害化してあります。上の一覧のリンク（受信ページ）から受け取ってください。\n",
        c.person,
        c.files.len()
    );
    if !c.note.trim().is_empty() {
        text.push_str(&format!("\n{} さんからのメッセージ:\n{}\n", c.person, c.note.trim()));
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    let octets = ContentType::parse("application/octet-stream").map_err(|e| failed(&e))?;
    for (name, (_, bytes)) in c.names().into_iter().zip(&c.files) {
        parts = parts.singlepart(Attachment::new(name).body(bytes.to_vec(), octets.clone()));
    }
    let message = lettre::Message::builder()
        .from(config.carry_in.sender.parse().map_err(|e| failed(&e))?)
        .to(c.mailbox.parse().map_err(|e| failed(&e))?)
        .subject(format!(
            "【ファイル持ち込み】{} さんから {} 件",
            c.person,
            c.files.len()
        ))
        .message_id(None)
        .multipart(parts)
        .map_err(|e| failed(&e))?;
    Ok(message.formatted())
}

/// Hand the rebuilt mail to the next hop; its reply to the data, or why it was not taken.
async fn hand_over(config: &Config, mailbox: &str, message: &[u8]) -> Result<String, String> {
    let mut conn = Connection::open(&config.serve.next_hop, &config.relay)
        .await
        .map_err(|e| e.to_string())?;
    let from = MailFrom {
        address: config.carry_in.sender.clone(),
        eight_bit: message.iter().any(|b| *b >= 0x80),
        ..MailFrom::default()
    };
    let to = RcptTo {
        address: mailbox.to_string(),
        ..RcptTo::default()
    };
    let steps = async {
        for reply in [conn.mail(&from).await?, conn.rcpt(&to).await?] {
            if !reply.is_positive() {
                return Ok(Err(reply.text()));
            }
        }
        let reply = conn.data(message).await?;
        Ok::<_, crate::egress::relay::RelayError>(if reply.is_positive() {
            Ok(reply.text())
        } else {
            Err(reply.text())
        })
    };
    let result = steps.await.map_err(|e| e.to_string());
    conn.quit().await;
    result?
}
