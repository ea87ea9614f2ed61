//! PDF rebuild: a new document is written from the page tree outwards, copying only
//! allowlisted structure, and every object reached on the way passes one content-based filter.
//!
//! What is *never* copied, wherever it hides (catalog, page, annotation, form field, outline,
//! object stream, `#`-escaped names — lopdf decodes those before we see them):
//! JavaScript (`/JS`, the Names `JavaScript` tree, JavaScript actions), automatic actions
//! (`/OpenAction` that is not plain navigation, every `/AA`), actions other than GoTo and
//! page navigation (`/URI` kept only by policy), `/Launch`, embedded files (`/EmbeddedFiles`,
//! `/EF`, `/AF`, FileAttachment annotations, EmbeddedFile streams), XFA, multimedia
//! (RichMedia, 3D, Sound, Movie, Screen), Web Capture `/SpiderInfo`, PostScript XObjects, and
//! anything unreachable from the page tree (orphan objects simply are not visited).
//!
//! Why rebuild and not delete keys: the filter decides on each object *by its content* at the
//! moment a reference to it is followed, so an action object cannot slip through by being
//! reached first through an innocent-looking path, and an unknown construct is left out.
//!
//! Output is deterministic: new object numbers follow the traversal order, dictionaries keep
//! their key order, stream bytes are copied as they are, and the trailer `/ID` is kept (or
//! derived from the input's hash), so sanitizing an output again gives the same bytes.

use std::collections::{HashMap, HashSet, VecDeque};

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};
use sha2::{Digest, Sha256};

use super::flate::{InflateCounter, Inflated};
use super::pdf_write::PdfOut;
use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::config::{Metadata, PdfPolicy, UriLinks};
use crate::report::{Finding, What};

/// The PDF sanitizer.
pub struct PdfSanitizer;

/// Deepest page tree accepted (the spec has no limit; real files stay under 10).
const MAX_PAGE_TREE_DEPTH: usize = 64;

/// Catalog keys copied into the new catalog (besides /Type and /Pages, which are rebuilt).
const CATALOG_KEYS: &[&[u8]] = &[
    b"Version",
    b"PageLabels",
    b"Dests",
    b"ViewerPreferences",
    b"PageLayout",
    b"PageMode",
    b"Outlines",
    b"Lang",
    b"MarkInfo",
    b"StructTreeRoot",
    b"OCProperties",
    b"AcroForm",
    b"OutputIntents",
    b"Metadata",
];

/// Page keys copied into each new page (inherited ones are resolved into the page).
const PAGE_KEYS: &[&[u8]] = &[
    b"Resources",
    b"MediaBox",
    b"CropBox",
    b"BleedBox",
    b"TrimBox",
    b"ArtBox",
    b"BoxColorInfo",
    b"Contents",
    b"Rotate",
    b"Group",
    b"Thumb",
    b"Annots",
    b"UserUnit",
    b"StructParents",
    b"Tabs",
    b"Dur",
    b"Trans",
    b"PZ",
    b"Metadata",
];

/// Page attributes a page inherits from its ancestors in the page tree.
const INHERITED: &[&[u8]] = &[b"Resources", b"MediaBox", b"CropBox", b"Rotate"];

/// Annotation subtypes that only draw or navigate.
const ANNOT_ALLOWED: &[&[u8]] = &[
    b"Text",
    b"Link",
    b"FreeText",
    b"Line",
    b"Square",
    b"Circle",
    b"Polygon",
    b"PolyLine",
    b"Highlight",
    b"Underline",
    b"Squiggly",
    b"StrikeOut",
    b"Stamp",
    b"Caret",
    b"Ink",
    b"Popup",
    b"Widget",
    b"Watermark",
    b"Redact",
    b"PrinterMark",
    b"TrapNet",
];

/// Every action type of ISO 32000-2 (the ones we keep are decided in `action_verdict`).
const ACTION_TYPES: &[&[u8]] = &[
    b"GoTo",
    b"GoToR",
    b"GoToE",
    b"GoToDp",
    b"Launch",
    b"Thread",
    b"URI",
    b"Sound",
    b"Movie",
    b"Hide",
    b"Named",
    b"SubmitForm",
    b"ResetForm",
    b"ImportData",
    b"JavaScript",
    b"SetOCGState",
    b"Rendition",
    b"Trans",
    b"GoTo3DView",
    b"RichMediaExecute",
];

/// Named actions that only move between pages.
const NAMED_NAVIGATION: &[&[u8]] = &[b"NextPage", b"PrevPage", b"FirstPage", b"LastPage"];

/// Stream filters a kept stream may use.
const FILTERS: &[&[u8]] = &[
    b"FlateDecode",
    b"Fl",
    b"LZWDecode",
    b"LZW",
    b"ASCIIHexDecode",
    b"AHx",
    b"ASCII85Decode",
    b"A85",
    b"RunLengthDecode",
    b"RL",
    b"CCITTFaxDecode",
    b"CCF",
    b"JBIG2Decode",
    b"DCTDecode",
    b"DCT",
    b"JPXDecode",
    b"Crypt",
];

/// Info keys kept under `metadata = "keep"`.
const INFO_KEYS: &[&[u8]] = &[
    b"Title",
    b"Author",
    b"Subject",
    b"Keywords",
    b"Creator",
    b"Producer",
    b"CreationDate",
    b"ModDate",
    b"Trapped",
];

/// Keys dropped from every dictionary, with what they are.
fn always_dropped(key: &[u8]) -> Option<What> {
    Some(match key {
        b"AA" | b"OpenAction" => What::AutoAction,
        b"JS" | b"JavaScript" => What::Javascript,
        b"EmbeddedFiles" | b"EmbeddedFile" | b"EF" | b"RF" | b"AF" => What::EmbeddedFile,
        b"XFA" => What::Xfa,
        b"SpiderInfo" | b"PieceInfo" => What::PrivateData,
        b"RichMediaContent" | b"RichMediaSettings" | b"3DD" | b"3DA" => What::Multimedia,
        _ => return None,
    })
}

impl Sanitizer for PdfSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[FileKind::Pdf]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        let policy = cx.config.pdf;
        let mut src = load_within_budget(input, cx)?;
        if src.is_encrypted() {
            // lopdf tried the empty user password; still encrypted means one is needed.
            return Err(Refusal::Encrypted { hold: false });
        }
        if src.objects.len() as u64 > policy.max_objects {
            return Err(Refusal::LimitExceeded {
                limit: "pdf.max_objects",
                detail: format!("{} objects, the limit is {}", src.objects.len(), policy.max_objects),
            });
        }
        cx.check_deadline()?;

        // Stream bytes are moved, not copied, into the new document: the largest files are
        // image-heavy, and a copy per stage would triple their memory.
        let contents = take_stream_contents(&mut src);
        // Every object is loaded; the cross-reference entries are not needed again, and on
        // an object-heavy file they are a noticeable part of the peak memory.
        src.reference_table.entries = Default::default();
        // The output is about the input's size; reserving it avoids copying it while it grows.
        let capacity = input.len().saturating_add(input.len() / 8).saturating_add(64 * 1024);
        let mut rb = Rebuild::new(&src, contents, policy, cx, capacity);
        if src.was_encrypted() {
            rb.found(
                What::Encryption,
                "trailer /Encrypt",
                "empty user password; written unencrypted",
            );
        }
        rb.run()?;
        let Rebuild {
            out,
            mut trailer,
            mut findings,
            next_id,
            ..
        } = rb;
        set_trailer_id(&mut trailer, &src, input);
        drop(src);
        let bytes = out.finish(trailer, next_id);
        findings.sort();
        findings.dedup();
        Ok(Clean {
            bytes,
            kind: FileKind::Pdf,
            findings,
        })
    }
}

/// Load `input` with lopdf inside the file's budgets ([`super::pdf_budget`]): the objects it
/// will materialise are estimated and charged before it spends the memory, object streams
/// inflate within the file's decompression budget, and a file whose cross-reference data is
/// broken is read again by scanning for objects (what lopdf does itself for an unfiltered load).
fn load_within_budget(input: &[u8], cx: &mut Cx<'_>) -> Result<Document, Refusal> {
    let policy = cx.config.pdf;
    let mut per_stream = policy.max_object_stream_bytes.min(cx.decompressed_left());
    // The file's own syntax is lexed once; each load below charges it again.
    let file = super::pdf_budget::scan_file_within(input, policy.max_structure_bytes);
    if file.object_streams > 0 && super::pdf_budget::looks_encrypted(input) {
        // lopdf expands the object streams of an encrypted file without asking our filter:
        // each may inflate only to what the structure budget allows if all of it were tokens.
        let share = policy.max_structure_bytes / (file.object_streams * (super::pdf_budget::BYTES_PER_TOKEN / 2 + 2));
        per_stream = per_stream.min(share.max(1));
    }
    let mut load = |force_reconstruct: bool| -> Result<Document, Refusal> {
        let guard = super::pdf_budget::LoadGuard::install(
            file,
            policy.max_structure_bytes,
            cx.decompressed_left(),
            per_stream,
        )?;
        let options = LoadOptions {
            max_decompressed_size: Some(usize::try_from(per_stream).unwrap_or(usize::MAX)),
            filter: Some(super::pdf_budget::filter),
            force_reconstruct,
            ..LoadOptions::default()
        };
        let loaded = Document::load_mem_with_options(input, options);
        let (refusal, inflate_left) = guard.finish();
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        cx.charge_decompressed(cx.decompressed_left().saturating_sub(inflate_left))?;
        cx.check_deadline()?;
        loaded.map_err(load_error)
    };
    let doc = load(false)?;
    if doc.xref_recovery.is_some() && doc.get_pages().is_empty() {
        if let Ok(rebuilt) = load(true) {
            if !rebuilt.get_pages().is_empty() {
                return Ok(rebuilt);
            }
        }
    }
    Ok(doc)
}

fn load_error(e: lopdf::Error) -> Refusal {
    match e {
        lopdf::Error::Decompress(d) => Refusal::LimitExceeded {
            limit: "pdf.max_object_stream_bytes",
            detail: d.to_string(),
        },
        lopdf::Error::InvalidPassword => Refusal::Encrypted { hold: false },
        other => Refusal::Malformed(other.to_string()),
    }
}

/// Move every stream's bytes out of the loaded document, keyed by object id.
fn take_stream_contents(doc: &mut Document) -> HashMap<ObjectId, Vec<u8>> {
    doc.objects
        .iter_mut()
        .filter_map(|(id, o)| match o {
            Object::Stream(s) => Some((*id, std::mem::take(&mut s.content))),
            _ => None,
        })
        .collect()
}

/// Keep the input's `/ID` (so a second pass changes nothing); derive one when there is none.
fn set_trailer_id(trailer: &mut Dictionary, src: &Document, input: &[u8]) {
    let valid = |o: &Object| match o {
        Object::Array(a) => {
            a.len() == 2
                && a.iter()
                    .all(|x| matches!(x, Object::String(s, _) if !s.is_empty() && s.len() <= 64))
        }
        _ => false,
    };
    let id = match src.trailer.get(b"ID") {
        Ok(id) if valid(id) => id.clone(),
        _ => {
            // An identifier, not an integrity check: the length and the first and last
            // 16 KiB (the header, the trailer and its xref offsets) tell files apart, and
            // hashing all of the file here again (the engine already hashes it for the
            // report) costs as much as a small file's rebuild.
            const SPAN: usize = 16 << 10;
            let head = &input[..input.len().min(SPAN)];
            let tail = &input[input.len().saturating_sub(SPAN).max(head.len())..];
            let h = Sha256::new()
                .chain_update((input.len() as u64).to_le_bytes())
                .chain_update(head)
                .chain_update(tail)
                .finalize();
            let first = Object::String(h[..16].to_vec(), lopdf::StringFormat::Hexadecimal);
            Object::Array(vec![first.clone(), first])
        }
    };
    trailer.set("ID", id);
}

/// One rebuild: the source, the new document, and the old→new object map.
struct Rebuild<'s, 'c, 'a> {
    src: &'s Document,
    /// Stream bytes taken out of `src`, moved into the output as each stream is copied.
    contents: HashMap<ObjectId, Vec<u8>>,
    inflate: InflateCounter,
    /// The new file, written object by object as each is finished.
    out: PdfOut,
    trailer: Dictionary,
    policy: PdfPolicy,
    cx: &'c mut Cx<'a>,
    map: HashMap<ObjectId, ObjectId>,
    queue: VecDeque<(ObjectId, ObjectId)>,
    /// Old intermediate `Pages` nodes; references to them point at the new (flat) root.
    page_nodes: HashSet<ObjectId>,
    pages_root: ObjectId,
    next_id: u32,
    findings: Vec<Finding>,
    /// The old object being copied, for finding locations.
    here: ObjectId,
}

impl<'s, 'c, 'a> Rebuild<'s, 'c, 'a> {
    fn new(
        src: &'s Document,
        contents: HashMap<ObjectId, Vec<u8>>,
        policy: PdfPolicy,
        cx: &'c mut Cx<'a>,
        capacity: usize,
    ) -> Self {
        Rebuild {
            src,
            contents,
            inflate: InflateCounter::default(),
            out: PdfOut::new(&clean_version(&src.version), capacity, src.objects.len()),
            trailer: Dictionary::new(),
            policy,
            cx,
            // Sized once: growing it on an object-heavy file briefly holds two tables.
            map: HashMap::with_capacity(src.objects.len().min(policy.max_objects as usize)),
            queue: VecDeque::new(),
            page_nodes: HashSet::new(),
            pages_root: (0, 0),
            next_id: 1,
            findings: Vec::new(),
            here: (0, 0),
        }
    }

    fn alloc(&mut self) -> ObjectId {
        let id = (self.next_id, 0);
        self.next_id += 1;
        id
    }

    fn found(&mut self, what: What, location: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding::removed(what, location, detail));
    }

    fn loc(&self, key: &[u8]) -> String {
        format!("obj {} {} /{}", self.here.0, self.here.1, String::from_utf8_lossy(key))
    }

    fn run(&mut self) -> Result<(), Refusal> {
        let catalog_id = self
            .src
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| Refusal::Malformed("the trailer has no /Root catalog".into()))?;
        let catalog = self
            .src
            .get_dictionary(catalog_id)
            .map_err(|_| Refusal::Malformed("the /Root catalog is missing or not a dictionary".into()))?;
        let pages = self.collect_pages(catalog)?;
        if pages.is_empty() {
            return Err(Refusal::Malformed("the document has no pages".into()));
        }

        let new_catalog = self.alloc();
        self.pages_root = self.alloc();
        let new_pages: Vec<ObjectId> = pages.iter().map(|_| self.alloc()).collect();
        for (old, new) in pages.iter().zip(&new_pages) {
            self.map.insert(*old, *new);
        }
        self.map.insert(catalog_id, new_catalog);

        for (old, new) in pages.iter().zip(&new_pages) {
            self.cx.check_deadline()?;
            let page = self.page(*old)?;
            self.out.put(*new, Object::Dictionary(page))?;
        }
        let mut root = Dictionary::new();
        root.set("Type", Object::Name(b"Pages".to_vec()));
        root.set(
            "Kids",
            new_pages.iter().map(|id| Object::Reference(*id)).collect::<Vec<_>>(),
        );
        root.set("Count", new_pages.len() as i64);
        self.out.put(self.pages_root, Object::Dictionary(root))?;

        self.here = catalog_id;
        let new_cat = self.catalog(catalog)?;
        self.out.put(new_catalog, Object::Dictionary(new_cat))?;
        self.trailer.set("Root", Object::Reference(new_catalog));
        self.info()?;
        self.drain()
    }

    /// Walk the page tree in order, recording every intermediate node. Bounded in depth and
    /// guarded against cycles through intermediate nodes; a page listed twice is two pages,
    /// as viewers show it. Entries that lead to no page, and pages the root's `/Count`
    /// declares but the tree does not hold, are reported as a `damage` finding naming them:
    /// the output never has fewer pages than a viewer shows without saying so.
    fn collect_pages(&mut self, catalog: &Dictionary) -> Result<Vec<ObjectId>, Refusal> {
        let root = catalog
            .get(b"Pages")
            .and_then(Object::as_reference)
            .map_err(|_| Refusal::Malformed("the catalog has no /Pages reference".into()))?;
        let mut pages = Vec::new();
        let mut seen = HashSet::new();
        // Page numbers (1-based, in tree order) of entries that lead to no page.
        let mut unreadable = Vec::new();
        // Explicit stack of (node, depth); children pushed in reverse to keep document order.
        let mut stack = vec![(Object::Reference(root), 0usize)];
        while let Some((entry, depth)) = stack.pop() {
            if depth > MAX_PAGE_TREE_DEPTH {
                return Err(Refusal::LimitExceeded {
                    limit: "pdf.page_tree_depth",
                    detail: format!("page tree deeper than {MAX_PAGE_TREE_DEPTH}"),
                });
            }
            if (pages.len() + unreadable.len()) as u64 > self.policy.max_objects {
                return Err(Refusal::LimitExceeded {
                    limit: "pdf.max_objects",
                    detail: "too many pages".into(),
                });
            }
            let node = entry
                .as_reference()
                .ok()
                .and_then(|id| Some((id, self.src.get_dictionary(id).ok()?)));
            let Some((id, node)) = node else {
                unreadable.push(pages.len() + unreadable.len() + 1);
                continue;
            };
            let is_pages = node
                .get(b"Type")
                .and_then(Object::as_name)
                .map(|t| t == b"Pages")
                .unwrap_or(false)
                || (node.has(b"Kids") && !node.has(b"Contents"));
            if is_pages {
                if !seen.insert(id) {
                    continue; // a cycle, or a subtree listed twice: walked once
                }
                self.page_nodes.insert(id);
                if let Ok(kids) = node.get(b"Kids").and_then(Object::as_array) {
                    for kid in kids.iter().rev() {
                        stack.push((kid.clone(), depth + 1));
                    }
                }
            } else {
                pages.push(id);
            }
        }
        let declared = self
            .src
            .get_dictionary(root)
            .ok()
            .and_then(|d| d.get(b"Count").ok()?.as_i64().ok())
            .and_then(|n| usize::try_from(n).ok());
        let found = pages.len() + unreadable.len();
        let mut missing: Vec<String> = unreadable.iter().map(usize::to_string).collect();
        if let Some(declared) = declared.filter(|&d| d > found && d as u64 <= self.policy.max_objects) {
            missing.push(format!("{}–{declared}", found + 1));
        }
        if !missing.is_empty() {
            let total = declared.unwrap_or(found).max(found);
            self.found(
                What::Damage,
                "page tree",
                format!(
                    "pages {} of {total} could not be read; the original has them",
                    missing.join(", ")
                ),
            );
        }
        Ok(pages)
    }

    /// A new page: allowlisted keys, inherited attributes resolved, annotations filtered.
    fn page(&mut self, old: ObjectId) -> Result<Dictionary, Refusal> {
        self.here = old;
        let src = self.src;
        let page = src
            .get_dictionary(old)
            .map_err(|_| Refusal::Malformed(format!("page {} {} is not a dictionary", old.0, old.1)))?;
        let mut new = Dictionary::new();
        new.set("Type", Object::Name(b"Page".to_vec()));
        new.set("Parent", Object::Reference(self.pages_root));
        for (key, value) in page.iter() {
            let key = key.as_slice();
            if matches!(key, b"Type" | b"Parent") {
                continue;
            }
            if !PAGE_KEYS.contains(&key) {
                self.dropped_structural_key(key, value, "page");
                continue;
            }
            if let Some(v) = self.keyed(key, value)? {
                new.set(key.to_vec(), v);
            }
        }
        // Inherited attributes: nearest ancestor wins; bounded walk up /Parent.
        let mut parent = page.get(b"Parent").and_then(Object::as_reference).ok();
        let mut steps = 0;
        while let Some(pid) = parent {
            steps += 1;
            if steps > MAX_PAGE_TREE_DEPTH {
                break;
            }
            let Ok(node) = src.get_dictionary(pid) else { break };
            for key in INHERITED {
                if !new.has(key) {
                    if let Ok(v) = node.get(key) {
                        self.here = pid;
                        if let Some(v) = self.keyed(key, v)? {
                            new.set(key.to_vec(), v);
                        }
                    }
                }
            }
            parent = node.get(b"Parent").and_then(Object::as_reference).ok();
        }
        if !new.has(b"MediaBox") {
            // Required by the spec; viewers assume US Letter, so do we, explicitly.
            new.set("MediaBox", vec![0.into(), 0.into(), 612.into(), 792.into()]);
        }
        if !new.has(b"Resources") {
            new.set("Resources", Dictionary::new());
        }
        Ok(new)
    }

    fn catalog(&mut self, catalog: &Dictionary) -> Result<Dictionary, Refusal> {
        let mut new = Dictionary::new();
        new.set("Type", Object::Name(b"Catalog".to_vec()));
        new.set("Pages", Object::Reference(self.pages_root));
        for (key, value) in catalog.iter() {
            let key = key.as_slice();
            match key {
                b"Type" | b"Pages" => {}
                b"Names" => {
                    if let Some(names) = self.names(value)? {
                        new.set("Names", names);
                    }
                }
                b"OpenAction" => {
                    if let Some(v) = self.open_action(value)? {
                        new.set("OpenAction", v);
                    }
                }
                _ if CATALOG_KEYS.contains(&key) => {
                    if let Some(v) = self.keyed(key, value)? {
                        new.set(key.to_vec(), v);
                    }
                }
                _ => self.dropped_structural_key(key, value, "catalog"),
            }
        }
        Ok(new)
    }

    /// Record a structural key we do not copy; dangerous ones get their own category.
    fn dropped_structural_key(&mut self, key: &[u8], value: &Object, in_what: &str) {
        let what = always_dropped(key).unwrap_or(match key {
            b"URI" => What::Uri,
            b"Collection" => What::EmbeddedFile,
            _ => What::Structure,
        });
        let loc = self.loc(key);
        if key == b"AA" {
            self.report_actions_inside(value, &loc);
        }
        self.found(what, loc, format!("{in_what} key not on the allowlist"));
    }

    /// `/OpenAction`: an explicit destination (or a GoTo to one) only positions the view and is
    /// kept; anything else runs on open and is removed.
    fn open_action(&mut self, value: &Object) -> Result<Option<Object>, Refusal> {
        let resolved = self.deref(value);
        let navigation = match resolved {
            Some(Object::Array(_)) => true,
            Some(Object::Dictionary(d)) => action_type(d).is_some_and(|t| t == b"GoTo") && !d.has(b"Next"),
            _ => false,
        };
        if navigation {
            return self.keyed(b"OpenAction", value);
        }
        let detail = match resolved {
            Some(Object::Dictionary(d)) => action_type(d)
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let what = match resolved {
            Some(Object::Dictionary(d)) => action_what(d),
            _ => What::AutoAction,
        };
        let loc = self.loc(b"OpenAction");
        self.found(What::AutoAction, loc.clone(), detail.clone());
        if what != What::AutoAction {
            self.found(what, loc, detail);
        }
        Ok(None)
    }

    /// The Names dictionary keeps only named destinations.
    fn names(&mut self, value: &Object) -> Result<Option<Object>, Refusal> {
        let Some(Object::Dictionary(names)) = self.deref(value) else {
            return Ok(None);
        };
        if let Ok(id) = value.as_reference() {
            self.here = id;
        }
        let mut new = Dictionary::new();
        for (key, v) in names.iter() {
            if key == b"Dests" {
                if let Some(v) = self.keyed(key, v)? {
                    new.set("Dests", v);
                }
            } else {
                let what = match key.as_slice() {
                    b"JavaScript" => What::Javascript,
                    b"EmbeddedFiles" => What::EmbeddedFile,
                    b"Renditions" => What::Multimedia,
                    b"URLS" | b"IDS" => What::PrivateData,
                    _ => What::Structure,
                };
                let loc = format!("Names/{}", String::from_utf8_lossy(key));
                self.found(what, loc, "name tree not on the allowlist");
            }
        }
        Ok((!new.is_empty()).then_some(Object::Dictionary(new)))
    }

    /// The Info dictionary: standard text entries only (or nothing, by policy).
    fn info(&mut self) -> Result<(), Refusal> {
        let Ok(info_obj) = self.src.trailer.get(b"Info") else {
            return Ok(());
        };
        let Some(Object::Dictionary(info)) = self.deref(info_obj) else {
            return Ok(());
        };
        if self.policy.metadata == Metadata::Remove {
            if !info.is_empty() {
                self.found(What::Metadata, "trailer /Info", "metadata = remove");
            }
            return Ok(());
        }
        let mut new = Dictionary::new();
        for (key, v) in info.iter() {
            let value = self.deref(v);
            match value {
                Some(Object::String(..)) | Some(Object::Name(_)) if INFO_KEYS.contains(&key.as_slice()) => {
                    new.set(key.clone(), value.cloned().unwrap_or(Object::Null));
                }
                _ => {
                    let loc = format!("trailer /Info /{}", String::from_utf8_lossy(key));
                    self.found(What::Metadata, loc, "not a standard text entry");
                }
            }
        }
        if !new.is_empty() {
            let id = self.alloc();
            self.out.put(id, Object::Dictionary(new))?;
            self.trailer.set("Info", Object::Reference(id));
        }
        Ok(())
    }

    fn deref<'o>(&self, o: &'o Object) -> Option<&'o Object>
    where
        's: 'o,
    {
        match o {
            Object::Reference(id) => self.src.get_object(*id).ok(),
            other => Some(other),
        }
    }

    /// Copy every object that references led to, breadth first, until none is left.
    fn drain(&mut self) -> Result<(), Refusal> {
        let mut n = 0u32;
        while let Some((old, new)) = self.queue.pop_front() {
            n = n.wrapping_add(1);
            if n.is_multiple_of(256) {
                self.cx.check_deadline()?;
            }
            self.here = old;
            let copied = match self.src.get_object(old) {
                Ok(obj) => self.object(obj)?.unwrap_or(Object::Null),
                Err(_) => Object::Null,
            };
            self.out.put(new, copied)?;
        }
        Ok(())
    }

    /// Copy a dictionary value under `key`, applying the key rules first.
    fn keyed(&mut self, key: &[u8], value: &Object) -> Result<Option<Object>, Refusal> {
        if let Some(what) = always_dropped(key) {
            let loc = self.loc(key);
            let detail = match self.deref(value) {
                Some(Object::Dictionary(d)) => action_type(d)
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            self.found(what, loc.clone(), detail);
            if key == b"AA" || key == b"OpenAction" {
                // An automatic action of a dangerous type is also reported as that type.
                self.report_actions_inside(value, &loc);
            }
            return Ok(None);
        }
        if key == b"Metadata" && self.policy.metadata == Metadata::Remove {
            let loc = self.loc(key);
            self.found(What::Metadata, loc, "metadata = remove");
            return Ok(None);
        }
        if key == b"Annots" {
            return self.annots(value).map(Some);
        }
        self.value(value)
    }

    /// For findings only: name the action types inside an `/AA` dictionary.
    fn report_actions_inside(&mut self, value: &Object, loc: &str) {
        let mut found = Vec::new();
        if let Some(Object::Dictionary(aa)) = self.deref(value) {
            for (_, v) in aa.iter() {
                if let Some(Object::Dictionary(a)) = self.deref(v) {
                    let what = action_what(a);
                    if what != What::AutoAction && what != What::Action {
                        found.push((
                            what,
                            action_type(a)
                                .map(|t| String::from_utf8_lossy(t).into_owned())
                                .unwrap_or_default(),
                        ));
                    }
                }
            }
        }
        for (what, detail) in found {
            self.found(what, loc.to_string(), detail);
        }
    }

    /// `/Annots`: the array is rebuilt without the annotations the filter refuses.
    fn annots(&mut self, value: &Object) -> Result<Object, Refusal> {
        let items: Vec<Object> = match self.deref(value) {
            Some(Object::Array(a)) => a.clone(),
            _ => return Ok(Object::Array(vec![])),
        };
        let mut kept = Vec::with_capacity(items.len());
        for item in &items {
            if let Some(v) = self.value(item)? {
                if !matches!(v, Object::Null) {
                    kept.push(v);
                }
            }
        }
        Ok(Object::Array(kept))
    }

    /// Copy any value. `None` means "leave the key out".
    fn value(&mut self, value: &Object) -> Result<Option<Object>, Refusal> {
        Ok(Some(match value {
            Object::Reference(id) => {
                if self.page_nodes.contains(id) {
                    return Ok(Some(Object::Reference(self.pages_root)));
                }
                if let Some(new) = self.map.get(id) {
                    return Ok(Some(Object::Reference(*new)));
                }
                let target = match self.src.get_object(*id) {
                    // A reference to a null object is null; copying it as an object of its
                    // own would number objects differently on a second pass.
                    Ok(Object::Null) => return Ok(Some(Object::Null)),
                    // File-structure objects (object and xref streams, linearization) are
                    // never content; the writer regenerates them, so a reference to one is
                    // a dangling reference.
                    Ok(t) if is_file_structure(t) => return Ok(Some(Object::Null)),
                    Ok(t) => t,
                    // A reference to a missing object is null (ISO 32000 7.3.10).
                    Err(_) => return Ok(Some(Object::Null)),
                };
                if let Some((what, detail)) = self.refused(target) {
                    let loc = format!("obj {} {}", id.0, id.1);
                    self.found(what, loc, detail);
                    return Ok(None);
                }
                if self.map.len() as u64 >= self.policy.max_objects {
                    return Err(Refusal::LimitExceeded {
                        limit: "pdf.max_objects",
                        detail: "too many objects reachable".into(),
                    });
                }
                let new = self.alloc();
                self.map.insert(*id, new);
                self.queue.push_back((*id, new));
                Object::Reference(new)
            }
            Object::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    // Positions in arrays carry meaning (destinations, matrices): keep a null.
                    out.push(self.value(item)?.unwrap_or(Object::Null));
                }
                Object::Array(out)
            }
            other => match self.object(other)? {
                Some(o) => o,
                None => return Ok(None),
            },
        }))
    }

    /// Copy an object's body (the target of a reference, or a direct value).
    fn object(&mut self, obj: &Object) -> Result<Option<Object>, Refusal> {
        if let Some((what, detail)) = self.refused(obj) {
            let loc = format!("obj {} {}", self.here.0, self.here.1);
            self.found(what, loc, detail);
            return Ok(None);
        }
        Ok(Some(match obj {
            Object::Dictionary(d) => Object::Dictionary(self.dict(d)?),
            Object::Stream(s) => Object::Stream(self.stream(s)?),
            Object::Array(_) | Object::Reference(_) => return self.value(obj),
            scalar => scalar.clone(),
        }))
    }

    fn dict(&mut self, d: &Dictionary) -> Result<Dictionary, Refusal> {
        let mut new = Dictionary::new();
        for (key, v) in d.iter() {
            if let Some(v) = self.keyed(key, v)? {
                new.set(key.clone(), v);
            }
        }
        Ok(new)
    }

    fn stream(&mut self, s: &Stream) -> Result<Stream, Refusal> {
        let filters: Vec<Vec<u8>> = match s.dict.get(b"Filter") {
            Ok(Object::Name(n)) => vec![n.clone()],
            Ok(Object::Array(a)) => a.iter().filter_map(|f| f.as_name().ok().map(<[u8]>::to_vec)).collect(),
            _ => vec![],
        };
        for f in &filters {
            if !FILTERS.contains(&f.as_slice()) {
                return Err(Refusal::Malformed(format!(
                    "stream {} {} uses the unknown filter /{}",
                    self.here.0,
                    self.here.1,
                    String::from_utf8_lossy(f)
                )));
            }
        }
        // Streams are always indirect: `here` is this stream's id.
        let content = self.contents.remove(&self.here).unwrap_or_default();
        if let Some(decoded) = image_decoded_size(&s.dict) {
            // A reader decodes an image only up to its declared size, so the declaration is
            // what the budget must cover (and inflating every image would cost more than the
            // rest of the rebuild).
            self.cx.charge_decompressed(decoded)?;
        } else if matches!(filters.first().map(Vec::as_slice), Some(b"FlateDecode" | b"Fl")) {
            // The bytes are copied compressed; measure what they would inflate to so a bomb
            // is refused here, at the cost of CPU up to the budget and no memory.
            match self.inflate.count(&content, self.cx.decompressed_left(), true) {
                Inflated::Within(n) => self.cx.charge_decompressed(n)?,
                Inflated::OverBudget => self.cx.charge_decompressed(u64::MAX)?,
            }
        }
        let mut dict = self.dict(&s.dict)?;
        dict.remove(b"Length");
        Ok(Stream::new(dict, content))
    }

    /// The content-based verdict on one object: `Some` when it must not be copied at all.
    fn refused(&self, obj: &Object) -> Option<(What, String)> {
        let d = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => return None,
        };
        let name = |key: &[u8]| d.get(key).and_then(Object::as_name).ok();
        if name(b"Type") == Some(b"EmbeddedFile") {
            return Some((What::EmbeddedFile, "embedded file stream".into()));
        }
        if name(b"Subtype") == Some(b"PS") || name(b"Subtype2") == Some(b"PS") {
            return Some((What::Structure, "PostScript XObject".into()));
        }
        if let Some(t) = action_type(d) {
            let keep = match t {
                b"GoTo" => true,
                b"Named" => name(b"N").is_some_and(|n| NAMED_NAVIGATION.contains(&n)),
                // Kept only by policy, and only to the web or mail: `file:`, `javascript:`,
                // UNC paths and other schemes are removed whatever the policy.
                b"URI" => self.policy.uri_links == UriLinks::Keep && is_web_uri(d),
                _ => false,
            };
            if !keep {
                return Some((action_what(d), String::from_utf8_lossy(t).into_owned()));
            }
        }
        if d.has(b"Rect") {
            if let Some(sub) = name(b"Subtype") {
                if !ANNOT_ALLOWED.contains(&sub) {
                    let what = match sub {
                        b"FileAttachment" => What::EmbeddedFile,
                        b"Sound" | b"Movie" | b"Screen" | b"RichMedia" | b"3D" | b"Projection" => What::Multimedia,
                        _ => What::Annotation,
                    };
                    return Some((what, format!("{} annotation", String::from_utf8_lossy(sub))));
                }
            }
        }
        None
    }
}

/// Whether a URI action points at `http:`, `https:` or `mailto:`.
fn is_web_uri(action: &Dictionary) -> bool {
    let Ok(Object::String(uri, _)) = action.get(b"URI") else {
        return false;
    };
    let start = uri
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0)
        .unwrap_or(uri.len());
    let lower: Vec<u8> = uri[start..].iter().take(8).map(u8::to_ascii_lowercase).collect();
    lower.starts_with(b"http://") || lower.starts_with(b"https://") || lower.starts_with(b"mailto:")
}

fn is_file_structure(o: &Object) -> bool {
    let d = match o {
        Object::Stream(s) => &s.dict,
        Object::Dictionary(d) => d,
        _ => return false,
    };
    matches!(d.get(b"Type").and_then(Object::as_name), Ok(b"ObjStm" | b"XRef")) || d.has(b"Linearized")
}

/// Largest image side accepted when trusting an image's declared size.
const MAX_IMAGE_SIDE: i64 = 1 << 17;

/// The decoded size an image XObject declares (`Width x Height x components x bits / 8`),
/// or `None` when the stream is not an image or its declaration is not plain numbers (then
/// the stream is measured by inflating it like any other).
fn image_decoded_size(d: &Dictionary) -> Option<u64> {
    if d.get(b"Subtype").and_then(Object::as_name).ok()? != b"Image" {
        return None;
    }
    let int = |k: &[u8]| {
        d.get(k)
            .and_then(Object::as_i64)
            .ok()
            .filter(|v| (1..=MAX_IMAGE_SIDE).contains(v))
    };
    let (w, h) = (int(b"Width")?, int(b"Height")?);
    let bits = if d.get(b"ImageMask").and_then(Object::as_bool).unwrap_or(false) {
        1
    } else {
        d.get(b"BitsPerComponent")
            .and_then(Object::as_i64)
            .ok()
            .filter(|b| (1..=16).contains(b))
            .unwrap_or(16)
    };
    // Components by colour space name; anything else (ICCBased, DeviceN, ...) counts as the
    // worst case, so an unusual declaration can only over-charge.
    let comps = match d.get(b"ColorSpace").and_then(Object::as_name) {
        Ok(b"DeviceGray" | b"G" | b"CalGray") => 1,
        Ok(b"DeviceRGB" | b"RGB" | b"CalRGB" | b"Lab") => 3,
        _ => 32,
    };
    let bits_total = (w as u64)
        .checked_mul(h as u64)?
        .checked_mul(comps)?
        .checked_mul(bits as u64)?;
    Some(bits_total.div_ceil(8))
}

/// The `/S` of an action dictionary (with no `/Type` or `/Type /Action`).
fn action_type(d: &Dictionary) -> Option<&[u8]> {
    let s = d.get(b"S").and_then(Object::as_name).ok()?;
    let typed_ok = match d.get(b"Type").and_then(Object::as_name) {
        Ok(t) => t == b"Action",
        Err(_) => true,
    };
    (typed_ok && ACTION_TYPES.contains(&s)).then_some(s)
}

fn action_what(d: &Dictionary) -> What {
    match action_type(d) {
        Some(b"JavaScript") => What::Javascript,
        Some(b"Launch") => What::Launch,
        Some(b"GoToR" | b"GoToE" | b"GoToDp" | b"ImportData" | b"Thread") => What::ExternalLink,
        Some(b"URI") => What::Uri,
        Some(b"SubmitForm" | b"ResetForm") => What::FormSubmit,
        Some(b"Sound" | b"Movie" | b"Rendition" | b"RichMediaExecute" | b"GoTo3DView") => What::Multimedia,
        Some(_) => What::Action,
        None => What::AutoAction,
    }
}

/// The header version to write: the input's when it is well-formed, else 1.7.
fn clean_version(v: &str) -> String {
    let ok = matches!(v.as_bytes(), [b'1', b'.', b'0'..=b'7'] | [b'2', b'.', b'0']);
    if ok {
        v.to_string()
    } else {
        "1.7".into()
    }
}
