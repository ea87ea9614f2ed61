//! Differential tests of the container paths. Every Office package and ZIP archive of the
//! fixtures and of the real-world corpus (`tests/corpus/fetch.sh`, when fetched) is rebuilt
//! twice, once copying the compressed streams of unchanged parts and once compressing every
//! part again (the path before raw copies): the two outputs must hold the same parts with the
//! same uncompressed bytes, the same findings and the same kind. And an archive rebuilt with
//! its entries side by side on spare workers is the same bytes as one rebuilt entry by entry.

use std::io::Read;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::archive;
use super::ooxml::{rebuild, OoxmlSanitizer};
use super::parallel::{side_by_side, with_spare, Counted, Spare};
use super::zipwrite::Copying;
use super::{Clean, Cx, Engine, FileKind, Refusal, Sanitizer};
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
    let (mut packages, mut parts, mut copied, mut as_they_were) = (0, 0, 0, 0);
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
        // Given back as it was only with nothing found, and never by the recompressing path.
        if raw.bytes == bytes {
            assert!(raw.findings.is_empty(), "{shown}: given back with findings");
            assert!(recompressed.bytes != bytes, "{shown}");
            as_they_were += 1;
            // The engine reports the input's digest for the output without hashing it again:
            // it must be the output's.
            let run = engine.run(&bytes, None);
            let output = run.report.output.as_ref().expect("an output");
            assert_eq!(output.digest, run.report.input, "{shown}");
            assert_eq!(
                output.digest,
                super::Digest256::of(run.output.as_deref().unwrap_or_default()),
                "{shown}"
            );
        }
        let (n, c) = same_parts(&shown.to_string(), &raw, &recompressed);
        parts += n;
        copied += c;
    }
    eprintln!(
        "{packages} packages ({as_they_were} given back as they were), {parts} parts, \
         {copied} copied as their source's stream"
    );
    assert!(packages >= 20, "only {packages} packages found");
    // Clean fixtures and corpus documents (Word's own growth hints among them) come back as
    // they were.
    assert!(
        as_they_were >= 10,
        "only {as_they_were} packages given back as they were"
    );
    // The test means something only if the raw path was taken.
    assert!(copied * 4 >= parts, "only {copied} of {parts} parts copied raw");
}

/// The same parts, with the same uncompressed bytes, in both outputs; how many of them were
/// written as different compressed streams (copied raw on one side).
fn same_parts(shown: &str, raw: &Clean, recompressed: &Clean) -> (usize, usize) {
    assert_eq!(raw.kind, recompressed.kind, "{shown}");
    assert_eq!(raw.findings, recompressed.findings, "{shown}");
    // By name: a package given back as it was keeps its own order of entries.
    let (mut a, mut b) = (entries(&raw.bytes), entries(&recompressed.bytes));
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        a.iter().map(|e| &e.0).collect::<Vec<_>>(),
        b.iter().map(|e| &e.0).collect::<Vec<_>>(),
        "{shown}: parts differ"
    );
    let mut copied = 0;
    for (x, y) in a.iter().zip(&b) {
        assert!(x.1 == y.1, "{shown}: part {} differs", x.0);
        copied += usize::from(x.2 != y.2);
    }
    (a.len(), copied)
}

/// The archives of the fixtures and the corpus, and an archive of 40 fixture documents that
/// cross on their own, of mixed kinds (pictures and text files among them, which come out unchanged), so that
/// entries take different times.
fn zips() -> Vec<(PathBuf, Vec<u8>)> {
    let mut zips: Vec<_> = inputs()
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .filter(|(_, b)| super::detect::detect(b) == FileKind::Zip)
        .collect();
    let engine = Engine::new(Config::default());
    let mut mixed = super::zipwrite::ZipOut::with_capacity(0);
    let mut n = 0;
    for path in inputs() {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if ["pdf", "docx", "xlsx", "pptx", "png", "jpg", "csv", "txt", "rtf"].contains(&ext) && n < 40 {
            // Documents that cross on their own (a pixel bomb would refuse the archive).
            let crosses = |b: &[u8]| {
                engine
                    .run(b, path.file_name().and_then(|n| n.to_str()))
                    .output
                    .is_some()
            };
            if let Some(b) = std::fs::read(&path).ok().filter(|b| crosses(b)) {
                let name = format!("{n:02}-{}", path.file_name().unwrap_or_default().to_string_lossy());
                // Level 1, so that a copied stream differs from one deflated again (level 6).
                mixed.deflated(&name, &b, 1).expect("entry");
                n += 1;
            }
        }
    }
    zips.push((PathBuf::from("mixed.zip"), mixed.finish().expect("archive")));
    zips
}

#[test]
fn raw_copies_change_no_entry_of_any_archive() {
    let engine = Engine::new(Config::default());
    let (mut archives, mut parts, mut copied) = (0, 0, 0);
    for (path, bytes) in zips() {
        let shown = path.display().to_string();
        let raw = archive::rebuild(&bytes, &mut Cx::new(&engine), Copying::Raw);
        let again = archive::rebuild(&bytes, &mut Cx::new(&engine), Copying::Recompress);
        match (raw, again) {
            (Ok(a), Ok(b)) => {
                archives += 1;
                let (n, c) = same_parts(&shown, &a, &b);
                parts += n;
                copied += c;
            }
            (Err(a), Err(b)) => {
                eprintln!("{shown}: refused: {a}");
                assert_eq!(a.to_string(), b.to_string(), "{shown}")
            }
            (a, b) => panic!("{shown}: one path refused: {:?} / {:?}", a.err(), b.err()),
        }
    }
    eprintln!("{archives} archives, {parts} entries, {copied} copied as their source's stream");
    assert!(archives >= 5, "only {archives} archives");
    assert!(copied > 0, "no entry was copied raw");
}

#[test]
fn entries_side_by_side_make_the_same_archive() {
    let engine = Engine::new(Config::default());
    let run = |bytes: &[u8]| -> Result<Clean, Refusal> { archive::rebuild(bytes, &mut Cx::new(&engine), Copying::Raw) };
    for (path, bytes) in zips() {
        let alone = run(&bytes);
        let spare = Counted::new(3);
        let together = with_spare(Arc::new(spare.clone()), || run(&bytes));
        let shown = path.display();
        match (alone, together) {
            (Ok(a), Ok(b)) => {
                assert!(a.bytes == b.bytes, "{shown}: different bytes side by side");
                assert_eq!(a.findings, b.findings, "{shown}");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{shown}"),
            (a, b) => panic!("{shown}: {:?} / {:?}", a.err(), b.err()),
        }
        assert_eq!(spare.free(), 3, "{shown}: every worker given back");
    }
    // The helper itself runs here when there is nothing to lend.
    assert_eq!(side_by_side(vec![|| 1, || 2]), vec![1, 2]);
}

/// A package's XML filter runs on a thread of its own when a worker is free, and on the
/// writer's thread when none is: the same bytes, findings and refusals either way, and the
/// worker given back.
#[test]
fn the_xml_filter_here_or_beside_makes_the_same_package() {
    let engine = Engine::new(Config::default());
    let (mut packages, mut beside) = (0, 0);
    for path in inputs() {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        if !OoxmlSanitizer.kinds().contains(&super::detect::detect(&bytes)) {
            continue;
        }
        let run = || rebuild(&bytes, &mut Cx::new(&engine), Copying::Raw);
        let here = run();
        let spare = Counted::new(1);
        let lent = with_spare(Arc::new(spare.clone()), run);
        let shown = path.display();
        match (here, lent) {
            (Ok(a), Ok(b)) => {
                assert!(a.bytes == b.bytes, "{shown}: different bytes with the filter beside");
                assert_eq!(a.findings, b.findings, "{shown}");
                beside += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{shown}"),
            (a, b) => panic!("{shown}: {:?} / {:?}", a.err(), b.err()),
        }
        assert_eq!(spare.free(), 1, "{shown}: the worker given back");
        packages += 1;
    }
    assert!(
        packages >= 100 && beside >= 100,
        "{packages} packages, {beside} rebuilt"
    );
}

/// The one-pass proof that a part needs nothing (`xml_filter::unchanged`) never says so of a
/// part the general filter would change or refuse: every XML part of every Office package of
/// the fixtures and the corpus, as each flavor, at the default depth limit and a tight one.
/// And it proves most parts of real documents (what it is for).
#[test]
fn the_unchanged_proof_agrees_with_the_filter_on_every_part() {
    use super::xml_filter::{unchanged_agrees, PartFlavor, XmlLimits};
    let depth = Config::default().limits.max_xml_depth;
    let (mut parts, mut proven) = (0usize, 0usize);
    for path in inputs() {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        if !bytes.starts_with(b"PK") {
            continue;
        }
        let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(&bytes)) else {
            continue;
        };
        for i in 0..archive.len() {
            let Ok(mut entry) = archive.by_index(i) else { continue };
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if !(name.ends_with(".xml") || name.ends_with(".rels")) || entry.size() > 8 << 20 {
                continue;
            }
            let mut xml = Vec::new();
            if entry.read_to_end(&mut xml).is_err() {
                continue;
            }
            parts += 1;
            let mut any = false;
            for flavor in [PartFlavor::Word, PartFlavor::PowerPoint, PartFlavor::Other] {
                any |= unchanged_agrees(&xml, flavor, XmlLimits { max_depth: depth });
                unchanged_agrees(&xml, flavor, XmlLimits { max_depth: 4 });
            }
            proven += usize::from(any);
        }
    }
    eprintln!("proof: {proven} of {parts} parts");
    assert!(parts > 100, "{parts} parts looked at");
    assert!(proven * 2 > parts, "only {proven} of {parts} parts proven unchanged");
}
