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

use super::xml_filter::{dangerous_formula, reference_text};

/// Elements of cell data the scanner accepts (unprefixed, in the default namespace, which
/// the caller has checked is SpreadsheetML's).
const CELL_ELEMENTS: &[&[u8]] = &[
    b"row",
    b"c",
    b"v",
    b"f",
    b"is",
    b"t",
    b"r",
    b"rPr",
    b"rPh",
    b"rFont",
    b"charset",
    b"family",
    b"b",
    b"i",
    b"strike",
    b"outline",
    b"shadow",
    b"condense",
    b"extend",
    b"color",
    b"sz",
    b"u",
    b"vertAlign",
    b"scheme",
];

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
        let next = pos + memchr2(b'<', b'&', xml.get(pos..)?)?;
        if let Some((_, text)) = formula.as_mut() {
            text.push_str(std::str::from_utf8(&xml[pos..next]).ok()?);
        }
        if xml[next] == b'&' {
            let (text, after) = reference(xml, next)?;
            if let Some((_, f)) = formula.as_mut() {
                f.push_str(&text);
            }
            pos = after;
            continue;
        }
        let tag = next;
        match xml.get(tag + 1)? {
            b'/' => {
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
                if open != name {
                    return None;
                }
                pos = close + 1;
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
                if !CELL_ELEMENTS.contains(&name) || formula.is_some() {
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
        let len = xml[at..].iter().position(|&b| b == quote)?;
        let value = &xml[at..at + len];
        if value.contains(&b'<') {
            return None;
        }
        let mut v = 0;
        while let Some(amp) = value[v..].iter().position(|&b| b == b'&') {
            let (_, after) = reference(xml, at + v + amp)?;
            if after > at + len {
                return None;
            }
            v = after - at;
        }
        at += len + 1;
    }
}

/// An entity or character reference at `at` (`&…;`): its text and the offset after it.
/// Only what the general filter accepts.
fn reference(xml: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = xml.get(at + 1..)?;
    let semi = rest.iter().take(16).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&rest[..semi]).ok()?;
    Some((reference_text(name)?, at + 1 + semi + 1))
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
