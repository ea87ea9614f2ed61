#!/usr/bin/env python3
"""Benchmark the mail pipeline: `mugai mail IN -o OUT` on every fixture mail and on a
generated mail with a 20 MB PDF attachment, beside a reference that does no disarming —
Python's `email` package parsing the same message and writing it out again — in one run.

    python3 benches/mail_bench.py [--runs N] [--mugai PATH]

For each message: the median wall time of N runs of each (process start to exit, as an
operator running `mugai mail` would; mugai also stores the original and every attachment
with fsync and writes its ledger row and audit lines), messages per second, and each one's
peak RSS (wait4). For the 20 MB mail, the peak RSS beside the attachment's size.
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = """
import email, email.policy, sys
with open(sys.argv[1], 'rb') as f:
    m = email.message_from_binary_file(f, policy=email.policy.default)
for p in m.walk():
    p.get_payload(decode=True)
with open(sys.argv[2], 'wb') as f:
    f.write(m.as_bytes())
"""


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("command failed (exit %d): %s" % (code, " ".join(cmd)))
    return took, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mugai", default=None)
    args = ap.parse_args()
    mugai = args.mugai
    if mugai is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        mugai = os.path.join(ROOT, "target", "release", "mugai")

    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "mugai.toml")
        with open(config, "w") as f:
            f.write('[serve]\ndata_dir = "%s"\n[audit]\nlog = "%s"\n' % (os.path.join(tmp, "data"), os.path.join(tmp, "audit.jsonl")))
        big = os.path.join(tmp, "attachment_20mb.eml")
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "gen", "mail_fixtures.py"), "--big", big], check=True)
        mails = sorted(glob.glob(os.path.join(ROOT, "fixtures", "mail", "*.eml"))) + [big]
        out = os.path.join(tmp, "out.eml")
        ref = [sys.executable, "-c", REFERENCE]
        print("%-22s %9s %11s %10s %11s %10s %8s" % ("message", "size", "mugai ms", "mugai RSS", "python ms", "py RSS", "ratio"))
        total_mugai = total_ref = 0.0
        small = []
        for path in mails:
            times_m, times_r, rss_m, rss_r = [], [], 0, 0
            for _ in range(args.runs):
                t, r = run([mugai, "-c", config, "mail", path, "-o", out])
                times_m.append(t)
                rss_m = max(rss_m, r)
                t, r = run(ref + [path, out])
                times_r.append(t)
                rss_r = max(rss_r, r)
            tm, tr = statistics.median(times_m), statistics.median(times_r)
            name = os.path.basename(path)
            print("%-22s %8.1fK %11.1f %9.1fM %11.1f %9.1fM %7.2fx" % (
                name, os.path.getsize(path) / 1024, tm * 1000, rss_m / 1e6, tr * 1000, rss_r / 1e6, tr / tm))
            if path != big:
                total_mugai += tm
                total_ref += tr
                small.append(rss_m)
            else:
                big_rss, big_time = rss_m, tm
        n = len(mails) - 1
        print()
        print("fixture set (%d messages): mugai %.1f messages/s, python reparse %.1f messages/s, ratio %.2fx; "
              "mugai peak RSS %.1f MB" % (n, n / total_mugai, n / total_ref, total_ref / total_mugai, max(small) / 1e6))
        att = 20980892
        print("20 MB attachment: %.2f s, peak RSS %.1f MB = %.2fx the attachment (%.2fx over the smallest run)" % (
            big_time, big_rss / 1e6, big_rss / att, (big_rss - min(small)) / att))


if __name__ == "__main__":
    main()
