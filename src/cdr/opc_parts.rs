//! Whether a package's relationships part or `[Content_Types].xml`, as the input has it, says
//! exactly what the rebuilt one says. The rebuild writes these parts from what it parsed and
//! kept; when the input's part says the same, its own bytes are kept instead — so a package
//! with nothing to remove can come back byte for byte ([`super::ooxml`]).
//!
//! Strict on purpose, so that no reader can find more in the input's part than we did: UTF-8
//! starting at its first byte, an optional XML declaration, the one root element in its
//! namespace (declared as the default, nothing else declared), only the child elements and
//! attributes the rebuild writes, unprefixed and each attribute at most once, whitespace
//! between them; no comment, processing instruction, DTD, CDATA or text. The two parts say
//! the same when they hold the same elements with the same attribute values (after
//! unescaping), in any order, each as many times. Anything else: the rebuilt part is written.
//!
//! A leaf: uses quick-xml only.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

const RELATIONSHIPS: Spec = Spec {
    root: "Relationships",
    namespace: "http://schemas.openxmlformats.org/package/2006/relationships",
    children: &[("Relationship", &["Id", "Type", "Target", "TargetMode"])],
};

const CONTENT_TYPES: Spec = Spec {
    root: "Types",
    namespace: "http://schemas.openxmlformats.org/package/2006/content-types",
    children: &[
        ("Default", &["Extension", "ContentType"]),
        ("Override", &["PartName", "ContentType"]),
    ],
};

/// What one kind of package part may hold.
struct Spec {
    root: &'static str,
    namespace: &'static str,
    /// Child elements and the attributes each may have.
    children: &'static [(&'static str, &'static [&'static str])],
}

/// One child element: its name and its attributes' values, sorted by attribute name.
type Item = (String, Vec<(String, String)>);

/// Whether the input's part `source`, named `key` (lowercased), says exactly what the rebuilt
/// `ours` says. Only relationships parts and `[Content_Types].xml` are compared; any other
/// part never.
pub(super) fn says_the_same(key: &str, source: &[u8], ours: &[u8]) -> bool {
    let spec = if key == "[content_types].xml" {
        &CONTENT_TYPES
    } else if key.ends_with(".rels") {
        &RELATIONSHIPS
    } else {
        return false;
    };
    match (items(source, spec), items(ours, spec)) {
        (Some(mut a), Some(mut b)) => {
            a.sort();
            b.sort();
            a == b
        }
        _ => false,
    }
}

/// The child elements of a part written as `spec` allows, or `None` when it holds anything
/// else.
fn items(xml: &[u8], spec: &Spec) -> Option<Vec<Item>> {
    let text = std::str::from_utf8(xml).ok()?;
    if !text.starts_with('<') {
        return None;
    }
    let mut reader = Reader::from_str(text);
    let mut items = Vec::new();
    // Before the root, inside it, after it.
    let (mut seen_root, mut inside) = (false, false);
    loop {
        match reader.read_event().ok()? {
            Event::Decl(d) if !seen_root && items.is_empty() => {
                if let Some(encoding) = d.encoding() {
                    if !encoding.ok()?.eq_ignore_ascii_case("utf-8") {
                        return None;
                    }
                }
            }
            Event::Start(e) if !seen_root => {
                root(&e, spec)?;
                (seen_root, inside) = (true, true);
            }
            Event::Empty(e) if !seen_root => {
                root(&e, spec)?;
                seen_root = true;
            }
            Event::Empty(e) if inside => items.push(child(&e, spec)?),
            Event::End(e) if inside && e.name().0 == spec.root => inside = false,
            Event::Text(t)
                if AsRef::<str>::as_ref(&t)
                    .bytes()
                    .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) => {}
            Event::Eof if seen_root && !inside => return Some(items),
            _ => return None,
        }
    }
}

/// The root element: its name, and the namespace as the default and only declaration.
fn root(e: &BytesStart<'_>, spec: &Spec) -> Option<()> {
    if e.name().0 != spec.root {
        return None;
    }
    let mut declared = false;
    for a in e.attributes() {
        let a = a.ok()?;
        if a.key.0 != "xmlns" || declared || a.value != spec.namespace {
            return None;
        }
        declared = true;
    }
    declared.then_some(())
}

/// A child element the spec allows, with its attributes' unescaped values.
fn child(e: &BytesStart<'_>, spec: &Spec) -> Option<Item> {
    let name = e.name().0.to_string();
    let &(_, allowed) = spec.children.iter().find(|(n, _)| *n == name)?;
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.ok()?;
        let key = a.key.0;
        if !allowed.contains(&key) || attributes.iter().any(|(k, _)| k == key) {
            return None;
        }
        let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok()?;
        attributes.push((key.to_string(), value.into_owned()));
    }
    attributes.sort();
    Some((name, attributes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://t/officeDocument" Target="xl/workbook.xml"/><Relationship Id="rId2" Type="http://t/hyperlink" Target="https://example.jp/?a=1&amp;b=2" TargetMode="External"/></Relationships>"#;

    #[test]
    fn the_same_relationships_written_otherwise_say_the_same() {
        // Another writer's way: declaration without encoding, another attribute order and
        // quoting, the elements the other way round, white space between, a character
        // reference where we write an entity.
        let theirs = b"<?xml version='1.0'?>\r\n<Relationships xmlns='http://schemas.openxmlformats.org/package/2006/relationships'>\r\n  <Relationship TargetMode='External' Target='https://example.jp/?a=1&#38;b=2' Type='http://t/hyperlink' Id='rId2' />\r\n  <Relationship Target=\"xl/workbook.xml\" Id=\"rId1\" Type=\"http://t/officeDocument\"/>\r\n</Relationships>\r\n";
        assert!(says_the_same("_rels/.rels", theirs, OURS));
        assert!(says_the_same("xl/_rels/workbook.xml.rels", OURS, OURS));
        // Only these parts are ever compared.
        assert!(!says_the_same("xl/workbook.xml", OURS, OURS));
    }

    #[test]
    fn anything_more_or_different_is_not_the_same() {
        let ours = std::str::from_utf8(OURS).unwrap();
        let differs = |theirs: &str| !says_the_same("_rels/.rels", theirs.as_bytes(), OURS);
        let swap = |from: &str, to: &str| ours.replacen(from, to, 1);
        // A relationship more, fewer, twice, or another target, type or mode.
        assert!(differs(&swap(
            "</Relationships>",
            r#"<Relationship Id="rId3" Type="http://t/x" Target="x.xml"/></Relationships>"#
        )));
        assert!(differs(&swap(
            r#"<Relationship Id="rId1" Type="http://t/officeDocument" Target="xl/workbook.xml"/>"#,
            ""
        )));
        assert!(differs(&swap(
            "</Relationships>",
            r#"<Relationship Id="rId1" Type="http://t/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
        )));
        assert!(differs(&swap("xl/workbook.xml", "xl/other.xml")));
        assert!(differs(&swap(r#" TargetMode="External""#, "")));
        // What a reader might see that we would not: comments, instructions, a DTD, CDATA,
        // text, other attributes or elements, prefixes, other namespaces, a byte-order mark
        // or another encoding.
        for extra in [
            "<!-- c -->",
            "<?pi x?>",
            "<![CDATA[x]]>",
            "text",
            r#"<Relationship Id="rId9" Type="t" Target="t"></Relationship>"#,
            r#"<Other/>"#,
        ] {
            assert!(
                differs(&swap("</Relationships>", &format!("{extra}</Relationships>"))),
                "{extra}"
            );
        }
        assert!(differs(&swap(
            "<Relationships ",
            "<!DOCTYPE r [<!ENTITY e \"x\">]><Relationships "
        )));
        assert!(differs(&swap(r#"Id="rId1""#, r#"Id="rId1" xml:base="http://evil/""#)));
        assert!(differs(&swap(r#"Id="rId1""#, r#"Id="rId1" Extra="x""#)));
        assert!(differs(&swap(r#"Id="rId1""#, r#"Id="rId1" Id="rId1""#)));
        assert!(differs(&swap("<Relationship ", "<r:Relationship ")));
        assert!(differs(&swap("relationships\">", "relationships\" xmlns:r=\"urn:x\">")));
        assert!(differs(&swap("package/2006/relationships", "package/2006/other")));
        assert!(differs(&format!("\u{feff}{ours}")));
        assert!(differs(&swap("UTF-8", "UTF-16")));
        assert!(differs(&swap("</Relationships>", "</Relationships><Relationships/>")));
        assert!(differs(&ours[..ours.len() - 5]));
    }

    #[test]
    fn content_types_are_compared_the_same_way() {
        let ours = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
        let theirs = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Default Extension="xml" ContentType="application/xml"/><Default ContentType="application/vnd.openxmlformats-package.relationships+xml" Extension="rels"/></Types>"#;
        assert!(says_the_same("[content_types].xml", theirs, ours));
        let macro_enabled = std::str::from_utf8(theirs)
            .unwrap()
            .replace("sheet.main+xml", "sheet.macroEnabled.main+xml");
        assert!(!says_the_same("[content_types].xml", macro_enabled.as_bytes(), ours));
        // A relationship element in the content types is not one of theirs.
        assert!(!says_the_same("[content_types].xml", OURS, OURS));
    }
}
