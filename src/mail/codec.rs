//! The encodings of mail, both ways: charset labels (with the Japanese aliases mail really
//! uses), RFC 2047 encoded-words, RFC 2231 parameter values, lenient base64 and
//! quoted-printable for bodies, and the encoders the rebuilt mail is written with.
//!
//! Decoders never fail: what cannot be decoded is kept as replacement characters, and every
//! loop is linear in its input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use encoding_rs::{Encoding, EUC_JP, ISO_2022_JP, SHIFT_JIS, UTF_8};

/// The encoding for a MIME charset label. `cp932`, `ms932`, `windows-31j` and friends are
/// Windows-31J, which encoding_rs's Shift_JIS is (WHATWG maps the same table).
pub fn charset(label: &str) -> Option<&'static Encoding> {
    let l = label.trim().trim_matches('"').to_ascii_lowercase();
    match l.as_str() {
        "cp932" | "ms932" | "windows-31j" | "x-sjis" | "sjis" | "shift-jis" | "x-ms-cp932" | "ibm-943" => {
            Some(SHIFT_JIS)
        }
        "x-euc-jp" | "eucjp" => Some(EUC_JP),
        "iso-2022-jp-1" | "iso-2022-jp-2" | "iso-2022-jp-3" | "iso-2022-jp-ms" | "cp50220" | "cp50221" | "cp50222" => {
            Some(ISO_2022_JP)
        }
        "utf8" => Some(UTF_8),
        _ => Encoding::for_label(l.as_bytes()),
    }
}

/// Decode bytes in the named charset; without a usable label, UTF-8 when valid, else the
/// Japanese charsets by trial (the engine's text detection), else lossy UTF-8.
pub fn decode_text(bytes: &[u8], label: Option<&str>) -> String {
    if label.is_some_and(is_utf7) {
        return decode_utf7(bytes);
    }
    if let Some(enc) = label.and_then(charset) {
        let joined;
        let bytes = if enc == ISO_2022_JP {
            joined = join_iso_2022_jp(bytes);
            &joined[..]
        } else {
            bytes
        };
        let (text, _, had_errors) = enc.decode(bytes);
        if !had_errors || enc == UTF_8 || label.is_none() {
            return text.into_owned();
        }
        // A wrong label (Shift_JIS mail labelled iso-8859-1 happens): try what it really is.
        if let Some(real) = crate::cdr::text::charset(bytes) {
            return real.decode(bytes).0.into_owned();
        }
        return text.into_owned();
    }
    // A guess that yields private-use characters is a wrong one (Latin-1 read as CP932).
    match crate::cdr::text::charset(bytes) {
        Some(enc) => match enc.decode(bytes).0 {
            text if text.chars().any(is_private_use) => decode_by_trial(bytes),
            text => text.into_owned(),
        },
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn is_private_use(c: char) -> bool {
    ('\u{E000}'..='\u{F8FF}').contains(&c)
}

/// UTF-7 (RFC 2152), which the WHATWG encodings leave out and old mailers still label.
fn is_utf7(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    ["utf-7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7"]
        .iter()
        .any(|u| l.eq_ignore_ascii_case(u))
}

/// Decode UTF-7: ASCII stands for itself, `+` opens modified base64 of UTF-16BE (without
/// padding) that runs to the first byte outside its alphabet, a `-` there is absorbed, and
/// `+-` is a plus sign. Unpaired surrogates and 8-bit bytes become U+FFFD. Linear.
fn decode_utf7(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut utf16 = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'+' {
            out.push(if b.is_ascii() {
                char::from(b)
            } else {
                char::REPLACEMENT_CHARACTER
            });
            continue;
        }
        if bytes.get(i) == Some(&b'-') {
            out.push('+');
            i += 1;
            continue;
        }
        // The shifted run, as UTF-16BE bytes; bits left over at its end are padding.
        let mut sextets = Sextets::default();
        utf16.clear();
        while let Some(v) = bytes.get(i).and_then(|&c| base64_value(c)) {
            sextets.push(v, &mut utf16);
            i += 1;
        }
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let units = utf16.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
        out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    }
    out
}

/// Encoded-words each end in ASCII mode, so joined ones hold `ESC ( B ESC $ B` where a
/// word ended; the WHATWG decoder counts two escapes in a row as an error. Drop the switch
/// back to ASCII when another escape follows at once.
fn join_iso_2022_jp(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let ascii_switch = bytes[i] == 0x1b && matches!(bytes.get(i + 1..i + 3), Some(b"(B") | Some(b"(J"));
        if ascii_switch && bytes.get(i + 3) == Some(&0x1b) {
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Decode a header value that may hold RFC 2047 encoded-words and raw 8-bit bytes. Adjacent
/// encoded-words are joined before their charset is decoded, because Japanese mailers split
/// one ISO-2022-JP or UTF-8 sequence across words.
pub fn decode_words(raw: &[u8]) -> String {
    let mut out = String::new();
    // Bytes of encoded-words decoded so far but not yet turned into text, with their charset.
    let mut pending: Option<(String, Vec<u8>)> = None;
    let mut i = 0;
    let flush = |out: &mut String, pending: &mut Option<(String, Vec<u8>)>| {
        if let Some((label, bytes)) = pending.take() {
            out.push_str(&decode_text(&bytes, Some(&label)));
        }
    };
    let mut plain_start = 0;
    while i < raw.len() {
        if raw[i] == b'=' && raw.get(i + 1) == Some(&b'?') {
            if let Some((label, bytes, end)) = encoded_word(&raw[i..]) {
                let between = &raw[plain_start..i];
                let only_space = between.iter().all(|b| b.is_ascii_whitespace());
                if !(only_space && pending.is_some()) {
                    flush(&mut out, &mut pending);
                    out.push_str(&decode_raw_header(between));
                }
                match &mut pending {
                    Some((l, b)) if l.eq_ignore_ascii_case(&label) => b.extend_from_slice(&bytes),
                    _ => {
                        flush(&mut out, &mut pending);
                        pending = Some((label, bytes));
                    }
                }
                i += end;
                plain_start = i;
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, &mut pending);
    out.push_str(&decode_raw_header(&raw[plain_start..]));
    unfold(&out)
}

/// Raw 8-bit bytes in a header value (a name, a subject), by what decodes cleanly: UTF-8,
/// then CP932 and EUC-JP — each only if it yields no private-use character (a Latin-1
/// `Frösche` read as CP932 becomes `Fr\u{e49b}che`) — then Windows-1252. Never mojibake.
fn decode_raw_header(bytes: &[u8]) -> String {
    if bytes.is_ascii() || bytes.contains(&0x1B) {
        return decode_text(bytes, None);
    }
    decode_by_trial(bytes)
}

/// The trial order of [`decode_raw_header`] (never calls back into [`decode_text`]).
fn decode_by_trial(bytes: &[u8]) -> String {
    [UTF_8, SHIFT_JIS, EUC_JP]
        .into_iter()
        .find_map(|enc| {
            let (text, had_errors) = enc.decode_without_bom_handling(bytes);
            (!had_errors && !text.chars().any(is_private_use)).then(|| text.into_owned())
        })
        .unwrap_or_else(|| {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
        })
}

/// One `=?charset?B|Q?text?=` at the start of `s`: (charset, decoded bytes, length).
fn encoded_word(s: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    // An encoded-word is at most 75 characters; allow more (mailers overrun it) but bounded.
    let window = &s[..s.len().min(1024)];
    let q1 = 2 + window[2..].iter().position(|&b| b == b'?')?;
    let enc = *window.get(q1 + 1)?;
    if window.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let rel_end = window[text_start..].windows(2).position(|w| w == b"?=")?;
    let text = &window[text_start..text_start + rel_end];
    if text.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let label = std::str::from_utf8(&window[2..q1]).ok()?;
    // RFC 2231 adds a language: charset*lang.
    let label = label.split('*').next().unwrap_or(label).to_string();
    let bytes = match enc {
        b'B' | b'b' => base64_lenient(text),
        b'Q' | b'q' => quoted_printable(text, true),
        _ => return None,
    };
    Some((label, bytes, text_start + rel_end + 2))
}

/// Remove folding (CRLF followed by white space) from a decoded header value.
pub fn unfold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            while matches!(chars.peek(), Some('\r' | '\n')) {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Base64 as mail writes it: line breaks and stray characters skipped, missing padding
/// tolerated, decoding stopped at the first `=` pad.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut sextets = Sextets::default();
    for &b in input {
        let v = match b {
            b'-' => 62,
            b'_' => 63,
            b'=' => break,
            _ => match base64_value(b) {
                Some(v) => v,
                None => continue,
            },
        };
        sextets.push(v, &mut out);
    }
    out
}

/// The value of a character of the standard base64 alphabet.
pub(super) fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Six-bit base64 values gathered into bytes, for the decoders that go a byte at a time.
#[derive(Default)]
pub(super) struct Sextets {
    acc: u32,
    bits: u32,
}

impl Sextets {
    pub(super) fn push(&mut self, value: u8, out: &mut Vec<u8>) {
        self.acc = (self.acc << 6) | u32::from(value);
        self.bits += 6;
        if self.bits >= 8 {
            self.bits -= 8;
            out.push((self.acc >> self.bits) as u8);
            self.acc &= (1 << self.bits) - 1;
        }
    }
}

/// Quoted-printable; `header` also turns `_` into a space (RFC 2047 Q). Broken escapes are
/// kept as they are.
pub fn quoted_printable(input: &[u8], header: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            b'=' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (input.get(i + 1).copied(), input.get(i + 2).copied()) {
                    (Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                        out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                        i += 3;
                    }
                    // Soft line break.
                    (Some(b'\r'), Some(b'\n')) => i += 3,
                    (Some(b'\n'), _) => i += 2,
                    _ => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'_' if header => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A text as RFC 2047 UTF-8 B encoded-words, each within 75 characters, joined by folding
/// (`\r\n `). Pure ASCII without specials is returned as is.
pub fn encode_words(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'=' | b'?'));
    if plain && text.len() <= 60 {
        return text.to_string();
    }
    // 75 - len("=?UTF-8?B??=") = 63 base64 characters = 45 bytes of UTF-8 at most.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// An RFC 2231 parameter `name*0*=UTF-8''…; name*1*=…`, split so no line passes 78
/// characters. A short ASCII value is written as a plain quoted parameter.
pub fn encode_param(name: &str, value: &str) -> String {
    let plain = value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'%' | b'\''));
    if plain && value.len() + name.len() < 60 {
        return format!("{name}=\"{value}\"");
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::from("UTF-8''");
    for &b in value.as_bytes() {
        let esc = if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        };
        if piece.len() + esc.len() > 60 {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push_str(&esc);
    }
    pieces.push(piece);
    if pieces.len() == 1 {
        return format!("{name}*={}", pieces[0]);
    }
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{name}*{i}*={p}"))
        .collect::<Vec<_>>()
        .join(";\r\n ")
}

/// Write `bytes` as base64 in 76-character lines ending in CRLF.
pub fn write_base64<W: std::io::Write + ?Sized>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    // 57 input bytes make one 76-character line; a block of lines is encoded in one call
    // (SIMD), then cut into lines.
    const LINE_IN: usize = 57;
    const LINE_OUT: usize = 76;
    const BLOCK_LINES: usize = 800;
    let mut encoded = Vec::with_capacity(LINE_OUT * BLOCK_LINES);
    let mut buf = Vec::with_capacity((LINE_OUT + 2) * BLOCK_LINES);
    for block in bytes.chunks(LINE_IN * BLOCK_LINES) {
        encoded.clear();
        base64_simd::STANDARD.encode_append(block, &mut encoded);
        buf.clear();
        for line in encoded.chunks(LINE_OUT) {
            buf.extend_from_slice(line);
            buf.extend_from_slice(b"\r\n");
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlabelled_guess_with_private_use_characters_falls_back_without_recursing() {
        // Found by fuzzing: an escape byte (so ISO-2022-JP is tried) in bytes whose CP932
        // reading has private-use characters sent the decoders round in a circle.
        let text = decode_text(b"\xf6~\x1b/", None);
        assert!(!text.chars().any(is_private_use), "{text:?}");
        assert!(!decode_words(b"a \xf6~\x1b/").chars().any(is_private_use));
    }

    #[test]
    fn utf7_decodes_as_rfc_2152_has_it() {
        assert_eq!(decode_text(b"Fr+APY-sche +ZeVnLIqe-", Some("UTF-7")), "Frösche 日本語");
        assert_eq!(
            decode_text(b"1 +- 1 = 2, +2D3eAA- ok", Some("utf-7")),
            "1 + 1 = 2, 😀 ok"
        );
        // A run that stops at a non-base64 byte keeps that byte; 8-bit bytes are not UTF-7.
        assert_eq!(decode_text(b"+AGEAYg. \xff", Some("utf-7")), "ab. \u{FFFD}");
    }

    #[test]
    fn encoded_words_in_japanese_charsets_decode() {
        // ISO-2022-JP split across two words inside one escape sequence run.
        let raw = b"=?ISO-2022-JP?B?GyRCOCtAURsoQg==?= =?iso-2022-jp?B?GyRCPXEbKEI=?=.pdf";
        assert_eq!(decode_words(raw), "見積書.pdf");
        assert_eq!(decode_words(b"=?cp932?B?jKmQz4+R?=.xlsx"), "見積書.xlsx");
        assert_eq!(decode_words(b"=?UTF-8?Q?=E8=A6=8B=E7=A9=8D_1?="), "見積 1");
        assert_eq!(decode_words(b"plain =?bogus?Q?x"), "plain =?bogus?Q?x");
        // Raw 8-bit Latin-1 is not taken for CP932 (whose reading has a private-use character).
        assert_eq!(decode_words(b"Fr\xF6sche.txt"), "Frösche.txt");
        assert_eq!(decode_words("Frösche.txt".as_bytes()), "Frösche.txt");
        // Raw 8-bit CP932 bytes in a header.
        assert_eq!(decode_words(b"\x8c\xa9\x90\xcf\x8f\x91.doc"), "見積書.doc");
    }

    #[test]
    fn encoders_round_trip_through_the_decoders() {
        let name = "令和7年度 予算見積書（最終版）ほか添付資料一式.docx";
        let words = encode_words(name);
        assert!(words.split("\r\n ").all(|w| w.len() <= 75), "{words}");
        assert_eq!(decode_words(words.as_bytes()), name);
        let param = encode_param("filename", name);
        assert!(param.split("\r\n").all(|l| l.len() <= 78), "{param}");
        assert_eq!(encode_param("filename", "a.pdf"), "filename=\"a.pdf\"");
    }

    #[test]
    fn base64_lenient_skips_noise_and_writer_wraps_at_76() {
        assert_eq!(base64_lenient(b"aGVs\r\nbG8*=junk"), b"hello");
        let mut out = Vec::new();
        write_base64(&mut out, &[0xAB; 1000]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(base64_lenient(text.as_bytes()), vec![0xAB; 1000]);
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=ZZ", false), b"a=bc=ZZ");
    }

    #[test]
    fn writer_gives_the_lines_the_base64_crate_gives() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for len in [0, 1, 2, 3, 56, 57, 58, 57 * 800 - 1, 57 * 800, 57 * 800 + 1, 100_000] {
            let mut fast = Vec::new();
            write_base64(&mut fast, &data[..len]).unwrap();
            let reference: Vec<u8> = data[..len]
                .chunks(57)
                .flat_map(|line| [STANDARD.encode(line).into_bytes(), b"\r\n".to_vec()].concat())
                .collect();
            assert_eq!(fast, reference, "{len} bytes");
        }
    }
}
