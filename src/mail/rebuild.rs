//! The MIME writer for rebuilt mail: the gateway's headers on top, the received header
//! fields the gateway does not own byte for byte, then a fresh MIME body — one text part
//! (notice + readable text) and the disarmed files, or forwarded messages rebuilt the same
//! way. Everything written is CRLF, base64 lines are 76 characters, generated header lines
//! are folded under 78, boundaries are random and cannot occur in base64.
//!
//! The fields the gateway owns, and therefore drops from the received header: the ones
//! describing the body it replaces (`Content-*`, `MIME-Version`), and any `X-Mugai-*` a
//! sender put there to look already checked.

use std::io::{self, Write};

use super::codec;
use super::header::Field;
use crate::config::BodyCharset;

/// A rebuilt message, ready to be written.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Header fields added on top, values already encoded and folded.
    pub gateway_headers: Vec<(String, String)>,
    /// The received fields kept, each ending in CRLF.
    pub kept_headers: Vec<u8>,
    /// The text body, already in `charset`, CRLF lines.
    pub text: Vec<u8>,
    pub charset: Option<BodyCharset>,
    pub parts: Vec<OutPart>,
}

/// One part after the text.
#[derive(Debug)]
pub enum OutPart {
    File {
        name: String,
        media_type: String,
        bytes: Vec<u8>,
    },
    Message {
        name: Option<String>,
        message: Box<Rebuilt>,
    },
}

/// Whether the gateway owns (replaces) a received header field.
pub fn gateway_owns(field: &Field<'_>) -> bool {
    let name = field.name;
    name.is_empty()
        || name.len() >= 8 && name[..8].eq_ignore_ascii_case(b"content-")
        || field.is("mime-version")
        || name.len() >= 8 && name[..8].eq_ignore_ascii_case(b"x-mugai-")
}

/// The received fields the gateway keeps, with bare LF line endings made CRLF and a lone CR
/// made a space (a message that arrived over SMTP has neither: its fields stay byte for byte).
pub fn kept_fields(fields: &[Field<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| !gateway_owns(f)) {
        let mut prev = 0u8;
        for (i, &b) in f.raw.iter().enumerate() {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            // A lone CR is a line break to some clients: `Subject: x\rX-Mugai-Outcome: clean`
            // would show a forged field. It becomes a space.
            if b == b'\r' && f.raw.get(i + 1) != Some(&b'\n') {
                out.push(b' ');
            } else {
                out.push(b);
            }
            prev = b;
        }
        if !f.raw.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Fold a header value at `; ` or spaces so lines stay under 78 characters where possible.
pub fn fold(name: &str, value: &str) -> String {
    let mut out = String::new();
    let mut line_len = name.len() + 2;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 76 {
                out.push_str("\r\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

fn boundary() -> io::Result<String> {
    // `=_` cannot occur in base64 or in the text part (also base64 or ISO-2022-JP lines that
    // start with ESC or text; a line is only a delimiter when it starts with `--` + this).
    Ok(format!("=_mugai_{}", crate::ids::random_hex(12)?))
}

fn has_8bit(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b >= 0x80)
}

impl Rebuilt {
    /// Whether any byte of the message is 8-bit (kept raw headers can be); the transfer
    /// encoding of a `message/rfc822` part holding it says so.
    fn is_8bit(&self) -> bool {
        has_8bit(&self.kept_headers)
            || self.parts.iter().any(|p| match p {
                OutPart::Message { message, .. } => message.is_8bit(),
                OutPart::File { .. } => false,
            })
    }

    /// Set the text part: CRLF lines of at most 300 characters, in `charset`.
    pub fn set_text(&mut self, text: &str, charset: BodyCharset) {
        self.text = super::text::encode(&super::text::normalize_lines(text, 300), charset);
        self.charset = Some(charset);
    }

    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        // Base64 in 76-character lines with CRLF is 1.37 times the bytes.
        let mut out = Vec::with_capacity(self.text.len() * 2 + self.parts_len() / 5 * 7 + 4096);
        self.write_to(&mut out)?;
        Ok(out)
    }

    fn parts_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                OutPart::File { bytes, .. } => bytes.len(),
                OutPart::Message { message, .. } => message.parts_len() + message.text.len(),
            })
            .sum()
    }

    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        for (name, value) in &self.gateway_headers {
            write!(w, "{name}: {value}\r\n")?;
        }
        w.write_all(&self.kept_headers)?;
        w.write_all(b"MIME-Version: 1.0\r\n")?;
        if self.parts.is_empty() {
            self.write_text_part(w)?;
            return Ok(());
        }
        let b = boundary()?;
        write!(w, "Content-Type: multipart/mixed;\r\n boundary=\"{b}\"\r\n\r\n")?;
        w.write_all(b"This is a multi-part message in MIME format.\r\n")?;
        write!(w, "\r\n--{b}\r\n")?;
        self.write_text_part(w)?;
        for part in &self.parts {
            write!(w, "\r\n--{b}\r\n")?;
            match part {
                OutPart::File {
                    name,
                    media_type,
                    bytes,
                } => {
                    write!(
                        w,
                        "Content-Type: {media_type};\r\n name=\"{}\"\r\n\
                         Content-Disposition: attachment;\r\n {}\r\n\
                         Content-Transfer-Encoding: base64\r\n\r\n",
                        codec::encode_words(name),
                        codec::encode_param("filename", name),
                    )?;
                    codec::write_base64(w, bytes)?;
                }
                OutPart::Message { name, message } => {
                    w.write_all(b"Content-Type: message/rfc822\r\n")?;
                    match name {
                        Some(n) => write!(
                            w,
                            "Content-Disposition: attachment;\r\n {}\r\n",
                            codec::encode_param("filename", n)
                        )?,
                        None => w.write_all(b"Content-Disposition: inline\r\n")?,
                    }
                    let cte = if message.is_8bit() { "8bit" } else { "7bit" };
                    write!(w, "Content-Transfer-Encoding: {cte}\r\n\r\n")?;
                    message.write_to(w)?;
                }
            }
        }
        write!(w, "\r\n--{b}--\r\n")?;
        Ok(())
    }

    fn write_text_part<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        match self.charset.unwrap_or(BodyCharset::Utf8) {
            BodyCharset::Utf8 => {
                w.write_all(b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")?;
                codec::write_base64(w, &self.text)
            }
            BodyCharset::Iso2022Jp => {
                w.write_all(
                    b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
                )?;
                w.write_all(&self.text)?;
                if !self.text.ends_with(b"\r\n") {
                    w.write_all(b"\r\n")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::header;

    #[test]
    fn owned_fields_go_and_the_rest_stay_byte_for_byte() {
        let block = b"Received: from x\r\n\tby y\r\nContent-Type: text/html\r\nX-Mugai-Outcome: clean\r\n\
                      Subject: =?ISO-2022-JP?B?GyRCOGVOMBsoQg==?=\r\nMIME-Version: 1.0\r\n";
        let kept = kept_fields(&header::fields(block));
        assert_eq!(
            kept,
            b"Received: from x\r\n\tby y\r\nSubject: =?ISO-2022-JP?B?GyRCOGVOMBsoQg==?=\r\n"
        );
        assert_eq!(
            kept_fields(&header::fields(b"From: a\nTo: b\n")),
            b"From: a\r\nTo: b\r\n"
        );
        // A lone CR never survives to look like a line break.
        assert_eq!(
            kept_fields(&header::fields(b"Subject: x\rX-Mugai-Outcome: clean\r\nTo: b\r\n")),
            b"Subject: x X-Mugai-Outcome: clean\r\nTo: b\r\n"
        );
    }

    #[test]
    fn a_rebuilt_message_has_balanced_boundaries_and_short_lines() {
        let r = Rebuilt {
            gateway_headers: vec![("X-Mugai-Outcome".into(), "disarmed".into())],
            kept_headers: b"From: a@b\r\n".to_vec(),
            text: "本文\r\n".as_bytes().to_vec(),
            charset: Some(BodyCharset::Utf8),
            parts: vec![OutPart::File {
                name: "見積書（最終版）.docx".into(),
                media_type: "application/octet-stream".into(),
                bytes: vec![0u8; 5000],
            }],
        };
        let bytes = r.to_bytes().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("X-Mugai-Outcome: disarmed\r\nFrom: a@b\r\nMIME-Version: 1.0\r\n"));
        assert!(text.lines().all(|l| l.len() <= 78), "{text}");
        assert!(!text.replace("\r\n", "").contains('\n'));
        let b = text.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(text.matches(&format!("--{b}\r\n")).count(), 2);
        assert_eq!(text.matches(&format!("--{b}--")).count(), 1);
    }
}
