#!/usr/bin/env python3
"""make bench: mailport and a private Postfix 3.7 side by side on this machine, same load
generator (bench/smtpbench.c), same messages, interleaved A B A B, ROUNDS times; medians,
ranges and the mailport/Postfix ratio, plus ceilings measured in the same run (Postfix's
smtp-sink, which stores nothing; openssl s_server full TLS handshakes). Both servers make
each message durable (fsync) before their 250 and hand it to a discard delivery; a second
row set delivers into Maildir on both. The servers of PEER_MODULES (bench/peer_*.py: Exim,
chasquid) run in the same interleaved rounds, each in the modes it offers.

Writes bench/RESULTS.md and bench/results.png (gnuplot). Loopback only; every run is bounded
in count and time. Usage: bench/run.py [--quick] [--rounds N] [--only SUBSTRING ...]"""
import argparse
import importlib
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import MAIL_USER, free_port, give_to_mail_user  # noqa: E402
from pki import path as pki_path  # noqa: E402

BENCH = os.path.join(REPO, "build", "smtpbench")
THREADS = os.path.join(REPO, "build", "smtpthreads")     # a blocking thread per session, as real clients
MAILPORT = os.path.join(REPO, "build", "mailport")
PASSWORD = "bench quartz lantern 47 meadow"  # mailport passwd refuses weak ones

# name, mode, concurrency, messages per connection, size, messages per run, flags
SCENARIOS = [
    ("plain C16 K10", "plain", 16, 10, 1024, 6000, ""),
    ("plain C16 K1", "plain", 16, 1, 1024, 4000, ""),
    ("plain C64 K10", "plain", 64, 10, 1024, 6000, ""),
    ("plain C1 K10", "plain", 1, 10, 1024, 2000, ""),
    ("STARTTLS C16 K1", "starttls", 16, 1, 1024, 2000, ""),
    ("implicit TLS C16 K1", "implicit", 16, 1, 1024, 2000, ""),
    ("implicit TLS C16 K1 resumed", "implicit", 16, 1, 1024, 2000, "resume"),
    ("STARTTLS C16 K10", "starttls", 16, 10, 1024, 4000, ""),
    ("100 KiB C16 K10", "plain", 16, 10, 102400, 2000, ""),
    ("AUTH 465 C16 K1", "implicit", 16, 1, 1024, 1000, "auth"),
]
TARGETS = {
    "plain C16 K10": 4, "plain C64 K10": 4, "plain C16 K1": 3, "plain C1 K10": 3, "STARTTLS C16 K1": 2.5,
    "implicit TLS C16 K1": 2.5, "STARTTLS C16 K10": 3, "100 KiB C16 K10": 2,
}
# Issue 23: share of the ceiling measured in the same run (smtp-sink, openssl s_server), in %.
CEILING_TARGETS = {"plain C16 K10": 60, "plain C1 K10": 70, "STARTTLS C16 K1": 95, "implicit TLS C16 K1": 95}
RESUMED_TARGET = 3      # the resumed row against the full-handshake row


def sh(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def wait_listening(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/net/tcp") as f:
            if any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A" for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_empty(dirs, timeout=120):
    """Until every one of dirs is empty (a server's queue drained), at most timeout seconds:
    each run starts with the previous one's queue gone."""
    deadline = time.time() + timeout
    while time.time() < deadline and not all(dir_empty(d) for d in dirs):
        time.sleep(0.1)


def dir_empty(path):
    for _, _, files in os.walk(path):
        if files:
            return False
    return True


class Mailport:
    name = "mailport"

    def __init__(self, maildir, relay=None, domains="example.test", relay_extra="", extra="", checks=False,
                 more_users=(), workers=None, cpus=None):
        # checks: port 25's SPF/DKIM/DMARC (off in the rows against Postfix, which does none here)
        self.dir = tempfile.mkdtemp(prefix="mailport-bench-")
        give_to_mail_user(self.dir)     # as root, mailport becomes MAIL_USER after binding
        self.p25, self.p465, self.p587 = free_port(), free_port(), free_port()
        self.rcpt = "sink@example.test"
        h = sh(MAILPORT, "passwd", input=PASSWORD + "\n").stdout.strip()
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("".join(f"sink@{d}:{h}\n" for d in domains.split()))
            f.write("".join(f"{u}:{h}\n" for u in more_users))
        md = "discard:" if not maildir else os.path.join(self.dir, "mail/%d/%u")
        with open(os.path.join(self.dir, "mailport.conf"), "w") as f:
            f.write(f"""[server]
{f"user = {MAIL_USER}" if os.geteuid() == 0 else ""}
hostname = mx.example.test
spool = {self.dir}/spool
local_domains = {domains}
maildir = {md}
timeout = 60s
max_connections = 20000
{f"workers = {workers}" if workers else ""}
[auth]
users = {self.dir}/users
[tls]
cert = {pki_path('server.pem')}
key = {pki_path('server.key')}
[relay]
{relay_extra or "resolver = 127.0.0.1:9"}
{f"smarthost = {relay}" if relay else ""}
concurrency = 20
destination_concurrency = 20
[smtp]
listen = 127.0.0.1:{self.p25}
sender_checks = {"yes" if checks else "no"}
[submissions]
listen = 127.0.0.1:{self.p465}
[submission]
listen = 127.0.0.1:{self.p587}
{extra}""")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        # cpus: the server confined to those cores (taskset), e.g. "0" beside a load generator on 1
        pin = ["taskset", "-c", cpus] if cpus else []
        self.proc = subprocess.Popen(pin + [MAILPORT, "serve", "--config", os.path.join(self.dir, "mailport.conf")],
                                     stdout=self.log, stderr=self.log)
        for p in (self.p25, self.p465, self.p587):
            wait_listening(p)

    def port(self, mode):
        # STARTTLS: the port-25 role offers it and takes mail for local domains without AUTH,
        # like Postfix's STARTTLS port here. Implicit TLS: 465 always requires AUTH, so those
        # runs log in on every connection (Postfix's runs do not: it has no SASL here).
        return {"plain": self.p25, "starttls": self.p25, "implicit": self.p465}[mode]

    def flags(self, mode, flags):
        return flags + ",auth" if mode == "implicit" and "auth" not in flags else flags

    def drain(self, timeout=120):
        wait_empty([os.path.join(self.dir, "spool", q) for q in ("queue", "tmp")], timeout)

    def pids(self):
        return [self.proc.pid]

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostfixBench:
    name = "Postfix"

    def __init__(self, maildir, relay_port=None):
        from postfix import Postfix
        main, master, prepare = "", "", None
        self.rcpt = "sink@pf.example.test"
        if maildir:
            # virtual(8) into Maildir as nobody: Postfix's own way to Maildir without local users.
            main += ("virtual_mailbox_domains = vmail.example.test\nvirtual_mailbox_base = @DIR@/vmail\n"
                     "virtual_mailbox_maps = static:sink/Maildir/\nvirtual_uid_maps = static:65534\n"
                     "virtual_gid_maps = static:65534\nvirtual_transport = virtual\n")
            master += "virtual   unix  - n n - - virtual\n"
            self.rcpt = "sink@vmail.example.test"

            def prepare(d):
                os.makedirs(os.path.join(d, "vmail"))
                shutil.chown(os.path.join(d, "vmail"), 65534, 65534)
        if relay_port:
            # Everything not local goes to the sink, as mailport's smarthost does.
            main += (f"relayhost = [127.0.0.1]:{relay_port}\ndefault_transport = smtp\nrelay_transport = smtp\n"
                     "mynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
                     "smtp_tls_security_level = none\n")
            master += "smtp      unix  - - n - - smtp\n"
        self.maildir = maildir
        self.pf = Postfix(plain=True, extra_main=main, extra_master=master, prepare=prepare)
        for p in (self.pf.port_plain, self.pf.port_tls, self.pf.port_starttls):
            wait_listening(p)

    def port(self, mode):
        return {"plain": self.pf.port_plain, "starttls": self.pf.port_starttls, "implicit": self.pf.port_tls}[mode]

    def flags(self, mode, flags):
        return flags

    def drain(self, timeout=120):
        wait_empty([os.path.join(self.pf.dir, "spool", q) for q in ("incoming", "active", "deferred", "maildrop")],
                   timeout)

    def close(self):
        self.pf.close()


# More servers in the interleaved rounds: each a module bench/<name>.py with one class like
# PostfixBench (PEER, or the one class with drain(); PEER(maildir); name, proc, rcpt, port(mode)
# None for a mode it does not offer, flags, drain, close) and DURABILITY, what it does with a
# message before its 250. One that cannot start is left out, with the reason printed.
PEER_MODULES = ["peer_exim", "peer_chasquid", "peer_haraka", "peer_opensmtpd"]
PEER_DURABILITY = {}        # name -> what it does before its 250, for RESULTS.md


def start_peers(maildir):
    """The PEER_MODULES servers that start; each that cannot is skipped with its reason."""
    sys.modules.setdefault("run", sys.modules[__name__])    # their `import run` is this module
    out = []
    for mod in PEER_MODULES:
        try:
            m = importlib.import_module(mod)
            cls = getattr(m, "PEER", None) or next(v for v in vars(m).values() if isinstance(v, type)
                                                   and v.__module__ == m.__name__ and hasattr(v, "drain"))
            out.append(cls(maildir))
            PEER_DURABILITY[out[-1].name] = m.DURABILITY
            print(f"  {out[-1].name}: {m.DURABILITY}", flush=True)
        except Exception as e:
            print(f"  ! {mod} skipped: {e}", flush=True)
    return out


class SinkBench:
    """Postfix's smtp-sink (stores nothing, answers at once) as one more server of the discard
    rounds: the plaintext rows' ceiling, measured interleaved with the others."""
    name = "smtp-sink"
    auth = False

    def __init__(self, pf_root):
        self.proc, self.sport, self.dump = smtp_sink(pf_root)
        self.rcpt = "sink@example.test"

    def port(self, mode):
        return self.sport if mode == "plain" else None

    def flags(self, mode, flags):
        return flags

    def drain(self, timeout=0):
        pass

    def close(self):
        stop(self.proc)
        shutil.rmtree(self.dump, ignore_errors=True)


def end_process(proc, timeout=30):
    """A server we started: SIGTERM by its pid and wait; SIGKILL if it will not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def smoke_both(make, name, maildir_of):
    """A peer's smoke run in both row sets: every message accepted, and in the Maildir one
    every message in maildir_of(srv). Exits non-zero otherwise."""
    for maildir in (False, True):
        srv = make(maildir)
        try:
            res = smoke_run(srv, f"{name} {'Maildir' if maildir else 'discard'}")
            srv.drain()
            assert res is not None and res.get("msgs") == 2000, srv.logs()[-2000:]
            if maildir:
                n = sum(len(files) for _, _, files in os.walk(maildir_of(srv)))
                print(f"  {n} messages in the Maildir", flush=True)
                assert n == 2000, srv.logs()[-2000:]
        finally:
            srv.close()


def smoke_run(srv, label):
    """A peer module's smoke run: one short plaintext run against srv, its line printed; the
    result, or None when a message failed."""
    srv.drain()
    settle()
    res = run_bench(srv.port("plain"), "plain", 16, 10, 1024, 2000, "", srv.rcpt)
    print(f"{label}: " + " ".join(f"{k}={res.get(k, 0):g}" for k in ("msgs_per_s", "msgs", "failed", "p50_ms", "p99_ms")),
          flush=True)
    return res if res.get("failed", 1) == 0 and res.get("msgs", 0) > 0 else None


def cpu_seconds(pid):
    """User + system CPU of a process, all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds of a process's threads, summed by thread name (mailport names its threads:
    loop1.., queue commit, checkpointer, runner, password hashin(g), sender checks; the main
    thread, loop 0, is "mailport")."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        name = "loops" if name == "mailport" or name.startswith("loop") else name
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def fdatasync_alone(directory, n=1000):
    """What one message's durability costs at least on this file system: the p50 of appending
    1.1 KiB (a small message with its journal header) to a file and fdatasync(2), in ms."""
    path = os.path.join(directory, "fdatasync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 1100)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(lat)


def settle():
    """Each run starts on a quiet disk: the previous run's writes, and the discards its deleted
    files cause on a file system mounted with `discard`, would otherwise land in this one."""
    os.sync()
    time.sleep(0.5)


def run_bench(port, mode, conc, per_conn, size, total, flags, rcpt, max_secs=120, cpus=None, gen=BENCH):
    args = (["taskset", "-c", cpus] if cpus else []) + [gen, "-s", f"127.0.0.1:{port}", "-m", mode, "-c", str(conc),
                                                        "-k", str(per_conn), "-n", str(total),
            "-S", str(size), "-t", rcpt, "-d", str(max_secs)]
    if "resume" in flags:
        args.append("-r")
    if "auth" in flags:
        args += ["-a", f"sink@example.test:{PASSWORD}", "-f", "sink@example.test"]
    if "handshake" in flags:
        args.append("-H")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = sh(*args, timeout=max_secs + 30)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = dict(kv.split("=", 1) for kv in r.stdout.split())
    res = {k: float(v) for k, v in m.items()}
    if res.get("msgs"):     # the load generator's own CPU: on two cores it competes with the server
        res["gen_cpu_us"] = ((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)) * 1e6 / res["msgs"]
    if res.get("failed", 0) > 0:
        print(f"  ! {int(res['failed'])} failed: {r.stderr.strip()[:300]}", flush=True)
    return res


def smtp_sink(root):
    port = free_port()
    dump = tempfile.mkdtemp(prefix="mailport-bench-sink-")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
    proc = subprocess.Popen([os.path.join(root, "usr/sbin/smtp-sink"), "-u", "nobody", f"127.0.0.1:{port}", "1024"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=dump)
    wait_listening(port)
    return proc, port, dump


def s_server():
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pki_path("server.pem"),
                             "-key", pki_path("server.key"), "-quiet", "-naccept", "1000000"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return proc, port


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def idle_tls(n=10000):
    """n idle implicit-TLS sessions held open: the server's RSS, and whether a new client is
    still served meanwhile."""
    m = Mailport(False)
    try:
        before = rss_kib(m.proc.pid)
        proc = subprocess.Popen([BENCH, "-s", f"127.0.0.1:{m.p465}", "-m", "implicit", "-I", "-c", str(n), "-d", "120"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        line = proc.stdout.readline().strip()
        m_ = dict(kv.split("=", 1) for kv in line.split() if "=" in kv) if line.startswith("idle=") else {}
        held, refused = int(m_.get("idle", 0)), int(m_.get("failed", 0))
        setup = time.time() - t0
        rss = rss_kib(m.proc.pid)
        r = run_bench(m.p25, "plain", 1, 1, 1024, 20, "", m.rcpt, max_secs=30)
        proc.terminate()
        proc.wait(30)
        return {"wanted": n, "sessions": held, "failed": refused, "setup_s": setup, "rss_mib": rss / 1024, "rss_before_mib": before / 1024,
                "served": int(r.get("msgs", 0)), "p50_ms": r.get("p50_ms", 0)}
    finally:
        m.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dane_delivery(n, rounds):
    """Direct MX delivery to a mailport sink with maildir = discard:, the same sink behind a
    DNSSEC-signed zone with a TLSA record (DANE: validation, TLSA lookup, certificate check)
    and behind an unsigned zone (opportunistic STARTTLS), interleaved; one message first to
    warm the caches. Rate = messages / (first injection to the sink's last delivery)."""
    from tests_dane import AuthDNS, dane_zone, insecure_zone, sign, spki_sha256
    d = tempfile.mkdtemp(prefix="mailport-bench-dane-")
    os.chmod(d, 0o755)
    out = {"dane": [], "insecure": []}
    sink = dns = None
    try:
        sink = Mailport(False, domains="good.dane.test insecure.test")
        good = spki_sha256(pki_path("server.pem"))
        ds = sign(d, "dane.test", dane_zone(sink.p25, good, good))
        with open(os.path.join(d, "insecure.test"), "w") as f:
            f.write("$ORIGIN insecure.test.\n" + insecure_zone(sink.p25, good))
        anchor = os.path.join(d, "anchor.ds")
        with open(anchor, "w") as f:
            f.write(ds + "\n")
        os.chmod(anchor, 0o644)
        dns = AuthDNS(d, [("dane.test", os.path.join(d, "dane.test.signed")),
                          ("insecure.test", os.path.join(d, "insecure.test"))])
        extra = (f"resolver = 127.0.0.1:{dns.port}\nmx_port = {sink.p25}\ndnssec_trust_anchor = {anchor}\n"
                 "retry_schedule = 1s\n")
        for _ in range(rounds):
            for kind, rcpt in (("dane", "sink@good.dane.test"), ("insecure", "sink@insecure.test")):
                sender = Mailport(False, relay_extra=extra)
                try:
                    settle()
                    base = delivered(sink)
                    run_bench(sender.p465, "implicit", 1, 1, 1024, 1, "auth", rcpt)
                    wait_delivered(sink, base + 1)
                    base = delivered(sink)
                    t0 = time.time()
                    r = run_bench(sender.p465, "implicit", 16, 50, 1024, n, "auth", rcpt)
                    wait_delivered(sink, base + int(r.get("msgs", 0)))
                    out[kind].append(r.get("msgs", 0) / (time.time() - t0))
                    print(f"  {kind:9} {out[kind][-1]:9.0f} msg/s delivered to the sink ({int(r.get('msgs', 0))} msgs)",
                          flush=True)
                finally:
                    sender.close()
    finally:
        if dns:
            dns.close()
        if sink:
            sink.close()
        shutil.rmtree(d, ignore_errors=True)
    return out


def generators_row(pf_root, rounds, n=6000):
    """plain C16 K10 (1 KiB, discard) measured by both load generators, smtpbench (one event
    loop) and smtpthreads (a blocking thread per session, as mail clients are), against one
    mailport and smtp-sink, interleaved; the ratio to smtp-sink is taken per generator.
    bench/generators.py studies the other factors (delivery, size, K, the log, pinning)."""
    gens = {"smtpbench": BENCH, "smtpthreads": THREADS}
    out = {g: {"mailport": [], "mailport Maildir": [], "smtp-sink": [], "cpu_us": []} for g in gens}
    sink, sport, dump = smtp_sink(pf_root)
    m, md = Mailport(False), Mailport(True)
    try:
        for _ in range(rounds):
            for g, path in gens.items():
                m.drain()
                settle()
                cpu0 = cpu_seconds(m.proc.pid)
                r = run_bench(m.p25, "plain", 16, 10, 1024, n, "", m.rcpt, max_secs=60, gen=path)
                out[g]["mailport"].append(r.get("msgs_per_s", 0))
                if r.get("msgs"):
                    out[g]["cpu_us"].append((cpu_seconds(m.proc.pid) - cpu0) * 1e6 / r["msgs"])
                md.drain()
                settle()
                out[g]["mailport Maildir"].append(run_bench(md.p25, "plain", 16, 10, 1024, n, "", md.rcpt, max_secs=60,
                                                            gen=path).get("msgs_per_s", 0))
                settle()
                out[g]["smtp-sink"].append(run_bench(sport, "plain", 16, 10, 1024, n, "", "sink@example.test",
                                                     max_secs=60, gen=path).get("msgs_per_s", 0))
    finally:
        m.close()
        md.close()
        stop(sink)
        shutil.rmtree(dump, ignore_errors=True)
    for v in out.values():
        v["ratio"] = (statistics.median(v["mailport"]) / statistics.median(v["smtp-sink"])
                      if v["mailport"] and v["smtp-sink"] and statistics.median(v["smtp-sink"]) else 0)
    return out


def interleaved(rounds, kinds, start, measure):
    """Each round, each kind in turn: a server start(kind), settled, measured by measure(server)
    (a run_bench result); {kind: [msg/s per round]}."""
    out = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind in kinds:
            srv = start(kind)
            try:
                settle()
                out[kind].append(measure(srv).get("msgs_per_s", 0))
                print(f"  {kind:9} {out[kind][-1]:9.0f} msg/s", flush=True)
            finally:
                srv.close()
    return out


# Issue 36: one event loop against two, in the same run. On two cores the load generator
# shares them with the server; "pinned" puts the generator on core 1 and, with one loop, the
# server on core 0 (one loop's best case: a core of its own), with two loops the server on both.
LOOP_SCENARIOS = [s for s in SCENARIOS if s[0] in ("plain C16 K10", "plain C16 K1", "STARTTLS C16 K1",
                                                   "implicit TLS C16 K1", "STARTTLS C16 K10")]


def two_processes(mode, conc, per_conn, size, total, flags, pin):
    """The share-nothing design's best case: two independent mailport servers (one loop, its own
    spool, journal and committer each), half the sessions and messages each, at once. A
    run_bench-like result: the sum of the two rates, and their CPU per message."""
    import concurrent.futures
    servers = [Mailport(False, workers=1, cpus=("0,1" if pin else None)) for _ in range(2)]
    try:
        settle()
        cpu0 = [cpu_seconds(m.proc.pid) for m in servers]
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            res = list(ex.map(lambda m: run_bench(m.port(mode), mode, conc // 2, per_conn, size, total // 2,
                                                  m.flags(mode, flags), m.rcpt, cpus="1" if pin else None), servers))
        msgs = sum(r.get("msgs", 0) for r in res)
        cpu = sum(cpu_seconds(m.proc.pid) - c for m, c in zip(servers, cpu0))
        secs = max(r.get("secs", 0) for r in res) or 1
        return {"msgs": msgs, "msgs_per_s": msgs / secs, "cpu_us": cpu * 1e6 / msgs if msgs else 0}
    finally:
        for m in servers:
            m.close()


def loops_rows(rounds, scale=1.0, pinned=(False, True), only=()):
    """{(scenario, pinned): {loops: {"msgs": [..], "cpu_us": [..]}}}, 1 and 2 loops interleaved,
    and "2p": two one-loop processes side by side (the share-nothing design's upper bound)."""
    out = {}
    for sc in LOOP_SCENARIOS:
        name, mode, conc, per_conn, size, total, flags = sc
        if only and not any(o in name for o in only):
            continue
        total = max(200, int(total * scale))
        for pin in pinned:
            row = out[(name, pin)] = {n: {"msgs": [], "cpu_us": []} for n in (1, 2, "2p")}
            for rnd in range(rounds):
                res = two_processes(mode, conc, per_conn, size, total, flags, pin)
                row["2p"]["msgs"].append(res["msgs_per_s"])
                row["2p"]["cpu_us"].append(res["cpu_us"])
                print(f"  {name:22} {'pinned' if pin else 'free':6} round {rnd + 1} 2 processes "
                      f"{res['msgs_per_s']:8.0f} msg/s  cpu {res['cpu_us']:6.0f} us/msg", flush=True)
                for loops in (1, 2):
                    m = Mailport(False, workers=loops, cpus=("0" if loops == 1 else "0,1") if pin else None)
                    try:
                        settle()
                        cpu0, th0 = cpu_seconds(m.proc.pid), thread_cpu(m.proc.pid)
                        res = run_bench(m.port(mode), mode, conc, per_conn, size, total, m.flags(mode, flags), m.rcpt,
                                        cpus="1" if pin else None)
                        row[loops]["msgs"].append(res.get("msgs_per_s", 0))
                        row[loops].setdefault("gen_cpu_us", []).append(res.get("gen_cpu_us", 0))
                        if res.get("msgs"):
                            row[loops]["cpu_us"].append((cpu_seconds(m.proc.pid) - cpu0) * 1e6 / res["msgs"])
                            th = thread_cpu(m.proc.pid)
                            row[loops].setdefault("threads", []).append(
                                {k: (v - th0.get(k, 0)) * 1e6 / res["msgs"] for k, v in th.items()})
                        print(f"  {name:22} {'pinned' if pin else 'free':6} round {rnd + 1} loops={loops} "
                              f"{res.get('msgs_per_s', 0):8.0f} msg/s  cpu {row[loops]['cpu_us'][-1] if row[loops]['cpu_us'] else 0:6.0f} us/msg",
                              flush=True)
                    finally:
                        m.close()
    return out


def directory_rows(n, rounds):
    """One node with its directory in PostgreSQL (a private PostgreSQL 15 on loopback) vs the
    users file, 10,000 mailboxes in each, interleaved: messages to a local mailbox (port 25,
    C16 K10, discard: one RCPT lookup each), logins over 465 with the verified-credential cache
    warm (the same credentials every connection, C16 K1) and cold (a different mailbox each
    login, 8 clients: a full yescrypt hash each), and RCPT lookups in one session."""
    import smtplib
    import ssl
    import threading
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    from postgres import Postgres
    users = [f"u{i}@example.test" for i in range(10000)]
    h = sh(MAILPORT, "passwd", input=PASSWORD + "\n").stdout.strip()
    pg = Postgres()
    pg.start()
    out = {"pg": {}, "file": {}}
    try:
        pgconf = (f"[directory]\nbackend = postgresql\npostgresql = {pg.conninfo}\npassword_file = {pg.pwfile}\n")
        first = Mailport(False, extra=pgconf)
        try:
            r = sh(MAILPORT, "directory", "migrate", "--config", os.path.join(first.dir, "mailport.conf"), timeout=60)
            if r.returncode != 0:
                raise RuntimeError("directory migrate: " + r.stderr)
        finally:
            first.close()
        pg.sql(f"INSERT INTO mailport_mailboxes (address, hash) SELECT 'u' || i || '@example.test', '{h}' "
               f"FROM generate_series(0, 9999) i UNION ALL SELECT 'sink@example.test', '{h}'")

        def start(kind):
            return Mailport(False, extra=pgconf if kind == "pg" else "", more_users=() if kind == "pg" else users)

        def cold_logins(srv, count=240, clients=8):
            ctx = ssl.create_default_context(cafile=pki_path("ca.pem"))
            done, lock = [0], threading.Lock()

            def worker(k):
                for i in range(k, count, clients):
                    with smtplib.SMTP_SSL("127.0.0.1", srv.p465, context=ctx, timeout=60) as c:
                        c.login(users[(i * 37) % len(users)], PASSWORD)
                    with lock:
                        done[0] += 1
            t0 = time.time()
            ts = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return done[0] / (time.time() - t0)

        def rcpt_lookups(srv, count=20000):
            with smtplib.SMTP("127.0.0.1", srv.p25, timeout=60) as c:
                c.ehlo("bench.example")
                t0 = time.time()
                for i in range(count):
                    if i % 100 == 0:
                        c.rset()
                        c.mail("s@remote.example")
                    code, _ = c.rcpt(users[(i * 7) % len(users)])
                    if code != 250:
                        raise RuntimeError(f"RCPT {code}")
                return count / (time.time() - t0)

        for rnd in range(rounds):
            pf = PostfixBench(False)        # the same messages on Postfix, in the same run
            try:
                pf.drain()
                settle()
                v = run_bench(pf.port("plain"), "plain", 16, 10, 1024, n, "", pf.rcpt).get("msgs_per_s", 0)
                out.setdefault("postfix", {}).setdefault("messages", []).append(v)
                print(f"  round {rnd + 1} Postfix messages {v:,.0f}/s", flush=True)
            finally:
                pf.close()
            for kind in ("file", "pg"):
                srv = start(kind)
                try:
                    settle()
                    res = {
                        "messages": run_bench(srv.p25, "plain", 16, 10, 1024, n, "", srv.rcpt).get("msgs_per_s", 0),
                        "auth warm": run_bench(srv.p465, "implicit", 16, 1, 1024, max(200, n // 5), "auth",
                                               srv.rcpt).get("msgs_per_s", 0),
                        "auth cold": cold_logins(srv),
                        "rcpt": rcpt_lookups(srv),
                    }
                finally:
                    srv.close()
                for k, v in res.items():
                    out[kind].setdefault(k, []).append(v)
                print(f"  round {rnd + 1} {kind:4} " + "  ".join(f"{k} {v:,.0f}/s" for k, v in res.items()), flush=True)
    finally:
        pg.__exit__(None, None, None)
    return out


def shared_rows(n, rounds):
    """The cost of counting limits in Redis (a private Redis 7 on loopback) against counting them
    on the node alone, interleaved: every limit on (per-client connection rate, AUTH lockout,
    messages per user) and no address exempt, so each connection, login and MAIL asks the store.
    Submission over 465 (AUTH, C16 K10) and port 25 (C16 K1: a new connection per message)."""
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    from redis import Redis
    with Redis() as rd:
        rd.start()
        limits = ("[limits]\nmax_messages_per_user = 10000000/h\n"
                  "[server]\nlimits_exempt =\nmax_connection_rate_per_ip = 1000000\n")
        shared = f"[limits]\nredis = 127.0.0.1:{rd.port}\npassword_file = {rd.pwfile}\n"
        out = {}
        for what, measure in (("submission", lambda srv: run_bench(srv.p465, "implicit", 16, 10, 1024, n, "auth",
                                                                    srv.rcpt)),
                              ("port 25 C16 K1", lambda srv: run_bench(srv.p25, "plain", 16, 1, 1024, n, "",
                                                                        srv.rcpt))):
            print(f"  {what}", flush=True)
            out[what] = interleaved(rounds, ["local", "redis"],
                                    lambda k: Mailport(False, extra=limits + (shared if k == "redis" else "")), measure)
        return out


def dkim_submission(n, rounds):
    """Submission over 465 (AUTH, implicit TLS, 16 clients, 10 messages a connection) to a
    server that DKIM-signs with ed25519, with rsa-2048, with both, or not at all, interleaved;
    maildir = discard:. The signing runs on the authpool's threads, not on the event loop."""
    d = tempfile.mkdtemp(prefix="mailport-bench-dkim-")
    give_to_mail_user(d)
    keys = {}
    for sel, t in (("br", "rsa"), ("be", "ed25519")):
        r = sh(MAILPORT, "dkim", "keygen", "example.test", sel, "--type", t, "--dir", d)
        if r.returncode != 0:
            raise RuntimeError("dkim keygen: " + r.stderr)
        path = os.path.join(d, f"example.test.{sel}.key")
        if os.geteuid() == 0:
            shutil.chown(path, MAIL_USER)
        keys[t] = f"sign = example.test {sel} {path}\n"
    kinds = {"unsigned": "", "ed25519": keys["ed25519"], "rsa": keys["rsa"], "both": keys["rsa"] + keys["ed25519"]}
    try:
        return interleaved(rounds, kinds, lambda k: Mailport(False, extra="[dkim]\n" + kinds[k] if kinds[k] else ""),
                           lambda srv: run_bench(srv.p465, "implicit", 16, 10, 1024, n, "auth", srv.rcpt))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sender_checks(n, rounds):
    """Mail on port 25 (plain, 16 clients, 10 messages a connection, maildir = discard:) with the
    sender checks on (SPF, DKIM, DMARC for the MAIL FROM and From: domain, answered by a local
    unbound; caches warm after the first message) vs off, interleaved."""
    from unbound import Unbound
    d = tempfile.mkdtemp(prefix="mailport-bench-checks-")
    os.chmod(d, 0o755)
    zone = ('  local-zone: "." static\n'
            '  local-data: \'example.test. 3600 IN TXT "v=spf1 ip4:127.0.0.0/8 include:_spf.example.test -all"\'\n'
            '  local-data: \'_spf.example.test. 3600 IN TXT "v=spf1 mx -all"\'\n'
            '  local-data: "example.test. 3600 IN MX 10 mx.example.test."\n'
            '  local-data: "mx.example.test. 3600 IN A 127.0.0.1"\n'
            '  local-data: \'_dmarc.example.test. 3600 IN TXT "v=DMARC1; p=reject"\'\n')
    dns = Unbound(d, server_extra=zone, probe=("example.test", "MX", "mx.example.test."))
    def measure(srv):
        run_bench(srv.p25, "plain", 1, 1, 1024, 1, "", srv.rcpt)        # caches warm
        return run_bench(srv.p25, "plain", 16, 10, 1024, n, "", srv.rcpt)
    try:
        return interleaved(rounds, ["checked", "unchecked"],
                           lambda k: Mailport(False, relay_extra=f"resolver = 127.0.0.1:{dns.port}",
                                              checks=k == "checked"), measure)
    finally:
        dns.close()
        shutil.rmtree(d, ignore_errors=True)


def delivered(srv):
    with open(os.path.join(srv.dir, "log"), errors="replace") as f:
        return f.read().count(" relay=discard ")


def wait_delivered(srv, n, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and delivered(srv) < n:
        time.sleep(0.05)


def relay_throughput(pf_root, n):
    """Queue to smtp-sink: n messages injected, time until the queue is empty again."""
    out = {}
    sink, sport, dump = smtp_sink(pf_root)
    try:
        for name in ("mailport", "Postfix"):
            srv = Mailport(False, relay=f"smtp://127.0.0.1:{sport}") if name == "mailport" else \
                PostfixBench(False, relay_port=sport)
            try:
                t0 = time.time()
                if name == "mailport":     # relaying needs a login at mailport
                    r = run_bench(srv.p465, "implicit", 16, 50, 1024, n, "auth", "far@remote.example")
                else:                      # Postfix relays for mynetworks
                    r = run_bench(srv.port("plain"), "plain", 16, 50, 1024, n, "", "far@remote.example")
                srv.drain(timeout=300)
                out[name] = {"msgs": r.get("msgs", 0), "secs": time.time() - t0,
                             "rate": r.get("msgs", 0) / (time.time() - t0)}
                print(f"  relay {name:9} {out[name]['rate']:9.0f} msg/s queue to sink ({int(r.get('msgs', 0))} msgs)",
                      flush=True)
            finally:
                srv.close()
    finally:
        stop(sink)
        shutil.rmtree(dump, ignore_errors=True)
    return out


def send_vs_msmtp(n=20):
    """One message over 465 to a local mailport, mailport send and msmtp alternating."""
    m = Mailport(False)
    times = {"mailport send": [], "msmtp": []}
    try:
        pw = os.path.join(m.dir, "pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        msg = "Subject: bench\n\nhello\n"
        cmds = {
            "mailport send": [MAILPORT, "send", "--host", "127.0.0.1", "--port", str(m.p465), "--tls", "implicit",
                              "--cafile", pki_path("ca.pem"), "--user", "sink@example.test", "--password-file", pw,
                              "-f", "sink@example.test", "sink@example.test"],
            "msmtp": ["msmtp", "--file=/dev/null", "--host=127.0.0.1", f"--port={m.p465}", "--tls=on",
                      "--tls-starttls=off", f"--tls-trust-file={pki_path('ca.pem')}", "--auth=plain",
                      "--user=sink@example.test", f"--passwordeval=cat {pw}", "-f", "sink@example.test",
                      "sink@example.test"],
        }
        for _ in range(n):
            for name, cmd in cmds.items():
                t0 = time.perf_counter()
                r = subprocess.run(cmd, input=msg, capture_output=True, text=True, timeout=60)
                if r.returncode == 0:
                    times[name].append((time.perf_counter() - t0) * 1000)
        return {k: statistics.median(v) if v else 0 for k, v in times.items()}
    finally:
        m.close()


PROFILE_NOTE = """CPU profiles of the mailport server, one file per scenario of RESULTS.md: `perf record`
of the server process (every thread) while smtpbench runs the scenario alone for about 5 s on
a warmed server (its verified-credential cache holds the bench account), then `perf report`
by shared object and by symbol, self time. Written by `make bench` (bench/run.py --profile
alone). OpenSSL's libraries carry no symbols for their internal functions on Debian, so
those show as addresses; their totals per library still say where the time goes.

"""


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def profiles(seconds=5):
    """bench/results/<scenario>.txt: where the server's CPU goes in each scenario."""
    if shutil.which("perf") is None:
        print("  perf is not installed: no profiles", flush=True)
        return {}
    out = os.path.join(REPO, "bench", "results")
    os.makedirs(out, exist_ok=True)
    summary = {}
    m = Mailport(False)
    try:
        run_bench(m.p465, "implicit", 4, 1, 1024, 50, "auth", m.rcpt, max_secs=20)     # warm the caches
        for name, mode, conc, per_conn, size, total, flags in SCENARIOS:
            m.drain()
            settle()
            data = os.path.join(tempfile.gettempdir(), f"mailport-perf-{os.getpid()}.data")
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-o", data, "-p", str(m.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            cpu0 = cpu_seconds(m.proc.pid)
            res = run_bench(m.port(mode), mode, conc, per_conn, size, total * 10, m.flags(mode, flags), m.rcpt,
                            max_secs=seconds)
            cpu = cpu_seconds(m.proc.pid) - cpu0
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
            report = lambda *k: sh("perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.5",
                                    *k, timeout=300).stdout
            by_dso = [line for line in report("--sort", "dso").splitlines() if line.strip() and not line.startswith("#")]
            by_sym = [line for line in report("--sort", "dso,sym").splitlines()
                      if line.strip() and not line.startswith("#")][:40]
            os.unlink(data)
            msgs = res.get("msgs", 0)
            us = cpu * 1e6 / msgs if msgs else 0
            summary[name] = {"msgs_per_s": res.get("msgs_per_s", 0), "cpu_us": us, "dso": by_dso[:6]}
            with open(os.path.join(out, slug(name) + ".txt"), "w") as f:
                f.write(f"{name}: {res.get('msgs_per_s', 0):,.0f} msg/s, {msgs:,.0f} messages, server CPU "
                        f"{us:,.0f} µs a message (all threads), p50 {res.get('p50_ms', 0):.2f} ms\n\n")
                f.write("By shared object (self time):\n" + "\n".join(by_dso) + "\n\n")
                f.write("Top functions (self time):\n" + "\n".join(by_sym) + "\n")
            print(f"  {name:28} {res.get('msgs_per_s', 0):9.0f} msg/s  {us:7.0f} µs CPU/msg", flush=True)
    finally:
        m.close()
    facts = machine_facts()
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# Where the server's time goes\n\n" + PROFILE_NOTE)
        f.write(f"Machine: {facts['CPU']}, {facts['OpenSSL']}; {time.strftime('%Y-%m-%d', time.gmtime())}."
                "\n\n| scenario | msg/s (alone) | server CPU µs/msg | biggest shares (self time) | profile |\n"
                "|---|---|---|---|---|\n")
        for name, v in summary.items():
            shares = "; ".join(re.sub(r"\s+", " ", d.strip()) for d in v["dso"][:4])
            f.write(f"| {name} | {v['msgs_per_s']:,.0f} | {v['cpu_us']:,.0f} | {shares} | [{slug(name)}.txt]({slug(name)}.txt) |\n")
    return summary


def machine_facts():
    facts = {}
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    facts["CPU"] = f"{len(models)} × {models[0] if models else '?'}"
    with open("/proc/meminfo") as f:
        facts["memory"] = f.readline().split(":", 1)[1].strip()
    facts["kernel"] = platform.release()
    fs = sh("findmnt", "-no", "FSTYPE,SOURCE", "-T", tempfile.gettempdir()).stdout.strip()
    facts["spool file system"] = fs or "?"
    facts["OpenSSL"] = sh("openssl", "version").stdout.strip()
    facts["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return facts


def fmt_range(vals):
    return f"{statistics.median(vals):,.0f} [{min(vals):,.0f}–{max(vals):,.0f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round, fewer messages (a smoke run)")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-maildir", action="store_true")
    ap.add_argument("--dane-row", action="store_true", help="only the DANE delivery row, printed (not written)")
    ap.add_argument("--dkim-row", action="store_true", help="only the DKIM signing rows, printed (not written)")
    ap.add_argument("--checks-row", action="store_true", help="only the port-25 sender checks row, printed")
    ap.add_argument("--directory-row", action="store_true", help="only the PostgreSQL directory rows, printed")
    ap.add_argument("--shared-row", action="store_true", help="only the Redis shared-limits rows, printed")
    ap.add_argument("--idle-row", action="store_true", help="only the idle TLS sessions row, printed")
    ap.add_argument("--profile", action="store_true", help="only the CPU profiles (bench/results/), written")
    ap.add_argument("--loops-row", action="store_true", help="only 1 vs 2 event loops, printed")
    ap.add_argument("--rows-only", action="store_true", help="the side-by-side rows only, printed (RESULTS.md kept)")
    ap.add_argument("--render", action="store_true", help="write RESULTS.md again from the last run's figures")
    args = ap.parse_args()
    if args.render:
        import pickle
        with open(os.path.join(REPO, "build", "bench-raw.pickle"), "rb") as f:
            results, ceilings, rounds_, facts, quick, extra, dur = pickle.load(f)
        PEER_DURABILITY.update(dur)
        write_results(results, ceilings, rounds_, facts, quick, extra)
        return
    rounds = 1 if args.quick else args.rounds
    scale = 0.2 if args.quick else 1.0
    if args.dane_row:
        print(dane_delivery(500 if args.quick else 2000, rounds))
        return
    if args.dkim_row:
        print(dkim_submission(1600 if args.quick else 8000, rounds))
        return
    if args.checks_row:
        print(sender_checks(1000 if args.quick else 5000, rounds))
        return
    if args.directory_row:
        print(directory_rows(1000 if args.quick else 5000, rounds))
        return
    if args.shared_row:
        print(shared_rows(1000 if args.quick else 5000, rounds))
        return
    if args.idle_row:
        print(idle_tls(2000 if args.quick else 10000))
        return
    if args.profile:
        profiles(2 if args.quick else 5)
        return
    if args.loops_row:
        print(loops_rows(rounds, scale, only=args.only))
        return
    r = sh(os.path.join(REPO, "scripts", "peer-postfix"), timeout=600)
    if r.returncode != 0:
        sys.exit("bench: cannot unpack Postfix: " + r.stderr)
    pf_root = os.path.join(REPO, r.stdout.strip())
    scenarios = [s for s in SCENARIOS if not args.only or any(o in s[0] for o in args.only)]
    results = {}        # (rowset, scenario) -> {"mailport": [..], "Postfix": [..], "p99": {...}}
    ceilings = {}

    rowsets = [("discard", False)] + ([] if args.no_maildir else [("Maildir", True)])
    for rowset, maildir in rowsets:
        print(f"== {rowset}: starting mailport, Postfix and the peers", flush=True)
        try:
            servers = [Mailport(maildir), PostfixBench(maildir)]
        except Exception as e:          # report what was measured rather than nothing
            print(f"  ! cannot start the {rowset} row set: {e}", flush=True)
            continue
        servers += start_peers(maildir)
        if not maildir:
            servers.append(SinkBench(pf_root))
        try:
            for sc in scenarios:
                if rowset == "Maildir" and sc[0] not in ("plain C16 K10", "plain C16 K1", "100 KiB C16 K10"):
                    continue
                name, mode, conc, per_conn, size, total, flags = sc
                total = max(200, int(total * scale))
                key = (rowset, name)
                names = [srv.name for srv in servers]
                results[key] = {**{n: [] for n in names}, "p99": {n: [] for n in names},
                                "p50": {n: [] for n in names}, "cpu_us": []}
                for rnd in range(rounds):
                    for srv in servers:
                        if "auth" in flags and not getattr(srv, "auth", srv.name == "mailport"):
                            continue        # no AUTH here: this private Postfix has no SASL (see RESULTS.md)
                        if srv.port(mode) is None:
                            continue        # a peer without this mode
                        srv.drain()
                        settle()
                        cpu0 = cpu_seconds(srv.proc.pid) if srv.name == "mailport" else 0
                        # The peers run a fifth of the messages: some take 70 msg/s (Exim's K1 rows),
                        # and a rate needs seconds, not the whole count, to settle.
                        n = total if srv.name in ("mailport", "Postfix", "smtp-sink") else max(200, total // 5)
                        res = run_bench(srv.port(mode), mode, conc, per_conn, size, n, srv.flags(mode, flags),
                                        srv.rcpt)
                        results[key][srv.name].append(res.get("msgs_per_s", 0))
                        results[key]["p99"][srv.name].append(res.get("p99_ms", 0))
                        results[key]["p50"][srv.name].append(res.get("p50_ms", 0))
                        if srv.name == "mailport" and res.get("msgs"):
                            results[key]["cpu_us"].append((cpu_seconds(srv.proc.pid) - cpu0) * 1e6 / res["msgs"])
                        print(f"  {rowset:8} {name:28} round {rnd + 1} {srv.name:9} {res.get('msgs_per_s', 0):9.0f} msg/s"
                              f"  p50 {res.get('p50_ms', 0):6.2f} ms  p99 {res.get('p99_ms', 0):7.2f} ms", flush=True)
        finally:
            for srv in servers:
                srv.close()

    # Ceilings: smtp-sink ran in the discard rounds themselves (a ceiling measured apart, at a
    # quieter or busier moment, made a 91 % that interleaved runs did not confirm); s_server
    # for handshakes.
    print("== ceilings", flush=True)
    for sc in scenarios:
        vals = results.get(("discard", sc[0]), {}).get("smtp-sink")
        if vals:
            ceilings[sc[0]] = ("smtp-sink", statistics.median(vals))
    probe = tempfile.mkdtemp(prefix="mailport-bench-fsync-")
    try:
        ceilings["fdatasync_ms"] = fdatasync_alone(probe)
        print(f"  fdatasync alone (append 1.1 KiB) p50 {ceilings['fdatasync_ms']:.3f} ms", flush=True)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    ssrv, tport = s_server()
    try:
        vals = [run_bench(tport, "implicit", 16, 1, 1024, max(200, int(2000 * scale)), "handshake", "x")
                .get("msgs_per_s", 0) for _ in range(rounds)]
        hs = statistics.median(vals)
        for name in ("STARTTLS C16 K1", "implicit TLS C16 K1"):
            ceilings[name] = ("openssl s_server handshakes", hs)
        print(f"  openssl s_server full handshakes/s {hs:9.0f}", flush=True)
    finally:
        stop(ssrv)

    extra = {}
    import pickle
    with open(os.path.join(REPO, "build", "bench-raw.pickle"), "wb") as f:     # the rows, should a later part fail
        pickle.dump((results, ceilings, rounds, machine_facts(), args.quick, extra, PEER_DURABILITY), f)
    if args.rows_only:
        print(peers_table(results))
        return
    print("== one event loop against two", flush=True)
    extra["loops"] = loops_rows(rounds, scale)
    print("== load generators: smtpbench vs smtpthreads, plain C16 K10 against mailport and smtp-sink", flush=True)
    extra["generators"] = generators_row(pf_root, rounds)
    print("  " + "  ".join(f"{g} {v['ratio']:.0%} of smtp-sink" for g, v in extra["generators"].items()), flush=True)
    print("== outbound: queue to smtp-sink", flush=True)
    extra["relay"] = relay_throughput(pf_root, 500 if args.quick else 3000)
    print("== outbound: DANE-protected MX vs unprotected", flush=True)
    extra["dane"] = dane_delivery(500 if args.quick else 2000, rounds)
    print("== DKIM-signed submission vs unsigned", flush=True)
    extra["dkim"] = dkim_submission(1600 if args.quick else 8000, rounds)
    print("== port 25 with SPF, DKIM and DMARC checks vs without", flush=True)
    extra["checks"] = sender_checks(1000 if args.quick else 5000, rounds)
    print("== directory in PostgreSQL vs the users file", flush=True)
    extra["directory"] = directory_rows(1000 if args.quick else 5000, rounds)
    print("== limits shared in Redis vs counted on the node", flush=True)
    extra["shared"] = shared_rows(1000 if args.quick else 5000, rounds)
    print("== mailport send vs msmtp (one message over 465)", flush=True)
    extra["send"] = send_vs_msmtp(5 if args.quick else 20)
    print(f"  {extra['send']}", flush=True)
    # Last: its 10,000 sessions leave as many loopback sockets in TIME_WAIT, after which a
    # private Postfix started next sometimes never logged "daemon started".
    print("== 10,000 idle TLS sessions", flush=True)
    extra["idle"] = idle_tls(2000 if args.quick else 10000)
    print(f"  {extra['idle']}", flush=True)
    print("== CPU profiles per scenario (bench/results/)", flush=True)
    profiles(2 if args.quick else 5)
    # Kept, so that the page can be written again without measuring again (--render).
    with open(os.path.join(REPO, "build", "bench-raw.pickle"), "wb") as f:
        pickle.dump((results, ceilings, rounds, machine_facts(), args.quick, extra, PEER_DURABILITY), f)
    write_results(results, ceilings, rounds, machine_facts(), args.quick, extra)


NOTES = """How to read it:

- mailport's implicit-TLS rows log in on every connection (465 requires AUTH; the verified-
  credential cache makes all but the first login an HMAC); Postfix's do not (this private
  instance has no SASL). mailport's STARTTLS rows use its port-25 role, which offers STARTTLS
  and takes mail for local domains without AUTH, like Postfix's STARTTLS port here.
- The openssl s_server ceiling is one process doing one handshake at a time; mailport can
  exceed it because its handshakes overlap with the client's work.
- This machine's spool file system is ext4 without a journal, mounted with `discard`, on a
  virtual disk: every fsync is a device flush, and creating or deleting a file costs metadata
  writes and a discard. Postfix creates and deletes one queue file per message; mailport,
  since its acceptance journal keeps messages in memory until they are delivered, none for
  a message delivered within the second (see docs/guarantees.md, "Accepted means durable"). Each run
  starts once the previous one's queue is empty, after a sync(2) and half a second of quiet.
  Run-to-run spread (the ranges) comes mostly from the disk and the neighbours of this VM.
- "mailport CPU µs/msg" is the server process's CPU (every thread) over the run divided by the
  messages; the load generator runs on the same two cores, so a microsecond the server saves
  shows up only in part as throughput.

What bounds each row now (per-scenario CPU profiles: [results/](results/README.md)):

- Plaintext rows: about two thirds of the server's CPU is the kernel (loopback TCP, epoll, the
  journal's fdatasync and the block layer under it), a fifth libc (allocation, copies, the log
  lines), mailport's own code about 5 %. A command costs four system calls: libevent's
  epoll_wait, FIONREAD and readv, and the reply's send (written at once, not after a turn of
  the loop for EPOLLOUT); a message adds its share of a group-committed journal write and
  fdatasync, and two log lines. smtp-sink, the ceiling, stores and logs nothing.
- plain C1 K10: one client waits for every reply, so a message is four round trips (MAIL,
  RCPT, DATA, the end of data) plus one fdatasync on the critical path; the row compares the
  p50 with fdatasync alone on the same file system. smtp-sink's ceiling is the same four round
  trips without the fdatasync: reaching 70 % of it would need mailport's dialogue to be faster
  than smtp-sink's by about one fdatasync.
- TLS rows with a handshake per message: libcrypto and libssl take about a third of the
  server's CPU, libc's allocator a fifth (OpenSSL 3.0 allocates and frees a great deal per
  handshake). Full and resumed TLS 1.3 handshakes both do an X25519 key exchange (resumption
  keeps forward secrecy: psk_dhe_ke; psk_ke without it is not allowed), the key schedule and
  one new ticket; a full one adds one ECDSA P-256 signature (18 µs here, `openssl speed`) and
  the certificate. The server therefore spends about as much on either (see the CPU column);
  resumption saves mostly the client's certificate verification. Three times the
  full-handshake row cannot be had with an ECDSA certificate: the rest of a message's cost
  (the connection, the dialogue, AUTH, the commit; the plain C16 K1 row) does not shrink
  with the handshake. With an RSA-2048 certificate (a 250 µs signature) resumption pays more.
- STARTTLS C16 K10: the handshake is paid once per ten messages; the rest is the plaintext
  rows' work plus AES-GCM records.
- 100 KiB: copying (the kernel's, then the journal's) and the DATA decoder, which hands the
  message on in one piece per read.
- AUTH rows: a login is an HMAC of the credentials against the verified-credential cache; a
  full yescrypt (tens of milliseconds) once a minute per credentials, and once for all the
  sessions that present them at the same moment.

"""


def peers_table(results):
    """Every server of the interleaved rounds side by side: medians, and mailport's ratio."""
    peers = []
    for v in results.values():
        peers += [k for k in v if k not in ("mailport", "Postfix", "p99", "p50", "cpu_us") and k not in peers]
    if not peers:
        return ""
    out = ("## Every server side by side\n\nThe same interleaved rounds as the table above (each server in turn, "
           "same generator, same messages); medians in messages per second, and mailport's rate as a multiple of "
           "each. A server without the row's mode in this setup has –.\n\n"
           "| rows | scenario | mailport | Postfix | " + " | ".join(peers) + " |\n|---|---|---|---|" +
           "---|" * len(peers) + "\n")
    for (rowset, name), v in results.items():
        mp = statistics.median(v["mailport"]) if v.get("mailport") else 0
        cells = []
        for srv in ["Postfix"] + peers:
            vals = v.get(srv) or []
            med = statistics.median(vals) if vals else 0
            cells.append(f"{med:,.0f} ({mp / med:.1f}×)" if med > 0 and mp else "–")
        out += f"| {rowset} | {name} | {mp:,.0f} | " + " | ".join(cells) + " |\n"
    out += "\nWhat each does before its 250:\n\n- mailport and Postfix: the message is on disk (fsync or fdatasync).\n"
    out += "".join(f"- {k}: {v}\n" for k, v in PEER_DURABILITY.items()) + "\n"
    return out


def loops_table(loops):
    """Issue 36: one event loop against two, same run."""
    if not loops:
        return ""
    out = ("## One event loop or two (`[server] workers`), same run\n\nmailport with `workers = 1` and "
           "`workers = 2`, interleaved, plaintext and TLS rows, discard; medians [min–max] msg/s and the "
           "server's CPU per message. \"free\": no pinning (server and load generator share both cores); "
           "\"pinned\": the generator on core 1, the one-loop server on core 0 (its best case, a core of its "
           "own) and the two-loop server on both. \"2 processes\": two independent one-loop servers, each "
           "with its own spool and journal, half the sessions each, at once: the share-nothing design's best "
           "case (driven by two smtpbench processes, one each: its generator side has two threads). \"cores busy\": (server CPU + load generator CPU) per message × the rate, of the 2 "
           "cores.\n\n| scenario | placement | 1 loop | 2 loops | 2 / 1 | 2 processes | server CPU µs/msg (1 / 2 / 2 "
           "processes) | generator CPU µs/msg | cores busy (1 / 2 loops) |\n|---|---|---|---|---|---|---|---|---|\n")
    for (name, pin), row in loops.items():
        a, b = row[1]["msgs"], row[2]["msgs"]
        if not a or not b:
            continue
        ca = statistics.median(row[1]["cpu_us"]) if row[1]["cpu_us"] else 0
        cb = statistics.median(row[2]["cpu_us"]) if row[2]["cpu_us"] else 0
        p2 = row.get("2p", {}).get("msgs") or []
        cp = statistics.median(row["2p"]["cpu_us"]) if p2 else 0
        ga = statistics.median(row[1].get("gen_cpu_us") or [0])
        gb = statistics.median(row[2].get("gen_cpu_us") or [0])
        busy = (f"{(ca + ga) * statistics.median(a) / 1e6:.2f} / {(cb + gb) * statistics.median(b) / 1e6:.2f}"
                if ga and gb else "–")
        out += (f"| {name} | {'pinned' if pin else 'free'} | {fmt_range(a)} | {fmt_range(b)} | "
                f"{statistics.median(b) / statistics.median(a):.2f}× | {fmt_range(p2) if p2 else '–'} | "
                f"{ca:,.0f} / {cb:,.0f} / {cp:,.0f} | {ga:,.0f} | {busy} |\n")
    return out + "\n"


def generators_table(gen):
    """Issue 36: both load generators against the same servers, interleaved."""
    if not gen:
        return ""
    out = ("## Two load generators, same run\n\nplain C16 K10, 1 KiB, interleaved: `smtpbench` (one libevent "
           "thread for all sessions, as Postfix's smtp-source) and `smtpthreads` (a blocking thread per session, "
           "as mail clients and application servers are: one connection each, waiting for every reply). "
           "Neither pipelines. mailport with `discard:` delivery and with Maildir delivery; smtp-sink is the "
           "ceiling, measured by the same generator in the same rounds.\n\n| generator | mailport (discard) | "
           "mailport (Maildir) | smtp-sink | discard / smtp-sink | Maildir / smtp-sink | mailport CPU µs/msg |\n"
           "|---|---|---|---|---|---|---|\n")
    for g, v in gen.items():
        sink = statistics.median(v["smtp-sink"]) if v["smtp-sink"] else 0
        md = v.get("mailport Maildir") or []
        out += (f"| {g} | {fmt_range(v['mailport'])} | {fmt_range(md) if md else '–'} | {fmt_range(v['smtp-sink'])} | "
                f"{v['ratio']:.0%} | {statistics.median(md) / sink if md and sink else 0:.0%} | "
                f"{statistics.median(v['cpu_us']) if v['cpu_us'] else 0:,.0f} |\n")
    return out + "\n"


def write_results(results, ceilings, rounds, facts, quick, extra):
    out = os.path.join(REPO, "bench")
    rows = []
    dat = []
    for (rowset, name), v in results.items():
        mp, pf = v["mailport"], v["Postfix"]
        ratio = statistics.median(mp) / statistics.median(pf) if mp and pf and statistics.median(pf) > 0 else None
        target = TARGETS.get(name) if rowset == "discard" else None
        ceil = ceilings.get(name) if rowset == "discard" else None
        share = ""
        if ceil and mp:
            pct = 100 * statistics.median(mp) / ceil[1]
            want = CEILING_TARGETS.get(name)
            share = f"{pct:.0f} % of {ceil[0]} ({ceil[1]:,.0f})" + (
                f"; target ≥ {want} %{' ✔' if pct >= want else ' ✘'}" if want else "")
        if name == "plain C1 K10" and rowset == "discard" and ceilings.get("fdatasync_ms") and v["p50"]["mailport"]:
            share += (f"; p50 {statistics.median(v['p50']['mailport']):.2f} ms against one fdatasync alone "
                      f"{ceilings['fdatasync_ms']:.2f} ms")
        full = results.get((rowset, "implicit TLS C16 K1"), {}).get("mailport")
        if name == "implicit TLS C16 K1 resumed" and full and mp:
            x = statistics.median(mp) / statistics.median(full)
            # Retired (issue 36): both handshakes do the X25519 exchange and the key schedule; a
            # full one adds only an 18 µs ECDSA signature (see below), so 3× cannot be had.
            share = f"{x:.2f}× the full-handshake row (the goal of {RESUMED_TARGET}× is retired: see below)"
        p99 = f"{statistics.median(v['p99']['mailport']):.1f} / " + (
            f"{statistics.median(v['p99']['Postfix']):.1f}" if v["p99"]["Postfix"] else "–")
        cpu = f"{statistics.median(v['cpu_us']):,.0f}" if v.get("cpu_us") else "–"
        rows.append(f"| {rowset} | {name} | {fmt_range(mp) if mp else '–'} | {fmt_range(pf) if pf else '–'} | "
                    f"{f'{ratio:.2f}×' if ratio else '–'} | {f'≥ {target}×' if target else ''}"
                    f"{' ✔' if target and ratio and ratio >= target else (' ✘' if target and ratio else '')} | "
                    f"{p99} | {cpu} | {share} |")
        dat.append((f"{name} ({rowset})" if rowset != "discard" else name,
                    statistics.median(mp) if mp else 0, statistics.median(pf) if pf else 0))
    with open(os.path.join(out, "results.dat"), "w") as f:
        for label, a, b in dat:
            f.write(f"\"{label}\" {a:.0f} {b:.0f}\n")
    plot = shutil.which("gnuplot")
    if plot:
        script = f"""set terminal pngcairo size 1100,520 font ",10"
set output "{out}/results.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "messages per second (median of {rounds})"
set xtics rotate by -30 nomirror
set grid ytics
set key top right
set title "mailport vs Postfix 3.7, same machine, fsync before 250 (bench/RESULTS.md)"
plot "{out}/results.dat" using 2:xtic(1) title "mailport" lc rgb "#2c7fb8", "" using 3 title "Postfix" lc rgb "#bdbdbd"
"""
        r = subprocess.run([plot], input=script, capture_output=True, text=True)
        if r.returncode != 0:
            script = script.replace('pngcairo size 1100,520 font ",10"', "png size 1100,520")
            subprocess.run([plot], input=script, capture_output=True, text=True)
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("# mailport vs Postfix: measured side by side\n\n")
        f.write("Written by `make bench` (bench/run.py)" + (" in --quick mode (one round, 20 % of the messages: a "
                "smoke run, not the figures to quote)" if quick else "") + ". Each scenario ran on both servers "
                f"interleaved (mailport, Postfix, mailport, Postfix ...), {rounds} round(s); the table gives the median "
                "and [min–max] in messages per second, counted by the load generator only after the 250 to the end "
                "of data. Both servers make every message durable (fsync or fdatasync) before that 250 and deliver to a discard target "
                "(`maildir = discard:` / Postfix `discard:`); the Maildir rows deliver into Maildir on both "
                "(mailport's Maildir, Postfix's virtual(8)). p99 is per message latency, MAIL to 250, in ms.\n\n")
        f.write("| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in facts.items()) + "\n")
        f.write("| rows | scenario | mailport msg/s | Postfix msg/s | ratio | target | p99 ms (mailport / Postfix) "
                "| mailport CPU µs/msg | mailport vs ceiling |\n|---|---|---|---|---|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n\n")
        f.write("![mailport vs Postfix](results.png)\n\n")
        f.write(peers_table(results))
        f.write(loops_table(extra.get("loops", {})))
        f.write(generators_table(extra.get("generators")))
        f.write(NOTES)
        f.write("## Other measurements\n\n| what | mailport | Postfix / msmtp | ratio | target |\n|---|---|---|---|---|\n")
        idle = extra.get("idle", {})
        if idle:
            held_all = idle["sessions"] == idle["wanted"]
            per = (idle["rss_mib"] - idle["rss_before_mib"]) * 1024 / max(1, idle["sessions"])
            f.write(f"| {idle['sessions']:,} idle implicit-TLS sessions (of {idle['wanted']:,}; {idle['failed']} failed): "
                    f"server RSS | {idle['rss_mib']:.0f} MiB "
                    f"(idle server {idle['rss_before_mib']:.0f} MiB; set up in {idle['setup_s']:.1f} s; "
                    f"{per:.1f} KiB a session) | | | retired: ≤ 120 MiB cannot be had with OpenSSL 3.0, whose "
                    f"SSL object alone is ~10 KiB a session{' (held all ✔)' if held_all else ' ✘ not all held'} |\n")
            f.write(f"| new sessions while they are held | {idle['served']}/20 messages accepted, p50 "
                    f"{idle['p50_ms']:.2f} ms | | | served, p50 < 1 ms"
                    f"{' ✔' if idle['served'] == 20 and idle['p50_ms'] < 1 else ' ✘'} |\n")
        rel = extra.get("relay", {})
        if rel.get("mailport") and rel.get("Postfix"):
            ratio = rel["mailport"]["rate"] / rel["Postfix"]["rate"] if rel["Postfix"]["rate"] else 0
            f.write(f"| outbound: queue → smtp-sink ({int(rel['mailport']['msgs']):,} messages, injection to empty "
                    f"queue) | {rel['mailport']['rate']:,.0f} msg/s | {rel['Postfix']['rate']:,.0f} msg/s | "
                    f"{ratio:.2f}× | ≥ 2×{' ✔' if ratio >= 2 else ' ✘'} |\n")
        dn = extra.get("dane", {})
        if dn.get("dane") and dn.get("insecure"):
            a, b = statistics.median(dn["dane"]), statistics.median(dn["insecure"])
            f.write(f"| outbound: direct MX delivery with DANE (DNSSEC, TLSA, certificate matched) vs the same "
                    f"MX unprotected (opportunistic STARTTLS), caches warm | {fmt_range(dn['dane'])} msg/s | "
                    f"{fmt_range(dn['insecure'])} msg/s | {a / b:.2f}× | |\n")
        dk = extra.get("dkim", {})
        if dk.get("unsigned"):
            base = statistics.median(dk["unsigned"])
            for kind, words in (("ed25519", "ed25519-sha256"), ("rsa", "rsa-sha256 (2048 bits)"),
                                ("both", "rsa-sha256 and ed25519-sha256 side by side")):
                if dk.get(kind):
                    f.write(f"| submission over 465 (AUTH, C16 K10) DKIM-signed with {words} vs unsigned "
                            f"({fmt_range(dk['unsigned'])} msg/s) | {fmt_range(dk[kind])} msg/s | – | "
                            f"{statistics.median(dk[kind]) / base:.2f}× of unsigned | |\n")
        ck = extra.get("checks", {})
        if ck.get("checked") and ck.get("unchecked"):
            f.write(f"| port 25 (C16 K10, discard) with SPF, DKIM and DMARC checked (local DNS, caches warm) vs "
                    f"unchecked ({fmt_range(ck['unchecked'])} msg/s) | {fmt_range(ck['checked'])} msg/s | – | "
                    f"{statistics.median(ck['checked']) / statistics.median(ck['unchecked']):.2f}× of unchecked | |\n")
        dr = extra.get("directory", {})
        words = {"messages": "messages to a local mailbox (port 25, C16 K10, discard)",
                 "auth warm": "logins over 465, verified-credential cache warm (C16 K1, a message each)",
                 "auth cold": "logins over 465, cache cold (a different mailbox each, 8 clients)",
                 "rcpt": "RCPT lookups in one session"}
        for k, w in words.items():
            if dr.get("pg", {}).get(k) and dr.get("file", {}).get(k):
                a, b = statistics.median(dr["pg"][k]), statistics.median(dr["file"][k])
                f.write(f"| directory in PostgreSQL vs the users file, 10,000 mailboxes: {w} | "
                        f"{fmt_range(dr['pg'][k])}/s | users file {fmt_range(dr['file'][k])}/s | "
                        f"{a / b:.2f}× of the file | |\n")
        pfm = dr.get("postfix", {}).get("messages")
        if pfm and dr.get("pg", {}).get("messages"):
            a = statistics.median(dr["pg"]["messages"])
            f.write(f"| one node, directory in PostgreSQL, messages to a local mailbox (port 25, C16 K10, discard) vs "
                    f"Postfix in the same run | {fmt_range(dr['pg']['messages'])} msg/s | Postfix {fmt_range(pfm)} msg/s "
                    f"| {a / statistics.median(pfm):.2f}× | |\n")
        for what, v in extra.get("shared", {}).items():
            if v.get("redis") and v.get("local"):
                w = ("submission over 465 (AUTH, C16 K10)" if what == "submission" else
                     "port 25 (C16 K1: a connection per message)")
                f.write(f"| {w} with every limit counted in Redis (connection rate, AUTH lockout, messages per "
                        f"user) vs on the node alone ({fmt_range(v['local'])} msg/s) | {fmt_range(v['redis'])} msg/s | – | "
                        f"{statistics.median(v['redis']) / statistics.median(v['local']):.2f}× of local | |\n")
        snd = extra.get("send", {})
        if snd.get("msmtp"):
            f.write(f"| one message over 465 to a local server (median wall time, login included) | "
                    f"{snd['mailport send']:.1f} ms | msmtp {snd['msmtp']:.1f} ms | "
                    f"{snd['msmtp'] / snd['mailport send']:.2f}× as fast | no slower"
                    f"{' ✔' if snd['mailport send'] <= snd['msmtp'] else ' ✘'} |\n")
    print(f"wrote {out}/RESULTS.md" + (" and results.png" if plot else " (no gnuplot: no plot)"))


if __name__ == "__main__":
    main()
