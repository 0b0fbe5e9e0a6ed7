#!/usr/bin/env python3
"""A private OpenSMTPD for make bench (bench/run.py), plaintext rows only (Debian 12's
OpenSMTPD 6.8 cannot do TLS with OpenSSL 3): Debian's opensmtpd package unpacked by
scripts/peer-opensmtpd into build/peers/opensmtpd (nothing installed; it conflicts with other
MTAs), its own smtpd.conf, listening on 127.0.0.1:<free port>, in the foreground (-d), as root
(it drops to its opensmtpd / opensmtpq users).

Its paths are compiled in: the queue /var/spool/smtpd, the privsep chroot
/var/lib/opensmtpd/empty, the control socket /var/run/smtpd.sock, the delivery helpers
/usr/libexec/opensmtpd/mail.*. It runs in a mount namespace of its own (unshare -m) in which a
temporary directory is bind-mounted on /var, the unpacked package's usr/libexec on
/usr/libexec, and a resolv.conf of ours ("lookup file": its resolver, libasr, would otherwise
ask the nameserver for the client's PTR record) on /etc/resolv.conf: nothing outside the
temporary directory is written (but for the opensmtpd and opensmtpq users, which
scripts/peer-opensmtpd creates once), and nothing resolves beyond /etc/hosts. Needs root.

Delivery: the recipient maps (virtual table) to one user of its own (userbase table: uid
65534, a home in the temporary directory); discard rows: an mda that reads the message and
drops it (cat >/dev/null); Maildir rows: its maildir action (mail.maildir, which fsyncs the
file it delivers, after the 250). Before its 250 it fsyncs nothing: see DURABILITY.

Its listen backlog is 5 (compiled in). With 16 clients reconnecting at once on a busy machine
its accept queue overflows; Linux then drops the client's final ACK and, the server speaking
first in SMTP, that client waits up to about half a minute for a greeting: a run then ends on
those stragglers. OpenSMTPDBench(maildir, backlog=N) raises the backlog to N with an LD_PRELOAD
of bench/opensmtpd/backlog.c (built into build/peers/opensmtpd): a change to the server, off
unless asked for. Run it alone for a smoke run: bench/peer_opensmtpd.py [--maildir] [--backlog N]"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

DURABILITY = ("(listen backlog raised from 5 to 128 for the bench) OpenSMTPD 6.8 writes the message and its envelope into its queue before the 250 but fsyncs "
              "neither (its queue_fs syncs only envelope updates): at the 250 the message may still be only in "
              "the page cache.")

NOBODY = 65534

START = ('mount --bind "$1/var" /var && mount --bind "$2" /usr/libexec && '
         'mount --bind "$1/resolv.conf" /etc/resolv.conf && exec "$3" -d -f "$1/smtpd.conf"')


class OpenSMTPDBench:
    name = "OpenSMTPD"

    def __init__(self, maildir, backlog=None):
        if os.geteuid() != 0:
            raise RuntimeError("OpenSMTPD needs root (its privilege separation, and the mount namespace)")
        if not shutil.which("unshare"):
            raise RuntimeError("no unshare(1)")
        r = B.sh(os.path.join(B.REPO, "scripts", "peer-opensmtpd"), timeout=600)
        if r.returncode != 0:
            raise RuntimeError("cannot unpack OpenSMTPD: " + r.stderr[-300:])
        self.root = os.path.join(B.REPO, r.stdout.strip())
        smtpd = os.path.join(self.root, "usr", "sbin", "smtpd")
        self.dir = d = tempfile.mkdtemp(prefix="mailport-bench-opensmtpd-")
        os.chmod(d, 0o755)      # its unprivileged processes traverse it (it is /var for them)
        self.maildir = maildir
        self.rcpt = "sink@os.example.test"
        self.p25 = B.free_port()
        for sub in ("var/spool", "var/lib/opensmtpd/empty", "var/run", "home", "Maildir"):
            os.makedirs(os.path.join(d, sub))
        os.chmod(os.path.join(d, "var"), 0o755)
        for sub in ("home", "Maildir"):
            os.chown(os.path.join(d, sub), NOBODY, NOBODY)
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("lookup file\nnameserver 127.0.0.1\n")
        deliver = f'maildir "{d}/Maildir"' if maildir else 'mda "exec /bin/cat >/dev/null"'
        with open(os.path.join(d, "smtpd.conf"), "w") as f:
            f.write(f"""listen on 127.0.0.1 port {self.p25} hostname os.example.test
table vusers {{ "{self.rcpt}" = "bench" }}
table ubase {{ "bench" = "{NOBODY}:{NOBODY}:{d}/home" }}
action "bench" {deliver} virtual <vusers> userbase <ubase>
match from any for domain "os.example.test" action "bench"
""")
        r = B.sh(smtpd, "-n", "-f", os.path.join(d, "smtpd.conf"))
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("smtpd.conf refused: " + (r.stdout + r.stderr)[-300:])
        env = None
        if backlog:
            so = os.path.join(self.root, "backlog.so")
            r = B.sh("cc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(B.REPO, "bench", "opensmtpd", "backlog.c"),
                     "-ldl")
            if r.returncode != 0:
                shutil.rmtree(d, ignore_errors=True)
                raise RuntimeError("cannot build backlog.so: " + r.stderr[-300:])
            env = dict(os.environ, LD_PRELOAD=so, BENCH_LISTEN_BACKLOG=str(backlog))
        self.log_path = os.path.join(d, "log")
        self.log = open(self.log_path, "wb")
        # unshare and sh exec in turn: self.proc is smtpd's parent process itself.
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", START, "sh", d,
                                      os.path.join(self.root, "usr", "libexec"), smtpd],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        try:
            B.wait_listening(self.p25, timeout=30)
        except RuntimeError:
            self.close()
            raise RuntimeError("OpenSMTPD did not start: " + self.read_log()[-1000:])

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def port(self, mode):
        return self.p25 if mode == "plain" else None

    def flags(self, mode, flags):
        return flags

    def drain(self, timeout=120):
        spool = os.path.join(self.dir, "var", "spool", "smtpd")
        B.wait_empty([os.path.join(spool, q) for q in ("incoming", "queue", "temporary")], timeout)

    def pids(self):
        return [self.proc.pid]

    def close(self):
        B.end_process(self.proc)  # its parent stops its other processes
        self.log.close()
        # The namespace, and its mounts, went with its last process.
        shutil.rmtree(self.dir, ignore_errors=True)


def smoke(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--maildir", action="store_true")
    ap.add_argument("--backlog", type=int, default=None, help="listen backlog raised to N (LD_PRELOAD)")
    args = ap.parse_args(argv)
    srv = OpenSMTPDBench(args.maildir, backlog=args.backlog)
    try:
        srv.drain()
        B.settle()
        res = B.run_bench(srv.port("plain"), "plain", 16, 10, 1024, 2000, "", srv.rcpt)
        what = (" Maildir" if args.maildir else "") + (f" backlog={args.backlog}" if args.backlog else "")
        print(f"{srv.name}{what}: msgs_per_s={res.get('msgs_per_s', 0):.0f} "
              f"msgs={res.get('msgs', 0):.0f} failed={res.get('failed', 0):.0f} p50_ms={res.get('p50_ms', 0):.2f} "
              f"p99_ms={res.get('p99_ms', 0):.2f}")
        return 0 if res.get("failed", 1) == 0 and res.get("msgs", 0) > 0 else 1
    finally:
        srv.close()




def PEER(maildir):     # noqa: N802 (make bench's constructor)
    # make bench raises the compiled-in listen backlog of 5: with it, 16 clients reconnecting
    # at once overflow the kernel's accept queue and wait out SYN retransmits (up to 30 s),
    # which measures the backlog, not the server. Said in RESULTS.md.
    return OpenSMTPDBench(maildir, backlog=128)


if __name__ == "__main__":
    sys.exit(smoke(sys.argv[1:]))
