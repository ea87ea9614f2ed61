#!/usr/bin/env python3
"""Load on the HTTP API: `wrk` POSTing a 1 MB PDF to /v1/sanitize, beside the CLI's files/s on
the same file, in one run.

    python3 benches/http_load.py [--mugai PATH] [--seconds 20] [--connections 8] [--rounds 3]

The PDF is a scanned-style document (twenty pages of incompressible image data, made by
fixtures/gen/mail_fixtures.py --pdf). The server is `mugai serve` with the embedded defaults
(engine.workers = 2 on this 2-core machine) and one submit key; every request is sanitized,
its report stored in the ledger, and the clean file sent back. wrk (2 threads, N
connections, `--latency`) reports requests/s and p99; non-2xx answers are counted and must be
zero.

Two comparisons, each with CLI and server runs alternating --rounds times (medians reported;
the ratio is the median of each round's server/CLI ratio, as this machine's speed drifts):

- equal CPU (the target's measure): mugai gets core 0 alone in both runs (`taskset -c 0`),
  the CLI as one `mugai sanitize` process over 80 copies of the file in one invocation
  (process start amortised), the server with `wrk -t1` pinned to core 1. wrk's own CPU (it
  sends and receives a megabyte per request) would otherwise be charged to the server.
- CPU per file: the CLI processes' user + system time (getrusage of children) per file, and
  the server process's (from /proc/PID/stat, over the wrk run) per request; their ratio says
  how much more CPU the HTTP path spends on a file, whatever else shares the machine.
- whole machine: no pinning; two CLI processes (one per core) over 40 copies each, against
  the server with `wrk -t2` sharing the same two cores.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from netutil import free_port, wait_port  # noqa: E402
KEY = "mk_http_load_benchmark_key"


def cli_files_per_second(mugai, pdf, work, copies=40, procs=2, pin=()):
    """`procs` CLI processes, each sanitizing `copies` copies of the file; files/s overall."""
    batches = []
    for p in range(procs):
        d = os.path.join(work, "cli%d" % p)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "in"))
        os.makedirs(os.path.join(d, "out"))
        for i in range(copies):
            os.link(pdf, os.path.join(d, "in", "scan%03d.pdf" % i))
        batches.append(d)
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    running = [
        subprocess.Popen(list(pin) + [mugai, "sanitize", "-d", os.path.join(d, "out")]
                         + sorted(os.path.join(d, "in", f) for f in os.listdir(os.path.join(d, "in"))),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for d in batches
    ]
    for r in running:
        if r.wait() != 0:
            sys.exit("mugai sanitize failed")
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for d in batches:
        if len(os.listdir(os.path.join(d, "out"))) < copies:
            sys.exit("the CLI did not write every output")
    return procs * copies / elapsed, cpu / (procs * copies)


def process_cpu(pid):
    """CPU seconds (user + system) a running process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_run(mugai, pdf, work, seconds, connections, pin_server=(), pin_wrk=(), threads=2):
    """Start mugai serve, run wrk against it, stop it; (requests/s, p99 ms, non-2xx, server CPU
    seconds per request)."""
    http, smtp = free_port(), free_port()
    data = os.path.join(work, "data")
    shutil.rmtree(data, ignore_errors=True)
    import hashlib
    config = os.path.join(work, "mugai.toml")
    with open(config, "w") as f:
        f.write('[serve]\ndata_dir = "%s"\nhttp_listen = "127.0.0.1:%d"\nsmtp_listen = "127.0.0.1:%d"\n'
                '[audit]\nlog = "%s"\n[http]\napi_keys = [{ name = "load", sha256 = "%s", roles = ["submit"] }]\n'
                % (data, http, smtp, os.path.join(work, "audit.jsonl"), hashlib.sha256(KEY.encode()).hexdigest()))
    lua = os.path.join(work, "post.lua")
    with open(lua, "w") as f:
        f.write('local f = assert(io.open("%s", "rb"))\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["Content-Type"] = "application/pdf"\n'
                'wrk.headers["Content-Disposition"] = \'attachment; filename="scan.pdf"\'\n'
                'wrk.headers["Authorization"] = "Bearer %s"\n' % (pdf, KEY))
    server = subprocess.Popen(list(pin_server) + [mugai, "-c", config, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(http)
        cpu_before = process_cpu(server.pid)
        out = subprocess.run(list(pin_wrk) + ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency", "--timeout", "30s",
                              "-s", lua, "http://127.0.0.1:%d/v1/sanitize" % http],
                             capture_output=True, text=True, check=True).stdout
        cpu = process_cpu(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, float(p99.group(1)) * scale, int(non2xx.group(1)) if non2xx else 0, cpu / max(requests, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mugai", help="mugai binary (default: cargo build --release)")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    mugai = args.mugai
    if not mugai:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        mugai = os.path.join(ROOT, "target", "release", "mugai")
    with tempfile.TemporaryDirectory() as work:
        pdf = os.path.join(work, "scan1m.pdf")
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "gen", "mail_fixtures.py"), "--pdf",
                        str(1024 * 1024), pdf], check=True)
        size = os.path.getsize(pdf)
        setups = [
            ("equal CPU: mugai on core 0, wrk -t1 on core 1",
             dict(copies=80, procs=1, pin=("taskset", "-c", "0")),
             dict(pin_server=("taskset", "-c", "0"), pin_wrk=("taskset", "-c", "1"), threads=1)),
            ("whole machine: 2 CLI processes; server with wrk -t2 on the same 2 cores",
             dict(copies=40, procs=2), dict(threads=2)),
        ]
        if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
            setups = setups[1:]
        rows = []
        for label, cli_opts, srv_opts in setups:
            cli, srv, p99s, ratios, cpu_ratios = [], [], [], [], []
            for r in range(args.rounds):
                c, c_cpu = cli_files_per_second(mugai, pdf, work, **cli_opts)
                s, p99, bad, s_cpu = server_run(mugai, pdf, work, args.seconds, args.connections, **srv_opts)
                if bad:
                    sys.exit("%d non-2xx answers in round %d" % (bad, r + 1))
                cli.append(c)
                srv.append(s)
                p99s.append(p99)
                ratios.append(s / c)
                cpu_ratios.append(c_cpu / s_cpu)
                print("%s, round %d: CLI %.1f files/s (%.2f ms CPU each), server %.1f req/s (p99 %.0f ms, "
                      "%.2f ms CPU each), ratio %.2f, CPU ratio %.2f"
                      % (label, r + 1, c, c_cpu * 1000, s, p99, s_cpu * 1000, s / c, c_cpu / s_cpu), flush=True)
            rows.append((label, statistics.median(cli), statistics.median(srv), statistics.median(p99s),
                         statistics.median(ratios), statistics.median(cpu_ratios)))
        print()
        print("%.2f MB scanned-style PDF, wrk %d connections, %d s per run, %d rounds"
              % (size / 1048576, args.connections, args.seconds, args.rounds))
        print()
        print("| setup | CLI files/s | server req/s | server p99 | server / CLI | CPU per file, CLI / server |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, c, s, p99, ratio, cpu_ratio in rows:
            print("| %s | %.1f | %.1f | %.0f ms | %.2f | %.2f |" % (label, c, s, p99, ratio, cpu_ratio))

if __name__ == "__main__":
    main()
