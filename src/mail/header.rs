//! Header blocks as bytes: split into fields without changing a byte (what the gateway does
//! not touch goes out exactly as it came in), and MIME parameters (`filename`, `name`,
//! `charset`, `boundary`) read from them the way Japanese mailers write them — RFC 2231 in
//! any charset and with continuations, RFC 2047 inside quotes, or raw 8-bit bytes.

use super::codec;

/// One header field: its name and the whole field as it came (name, colon, value, folded
/// lines and the line ending).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub raw: &'a [u8],
}

impl<'a> Field<'a> {
    /// The value after the colon, folding included.
    pub fn value(&self) -> &'a [u8] {
        let colon = self
            .raw
            .iter()
            .position(|&b| b == b':')
            .map_or(self.raw.len(), |i| i + 1);
        self.raw[colon..].trim_ascii()
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The fields of a header block, up to its empty line. A line without a colon that does not
/// continue a field is kept as a field of its own with an empty name (so nothing is lost).
pub fn fields(block: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    let mut start: Option<usize> = None;
    while pos < block.len() {
        let end = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i + 1);
        let line = &block[pos..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        let continues = matches!(line[0], b' ' | b'\t');
        if !continues {
            if let Some(s) = start.take() {
                out.push(field(&block[s..pos]));
            }
            start = Some(pos);
        } else if start.is_none() {
            start = Some(pos);
        }
        pos = end;
    }
    if let Some(s) = start {
        out.push(field(&block[s..pos]));
    }
    out
}

fn field(raw: &[u8]) -> Field<'_> {
    Field {
        name: field_name(raw).unwrap_or(&raw[..0]),
        raw,
    }
}

/// The name of the header field `line` starts, if it starts one: printable ASCII up to the
/// colon, white space before the colon allowed (RFC 5322's obsolete syntax, which readers
/// accept: `Subject :` is a Subject field to them, so it is one here).
pub fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', line)?;
    let name = line[..colon].trim_ascii_end();
    (!name.is_empty() && name.iter().all(|b| b.is_ascii_graphic())).then_some(name)
}

/// The value of the first field named `name`; empty when there is none.
pub fn value<'a>(fields: &[Field<'a>], name: &str) -> &'a [u8] {
    find(fields, name).map(|f| f.value()).unwrap_or_default()
}

/// The first field named `name`.
pub fn find<'a>(fields: &[Field<'a>], name: &str) -> Option<Field<'a>> {
    fields.iter().find(|f| f.is(name)).copied()
}

/// The media type of a Content-Type value, lowercased (`text/plain` when absent or broken,
/// as RFC 2045 says).
pub fn media_type(value: &[u8]) -> String {
    let head = value.split(|&b| b == b';').next().unwrap_or_default();
    let t = String::from_utf8_lossy(head.trim_ascii()).to_ascii_lowercase();
    if t.contains('/') && !t.contains(char::is_whitespace) {
        t
    } else {
        "text/plain".into()
    }
}

/// A parameter of a structured value (`filename`, `name`, `charset`, ...), decoded to text.
pub fn param(value: &[u8], wanted: &str) -> Option<String> {
    let mut plain: Option<Vec<u8>> = None;
    let mut extended: Option<Vec<u8>> = None;
    // RFC 2231 continuations: (index, is_encoded, bytes).
    let mut sections: Vec<(u32, bool, Vec<u8>)> = Vec::new();
    for (key, val) in params(value) {
        let key = key.to_ascii_lowercase();
        let Some(rest) = key.strip_prefix(wanted) else { continue };
        if rest.is_empty() {
            plain.get_or_insert(val);
        } else if rest == "*" {
            extended.get_or_insert(val);
        } else if let Some(section) = rest.strip_prefix('*') {
            let (num, encoded) = match section.strip_suffix('*') {
                Some(n) => (n, true),
                None => (section, false),
            };
            if let Ok(n) = num.parse::<u32>() {
                if sections.len() < 1000 {
                    sections.push((n, encoded, val));
                }
            }
        }
    }
    if let Some(ext) = extended {
        return Some(decode_extended(&ext, true));
    }
    if !sections.is_empty() {
        sections.sort_by_key(|s| s.0);
        let first_encoded = sections[0].1;
        let mut bytes = Vec::new();
        let mut label = None;
        for (i, (_, encoded, val)) in sections.iter().enumerate() {
            if *encoded {
                let mut v = val.as_slice();
                if i == 0 {
                    let (l, rest) = split_charset(v);
                    label = l;
                    v = rest;
                }
                bytes.extend(percent_decode(v));
            } else {
                bytes.extend_from_slice(val);
            }
        }
        if first_encoded {
            return Some(codec::decode_text(&bytes, label.as_deref()));
        }
        return Some(codec::decode_words(&bytes));
    }
    plain.map(|v| codec::decode_words(&v))
}

/// `charset'lang'rest` → (charset, rest).
fn split_charset(v: &[u8]) -> (Option<String>, &[u8]) {
    let mut parts = v.splitn(3, |&b| b == b'\'');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(cs), Some(_lang), Some(rest)) => (Some(String::from_utf8_lossy(cs).into_owned()), rest),
        _ => (None, v),
    }
}

fn decode_extended(v: &[u8], with_charset: bool) -> String {
    let (label, rest) = if with_charset { split_charset(v) } else { (None, v) };
    codec::decode_text(&percent_decode(rest), label.as_deref())
}

fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if v[i] == b'%' {
            if let (Some(h), Some(l)) = (v.get(i + 1).and_then(|&c| hex(c)), v.get(i + 2).and_then(|&c| hex(c))) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The `key=value` pairs after the first `;` of a structured value; quoted values unquoted.
fn params(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(first) = value.iter().position(|&b| b == b';') else {
        return out;
    };
    let mut i = first + 1;
    let n = value.len();
    while i < n && out.len() < 2000 {
        while i < n && (value[i].is_ascii_whitespace() || value[i] == b';') {
            i += 1;
        }
        let key_start = i;
        while i < n && value[i] != b'=' && value[i] != b';' {
            i += 1;
        }
        let key = String::from_utf8_lossy(value[key_start..i].trim_ascii()).into_owned();
        if i >= n || value[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < n && matches!(value[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let mut val = Vec::new();
        if i < n && value[i] == b'"' {
            i += 1;
            while i < n && value[i] != b'"' {
                if value[i] == b'\\' && i + 1 < n {
                    i += 1;
                }
                if !matches!(value[i], b'\r' | b'\n') {
                    val.push(value[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < n && value[i] != b';' {
                val.push(value[i]);
                i += 1;
            }
            let t = val.trim_ascii().to_vec();
            val = t;
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_every_byte_and_folding() {
        let block = b"From: a@b\r\nSubject: =?ISO-2022-JP?B?GyRCOGVOMBsoQg==?=\r\n  more\r\nX-Empty:\r\n\r\nbody";
        let f = fields(block);
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].raw, b"Subject: =?ISO-2022-JP?B?GyRCOGVOMBsoQg==?=\r\n  more\r\n");
        assert!(f[1].is("subject"));
        assert_eq!(f[2].value(), b"");
    }

    #[test]
    fn filenames_in_every_japanese_form_decode() {
        let rfc2231_sjis = b"attachment; filename*=shift_jis''%8C%A9%90%CF%8F%91.pdf";
        assert_eq!(param(rfc2231_sjis, "filename").as_deref(), Some("見積書.pdf"));
        let continued = b"attachment;\r\n filename*0*=UTF-8''%E8%A6%8B%E7%A9;\r\n filename*1*=%8D%E6%9B%B8.pdf";
        assert_eq!(param(continued, "filename").as_deref(), Some("見積書.pdf"));
        let rfc2047 = b"application/pdf; name=\"=?ISO-2022-JP?B?GyRCOCtAUT1xGyhC?=.pdf\"";
        assert_eq!(param(rfc2047, "name").as_deref(), Some("見積書.pdf"));
        let raw = b"attachment; filename=\"\x8c\xa9\x90\xcf\x8f\x91.xls\"";
        assert_eq!(param(raw, "filename").as_deref(), Some("見積書.xls"));
        assert_eq!(
            param(b"text/plain; charset=\"cp932\"", "charset").as_deref(),
            Some("cp932")
        );
        assert_eq!(param(b"attachment", "filename"), None);
        let rlo = "attachment; filename*=UTF-8''..%2F..%2Finvoice%E2%80%AEfdp.exe";
        let name = param(rlo.as_bytes(), "filename").and_then(crate::mail::parse::file_name);
        assert_eq!(name.as_deref(), Some("invoicefdp.exe"));
        assert_eq!(media_type(b"Application/PDF; name=x"), "application/pdf");
        assert_eq!(media_type(b"garbage"), "text/plain");
    }
}
