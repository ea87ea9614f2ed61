//! A received message as the gateway needs it: the header block as bytes, the readable
//! text, and every file in it (attachments, inline pictures, forwarded messages with their
//! own files), each with its decoded name, type and bytes — or a reason it cannot be
//! looked at (encrypted, TNEF, a signature, broken encoding).
//!
//! mail-parser (0.11, `full_encoding`) finds the MIME structure and undoes the transfer
//! encodings; names, parameters and header text are decoded here from the raw bytes
//! (`header.rs`), because mail-parser turns raw CP932 names and the `cp932` label into
//! replacement characters. The walk is iterative over mail-parser's flat part list, bounded
//! by `max_parts` and `max_nesting`; what lies past a bound is left to the stored original
//! and reported.

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, PartType};

use super::codec;
use super::header::{self, Field};

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
}

/// One file in the mail.
#[derive(Debug)]
pub struct Attachment<'a> {
    /// MIME part number as IMAP counts it (`2`, `3.1`; the root body is `1` when alone).
    pub path: String,
    pub name: Option<String>,
    pub media_type: String,
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

/// Parse a message. Never fails: what cannot be understood is recorded as [`Damage`].
///
/// mail-parser documents `parse()` as never panicking, and in release builds it does not;
/// its debug assertions can fire on broken nesting (found by fuzzing), and a future bug could
/// too. Either way the message is then treated as unparseable: its header block is kept,
/// its whole body is one held part (the original is stored anyway).
pub fn parse(raw: &[u8], bounds: Bounds) -> Mail<'_> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_structure(raw, bounds))).unwrap_or_else(|_| {
        let header_end = header_block_end(raw);
        Mail {
            header_block: Cow::Borrowed(&raw[..header_end]),
            bodies: Vec::new(),
            items: vec![Item::File(Attachment {
                path: "1".into(),
                name: None,
                media_type: "message/rfc822".into(),
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
    let header_end = header_block_end(raw);
    match MessageParser::default().parse(raw) {
        Some(message) if header_end > 0 => {
            let mut budget = bounds.max_parts;
            walk_message(message, Cow::Borrowed(&raw[..header_end]), "", bounds, 0, &mut budget)
        }
        _ => Mail {
            header_block: Cow::Borrowed(&raw[..header_end]),
            bodies: Vec::new(),
            items: Vec::new(),
            dropped_alternatives: 0,
            signed: false,
            damage: vec![Damage::NoHeaders],
        },
    }
}

/// Where the header block ends (the start of the empty line), or 0 when the input does not
/// start with a header field.
fn header_block_end(raw: &[u8]) -> usize {
    let first = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let looks_like_field = first
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|i| i > 0 && first[..i].iter().all(|b| b.is_ascii_graphic()));
    if !looks_like_field {
        return 0;
    }
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line == b"\n" || line == b"\r\n" {
            return pos;
        }
        pos = end;
    }
    raw.len()
}

/// One message (the outer one or a forwarded one): its parts, walked from the root.
fn walk_message<'a>(
    mut message: Message<'a>,
    header_block: Cow<'a, [u8]>,
    prefix: &str,
    bounds: Bounds,
    depth: u32,
    budget: &mut u64,
) -> Mail<'a> {
    let mut mail = Mail {
        header_block,
        bodies: Vec::new(),
        items: Vec::new(),
        dropped_alternatives: 0,
        signed: false,
        damage: Vec::new(),
    };
    let raw: Cow<'a, [u8]> = std::mem::take(&mut message.raw_message);
    // (part index, IMAP path, nesting depth, inside an alternative's chosen branch)
    let mut stack: Vec<(usize, String, u32)> = vec![(0, String::new(), depth)];
    while let Some((idx, path, level)) = stack.pop() {
        if *budget == 0 {
            mail.damage.push(Damage::OverLimit("mail.max_parts"));
            break;
        }
        *budget -= 1;
        if level > bounds.max_nesting {
            mail.damage.push(Damage::OverLimit("mail.max_nesting"));
            continue;
        }
        let Some(part) = message.parts.get_mut(idx) else {
            continue;
        };
        let (offset_header, offset_body, offset_end) = (part.offset_header, part.offset_body, part.offset_end);
        let encoding_problem = part.is_encoding_problem;
        let body = std::mem::take(&mut part.body);
        let part_raw = raw
            .get(offset_header as usize..(offset_body as usize).max(offset_header as usize))
            .unwrap_or_default();
        let fields = header::fields(part_raw);
        let ctype_value = header::find(&fields, "content-type")
            .map(|f| f.value())
            .unwrap_or_default();
        let media = if ctype_value.is_empty() {
            "text/plain".to_string()
        } else {
            header::media_type(ctype_value)
        };
        let disposition = header::find(&fields, "content-disposition")
            .map(|f| f.value())
            .unwrap_or_default();
        let name = header::param(disposition, "filename")
            .or_else(|| header::param(ctype_value, "name"))
            .and_then(file_name);
        let is_attachment = disposition
            .get(..10)
            .is_some_and(|d| d.eq_ignore_ascii_case(b"attachment"));
        let full_path = |p: &str| {
            if p.is_empty() {
                format!("{prefix}1")
            } else {
                format!("{prefix}{p}")
            }
        };
        let children = match &body {
            PartType::Multipart(ids) => ids.clone(),
            _ => Vec::new(),
        };
        match body {
            PartType::Multipart(_) => {
                if let Some(b) = header::param(ctype_value, "boundary") {
                    let closing = format!("--{b}--");
                    let tail = raw.get(offset_body as usize..).unwrap_or_default();
                    if memchr::memmem::find(tail, closing.as_bytes()).is_none() {
                        mail.damage.push(Damage::MissingBoundary(full_path(&path)));
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
                let kids: Vec<(usize, usize)> = children.iter().enumerate().map(|(i, &c)| (i, c as usize)).collect();
                match subtype {
                    "alternative" => {
                        let chosen = choose_alternative(&message, &raw, &kids);
                        mail.dropped_alternatives += kids.len().saturating_sub(1);
                        if let Some((i, c)) = chosen {
                            stack.push((c, child_path(i), level + 1));
                        }
                    }
                    "signed" => {
                        mail.signed = true;
                        // The content first; the signature part(s) are left out (reported).
                        for &(i, _) in kids.iter().skip(1) {
                            mail.items.push(Item::File(Attachment {
                                path: full_path(&child_path(i)),
                                name: None,
                                media_type: "application/signature".into(),
                                bytes: Cow::Borrowed(&[]),
                                special: Some(Special::Signature),
                            }));
                        }
                        if let Some(&(i, c)) = kids.first() {
                            stack.push((c, child_path(i), level + 1));
                        }
                    }
                    "encrypted" => {
                        let whole = raw
                            .get(offset_header as usize..offset_end as usize)
                            .unwrap_or_default()
                            .to_vec();
                        mail.items.push(Item::File(Attachment {
                            path: full_path(&path),
                            name,
                            media_type: media.clone(),
                            bytes: Cow::Owned(whole),
                            special: Some(Special::Encrypted),
                        }));
                    }
                    _ => {
                        for &(i, c) in kids.iter().rev() {
                            stack.push((c, child_path(i), level + 1));
                        }
                    }
                }
            }
            PartType::Message(inner) => {
                let inner_header_end = inner
                    .parts
                    .first()
                    .map(|p| (p.offset_header as usize, p.offset_body as usize));
                let inner_raw: &[u8] = inner.raw_message.as_ref();
                let block = match inner_header_end {
                    Some((s, e)) => {
                        let b = inner_raw.get(s..e.max(s)).unwrap_or_default();
                        let end = header_block_end(b);
                        b[..end].to_vec()
                    }
                    None => Vec::new(),
                };
                let p = full_path(&path);
                let sub_prefix = format!("{p}.");
                let forwarded = walk_message(inner, Cow::Owned(block), &sub_prefix, bounds, level + 1, budget);
                mail.items.push(Item::Message(Forwarded {
                    path: p,
                    name,
                    mail: forwarded,
                }));
            }
            PartType::Text(text) | PartType::Html(text) => {
                let is_html = media == "text/html";
                let inline_text = !is_attachment && name.is_none() && (media == "text/plain" || is_html);
                if encoding_problem {
                    mail.damage.push(Damage::BadEncoding(full_path(&path)));
                }
                if inline_text && !encoding_problem {
                    let charset = header::param(ctype_value, "charset");
                    let text = fix_charset(text, charset.as_deref(), &raw, offset_body, offset_end, &fields);
                    mail.bodies
                        .push((if is_html { BodySource::Html } else { BodySource::Plain }, text));
                } else {
                    let bytes = match text {
                        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                    };
                    // Text attachments go to the engine as their original bytes, not as
                    // mail-parser's re-decoded text.
                    let bytes = if encoding_problem {
                        bytes
                    } else {
                        Cow::Owned(transfer_decoded(&raw, offset_body, offset_end, &fields))
                    };
                    mail.items.push(Item::File(Attachment {
                        path: full_path(&path),
                        name,
                        special: special_for(&media, encoding_problem),
                        media_type: media,
                        bytes,
                    }));
                }
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                if encoding_problem {
                    mail.damage.push(Damage::BadEncoding(full_path(&path)));
                }
                let special = special_for(&media, encoding_problem).or_else(|| {
                    let tnef_name = name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"));
                    tnef_name.then_some(Special::Tnef)
                });
                mail.items.push(Item::File(Attachment {
                    path: full_path(&path),
                    name,
                    media_type: media,
                    bytes,
                    special,
                }));
            }
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

fn special_for(media: &str, encoding_problem: bool) -> Option<Special> {
    if encoding_problem {
        return Some(Special::BadEncoding);
    }
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
/// sender's own text), else the HTML, else a multipart holding one, else the last branch.
fn choose_alternative(message: &Message<'_>, raw: &[u8], kids: &[(usize, usize)]) -> Option<(usize, usize)> {
    let media_of = |c: usize| {
        message.parts.get(c).map(|p| {
            let block = raw
                .get(p.offset_header as usize..(p.offset_body as usize).max(p.offset_header as usize))
                .unwrap_or_default();
            let fields = header::fields(block);
            header::find(&fields, "content-type")
                .map_or_else(|| "text/plain".to_string(), |f| header::media_type(f.value()))
        })
    };
    let pick = |want: &str| {
        kids.iter()
            .copied()
            .find(|&(_, c)| media_of(c).as_deref() == Some(want))
    };
    pick("text/plain")
        .or_else(|| pick("text/html"))
        .or_else(|| {
            kids.iter()
                .copied()
                .find(|&(_, c)| media_of(c).is_some_and(|m| m.starts_with("multipart/")))
        })
        .or_else(|| kids.last().copied())
}

/// mail-parser decodes text with the labels it knows; for `cp932` and other aliases it does
/// not, and for undeclared 8-bit text, it leaves replacement characters. Decode those again
/// from the part's own bytes.
fn fix_charset(
    text: Cow<'_, str>,
    label: Option<&str>,
    raw: &[u8],
    start: u32,
    end: u32,
    fields: &[Field<'_>],
) -> String {
    if !text.contains('\u{FFFD}') {
        return text.into_owned();
    }
    let bytes = transfer_decoded(raw, start, end, fields);
    codec::decode_text(&bytes, label)
}

/// The bytes of a part's body with its transfer encoding undone.
fn transfer_decoded(raw: &[u8], start: u32, end: u32, fields: &[Field<'_>]) -> Vec<u8> {
    let body = raw
        .get(start as usize..(end as usize).max(start as usize))
        .unwrap_or_default();
    let cte = header::find(fields, "content-transfer-encoding")
        .map(|f| String::from_utf8_lossy(f.value()).trim().to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => codec::base64_lenient(body),
        "quoted-printable" => codec::quoted_printable(body, false),
        _ => body.to_vec(),
    }
}

/// A message id for the ledger: the Message-ID header without angle brackets.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let end = header_block_end(raw);
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
}
