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
    for rel in ["fixtures/mail/alternative.eml", "fixtures/mail/japanese_html.eml"] {
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

criterion_group!(benches, pdf, detect, mail);
criterion_main!(benches);
