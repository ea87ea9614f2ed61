//! A received message as the gateway needs it: the header block as bytes, the readable
//! text, and every file in it (attachments, inline pictures, forwarded messages with their
//! own files), each with its decoded name, type and bytes — or a reason it cannot be
//! looked at (encrypted, TNEF, a signature, broken encoding).
//!
//! The structure comes from `mime.rs` (boundaries, transfer encodings) and the names,
//! parameters and header text from `header.rs`, both working on the raw bytes, because
//! Japanese mail carries raw CP932 names and labels like `cp932` that general parsers turn
//! into replacement characters. The walk is iterative, bounded by `max_parts` and
//! `max_nesting`; what lies past a bound is left to the stored original and reported.

use std::borrow::Cow;

use super::codec;
use super::header::{self, Field};
use super::mime;

/// Something that makes the mail's structure untrustworthy (the policy for malformed mail
/// applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Not a mail at all (no header block).
    NoHeaders,
    /// A multipart whose closing boundary never comes.
    MissingBoundary(String),
    /// A part whose base64 or quoted-printable does not decode.
    BadEncoding(String),
    /// More parts or deeper nesting than the limits allow; the rest is only in the original.
    OverLimit(&'static str),
    /// The MIME parser failed on it (see [`parse`]); the body is held whole.
    ParserFailed,
}

/// Why a file in the mail is not handed to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `application/ms-tnef` / `winmail.dat`.
    Tnef,
    /// S/MIME or PGP encrypted (or opaque-signed) content.
    Encrypted,
    /// The signature of `multipart/signed`; no longer valid once the content is rebuilt.
    Signature,
    /// Its transfer encoding is broken; the bytes are not what the sender meant.
    BadEncoding,
    /// A yEnc or BinHex block cut out of a text body (refused unread; `mail::embedded`).
    EncodedInText,
}

/// One file in the mail.
#[derive(Debug)]
pub struct Attachment<'a> {
    /// MIME part number as IMAP counts it (`2`, `3.1`; the root body is `1` when alone).
    pub path: String,
    pub name: Option<String>,
    pub media_type: String,
    /// The declared charset of a text file (`charset=`), as labelled.
    pub charset: Option<String>,
    pub bytes: Cow<'a, [u8]>,
    pub special: Option<Special>,
}

/// A forwarded message (`message/rfc822`), walked like the outer one.
#[derive(Debug)]
pub struct Forwarded<'a> {
    pub path: String,
    pub name: Option<String>,
    pub mail: Mail<'a>,
}

/// A file or a forwarded message, in the order they appear.
#[derive(Debug)]
pub enum Item<'a> {
    File(Attachment<'a>),
    Message(Forwarded<'a>),
}

/// Where the readable text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySource {
    Plain,
    /// Converted from HTML (no plain alternative, or HTML only).
    Html,
    None,
}

/// The parsed message.
#[derive(Debug)]
pub struct Mail<'a> {
    /// The header block as received (up to, not including, the empty line).
    pub header_block: Cow<'a, [u8]>,
    /// Text bodies in reading order; HTML ones still HTML (`mail::text` converts them).
    pub bodies: Vec<(BodySource, String)>,
    pub items: Vec<Item<'a>>,
    /// Alternatives left out (the HTML twin of a plain body).
    pub dropped_alternatives: usize,
    pub signed: bool,
    pub damage: Vec<Damage>,
}

impl Mail<'_> {
    pub fn fields(&self) -> Vec<Field<'_>> {
        header::fields(&self.header_block)
    }

    /// A header as text (encoded-words and raw 8-bit decoded).
    pub fn header_text(&self, name: &str) -> Option<String> {
        header::find(&self.fields(), name).map(|f| codec::decode_words(f.value()))
    }

    /// Every attachment, forwarded ones included, with the forwarding chain's paths.
    pub fn walk_files(&self) -> Vec<&Attachment<'_>> {
        let mut out = Vec::new();
        let mut stack: Vec<&Mail<'_>> = vec![self];
        while let Some(mail) = stack.pop() {
            for item in &mail.items {
                match item {
                    Item::File(a) => out.push(a),
                    Item::Message(f) => stack.push(&f.mail),
                }
            }
        }
        out
    }
}

/// Bounds for one walk.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_parts: u64,
    pub max_nesting: u32,
}

/// The message without the mbox separator line (`From sender date`) that mail saved from an
/// mbox, procmail or an archiver starts with: it is not a header field, and every mail library
/// skips it (taken for the first field, it made the whole header block unreadable).
fn without_mbox_from(raw: &[u8]) -> &[u8] {
    if !raw.starts_with(b"From ") {
        return raw;
    }
    memchr::memchr(b'\n', raw).map_or(&raw[raw.len()..], |end| &raw[end + 1..])
}

/// Parse a message. Never fails: what cannot be understood is recorded as [`Damage`].
///
/// The walk is not meant to panic (the fuzz target aborts on any panic), but should a bug
/// make it, the message is treated as unparseable rather than refused for ever: its header
/// block is kept and its whole body is one held part (the original is stored anyway).
pub fn parse(raw: &[u8], bounds: Bounds) -> Mail<'_> {
    let raw = without_mbox_from(raw);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_structure(raw, bounds))).unwrap_or_else(|_| {
        let header_end = mime::header_end(raw);
        Mail {
            header_block: Cow::Borrowed(&raw[..header_end]),
            bodies: Vec::new(),
            items: vec![Item::File(Attachment {
                path: "1".into(),
                name: None,
                media_type: "message/rfc822".into(),
                charset: None,
                bytes: Cow::Borrowed(raw),
                special: Some(Special::BadEncoding),
            })],
            dropped_alternatives: 0,
            signed: false,
            damage: vec![Damage::ParserFailed],
        }
    })
}

fn parse_structure(raw: &[u8], bounds: Bounds) -> Mail<'_> {
    let mut budget = bounds.max_parts;
    let mut mail = walk_message(raw, "", bounds, 0, &mut budget);
    if mail.header_block.is_empty() {
        // Not a mail as RFC 5322 has it; what it holds is still read as text (a digest's
        // headerless first part, a body saved without its header): nothing readable is dropped.
        mail.damage.insert(0, Damage::NoHeaders);
    }
    mail
}

/// A multipart whose first part is itself a multipart declaring the *same* boundary (some
/// mailers write that): the delimiters that follow belong to the inner one up to the first
/// closing delimiter, and the outer one's remaining parts come after it. Read so, nothing
/// after the inner close (the picture of such a mail) is lost, and the inner HTML twin is an
/// alternative again, not a second text. Any other split is returned as it is.
fn nest_reused_boundary<'a>(body: &'a [u8], boundary: &[u8], parts: mime::Parts<'a>, max: usize) -> Vec<&'a [u8]> {
    let reuses = |kid: &[u8]| {
        let e = mime::entity(kid);
        let fields = header::fields(e.header);
        let ctype = header::value(&fields, "content-type");
        e.body.trim_ascii().is_empty()
            && header::media_type(ctype).starts_with("multipart/")
            && header::param(ctype, "boundary").is_some_and(|b| b.as_bytes() == boundary)
    };
    let at = parts.parts.iter().position(|k| reuses(k));
    let (Some(i), true) = (at, parts.closed) else {
        return parts.parts;
    };
    if i + 1 >= parts.parts.len() {
        return parts.parts;
    }
    // The inner multipart: its header through the first closing delimiter.
    let mut kids = parts.parts[..i].to_vec();
    kids.push(&body[parts.starts[i]..parts.epilogue]);
    let rest = &body[parts.epilogue..];
    kids.extend(mime::split(rest, boundary, max.saturating_sub(kids.len())).parts);
    kids
}

/// The stack's mark for bytes that are all body (see `walk_message`).
const HEADERLESS: &str = "(headerless)";

/// One message (the outer one or a forwarded one), header block and body, walked from its
/// root entity with an explicit stack; a forwarded message is walked by a call of its own,
/// at most `max_nesting` deep.
fn walk_message<'a>(raw: &'a [u8], prefix: &str, bounds: Bounds, depth: u32, budget: &mut u64) -> Mail<'a> {
    let mut mail = Mail {
        header_block: Cow::Borrowed(mime::entity(raw).header),
        bodies: Vec::new(),
        items: Vec::new(),
        dropped_alternatives: 0,
        signed: false,
        damage: Vec::new(),
    };
    // (entity bytes, IMAP path, nesting depth, the type of a part without Content-Type);
    // a `HEADERLESS` default marks bytes that are all body (a multipart nobody can split).
    let mut stack: Vec<(&'a [u8], String, u32, &'static str)> = vec![(raw, String::new(), depth, "text/plain")];
    while let Some((bytes, path, level, default_media)) = stack.pop() {
        if *budget == 0 {
            mail.damage.push(Damage::OverLimit("mail.max_parts"));
            break;
        }
        *budget -= 1;
        if level > bounds.max_nesting {
            mail.damage.push(Damage::OverLimit("mail.max_nesting"));
            continue;
        }
        let (entity, default_media) = if default_media == HEADERLESS {
            (
                mime::Entity {
                    header: &[],
                    body: bytes,
                },
                "text/plain",
            )
        } else {
            (mime::entity(bytes), default_media)
        };
        let fields = header::fields(entity.header);
        let ctype_value = header::value(&fields, "content-type");
        let media = if ctype_value.is_empty() {
            default_media.to_string()
        } else {
            header::media_type(ctype_value)
        };
        let disposition = header::value(&fields, "content-disposition");
        let name = part_name(disposition, ctype_value);
        let is_attachment = disposition
            .get(..10)
            .is_some_and(|d| d.eq_ignore_ascii_case(b"attachment"));
        // Shown in the message by every client, named or not (RFC 2183).
        let is_inline = disposition.get(..6).is_some_and(|d| d.eq_ignore_ascii_case(b"inline"));
        let encoding = header::value(&fields, "content-transfer-encoding");
        let full_path = |p: &str| {
            if p.is_empty() {
                format!("{prefix}1")
            } else {
                format!("{prefix}{p}")
            }
        };
        if media.starts_with("multipart/") {
            let Some(boundary) = header::param(ctype_value, "boundary").filter(|b| !b.is_empty()) else {
                // A multipart nobody can split: its body is read as the plain text every mail
                // client shows it as.
                mail.damage.push(Damage::MissingBoundary(full_path(&path)));
                stack.push((entity.body, path, level + 1, HEADERLESS));
                continue;
            };
            let max = usize::try_from(*budget).unwrap_or(usize::MAX).saturating_add(1);
            let parts = mime::split(entity.body, boundary.as_bytes(), max);
            if !parts.closed && !parts.truncated {
                mail.damage.push(Damage::MissingBoundary(full_path(&path)));
                if parts.parts.is_empty() {
                    // Not one delimiter line (a wrong boundary parameter, a body cut before its
                    // first part): its body is read as the plain text it is shown as.
                    stack.push((entity.body, path, level + 1, HEADERLESS));
                    continue;
                }
            }
            let child_path = |i: usize| {
                if path.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{path}.{}", i + 1)
                }
            };
            let subtype = media.split('/').nth(1).unwrap_or("");
            let child_default = if subtype == "digest" {
                "message/rfc822"
            } else {
                "text/plain"
            };
            let kids = nest_reused_boundary(entity.body, boundary.as_bytes(), parts, max);
            match subtype {
                "alternative" => {
                    mail.dropped_alternatives += kids.len().saturating_sub(1);
                    if let Some(i) = choose_alternative(&kids) {
                        stack.push((kids[i], child_path(i), level + 1, child_default));
                    }
                }
                "signed" => {
                    mail.signed = true;
                    // The content first; the signature part(s) are left out (reported). A
                    // further part that is no signature is content a sender put there: read.
                    for (i, kid) in kids.iter().enumerate().skip(1) {
                        // Named as it came (`smime.p7s`, `signature.asc`), so the notice can say
                        // which part went and why.
                        let sig_fields = header::fields(mime::entity(kid).header);
                        let sig_type = header::value(&sig_fields, "content-type");
                        if !sig_type.is_empty()
                            && special_for(&header::media_type(sig_type)) != Some(Special::Signature)
                        {
                            stack.push((kid, child_path(i), level + 1, child_default));
                            continue;
                        }
                        mail.items.push(Item::File(Attachment {
                            path: full_path(&child_path(i)),
                            name: part_name(header::value(&sig_fields, "content-disposition"), sig_type),
                            charset: None,
                            media_type: if sig_type.is_empty() {
                                "application/signature".into()
                            } else {
                                header::media_type(sig_type)
                            },
                            bytes: Cow::Borrowed(&[]),
                            special: Some(Special::Signature),
                        }));
                    }
                    if let Some(first) = kids.first() {
                        stack.push((first, child_path(0), level + 1, child_default));
                    }
                }
                "encrypted" => {
                    mail.items.push(Item::File(Attachment {
                        path: full_path(&path),
                        name,
                        media_type: media.clone(),
                        charset: None,
                        bytes: Cow::Borrowed(bytes),
                        special: Some(Special::Encrypted),
                    }));
                }
                _ => {
                    // Nothing at all between two delimiter lines (not even a header) is no part.
                    for (i, kid) in kids.iter().enumerate().rev().filter(|(_, k)| !k.is_empty()) {
                        stack.push((kid, child_path(i), level + 1, child_default));
                    }
                }
            }
        } else if media == "message/rfc822" || media == "message/global" {
            let p = full_path(&path);
            let sub_prefix = format!("{p}.");
            // message/rfc822 should not be transfer-encoded, but base64 ones are sent.
            let decoded = mime::transfer_decode(entity.body, encoding);
            let forwarded = match decoded.bytes {
                Cow::Borrowed(inner) => walk_message(inner, &sub_prefix, bounds, level + 1, budget),
                Cow::Owned(inner) => walk_message(&inner, &sub_prefix, bounds, level + 1, budget).into_owned(),
            };
            mail.items.push(Item::Message(Forwarded {
                path: p,
                name,
                mail: forwarded,
            }));
        } else {
            let decoded = mime::transfer_decode(entity.body, encoding);
            if !decoded.clean {
                mail.damage.push(Damage::BadEncoding(full_path(&path)));
            }
            let is_html = media == "text/html";
            let inline_text = !is_attachment && (name.is_none() || is_inline) && (media == "text/plain" || is_html);
            if inline_text && decoded.clean {
                let charset = header::param(ctype_value, "charset");
                let mut text = codec::decode_text(&decoded.bytes, charset.as_deref());
                // Files hidden in the text (uuencode, yEnc, BinHex) leave it and become parts.
                if let Some((kept, blocks)) = (!is_html).then(|| super::embedded::cut(&text)).flatten() {
                    text = kept;
                    for (n, block) in blocks.into_iter().enumerate() {
                        let special = block.bytes.is_none().then_some(Special::EncodedInText);
                        mail.items.push(Item::File(Attachment {
                            path: format!("{}#{}", full_path(&path), n + 1),
                            name: block.name,
                            media_type: "application/octet-stream".into(),
                            charset: None,
                            bytes: Cow::Owned(block.bytes.unwrap_or_default()),
                            special,
                        }));
                    }
                }
                mail.bodies
                    .push((if is_html { BodySource::Html } else { BodySource::Plain }, text));
                continue;
            }
            let special = if decoded.clean {
                special_for(&media).or_else(|| {
                    let tnef_name = name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"));
                    tnef_name.then_some(Special::Tnef)
                })
            } else {
                Some(Special::BadEncoding)
            };
            mail.items.push(Item::File(Attachment {
                path: full_path(&path),
                name,
                media_type: media,
                charset: header::param(ctype_value, "charset"),
                // Broken encoding: the part as it came, for whoever looks at it later.
                bytes: if decoded.clean {
                    decoded.bytes
                } else {
                    Cow::Borrowed(entity.body)
                },
                special,
            }));
        }
    }
    mail
}

impl Mail<'_> {
    /// Detach from the received bytes (copying the header blocks and any part that was not
    /// transfer-encoded; decoded parts move), so the caller can free the raw message before
    /// the files are disarmed: a large mail then never costs its raw size and the engine's
    /// working set at once.
    pub fn into_owned(self) -> Mail<'static> {
        Mail {
            header_block: Cow::Owned(self.header_block.into_owned()),
            bodies: self.bodies,
            items: self
                .items
                .into_iter()
                .map(|item| match item {
                    Item::File(a) => Item::File(Attachment {
                        bytes: Cow::Owned(a.bytes.into_owned()),
                        path: a.path,
                        name: a.name,
                        media_type: a.media_type,
                        charset: a.charset,
                        special: a.special,
                    }),
                    Item::Message(f) => Item::Message(Forwarded {
                        path: f.path,
                        name: f.name,
                        mail: f.mail.into_owned(),
                    }),
                })
                .collect(),
            dropped_alternatives: self.dropped_alternatives,
            signed: self.signed,
            damage: self.damage,
        }
    }
}

/// A sender's file name as something safe to show and to attach under: the last path
/// component only, without control characters and without the bidirectional overrides
/// that make `invoice\u{202E}fdp.exe` read as `invoiceexe.pdf`; at most 255 characters.
pub fn file_name(raw: String) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(&raw);
    let clean: String = base
        .chars()
        .filter(|&c| {
            !c.is_control() && !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .take(255)
        .collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

/// A part's file name: the disposition's `filename`, else the type's `name`, made safe.
fn part_name(disposition: &[u8], ctype: &[u8]) -> Option<String> {
    header::param(disposition, "filename")
        .or_else(|| header::param(ctype, "name"))
        .and_then(file_name)
}

fn special_for(media: &str) -> Option<Special> {
    match media {
        "application/ms-tnef" | "application/vnd.ms-tnef" => Some(Special::Tnef),
        "application/pkcs7-mime" | "application/x-pkcs7-mime" | "application/pgp-encrypted" => Some(Special::Encrypted),
        "application/pkcs7-signature" | "application/x-pkcs7-signature" | "application/pgp-signature" => {
            Some(Special::Signature)
        }
        _ => None,
    }
}

/// The branch of a `multipart/alternative` to keep: the plain text when there is one (the
/// sender's own text), else the HTML, else a multipart holding one, else the last branch. A
/// plain branch with nothing in it does not count (some mailers send an empty one beside the
/// HTML that carries the message: keeping it would deliver nothing).
fn choose_alternative(kids: &[&[u8]]) -> Option<usize> {
    let media: Vec<String> = kids
        .iter()
        .map(|kid| {
            let entity = mime::entity(kid);
            let fields = header::fields(entity.header);
            // No or a broken Content-Type is text/plain (`media_type`).
            let media = header::media_type(header::value(&fields, "content-type"));
            if media == "text/plain" && entity.body.trim_ascii().is_empty() {
                "text/plain; empty".to_string()
            } else {
                media
            }
        })
        .collect();
    let pick = |want: &str| media.iter().position(|m| m == want);
    pick("text/plain")
        .or_else(|| pick("text/html"))
        .or_else(|| media.iter().position(|m| m.starts_with("multipart/")))
        .or_else(|| pick("text/plain; empty"))
        .or_else(|| kids.len().checked_sub(1))
}

/// A message id for the ledger: the Message-ID header without angle brackets.
/// The Subject of a raw message, decoded (RFC 2047 words, raw 8-bit as it comes), on one
/// line and at most 998 characters; `None` when there is none.
pub fn subject(raw: &[u8]) -> Option<String> {
    let raw = without_mbox_from(raw);
    let end = mime::header_end(raw);
    let fields = header::fields(&raw[..end]);
    header::find(&fields, "subject").map(|f| {
        super::codec::decode_words(f.value())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(998)
            .collect::<String>()
            .trim()
            .to_string()
    })
}

pub fn message_id(raw: &[u8]) -> Option<String> {
    let raw = without_mbox_from(raw);
    let end = mime::header_end(raw);
    let fields = header::fields(&raw[..end]);
    header::find(&fields, "message-id").map(|f| {
        String::from_utf8_lossy(f.value())
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .chars()
            .take(998)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_from_line_is_skipped_and_the_headers_kept() {
        let raw = b"From taro@example.jp Tue Dec  1 09:00:00 2026\r\nFrom: Taro <taro@example.jp>\r\nTo: b@example.lg.jp\r\nSubject: hello\r\nMessage-ID: <m1@example.jp>\r\n\r\nbody text\r\n";
        let mail = parse(
            raw,
            Bounds {
                max_parts: 10,
                max_nesting: 4,
            },
        );
        assert!(mail.damage.is_empty(), "{:?}", mail.damage);
        let fields = header::fields(&mail.header_block);
        assert!(header::find(&fields, "subject").is_some());
        assert!(header::find(&fields, "from").is_some_and(|f| f.value().starts_with(b"Taro")));
        assert_eq!(mail.bodies[0].1.trim(), "body text");
        assert_eq!(message_id(raw).as_deref(), Some("m1@example.jp"));
        // A header field named like one is not the separator.
        assert!(parse(
            b"From: a@b\r\n\r\nx\r\n",
            Bounds {
                max_parts: 10,
                max_nesting: 4
            }
        )
        .damage
        .is_empty());
    }

    const BOUNDS: Bounds = Bounds {
        max_parts: 100,
        max_nesting: 8,
    };

    fn files<'a>(mail: &'a Mail<'_>) -> Vec<(&'a str, Option<&'a str>, Option<Special>)> {
        mail.walk_files()
            .into_iter()
            .map(|a| (a.path.as_str(), a.name.as_deref(), a.special))
            .collect()
    }

    #[test]
    fn alternative_keeps_the_plain_text_and_counts_the_html_twin() {
        let raw = b"From: a@b\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\n\
            Content-Type: text/html\r\n\r\n<p>html</p>\r\n--x\r\nContent-Type: text/plain\r\n\r\nplain\r\n--x--\r\n";
        let mail = parse(raw, BOUNDS);
        assert_eq!(mail.bodies.len(), 1);
        assert_eq!(mail.bodies[0].0, BodySource::Plain);
        assert!(mail.bodies[0].1.contains("plain"));
        assert_eq!(mail.dropped_alternatives, 1);
        assert!(mail.damage.is_empty(), "{:?}", mail.damage);
    }

    #[test]
    fn signed_keeps_content_and_marks_the_signature_encrypted_is_held_whole() {
        let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
            Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=s\r\n\r\n\
            --s\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--s--\r\n\
            --o\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e\r\n\r\n\
            --e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--e\r\nContent-Type: application/octet-stream\r\n\r\nCIPHER\r\n--e--\r\n\
            --o--\r\n";
        let mail = parse(raw, BOUNDS);
        assert!(mail.signed);
        assert_eq!(mail.bodies[0].1.trim(), "signed text");
        let f = files(&mail);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().any(|(_, _, s)| *s == Some(Special::Signature)));
        let enc = mail
            .walk_files()
            .into_iter()
            .find(|a| a.special == Some(Special::Encrypted))
            .expect("encrypted part");
        assert!(
            enc.bytes.windows(6).any(|w| w == b"CIPHER"),
            "held whole, with its parts"
        );
    }

    #[test]
    fn forwarded_parts_get_nested_paths_and_tnef_is_recognised_by_name() {
        let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
            --o\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n\
            --i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: application/octet-stream\r\n\
            Content-Disposition: attachment; filename=winmail.dat\r\n\r\nTNEF\r\n--i--\r\n\r\n--o--\r\n";
        let mail = parse(raw, BOUNDS);
        let Some(Item::Message(fwd)) = mail.items.first() else {
            panic!("no forwarded message: {:?}", mail.items)
        };
        assert_eq!(fwd.path, "2");
        assert_eq!(fwd.mail.header_text("subject").as_deref(), Some("inner"));
        assert_eq!(files(&mail), [("2.2", Some("winmail.dat"), Some(Special::Tnef))]);
    }

    #[test]
    fn limits_are_damage_not_failure() {
        let mut raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n".to_vec();
        for _ in 0..200 {
            raw.extend_from_slice(b"--w\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n");
        }
        raw.extend_from_slice(b"--w--\r\n");
        let mail = parse(&raw, BOUNDS);
        assert!(mail.damage.contains(&Damage::OverLimit("mail.max_parts")));
        assert!(mail.walk_files().len() < 100);
        assert_eq!(parse(b"not a mail at all", BOUNDS).damage, [Damage::NoHeaders]);
    }

    #[test]
    fn an_inner_multipart_reusing_the_outer_boundary_is_nested() {
        // As Outlook Express for Mac wrote it (CPython's msg_15): the picture after the inner
        // close delimiter belongs to the outer multipart.
        let raw = b"From: a@b\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\n\
Content-Type: multipart/alternative; boundary=\"B\"\n\n\n--B\nContent-Type: text/plain\n\ntext\n\
--B\nContent-Type: text/html\n\n<p>html</p>\n--B--\n\n--B\nContent-Type: image/gif; name=\"x.gif\"\n\
Content-Transfer-Encoding: base64\n\nR0lGODlh\n--B--\n";
        let mail = parse(raw, BOUNDS);
        assert_eq!(mail.bodies.len(), 1, "{:?}", mail.bodies);
        assert_eq!(mail.dropped_alternatives, 1);
        let files = mail.walk_files();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name.as_deref(), Some("x.gif"));
        assert_eq!(&files[0].bytes[..], b"GIF89a");
    }
}
