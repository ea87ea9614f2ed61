//! Archives cost their budget, never memory, through the real CLI: a 1 GiB-of-zeros zip bomb
//! and the same bomb ten ZIPs deep are refused in under a second with a small peak RSS, and
//! a 10,000-entry archive within the limits is processed with memory that follows the archive's
//! compressed size and its largest entry, not its 80 MB of content.
//!
//! Own test binary with one test on purpose: the peak RSS is read with
//! `getrusage(RUSAGE_CHILDREN)`, which is the largest of all children so far.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::children_peak_rss_bytes;

/// Run `mugai sanitize` on the file at `input`; (exit code, report, seconds).
fn sanitize_file(input: &Path) -> (Option<i32>, serde_json::Value, f64) {
    let out = input.with_extension("out.zip");
    let started = Instant::now();
    let result = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args([
            "sanitize",
            input.to_str().expect("path"),
            "-o",
            out.to_str().expect("path"),
        ])
        .output()
        .expect("run mugai");
    let took = started.elapsed().as_secs_f64();
    let report = serde_json::from_slice(&result.stdout).expect("report JSON");
    (result.status.code(), report, took)
}

#[test]
fn bombs_are_refused_small_and_many_entries_cost_no_more_than_their_archive() {
    let dir = tempfile::tempdir().expect("tempdir");

    // 1 GiB of zeros, deflated by streaming (about 1 MB), then the same ten ZIPs deep.
    let bomb = common::zero_bomb(1 << 30);
    let nested = common::nest_in_zips(bomb.clone(), 10);
    for (name, bytes) in [("bomb.zip", &bomb), ("nested-bomb.zip", &nested)] {
        let (code, report, took) = sanitize_file(&common::write_temp(dir.path(), name, bytes));
        assert_eq!(code, Some(3), "{name}: {report}");
        assert_eq!(report["reason"], "limit_exceeded", "{name}");
        let peak = children_peak_rss_bytes();
        eprintln!(
            "{name} ({} bytes): refused in {took:.3} s, peak RSS so far {} MB",
            bytes.len(),
            peak / 1_000_000
        );
        assert!(took < 1.0, "{name}: {took} s");
        assert!(peak < 100 << 20, "{name}: peak RSS {peak}");
    }

    // 10,000 entries of 8 KiB of varied text each: 80 MB of content.
    let entries = (0..10_000).map(|i| {
        let mut text = String::with_capacity(8192);
        let mut n = i as u64 * 2_654_435_761 + 1;
        while text.len() < 8192 - 32 {
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            text.push_str(&format!("{:016x} 会議資料\n", n >> 8));
        }
        (format!("dir{}/file{i:05}.txt", i % 50), text.into_bytes())
    });
    // Written straight to disk: the test process itself stays small, because a child's peak
    // RSS as the kernel reports it starts from the parent's at the time of the spawn.
    let many_path = dir.path().join("many.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&many_path).expect("create"));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(name, opts).expect("start");
        zip.write_all(&data).expect("write");
    }
    zip.finish().expect("finish");
    let zipped = std::fs::metadata(&many_path).expect("size").len();
    let (code, report, took) = sanitize_file(&many_path);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["outcome"], "clean");
    let peak = children_peak_rss_bytes();
    let content = 10_000u64 * 8192;
    eprintln!(
        "10,000 entries ({} MB zipped, {} MB of content): {took:.2} s, peak RSS {} MB",
        zipped / 1_000_000,
        content / 1_000_000,
        peak / 1_000_000
    );
    // Input and output archives are held (each about the zipped size), one entry at a time
    // besides: far below the content, which is never all in memory.
    let bound = 2 * zipped + (32 << 20);
    assert!(peak < bound && peak < content, "peak RSS {peak}, bound {bound}");
}
