#!/usr/bin/env python3
"""A private Exim 4.96 for make bench: Debian's exim4-daemon-light unpacked by scripts/peer-exim
(nothing installed, no system MTA touched), a minimal configure file of its own (not Debian's
split config), its spool, logs and pid file in a temporary directory, one daemon in the
foreground (exim -bdf) on loopback high ports: plain SMTP, the same with STARTTLS, implicit TLS
(the test PKI). It accepts mail for one local domain without DNS (no host lookups, no ident)
and, as Exim does by default, delivers each message at once in a process forked for it: to
:blackhole: (a redirect router) or, with maildir, into a Maildir (appendfile, maildir_format)
as the Exim user: with a configure file given by -C and not listed in the system's
TRUSTED_CONFIG_LIST (/etc/exim4/trusted_configs, left alone), Exim cannot regain root in the
processes it re-execs to deliver, so deliver_drop_privilege is set to say so.

What differs from Exim's defaults, and why: smtp_accept_max 20 -> 0 (no limit; the benchmark
holds 64 connections) and smtp_connect_backlog 20 -> 128 (mailport's listen backlog is not
the bottleneck either); smtp_accept_queue_per_connection 10 -> 0, so that every message is
delivered at once as the first ten of a connection are, rather than left for a queue runner
(-q30m here, as Debian's default). queue_only, queue_only_load and disable_fsync stay unset.

Debian 12's 4.96 holds its 221 to QUIT for 200 ms (it corks the socket and waits for the
client's FIN before flushing: Exim bug 3142, fixed in 4.99), so each connection costs 200 ms
more for a client that waits for that 221, as smtpbench does: it bounds the K1 rows.

The binary looks up its compiled-in user Debian-exim at start: as root, this module creates
that system user (as the package's postinst would) when it is missing."""
import os
import shutil
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import run as B  # noqa: E402

DURABILITY = ("Exim writes the message's -D and -H spool files and fsyncs both and the spool directory "
              "(disable_fsync unset) before its 250, then delivers in a process forked for it.")
EXIM_USER = "Debian-exim"       # compiled into Debian's binary (EXIM_USER=ref:Debian-exim)
DOMAIN = "exim.example.test"


class EximBench:
    name = "Exim"
    auth = False        # no authenticator configured: not in the AUTH rows

    def __init__(self, maildir):
        r = B.sh(os.path.join(B.REPO, "scripts", "peer-exim"), timeout=300)
        if r.returncode != 0:
            raise RuntimeError("cannot unpack Exim: " + r.stderr[-200:])
        self.root = os.path.join(B.REPO, r.stdout.strip())
        self.exim = os.path.join(self.root, "usr/sbin/exim4")
        if os.geteuid() != 0:
            raise RuntimeError("Exim's daemon must start as root here (it binds, then forks per message)")
        if B.sh("getent", "passwd", EXIM_USER).returncode != 0:
            u = B.sh("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                     "--shell", "/usr/sbin/nologin", EXIM_USER)
            if u.returncode != 0:
                raise RuntimeError(f"cannot create the user {EXIM_USER}: {u.stderr.strip()}")
        self.maildir = maildir
        self.rcpt = "sink@" + DOMAIN
        self.dir = d = tempfile.mkdtemp(prefix="mailport-exim-")
        os.chmod(d, 0o755)
        for sub in ("spool", "log", "tls"):
            os.makedirs(os.path.join(d, sub))
            shutil.chown(os.path.join(d, sub), EXIM_USER, EXIM_USER)
        for f in ("server.pem", "server.key"):
            shutil.copy(B.pki_path(f), os.path.join(d, "tls", f))
            shutil.chown(os.path.join(d, "tls", f), EXIM_USER, EXIM_USER)
        self.p25, self.p465 = B.free_port(), B.free_port()
        if maildir:
            os.makedirs(os.path.join(d, "vmail"))
            shutil.chown(os.path.join(d, "vmail"), EXIM_USER, EXIM_USER)
            # One fixed Maildir, as Postfix's static:sink/Maildir/ (a path from $local_part
            # would be tainted, which Exim 4.96 refuses).
            router = f"""maildir:
  driver = accept
  domains = +local_domains
  transport = maildir_delivery

begin transports

maildir_delivery:
  driver = appendfile
  directory = {d}/vmail/sink/Maildir
  maildir_format
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
  user = {EXIM_USER}
  mode = 0600
"""
        else:
            router = """discard:
  driver = redirect
  domains = +local_domains
  data = :blackhole:
"""
        self.conf = os.path.join(d, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(f"""primary_hostname = mx.{DOMAIN}
domainlist local_domains = {DOMAIN}
exim_path = {self.exim}
exim_user = {EXIM_USER}
exim_group = {EXIM_USER}
never_users = root
deliver_drop_privilege = true
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
pid_file_path = {d}/exim.pid
local_interfaces = <; 127.0.0.1
daemon_smtp_ports = {self.p25} : {self.p465}
tls_on_connect_ports = {self.p465}
tls_certificate = {d}/tls/server.pem
tls_privatekey = {d}/tls/server.key
tls_advertise_hosts = *
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
smtp_accept_max = 0
smtp_connect_backlog = 128
smtp_accept_queue_per_connection = 0
acl_smtp_rcpt = acl_check_rcpt
keep_environment =

begin acl

acl_check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers

{router}
begin retry

*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h
""")
        self.log = open(os.path.join(d, "daemon.out"), "wb")
        self.proc = subprocess.Popen([self.exim, "-C", self.conf, "-bdf", "-q30m"], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        try:
            for p in (self.p25, self.p465):
                B.wait_listening(p)
        except Exception:
            self.close()
            raise

    def port(self, mode):
        # STARTTLS on the plain port (offered, not required), implicit TLS on its own port.
        return {"plain": self.p25, "starttls": self.p25, "implicit": self.p465}[mode]

    def flags(self, mode, flags):
        return flags

    def drain(self, timeout=120):
        B.wait_empty([os.path.join(self.dir, "spool", "input")], timeout)

    def logs(self):
        try:
            with open(os.path.join(self.dir, "log", "mainlog"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        # The daemon's children (receivers, deliveries) finish on their own; end ours by its pid.
        B.end_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def smoke():
    B.smoke_both(EximBench, "Exim", lambda srv: os.path.join(srv.dir, "vmail"))


if __name__ == "__main__":
    smoke()
