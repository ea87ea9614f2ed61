//! Decompression bombs cost their budget, never memory: a PDF whose page content inflates to
//! 1 GiB of zeros (built here by streaming, so the test itself stays small) is refused by the
//! real CLI under `limits.max_decompressed_bytes`, fast and with a small peak RSS.
//!
//! Own test binary on purpose: the peak RSS is read with `getrusage(RUSAGE_CHILDREN)`, which
//! must not see the judges other tests spawn.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Write a 2-page PDF whose first page content stream is `zeros` bytes of zeros, deflated.
fn write_bomb(path: &Path, zeros: u64) -> u64 {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    common::write_zeros(&mut z, zeros);
    let data = z.finish().expect("deflate");

    let mut stream = format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", data.len()).into_bytes();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(b"\nendstream");
    let out = common::pdf_from_objects(&[
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        &stream,
    ]);
    std::fs::write(path, &out).expect("write bomb");
    data.len() as u64
}

#[test]
fn a_one_gib_flate_bomb_is_refused_fast_and_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("bomb.pdf");
    let compressed = write_bomb(&bomb, 1 << 30);
    assert!(compressed < 4 << 20, "the bomb should be small on disk: {compressed}");
    let out = dir.path().join("out.pdf");

    let started = Instant::now();
    let result = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args([
            "sanitize",
            bomb.to_str().expect("path"),
            "-o",
            out.to_str().expect("path"),
        ])
        .output()
        .expect("run mugai");
    let took = started.elapsed();
    let peak = common::children_peak_rss_bytes();

    assert_eq!(
        result.status.code(),
        Some(3),
        "blocked exit code; stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&result.stdout).expect("report JSON");
    assert_eq!(report["outcome"], "blocked");
    assert_eq!(report["reason"], "limit_exceeded");
    assert!(
        report["reason_detail"]
            .as_str()
            .unwrap_or_default()
            .contains("limits.max_decompressed_bytes"),
        "{report}"
    );
    assert!(!out.exists(), "no output for a refused file");
    eprintln!(
        "1 GiB bomb ({compressed} bytes on disk): refused in {took:?}, peak RSS {} MB",
        peak / 1_000_000
    );
    assert!(took.as_secs_f64() < 1.0, "took {took:?}");
    assert!(peak < 100 * 1024 * 1024, "peak RSS {peak} bytes");
}
