#!/usr/bin/env python3
"""Memory of the HTTP API under many large uploads at once: peak RSS of `mugai serve` while
N clients each send a large file slowly (so every body is in flight together), for several
values of http.body_memory_bytes, in one run.

    python3 benches/http_memory.py [--mugai PATH] [--clients 24] [--mb 40]

Each client sends its body in 1 MiB pieces with a short pause between them (Content-Length
known). The file is random bytes named .bin, which the engine refuses at once (422), so the
figure is the memory that holding request bodies costs, not the engine's working set. Peak
RSS is VmHWM from /proc/PID/status after every answer is in. 1 TiB of body memory is the
behaviour before spooling (every body in memory).
"""

import argparse
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from netutil import free_port, wait_port  # noqa: E402
KEY = "mk_http_memory_benchmark_key"


def upload(port, body, statuses):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.putrequest("POST", "/v1/sanitize")
    c.putheader("Authorization", "Bearer " + KEY)
    c.putheader("Content-Disposition", 'attachment; filename="big.bin"')
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    step = 1 << 20
    for i in range(0, len(body), step):
        c.send(body[i:i + step])
        time.sleep(0.05)
    statuses.append(c.getresponse().status)
    c.close()


def peak_rss_mb(mugai, work, budget, clients, body):
    http_port, smtp_port = free_port(), free_port()
    data = os.path.join(work, "data")
    shutil.rmtree(data, ignore_errors=True)
    config = os.path.join(work, "mugai.toml")
    with open(config, "w") as f:
        f.write('[serve]\ndata_dir = "%s"\nhttp_listen = "127.0.0.1:%d"\nsmtp_listen = "127.0.0.1:%d"\n'
                '[audit]\nlog = "%s"\n[http]\nmax_queued = 1000\nbody_memory_bytes = %d\n'
                'api_keys = [{ name = "mem", sha256 = "%s", roles = ["submit"] }]\n'
                % (data, http_port, smtp_port, os.path.join(work, "audit.jsonl"), budget,
                   hashlib.sha256(KEY.encode()).hexdigest()))
    server = subprocess.Popen([mugai, "-c", config, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(http_port)
        statuses = []
        threads = [threading.Thread(target=upload, args=(http_port, body, statuses)) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        with open("/proc/%d/status" % server.pid) as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    finally:
        server.terminate()
        server.wait()
    if statuses.count(422) != clients:
        sys.exit("expected %d answers of 422, got %s" % (clients, sorted(statuses)))
    return hwm / 1024, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mugai", help="mugai binary (default: cargo build --release)")
    ap.add_argument("--clients", type=int, default=24)
    ap.add_argument("--mb", type=int, default=40)
    args = ap.parse_args()
    mugai = args.mugai
    if not mugai:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        mugai = os.path.join(ROOT, "target", "release", "mugai")
    body = os.urandom(args.mb << 20)
    print("%d clients x %d MiB at once (%d MiB of bodies)\n" % (args.clients, args.mb, args.clients * args.mb))
    print("| http.body_memory_bytes | peak RSS | all answered in |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for label, budget in [("1 TiB (no spooling)", 1 << 40), ("256 MiB (default)", 256 << 20), ("32 MiB", 32 << 20)]:
            rss, elapsed = peak_rss_mb(mugai, work, budget, args.clients, body)
            print("| %s | %.0f MB | %.1f s |" % (label, rss, elapsed), flush=True)


if __name__ == "__main__":
    main()
