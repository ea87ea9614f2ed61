//! `[pdf]`: what the PDF rebuild keeps (links, metadata) and its structure budgets.

use serde::Deserialize;

use super::{choice, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPdf {
    /// `remove` (default) drops URI link actions; `keep` keeps them as clickable links.
    uri_links: String,
    /// `keep` (default) keeps the standard Info text entries; `remove` drops Info and XMP.
    metadata: String,
    /// Largest number of indirect objects in one PDF.
    max_objects: u64,
    /// Largest single object stream / xref stream lopdf may inflate while loading, in bytes.
    max_object_stream_bytes: u64,
    /// Most memory the document's objects may take once parsed (estimated before parsing).
    max_structure_bytes: u64,
}

impl Default for RawPdf {
    fn default() -> Self {
        Self {
            uri_links: "remove".into(),
            metadata: "keep".into(),
            max_objects: 1_000_000,
            max_object_stream_bytes: 32 * 1024 * 1024,
            max_structure_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriLinks {
    Remove,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Keep,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfPolicy {
    pub uri_links: UriLinks,
    pub metadata: Metadata,
    pub max_objects: u64,
    pub max_object_stream_bytes: u64,
    pub max_structure_bytes: u64,
}

impl RawPdf {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> PdfPolicy {
        let uri_links = choice(
            problems,
            "pdf.uri_links",
            &self.uri_links,
            &[("remove", UriLinks::Remove), ("keep", UriLinks::Keep)],
        );
        let metadata = choice(
            problems,
            "pdf.metadata",
            &self.metadata,
            &[("keep", Metadata::Keep), ("remove", Metadata::Remove)],
        );
        range(problems, "pdf.max_objects", self.max_objects, 1, 100_000_000);
        range(
            problems,
            "pdf.max_object_stream_bytes",
            self.max_object_stream_bytes,
            1024,
            1 << 32,
        );
        range(
            problems,
            "pdf.max_structure_bytes",
            self.max_structure_bytes,
            1 << 20,
            1 << 36,
        );
        PdfPolicy {
            uri_links,
            metadata,
            max_objects: self.max_objects,
            max_object_stream_bytes: self.max_object_stream_bytes,
            max_structure_bytes: self.max_structure_bytes,
        }
    }
}
