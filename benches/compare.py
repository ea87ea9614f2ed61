#!/usr/bin/env python3
"""Run mugai and a reference tool on the same inputs, in one run, and print the ratio.

    python3 benches/compare.py [--runs N] [--mugai PATH] [--corpus DIR]

PDF: `mugai sanitize IN -o OUT` (full disarm and rebuild) against
`qpdf --stream-data=preserve IN OUT` (a plain rewrite, no disarming) on the generated corpus
(small, 150-page image-heavy, 1,000-page object-heavy; made by fixtures/gen/pdf_fixtures.py
--bench when missing). For each file: the median wall time of N runs of each tool, the
throughput (input MB/s), the ratio mugai/qpdf (>1 means mugai is faster), and each tool's
peak RSS (from wait4), with the target RSS bound 3 x input + 32 MB.

Office: `mugai sanitize` of a multi-MB docx and xlsx (full disarm: parse every part, filter
every XML part, deflate again the parts that changed and copy the others' streams) against
`unzip -q` + `zip -q -r -6` of the same file (a plain repack). The target there is mugai's
time <= 0.5 x the repack's.

Archives: `mugai sanitize` of a ~20 MB ZIP of mixed documents (docx, xlsx, PDFs, pictures,
CSV; assembled here from the corpus and the fixtures as `mixed20.zip`) against the same
`unzip -q` + `zip -q -r -6` repack. The target is mugai's time <= 1.0 x the repack's
(entries are rebuilt side by side on the machine's cores).

Each run is one process start to exit, as a user or a mail filter would run it. Build mugai
with `cargo build --release` first (the script does it when --mugai is not given).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    """Run `cmd`; return (seconds, peak RSS bytes, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return took, usage.ru_maxrss * 1024, proc.returncode


def measure_pair(cmd_a, cmd_b, runs):
    """Median time and peak RSS of each command, runs interleaved (a, b, a, b, ...) so that a
    drift in machine speed during the measurement hits both alike."""
    stats = {0: ([], 0), 1: ([], 0)}
    for _ in range(runs):
        for i, cmd in enumerate((cmd_a, cmd_b)):
            took, rss, code = run(cmd)
            if code != 0:
                sys.exit("command failed (exit %d): %s" % (code, " ".join(cmd)))
            times, peak = stats[i]
            times.append(took)
            stats[i] = (times, max(peak, rss))
    return [(statistics.median(stats[i][0]), stats[i][1]) for i in (0, 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mugai", default=None)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "bench-corpus"))
    args = ap.parse_args()

    mugai = args.mugai
    if mugai is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        mugai = os.path.join(ROOT, "target", "release", "mugai")
    files = ["small.pdf", "images_150p.pdf", "objects_1000p.pdf"]
    if not all(os.path.exists(os.path.join(args.corpus, f)) for f in files):
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "gen", "pdf_fixtures.py"), "--bench", args.corpus],
                       check=True)

    print("runs per tool: %d, interleaved (median wall time, process start to exit)" % args.runs)
    header = "%-20s %9s %11s %11s %9s %9s %7s %10s %10s %9s" % (
        "file", "size MB", "mugai s", "qpdf s", "mugai MB/s", "qpdf MB/s", "ratio", "mugai RSS", "qpdf RSS", "RSS bound")
    print(header)
    print("-" * len(header))
    worst_ratio, rss_ok = None, True
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            src = os.path.join(args.corpus, name)
            size = os.path.getsize(src)
            out_m, out_q = os.path.join(tmp, "m.pdf"), os.path.join(tmp, "q.pdf")
            # One untimed run of each warms the page cache equally.
            run([mugai, "sanitize", src, "-o", out_m])
            run(["qpdf", "--stream-data=preserve", src, out_q])
            (tm, rm), (tq, rq) = measure_pair([mugai, "sanitize", src, "-o", out_m],
                                              ["qpdf", "--stream-data=preserve", src, out_q], args.runs)
            mb = size / 1e6
            ratio = tq / tm
            bound = 3 * size + 32 * 1024 * 1024
            rss_ok &= rm <= bound
            worst_ratio = ratio if worst_ratio is None else min(worst_ratio, ratio)
            print("%-20s %9.2f %11.4f %11.4f %9.1f %9.1f %6.2fx %8.1fMB %8.1fMB %7.1fMB" % (
                name, mb, tm, tq, mb / tm, mb / tq, ratio, rm / 1e6, rq / 1e6, bound / 1e6))
    print()
    print("throughput ratio mugai/qpdf, worst file: %.2fx (target >= 1.5x)" % worst_ratio)
    print("mugai peak RSS within 3 x input + 32 MB on every file: %s" % ("yes" if rss_ok else "NO"))

    office = ["big.docx", "big.xlsx"]
    if not all(os.path.exists(os.path.join(args.corpus, f)) for f in office):
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "gen", "ooxml_fixtures.py"), "--bench", args.corpus],
                       check=True)
    print()
    header = "%-12s %8s %10s %12s %12s %9s" % ("file", "size MB", "mugai s", "repack s", "mugai/repack", "mugai RSS")
    print(header)
    print("-" * len(header))
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in office:
            src = os.path.join(args.corpus, name)
            out_m = os.path.join(tmp, "m-" + name)
            repack = os.path.join(tmp, "repack.sh")
            with open(repack, "w") as fh:
                fh.write('set -e; d=$(mktemp -d); unzip -q "$1" -d "$d"; (cd "$d" && zip -q -r -6 "$2" .); rm -rf "$d" "$2"\n')
            cmd_m = [mugai, "sanitize", src, "-o", out_m]
            cmd_r = ["sh", repack, src, os.path.join(tmp, "r-" + name)]
            run(cmd_m)
            run(cmd_r)
            (tm, rm), (tr, _) = measure_pair(cmd_m, cmd_r, args.runs)
            worst = max(worst, tm / tr)
            print("%-12s %8.2f %10.4f %12.4f %11.2fx %7.1fMB" % (name, os.path.getsize(src) / 1e6, tm, tr, tm / tr, rm / 1e6))
    print()
    print("OOXML: mugai time / repack time, worst file: %.2fx (target <= 0.5x)" % worst)

    zip_path = os.path.join(args.corpus, "mixed20.zip")
    if not os.path.exists(zip_path):
        build_mixed_zip(args.corpus, zip_path)
    print()
    with tempfile.TemporaryDirectory() as tmp:
        repack = os.path.join(tmp, "repack.sh")
        with open(repack, "w") as fh:
            fh.write('set -e; d=$(mktemp -d); unzip -q "$1" -d "$d"; (cd "$d" && zip -q -r -6 "$2" .); rm -rf "$d" "$2"\n')
        cmd_m = [mugai, "sanitize", zip_path, "-o", os.path.join(tmp, "m.zip")]
        cmd_r = ["sh", repack, zip_path, os.path.join(tmp, "r.zip")]
        run(cmd_m)
        run(cmd_r)
        (tm, rm), (tr, _) = measure_pair(cmd_m, cmd_r, args.runs)
        print(header.replace("file        ", "archive     "))
        print("-" * len(header))
        print("%-12s %8.2f %10.4f %12.4f %11.2fx %7.1fMB" % ("mixed20.zip", os.path.getsize(zip_path) / 1e6, tm, tr, tm / tr, rm / 1e6))
    print()
    print("ZIP of mixed documents: mugai (disarms every entry) / repack: %.2fx (target <= 1.0x)" % (tm / tr))


def build_mixed_zip(corpus, path):
    """About 20 MB of what mail brings: Office files, PDFs, pictures and CSV, some twice."""
    import zipfile
    fixtures = os.path.join(ROOT, "fixtures")
    entries = []
    for copy in range(4):
        for name in ("big.docx", "big.xlsx"):
            entries.append(("copy%d/%s" % (copy, name), os.path.join(corpus, name)))
    for copy in range(3):
        entries.append(("copy%d/objects_1000p.pdf" % copy, os.path.join(corpus, "objects_1000p.pdf")))
    for sub in ("pdf", "image", "ooxml"):
        for name in sorted(os.listdir(os.path.join(fixtures, sub))):
            if "bomb" not in name and not name.startswith("encrypted"):
                entries.append(("%s/%s" % (sub, name), os.path.join(fixtures, sub, name)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, src in entries:
            z.write(src, arc)
        rows = "".join("%d,会議費,%d,2026-11-%02d\r\n" % (i, i * 37 % 100000, i % 28 + 1) for i in range(60000))
        for i in range(3):
            z.writestr("csv/ledger%d.csv" % i, rows.encode("cp932"))


if __name__ == "__main__":
    main()
