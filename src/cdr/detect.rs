//! File-kind detection from content (magic bytes and container structure), never from the
//! name. The name is only compared afterwards: an extension that contradicts the content is
//! reported as a mismatch, and a name can only ever make a decision stricter (a text file
//! called `.vbs` is treated as a script), never let something through.
//!
//! Detection reads at most a bounded prefix, a ZIP central directory and one small XML part
//! (`[Content_Types].xml`, capped at [`MAX_CONTENT_TYPES_BYTES`]), or an OLE directory. It must
//! never panic; the engine still wraps it in `catch_unwind`.

use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};

/// Largest `[Content_Types].xml` read while telling OOXML kinds apart.
pub const MAX_CONTENT_TYPES_BYTES: u64 = 1024 * 1024;

/// How many bytes of the start of a file the text/HTML/script sniffers look at.
const SNIFF_BYTES: usize = 4096;

/// Every kind mugai can tell apart. Serialized in snake_case in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Pdf,
    // OOXML, told apart by the main part's content type.
    Docx,
    Docm,
    Dotx,
    Dotm,
    Xlsx,
    Xlsm,
    Xltx,
    Xltm,
    Xlsb,
    Pptx,
    Pptm,
    Ppsx,
    Ppsm,
    Potx,
    Potm,
    /// A ZIP with `[Content_Types].xml` whose main part we do not recognise.
    OoxmlOther,
    Zip,
    // OLE compound files.
    Doc,
    Xls,
    Ppt,
    Jtd,
    Msg,
    /// An OOXML document encrypted into a compound file (`EncryptedPackage`).
    OoxmlEncrypted,
    OleOther,
    Rtf,
    Jpeg,
    Png,
    Gif,
    Bmp,
    Tiff,
    Webp,
    Svg,
    Text,
    Html,
    /// Windows PE (exe, dll, scr, ...).
    Pe,
    Elf,
    MachO,
    /// Windows shell link (.lnk).
    Lnk,
    /// Script text (shell, JScript, VBScript, PowerShell, batch, ...).
    Script,
    SevenZip,
    Rar,
    Lzh,
    Gzip,
    Bzip2,
    Xz,
    Tar,
    Cab,
    Unknown,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        // KIND_NAMES equals serde's snake_case names (a test checks every entry).
        KIND_NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// The kind whose report name (snake_case) is `name`.
    pub fn from_name(name: &str) -> Option<FileKind> {
        KIND_NAMES.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The MIME media type of files of this kind (used when a rebuilt file is attached to a
    /// mail); `application/octet-stream` for kinds without one of their own.
    pub fn media_type(self) -> &'static str {
        use FileKind::*;
        match self {
            Pdf => "application/pdf",
            Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Dotx => "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
            Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Xltx => "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
            Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            Ppsx => "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
            Potx => "application/vnd.openxmlformats-officedocument.presentationml.template",
            Docm => "application/vnd.ms-word.document.macroEnabled.12",
            Xlsm => "application/vnd.ms-excel.sheet.macroEnabled.12",
            Pptm => "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
            Doc => "application/msword",
            Xls => "application/vnd.ms-excel",
            Ppt => "application/vnd.ms-powerpoint",
            Jtd => "application/x-js-taro",
            Rtf => "application/rtf",
            Zip => "application/zip",
            Jpeg => "image/jpeg",
            Png => "image/png",
            Gif => "image/gif",
            Bmp => "image/bmp",
            Tiff => "image/tiff",
            Webp => "image/webp",
            Text => "text/plain",
            Html => "text/html",
            _ => "application/octet-stream",
        }
    }

    /// The usual extension of files of this kind (used to name outputs).
    pub fn extension(self) -> Option<&'static str> {
        use FileKind::*;
        Some(match self {
            Pdf => "pdf",
            Docx => "docx",
            Docm => "docm",
            Dotx => "dotx",
            Dotm => "dotm",
            Xlsx => "xlsx",
            Xlsm => "xlsm",
            Xltx => "xltx",
            Xltm => "xltm",
            Xlsb => "xlsb",
            Pptx => "pptx",
            Pptm => "pptm",
            Ppsx => "ppsx",
            Ppsm => "ppsm",
            Potx => "potx",
            Potm => "potm",
            Zip => "zip",
            Doc => "doc",
            Xls => "xls",
            Ppt => "ppt",
            Jtd => "jtd",
            Msg => "msg",
            Rtf => "rtf",
            Jpeg => "jpg",
            Png => "png",
            Gif => "gif",
            Bmp => "bmp",
            Tiff => "tif",
            Webp => "webp",
            Svg => "svg",
            Text => "txt",
            Html => "html",
            _ => return None,
        })
    }
}

const KIND_NAMES: &[(FileKind, &str)] = {
    use FileKind::*;
    &[
        (Pdf, "pdf"),
        (Docx, "docx"),
        (Docm, "docm"),
        (Dotx, "dotx"),
        (Dotm, "dotm"),
        (Xlsx, "xlsx"),
        (Xlsm, "xlsm"),
        (Xltx, "xltx"),
        (Xltm, "xltm"),
        (Xlsb, "xlsb"),
        (Pptx, "pptx"),
        (Pptm, "pptm"),
        (Ppsx, "ppsx"),
        (Ppsm, "ppsm"),
        (Potx, "potx"),
        (Potm, "potm"),
        (OoxmlOther, "ooxml_other"),
        (Zip, "zip"),
        (Doc, "doc"),
        (Xls, "xls"),
        (Ppt, "ppt"),
        (Jtd, "jtd"),
        (Msg, "msg"),
        (OoxmlEncrypted, "ooxml_encrypted"),
        (OleOther, "ole_other"),
        (Rtf, "rtf"),
        (Jpeg, "jpeg"),
        (Png, "png"),
        (Gif, "gif"),
        (Bmp, "bmp"),
        (Tiff, "tiff"),
        (Webp, "webp"),
        (Svg, "svg"),
        (Text, "text"),
        (Html, "html"),
        (Pe, "pe"),
        (Elf, "elf"),
        (MachO, "mach_o"),
        (Lnk, "lnk"),
        (Script, "script"),
        (SevenZip, "seven_zip"),
        (Rar, "rar"),
        (Lzh, "lzh"),
        (Gzip, "gzip"),
        (Bzip2, "bzip2"),
        (Xz, "xz"),
        (Tar, "tar"),
        (Cab, "cab"),
        (Unknown, "unknown"),
    ]
};

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Detect the kind of `data` from its content alone.
pub fn detect(data: &[u8]) -> FileKind {
    use FileKind::*;
    let head = &data[..data.len().min(SNIFF_BYTES)];

    // PDF: the header may be preceded by up to 1024 bytes of junk (readers accept it, so must we).
    if find(&head[..head.len().min(1024 + 8)], b"%PDF-").is_some() {
        return Pdf;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return detect_zip(data);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return detect_ole(data);
    }
    if head.starts_with(b"{\\rt") {
        return Rtf;
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Jpeg;
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Png;
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Gif;
    }
    if head.starts_with(b"BM") && head.len() >= 26 && head[14..18] != [0, 0, 0, 0] && head[6..10] == [0, 0, 0, 0] {
        return Bmp;
    }
    if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        return Tiff;
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Webp;
    }
    if head.starts_with(b"MZ") {
        return Pe;
    }
    if head.starts_with(b"\x7fELF") {
        return Elf;
    }
    if head.len() >= 4 {
        let m = [head[0], head[1], head[2], head[3]];
        const MACHO: [[u8; 4]; 6] = [
            [0xFE, 0xED, 0xFA, 0xCE],
            [0xFE, 0xED, 0xFA, 0xCF],
            [0xCE, 0xFA, 0xED, 0xFE],
            [0xCF, 0xFA, 0xED, 0xFE],
            [0xCA, 0xFE, 0xBA, 0xBE], // universal binary (also Java class files: blocked either way)
            [0xBE, 0xBA, 0xFE, 0xCA],
        ];
        if MACHO.contains(&m) {
            return MachO;
        }
    }
    if head.starts_with(&[0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0]) {
        return Lnk;
    }
    if head.starts_with(b"7z\xBC\xAF\x27\x1C") {
        return SevenZip;
    }
    if head.starts_with(b"Rar!\x1A\x07") {
        return Rar;
    }
    if head.len() >= 7 && head[2] == b'-' && head[3] == b'l' && (head[4] == b'h' || head[4] == b'z') && head[6] == b'-'
    {
        return Lzh;
    }
    if head.starts_with(&[0x1F, 0x8B]) {
        return Gzip;
    }
    if head.starts_with(b"BZh") {
        return Bzip2;
    }
    if head.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
        return Xz;
    }
    if head.starts_with(b"MSCF\0\0\0\0") {
        return Cab;
    }
    if data.len() >= 262 && (&data[257..262] == b"ustar") {
        return Tar;
    }
    detect_textual(head)
}

/// Text, HTML, SVG or script — or unknown binary.
fn detect_textual(head: &[u8]) -> FileKind {
    use FileKind::*;
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && !looks_textual(head) {
        return Unknown;
    }
    if utf16 {
        // UTF-16 text is common from Windows; sniff markup on the ASCII bytes only.
        let ascii: Vec<u8> = head.iter().copied().filter(|&b| b != 0).collect();
        return classify_text(&ascii);
    }
    classify_text(head)
}

fn classify_text(head: &[u8]) -> FileKind {
    use FileKind::*;
    let body = trim_start(strip_bom(head));
    let lower: Vec<u8> = body.iter().take(1024).map(u8::to_ascii_lowercase).collect();
    if body.starts_with(b"#!") {
        return Script;
    }
    if (lower.starts_with(b"<?xml") || lower.starts_with(b"<svg")) && find(&lower, b"<svg").is_some() {
        return Svg;
    }
    const HTML_MARKS: [&[u8]; 7] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<body",
        b"<script",
        b"<iframe",
        b"<hta:",
    ];
    if HTML_MARKS.iter().any(|m| lower.starts_with(m))
        || find(&lower, b"<html").is_some()
        || find(&lower, b"<hta:application").is_some()
    {
        return Html;
    }
    const SCRIPT_MARKS: [&[u8]; 8] = [
        b"@echo off",
        b"wscript.",
        b"createobject(",
        b"activexobject",
        b"invoke-expression",
        b"powershell",
        b"cmd.exe /c",
        b"[system.reflection",
    ];
    if SCRIPT_MARKS.iter().any(|m| find(&lower, m).is_some()) {
        return Script;
    }
    Text
}

/// Plain text: no NUL and few control characters in the sniffed prefix. Any charset (UTF-8,
/// CP932, EUC-JP, ISO-2022-JP) passes this; decoding is the text sanitizer's job.
fn looks_textual(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let mut control = 0usize;
    for &b in head {
        match b {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0C | 0x1B => {}
            0x01..=0x1F | 0x7F => control += 1,
            _ => {}
        }
    }
    control * 100 <= head.len()
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(b)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// ZIP: OOXML when `[Content_Types].xml` is present (the main part's content type names the
/// kind, so a docm renamed `.docx` is still a docm); otherwise a plain ZIP.
fn detect_zip(data: &[u8]) -> FileKind {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(data)) else {
        // A broken ZIP is still a ZIP: the archive sanitizer refuses it with a reason.
        return FileKind::Zip;
    };
    let Ok(entry) = archive.by_name("[Content_Types].xml") else {
        return FileKind::Zip;
    };
    let mut xml = Vec::new();
    if entry.take(MAX_CONTENT_TYPES_BYTES).read_to_end(&mut xml).is_err() {
        return FileKind::OoxmlOther;
    }
    ooxml_kind_from_content_types(&xml)
}

/// Map the main document part's content type to a kind. Order matters: macro-enabled types
/// are checked first, so a package that declares both is treated as the more dangerous one.
pub fn ooxml_kind_from_content_types(xml: &[u8]) -> FileKind {
    use FileKind::*;
    const TABLE: &[(&[u8], FileKind)] = &[
        (b"application/vnd.ms-word.document.macroEnabled.main+xml", Docm),
        (b"application/vnd.ms-word.template.macroEnabledTemplate.main+xml", Dotm),
        (b"application/vnd.ms-excel.sheet.macroEnabled.main+xml", Xlsm),
        (b"application/vnd.ms-excel.template.macroEnabled.main+xml", Xltm),
        (b"application/vnd.ms-excel.sheet.binary.macroEnabled.main", Xlsb),
        (
            b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
            Pptm,
        ),
        (b"application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml", Ppsm),
        (b"application/vnd.ms-powerpoint.template.macroEnabled.main+xml", Potm),
        (
            b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            Docx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
            Dotx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            Xlsx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
            Xltx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            Pptx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
            Ppsx,
        ),
        (
            b"application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
            Potx,
        ),
    ];
    // Content types are case-insensitive (RFC 2045); compare lowercased.
    let lower: Vec<u8> = xml.iter().map(u8::to_ascii_lowercase).collect();
    for (ct, kind) in TABLE {
        let ct_lower: Vec<u8> = ct.iter().map(u8::to_ascii_lowercase).collect();
        if find(&lower, &ct_lower).is_some() {
            return *kind;
        }
    }
    OoxmlOther
}

/// OLE compound file: the kind follows from the top-level stream names.
fn detect_ole(data: &[u8]) -> FileKind {
    use FileKind::*;
    let Ok(cf) = cfb::CompoundFile::open(Cursor::new(data)) else {
        return OleOther;
    };
    let mut names: Vec<String> = Vec::new();
    for entry in cf.read_root_storage().take(10_000) {
        names.push(entry.name().to_string());
    }
    let has = |n: &str| names.iter().any(|x| x.eq_ignore_ascii_case(n));
    if has("EncryptedPackage") && has("EncryptionInfo") {
        return OoxmlEncrypted;
    }
    if has("WordDocument") {
        return Doc;
    }
    if has("Workbook") || has("Book") {
        return Xls;
    }
    if has("PowerPoint Document") {
        return Ppt;
    }
    if names.iter().any(|n| n.starts_with("__substg1.0_")) || has("__properties_version1.0") {
        return Msg;
    }
    // 一太郎 documents carry JustSystems' own streams ("DocumentText", "JSRV_*").
    if has("DocumentText") || names.iter().any(|n| n.starts_with("JSRV_")) {
        return Jtd;
    }
    OleOther
}

/// Whether the extension of `name` contradicts the detected `kind`. Names without an
/// extension, or with one we do not know, never count as a mismatch.
pub fn extension_mismatch(name: &str, kind: FileKind) -> bool {
    let Some(ext) = extension_of(name) else {
        return false;
    };
    match expected_kinds(&ext) {
        Some(kinds) => !kinds.contains(&kind),
        None => false,
    }
}

/// Lowercased extension of the last path component.
pub fn extension_of(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 8 {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// Extensions whose meaning demands a script, whatever the content looks like.
pub fn is_script_extension(ext: &str) -> bool {
    matches!(
        ext,
        "js" | "jse"
            | "vbs"
            | "vbe"
            | "wsf"
            | "wsh"
            | "ps1"
            | "psm1"
            | "bat"
            | "cmd"
            | "hta"
            | "sh"
            | "py"
            | "pl"
            | "scr"
            | "lnk"
            | "reg"
            | "msi"
            | "jar"
            | "com"
    )
}

/// The kinds that a file with this extension may legitimately contain. Families are accepted
/// as a whole: a `.docx` holding a docm is the same family (and the sanitizer fixes the name).
fn expected_kinds(ext: &str) -> Option<&'static [FileKind]> {
    use FileKind::*;
    // A password-protected OOXML file is a compound file under its usual name.
    const WORD: &[FileKind] = &[Docx, Docm, Dotx, Dotm, OoxmlEncrypted];
    const EXCEL: &[FileKind] = &[Xlsx, Xlsm, Xltx, Xltm, Xlsb, OoxmlEncrypted];
    const POWERPOINT: &[FileKind] = &[Pptx, Pptm, Ppsx, Ppsm, Potx, Potm, OoxmlEncrypted];
    Some(match ext {
        "pdf" => &[Pdf],
        "docx" | "docm" | "dotx" | "dotm" => WORD,
        "xlsx" | "xlsm" | "xltx" | "xltm" | "xlsb" => EXCEL,
        "pptx" | "pptm" | "ppsx" | "ppsm" | "potx" | "potm" => POWERPOINT,
        "doc" | "dot" => &[Doc, Rtf],
        "xls" | "xlt" => &[Xls],
        "ppt" | "pps" | "pot" => &[Ppt],
        "jtd" | "jtt" => &[Jtd, OleOther],
        "msg" => &[Msg],
        "rtf" => &[Rtf],
        "zip" => &[Zip],
        "jpg" | "jpeg" | "jpe" | "jfif" => &[Jpeg],
        "png" => &[Png],
        "gif" => &[Gif],
        "bmp" => &[Bmp],
        "tif" | "tiff" => &[Tiff],
        "webp" => &[Webp],
        "svg" => &[Svg],
        "txt" | "csv" | "tsv" | "log" | "md" => &[Text],
        "htm" | "html" => &[Html, Text],
        "exe" | "dll" | "scr" | "sys" | "cpl" | "ocx" => &[Pe],
        "7z" => &[SevenZip],
        "rar" => &[Rar],
        "lzh" | "lha" => &[Lzh],
        "gz" | "tgz" => &[Gzip],
        "tar" => &[Tar],
        "cab" => &[Cab],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileKind::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(detect(b"%PDF-1.7\n%junk"), Pdf);
        assert_eq!(detect(b"junk before header %PDF-1.4\n"), Pdf);
        assert_eq!(detect(b"{\\rtf1\\ansi hello}"), Rtf);
        assert_eq!(detect(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Jpeg);
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Png);
        assert_eq!(detect(b"GIF89a\x01\0\x01\0"), Gif);
        assert_eq!(detect(b"MZ\x90\0\x03\0\0\0"), Pe);
        assert_eq!(detect(b"\x7fELF\x02\x01\x01"), Elf);
        assert_eq!(detect(b"\xCF\xFA\xED\xFE\x07\0\0\x01"), MachO);
        assert_eq!(detect(b"7z\xBC\xAF\x27\x1C\0\x04"), SevenZip);
        assert_eq!(detect(b"Rar!\x1A\x07\x01\0"), Rar);
        assert_eq!(detect(b"\x1F\x8B\x08\0"), Gzip);
        assert_eq!(detect(b"xx-lh5-rest"), Lzh);
        assert_eq!(detect(b"RIFF\0\0\0\0WEBPVP8 "), Webp);
        assert_eq!(detect(b"II*\0\x08\0\0\0"), Tiff);
        assert_eq!(detect(&[0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0]), Lnk);
    }

    #[test]
    fn textual_kinds() {
        assert_eq!(detect("件名,金額\n会議,1000\n".as_bytes()), Text);
        assert_eq!(detect(b"<!DOCTYPE html><html><body>x</body></html>"), Html);
        assert_eq!(detect(b"  <HTML><script>alert(1)</script>"), Html);
        assert_eq!(detect(b"#!/bin/sh\nrm -rf /\n"), Script);
        assert_eq!(detect(b"Set o = CreateObject(\"WScript.Shell\")\n"), Script);
        assert_eq!(detect(b"@echo off\r\ndel *.*\r\n"), Script);
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Svg
        );
        assert_eq!(detect(&[0u8, 1, 2, 3, 0, 0, 9]), Unknown);
        assert_eq!(detect(b""), Unknown);
    }

    #[test]
    fn ooxml_content_types_pick_the_macro_kind() {
        let docm = br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>"#;
        assert_eq!(ooxml_kind_from_content_types(docm), Docm);
        let xlsx = br#"<Types><Override ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
        assert_eq!(ooxml_kind_from_content_types(xlsx), Xlsx);
        assert_eq!(ooxml_kind_from_content_types(b"<Types/>"), OoxmlOther);
    }

    #[test]
    fn mismatch_is_by_family() {
        assert!(extension_mismatch("invoice.pdf", Pe));
        assert!(extension_mismatch("C:\\x\\photo.JPG", Png));
        assert!(!extension_mismatch("report.docx", Docm));
        assert!(!extension_mismatch("report.pdf", Pdf));
        assert!(!extension_mismatch("README", Text));
        assert!(!extension_mismatch("data.unknownext", Pdf));
        assert!(!extension_mismatch(".pdf", Pe), "a dotfile has no extension");
    }

    #[test]
    fn kind_names_are_the_serde_names() {
        for (kind, name) in KIND_NAMES {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String((*name).into())
            );
        }
    }

    #[test]
    fn broken_containers_do_not_panic() {
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&[0xFF; 64]);
        assert_eq!(detect(&zip), Zip);
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend_from_slice(&[0; 600]);
        assert_eq!(detect(&ole), OleOther);
    }
}
