//! The fast path for a worksheet's cell data: the bytes between `<sheetData>` and
//! `</sheetData>`, which are nearly all of a large spreadsheet.
//!
//! Cell data uses a handful of elements (`row`, `c`, `v`, `f`, inline strings and their rich
//! text runs), none of which a rule in [`super::xml_filter`] removes except a formula that
//! talks to another program. The general filter pays for a full XML event (UTF-8 checks,
//! namespace scopes) per cell; this scanner checks the same bytes against a strict grammar
//! in one pass and returns the formulas to drop.
//!
//! The contract that keeps it safe: [`scan`] accepts a region only when the general filter
//! would copy that region unchanged except for removing exactly the dangerous `<f>`
//! elements it lists. Anything outside the grammar — another element, a prefix, a namespace
//! declaration, a comment, CDATA, a processing instruction, an unknown entity, invalid
//! UTF-8, mismatched tags, a nested formula — makes it return `None`, and the general filter
//! handles the whole part as before. A test and a fuzz target check that both paths give the
//! same bytes and findings for inputs the scanner accepts.

use memchr::memchr2;

use super::xml_filter::{dangerous_formula, reference_char};

/// Elements of cell data the scanner accepts (unprefixed, in the default namespace, which
/// the caller has checked is SpreadsheetML's). A `match`, not a list to search: it is asked
/// once per element of the sheet.
fn cell_element(name: &[u8]) -> bool {
    matches!(
        name,
        b"row"
            | b"c"
            | b"v"
            | b"f"
            | b"is"
            | b"t"
            | b"r"
            | b"rPr"
            | b"rPh"
            | b"rFont"
            | b"charset"
            | b"family"
            | b"b"
            | b"i"
            | b"strike"
            | b"outline"
            | b"shadow"
            | b"condense"
            | b"extend"
            | b"color"
            | b"sz"
            | b"u"
            | b"vertAlign"
            | b"scheme"
    )
}

/// What [`scan`] found in an accepted region.
#[derive(Debug, Default)]
pub struct Region {
    /// Offset of the `</sheetData` end tag that closes the region.
    pub end: usize,
    /// Spans (absolute offsets) of the `<f>…</f>` elements to remove.
    pub dropped: Vec<(usize, usize)>,
    /// Deepest nesting inside the region (a `row` is 1).
    pub depth: u32,
}

/// Scan `xml` from `from` (just after the `<sheetData …>` start tag) to its end tag.
pub fn scan(xml: &[u8], from: usize, max_depth: u32) -> Option<Region> {
    let mut region = Region::default();
    let mut stack: Vec<&[u8]> = Vec::new();
    // The open formula: where its start tag began, and its text so far.
    let mut formula: Option<(usize, String)> = None;
    let mut pos = from;
    loop {
        let next = pos + markup(xml.get(pos..)?)?;
        if let Some((_, text)) = formula.as_mut() {
            text.push_str(std::str::from_utf8(&xml[pos..next]).ok()?);
        }
        if xml[next] == b'&' {
            let (c, after) = reference(xml, next)?;
            if let Some((_, f)) = formula.as_mut() {
                f.push(c);
            }
            pos = after;
            continue;
        }
        let tag = next;
        match xml.get(tag + 1)? {
            b'/' => {
                let name = match stack.last() {
                    // The common end tag, `</name>` closing the element open: no name to
                    // measure, no white space to skip.
                    Some(&open)
                        if same_name(xml.get(tag + 2..tag + 2 + open.len()), open)
                            && xml.get(tag + 2 + open.len()) == Some(&b'>') =>
                    {
                        stack.pop();
                        pos = tag + 2 + open.len() + 1;
                        open
                    }
                    _ => {
                        let name_end = tag + 2 + name_len(&xml[tag + 2..]);
                        let close = skip_space(xml, name_end);
                        if xml.get(close) != Some(&b'>') {
                            return None;
                        }
                        let name = &xml[tag + 2..name_end];
                        let Some(open) = stack.pop() else {
                            // The region ends at its own end tag, and only there.
                            if name != b"sheetData" {
                                return None;
                            }
                            region.end = tag;
                            std::str::from_utf8(&xml[from..tag]).ok()?;
                            return Some(region);
                        };
                        if !same_name(Some(open), name) {
                            return None;
                        }
                        pos = close + 1;
                        name
                    }
                };
                if name == b"f" {
                    let (start, text) = formula.take()?;
                    if dangerous_formula(&text) {
                        region.dropped.push((start, pos));
                    }
                }
            }
            b'!' | b'?' => return None,
            _ => {
                let name_end = tag + 1 + name_len(&xml[tag + 1..]);
                let name = &xml[tag + 1..name_end];
                if !cell_element(name) || formula.is_some() {
                    return None;
                }
                let (after, empty) = attributes(xml, name_end)?;
                pos = after;
                if !empty {
                    stack.push(name);
                    let depth = stack.len() as u32;
                    if depth > max_depth {
                        return None;
                    }
                    region.depth = region.depth.max(depth);
                    if name == b"f" {
                        formula = Some((tag, String::new()));
                    }
                }
            }
        }
    }
}

/// Whether `a` is the name `b`: a byte loop, as cell data's names are one to a few bytes and
/// the slice comparison calls the C library's `memcmp` once per end tag (5 % of a large
/// sheet's time).
fn same_name(a: Option<&[u8]>, b: &[u8]) -> bool {
    a.is_some_and(|a| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y))
}

/// Offset of the first `<` or `&` in `s`. Text between cell tags is a few bytes (`1234`, a
/// short name), shorter than `memchr2` takes to set up, so the first bytes are looked at
/// one by one.
fn markup(s: &[u8]) -> Option<usize> {
    const SHORT: usize = 32;
    let head = &s[..s.len().min(SHORT)];
    if let Some(i) = head.iter().position(|&b| b == b'<' || b == b'&') {
        return Some(i);
    }
    if s.len() <= SHORT {
        return None;
    }
    memchr2(b'<', b'&', &s[SHORT..]).map(|i| SHORT + i)
}

/// Length of the name at the start of `s` (no prefix: `:` is not a name byte here).
fn name_len(s: &[u8]) -> usize {
    s.iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        .unwrap_or(s.len())
}

fn skip_space(xml: &[u8], mut at: usize) -> usize {
    while xml.get(at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        at += 1;
    }
    at
}

/// Check the attributes of a start tag from `at` (just after its name); returns the offset
/// after the tag and whether it was empty (`/>`). No namespace declarations.
fn attributes(xml: &[u8], mut at: usize) -> Option<(usize, bool)> {
    loop {
        let before = at;
        at = skip_space(xml, at);
        match xml.get(at)? {
            b'>' => return Some((at + 1, false)),
            b'/' => return (xml.get(at + 1)? == &b'>').then_some((at + 2, true)),
            _ => {}
        }
        if at == before {
            return None; // attributes must be separated by white space
        }
        let n = xml[at..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')))
            .unwrap_or(0);
        let key = &xml[at..at + n];
        if n == 0 || key.starts_with(b"xmlns") {
            return None;
        }
        at = skip_space(xml, at + n);
        if xml.get(at)? != &b'=' {
            return None;
        }
        at = skip_space(xml, at + 1);
        let quote = *xml.get(at)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        at += 1;
        // The value, in one pass (values are short: `A1`, `inlineStr`): its end at the
        // closing quote, no `<`, every reference one the filter reads, and inside it.
        loop {
            match *xml.get(at)? {
                b if b == quote => break,
                b'<' => return None,
                b'&' => {
                    let (_, after) = reference(xml, at)?;
                    if xml[at + 1..after].contains(&quote) {
                        return None;
                    }
                    at = after;
                }
                _ => at += 1,
            }
        }
        at += 1;
    }
}

/// An entity or character reference at `at` (`&…;`): its character and the offset after
/// it. Only what the general filter accepts ([`reference_char`]); a decimal reference, the
/// one a sheet is full of (openpyxl writes every non-ASCII character as `&#35506;`), is read
/// here without making a string of its name.
fn reference(xml: &[u8], at: usize) -> Option<(char, usize)> {
    // `&#` and one to nine digits up to `;`, in one pass; anything else (hex, more digits,
    // a name) is read below.
    if xml.get(at + 1) == Some(&b'#') {
        let digits = at + 2;
        let mut code = 0u32;
        let mut i = digits;
        while let Some(&b) = xml.get(i) {
            match b {
                b'0'..=b'9' if i - digits < 9 => code = code * 10 + u32::from(b - b'0'),
                b';' if i > digits => return Some((char::from_u32(code)?, i + 1)),
                _ => break,
            }
            i += 1;
        }
    }
    let rest = xml.get(at + 1..)?;
    let semi = rest.iter().take(16).position(|&b| b == b';')?;
    let name = &rest[..semi];
    let after = at + 1 + semi + 1;
    if let [b'#', digits @ ..] = name {
        if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            let code = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            return Some((char::from_u32(code)?, after));
        }
    }
    Some((reference_char(std::str::from_utf8(name).ok()?)?, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(s: &str) -> Option<Region> {
        scan(s.as_bytes(), 0, 64)
    }

    #[test]
    fn accepts_cell_data_and_finds_its_end() {
        let s = r#"<row r="1" spans="1:3" x14ac:dyDescent="0.25"><c r="A1" t="inlineStr"><is><t xml:space="preserve">a &amp; b &#x41;</t></is></c><c r="B1"><f t="shared" si="0"/><v>1</v></c></row>
</sheetData><x/>"#;
        let r = scan_str(s).expect("accepted");
        assert_eq!(&s[r.end..r.end + 12], "</sheetData>");
        assert!(r.dropped.is_empty());
        assert_eq!(r.depth, 4);
    }

    #[test]
    fn references_read_as_the_general_filter_reads_them() {
        for name in [
            "#35506",
            "#0065",
            "#65",
            "#x41",
            "#X41",
            "#+65",
            "#",
            "#x",
            "#1114112",
            "#55296",
            "#999999999",
            "#4294967296",
            "amp",
            "lt",
            "gt",
            "quot",
            "apos",
            "nbsp",
            "#-1",
            "#6５",
            "#123456789",
            "#1234567890",
            "#0000000065",
            "#00000000065",
            "#12a",
            "#;",
        ] {
            let xml = format!("&{name};");
            let fast = reference(xml.as_bytes(), 0).map(|(c, _)| c);
            assert_eq!(fast, reference_char(name), "&{name};");
        }
        for at in 0..=40 {
            let mut s = vec![b'x'; 80];
            s[at] = b'<';
            assert_eq!(markup(&s), Some(at));
            s[at] = b'&';
            assert_eq!(markup(&s), Some(at));
        }
        assert_eq!(markup(&[b'x'; 80]), None);
        assert_eq!(markup(b""), None);
    }

    #[test]
    fn dangerous_formulas_are_listed_with_their_whole_element() {
        let s = r#"<row><c><f>cmd|' /c calc'!A0</f><v>0</v></c><c><f>SUM(A1:A2)&amp;"|"</f></c></row></sheetData>"#;
        let r = scan_str(s).expect("accepted");
        assert_eq!(r.dropped.len(), 1);
        let (a, b) = r.dropped[0];
        assert_eq!(&s[a..b], "<f>cmd|' /c calc'!A0</f>");
    }

    #[test]
    fn anything_outside_the_grammar_falls_back() {
        for s in [
            "<row><!-- x --></row></sheetData>",
            "<row><![CDATA[x]]></row></sheetData>",
            "<row><?pi x?></row></sheetData>",
            "<x:row></x:row></sheetData>",
            r#"<row xmlns="urn:other"></row></sheetData>"#,
            r#"<row xmlns:r="urn:other"></row></sheetData>"#,
            "<row><control/></row></sheetData>",
            "<row>&ent;</row></sheetData>",
            "<row></c></sheetData>",
            "<row><c><f>A1<v/></f></c></row></sheetData>",
            "<row>\u{0}\u{ff}</row>",
            "<row></row></other>",
            "<row></row>",
            "<row a=\"1\"b=\"2\"></row></sheetData>",
            "<row a=\"&bad;\"></row></sheetData>",
        ] {
            assert!(scan_str(s).is_none(), "{s}");
        }
        let invalid_utf8 = b"<row><c><v>\xff</v></c></row></sheetData>";
        assert!(scan(invalid_utf8, 0, 64).is_none());
        assert!(scan_str("<row><c><v>1</v></c></row></sheetData>").is_some());
        assert!(scan(b"<row><c><v>1</v></c></row></sheetData>", 0, 2).is_none());
    }
}
