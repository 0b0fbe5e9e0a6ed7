"""Debian's Dovecot (dovecot-core, -imapd, -lmtpd), unpacked by scripts/peer-dovecot and run
privately: its own base_dir and config, IMAPS on a loopback port with the test CA's
certificate, LMTP and the auth-client socket as unix sockets in its directory, mailboxes in
passwd-file. Dovecot finds its helpers and modules under the compiled-in /usr/lib/dovecot, so
it runs in a mount namespace of its own where the unpacked /usr lies under the machine's
(a read-only overlay that no other process sees and that ends with it)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import MAIL_USER, Skip, free_port, give_to_mail_user

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


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
        self.write_conf(cert, key)
        self.proc = None

    def write_conf(self, cert, key):
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
""")

    def start(self):
        if os.geteuid() != 0:
            raise Skip("Dovecot runs in a mount namespace of its own: needs root")
        if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
            raise Skip("cannot make a mount namespace here (Dovecot needs /usr/lib/dovecot)")
        for sock in (self.lmtp, self.auth):     # a previous run's, until this one makes its own
            if os.path.exists(sock):
                os.unlink(sock)
        self.log = open(os.path.join(self.dir, "master.out"), "ab")
        # unshare execs sh, which execs dovecot: self.proc is Dovecot's master
        mount = f"mount -t overlay mailport-dovecot -o lowerdir=/usr:{self.root}/usr /usr"
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                      f"{mount} && exec /usr/sbin/dovecot -F -c {self.conf}"],
                                     stdout=self.log, stderr=self.log)
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
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
