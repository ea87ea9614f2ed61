"""A shared store for the load scripts (`smtp_load.py --stores embedded,shared`): a private
PostgreSQL (Debian's, its own data directory and loopback port, fsync as configured by
default) and moto's S3 server (`moto_server` from PyPI, on PATH: the test command puts it in
target/judges-venv), both stopped by `stop()`. `counters()` reads how many transactions the
database committed and how many requests the S3 server answered, so a run can say what one
message costs each of them.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import urllib.request

from netutil import cpu_seconds, free_port, wait_port


class SharedStore:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt install postgresql)")
        if not shutil.which("moto_server"):
            raise RuntimeError("moto_server is not on PATH (pip install 'moto[server]')")
        self.bin = bins[-1]
        # Its own directory at the top of /tmp: the server's user must reach it.
        self.dir = tempfile.mkdtemp(prefix="mugai-bench-pg-")
        self.root = os.geteuid() == 0
        if self.root:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        self.pg_port = free_port()
        data = os.path.join(self.dir, "data")
        self.pg("initdb", "-D", data, "-U", "mugai", "--auth=trust", "-E", "UTF8")
        self.pg("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200" % (self.pg_port, self.dir),
                "start")
        self.pg("createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mugai", "mugai")
        self.s3_port = free_port()
        self.s3_log = open(os.path.join(self.dir, "moto.log"), "w")
        self.moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                                     stdout=self.s3_log, stderr=subprocess.STDOUT)
        wait_port(self.s3_port)
        self.buckets = 0

    def pg(self, program, *args):
        cmd = [os.path.join(self.bin, program)] + list(args)
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=True, cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout

    def config(self):
        """The `[store]` TOML for one mugai instance: a bucket of its own each time."""
        self.buckets += 1
        bucket = "bench-%d" % self.buckets
        urllib.request.urlopen(urllib.request.Request(
            "http://127.0.0.1:%d/%s" % (self.s3_port, bucket), method="PUT")).read()
        return ('[store]\nbackend = "shared"\nlink_key = "%s"\n'
                '[store.postgres]\nurl = "host=127.0.0.1 port=%d user=mugai dbname=mugai"\n'
                '[store.s3]\nbucket = "%s"\nendpoint = "http://127.0.0.1:%d"\nregion = "ap-northeast-1"\n'
                'access_key_id = "bench"\nsecret_access_key = "bench"\nallow_http = true\n'
                % ("be" * 32, self.pg_port, bucket, self.s3_port))

    def counters(self):
        """(transactions committed in the database, requests the S3 server logged)."""
        out = subprocess.run([os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                              "mugai", "-d", "mugai", "-tA", "-c",
                              "SELECT xact_commit FROM pg_stat_database WHERE datname = 'mugai'"],
                             check=True, stdout=subprocess.PIPE).stdout
        self.s3_log.flush()
        with open(self.s3_log.name) as f:
            # One werkzeug access line per request: `… "PUT /bucket/key HTTP/1.1" 412 -`.
            requests = sum(1 for line in f if ' HTTP/1.1" ' in line)
        return int(out.strip() or 0), requests

    def cpu(self):
        """CPU seconds used so far by (the PostgreSQL server's processes, the S3 server)."""
        db = 0.0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/comm" % pid) as f:
                        if f.read().strip() == "postgres":
                            db += cpu_seconds(int(pid))
                except OSError:
                    pass
        return db, cpu_seconds(self.moto.pid)

    def stop(self):
        self.moto.terminate()
        self.moto.wait()
        try:
            self.pg("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "stop")
        except subprocess.CalledProcessError:
            pass
        self.s3_log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
