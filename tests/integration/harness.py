"""Integration harness: start the real mailport binary on loopback high ports, drive it
with real clients, and clean up every process it started (by PID).

A test is a function named test_* in a tests_*.py module, taking no arguments. It raises
Skip when a peer is missing (the msmtp test-suite habit of exit 77) and fails by raising
anything else. run.py prints one line per test and the closing 'N passed, N failed' line.
"""
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("MAILPORT_BIN", "build/mailport"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


class Skip(Exception):
    pass


def end_process(proc, timeout=10):
    """SIGTERM a helper process we started, and wait for it; SIGKILL if it does not go."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def need(tool):
    path = shutil.which(tool)
    if path is None:
        raise Skip(f"{tool} not installed")
    return path


def msmtp(port, settings, sender, to, message, timeout=60):
    """msmtp sending message from sender to to over 127.0.0.1:port with an account of these
    msmtprc lines (TLS, trust, auth...); its CompletedProcess."""
    d = tempfile.mkdtemp(prefix="mailport-msmtp-")
    conf = os.path.join(d, "msmtprc")
    with open(conf, "w") as f:
        f.write(f"account t\nhost 127.0.0.1\nport {port}\n" + "".join(x + "\n" for x in settings) +
                f"from {sender}\nlogfile {d}/log\n")
    os.chmod(conf, 0o600)
    try:
        return subprocess.run(["msmtp", "-C", conf, "-a", "t", to], input=message, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


_GIVEN = set()


# make test runs two passes of the suite at once. Each takes its ports from a range of its own
# (MAILPORT_PORTS=LOW-HIGH, below the kernel's ephemeral range): from the kernel's common pool,
# one pass was once handed a port the other had chosen and not yet bound.
_RANGE = tuple(int(x) for x in os.environ["MAILPORT_PORTS"].split("-")) if os.environ.get("MAILPORT_PORTS") else None


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port nothing listens on, never one handed out before in this run: two calls in a row
    can otherwise get the same port back before either is bound (seen once: a server's 25 and
    465 listeners on one port)."""
    for _ in range(100 if _RANGE is None else 5000):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if _RANGE is None:
                s.bind((host, 0))
                port = s.getsockname()[1]
            else:
                port = random.randint(*_RANGE)
                try:
                    s.bind((host, port))
                except OSError:
                    continue
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
    raise AssertionError("no fresh port in 100 tries")


def wait_for(cond, timeout=30, what="the condition"):
    """Poll cond() until it gives a true value, and return that value; an AssertionError naming
    what (a string, or a function giving one at the time of failure: a log's tail) when timeout
    seconds pass first. A test waits for what it checks, never for a time: the bound only matters
    when the test fails, so it is generous for a loaded machine."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline:
            raise AssertionError(f"not within {timeout}s: " + (what() if callable(what) else what))
        time.sleep(0.05)


def unread(sock):
    """Octets sent on sock (a connected TCP socket of ours, IPv4, to a process on this machine)
    that the peer process has not read yet: what waits in our send queue and in its receive
    queue, as /proc/net/tcp shows them. 0: the server has taken everything the test sent."""
    me, peer = sock.getsockname()[1], sock.getpeername()[1]
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            x = line.split()
            lport, rport = int(x[1].split(":")[1], 16), int(x[2].split(":")[1], 16)
            tx, rx = (int(v, 16) for v in x[4].split(":"))
            # After shutdown(SHUT_WR) our FIN takes a sequence number, but it is no octet the
            # peer could read: it counts in our tx_queue until the peer's kernel acknowledges
            # it (FIN_WAIT1, CLOSING, LAST_ACK), then in the peer's rx_queue until the peer
            # process reads the end of file (CLOSE_WAIT, LAST_ACK, CLOSING), which a server
            # holding replies for a client that does not read may rightly put off.
            if (lport, rport) == (me, peer):
                total += max(0, tx - 1) if x[3] in ("04", "0B", "09") else tx
            elif (lport, rport) == (peer, me):
                total += max(0, rx - 1) if x[3] in ("08", "09", "0B") else rx
    return total


def listening(port):
    """True when a TCP socket listens on 127.0.0.1's (or any address's) port, without
    connecting to it (openssl s_server would count a connection as a session)."""
    with open("/proc/net/tcp") as f:
        return any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A" for line in f.readlines()[1:])


def wait_listening(port, proc=None, timeout=30):
    """Wait until a peer we started (proc, a Popen) listens on port: an AssertionError if it
    exits first or takes longer than timeout seconds."""
    def ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        return listening(port)
    wait_for(ready, timeout, f"nothing listens on {port}")


def dns_answers(port, probe, proc, timeout=10):
    """Wait until the DNS server on 127.0.0.1:port (process proc) answers probe = (name, type,
    expected text) as dig sees it: True, or False when it exited or the time ran out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1", probe[0],
                            probe[1]], capture_output=True, text=True)
        if probe[2] in r.stdout:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def crypt_hash(password):
    out = subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True, check=True)
    return out.stdout.strip()


DEMO_HASH = None

# mailport refuses to run as root (docs/security-model.md): when the tests run as root, each
# server becomes this user once its ports are bound, and its directory is that user's.
MAIL_USER = "nobody"


def give_to_mail_user(path, mode=0o755):
    """As root: path (a directory the server must use) to MAIL_USER, others may traverse it."""
    if os.geteuid() == 0:
        pw = pwd.getpwnam(MAIL_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)


def reseal_queue_file(data):
    """A queue file changed on purpose (a test moving its arrival time back, as the clock
    would): its checksum record (K, the CRC-32 of everything before it) is made to match
    again, or the server rightly takes it for damage."""
    k = data.rindex(b"\nK 8\n") + 1
    return data[:k] + b"K 8\n%08x\n" % zlib.crc32(data[:k]) + data[k + 13:]


def datagram_socket(prefix, timeout):
    """A unix datagram socket bound in a new directory that the server's user can reach (the
    server writes to it after dropping root): (the socket, its path). The caller removes
    os.path.dirname(path)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    path = os.path.join(d, "sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    s.settimeout(timeout)
    return s, path


class Server:
    """One mailport instance in its own temporary directory."""

    def __init__(self, users=None, extra_server="", listen=None, domains="example.test", tls=False,
                 extra="", resolver=None, sender_checks=False):
        global DEMO_HASH
        if DEMO_HASH is None:
            DEMO_HASH = crypt_hash("secret")
        self.dir = tempfile.mkdtemp(prefix="mailport-it-")
        give_to_mail_user(self.dir)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.listen = listen or f"127.0.0.1:{self.port}"
        self.conf = os.path.join(self.dir, "mailport.conf")
        self.users_file = os.path.join(self.dir, "users")
        self.log_path = os.path.join(self.dir, "mailport.log")
        self.proc = None
        self.log_file = None
        self.log_offset = 0
        self.nofile = None          # a descriptor limit (soft and hard) for the server, or None
        if users is None:
            users = [f"alice@example.test:{DEMO_HASH}:postmaster@example.test,al@example.test",
                     f"bob@example.test:{DEMO_HASH}"]
        self.write_users(users)
        settings = {
            "hostname": "mx.example.test", "spool": "spool", "local_domains": domains,
            "maildir": "mail/%d/%u", "timeout": "30s", "shutdown_grace": "3s", "retry_interval": "1s",
        }
        if os.geteuid() == 0:
            settings["user"] = MAIL_USER
        if os.environ.get("MAILPORT_WORKERS"):   # make test runs the suite with 1 and with 2 loops
            settings["workers"] = os.environ["MAILPORT_WORKERS"]
        for line in extra_server.splitlines():       # later keys override the defaults
            if "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                settings[k] = v
        self.tls = tls
        self.port465 = self.port587 = None
        if tls:
            from pki import path
            self.ca = path("ca.pem")
            self.port465, self.port587 = free_port(), free_port()
        with open(self.conf, "w") as f:
            f.write("[server]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
            f.write(f"\n[auth]\nusers = users\n\n[smtp]\nlisten = {self.listen}\n")
            # Port 25's SPF/DKIM/DMARC checks ask DNS before the 250: only the tests of them
            # (tests_inbound) give the server a DNS that answers; the others keep them off, or
            # each server's first message would wait out the dead resolver below.
            f.write(f"sender_checks = {'yes' if sender_checks else 'no'}\n")
            # Direct MX lookups go to a DNS server on loopback (a test's own, or nothing):
            # no test ever sends a query off this machine.
            f.write(f"\n[relay]\nresolver = {resolver or '127.0.0.1:9'}\n")
            if tls:
                f.write(f"\n[tls]\ncert = {path('server.pem')}\nkey = {path('server.key')}\n"
                        f"\n[submissions]\nlisten = 127.0.0.1:{self.port465}\n"
                        f"\n[submission]\nlisten = 127.0.0.1:{self.port587}\n")
            f.write(extra)

    def conf_line(self, needle):
        """1-based line number of the first config line containing needle."""
        with open(self.conf) as f:
            for i, line in enumerate(f, 1):
                if needle in line:
                    return i
        raise AssertionError(f"{needle!r} not in {self.conf}")

    def write_users(self, lines):
        with open(self.users_file, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, expect_ready=True):
        self.log_file = open(self.log_path, "ab")
        self.log_offset = os.path.getsize(self.log_path)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        limit = None
        if self.nofile is not None:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.conf], stdout=self.log_file,
                                     stderr=self.log_file, env=env, preexec_fn=limit)
        if expect_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mailport exited with {self.proc.returncode}:\n{self.log()}")
            if "started hostname=" in self.log(since_start=True):
                return
            time.sleep(0.05)
        raise AssertionError("mailport did not start:\n" + self.log())

    def log(self, since_start=False):
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; the exit must be clean and the sanitizers silent."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mailport did not stop within %ss after SIGTERM" % timeout)
        self.check_sanitizers()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def check_sanitizers(self):
        log = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                raise AssertionError("sanitizer report in server log:\n" + log[-6000:])

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            if self.log_file:
                self.log_file.close()
            if os.environ.get("KEEP_TMP") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)

    def maildir(self, user, domain="example.test"):
        return os.path.join(self.dir, "mail", domain, user)

    def block_maildir(self, user, domain="example.test"):
        """A file where user's Maildir must go: every delivery attempt fails and the mail
        stays queued, until the test removes it (os.unlink(srv.maildir(user)))."""
        md = self.maildir(user, domain)
        os.makedirs(os.path.dirname(md), exist_ok=True)
        give_to_mail_user(os.path.dirname(md))                      # the server writes Maildirs there
        give_to_mail_user(os.path.dirname(os.path.dirname(md)))
        with open(md, "w") as f:
            f.write("in the way")

    def messages(self, user, domain="example.test"):
        new = os.path.join(self.maildir(user, domain), "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, user, n, timeout=30, domain="example.test"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msgs = self.messages(user, domain)
            if len(msgs) >= n:
                return msgs
            time.sleep(0.05)
        raise AssertionError(f"expected {n} messages for {user}, have {len(self.messages(user, domain))}\n"
                             + self.log()[-4000:])

    def wait_queue(self, n, timeout=10):
        """The queue holds exactly n messages, waiting for it: a message just delivered into a
        Maildir (the test saw it) leaves the queue a moment later."""
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.queue_files()) != n:
            time.sleep(0.05)
        return len(self.queue_files())

    def queue_files(self):
        """Messages the server holds. While it runs, its own answer (`mailport queue`'s LIST over
        the control socket): accepted messages wait in memory and the journal until delivered,
        and only those still there at a checkpoint, or deferred, are written to queue/. Stopped:
        the files in queue/ (a clean stop writes everything there)."""
        if self.proc is not None and self.proc.poll() is None:
            ctl = os.path.join(self.dir, "spool", "control.sock")
            for _ in range(50):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.settimeout(10)
                        s.connect(ctl)
                        s.sendall(b"LIST\n")
                        out = b""
                        while chunk := s.recv(65536):
                            out += chunk
                    return re.findall(r"(?m)^([0-9A-F]{16,})\s", out.decode())
                except (FileNotFoundError, ConnectionRefusedError):
                    time.sleep(0.05)  # not listening yet
        out = []
        for root, _, files in os.walk(os.path.join(self.dir, "spool", "queue")):
            out += [f for f in files if not f.endswith(".st")]
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


class Raw:
    """A raw SMTP connection for hostile and exact-byte tests."""

    def __init__(self, host, port, timeout=10, family=socket.AF_INET):
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def reply(self):
        """One complete (possibly multiline) reply: returns its lines."""
        lines = [self.line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def code(self):
        return self.reply()[-1][:9]

    def closed(self, timeout=10):
        """True when the server closes the connection (no more data) within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()
