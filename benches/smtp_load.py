#!/usr/bin/env python3
"""Load on the SMTP content filter: a client -> mugai serve -> smtp-sink, beside the same
client -> smtp-sink bare, in one script, for four mail profiles, with 20 concurrent sessions;
then 1,000 idle sessions held open against mugai.

    target/bench-venv/bin/python benches/smtp_load.py [--mugai PATH] [--scale 1.0]
        [--stores embedded,shared]

Needs smtp-source and smtp-sink (Debian's postfix package); the `office` profile needs
python-docx, openpyxl, reportlab and Pillow (benches/office_profile.py says how to install
them; without them it is skipped). Profiles:

- `text`: a 2 KB ISO-2022-JP text mail;
- `pdf100k`: a 100 KB scanned-style PDF (fixtures/gen/mail_fixtures.py's generator);
- `office1m`: a ~1 MB mail of two small fixtures (docx, xlsx) and a 750 KB scanned-style PDF;
- `office`: a ~1.4 MB mail as offices send it: a Word memo from Word's default template with
  a picture, a 170 KB spreadsheet and a 360 KB PDF report (benches/office_profile.py).

Each profile runs twice: `same`, one message sent over and over by smtp-source (the store
deduplicates it after the first), and `distinct`, every message unique (its attachments too,
benches/office_profile.py's `distinct`), sent by this script's own client, so that the
content-addressed store writes and fsyncs new blobs every time, as in real traffic. Like
Postfix's client, this one declares the message's size in MAIL FROM (`SIZE=`) to a server
that announces SIZE (mugai does; smtp-sink does not, so the bare runs send none). The bare
runs of a mode use the same client and the same messages as its mugai runs. Bare and mugai
runs alternate --rounds times; the medians are reported, and the ratio is the median of each
round's mugai-to-bare ratio. Then p50/p99 of the time from MAIL to the reply to the final dot
as seen by a client (20 threads, each sending messages one after another) direct to the sink
and through mugai, the difference (the latency mugai adds), and mugai's peak RSS (VmHWM, mugai
restarted per profile and mode). mugai stores every original and attachment with fsync and
writes ledger and audit rows for each message.

Deleting many files shortly before a run slows it: on an ext4 file system without a journal
(as on the machines these figures come from) a new file skips inodes freed in the last one to
six minutes, and looking past them cost a quarter of mugai's time in one run. Run it on a file
system that was left alone for a few minutes (the script itself deletes its data at the end).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
sys.path.insert(0, os.path.join(ROOT, "fixtures", "gen"))
from netutil import cpu_seconds, free_port, wait_port  # noqa: E402
import mail_fixtures as mf  # noqa: E402
import office_profile  # noqa: E402
from shared_store import SharedStore  # noqa: E402

# (profile, messages per round)
PROFILES = [("text", 3000), ("pdf100k", 600), ("office1m", 120), ("office", 200)]


def attachments_of(name):
    """The attachments of a profile as (file name, content type, bytes), or None when the
    profile cannot be made here."""
    import io
    if name == "text":
        return []
    if name in ("pdf100k", "office1m"):
        pdf = io.BytesIO()
        mf.scanned_pdf(pdf, 100 * 1024 if name == "pdf100k" else 750 * 1024)
        out = [("scan.pdf", "application/pdf", pdf.getvalue())]
        if name == "office1m":
            out += [("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     mf.read("ooxml/embedded_xlsm.docx")),
                    ("budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     mf.read("ooxml/clean.xlsx"))]
        return out
    try:
        return [(n, t, make()) for n, t, make in office_profile.ATTACHMENTS]
    except ImportError as e:
        print("%s: skipped (%s; see benches/office_profile.py)" % (name, e))
        return None


def mail(i, attachments, distinct):
    """Message `i` of a profile; with `distinct`, its Message-ID, text and attachments are
    its own."""
    text = ("本日の会議は15時からです。\r\n" * 40).encode("iso2022_jp")
    if distinct:
        text += ("整理番号 %06d\r\n" % i).encode("iso2022_jp")
    out = mf.headers(mf.jis_word("お知らせ"), "load-%06d" % (i if distinct else 0)) + b"MIME-Version: 1.0\r\n"
    body = mf.part(b"text/plain; charset=ISO-2022-JP", None, text, cte=b"7bit")
    if not attachments:
        return out + body
    out += b'Content-Type: multipart/mixed; boundary="==LOAD=="\r\n\r\n--==LOAD==\r\n' + body
    for name, ctype, data in attachments:
        if distinct:
            data = office_profile.distinct(name, data, i)
        out += (b"\r\n--==LOAD==\r\n" + mf.part(ctype.encode(), b'attachment; filename="' + name.encode() + b'"', data))
    return out + b"\r\n--==LOAD==--\r\n"


def blast(port, messages, sessions=20):
    """Send every message (dot-stuffed already) over `sessions` connections, each taking the
    next unsent one; messages per second."""
    lock = threading.Lock()
    todo = iter(messages)
    errors = []

    def worker():
        try:
            c = Client(port)
            c.cmd(b"EHLO load.example")
            while True:
                with lock:
                    data = next(todo, None)
                if data is None:
                    break
                c.send(data)
            c.cmd(b"QUIT")
        except Exception as e:  # reported below
            errors.append(e)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    if errors:
        sys.exit("load run failed: %r" % errors[0])
    return len(messages) / took


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.file = self.sock.makefile("rb")
        self.reply()

    # Whether the server announced SIZE (in its EHLO reply): as Postfix's client does, the
    # message's size is then declared in MAIL FROM.
    size = False

    def reply(self):
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("connection closed")
            if line[4:8].upper() == b"SIZE":
                self.size = True
            if line[3:4] != b"-":
                return int(line[:3])

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def send(self, data):
        start = time.perf_counter()
        size = b" SIZE=%d" % len(data) if self.size else b""
        assert self.cmd(b"MAIL FROM:<load@example.net>" + size) == 250
        assert self.cmd(b"RCPT TO:<tanaka@example.lg.jp>") == 250
        assert self.cmd(b"DATA") == 354
        self.sock.sendall(data)
        code = self.reply()
        if code != 250:
            raise RuntimeError("final reply %d" % code)
        return time.perf_counter() - start


def stuffed(message):
    out = []
    for line in message.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    body = b"\r\n".join(out)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def latencies(port, message, per_session, sessions=20):
    data = stuffed(message)
    times, errors = [], []

    def worker():
        try:
            c = Client(port)
            c.cmd(b"EHLO load.example")
            for _ in range(per_session):
                times.append(c.send(data))
            c.cmd(b"QUIT")
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("latency run failed: %r" % errors[0])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def source(port, lf_file, count):
    start = time.perf_counter()
    subprocess.run(["smtp-source", "-s", "20", "-m", str(count), "-F", lf_file, "-f", "load@example.net",
                    "-t", "tanaka@example.lg.jp", "127.0.0.1:%d" % port], check=True)
    return count / (time.perf_counter() - start)


EXTRA = ""


DATA_ROOT = None

# The shared store (PostgreSQL and S3) while a `shared` run is on, else None.
SHARED = None


def start_mugai(mugai, tmp, port, sink_port, name):
    data = os.path.join(DATA_ROOT or tmp, "data-" + name)
    config = os.path.join(tmp, name + ".toml")
    with open(config, "w") as f:
        f.write('[serve]\nsmtp_listen = "127.0.0.1:%d"\nnext_hop = "127.0.0.1:%d"\nhttp_listen = "127.0.0.1:%d"\n'
                'data_dir = "%s"\n[audit]\nlog = "%s"\n%s\n%s\n' % (port, sink_port, free_port(), data,
                                                              os.path.join(tmp, name + ".audit"), EXTRA,
                                                              SHARED.config() if SHARED else ""))
    proc = subprocess.Popen([mugai, "-c", config, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def run_profile(args, mugai, tmp, sink_port, name, mode, count, attachments, store="embedded"):
    """One profile in one mode: alternating bare and mugai rounds, then latencies."""
    if mode == "same":
        if name == "office":
            message = mail(0, attachments, False)
        else:
            eml = os.path.join(tmp, name + ".eml")
            mf.profile(name, eml)
            with open(eml, "rb") as f:
                message = f.read()
        lf = os.path.join(tmp, name + ".lf")
        with open(lf, "wb") as f:
            f.write(message.replace(b"\r\n", b"\n"))
    port = free_port()
    proc = start_mugai(mugai, tmp, port, sink_port, name + "-" + mode + "-" + store)
    before = SHARED.counters() if SHARED else None
    cpu_before = (cpu_seconds(proc.pid), SHARED.cpu() if SHARED else (0, 0))
    sent = 0
    try:
        # Alternating rounds, medians: this machine's speed drifts by 20 % from one run to
        # the next, and a single bare run decides the ratio.
        bares, throughs = [], []
        for r in range(max(1, args.rounds)):
            if mode == "same":
                bares.append(source(sink_port, lf, count))
                throughs.append(source(port, lf, count))
                sent += count
            else:
                # New messages every round (made before the clock starts): nothing repeats
                # within the run, so mugai's store never finds a blob it has.
                batch = [stuffed(mail(r * count + i, attachments, True)) for i in range(count)]
                message = batch[0]
                bares.append(blast(sink_port, batch))
                throughs.append(blast(port, batch))
                sent += count
                del batch
        bare, through = statistics.median(bares), statistics.median(throughs)
        # The ratio of each bare run to the mugai run right after it, then their median: a
        # slow or fast spell of the machine then cancels out.
        ratios = sorted(t / b for b, t in zip(bares, throughs))
        ratio = statistics.median(ratios)
        per = max(1, count // 40)
        if mode == "distinct":
            message = mail(10**6, attachments, True)
        b50, b99 = latencies(sink_port, message, per)
        m50, m99 = latencies(port, message, per)
        peak = status(proc.pid, "VmHWM")
        sent += per * 20
        # CPU per message: mugai's, and with the shared store the database's and the S3
        # server's, so a slower run says whose time it waited for.
        cpu = (cpu_seconds(proc.pid) - cpu_before[0]) / sent * 1000
        if before:
            after = SHARED.counters()
            db, s3 = SHARED.cpu()
            costs = "   per message: %.1f database transactions, %.1f S3 requests; CPU ms: mugai %.1f, " \
                    "PostgreSQL %.1f, S3 server %.1f" % (
                        (after[0] - before[0]) / sent, (after[1] - before[1]) / sent, cpu,
                        (db - cpu_before[1][0]) / sent * 1000, (s3 - cpu_before[1][1]) / sent * 1000)
        else:
            costs = "   CPU ms per message: mugai %.1f" % cpu
    finally:
        proc.terminate()
        proc.wait()
    name = name if store == "embedded" else name + "/" + store[:2]
    print("%-9s %-8s %6.0fK %11.1f %11.1f %6.0f%% %7.1f/%-7.1f %7.1f/%-7.1f %6.1f/%-6.1f %8.1fM   rounds: %s" % (
        name, mode, len(message) / 1024, bare, through, 100 * ratio, b50 * 1000, b99 * 1000,
        m50 * 1000, m99 * 1000, (m50 - b50) * 1000, (m99 - b99) * 1000, peak / 1e6,
        " ".join("%.0f%%" % (100 * r) for r in ratios)) + costs, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mugai", default=None)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    ap.add_argument("--config", default="", help="extra TOML for mugai (e.g. '[engine]\\nworkers = 4')")
    ap.add_argument("--only", default=None, help="run one profile")
    ap.add_argument("--data", default=None,
                    help="put mugai's data directories under DIR (a file system like production's: "
                         "this machine's root file system has no journal)")
    ap.add_argument("--stores", default="embedded",
                    help="comma-separated: embedded (files and SQLite), shared (a private PostgreSQL and "
                         "moto's S3 server); each profile runs on each, rows marked /sh for shared")
    ap.add_argument("--rounds", type=int, default=5,
                    help="bare and mugai runs alternate this many times; the medians are reported")
    args = ap.parse_args()
    global EXTRA, DATA_ROOT, SHARED
    EXTRA = args.config.replace("\\n", "\n")
    DATA_ROOT = tempfile.mkdtemp(dir=args.data) if args.data else None
    mugai = args.mugai
    if mugai is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        mugai = os.path.join(ROOT, "target", "release", "mugai")
    with tempfile.TemporaryDirectory() as tmp:
        sink_port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen(["smtp-sink"] + user + ["127.0.0.1:%d" % sink_port, "1024"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(sink_port)
        try:
            print("%-9s %-8s %7s %11s %11s %7s %15s %15s %13s %9s" % (
                "profile", "mode", "size", "bare msg/s", "mugai msg/s", "ratio", "bare p50/p99", "mugai p50/p99",
                "added p50/p99", "peak RSS"))
            for name, count in PROFILES:
                if args.only and name != args.only:
                    continue
                count = max(20, int(count * args.scale))
                attachments = attachments_of(name)
                if attachments is None:
                    continue
                for mode in ("same", "distinct"):
                    for store in args.stores.split(","):
                        if store == "shared":
                            SHARED = SharedStore()
                        try:
                            run_profile(args, mugai, tmp, sink_port, name, mode, count, attachments, store)
                        finally:
                            if SHARED:
                                SHARED.stop()
                                SHARED = None

            # 1,000 idle sessions: each connected, greeted and past EHLO, then silent.
            port = free_port()
            proc = start_mugai(mugai, tmp, port, sink_port, "idle")
            try:
                base = status(proc.pid, "VmRSS")
                clients = []
                for _ in range(1000):
                    c = Client(port)
                    c.cmd(b"EHLO idle.example")
                    clients.append(c)
                held = status(proc.pid, "VmRSS")
                peak = status(proc.pid, "VmHWM")
                print("\n1,000 idle sessions: mugai RSS %.1f MB (%.1f MB before, %.1f KB per session), peak %.1f MB" % (
                    held / 1e6, base / 1e6, (held - base) / 1000 / 1000, peak / 1e6))
                for c in clients:
                    c.sock.close()
            finally:
                proc.terminate()
                proc.wait()
        finally:
            sink.terminate()
            sink.wait()
            if DATA_ROOT:
                shutil.rmtree(DATA_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
