"""Debian's PostgreSQL 15, unpacked by scripts/peer-postgresql and run privately: initdb as the
tests' unprivileged user with SCRAM passwords, postgres on a loopback port with its socket in
its own directory, fsync off (a test database), stopped and started again by the tests."""
import atexit
import os
import shutil
import subprocess
import tempfile

from harness import BIN, MAIL_USER, ROOT, free_port, give_to_mail_user

PASSWORD = "db-secret-for-tests-1"


_copy = None


def bindir():
    """The unpacked programs; copied once per test run to a directory the tests' unprivileged
    user can reach when the checkout is not (under /root, mode 0700, as in CI's root)."""
    global _copy
    out = subprocess.run([os.path.join(ROOT, "scripts", "peer-postgresql")], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise AssertionError("scripts/peer-postgresql failed: " + out.stderr)
    b = os.path.join(ROOT, out.stdout.strip())
    if os.geteuid() != 0 or as_user(["test", "-x", os.path.join(b, "initdb")]).returncode == 0:
        return b
    if _copy is None:
        _copy = tempfile.mkdtemp(prefix="mailport-peer-pg-")
        os.chmod(_copy, 0o755)
        shutil.copytree(os.path.join(ROOT, "build", "peers", "postgresql"), os.path.join(_copy, "t"), symlinks=True)
        atexit.register(shutil.rmtree, _copy, True)
    return os.path.join(_copy, "t", os.path.relpath(b, os.path.join(ROOT, "build", "peers", "postgresql")))


def as_user(args, **kw):
    pre = ["runuser", "-u", MAIL_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(pre + args, capture_output=True, text=True, timeout=120, **kw)


class Postgres:
    def __init__(self):
        self.bin = bindir()
        self.dir = tempfile.mkdtemp(prefix="mailport-pg-")
        give_to_mail_user(self.dir)
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.pwfile = os.path.join(self.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.pwfile, 0o600)
        if os.geteuid() == 0:
            import pwd
            os.chown(self.pwfile, pwd.getpwnam(MAIL_USER).pw_uid, -1)
        r = as_user([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "mailport", "--auth=scram-sha-256",
                     f"--pwfile={self.pwfile}", "-E", "UTF8", "--locale=C.UTF-8"], env=dict(os.environ, TZ="UTC"))
        assert r.returncode == 0, r.stdout + r.stderr
        self.conninfo = f"host=127.0.0.1 port={self.port} dbname=postgres user=mailport"

    def start(self):
        r = as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "pg.log"), "-w",
                     "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c jit=off -c fsync=off "
                           "-c timezone=UTC", "start"])
        assert r.returncode == 0, r.stdout + r.stderr + self.log()
        return self

    def stop(self):
        as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])

    def migrate(self, srv):
        """`mailport directory migrate` with srv's configuration: its output, once it succeeded."""
        r = subprocess.run([BIN, "directory", "migrate", "--config", srv.conf], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def sql(self, statement):
        r = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", "mailport", "-d", "postgres", "-c", statement],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, PGPASSWORD=PASSWORD))
        assert r.returncode == 0, r.stderr
        return r.stdout

    def log(self):
        p = os.path.join(self.dir, "pg.log")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
