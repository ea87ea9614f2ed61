//! The content check that decides whether a textual file is *plain* text. It owns the rules
//! "text is text only when no program would act on it": markup anywhere in the file (not just
//! at its start), Windows shell and query formats, SYLK, registry files, MIME/MHT documents,
//! and the markers of script engines. It reads bytes and answers a [`FileKind`]; it never
//! allocates in proportion to the input except to decode UTF-16 or ISO-2022-JP (whose bytes
//! do not show ASCII markup as ASCII), and it never panics.
//!
//! Why the whole file: a browser or Office renders `hello<script>…` as HTML whatever the first
//! line says, so a check of the first kilobyte is a check an attacker steps over.

use super::FileKind;

/// Element names that make a text HTML wherever they appear as a tag (`<b>`, `</p>`,
/// `<img src=…>`). The list is the elements browsers act on or render, not every one ever
/// defined; a `<name:…>` (VML, HTA, Office namespaces) counts as markup whatever the name.
const HTML_ELEMENTS: &[&[u8]] = &[
    b"a",
    b"abbr",
    b"address",
    b"applet",
    b"area",
    b"article",
    b"aside",
    b"audio",
    b"b",
    b"base",
    b"basefont",
    b"bdi",
    b"bdo",
    b"bgsound",
    b"big",
    b"blink",
    b"blockquote",
    b"body",
    b"br",
    b"button",
    b"canvas",
    b"caption",
    b"center",
    b"cite",
    b"code",
    b"col",
    b"colgroup",
    b"dd",
    b"del",
    b"details",
    b"dfn",
    b"dialog",
    b"dir",
    b"div",
    b"dl",
    b"dt",
    b"em",
    b"embed",
    b"fieldset",
    b"figure",
    b"font",
    b"footer",
    b"form",
    b"frame",
    b"frameset",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"head",
    b"header",
    b"hr",
    b"html",
    b"i",
    b"iframe",
    b"image",
    b"img",
    b"input",
    b"ins",
    b"isindex",
    b"kbd",
    b"keygen",
    b"label",
    b"legend",
    b"li",
    b"link",
    b"listing",
    b"main",
    b"map",
    b"mark",
    b"marquee",
    b"math",
    b"menu",
    b"meta",
    b"meter",
    b"nav",
    b"nobr",
    b"noembed",
    b"noframes",
    b"noscript",
    b"object",
    b"ol",
    b"optgroup",
    b"option",
    b"output",
    b"p",
    b"param",
    b"picture",
    b"plaintext",
    b"portal",
    b"pre",
    b"progress",
    b"q",
    b"s",
    b"samp",
    b"script",
    b"section",
    b"select",
    b"slot",
    b"small",
    b"source",
    b"span",
    b"strike",
    b"strong",
    b"style",
    b"sub",
    b"summary",
    b"sup",
    b"table",
    b"tbody",
    b"td",
    b"template",
    b"textarea",
    b"tfoot",
    b"th",
    b"thead",
    b"time",
    b"title",
    b"tr",
    b"track",
    b"tt",
    b"u",
    b"ul",
    b"var",
    b"video",
    b"wbr",
    b"xmp",
];

/// INI-style section names of Windows shell and installer formats: `.url`
/// (`[InternetShortcut]`), `.scf` (`[Shell]`), `desktop.ini`, `.inf`, `autorun.inf`, themes,
/// Linux `.desktop` files. A text with such a section line is never plain text.
const SHELL_SECTIONS: &[&[u8]] = &[
    b"internetshortcut",
    b"internetshortcut.w",
    b"shell",
    b".shellclassinfo",
    b"defaultinstall",
    b"defaultinstall.ntamd64",
    b"defaultinstall.nt",
    b"autorun",
    b"desktop entry",
    b"theme",
    b"visualstyles",
    b"mastertheme",
    b"strings",
    b"sourcedisksfiles",
    b"destinationdirs",
];

/// Lowercased markers of script engines and of commands that fetch or run code, searched
/// anywhere in the file.
const SCRIPT_MARKS: &[&[u8]] = &[
    b"wscript.shell",
    b"wscript.createobject",
    b"createobject(",
    b"activexobject",
    b"getobject(\"script:",
    b"invoke-expression",
    b"iex(new-object",
    b"downloadstring(",
    b"frombase64string(",
    b"[system.reflection.assembly]",
    b"cmd.exe /c",
    b"cmd /c ",
    b"powershell -e",
    b"powershell.exe -",
    b"mshta ",
    b"mshta.exe",
    b"regsvr32 /s",
    b"rundll32.exe ",
    b"<script",
    b"<?component",
];

/// How much of a script-marker overlaps from one chunk to the next (longest marker).
const MARK_OVERLAP: usize = 32;

/// The kind of a file that looks textual (no NUL byte, or UTF-16 with a byte-order mark):
/// `Text` only when nothing in it is markup, a directive or a script.
pub fn text_kind(data: &[u8]) -> FileKind {
    // UTF-16 and ISO-2022-JP hide ASCII markup from a byte scan (ISO-2022-JP's two-byte
    // characters are ASCII bytes: `<` is a lead byte of some kanji): judge what they decode to.
    let decoded;
    let text: &[u8] = match decoding_needed(data) {
        Some(enc) => {
            let (s, _, _) = enc.decode(data);
            decoded = s.into_owned().into_bytes();
            &decoded
        }
        None => data,
    };
    judge(strip_bom(text))
}

fn decoding_needed(data: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if data.starts_with(&[0xFF, 0xFE]) {
        return Some(encoding_rs::UTF_16LE);
    }
    if data.starts_with(&[0xFE, 0xFF]) {
        return Some(encoding_rs::UTF_16BE);
    }
    let escapes = memchr::memchr(0x1B, data).is_some();
    (escapes && !encoding_rs::ISO_2022_JP.decode_without_bom_handling(data).1).then_some(encoding_rs::ISO_2022_JP)
}

fn judge(text: &[u8]) -> FileKind {
    let start = text.trim_ascii_start();
    if start.starts_with(b"#!") {
        return FileKind::Script;
    }
    if let Some(kind) = first_line_kind(start) {
        return kind;
    }
    if has_shell_section(text) {
        return FileKind::ShellText;
    }
    if let Some(kind) = markup_kind(text, start.first() == Some(&b'<')) {
        return kind;
    }
    if has_script_mark(text) {
        return FileKind::Script;
    }
    FileKind::Text
}

/// Formats told by their first line: SYLK (`ID;P…`), Excel web queries (`WEB`), registry
/// files, batch files, and MIME documents (`.mht`, saved mail).
fn first_line_kind(start: &[u8]) -> Option<FileKind> {
    let line_end = memchr::memchr(b'\n', start).unwrap_or(start.len());
    let line = start[..line_end].trim_ascii_end();
    let lower: Vec<u8> = line.iter().take(64).map(u8::to_ascii_lowercase).collect();
    // SYLK starts `ID;P` (a semicolon CSV whose first column is "ID" is not one).
    if line.starts_with(b"ID;P")
        || lower == b"web"
        || lower.starts_with(b"regedit")
        || lower.starts_with(b"windows registry editor")
    {
        return Some(FileKind::ShellText);
    }
    if lower.starts_with(b"@echo off") || lower.starts_with(b"@echo on") {
        return Some(FileKind::Script);
    }
    if looks_like_mime(start) {
        return Some(FileKind::Mime);
    }
    None
}

/// A header block (`Name: value` lines) that declares MIME content: an MHT page or a saved
/// mail, which browsers and mail clients render with its HTML and attachments.
fn looks_like_mime(start: &[u8]) -> bool {
    let head = &start[..start.len().min(8192)];
    let header_end = memchr::memmem::find(head, b"\n\n")
        .or_else(|| memchr::memmem::find(head, b"\r\n\r\n"))
        .unwrap_or(head.len());
    let block = &head[..header_end];
    let first_is_field = block
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|colon| colon > 0 && block[..colon].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'));
    if !first_is_field {
        return false;
    }
    let lower: Vec<u8> = block.iter().map(u8::to_ascii_lowercase).collect();
    let at_line_start = |field: &[u8]| {
        lower.starts_with(field) || memchr::memmem::find_iter(&lower, field).any(|i| i > 0 && lower[i - 1] == b'\n')
    };
    at_line_start(b"mime-version:") || at_line_start(b"content-type:")
}

/// A line that is `[section]` for one of [`SHELL_SECTIONS`], or an INF `[Version]` with a
/// `Signature=` line.
fn has_shell_section(text: &[u8]) -> bool {
    let mut version = false;
    let mut signature = false;
    for line in text.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.first() == Some(&b'[') && line.last() == Some(&b']') && line.len() <= 64 {
            let name: Vec<u8> = line[1..line.len() - 1].iter().map(u8::to_ascii_lowercase).collect();
            let name = name.trim_ascii();
            if SHELL_SECTIONS.contains(&name) {
                return true;
            }
            version |= name == b"version";
        } else if line.len() > 10 && line[..9].eq_ignore_ascii_case(b"signature") {
            signature = true;
        }
        if version && signature {
            return true;
        }
    }
    false
}

/// HTML, SVG or XML if any tag of theirs appears anywhere. `xml_rooted`: the text starts with
/// `<`, so any element makes it an XML document (Excel 2003 XML, `.library-ms`).
fn markup_kind(text: &[u8], xml_rooted: bool) -> Option<FileKind> {
    let mut found: Option<FileKind> = None;
    for at in memchr::memchr_iter(b'<', text) {
        let rest = &text[at + 1..];
        let kind = match tag_at(rest) {
            Some(Tag::Svg) => FileKind::Svg,
            Some(Tag::Html) => FileKind::Html,
            Some(Tag::Xml) => FileKind::Xml,
            Some(Tag::Element) if xml_rooted => FileKind::Xml,
            _ => continue,
        };
        // SVG and HTML decide at once (they script); XML may still turn out to be either.
        if kind != FileKind::Xml {
            return Some(kind);
        }
        found = Some(kind);
    }
    found
}

enum Tag {
    Svg,
    Html,
    /// `<?xml`, `<!DOCTYPE`, `<![CDATA[`, a namespaced element (`<v:shape>`, `<hta:app>`).
    Xml,
    /// Some other `<name …>`.
    Element,
}

/// What follows a `<`, if it opens markup.
fn tag_at(rest: &[u8]) -> Option<Tag> {
    let lower = |n: usize| -> Vec<u8> { rest.iter().take(n).map(u8::to_ascii_lowercase).collect() };
    if rest.first() == Some(&b'?') {
        return lower(4).starts_with(b"?xml").then_some(Tag::Xml);
    }
    if rest.first() == Some(&b'!') {
        let l = lower(9);
        if l.starts_with(b"!doctype") {
            return Some(if l.starts_with(b"!doctype h") {
                Tag::Html
            } else {
                Tag::Xml
            });
        }
        return (l.starts_with(b"![cdata[") || l.starts_with(b"!--")).then_some(Tag::Xml);
    }
    let name_start = usize::from(rest.first() == Some(&b'/'));
    let name_bytes = &rest[name_start..];
    if !name_bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    // `name` or `prefix:name`; a colon must be followed by a letter (`<https://…>` is an
    // address in angle brackets, not a namespaced element).
    let word = |from: usize| {
        from + name_bytes[from..]
            .iter()
            .take(64)
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            .count()
    };
    let mut len = word(0);
    if name_bytes.get(len) == Some(&b':') && name_bytes.get(len + 1).is_some_and(u8::is_ascii_alphabetic) {
        len = word(len + 1);
    }
    let after = name_bytes.get(len).copied();
    let ends_tag = matches!(after, None | Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n' | 0x0C));
    if !ends_tag {
        return None;
    }
    let name: Vec<u8> = name_bytes[..len].iter().map(u8::to_ascii_lowercase).collect();
    if name == b"svg" || name.ends_with(b":svg") {
        return Some(Tag::Svg);
    }
    if name.contains(&b':') {
        return Some(Tag::Xml);
    }
    if HTML_ELEMENTS.contains(&name.as_slice()) {
        return Some(Tag::Html);
    }
    Some(Tag::Element)
}

/// Any of [`SCRIPT_MARKS`], case-insensitively, anywhere: lowercased a chunk at a time (with
/// an overlap, so a marker across a chunk border is found), never the whole file at once.
fn has_script_mark(text: &[u8]) -> bool {
    const CHUNK: usize = 64 * 1024;
    let finders: Vec<memchr::memmem::Finder<'_>> =
        SCRIPT_MARKS.iter().map(|m| memchr::memmem::Finder::new(*m)).collect();
    let mut lower = Vec::with_capacity(CHUNK + MARK_OVERLAP);
    let mut at = 0;
    while at < text.len() {
        let end = (at + CHUNK + MARK_OVERLAP).min(text.len());
        lower.clear();
        lower.extend(text[at..end].iter().map(u8::to_ascii_lowercase));
        if finders.iter().any(|f| f.find(&lower).is_some()) {
            return true;
        }
        at += CHUNK;
    }
    false
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileKind::*;

    #[test]
    fn markup_anywhere_is_markup() {
        assert_eq!(text_kind(b"hello<script>alert(1)</script>"), Html);
        assert_eq!(text_kind(b"<meta charset=utf-8><img src=x onerror=alert(1)>"), Html);
        assert_eq!(text_kind(b"line one\nline two <b>bold</b>\n"), Html);
        assert_eq!(text_kind(b"x\n<SVG onload=alert(1)>"), Svg);
        assert_eq!(text_kind(b"a\n<v:shape style='behavior:url(#default#VML)'>"), Xml);
        assert_eq!(
            text_kind(b"<?xml version=\"1.0\"?>\n<Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">"),
            Xml
        );
        assert_eq!(text_kind(b"<libraryDescription xmlns=\"x\"></libraryDescription>"), Xml);
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("ok <iframe src=x>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(text_kind(&utf16), Html);
    }

    #[test]
    fn plain_text_with_angle_brackets_stays_text() {
        for t in [
            &b"From: Taro <taro@example.jp>\nsee <https://example.jp/a>\n"[..],
            b"if a < b && c > d then x <= 3\n",
            b"Vec<T> and Option<u8> in Rust\n",
            "会議は <10:00> から\n".as_bytes(),
            b"[INFO] started\n[2024-01-01] done\nkey=value\n",
            b"ID;Name;Amount\n1;Taro;100\n",
        ] {
            assert_eq!(text_kind(t), Text, "{}", String::from_utf8_lossy(t));
        }
        // ISO-2022-JP: kanji whose bytes spell `<b>` in ASCII are not a tag.
        let (jis, _, _) = encoding_rs::ISO_2022_JP.encode("議事録（案）");
        assert_eq!(text_kind(&jis), Text);
    }

    #[test]
    fn windows_shell_formats_are_never_text() {
        for t in [
            &b"[InternetShortcut]\r\nURL=file://host/share/x.exe\r\n"[..],
            b"\r\n[Shell]\r\nCommand=2\r\nIconFile=\\\\host\\share\\a.ico\r\n",
            b"ID;P\r\nC;Y1;X1;K0;EEXEC(\"calc\")\r\nE\r\n",
            b"WEB\r\n1\r\nhttp://example.net/q.iqy\r\n",
            b"[Version]\r\nSignature=\"$Windows NT$\"\r\n",
            b"REGEDIT4\r\n[HKEY_CURRENT_USER\\x]\r\n",
            b"Windows Registry Editor Version 5.00\r\n",
            b"[autorun]\r\nopen=setup.exe\r\n",
        ] {
            assert_eq!(text_kind(t), ShellText, "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn mime_documents_and_scripts() {
        assert_eq!(
            text_kind(b"From: <Saved by Blink>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\r\nx"),
            Mime
        );
        assert_eq!(text_kind(b"Subject: x\nContent-Type: text/html\n\n<p>x"), Mime);
        assert_eq!(text_kind(b"#!/bin/sh\nrm -rf /\n"), Script);
        assert_eq!(text_kind(b"@echo off\r\ndel *.*\r\n"), Script);
        assert_eq!(text_kind(b"note\nSet o = CreateObject(\"WScript.Shell\")\n"), Script);
        // A marker across the 64 KiB chunk border is still found.
        let mut long = vec![b'a'; 64 * 1024 - 5];
        long.extend_from_slice(b"\nInvoke-Expression $x\n");
        assert_eq!(text_kind(&long), Script);
        assert_eq!(text_kind("件名,金額\n会議,1000\n".as_bytes()), Text);
    }
}
