#!/usr/bin/env python3
"""A private Haraka for make bench (bench/run.py): Haraka 3.3.4 (3.1.1 with Node.js 18) from the
npm registry, installed by scripts/peer-haraka into build/peers/haraka, its own config directory
(`haraka -i`) in a temporary directory, listening on 127.0.0.1:<free port>, plaintext only, as
the user that starts it. Plugins: our bench_nodns (no PTR lookup for the client: Haraka's core
would ask the resolver for every connection), rcpt_to.in_host_list (one local domain) and our
bench_queue (bench/haraka/), which writes every message to a file and fsyncs it before the 250;
nothing else, so nothing resolves. Haraka has no queue of its own for inbound mail: in the
Maildir rows that fsynced file, renamed into Maildir/new, is the delivery, done before the 250.

Cluster: nodes = cpus (a worker per core; Node's cluster module, whose master accepts each
connection and hands it to a worker), as Haraka's Performance-Tuning page recommends (it warns
when nodes is unset, and then runs a cluster of one worker); HarakaBench(maildir, nodes=0) for
one process without a cluster. Log: NOTICE, to a file. Run it alone for a smoke run:
bench/peer_haraka.py [--nodes 0|N|cpus] [--maildir]"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

DURABILITY = ("Haraka's queue hook (bench/haraka/bench_queue.js) writes each message to a new file of its own and "
              "fsync(2)s it before the 250 (its directory entry is not fsynced separately); the discard rows "
              "then delete the file, the Maildir rows rename it into Maildir/new before the 250.")


class HarakaBench:
    name = "Haraka"

    def __init__(self, maildir, nodes="cpus"):
        r = B.sh(os.path.join(B.REPO, "scripts", "peer-haraka"), timeout=600)
        if r.returncode != 0:
            raise RuntimeError("cannot install Haraka: " + r.stderr[-300:])
        self.root = os.path.join(B.REPO, r.stdout.strip())
        haraka = os.path.join(self.root, "node_modules", ".bin", "haraka")
        self.dir = tempfile.mkdtemp(prefix="mailport-bench-haraka-")
        self.maildir = maildir
        self.nodes = nodes
        self.rcpt = "sink@hk.example.test"
        self.p25 = B.free_port()
        d = os.path.join(self.dir, "haraka")
        r = B.sh(haraka, "-i", d, timeout=60)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("haraka -i failed: " + r.stderr[-300:])
        self.store = os.path.join(self.dir, "Maildir" if maildir else "store")
        files = {
            "smtp.ini": (f"listen=127.0.0.1:{self.p25}\npublic_ip=127.0.0.1\ninactivity_timeout=60\n"
                         f"nodes={nodes}\ngraceful_shutdown=true\nforce_shutdown_timeout=5\n"),
            "log.ini": "[main]\nlevel=notice\ntimestamps=true\nformat=default\n",
            "me": "hk.example.test\n",
            "host_list": "hk.example.test\n",
            "plugins": "bench_nodns\nrcpt_to.in_host_list\nbench_queue\n",
            "bench_queue.ini": f"dir={self.store}\nmaildir={'true' if maildir else 'false'}\n",
        }
        for name, text in files.items():
            with open(os.path.join(d, "config", name), "w") as f:
                f.write(text)
        # Haraka's core loads a certificate at start (and logs errors without one); no plugin here offers TLS.
        shutil.copy(B.pki_path("server.pem"), os.path.join(d, "config", "tls_cert.pem"))
        shutil.copy(B.pki_path("server.key"), os.path.join(d, "config", "tls_key.pem"))
        os.makedirs(os.path.join(d, "plugins"), exist_ok=True)
        for js in ("bench_queue.js", "bench_nodns.js"):
            shutil.copy(os.path.join(B.REPO, "bench", "haraka", js), os.path.join(d, "plugins", js))
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([haraka, "-c", d], stdout=self.log, stderr=self.log, cwd=self.dir,
                                     stdin=subprocess.DEVNULL)
        try:
            B.wait_listening(self.p25, timeout=60)
        except RuntimeError:
            self.close()
            raise RuntimeError("Haraka did not start: " + self.read_log()[-1000:])
        if nodes:       # cluster (nodes = 0: one process, no cluster)
            want = os.cpu_count() if nodes == "cpus" else int(nodes)
            deadline = time.time() + 30     # every worker listening, not just the first
            while time.time() < deadline and self.read_log().count(" listening on ") < want:
                time.sleep(0.05)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def port(self, mode):
        return self.p25 if mode == "plain" else None

    def flags(self, mode, flags):
        return flags

    def drain(self, timeout=120):
        # Haraka queues nothing of its own here: its 250 comes after bench_queue's fsync; the
        # discard rows leave the file behind for a moment.
        if not self.maildir:
            B.wait_empty([os.path.join(self.store, "tmp")], timeout)

    def pids(self):
        """The master and its workers (cluster), by /proc: the children of the process we started."""
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return out

    def close(self):
        workers = self.pids()[1:]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)       # Haraka's own shutdown; its workers follow
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        deadline = time.time() + 10
        while workers and time.time() < deadline:
            workers = [p for p in workers if alive_haraka(p)]
            time.sleep(0.05)
        for p in workers:
            os.kill(p, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def alive_haraka(pid):
    """pid (one of our master's workers, read before it stopped) still alive and still Haraka."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return state != "Z" and b"haraka" in cmd


def smoke(argv):
    """Start it, one short plaintext run, its msgs_per_s line, close."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--maildir", action="store_true")
    ap.add_argument("--nodes", default=None)
    args = ap.parse_args(argv)
    kw = {"nodes": args.nodes if args.nodes == "cpus" else int(args.nodes)} if args.nodes else {}
    srv = HarakaBench(args.maildir, **kw)
    try:
        srv.drain()
        B.settle()
        res = B.run_bench(srv.port("plain"), "plain", 16, 10, 1024, 2000, "", srv.rcpt)
        print(f"{srv.name}{' Maildir' if args.maildir else ''}{f' nodes={args.nodes}' if args.nodes else ''}: "
              f"msgs_per_s={res.get('msgs_per_s', 0):.0f} msgs={res.get('msgs', 0):.0f} "
              f"failed={res.get('failed', 0):.0f} p50_ms={res.get('p50_ms', 0):.2f} p99_ms={res.get('p99_ms', 0):.2f}")
        return 0 if res.get("failed", 1) == 0 and res.get("msgs", 0) > 0 else 1
    finally:
        srv.close()


PEER = HarakaBench


if __name__ == "__main__":
    sys.exit(smoke(sys.argv[1:]))
