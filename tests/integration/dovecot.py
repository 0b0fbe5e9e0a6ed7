"""Debian's Dovecot (dovecot-core, -imapd, -lmtpd), unpacked by scripts/peer-dovecot and run
privately: its own base_dir and config, IMAPS on a loopback port with the test CA's
certificate, LMTP and the auth-client socket as unix sockets in its directory, mailboxes in
passwd-file. The unpacked binaries have /usr/lib/dovecot compiled in: every service is pointed
at its executable in the unpacked tree, doveconf hands the master its settings (doveconf -e,
as Dovecot itself does), LD_LIBRARY_PATH finds libdovecot, and a small LD_PRELOAD shim
(dovecot_shim.c) sends its module loading (the OpenSSL module, plugins) to the unpacked tree.
Nothing is installed on the machine and no namespace is needed, so it runs in CI's root too."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import MAIL_USER, Skip, end_process, free_port, give_to_mail_user

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def shim():
    """dovecot_shim.c built once into build/peers (gcc is there: it built mailport)."""
    out = os.path.join(REPO, "build", "peers", "dovecot-shim.so")
    src = os.path.join(HERE, "dovecot_shim.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = f"{out}.{os.getpid()}.tmp"       # two passes of the suite may build it at once
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", tmp, src, "-ldl"], check=True, timeout=120)
        os.replace(tmp, out)
    return out


def root():
    out = subprocess.run([os.path.join(REPO, "scripts", "peer-dovecot")], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise AssertionError("scripts/peer-dovecot failed: " + out.stderr)
    return os.path.join(REPO, out.stdout.strip())


class Dovecot:
    def __init__(self, users, cert, key):
        """users: {address: crypt hash}"""
        self.root = root()
        self.libexec = os.path.join(self.root, "usr/lib/dovecot")
        # every directory of shared objects (auth links libstats_auth.so from modules/old-stats)
        libdirs = sorted({dp for dp, _d, fs in os.walk(self.libexec) if any(".so" in f for f in fs)})
        self.env = dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs), LD_PRELOAD=shim(),
                        MAILPORT_DOVECOT_ROOT=self.root)
        self.dir = tempfile.mkdtemp(prefix="mailport-dovecot-")
        os.chmod(self.dir, 0o755)
        for d in ("run", "state", "mail"):
            os.mkdir(os.path.join(self.dir, d))
        give_to_mail_user(os.path.join(self.dir, "mail"))
        self.imaps_port = free_port()
        self.lmtp = os.path.join(self.dir, "run", "lmtp")
        self.auth = os.path.join(self.dir, "run", "auth-client")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for addr, h in users.items():
                f.write(f"{addr}:{h}\n")
        self.write_conf(cert, key, "")
        self.write_conf(cert, key, self.services())
        self.proc = None

    def doveconf(self, *args):
        return subprocess.run([os.path.join(self.root, "usr/bin/doveconf"), "-c", self.conf, *args],
                              capture_output=True, text=True, env=self.env, timeout=60)

    def services(self):
        """Each service's executable, its first word made absolute in the unpacked tree."""
        out, svc, extra = self.doveconf("-a").stdout, None, []
        for line in out.splitlines():
            if line.startswith("service "):
                svc = line.split()[1]
            elif line.startswith("  executable = ") and svc:
                words = line.split("=", 1)[1].split()
                if not words[0].startswith("/"):
                    words[0] = os.path.join(self.libexec, words[0])
                if not os.path.exists(words[0]):
                    continue            # not unpacked (pop3, submission ...): not enabled either
                words = [os.path.join(self.libexec, w) if w.endswith(".sh") else w for w in words]
                extra.append(f"service {svc} {{\n  executable = {' '.join(words)}\n}}\n")
        return "".join(extra)

    def write_conf(self, cert, key, services):
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = {MAIL_USER}
default_internal_group = nogroup
default_login_user = {MAIL_USER}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
mail_location = maildir:{d}/mail/%d/%n
import_environment = LD_LIBRARY_PATH LD_PRELOAD MAILPORT_DOVECOT_ROOT TZ
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=CRYPT username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid=nogroup home={d}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
{services}""")

    def start(self):
        if os.geteuid() != 0:
            raise Skip("Dovecot's master runs as root (it starts its services as their users)")
        for sock in (self.lmtp, self.auth):     # a previous run's, until this one makes its own
            if os.path.exists(sock):
                os.unlink(sock)
        self.log = open(os.path.join(self.dir, "master.out"), "ab")
        # doveconf execs the master with the settings in its environment: self.proc is the master
        self.proc = subprocess.Popen([os.path.join(self.root, "usr/bin/doveconf"), "-c", self.conf, "-e",
                                      os.path.join(self.root, "usr/sbin/dovecot"), "-F", "-c", self.conf],
                                     stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dovecot exited {self.proc.returncode}: {self.text()}")
            if os.path.exists(self.lmtp) and os.path.exists(self.auth) and self.listening():
                return self
            time.sleep(0.05)
        raise AssertionError("dovecot did not start: " + self.text())

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.imaps_port), timeout=1).close()
            return True
        except OSError:
            return False

    def text(self):
        out = ""
        for p in (os.path.join(self.dir, "master.out"), self.log_path):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += f.read()
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            end_process(self.proc, 15)
        if self.proc:
            self.log.close()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
