//! ZIP archives: every entry is detected and sanitized through the same engine (one level
//! deeper, sharing the file's budgets), then a new archive is written deterministically.
//!
//! Reading is bounded before anything is expanded: the entry count, each entry's size (no
//! more than `limits.max_input_bytes`, the size of a file we would accept on its own), each
//! entry's expansion ratio (`limits.max_entry_ratio`), the shared decompression budget, and
//! the nesting depth. An entry that lies about its size is cut at the limit, not trusted.
//!
//! Names: backslashes become `/`, drive letters, absolute roots, `.` and `..` go, control
//! characters become `_`; names without the UTF-8 flag that are not valid UTF-8 are decoded
//! as CP932 (Japanese Windows) and written back as UTF-8 (with the flag); duplicates are
//! renamed `name (2).ext`. Symbolic links are dropped. Entries the engine refuses are left
//! out and listed in the report. Encrypted archives are `held` (the recipient page unlocks
//! them with a password later).

use std::collections::HashSet;

use super::zipwrite::{Copying, ZipOut};
use super::{zipread, Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::report::{Action, Finding, What};

/// The ZIP sanitizer.
pub struct ZipSanitizer;

impl Sanitizer for ZipSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[FileKind::Zip]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        rebuild(input, cx, Copying::Raw)
    }
}

/// Rebuild the archive `input` (see the module's documentation).
pub(crate) fn rebuild(input: &[u8], cx: &mut Cx<'_>, copying: Copying) -> Result<Clean, Refusal> {
    let limits = cx.config.limits;
    let mut zip = zipread::open(input, limits.max_entries)?;
    // Password-protected entries cannot be opened without the password: the archive is
    // kept aside until someone gives it (the recipient page unlocks it).
    let password = cx.take_password();
    if password.is_none() && zipread::any_encrypted(&mut zip)? {
        return Err(Refusal::Encrypted { hold: true });
    }
    let mut findings = Vec::new();
    let mut names_used: HashSet<String> = HashSet::new();
    let mut left_out: Vec<(String, Refusal)> = Vec::new();
    // The new archive is about the old one's size: reserving that up front avoids the
    // doubling reallocations that would hold two copies of a large archive at once.
    let capacity = input.len().saturating_add(input.len() / 8).saturating_add(64 * 1024);
    let mut out = ZipOut::with_capacity(capacity);

    // Entries are read in order and rebuilt in batches as wide as the workers free now
    // (one, under full load: then exactly one entry is in memory at a time, as before),
    // side by side; each batch is written in order before the next is read.
    let mut i = 0;
    while i < zip.len() {
        let width = super::parallel::width();
        let mut batch = Vec::with_capacity(width);
        while i < zip.len() && batch.len() < width {
            if let Some(pending) = read_one(&mut zip, input, i, password.as_deref(), &mut findings, cx)? {
                batch.push(pending);
            }
            i += 1;
        }
        let engine = cx.engine;
        let jobs: Vec<_> = batch
            .iter()
            .map(|p| {
                let mut child = cx.fork();
                move || engine.sanitize_nested(&p.data, Some(&p.name), &mut child)
            })
            .collect();
        let results = super::parallel::side_by_side(jobs);
        for (pending, result) in batch.into_iter().zip(results) {
            match result {
                Ok((in_kind, clean)) => {
                    let wanted = super::output_name(&pending.name, in_kind, clean.kind);
                    let name = unique(&wanted, &mut names_used);
                    if name != wanted {
                        let mut f = Finding::removed(
                            What::Structure,
                            wanted.clone(),
                            format!("duplicate name, renamed to {name}"),
                        );
                        f.action = Action::Neutralized;
                        findings.push(f);
                    }
                    findings.extend(clean.findings.into_iter().map(|f| f.within(&name)));
                    match pending.raw {
                        // Handed back unchanged (a plain photo, a clean text file):
                        // its stream is copied, not deflated again.
                        Some(raw) if copying == Copying::Raw && clean.bytes == pending.data => {
                            out.raw(&name, input, raw)?
                        }
                        _ if compressed_already(clean.kind) => out.stored(&name, &clean.bytes)?,
                        _ => out.deflated(&name, &clean.bytes, LEVEL)?,
                    }
                }
                Err(e) if e.ends_container() => return Err(e),
                Err(Refusal::Encrypted { .. }) => return Err(Refusal::Encrypted { hold: true }),
                Err(refusal) => {
                    findings.push(Finding::removed(
                        What::EmbeddedFile,
                        pending.name.clone(),
                        format!("entry left out: {}", refusal.reason()),
                    ));
                    left_out.push((pending.name, refusal));
                }
            }
        }
    }
    if !left_out.is_empty() && cx.config.policy.archive_report {
        // The recipient opens the archive, not our report: tell them there.
        let name = unique(REPORT_NAME, &mut names_used);
        out.deflated(&name, report_text(&left_out).as_bytes(), LEVEL)?;
    }
    let bytes = out.finish()?;
    findings.sort();
    findings.dedup();
    Ok(Clean {
        bytes,
        kind: FileKind::Zip,
        findings,
    })
}

/// Deflate level of rebuilt entries.
const LEVEL: u32 = 6;

/// Kinds whose bytes are compressed already (packages, archives, photos): stored, since
/// deflating them again costs time and saves nothing.
fn compressed_already(kind: FileKind) -> bool {
    use FileKind::*;
    matches!(
        kind,
        Docx | Dotx | Xlsx | Xltx | Pptx | Ppsx | Potx | Zip | Jpeg | Png | Gif | Webp
    )
}

/// One entry read and named, waiting for the engine.
struct Pending {
    name: String,
    data: Vec<u8>,
    raw: Option<zipread::RawStream>,
}

/// Read entry `i`: its name made safe (renames reported), its bytes within every limit.
/// `None` for what is not a file to rebuild (directories; symbolic links, reported).
fn read_one(
    zip: &mut zipread::Zip<'_>,
    input: &[u8],
    i: usize,
    password: Option<&[u8]>,
    findings: &mut Vec<Finding>,
    cx: &mut Cx<'_>,
) -> Result<Option<Pending>, Refusal> {
    let limits = cx.config.limits;
    cx.check_deadline()?;
    let encrypted = zip
        .by_index_raw(i)
        .map_err(|e| Refusal::Malformed(format!("ZIP entry {i}: {e}")))?
        .encrypted();
    let opened = match (password, encrypted) {
        (Some(pw), true) => zip.by_index_decrypt(i, pw),
        _ => zip.by_index_raw(i),
    };
    let entry = opened.map_err(|e| match e {
        zip::result::ZipError::InvalidPassword => Refusal::WrongPassword,
        e => Refusal::Malformed(format!("ZIP entry {i}: {e}")),
    })?;
    let raw_name = entry.name_raw().to_vec();
    let (decoded, was_cp932) = match unicode_path(&entry, &raw_name) {
        Some(name) => (name, false),
        None => decode_name(&raw_name),
    };
    if entry.is_dir() || decoded.ends_with('/') || decoded.ends_with('\\') {
        return Ok(None);
    }
    if entry.is_symlink() {
        findings.push(Finding::removed(What::Structure, decoded.clone(), "symbolic link"));
        return Ok(None);
    }
    let clean_name = safe_name(&decoded);
    if clean_name != decoded || was_cp932 {
        let mut f = Finding::removed(What::Structure, decoded.clone(), format!("renamed to {clean_name}"));
        f.action = Action::Neutralized;
        if was_cp932 && clean_name == decoded {
            f.detail = "CP932 name rewritten as UTF-8".into();
        }
        findings.push(f);
    }

    // Read at most what one file may be, what the ratio allows, and what the budget has left.
    let by_ratio = entry.compressed_size().max(1).saturating_mul(limits.max_entry_ratio);
    let cap = limits
        .max_input_bytes
        .min(by_ratio.max(64 * 1024))
        .min(cx.decompressed_left());
    // The declared size is checked before anything is inflated (an honest bomb costs
    // nothing), and reading stops just past it (a lying header costs no more than what it
    // declared).
    let declared = entry.size();
    if declared > cap {
        let (limit, detail) = if cap == cx.decompressed_left() {
            (
                "limits.max_decompressed_bytes",
                format!("entry {decoded} expands past the budget"),
            )
        } else if cap == limits.max_input_bytes {
            (
                "limits.max_input_bytes",
                format!("entry {decoded} is larger than {cap} bytes"),
            )
        } else {
            (
                "limits.max_entry_ratio",
                format!("entry {decoded} expands more than {}:1", limits.max_entry_ratio),
            )
        };
        return Err(Refusal::LimitExceeded { limit, detail });
    }
    let read = if encrypted {
        // ZipCrypto checks a password with one byte: one wrong password in 256 passes the
        // check and then fails the CRC or the inflate. That is a wrong password too.
        let read = zipread::read_capped(entry, declared, declared, &decoded);
        match read {
            Err(Refusal::Malformed(_)) => Err(Refusal::WrongPassword),
            other => other.map(|d| d.map(|data| zipread::Entry { data, raw: None })),
        }
    } else {
        drop(entry);
        zipread::read_entry(zip, input, i, declared, &decoded)
    };
    let Some(read) = read? else {
        return Err(Refusal::Malformed(format!(
            "entry {decoded} holds more than the {declared} bytes its header declares"
        )));
    };
    cx.charge_decompressed(read.data.len() as u64)?;
    Ok(Some(Pending {
        name: clean_name,
        data: read.data,
        raw: read.raw,
    }))
}

/// The note added to an archive that had entries left out (`policy.archive_report`).
const REPORT_NAME: &str = "_mugai_report.txt";

/// The note's text: Japanese first (the readers), English after; CRLF for Windows Notepad.
fn report_text(left_out: &[(String, Refusal)]) -> String {
    let mut t = String::from(
        "この圧縮ファイルは無害化されました。次のファイルは安全に再構成できないため除かれています。\r\n\
         This archive was sanitized. These entries could not be rebuilt safely and were left out.\r\n\r\n",
    );
    for (name, refusal) in left_out {
        t.push_str(&format!(
            "{}\t{}\t{}\r\n",
            inert(name),
            refusal.reason(),
            inert(&refusal.to_string())
        ));
    }
    t
}

/// Text that names come into (they are the sender's) must not make the note look like
/// another kind of file to the next reader — `%PDF-`, `{\rtf`, `<html` in an entry name would
/// make a content sniffer (ours included, on a second pass) take the note for a PDF, RTF or
/// page. ASCII punctuation other than `. _ - / ( )` and control characters are percent-encoded;
/// letters, digits and non-ASCII text (Japanese names) stay readable.
fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '.' | '_' | '-' | '/' | '(' | ')' | ':' | ',')
            || !c.is_ascii() && !c.is_control()
        {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The Info-ZIP Unicode Path extra field (0x7075), when present and made for this raw name
/// (its CRC matches): archivers that write legacy names add the UTF-8 name there.
fn unicode_path<R: std::io::Read>(entry: &zip::read::ZipFile<'_, R>, raw_name: &[u8]) -> Option<String> {
    entry.extra_data_fields().find_map(|field| match field {
        zip::ExtraField::UnicodePath(u) => u
            .clone()
            .unwrap_valid(raw_name)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.into_vec()).ok()),
        _ => None,
    })
}

/// UTF-8 when the bytes are UTF-8 (whatever the flag says), CP932 otherwise. Returns whether
/// CP932 was used.
fn decode_name(raw: &[u8]) -> (String, bool) {
    match std::str::from_utf8(raw) {
        Ok(s) => (s.to_string(), false),
        Err(_) => {
            let (text, _, _) = encoding_rs::SHIFT_JIS.decode(raw);
            (text.into_owned(), true)
        }
    }
}

/// A name that cannot leave the archive's root or confuse an extractor.
pub fn safe_name(name: &str) -> String {
    let unified = name.replace('\\', "/");
    let mut parts: Vec<String> = Vec::new();
    for (i, part) in unified.split('/').enumerate() {
        let mut part = part.to_string();
        // A drive letter at the start (`C:`) is an absolute path on Windows.
        if i == 0 && part.len() == 2 && part.ends_with(':') && part.as_bytes()[0].is_ascii_alphabetic() {
            continue;
        }
        part = part
            .chars()
            .map(|c| if c.is_control() || c == ':' { '_' } else { c })
            .collect();
        let trimmed = part.trim_end_matches([' ', '.']);
        match trimmed {
            "" | "." | ".." => continue,
            t => parts.push(t.to_string()),
        }
    }
    if parts.is_empty() {
        "unnamed".into()
    } else {
        parts.join("/")
    }
}

/// `name`, or `name (2)`, `name (3)`... when an entry of that name (any case) exists.
fn unique(name: &str, used: &mut HashSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while !used.insert(candidate.to_lowercase()) {
        candidate = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') => format!("{stem} ({n}).{ext}"),
            _ => format!("{name} ({n})"),
        };
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_or_confuse() {
        assert_eq!(safe_name("../../etc/passwd"), "etc/passwd");
        assert_eq!(safe_name("/abs/file.txt"), "abs/file.txt");
        assert_eq!(
            safe_name("C:\\Windows\\System32\\evil.dll"),
            "Windows/System32/evil.dll"
        );
        assert_eq!(safe_name("a/./b/../c.txt"), "a/b/c.txt");
        assert_eq!(safe_name("ok\u{0}name.txt"), "ok_name.txt");
        assert_eq!(safe_name("file.txt:stream"), "file.txt_stream");
        assert_eq!(safe_name("trailing. . "), "trailing");
        assert_eq!(safe_name(".."), "unnamed");
        assert_eq!(safe_name("見積書/請求書.pdf"), "見積書/請求書.pdf");
    }

    #[test]
    fn names_in_the_note_cannot_make_it_look_like_another_file() {
        assert_eq!(inert("s%PDF-exe"), "s%25PDF-exe");
        assert_eq!(inert("{\\rtf1 <html>.txt"), "%7B%5Crtf1 %3Chtml%3E.txt");
        assert_eq!(inert("見積/請求書 (2).pdf"), "見積/請求書 (2).pdf");
        assert_eq!(inert("a\r\nb\t"), "a%0D%0Ab%09");
    }

    #[test]
    fn cp932_names_are_decoded() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("請求書.pdf");
        assert_eq!(decode_name(&sjis), ("請求書.pdf".to_string(), true));
        assert_eq!(decode_name("見積.txt".as_bytes()), ("見積.txt".to_string(), false));
    }

    #[test]
    fn duplicates_are_renamed() {
        let mut used = HashSet::new();
        assert_eq!(unique("a.txt", &mut used), "a.txt");
        assert_eq!(unique("A.TXT", &mut used), "A (2).TXT");
        assert_eq!(unique("a.txt", &mut used), "a (3).txt");
        assert_eq!(unique("dir/noext", &mut used), "dir/noext");
        assert_eq!(unique("dir/noext", &mut used), "dir/noext (2)");
    }
}
