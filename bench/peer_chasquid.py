#!/usr/bin/env python3
"""A private chasquid 1.11 for make bench: Debian's chasquid unpacked by scripts/peer-chasquid
(nothing installed), its own --config_dir, data_dir and mail log in a temporary directory, run
as nobody (Debian runs it as its own unprivileged user) on loopback high ports: the SMTP role
(plain, STARTTLS offered) and submission over implicit TLS (which, like mailport's 465, takes
mail only after AUTH), with the test PKI as certs/mx.example.test/. One local domain,
example.test, whose one user sink has the bench password (chasquid takes mail for local users
only; chasquid-util user-add).

Delivery goes through chasquid's MDA, one process per message: /bin/true for the discard rows;
for the Maildir rows safecat (Debian's package: the maildir algorithm, a file in tmp/, fsync,
link into new/), a minimal MDA in place of chasquid's default maildrop, which would need
system users.

chasquid checks SPF on every MAIL FROM of an unauthenticated session, a DNS query through the
system resolver: this module runs it in a mount namespace of its own (unshare) in which
/etc/resolv.conf names 127.0.0.9, where nothing listens, so that no query leaves loopback (SPF
gives temperror at once, which chasquid does not reject on).

chasquid 1.11 answers 451 once 200 messages wait in its queue (maxQueueSize, fixed in 1.11,
configurable since 1.16): under C64 the MDA processes fall behind and part of the run fails."""
import os
import shutil
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import run as B  # noqa: E402

DURABILITY = ("chasquid 1.11 (Debian 12) writes the queue file (temporary file, close, rename) without fsync "
              "before its 250; upstream added that fsync in 1.17.")
HOSTNAME = "mx.example.test"
DOMAIN = "example.test"
SAFECAT = "/usr/bin/safecat"    # the Maildir rows' MDA
RESOLVER = "127.0.0.9"          # loopback, nothing listens: the SPF lookups fail at once



def udp_listeners(port):
    out = []
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                out += [ln.split()[1] for ln in f.readlines()[1:] if ln.split()[1].endswith(f":{port:04X}")]
        except OSError:
            pass
    return out


class ChasquidBench:
    name = "chasquid"
    auth = True         # sink@example.test with the bench password, over TLS

    def __init__(self, maildir):
        r = B.sh(os.path.join(B.REPO, "scripts", "peer-chasquid"), timeout=300)
        if r.returncode != 0:
            raise RuntimeError("cannot unpack chasquid: " + r.stderr[-200:])
        root = os.path.join(B.REPO, r.stdout.strip())
        self.bin = os.path.join(root, "usr/bin/chasquid")
        if os.geteuid() != 0:
            raise RuntimeError("chasquid's private resolv.conf needs a mount namespace (root)")
        if udp_listeners(53):
            raise RuntimeError("something listens on UDP port 53: chasquid's SPF lookups could leave loopback")
        if maildir and not os.access(SAFECAT, os.X_OK):
            raise RuntimeError(f"no {SAFECAT} (scripts/install-deps --bench installs safecat)")
        self.maildir = maildir
        self.rcpt = "sink@" + DOMAIN
        self.dir = d = tempfile.mkdtemp(prefix="mailport-chasquid-")
        os.chmod(d, 0o755)
        conf = os.path.join(d, "conf")
        os.makedirs(os.path.join(conf, "certs", HOSTNAME))
        os.makedirs(os.path.join(conf, "domains", DOMAIN))
        for src, dst in (("server.pem", "fullchain.pem"), ("server.key", "privkey.pem")):
            shutil.copy(B.pki_path(src), os.path.join(conf, "certs", HOSTNAME, dst))
        self.p25, self.p465 = B.free_port(), B.free_port()
        if maildir:
            box = os.path.join(d, "vmail", "sink", "Maildir")
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(box, sub))
            mda_conf = (f'mail_delivery_agent_bin: "{SAFECAT}"\nmail_delivery_agent_args: "{box}/tmp"\n'
                        f'mail_delivery_agent_args: "{box}/new"\n')
        else:
            mda_conf = 'mail_delivery_agent_bin: "/bin/true"\n'
        with open(os.path.join(conf, "chasquid.conf"), "w") as f:
            f.write(f"""hostname: "{HOSTNAME}"
smtp_address: "127.0.0.1:{self.p25}"
submission_address: "127.0.0.1:{B.free_port()}"
submission_over_tls_address: "127.0.0.1:{self.p465}"
data_dir: "{d}/data"
mail_log_path: "{d}/mail.log"
{mda_conf}""")
        u = B.sh(os.path.join(root, "usr/bin/chasquid-util"), "-C=" + conf, "user-add", self.rcpt,
                 "--password=" + B.PASSWORD)
        if u.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("chasquid-util user-add: " + u.stdout + u.stderr)
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write(f"nameserver {RESOLVER}\noptions timeout:1 attempts:1\n")
        os.makedirs(os.path.join(d, "data"))
        subprocess.run(["chown", "-R", "nobody:nogroup", d], check=True)
        for dirpath, _, files in os.walk(conf):       # the key stays private to nobody
            for fn in files:
                os.chmod(os.path.join(dirpath, fn), 0o600)
        self.log = open(os.path.join(d, "chasquid.out"), "wb")
        # unshare and sh exec in turn: self.proc's pid becomes chasquid's own.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$1" /etc/resolv.conf && exec setpriv --reuid=nobody --regid=nogroup --clear-groups '
             '"$2" --config_dir "$3" --logfile "$4"',
             "sh", os.path.join(d, "resolv.conf"), self.bin, conf, os.path.join(d, "chasquid.log")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        try:
            for p in (self.p25, self.p465):
                B.wait_listening(p)
        except Exception:
            self.close()
            raise

    def port(self, mode):
        # STARTTLS on the SMTP role; implicit TLS is submission, which requires AUTH.
        return {"plain": self.p25, "starttls": self.p25, "implicit": self.p465}[mode]

    def flags(self, mode, flags):
        return flags + ",auth" if mode == "implicit" and "auth" not in flags else flags

    def drain(self, timeout=120):
        # Queue files are data/queue/m:<id>, temporary ones .m:<id>...; gone once delivered.
        B.wait_empty([os.path.join(self.dir, "data", "queue")], timeout)

    def logs(self):
        out = ""
        for name in ("mail.log", "chasquid.log", "chasquid.out"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += f.read()
            except FileNotFoundError:
                pass
        return out

    def close(self):
        B.end_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def smoke():
    B.smoke_both(ChasquidBench, "chasquid", lambda srv: os.path.join(srv.dir, "vmail"))


if __name__ == "__main__":
    smoke()
