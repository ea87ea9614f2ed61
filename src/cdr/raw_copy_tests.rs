//! Differential tests of the raw-copy path: every Office package of the fixtures and of the
//! real-world corpus (`tests/corpus/fetch.sh`, when fetched) is rebuilt twice, once copying
//! the compressed streams of unchanged parts and once compressing every part again (the path
//! before raw copies), and the two outputs must hold the same parts with the same
//! uncompressed bytes, the same findings and the same kind.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ooxml::{rebuild, Copying, OoxmlSanitizer};
use super::{Cx, Engine, Sanitizer};
use crate::config::Config;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The fixtures and, when fetched, the corpus (required when `MUGAI_REQUIRE_CORPUS` is set).
fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("fixtures"), &mut files);
    let corpus = root.join("target/corpus");
    assert!(
        corpus.join("python-docx").is_dir() || std::env::var_os("MUGAI_REQUIRE_CORPUS").is_none(),
        "the real-world corpus is missing: run bash tests/corpus/fetch.sh"
    );
    for pkg in ["oletools", "python-docx", "python-pptx"] {
        files_under(&corpus.join(pkg), &mut files);
    }
    files.sort();
    files
}

/// Every entry of a ZIP: (name, uncompressed bytes, compressed bytes), in order.
fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("output is a ZIP");
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let (name, compressed) = {
            let mut raw = archive.by_index_raw(i).expect("entry");
            let mut c = Vec::new();
            raw.read_to_end(&mut c).expect("raw");
            (String::from_utf8_lossy(raw.name_raw()).into_owned(), c)
        };
        let mut data = Vec::new();
        archive
            .by_index(i)
            .expect("entry")
            .read_to_end(&mut data)
            .expect("inflate");
        out.push((name, data, compressed));
    }
    out
}

#[test]
fn raw_copies_change_no_part_of_any_package() {
    let engine = Engine::new(Config::default());
    let (mut packages, mut parts, mut copied) = (0, 0, 0);
    for path in inputs() {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        if !OoxmlSanitizer.kinds().contains(&super::detect::detect(&bytes)) {
            continue;
        }
        let raw = rebuild(&bytes, &mut Cx::new(&engine), Copying::Raw);
        let recompressed = rebuild(&bytes, &mut Cx::new(&engine), Copying::Recompress);
        let shown = path.display();
        let (raw, recompressed) = match (raw, recompressed) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{shown}: refused differently");
                continue;
            }
            (a, b) => panic!("{shown}: one path refused: {:?} / {:?}", a.err(), b.err()),
        };
        packages += 1;
        assert_eq!(raw.kind, recompressed.kind, "{shown}");
        assert_eq!(raw.findings, recompressed.findings, "{shown}");
        let (a, b) = (entries(&raw.bytes), entries(&recompressed.bytes));
        assert_eq!(
            a.iter().map(|e| &e.0).collect::<Vec<_>>(),
            b.iter().map(|e| &e.0).collect::<Vec<_>>(),
            "{shown}: parts differ"
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(x.1 == y.1, "{shown}: part {} differs", x.0);
            parts += 1;
            copied += usize::from(x.2 != y.2);
        }
    }
    eprintln!("{packages} packages, {parts} parts, {copied} copied as their source's stream");
    assert!(packages >= 20, "only {packages} packages found");
    // The test means something only if the raw path was taken.
    assert!(copied * 4 >= parts, "only {copied} of {parts} parts copied raw");
}
