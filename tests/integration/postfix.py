"""A private Postfix instance for tests: Debian's postfix package unpacked by
scripts/peer-postfix (nothing installed, no system user created), its own config, queue and
log directories, two smtpd listeners on loopback high ports (implicit TLS, and STARTTLS
required), every message delivered to discard:. Runs as nobody/mail (Postfix requires a
setgid group other than mail_owner's, and default_privs other than mail_owner)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import Skip, free_port
from pki import path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Postfix:
    def __init__(self, plain=False, extra_main="", extra_master="", prepare=None):
        """plain: also a port-25-style listener (self.port_plain) with no TLS requirement;
        extra_main / extra_master: lines appended to main.cf / master.cf ("@DIR@" becomes the
        instance directory); prepare(dir): called before Postfix starts (benchmarks)."""
        r = subprocess.run([os.path.join(REPO, "scripts", "peer-postfix")], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise Skip("postfix package not available: " + r.stderr[-200:])
        self.root = os.path.join(REPO, r.stdout.strip())
        self.dir = tempfile.mkdtemp(prefix="mailport-postfix-")
        os.chmod(self.dir, 0o755)            # its daemons run as nobody
        self.port_tls, self.port_starttls = free_port(), free_port()
        self.port_plain = free_port() if plain else None
        d = self.dir
        for sub in ("etc", "spool", "data", "tls"):
            os.makedirs(os.path.join(d, sub))
        for f in ("server.pem", "server.key", "ca.pem"):
            shutil.copy(path(f), os.path.join(d, "tls", f))
        shutil.chown(os.path.join(d, "data"), "nobody")
        lib = os.path.join(self.root, "usr/lib/postfix")
        self.env = dict(os.environ, LD_LIBRARY_PATH=lib, MAIL_CONFIG=os.path.join(d, "etc"))
        self.log_path = os.path.join(d, "maillog")
        with open(os.path.join(d, "etc", "main.cf"), "w") as f:
            base = (f"""compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
command_directory = {self.root}/usr/sbin
daemon_directory = {self.root}/usr/lib/postfix/sbin
shlib_directory = {lib}
meta_directory = {self.root}/etc/postfix
mail_owner = nobody
setgid_group = mail
default_privs = daemon
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH={lib}
maillog_file = {self.log_path}
maillog_file_prefixes = {d}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf.example.test
mydestination = pf.example.test, postfix.example
local_recipient_maps =
local_transport = discard
default_transport = discard
relay_transport = discard
alias_maps =
alias_database =
smtpd_tls_cert_file = {d}/tls/server.pem
smtpd_tls_key_file = {d}/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_relay_restrictions = reject_unauth_destination
""")
            # A key in extra_main replaces the base one (Postfix would warn about each duplicate).
            extra = extra_main.replace("@DIR@", d)
            keys = {ln.split("=", 1)[0].strip() for ln in extra.splitlines() if "=" in ln and not ln.startswith(" ")}
            base = "".join(ln + "\n" for ln in base.splitlines() if ln.split("=", 1)[0].strip() not in keys)
            f.write(base + extra)
        with open(os.path.join(d, "etc", "master.cf"), "w") as f:
            if plain:
                f.write(f"127.0.0.1:{self.port_plain} inet n - n - - smtpd\n")
            f.write(f"""127.0.0.1:{self.port_tls} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
127.0.0.1:{self.port_starttls} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
""" + extra_master.replace("@DIR@", d))
        if prepare is not None:
            prepare(d)
        r = subprocess.run([os.path.join(self.root, "usr/sbin/postfix"), "start"], env=self.env, capture_output=True,
                           text=True, timeout=60)
        deadline = time.time() + 30
        while time.time() < deadline and "daemon started" not in self.log():
            time.sleep(0.1)
        if "daemon started" not in self.log():
            self.close()
            raise AssertionError("private Postfix did not start: " + r.stdout + r.stderr + self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_sent(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log().count("relay=none, delay=") >= n and self.log().count("status=sent") >= n:
                return
            time.sleep(0.1)
        raise AssertionError("Postfix did not deliver %d messages:\n%s" % (n, self.log()[-3000:]))

    def close(self):
        pid = self._master_pid()
        try:
            subprocess.run([os.path.join(self.root, "usr/sbin/postfix"), "stop"], env=self.env,
                           capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        # `postfix stop` can leave the master running: seen under heavy load (make bench: it
        # waited on a master that never finished starting), and twice after a failed test in
        # a network namespace. End our own master by the pid it wrote, nothing else.
        deadline = time.time() + 5
        while pid is not None and self._is_master(pid) and time.time() < deadline:
            time.sleep(0.1)
        if pid is not None and self._is_master(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _master_pid(self):
        try:
            with open(os.path.join(self.dir, "spool", "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if self._is_master(pid) else None

    def _is_master(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return False
        return not zombie and cmd.startswith(os.path.join(self.root, "usr/lib/postfix/sbin/master").encode())
