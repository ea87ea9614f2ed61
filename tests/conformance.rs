//! The conformance suite, run against every registered sanitizer with every fixture of its
//! kinds: hostile variants never panic or hang, output is deterministic, sanitizing an output
//! again is `clean` and byte-identical, and the output is detected as the same kind.
//!
//! A new sanitizer joins this suite by registering in `Engine::new` and checking in fixtures;
//! the test fails if a sanitizer has no fixture.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mugai::cdr::detect::detect;
use mugai::{Config, Engine, FileKind, Outcome};

/// Variants per fixture: half truncations, half bit flips.
const VARIANTS: usize = 520;

/// A small deterministic generator (xorshift), so failures are reproducible from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn engine() -> Engine {
    // HTML is blocked by default; converting it is what its sanitizer does, so test that.
    let mut config = Config::from_toml("[policy.kinds]\nhtml = \"sanitize\"\n").expect("config");
    // A tight deadline makes "never hangs" observable in test time.
    config.limits.timeout = Duration::from_secs(5);
    Engine::new(config)
}

/// Fixtures grouped by the kind detected from their content.
fn fixtures_by_kind() -> Vec<(FileKind, std::path::PathBuf, Vec<u8>)> {
    all_fixture_files()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read fixture");
            (detect(&bytes), p, bytes)
        })
        .collect()
}

/// The inputs a sanitizer should produce output for (the fixtures it does not refuse).
fn sanitizable(engine: &Engine, kinds: &[FileKind]) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fixtures_by_kind()
        .into_iter()
        .filter(|(k, _, _)| kinds.contains(k))
        .map(|(_, p, b)| (p, b))
        .filter(|(_, b)| engine.run(b, None).output.is_some())
        .collect()
}

#[test]
fn every_sanitizer_has_fixtures() {
    let engine = engine();
    for s in engine.sanitizers() {
        let n = sanitizable(&engine, s.kinds()).len();
        assert!(n >= 1, "sanitizer for {:?} has no fixture it accepts", s.kinds());
    }
}

#[test]
fn hostile_variants_never_panic_or_hang() {
    let engine = engine();
    let deadline = engine.config.limits.timeout + Duration::from_secs(1);
    let mut checked = 0usize;
    for s in engine.sanitizers() {
        for (path, bytes) in fixtures_by_kind()
            .into_iter()
            .filter(|(k, _, _)| s.kinds().contains(k))
            .map(|(_, p, b)| (p, b))
        {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64);
            for i in 0..VARIANTS {
                let variant = if i % 2 == 0 {
                    // Truncations spread over the whole file, the last few bytes included.
                    let cut = (bytes.len() * (i / 2)) / (VARIANTS / 2);
                    bytes[..cut.min(bytes.len().saturating_sub(1))].to_vec()
                } else {
                    let mut v = bytes.clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(v.len());
                        v[at] ^= 1 << rng.below(8);
                    }
                    v
                };
                let started = Instant::now();
                let p = engine.run(&variant, None);
                let took = started.elapsed();
                assert!(
                    !(p.report.outcome == Outcome::Error && p.report.reason.as_deref() == Some("internal")),
                    "{} variant {i}: internal error {:?}",
                    path.display(),
                    p.report.reason_detail
                );
                assert!(took <= deadline, "{} variant {i}: took {took:?}", path.display());
                assert_eq!(p.output.is_some(), p.report.outcome.has_output());
                checked += 1;
            }
        }
    }
    assert!(checked >= VARIANTS, "no variants were run");
}

#[test]
fn outputs_are_deterministic_idempotent_and_the_same_kind() {
    let engine = engine();
    for s in engine.sanitizers() {
        for (path, bytes) in sanitizable(&engine, s.kinds()) {
            let first = engine.run(&bytes, None);
            let second = engine.run(&bytes, None);
            let out = first.output.as_deref().expect("output");
            assert_eq!(
                Some(out),
                second.output.as_deref(),
                "{}: not deterministic",
                path.display()
            );
            assert_eq!(first.report.findings, second.report.findings, "{}", path.display());

            let again = engine.run(out, None);
            assert_eq!(
                again.report.outcome,
                Outcome::Clean,
                "{}: second pass found {:?}",
                path.display(),
                again.report.findings
            );
            assert_eq!(
                again.output.as_deref(),
                Some(out),
                "{}: second pass changed the bytes",
                path.display()
            );

            let out_kind = first.report.output.as_ref().map(|o| o.kind).expect("output kind");
            assert_eq!(
                detect(out),
                out_kind,
                "{}: output not detected as {out_kind}",
                path.display()
            );
            assert!(s.kinds().contains(&out_kind) || out_kind != first.report.detected_kind);
        }
    }
}
