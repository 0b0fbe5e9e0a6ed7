"""Debian's Redis 7 (redis-tools: the server binary without the service that redis-server would
start), run privately on a loopback port with a password, no persistence, and stopped, frozen
(SIGSTOP: a store that accepts connections but never answers) and started again by the tests."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import MAIL_USER, end_process, free_port, need

PASSWORD = "redis-secret-for-tests-1"


def binary():
    """redis-server is a name of redis-check-rdb: the binary picks its part from argv[0]."""
    for p in ("/usr/bin/redis-server", "/usr/bin/redis-check-rdb"):
        if os.path.exists(p):
            return p
    need("redis-check-rdb")
    return None


class Redis:
    def __init__(self, password=PASSWORD):
        self.exe = binary()
        self.dir = tempfile.mkdtemp(prefix="mailport-redis-")
        self.port = free_port()
        self.password = password
        self.pwfile = os.path.join(self.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(password + "\n")
        os.chmod(self.pwfile, 0o640)
        if os.geteuid() == 0:
            import pwd
            os.chown(self.pwfile, 0, pwd.getpwnam(MAIL_USER).pw_gid)
        self.proc = None
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")

    def start(self):
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, executable=self.exe, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            assert self.proc.poll() is None, self.text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis did not start: " + self.text())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)       # a frozen one must be able to go
            end_process(self.proc)
        self.proc = None

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def cmd(self, *args):
        """One command in RESP over a plain socket: the reply's first line (tests only)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            def enc(parts):
                return ("*%d\r\n" % len(parts) + "".join("$%d\r\n%s\r\n" % (len(p.encode()), p) for p in parts)).encode()
            out = b""
            if self.password:
                out += enc(["AUTH", self.password])
            out += enc(list(args))
            s.sendall(out)
            data = b""
            want = 2 if self.password else 1
            while data.count(b"\r\n") < want:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n")[want - 1].decode()
        finally:
            s.close()

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
