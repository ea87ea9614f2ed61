//! The module layout holds (README "Layout"): every `crate::` path in `src/` is an edge of
//! the import graph, and
//! - every module has a layer, and imports only modules of lower layers — so there is no
//!   circle between modules (a circle would need an edge upwards);
//! - the two ingresses never import each other, egress never imports an ingress, and the
//!   engine (`cdr`) never imports mail, storage, the pipeline or a way in;
//! - the engine is run by the pipeline for the daemon (and by the offline commands), by
//!   nothing else: no engine entry point is called outside `cdr`, `pipeline` and `cli`;
//! - `main.rs` stays under 200 lines, and rusqlite is known only to `store/sqlite.rs`.
//!
//! A new module needs a line in [`LAYERS`]: that is where its place is decided.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod common;

/// Each module's layer: a module may import only modules of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    // Leaves: shared vocabulary and helpers, importing nothing of ours.
    ("alloc", 0),
    ("clock", 0),
    ("audit_trace", 1),
    ("ids", 0),
    ("passwords", 0),
    ("tls_client", 0),
    ("receipt", 0),
    ("retry", 0),
    ("kind", 0),
    ("secret", 0),
    ("smtp", 0),
    // Reports and policy: vocabulary over the leaves.
    ("report", 1),
    ("policy", 1),
    // Configuration (one validated value per section) and the metrics.
    ("config", 2),
    ("metrics", 2),
    // The words for report codes (reasons, finding kinds), in Japanese and English.
    ("texts", 2),
    // The engine, storage, the audit trail, the scanner client, the relay.
    ("cdr", 3),
    ("store", 3),
    ("audit", 3),
    ("scan", 3),
    ("directory", 3),
    ("egress", 3),
    // Mail without protocol or storage.
    ("mail", 4),
    ("notify", 4),
    // The only caller of the engine for the daemon, and the daemon's shared state.
    ("pipeline", 5),
    // The ways in, and the offline commands.
    ("ingress::smtp", 6),
    ("ingress::http", 6),
    ("cli", 6),
    ("ingress", 7),
    // The daemon starts the listeners; main is the command line.
    ("daemon", 8),
    ("main", 9),
];

/// Edges the layering allows but the design forbids all the same.
const FORBIDDEN: &[(&str, &str)] = &[
    ("ingress::http", "ingress::smtp"),
    ("ingress::smtp", "ingress::http"),
    ("egress", "ingress"),
    ("egress", "ingress::smtp"),
    ("egress", "ingress::http"),
    ("cdr", "mail"),
    ("cdr", "store"),
    ("cdr", "pipeline"),
    ("cdr", "audit"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources() -> Vec<PathBuf> {
    common::files_under(&[src()], &[], |p| p.extension().is_some_and(|e| e == "rs"))
}

/// The module a file belongs to: `src/cdr/pdf.rs` → `cdr`, `src/ingress/http/held.rs` →
/// `ingress::http`, `src/main.rs` → `main`.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" => None,
        [first, second, ..] if first == "ingress" && second != "mod" => Some(format!("ingress::{second}")),
        [first, ..] => Some(first.clone()),
        [] => None,
    }
}

/// Code without comments (doc links name modules too, but they import nothing).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `text` refers to by `crate::a::b` (or `mugai::` in main.rs), including the
/// names in `crate::{a, b::c}`.
fn references(text: &str, root: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let prefix = format!("{root}::");
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let paths: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(str::trim).collect()
        } else {
            vec![rest]
        };
        for path in paths {
            let segs: Vec<&str> = path
                .split("::")
                .map(|s| {
                    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                })
                .collect();
            let Some(first) = segs.first().filter(|s| !s.is_empty()) else {
                continue;
            };
            let module = match (*first, segs.get(1)) {
                ("ingress", Some(second)) if ["http", "smtp"].contains(second) => format!("ingress::{second}"),
                _ => first.to_string(),
            };
            // Items re-exported at the crate root (`crate::Config`) are named for their module.
            let module = match module.as_str() {
                "Engine" | "Input" | "Processed" | "Refusal" | "FileKind" => "cdr".into(),
                "Config" => "config".into(),
                "Outcome" | "Report" => "report".into(),
                _ => module,
            };
            out.insert(module);
        }
    }
    out
}

/// Every edge of the import graph: (from, to) → the files that make it.
fn edges() -> BTreeMap<(String, String), Vec<String>> {
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for path in sources() {
        let Some(from) = module_of(&path) else { continue };
        let text = code(&std::fs::read_to_string(&path).expect("read source"));
        let root = if from == "main" { "mugai" } else { "crate" };
        for to in references(&text, root) {
            if to != from {
                let file = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
                edges.entry((from.clone(), to)).or_default().push(file);
            }
        }
    }
    edges
}

#[test]
fn every_import_goes_down_the_layers() {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    let edges = edges();
    assert!(edges.len() > 40, "the scan found the imports ({} edges)", edges.len());
    for ((from, to), files) in &edges {
        match (layer.get(from.as_str()), layer.get(to.as_str())) {
            (None, _) => wrong.push(format!("{from} has no layer in LAYERS ({files:?})")),
            (_, None) => wrong.push(format!("{to} (imported by {from}) has no layer in LAYERS")),
            (Some(a), Some(b)) if a <= b => {
                wrong.push(format!("{from} (layer {a}) imports {to} (layer {b}) in {files:?}"))
            }
            _ => {}
        }
        if FORBIDDEN.contains(&(from.as_str(), to.as_str())) {
            wrong.push(format!("{from} must not import {to} ({files:?})"));
        }
    }
    assert!(wrong.is_empty(), "the layout is broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_scan_sees_grouped_and_nested_paths() {
    let r = references(
        "use crate::{audit::Origin, ingress::http::x};\nlet a = crate::cdr::run();",
        "crate",
    );
    assert_eq!(r.into_iter().collect::<Vec<_>>(), ["audit", "cdr", "ingress::http"]);
}

#[test]
fn the_engine_runs_only_in_the_pipeline_and_the_offline_commands() {
    // The engine's entry points, and the synchronous mail run (which calls the engine).
    let calls = [".run(", ".run_input(", "engine.process(", "message::process("];
    let mut found = Vec::new();
    for path in sources() {
        let Some(module) = module_of(&path) else { continue };
        if ["cdr", "pipeline", "cli"].contains(&module.as_str()) {
            continue;
        }
        let text = code(&std::fs::read_to_string(&path).expect("read source"));
        for (n, line) in text.lines().enumerate() {
            for call in calls {
                // `.run(` of something that is not an engine: the runtime's block_on and
                // the like do not match, these are the only `.run(` receivers in src/.
                if line.contains(call) && !line.contains("runtime") {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the engine is called outside the pipeline:\n{}",
        found.join("\n")
    );
}

#[test]
fn main_is_only_the_command_line() {
    let main = std::fs::read_to_string(src().join("main.rs")).expect("main.rs");
    let lines = main.lines().count();
    assert!(lines < 200, "main.rs has {lines} lines");
}

#[test]
fn only_the_sqlite_backend_knows_rusqlite() {
    // The repositories' traits are backend-neutral: another backend implements them without
    // SQLite's types (the issue-19 PostgreSQL ledger runs the same conformance suite).
    let mut found = Vec::new();
    for path in sources() {
        let rel = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
        let text = code(&std::fs::read_to_string(&path).expect("read source"));
        if text.contains("rusqlite") && rel != "store/sqlite.rs" {
            found.push(rel);
        }
    }
    assert!(found.is_empty(), "rusqlite outside store/sqlite.rs: {found:?}");
}
