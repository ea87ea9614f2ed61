//! Criterion benches of the engine in-process (no process start, no file I/O): the PDF
//! rebuild on the checked-in fixtures, and on the generated 1,000-page object-heavy corpus
//! file when `bench-corpus/` exists (`python3 fixtures/gen/pdf_fixtures.py --bench bench-corpus`).
//! The end-to-end comparison against qpdf is `benches/compare.py`; the mail pipeline's is
//! `benches/mail_bench.py`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mugai::{Config, Engine};

fn read(rel: &str) -> Option<Vec<u8>> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).ok()
}

fn pdf(c: &mut Criterion) {
    let engine = Engine::new(Config::default());
    let mut group = c.benchmark_group("pdf");
    for rel in [
        "fixtures/pdf/clean.pdf",
        "fixtures/pdf/embedded_file.pdf",
        "bench-corpus/objects_1000p.pdf",
    ] {
        let Some(bytes) = read(rel) else { continue };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(rel, |b| b.iter(|| engine.run(&bytes, None)));
    }
    group.finish();
}

fn detect(c: &mut Criterion) {
    let Some(bytes) = read("fixtures/pdf/clean.pdf") else {
        return;
    };
    c.bench_function("detect/pdf", |b| b.iter(|| mugai::cdr::detect::detect(&bytes)));
}

/// The mail pipeline in-process (store in a temporary directory, audit discarded): what one
/// message costs the daemon beyond the engine's work on its attachments. `benches/mail_bench.py`
/// runs the CLI end to end.
fn mail(c: &mut Criterion) {
    let engine = mugai::pipeline::Loaded::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = mugai::store::Store::open(dir.path(), &engine.config.store).expect("store");
    let audit = mugai::audit::AuditLog::to_writer(Box::new(std::io::sink()));
    let envelope = mugai::mail::Envelope::default();
    let mut group = c.benchmark_group("mail");
    // The last, when present: one message of smtp_load.py's `office` profile, written by
    // `target/bench-venv/bin/python -c 'import sys; sys.path.insert(0, "benches"); import smtp_load as s;
    // open("target/office/office.eml", "wb").write(s.mail(5, s.attachments_of("office"), True))'`.
    for rel in [
        "fixtures/mail/alternative.eml",
        "fixtures/mail/japanese_html.eml",
        "target/office/office.eml",
    ] {
        let Some(bytes) = read(rel) else { continue };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(rel, |b| {
            b.iter(|| {
                mugai::pipeline::message::process(
                    &engine,
                    &store,
                    &audit,
                    &mugai::audit::Origin::cli(),
                    &bytes[..],
                    &envelope,
                )
                .map(|p| p.rebuilt.text.len())
            })
        });
    }
    group.finish();
}

/// The XML filter on the big parts of Word's default template (python-docx's copy, in the
/// corpus that `tests/corpus/fetch.sh` fetches): MB/s of the filter beside two floors — one
/// pass of quick-xml's reader over the same bytes doing nothing with the events, and a
/// byte comparison (what a part found unchanged costs at the least) — and the whole rebuild
/// of the template.
fn office(c: &mut Criterion) {
    use mugai::cdr::xml_filter::{filter_into, PartFlavor, RelIds, XmlLimits};
    use mugai::config::Hyperlinks;
    use std::io::Read;
    let Some(docx) = read("target/corpus/python-docx/src__docx__templates__default.docx") else {
        return;
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&docx[..])).expect("template");
    let mut part = |name: &str| {
        let mut out = Vec::new();
        zip.by_name(name).expect("part").read_to_end(&mut out).expect("inflate");
        out
    };
    let parts = [
        ("word/styles.xml", part("word/styles.xml")),
        ("word/stylesWithEffects.xml", part("word/stylesWithEffects.xml")),
    ];
    let mut group = c.benchmark_group("office");
    for (name, xml) in &parts {
        group.throughput(Throughput::Bytes(xml.len() as u64));
        let rels = RelIds::default();
        let limits = XmlLimits { max_depth: 256 };
        group.bench_function(format!("filter {name}"), |b| {
            b.iter(|| {
                filter_into(xml, PartFlavor::Word, &rels, Hyperlinks::Text, limits, std::io::sink())
                    .map(|(_, f)| f.len())
            })
        });
        group.bench_function(format!("quick-xml reader only {name}"), |b| {
            b.iter(|| {
                let mut r = quick_xml::Reader::from_reader(&xml[..]);
                let mut n = 0usize;
                loop {
                    match r.read_event() {
                        Ok(quick_xml::events::Event::Eof) | Err(_) => break n,
                        Ok(_) => n += 1,
                    }
                }
            })
        });
        let copy = xml.clone();
        group.bench_function(format!("compare only {name}"), |b| b.iter(|| copy == *xml));
    }
    group.throughput(Throughput::Bytes(docx.len() as u64));
    let engine = Engine::new(Config::default());
    group.bench_function("rebuild default.docx", |b| b.iter(|| engine.run(&docx, None)));
    group.finish();
}

/// The attachments of `benches/smtp_load.py`'s `office` profile through the engine
/// in-process, when they are in `target/office/` (`target/bench-venv/bin/python
/// benches/office_profile.py target/office`); the whole message is in the `mail` group.
fn office_profile(c: &mut Criterion) {
    let engine = mugai::pipeline::Loaded::new(Config::default());
    let mut group = c.benchmark_group("office_profile");
    for name in ["memo.docx", "budget.xlsx", "report.pdf"] {
        let Some(bytes) = read(&format!("target/office/{name}")) else {
            continue;
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| engine.engine.run(&bytes, Some(name))));
    }
    group.finish();
}

criterion_group!(benches, pdf, detect, mail, office, office_profile);
criterion_main!(benches);
