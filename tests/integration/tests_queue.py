"""`mailport queue` against a live server: list, show, flush, bounce, delete; a clear refusal
when no server runs; the control socket is 0600."""
import os
import re
import smtplib
import ssl
import stat
import subprocess

from fakesmtp import FakeSMTP
from harness import BIN, Server, wait_for


def queue(srv, *args):
    return subprocess.run([BIN, "queue", "--config", srv.conf, *args], capture_output=True, text=True, timeout=30)


def send(srv, subject):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
        c.login("alice@example.test", "secret")
        c.sendmail("alice@example.test", ["far@remote.test"], f"Subject: {subject}\r\n\r\n{subject}\r\n")


def qids(listing):
    return [line.split()[0] for line in listing.splitlines() if line[:1].isalnum() and line.split()[0] != "ID"
            and len(line.split()[0]) >= 16]


def test_queue_admin_on_live_server():
    accept = {"on": False}
    fake = FakeSMTP(script=lambda n, cmd: None if accept["on"] else ("451 4.3.0 not now" if cmd == "RCPT" else None))
    try:
        with Server(tls=True, extra=f"\n[relay]\nsmarthost = smtp://127.0.0.1:{fake.port}\n"
                                    "retry_schedule = 1h\ntimeout = 5s\n") as srv:
            srv.start()
            mode = os.stat(os.path.join(srv.dir, "spool", "control.sock")).st_mode
            assert stat.S_IMODE(mode) == 0o600, oct(mode)
            for subject in ("first", "second", "third"):
                send(srv, subject)
            wait_for(lambda: srv.log().count("deferred to=<far@remote.test>") >= 3, 30, srv.log)
            r = queue(srv, "list")
            assert r.returncode == 0, r.stderr
            ids = qids(r.stdout)
            assert len(ids) == 3, r.stdout
            # a deferred recipient says so, with when it is tried next and what the last try met
            assert re.search(r"<far@remote\.test>  deferred after 1 attempt, next attempt in (59 minutes|1 hour) "
                             r"\(\d\d:\d\d:\d\d UTC\): 451 4\.3\.0 not now \(127\.0\.0\.1:\d+, at rcpt\)",
                             r.stdout), r.stdout
            assert "3 messages in the queue" in r.stdout
            r = queue(srv, "show", ids[0])
            assert r.returncode == 0 and "Subject:" in r.stdout, r
            # bounce one: the sender gets it back
            r = queue(srv, "bounce", ids[1])
            assert r.returncode == 0 and "1 recipient will be bounced" in r.stdout, r
            bounce = srv.wait_messages("alice", 1)[0]
            assert b"returned to the sender by the postmaster" in bounce
            # delete one: gone without a bounce
            r = queue(srv, "delete", ids[2])
            assert r.returncode == 0 and "deleted" in r.stdout, r
            # flush: the remaining one is retried now (its next attempt was an hour away)
            accept["on"] = True
            r = queue(srv, "flush")
            assert r.returncode == 0, r
            assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]
            assert len(fake.messages) == 1
            r = queue(srv, "list")
            assert "0 messages in the queue" in r.stdout
            r = queue(srv, "show", "0123456789ABCDEF00")
            assert r.returncode == 1 and "no message" in r.stderr
            r = queue(srv, "delete", "../../etc/passwd")
            assert r.returncode == 1
            # delete sent no bounce: one would be queued, or delivered already
            assert srv.wait_queue(0, 30) == 0 and len(srv.messages("alice")) == 1
            assert srv.stop() == 0
            # no server: a clear refusal
            r = queue(srv, "list")
            assert r.returncode == 69 and "no running mailport server" in r.stderr, r
    finally:
        fake.close()
