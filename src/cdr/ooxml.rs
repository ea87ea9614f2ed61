//! OOXML rebuild (docx/xlsx/pptx, their templates, shows and macro-enabled forms): a new
//! package is written from the main document outwards, following only allowlisted
//! relationship types to parts of allowlisted content types, and every kept XML part is
//! re-serialised event by event through [`super::xml_filter`].
//!
//! Never copied: VBA projects (`vbaProject.bin`, `vbaData.xml`, signatures), Excel 4 macro
//! sheets, ActiveX controls, OLE objects and other embeddings, every relationship with
//! `TargetMode="External"` (remote templates, linked images, external workbook links;
//! hyperlinks unless `office.hyperlinks = "keep"`), data connections and query tables,
//! `customUI` ribbons, keyboard customisations, printer settings, Strict OOXML and any part
//! or relationship type not on the lists below. Macro-enabled kinds come out as their
//! macro-free kind (docm → docx, ...), with `[Content_Types].xml` rewritten to match.
//!
//! The output ZIP is deterministic: fixed timestamps, `[Content_Types].xml` and `_rels/.rels`
//! first, then parts sorted by name.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;

use quick_xml::events::{BytesDecl, BytesStart, Event};

use super::xml_filter::{self, PartFlavor, RelIds, XmlLimits};
use super::zipwrite::{Copying, ZipOut};
use super::{zipread, Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::config::Hyperlinks;
use crate::report::{Action, Finding, What};

/// The OOXML sanitizer.
pub struct OoxmlSanitizer;

const R_TRANSITIONAL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/";
const R_PACKAGE: &str = "http://schemas.openxmlformats.org/package/2006/relationships/";
const R_MS: &str = "http://schemas.microsoft.com/office/";

/// Relationship types (last path segment, Transitional or package namespace) whose targets are
/// kept: document content, formatting, pictures and charts.
const KEPT_RELATIONSHIPS: &[&str] = &[
    "officeDocument",
    "core-properties",
    "metadata/core-properties",
    "extended-properties",
    "custom-properties",
    "metadata/thumbnail",
    "styles",
    "stylesWithEffects",
    "settings",
    "webSettings",
    "fontTable",
    "theme",
    "themeOverride",
    "numbering",
    "footnotes",
    "endnotes",
    "header",
    "footer",
    "comments",
    "commentsExtended",
    "commentsIds",
    "commentsExtensible",
    "people",
    "glossaryDocument",
    "image",
    "chart",
    "chartStyle",
    "chartColorStyle",
    "chartUserShapes",
    "drawing",
    "vmlDrawing",
    "diagramData",
    "diagramLayout",
    "diagramQuickStyle",
    "diagramColors",
    "diagramDrawing",
    "worksheet",
    "chartsheet",
    "dialogsheet",
    "sharedStrings",
    "calcChain",
    "table",
    "tableSingleCells",
    "pivotTable",
    "pivotCacheDefinition",
    "pivotCacheRecords",
    "volatileDependencies",
    "sheetMetadata",
    "slide",
    "slideLayout",
    "slideMaster",
    "notesSlide",
    "notesMaster",
    "handoutMaster",
    "presProps",
    "viewProps",
    "tableStyles",
    "commentAuthors",
    "tags",
    "font",
    "hyperlink",
];

/// Relationship types that are removed on purpose, with what they are.
fn dropped_relationship(kind: &str) -> Option<What> {
    Some(match kind {
        "vbaProject"
        | "wordVbaData"
        | "vbaProjectSignature"
        | "vbaProjectSignatureAgile"
        | "vbaProjectSignatureV3"
        | "xlMacrosheet"
        | "xlIntlMacrosheet"
        | "keyMapCustomizations" => What::Macro,
        "oleObject" | "package" | "embeddedFont" => What::OleObject,
        "control" | "activeXControlBinary" => What::Activex,
        "externalLink" | "externalLinkPath" | "attachedTemplate" | "frame" | "subDocument" | "aFChunk" => {
            What::ExternalLink
        }
        "connections" | "queryTable" => What::ExternalLink,
        "ui/extensibility" | "ui/userCustomization" => What::Macro,
        "customXml" | "customXmlProps" | "customData" | "customProperty" => What::PrivateData,
        "printerSettings" => What::PrivateData,
        "audio" | "video" | "media" => What::Multimedia,
        _ => return None,
    })
}

/// Content types of kept parts that are copied as bytes (pictures). Everything else must be XML.
const BINARY_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/x-emf",
    "image/x-wmf",
    "image/emf",
    "image/wmf",
    "application/vnd.openxmlformats-officedocument.obfuscatedFont",
    "application/x-fontdata",
    "application/x-font-ttf",
];

/// Pictures that go through the picture sanitizer like any attachment (metadata, trailers and
/// polyglots go). Vector pictures (EMF/WMF, mostly icons of embedded objects) and fonts are
/// copied as they are: nothing here can rebuild them.
const RASTER_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff"];

/// Content types that are never kept, whatever points at them.
fn refused_content_type(ct: &str) -> Option<What> {
    let ct = ct.to_ascii_lowercase();
    if ct.contains("vbaproject")
        || ct.contains("vbadata")
        || ct.contains("macrosheet")
        || ct.contains("macroenabled.main")
    {
        // The macro-enabled *main* types are rewritten before this check; here they mean a
        // second document part pretending to be the main one.
        return Some(What::Macro);
    }
    if ct.contains("activex") {
        return Some(What::Activex);
    }
    // SVG can carry script and external references; Office keeps a PNG fallback beside it.
    if ct.contains("svg") {
        return Some(What::Javascript);
    }
    if ct.contains("oleobject") {
        return Some(What::OleObject);
    }
    None
}

/// Main-part content types: macro-enabled → macro-free, with the resulting kind.
fn macro_free_main(ct: &str) -> Option<(&'static str, FileKind)> {
    const MAP: &[(&str, &str, FileKind)] = &[
        (
            "application/vnd.ms-word.document.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            FileKind::Docx,
        ),
        (
            "application/vnd.ms-word.template.macroenabledtemplate.main+xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
            FileKind::Dotx,
        ),
        (
            "application/vnd.ms-excel.sheet.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            FileKind::Xlsx,
        ),
        (
            "application/vnd.ms-excel.template.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
            FileKind::Xltx,
        ),
        (
            "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            FileKind::Pptx,
        ),
        (
            "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
            FileKind::Ppsx,
        ),
        (
            "application/vnd.ms-powerpoint.template.macroenabled.main+xml",
            "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
            FileKind::Potx,
        ),
    ];
    let lower = ct.to_ascii_lowercase();
    MAP.iter()
        .find(|(from, _, _)| *from == lower)
        .map(|(_, to, k)| (*to, *k))
}

fn macro_free_kind(kind: FileKind) -> FileKind {
    use FileKind::*;
    match kind {
        Docm => Docx,
        Dotm => Dotx,
        Xlsm => Xlsx,
        Xltm => Xltx,
        Pptm => Pptx,
        Ppsm => Ppsx,
        Potm => Potx,
        other => other,
    }
}

/// One relationship as read from a `.rels` part.
#[derive(Debug, Clone)]
struct Relationship {
    id: String,
    kind: String,
    target: String,
    external: bool,
}

impl Sanitizer for OoxmlSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        use FileKind::*;
        &[
            Docx, Docm, Dotx, Dotm, Xlsx, Xlsm, Xltx, Xltm, Pptx, Pptm, Ppsx, Ppsm, Potx, Potm,
        ]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        rebuild(input, cx, Copying::Raw)
    }
}

/// Rebuild the package `input` (see the module's documentation).
pub(crate) fn rebuild(input: &[u8], cx: &mut Cx<'_>, copying: Copying) -> Result<Clean, Refusal> {
    let in_kind = super::detect::detect(input);
    // The engine only sends packages detected as one of our kinds; a direct caller with
    // anything else (a ZIP behind a cabinet header, say) gets a refusal, not an output
    // labelled with the wrong kind.
    if !OoxmlSanitizer.kinds().contains(&in_kind) {
        return Err(Refusal::Malformed(format!(
            "detected as {}, not an Office package",
            in_kind.as_str()
        )));
    }
    let (parts, raws) = read_package(input, cx)?;
    let mut rb = Rebuild {
        parts: &parts,
        cx,
        findings: Vec::new(),
        kept: BTreeMap::new(),
        rels_out: BTreeMap::new(),
        content_types: ContentTypes::parse(parts.get("[content_types].xml").map(|(_, b)| b.as_slice()))?,
        out_kind: macro_free_kind(in_kind),
    };
    rb.run()?;
    let limits = XmlLimits {
        max_depth: rb.cx.config.limits.max_xml_depth,
    };
    let hyperlinks = rb.cx.config.office.hyperlinks;
    let Rebuild {
        kept,
        mut findings,
        content_types,
        out_kind,
        ..
    } = rb;
    if out_kind != in_kind {
        // The kind change is itself reported, so a reader of the report knows the name changed.
        let mut f = Finding::removed(
            What::Macro,
            "[Content_Types].xml",
            format!("{in_kind} rewritten as {out_kind}"),
        );
        f.action = crate::report::Action::Neutralized;
        findings.push(f);
    }
    let raws = match copying {
        Copying::Raw => raws,
        Copying::Recompress => BTreeMap::new(),
    };
    let source = Source {
        input,
        parts: &parts,
        raws: &raws,
    };
    let (bytes, xml_findings, copies) = write_package(&kept, &source, &content_types, limits, hyperlinks)?;
    findings.extend(xml_findings);
    findings.sort();
    findings.dedup();
    // Nothing removed, every part the input's own stream, and nothing else in the input's
    // container: the input is the clean file, byte for byte (DESIGN: a file with nothing to
    // remove comes back as it was; every rewrite is a chance to break one).
    let as_it_was =
        findings.is_empty() && out_kind == in_kind && copies.is_some_and(|c| super::zipread::holds_only(input, &c));
    let bytes = if as_it_was { input.to_vec() } else { bytes };
    Ok(Clean {
        bytes,
        kind: out_kind,
        findings,
    })
}

/// What goes into the new package for one kept part.
enum PartOut {
    /// Bytes we made (relationships).
    Bytes(Vec<u8>),
    /// The source part's bytes as they are (pictures, fonts).
    Copy,
    /// An XML part, re-serialised from the source while the package is written.
    Xml { flavor: PartFlavor, rels: RelIds },
}

/// Kept parts: lowercased name → (name to write, content).
type Kept = BTreeMap<String, (String, PartOut)>;

/// Every entry of the ZIP, keyed by lowercased name → (original name, bytes). Bounded by the
/// entry count and the decompression budget; reading stops at the limit, before expanding.
type Parts = BTreeMap<String, (String, Vec<u8>)>;

/// The streams of the parts that may be copied as they are (see [`zipread::RawStream`]), by
/// the same keys.
type RawStreams = BTreeMap<String, zipread::RawStream>;

fn read_package(input: &[u8], cx: &mut Cx<'_>) -> Result<(Parts, RawStreams), Refusal> {
    let mut zip = zipread::open(input, cx.config.limits.max_entries)?;
    if zipread::any_encrypted(&mut zip)? {
        return Err(Refusal::Encrypted { hold: false });
    }
    let mut parts = BTreeMap::new();
    let mut raws = BTreeMap::new();
    for i in 0..zip.len() {
        cx.check_deadline()?;
        let (name, is_dir) = {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| Refusal::Malformed(format!("ZIP entry {i}: {e}")))?;
            let name = std::str::from_utf8(entry.name_raw())
                .map_err(|_| Refusal::Malformed(format!("ZIP entry {i} has a name that is not UTF-8")))?
                .to_string();
            (name, entry.is_dir())
        };
        if is_dir || name.ends_with('/') {
            continue;
        }
        let budget = cx.decompressed_left();
        let Some(entry) = zipread::read_entry(&mut zip, input, i, budget, &name)? else {
            return Err(Refusal::LimitExceeded {
                limit: "limits.max_decompressed_bytes",
                detail: format!("part {name} expands past the budget"),
            });
        };
        cx.charge_decompressed(entry.data.len() as u64)?;
        let key = name.trim_start_matches('/').to_ascii_lowercase();
        if let Some(raw) = entry.raw {
            raws.insert(key.clone(), raw);
        }
        if parts.insert(key, (name.clone(), entry.data)).is_some() {
            // Two entries whose names differ only in case are one part to Office and two to a
            // scanner: a classic way to hide content. Refuse.
            return Err(Refusal::Malformed(format!("duplicate part name {name}")));
        }
    }
    Ok((parts, raws))
}

/// `[Content_Types].xml`: defaults by extension and overrides by part name (both lowercased).
struct ContentTypes {
    defaults: BTreeMap<String, String>,
    overrides: BTreeMap<String, String>,
}

impl ContentTypes {
    fn parse(xml: Option<&[u8]>) -> Result<Self, Refusal> {
        let xml = xml.ok_or_else(|| Refusal::Malformed("no [Content_Types].xml".into()))?;
        let mut ct = ContentTypes {
            defaults: BTreeMap::new(),
            overrides: BTreeMap::new(),
        };
        xml_filter::for_each_element(xml, |local, attrs| {
            match local {
                "Default" => {
                    if let (Some(e), Some(t)) = (attrs.get("Extension"), attrs.get("ContentType")) {
                        ct.defaults.insert(e.to_ascii_lowercase(), t.clone());
                    }
                }
                "Override" => {
                    if let (Some(p), Some(t)) = (attrs.get("PartName"), attrs.get("ContentType")) {
                        ct.overrides
                            .insert(p.trim_start_matches('/').to_ascii_lowercase(), t.clone());
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(ct)
    }

    fn of(&self, part: &str) -> Option<&str> {
        let key = part.to_ascii_lowercase();
        if let Some(t) = self.overrides.get(&key) {
            return Some(t);
        }
        let ext = key.rsplit_once('.').map(|(_, e)| e)?;
        self.defaults.get(ext).map(String::as_str)
    }
}

struct Rebuild<'p, 'c, 'a> {
    parts: &'p Parts,
    cx: &'c mut Cx<'a>,
    findings: Vec<Finding>,
    kept: Kept,
    /// The relationships kept so far, by `.rels` part: (source part, relationships). Written
    /// once every part is decided (see [`Rebuild::close_references`]).
    rels_out: BTreeMap<String, (String, Vec<Relationship>)>,
    content_types: ContentTypes,
    out_kind: FileKind,
}

impl Rebuild<'_, '_, '_> {
    fn found(&mut self, what: What, location: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding::removed(what, location, detail));
    }

    fn run(&mut self) -> Result<(), Refusal> {
        // Report what the package holds that nothing will reach, by name, so an inspector sees
        // the vbaProject.bin even when no relationship points at it.
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut visited: BTreeSet<String> = BTreeSet::new();
        let (root_rels, _) = self.filter_part_rels("", "_rels/.rels", &mut queue)?;
        if !queue.iter().any(|p| self.is_main(p)) {
            return Err(Refusal::Malformed(
                "no main document part (Strict OOXML is not accepted)".into(),
            ));
        }
        self.rels_out.insert("_rels/.rels".into(), (String::new(), root_rels));
        while let Some(part) = queue.pop_front() {
            self.cx.check_deadline()?;
            if !visited.insert(part.clone()) {
                continue;
            }
            self.copy_part(&part, &mut queue)?;
        }
        self.close_references();
        for (key, (name, _)) in self.parts {
            let is_meta = key == "[content_types].xml";
            if !is_meta && !self.kept.contains_key(key) && !visited.contains(key) {
                let what = match self.content_types.of(key).and_then(refused_content_type) {
                    Some(w) => w,
                    None if key.ends_with("vbaproject.bin") || key.ends_with("vbadata.xml") => What::Macro,
                    None => What::Structure,
                };
                let name = name.clone();
                self.found(what, name, "part not reachable through an allowed relationship");
            }
        }
        Ok(())
    }

    fn is_main(&self, part: &str) -> bool {
        self.content_types.of(part).is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.ends_with(".main+xml") || macro_free_main(&ct).is_some()
        })
    }

    fn keep_xml(&mut self, part: &str, bytes: Vec<u8>) {
        let name = self
            .parts
            .get(part)
            .map(|(n, _)| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| part.to_string());
        self.kept.insert(part.to_string(), (name, PartOut::Bytes(bytes)));
    }

    /// Copy one part reached through an allowed relationship, then its own relationships.
    fn copy_part(&mut self, part: &str, queue: &mut VecDeque<String>) -> Result<(), Refusal> {
        let Some((name, _)) = self.parts.get(part) else {
            return Ok(());
        };
        let Some(ct) = self.content_types.of(part).map(str::to_string) else {
            self.found(What::Structure, name.clone(), "part without a content type");
            return Ok(());
        };
        if let Some((free, _)) = macro_free_main(&ct) {
            // Rewrite the main part's type: the macro project is gone, so is the macro kind.
            self.content_types.overrides.insert(part.to_string(), free.to_string());
        } else if let Some(what) = refused_content_type(&ct) {
            self.found(what, name.clone(), ct);
            return Ok(());
        }
        // Decide on the part before following its relationships: a part left out must not
        // bring its own targets (the pictures of a VML drawing) into the package as orphans.
        let lower_ct = ct.to_ascii_lowercase();
        let raster = RASTER_TYPES.contains(&lower_ct.as_str());
        let binary = BINARY_TYPES.contains(&lower_ct.as_str());
        if !(raster || binary || lower_ct.ends_with("+xml") || lower_ct.ends_with("/xml")) {
            self.found(
                What::Structure,
                name.clone(),
                format!("content type {ct} is not on the allowlist"),
            );
            return Ok(());
        }
        let rels_name = rels_of(part);
        let mut rel_ids = RelIds::default();
        if self.parts.contains_key(&rels_name) {
            let (new_rels, ids) = self.filter_part_rels(part, &rels_name, queue)?;
            rel_ids = ids;
            self.rels_out.insert(rels_name, (part.to_string(), new_rels));
        }
        if raster {
            return self.picture(part, &name.clone());
        }
        if binary {
            self.kept.insert(part.to_string(), (name.clone(), PartOut::Copy));
            return Ok(());
        }
        let flavor = PartFlavor::from_content_type(&lower_ct);
        self.kept
            .insert(part.to_string(), (name.clone(), PartOut::Xml { flavor, rels: rel_ids }));
        Ok(())
    }

    /// A raster picture: sanitized through the engine one level deeper and kept; one the
    /// engine refuses (not really a picture, a pixel bomb) is left out and reported, and the
    /// document shows an empty frame where it was.
    fn picture(&mut self, part: &str, name: &str) -> Result<(), Refusal> {
        let parts = self.parts;
        let Some((_, bytes)) = parts.get(part) else {
            return Ok(());
        };
        let file_name = name.rsplit('/').next().unwrap_or(name).to_string();
        let engine = self.cx.engine;
        match engine.sanitize_nested(bytes, Some(&file_name), self.cx) {
            Ok((_, clean)) => {
                let shown = name.trim_start_matches('/').to_string();
                self.findings
                    .extend(clean.findings.into_iter().map(|f| f.within(&shown)));
                self.kept.insert(part.to_string(), (shown, PartOut::Bytes(clean.bytes)));
                Ok(())
            }
            Err(e) if e.ends_container() => Err(e),
            Err(refusal) => {
                let detail = format!("picture left out: {}", refusal.reason());
                self.found(What::EmbeddedFile, name.trim_start_matches('/'), detail);
                Ok(())
            }
        }
    }

    /// Close the package: a relationship whose target was left out after all (a picture the
    /// engine refused, a part of a type not on the list) goes, and so does every reference to
    /// it in its source part (the XML filter drops or unwraps the element), so nothing in the
    /// output points at a part that is not there — Office "repairs" such files, and a second
    /// pass would change them again. Then the `.rels` parts are written.
    fn close_references(&mut self) {
        let rels_out = std::mem::take(&mut self.rels_out);
        for (rels_name, (source, mut rels)) in rels_out {
            let mut gone = Vec::new();
            rels.retain(|r| {
                let kept = r.external || resolve_target(&source, &r.target).is_some_and(|t| self.kept.contains_key(&t));
                if !kept {
                    gone.push(r.id.clone());
                }
                kept
            });
            if let Some((_, PartOut::Xml { rels: ids, .. })) = self.kept.get_mut(&source) {
                ids.dropped.extend(gone);
            }
            self.keep_xml(&rels_name, write_rels(&rels));
        }
    }

    /// Rewrite a `.rels` part: keep allowed internal relationships (queueing their targets),
    /// drop the rest, and return the ids that were dropped (the XML filter strips references)
    /// and those of embedded documents kept after sanitizing (their object elements stay).
    fn filter_part_rels(
        &mut self,
        source: &str,
        rels_name: &str,
        queue: &mut VecDeque<String>,
    ) -> Result<(Vec<Relationship>, RelIds), Refusal> {
        let Some((rels_display, xml)) = self.parts.get(rels_name) else {
            return Err(Refusal::Malformed(format!("missing {rels_name}")));
        };
        let rels_display = rels_display.clone();
        let mut rels = Vec::new();
        xml_filter::for_each_element(xml, |local, attrs| {
            if local == "Relationship" {
                rels.push(Relationship {
                    id: attrs.get("Id").cloned().unwrap_or_default(),
                    kind: attrs.get("Type").cloned().unwrap_or_default(),
                    target: attrs.get("Target").cloned().unwrap_or_default(),
                    external: attrs
                        .get("TargetMode")
                        .is_some_and(|m| m.eq_ignore_ascii_case("External")),
                });
            }
            Ok(())
        })?;
        let hyperlinks = self.cx.config.office.hyperlinks;
        let mut kept = Vec::new();
        let mut dropped = BTreeSet::new();
        let mut embedded = BTreeSet::new();
        for rel in rels {
            let short = short_type(&rel.kind);
            let location = format!("{rels_display}#{}", rel.id);
            if rel.external {
                if short == Some("hyperlink") && hyperlinks == Hyperlinks::Keep && is_web_link(&rel.target) {
                    kept.push(rel);
                    continue;
                }
                let what = match short {
                    Some("hyperlink") => What::Uri,
                    Some(s) => dropped_relationship(s).unwrap_or(What::ExternalLink),
                    None => What::ExternalLink,
                };
                let what = if what == What::Uri || what == What::ExternalLink {
                    what
                } else {
                    What::ExternalLink
                };
                self.found(
                    what,
                    location,
                    format!("external target {}", redact_target(&rel.target)),
                );
                dropped.insert(rel.id);
                continue;
            }
            let Some(short) = short else {
                self.found(
                    What::Structure,
                    location,
                    format!("relationship type {} not on the allowlist", rel.kind),
                );
                dropped.insert(rel.id);
                continue;
            };
            if short == "package" {
                // An embedded Office document: sanitized through the engine like any other
                // file, and kept when that succeeds.
                let target = resolve_target(source, &rel.target).filter(|t| self.parts.contains_key(t));
                if let Some(target) = target {
                    if self.embed_package(&target, &location)? {
                        embedded.insert(rel.id.clone());
                        kept.push(rel);
                        continue;
                    }
                }
                dropped.insert(rel.id);
                continue;
            }
            if let Some(what) = dropped_relationship(short) {
                self.found(what, location, format!("{short} relationship"));
                dropped.insert(rel.id);
                continue;
            }
            if !KEPT_RELATIONSHIPS.contains(&short) || short == "hyperlink" {
                self.found(
                    What::Structure,
                    location,
                    format!("{short} relationship not on the allowlist"),
                );
                dropped.insert(rel.id);
                continue;
            }
            match resolve_target(source, &rel.target) {
                Some(target) if self.parts.contains_key(&target) => {
                    // A target whose content type is refused (an SVG behind an image
                    // relationship) goes with its relationship, so no reference dangles.
                    let refused = self
                        .content_types
                        .of(&target)
                        .filter(|ct| macro_free_main(ct).is_none())
                        .and_then(refused_content_type);
                    if let Some(what) = refused {
                        let ct = self.content_types.of(&target).unwrap_or_default().to_string();
                        self.found(what, location, format!("target of content type {ct}"));
                        dropped.insert(rel.id);
                        continue;
                    }
                    queue.push_back(target);
                    kept.push(rel);
                }
                _ => {
                    // A dangling internal target: nothing to copy, and the reference must go.
                    dropped.insert(rel.id);
                }
            }
        }
        Ok((kept, RelIds { dropped, embedded }))
    }

    /// Sanitize the embedded package `target` (a part) through the engine, one level deeper,
    /// and keep the result in its place. `false` (reported) when it cannot be kept. A limit
    /// or the deadline exceeded inside refuses the whole document, as in an archive.
    fn embed_package(&mut self, target: &str, location: &str) -> Result<bool, Refusal> {
        if self.kept.contains_key(target) {
            return Ok(true); // a second relationship to the same embedding
        }
        let parts = self.parts;
        let Some((name, bytes)) = parts.get(target) else {
            return Ok(false);
        };
        let name = name.trim_start_matches('/').to_string();
        let file_name = name.rsplit('/').next().unwrap_or(&name).to_string();
        let engine = self.cx.engine;
        match engine.sanitize_nested(bytes, Some(&file_name), self.cx) {
            Ok((_, clean)) if package_content_type(clean.kind).is_some() => {
                // A clean embedding is noted as kept (so a second pass reports `clean`), one
                // that had something removed as neutralized.
                let mut note = Finding::removed(What::OleObject, name.clone(), "embedded document sanitized and kept");
                note.action = if clean.findings.iter().all(|f| f.action == Action::Kept) {
                    Action::Kept
                } else {
                    Action::Neutralized
                };
                self.findings.push(note);
                self.findings
                    .extend(clean.findings.into_iter().map(|f| f.within(&name)));
                if let Some(ct) = package_content_type(clean.kind) {
                    // The embedded document may have changed kind (xlsm → xlsx).
                    self.content_types.overrides.insert(target.to_string(), ct.to_string());
                }
                self.kept
                    .insert(target.to_string(), (name, PartOut::Bytes(clean.bytes)));
                Ok(true)
            }
            Ok((kind, _)) => {
                let detail = format!("embedded {} is not an Office document", kind.as_str());
                self.found(What::OleObject, location, detail);
                Ok(false)
            }
            Err(e) if e.ends_container() => Err(e),
            Err(refusal) => {
                let detail = format!("embedded document left out: {}", refusal.reason());
                self.found(What::OleObject, location, detail);
                Ok(false)
            }
        }
    }
}

/// The package content type of an embedded Office document of `kind`; `None` for kinds that
/// are not embedded as packages.
fn package_content_type(kind: FileKind) -> Option<&'static str> {
    Some(match kind {
        FileKind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        FileKind::Dotx => "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        FileKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        FileKind::Xltx => "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
        FileKind::Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        FileKind::Ppsx => "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
        FileKind::Potx => "application/vnd.openxmlformats-officedocument.presentationml.template",
        _ => return None,
    })
}

/// `http:`, `https:` and `mailto:` targets only; `file:`, UNC paths and script schemes never.
fn is_web_link(target: &str) -> bool {
    let t = target.trim().to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://") || t.starts_with("mailto:")
}

/// Targets go into reports: keep the scheme and host, never a query string (tokens live there).
fn redact_target(target: &str) -> String {
    let cut = target.find(['?', '#']).unwrap_or(target.len());
    let shown: String = target[..cut].chars().take(120).collect();
    shown
}

/// The short name of a relationship type in a namespace we accept, or `None` (Strict OOXML,
/// unknown vendors).
fn short_type(kind: &str) -> Option<&str> {
    if let Some(s) = kind.strip_prefix(R_TRANSITIONAL) {
        return Some(s);
    }
    if let Some(s) = kind.strip_prefix(R_PACKAGE) {
        return Some(s);
    }
    if let Some(rest) = kind.strip_prefix(R_MS) {
        // e.g. http://schemas.microsoft.com/office/2006/relationships/vbaProject
        let mut it = rest.splitn(3, '/');
        let (_, section, s) = (it.next()?, it.next()?, it.next()?);
        if section == "relationships" {
            return Some(s);
        }
        // http://schemas.microsoft.com/office/2011/relationships/... covered above; others unknown.
    }
    None
}

/// `word/document.xml` → `word/_rels/document.xml.rels`.
fn rels_of(part: &str) -> String {
    match part.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/_rels/{file}.rels"),
        None => format!("_rels/{part}.rels"),
    }
}

/// Resolve a relationship target against its source part; `None` when it leaves the package.
fn resolve_target(source: &str, target: &str) -> Option<String> {
    let target = target.split('#').next().unwrap_or(target);
    let decoded = percent_decode(target)?;
    let mut segments: Vec<&str> = if let Some(abs) = decoded.strip_prefix('/') {
        let _ = abs;
        Vec::new()
    } else {
        let dir = source.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in decoded.trim_start_matches('/').split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    Some(segments.join("/").to_ascii_lowercase())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn write_rels(rels: &[Relationship]) -> Vec<u8> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))));
    let mut root = BytesStart::new("Relationships");
    root.push_attribute(("xmlns", "http://schemas.openxmlformats.org/package/2006/relationships"));
    let _ = w.write_event(Event::Start(root));
    for r in rels {
        let mut e = BytesStart::new("Relationship");
        e.push_attribute(("Id", r.id.as_str()));
        e.push_attribute(("Type", r.kind.as_str()));
        e.push_attribute(("Target", r.target.as_str()));
        if r.external {
            e.push_attribute(("TargetMode", "External"));
        }
        let _ = w.write_event(Event::Empty(e));
    }
    let _ = w.write_event(Event::End(quick_xml::events::BytesEnd::new("Relationships")));
    w.into_inner()
}

fn write_content_types(kept: &Kept, ct: &ContentTypes) -> Vec<u8> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))));
    let mut root = BytesStart::new("Types");
    root.push_attribute(("xmlns", "http://schemas.openxmlformats.org/package/2006/content-types"));
    let _ = w.write_event(Event::Start(root));
    // Defaults for the extensions kept parts use (rels and xml always).
    let mut exts: BTreeMap<String, String> = BTreeMap::new();
    exts.insert(
        "rels".into(),
        "application/vnd.openxmlformats-package.relationships+xml".into(),
    );
    exts.insert("xml".into(), "application/xml".into());
    for key in kept.keys() {
        if ct.overrides.contains_key(key) {
            continue;
        }
        if let Some((_, ext)) = key.rsplit_once('.') {
            if let Some(t) = ct.defaults.get(ext) {
                if refused_content_type(t).is_none() {
                    exts.insert(ext.to_string(), t.clone());
                }
            }
        }
    }
    for (ext, t) in &exts {
        let mut e = BytesStart::new("Default");
        e.push_attribute(("Extension", ext.as_str()));
        e.push_attribute(("ContentType", t.as_str()));
        let _ = w.write_event(Event::Empty(e));
    }
    for (key, (name, _)) in kept {
        if let Some(t) = ct.overrides.get(key) {
            let part_name = format!("/{name}");
            let mut e = BytesStart::new("Override");
            e.push_attribute(("PartName", part_name.as_str()));
            e.push_attribute(("ContentType", t.as_str()));
            let _ = w.write_event(Event::Empty(e));
        }
    }
    let _ = w.write_event(Event::End(quick_xml::events::BytesEnd::new("Types")));
    w.into_inner()
}

/// Messages from the XML filter thread to the package writer.
enum Msg {
    /// The part's filtered bytes are its input's, to the byte: it is copied as it is.
    Same(xml_filter::XmlFindings),
    Chunk(Vec<u8>),
    End(xml_filter::XmlFindings),
    Fail(String),
}

/// Bytes the filter thread hands to the writer at a time.
const PIPE_CHUNK: usize = 256 * 1024;

/// Where the filtered parts go to the package writer: the pipe from the filter's own thread
/// (bounded: the filter waits for the writer), or the queue a part filtered on the writer's
/// thread fills before the writer empties it.
#[derive(Clone, Copy)]
enum Tx<'a> {
    Pipe(&'a std::sync::mpsc::SyncSender<Msg>),
    Queue(&'a std::sync::mpsc::Sender<Msg>),
}

impl Tx<'_> {
    fn send(self, msg: Msg) -> std::io::Result<()> {
        let sent = match self {
            Tx::Pipe(tx) => tx.send(msg).is_ok(),
            Tx::Queue(tx) => tx.send(msg).is_ok(),
        };
        sent.then_some(())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "package writer stopped"))
    }
}

/// Filter one XML part to the writer: `Same`, or its chunks and `End`, or `Fail`. False when
/// nothing more should be sent (the part failed, or the writer is gone).
fn send_filtered(
    xml: &[u8],
    flavor: PartFlavor,
    rels: &RelIds,
    hyperlinks: Hyperlinks,
    limits: XmlLimits,
    tx: Tx<'_>,
) -> bool {
    let out = UnlessSame {
        source: xml,
        agreed: 0,
        diverged: false,
        out: ChunkSender {
            buf: Vec::with_capacity(PIPE_CHUNK),
            tx,
        },
    };
    let msg = match xml_filter::filter_into(xml, flavor, rels, hyperlinks, limits, out) {
        Ok((out, found)) => match out.finish() {
            Ok(true) => Msg::Same(found),
            Ok(false) => Msg::End(found),
            Err(_) => return false,
        },
        Err(e) => Msg::Fail(e),
    };
    let failed = matches!(msg, Msg::Fail(_));
    tx.send(msg).is_ok() && !failed
}

/// A `Write` that sends what is written to the package writer in chunks.
struct ChunkSender<'a> {
    buf: Vec<u8>,
    tx: Tx<'a>,
}

impl ChunkSender<'_> {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(PIPE_CHUNK));
        self.tx.send(Msg::Chunk(chunk))
    }
}

impl Write for ChunkSender<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIPE_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The filter's output, compared with the part's input as it is written: nothing is sent
/// while the two agree (most styles, themes and settings parts are unchanged), and at the
/// first difference the agreeing prefix goes out from the input, then the rest as written.
struct UnlessSame<'a> {
    source: &'a [u8],
    agreed: usize,
    diverged: bool,
    out: ChunkSender<'a>,
}

impl UnlessSame<'_> {
    /// Whether the output was the input, to the byte; otherwise the last bytes are sent.
    fn finish(mut self) -> std::io::Result<bool> {
        if !self.diverged && self.agreed == self.source.len() {
            return Ok(true);
        }
        if !self.diverged {
            // A shorter output: the filter dropped the part's tail.
            self.out.write_all(&self.source[..self.agreed])?;
        }
        self.out.flush()?;
        Ok(false)
    }
}

impl Write for UnlessSame<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if !self.diverged {
            let rest = &self.source[self.agreed..];
            // The filter hands back spans of the part itself (a part proven unchanged is
            // written whole, cell data as one span): the same bytes at the same place need
            // no comparing, which would read a megabyte of sheet twice.
            let same_place = std::ptr::eq(data.as_ptr(), rest.as_ptr()) && data.len() <= rest.len();
            if same_place || rest.starts_with(data) {
                self.agreed += data.len();
                return Ok(data.len());
            }
            self.diverged = true;
            self.out.write_all(&self.source[..self.agreed])?;
        }
        self.out.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the package is written from: the input, its parts, and the streams that may be
/// copied as they are.
struct Source<'a> {
    input: &'a [u8],
    parts: &'a Parts,
    raws: &'a RawStreams,
}

impl Source<'_> {
    fn bytes(&self, key: &str) -> &[u8] {
        self.parts.get(key).map(|(_, b)| b.as_slice()).unwrap_or_default()
    }
}

/// Deflate level of rebuilt parts: level 6 was 2× slower for ~10 % smaller output.
const LEVEL: u32 = 3;

/// Write one part whose bytes are `data`: its source stream when `data` is the source's to the
/// byte and the stream was proven, stored when already compressed (pictures), deflated
/// otherwise.
fn put_part(zip: &mut ZipOut, source: &Source<'_>, key: &str, name: &str, data: &[u8]) -> Result<(), Refusal> {
    // Most calls hand the source's own bytes back (a copied or unchanged part): the same
    // slice needs no comparison (a megabyte of it for a large sheet). Relationships and
    // content types we wrote ourselves give way to the source's when they say the same.
    let own = source.bytes(key);
    let data = if std::ptr::eq(data, own) || data == own || super::opc_parts::says_the_same(key, own, data) {
        own
    } else {
        data
    };
    if let Some(raw) = source.raws.get(key) {
        if std::ptr::eq(data, own) {
            return zip.raw(name, source.input, *raw);
        }
    }
    let lower = name.to_ascii_lowercase();
    let precompressed = [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|e| lower.ends_with(e));
    if precompressed {
        zip.stored(name, data)
    } else {
        zip.deflated(name, data, LEVEL)
    }
}

/// A written package: its bytes, what the XML filter found, and — when every entry was copied
/// from the input as its stream — those entries ([`ZipOut::copies`]).
type Written = (Vec<u8>, Vec<Finding>, Option<Vec<(Vec<u8>, super::zipread::RawStream)>>);

/// Write the package deterministically: fixed timestamps, content types and root rels first,
/// then parts by name. XML parts are filtered on a second thread when a worker is free and
/// streamed into the deflater here, so parsing and compressing overlap (under load, here, one
/// part at a time); a part the filter leaves as it was is copied as its compressed stream,
/// without deflating it again.
fn write_package(
    kept: &Kept,
    source: &Source<'_>,
    ct: &ContentTypes,
    limits: XmlLimits,
    hyperlinks: Hyperlinks,
) -> Result<Written, Refusal> {
    let io = |e: std::io::Error| Refusal::Internal(format!("writing the package: {e}"));
    // Write order: root relationships first, then by name; one entry per output name.
    let mut seen = BTreeSet::new();
    let order: Vec<(&String, &(String, PartOut))> = kept
        .get_key_value("_rels/.rels")
        .into_iter()
        .chain(kept.iter().filter(|(k, _)| k.as_str() != "_rels/.rels"))
        .filter(|(_, (name, _))| seen.insert(name.clone()))
        .collect();

    let jobs: Vec<(&[u8], PartFlavor, &RelIds)> = order
        .iter()
        .filter_map(|(key, (_, out))| match out {
            PartOut::Xml { flavor, rels } => Some((source.bytes(key), *flavor, rels)),
            _ => None,
        })
        .collect();
    // On a second thread when a worker is free for it; otherwise (every worker busy with its
    // own file) each part is filtered here when the writer comes to it, into a queue the
    // writer then empties: the same messages in the same order, without a thread to start.
    let thread = super::parallel::borrow();
    std::thread::scope(|scope| {
        let (filtered, mut here) = match thread {
            Some(token) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(8);
                scope.spawn(move || {
                    let _token = token;
                    for (xml, flavor, rels) in jobs {
                        if !send_filtered(xml, flavor, rels, hyperlinks, limits, Tx::Pipe(&tx)) {
                            return;
                        }
                    }
                });
                (rx, None)
            }
            None => {
                let (tx, rx) = std::sync::mpsc::channel::<Msg>();
                (rx, Some((jobs.into_iter(), tx)))
            }
        };
        let stopped = || Refusal::Internal("the XML filter thread stopped".into());
        let mut recv = || {
            let Some((jobs, queue)) = here.as_mut() else {
                return filtered.recv().map_err(|_| stopped());
            };
            if let Ok(msg) = filtered.try_recv() {
                return Ok(msg);
            }
            let (xml, flavor, rels) = jobs.next().ok_or_else(stopped)?;
            send_filtered(xml, flavor, rels, hyperlinks, limits, Tx::Queue(queue));
            filtered.try_recv().map_err(|_| stopped())
        };

        let mut findings = Vec::new();
        let mut found = |name: &str, list: xml_filter::XmlFindings| {
            for (what, at, detail) in list {
                findings.push(Finding::removed(what, format!("{name}{at}"), detail));
            }
        };
        let capacity = source.input.len().saturating_add(64 * 1024);
        let mut zip = ZipOut::with_capacity(capacity);
        let types = write_content_types(kept, ct);
        put_part(&mut zip, source, "[content_types].xml", "[Content_Types].xml", &types)?;
        for (key, (name, out)) in &order {
            match out {
                PartOut::Bytes(b) => put_part(&mut zip, source, key, name, b)?,
                PartOut::Copy => put_part(&mut zip, source, key, name, source.bytes(key))?,
                PartOut::Xml { .. } => match recv()? {
                    Msg::Same(list) => {
                        found(name, list);
                        put_part(&mut zip, source, key, name, source.bytes(key))?;
                    }
                    Msg::End(list) => {
                        found(name, list);
                        zip.deflated(name, &[], LEVEL)?;
                    }
                    Msg::Fail(e) => return Err(Refusal::Malformed(format!("{name}: {e}"))),
                    Msg::Chunk(first) => {
                        let mut entry = zip.start_deflated(name, LEVEL)?;
                        entry.write_all(&first).map_err(io)?;
                        loop {
                            match recv()? {
                                Msg::Chunk(c) => entry.write_all(&c).map_err(io)?,
                                Msg::End(list) => {
                                    found(name, list);
                                    break;
                                }
                                Msg::Fail(e) => return Err(Refusal::Malformed(format!("{name}: {e}"))),
                                Msg::Same(_) => {
                                    return Err(Refusal::Internal("the XML filter sent a part twice".into()))
                                }
                            }
                        }
                        entry.finish()?;
                    }
                },
            }
        }
        let copies = zip.copies().map(<[_]>::to_vec);
        let bytes = zip.finish()?;
        Ok((bytes, findings, copies))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_inside_the_package_only() {
        assert_eq!(
            resolve_target("word/document.xml", "media/image1.png").as_deref(),
            Some("word/media/image1.png")
        );
        assert_eq!(
            resolve_target("word/document.xml", "../customXml/item1.xml").as_deref(),
            Some("customxml/item1.xml")
        );
        assert_eq!(
            resolve_target("xl/workbook.xml", "/xl/worksheets/sheet1.xml").as_deref(),
            Some("xl/worksheets/sheet1.xml")
        );
        assert_eq!(
            resolve_target("", "word/document.xml").as_deref(),
            Some("word/document.xml")
        );
        assert_eq!(resolve_target("word/document.xml", "../../../etc/passwd"), None);
        assert_eq!(
            resolve_target("word/document.xml", "media/a%20b.png").as_deref(),
            Some("word/media/a b.png")
        );
    }

    #[test]
    fn relationship_types_by_namespace() {
        assert_eq!(
            short_type("http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"),
            Some("image")
        );
        assert_eq!(
            short_type("http://schemas.microsoft.com/office/2006/relationships/vbaProject"),
            Some("vbaProject")
        );
        assert_eq!(
            short_type("http://purl.oclc.org/ooxml/officeDocument/relationships/image"),
            None
        );
        assert_eq!(rels_of("word/document.xml"), "word/_rels/document.xml.rels");
    }

    #[test]
    fn svg_pictures_are_never_kept() {
        assert_eq!(refused_content_type("image/svg+xml"), Some(What::Javascript));
        assert_eq!(refused_content_type("image/png"), None);
    }

    #[test]
    fn only_web_links_can_be_kept() {
        assert!(is_web_link("https://www.city.example.lg.jp/"));
        assert!(!is_web_link("file:///C:/Windows/System32/calc.exe"));
        assert!(!is_web_link("\\\\server\\share\\x.dotm"));
        assert_eq!(redact_target("https://x.example/a?token=secret"), "https://x.example/a");
    }
}
