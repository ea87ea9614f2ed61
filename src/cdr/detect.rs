//! File-kind detection from content (magic bytes and container structure), never from the
//! name. The name is judged afterwards, by admission (`policy::admission`): a kind crosses only
//! under an extension it is known to use. Textual files are judged whole by [`super::sniff`]:
//! markup, shell formats and scripts anywhere in them make them another kind than text.
//!
//! Detection reads at most a bounded prefix, a ZIP central directory and one small XML part
//! (`[Content_Types].xml`, capped at [`MAX_CONTENT_TYPES_BYTES`]), or an OLE directory. It must
//! never panic; the engine still wraps it in `catch_unwind`.

use std::io::{Cursor, Read};

pub use crate::kind::FileKind;

/// Largest `[Content_Types].xml` read while telling OOXML kinds apart.
pub const MAX_CONTENT_TYPES_BYTES: u64 = 1024 * 1024;

/// How many bytes of the start of a file the text/HTML/script sniffers look at.
const SNIFF_BYTES: usize = 4096;

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
    if head.starts_with(b"ITSF") {
        return Chm;
    }
    if head.starts_with(&ONENOTE_SECTION) {
        return OneNote;
    }
    if is_disk_image(data) {
        return DiskImage;
    }
    detect_textual(data)
}

/// The file-format GUID that starts a OneNote section ({7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}).
const ONENOTE_SECTION: [u8; 16] = [
    0xE4, 0x52, 0x5C, 0x7B, 0x8C, 0xD8, 0xA7, 0x4D, 0xAE, 0xB1, 0x53, 0x78, 0xD0, 0x29, 0x96, 0xD3,
];

/// Disk images Windows mounts (and then shows their files, `.lnk` and `.exe` included, with
/// no mark of the web): ISO 9660 and UDF volume descriptors, VHD/VHDX, Apple DMG, and a FAT
/// boot sector (raw `.img`).
fn is_disk_image(data: &[u8]) -> bool {
    let at = |offset: usize, magic: &[u8]| data.get(offset..offset + magic.len()) == Some(magic);
    let volume_descriptor = [0x8001, 0x8801, 0x9001]
        .into_iter()
        .any(|o| at(o, b"CD001") || at(o, b"BEA01") || at(o, b"NSR02") || at(o, b"NSR03"));
    let footer = |magic: &[u8]| data.len() >= 512 && data[data.len() - 512..].starts_with(magic);
    let fat =
        at(510, &[0x55, 0xAA]) && (at(54, b"FAT1") || at(82, b"FAT32") || at(3, b"NTFS    ") || at(3, b"EXFAT   "));
    volume_descriptor
        || at(0, b"vhdxfile")
        || at(0, b"conectix")
        || footer(b"conectix")
        || footer(b"koly")
        || at(0, b"MSWIM\0\0\0")
        || fat
}

/// Text, HTML, SVG, XML, a shell format or a script — or unknown binary. The whole file is
/// judged ([`super::sniff::text_kind`]), not its first kilobytes.
fn detect_textual(data: &[u8]) -> FileKind {
    if data.is_empty() {
        // Nothing at all is harmless text (an HTML page with no words converts to it); it is
        // admitted only under a text name, like any text.
        return FileKind::Text;
    }
    let head = &data[..data.len().min(SNIFF_BYTES)];
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && (!looks_textual(head) || memchr::memchr(0, data).is_some()) {
        return FileKind::Unknown;
    }
    super::sniff::text_kind(data)
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

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

/// ZIP: OOXML when `[Content_Types].xml` is present (the main part's content type names the
/// kind, so a docm renamed `.docx` is still a docm); otherwise a plain ZIP.
fn detect_zip(data: &[u8]) -> FileKind {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(data)) else {
        // A broken ZIP is still a ZIP: the archive sanitizer refuses it with a reason.
        return FileKind::Zip;
    };
    if is_jar(&archive) {
        return FileKind::Jar;
    }
    let Ok(entry) = archive.by_name("[Content_Types].xml") else {
        return FileKind::Zip;
    };
    let mut xml = Vec::new();
    if entry.take(MAX_CONTENT_TYPES_BYTES).read_to_end(&mut xml).is_err() {
        return FileKind::OoxmlOther;
    }
    ooxml_kind_from_content_types(&xml)
}

/// A Java archive: a manifest and at least one class file (Java runs a `.jar` on a
/// double-click; its classes are blocked inside a ZIP anyway, but the archive is refused whole).
fn is_jar(archive: &zip::ZipArchive<Cursor<&[u8]>>) -> bool {
    const MAX_NAMES: usize = 100_000;
    let mut manifest = false;
    let mut class = false;
    for name in archive.file_names().take(MAX_NAMES).flatten() {
        manifest |= name.eq_ignore_ascii_case("META-INF/MANIFEST.MF");
        class |= name.to_ascii_lowercase().ends_with(".class");
        if manifest && class {
            return true;
        }
    }
    false
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
    // Windows Installer packages, patches and transforms are told by the root's class id.
    const MSI_CLASSES: [&str; 3] = [
        "000c1084-0000-0000-c000-000000000046",
        "000c1086-0000-0000-c000-000000000046",
        "000c1082-0000-0000-c000-000000000046",
    ];
    if MSI_CLASSES.contains(&cf.root_entry().clsid().to_string().to_ascii_lowercase().as_str()) {
        return Msi;
    }
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
        assert_eq!(detect(b""), Text);
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
    fn broken_containers_do_not_panic() {
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&[0xFF; 64]);
        assert_eq!(detect(&zip), Zip);
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend_from_slice(&[0; 600]);
        assert_eq!(detect(&ole), OleOther);
    }
}
