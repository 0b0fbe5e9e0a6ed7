"""Two nodes behind a balancer (issue 22): Debian's haproxy (round robin, PROXY v2, health
checks) in front of two mailport nodes with their own spools and one directory in PostgreSQL.
Mail flows through the balancer while node B, holding accepted mail it could not deliver yet, is
killed with -9: every message that got its 250 is delivered exactly once (node B's after it is
started again on its own spool); a mailbox added once logs in through either node."""
import os
import re
import smtplib
import ssl
import subprocess
import threading
import time

from harness import BIN, Raw, Server, crypt_hash, wait_for
from postgres import Postgres
from tests_proxy import HAProxy

PW = "Cluster-password-1"


def node(pg, max_stale="5m"):
    return Server(tls=True, users=[], extra_server="retry_interval = 1s", extra=(
        f"\n[directory]\nbackend = postgresql\npostgresql = {pg.conninfo}\npassword_file = {pg.pwfile}\n"
        f"max_stale = {max_stale}\n"
        "\n[smtp]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n"
        "\n[submissions]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n"))


def rcpt_code(srv, to):
    """RCPT TO:<to> on node srv alone, past the balancer (a PROXY v1 header of our own, as
    haproxy would send), with no message: the reply code."""
    r = Raw(srv.host, srv.port, timeout=30)
    try:
        r.send("PROXY TCP4 127.0.0.1 127.0.0.1 40000 25\r\n")
        r.code()
        r.send("HELO probe.example\r\nMAIL FROM:<s@elsewhere.example>\r\n")
        r.code()
        r.code()
        r.send(f"RCPT TO:<{to}>\r\nQUIT\r\n")
        return int(r.code()[:3])
    finally:
        r.close()


def subjects(srv):
    out = []
    for m in srv.messages("alice"):
        out += re.findall(rb"^Subject: (m\d+)", m, re.M)
    return [s.decode() for s in out]


def test_two_nodes_behind_haproxy_lose_nothing_when_one_is_killed():
    with Postgres() as pg:
        pg.start()
        with node(pg) as a, node(pg) as b:
            pg.migrate(a)
            pg.sql(f"INSERT INTO mailport_mailboxes (address, hash) VALUES ('alice@example.test', '{crypt_hash(PW)}')")
            a.start()
            b.start()
            from harness import free_port
            h25, h465 = free_port(), free_port()
            hp = HAProxy([("25", [f"127.0.0.1:{h25}"], None, None), ("465", [f"127.0.0.1:{h465}"], None, None)],
                         servers={"25": [(a.port, "send-proxy-v2 check inter 200ms fall 1"),
                                         (b.port, "send-proxy-v2 check inter 200ms fall 1")],
                                  "465": [(a.port465, "send-proxy-v2"), (b.port465, "send-proxy-v2")]})
            try:
                hp.wait_port(h25)
                # one login through the balancer on each node (round robin): the shared directory
                ctx = ssl.create_default_context(cafile=a.ca)
                for _ in range(2):
                    with smtplib.SMTP_SSL("127.0.0.1", h465, context=ctx, timeout=30) as c:
                        c.login("alice@example.test", PW)
                assert "auth ok user=alice@example.test" in a.log() and "auth ok user=alice@example.test" in b.log()
                # node B accepts but cannot deliver yet: its mail waits in its queue
                b.block_maildir("alice")
                acked = []
                killer = threading.Timer(0.4, b.kill)   # -9 at a moment of its own: mid-session maybe
                killer.start()
                for i in range(40):
                    try:
                        with smtplib.SMTP("127.0.0.1", h25, timeout=10) as c:
                            c.sendmail("s@elsewhere.example", ["alice@example.test"], f"Subject: m{i}\r\n\r\nx\r\n")
                        acked.append(f"m{i}")
                    except (smtplib.SMTPException, OSError):
                        pass                        # not acknowledged: the sender would try again
                    time.sleep(0.025)               # 40 messages over about a second: the kill falls inside
                print(f"acknowledged {len(acked)} of 40", flush=True)
                killer.join()
                assert len(acked) >= 30, acked
                on_b = [s for s in acked if s not in subjects(a)]
                assert on_b, "round robin sent nothing to node B before the kill"
                print(f"queued on node B when it was killed: {len(on_b)}", flush=True)
                os.unlink(b.maildir("alice"))
                b.start()                           # the same spool: its journal and queue
                deadline = time.time() + 30
                while not set(acked) <= set(subjects(a) + subjects(b)) and time.time() < deadline:
                    time.sleep(0.2)
                # and nothing more comes: a retry could only come from what is still queued
                assert a.wait_queue(0, 30) == 0 and b.wait_queue(0, 30) == 0, a.log()[-2000:] + b.log()[-2000:]
                got = subjects(a) + subjects(b)
                missing = set(acked) - set(got)
                twice = {x for x in got if got.count(x) > 1}
                assert not missing and not twice, (missing, twice)
                # A message whose 250 the kill swallowed may be delivered too: the sender, not
                # having the 250, would send it again (RFC 5321 6.1); never twice from us.
                assert set(on_b) <= set(subjects(b))
            finally:
                hp.close()
            assert a.stop() == 0 and b.stop() == 0


def test_queue_export_from_a_retired_node_and_import_on_another_exactly_once():
    """Node A is retired with mail it could not deliver yet (alice's Maildir refuses; bob's copy
    of one message went out already). Its queue is exported with A stopped (refused while A
    runs) and imported into running node B: B delivers what A still owed, bob gets nothing
    twice, a second import of the same stream queues nothing, and a damaged message is refused
    whole (its checksum), the rest imported."""
    with Server(tls=False) as a, Server(tls=False) as b, Server(tls=False) as n3:
        a.block_maildir("alice")
        a.start()
        for i in range(3):
            with smtplib.SMTP("127.0.0.1", a.port, timeout=30) as c:
                rcpts = ["alice@example.test", "bob@example.test"] if i == 0 else ["alice@example.test"]
                c.sendmail("sender@elsewhere.example", rcpts, f"Subject: q{i}\r\n\r\nbody {i}\r\n")
        deadline = time.time() + 20
        while len(a.messages("bob")) < 1 and time.time() < deadline:
            time.sleep(0.1)
        assert len(a.messages("bob")) == 1
        # alice's first attempts failed: deferred
        wait_for(lambda: a.log().count("delivery deferred to=<alice@example.test>") >= 3, 30, a.log)
        r = subprocess.run([BIN, "queue", "--config", a.conf, "export"], capture_output=True, timeout=60)
        assert r.returncode == 75 and b"stop the server first" in r.stderr, r
        a.stop()
        r = subprocess.run([BIN, "queue", "--config", a.conf, "export"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert b"3 messages, 3 recipients (0 failed" in r.stderr, r.stderr
        stream = r.stdout
        assert stream.startswith(b"MAILPORT-EXPORT 1\n") and stream.count(b"\nE 0\n") == 3
        assert stream.count(b"R 18\nalice@example.test") == 3 and b"bob@example.test" not in stream
        b.start()
        imp = subprocess.run([BIN, "queue", "--config", b.conf, "import"], input=stream, capture_output=True,
                             timeout=60)
        assert imp.returncode == 0 and b"imported 3 messages; 0 imported before" in imp.stdout, imp
        deadline = time.time() + 20
        while len(b.messages("alice")) < 3 and time.time() < deadline:
            time.sleep(0.1)
        got = sorted(re.search(rb"^Subject: (q\d)", m, re.M).group(1) for m in b.messages("alice"))
        assert got == [b"q0", b"q1", b"q2"], got
        assert b.messages("bob") == []                  # delivered by A already: not again
        assert all(b"Received:" in m for m in b.messages("alice"))
        # the same stream again: nothing new
        imp = subprocess.run([BIN, "queue", "--config", b.conf, "import"], input=stream, capture_output=True,
                             timeout=60)
        assert imp.returncode == 0 and b"imported 0 messages; 3 imported before" in imp.stdout, imp
        assert b.wait_queue(0, 30) == 0, b.log()[-3000:]     # nothing queued that could come later
        assert len(b.messages("alice")) == 3
        assert "imported origin=mx.example.test/" in b.log()
        # a damaged copy (one octet of the second message's body), into node C: that message is
        # refused whole (its checksum), the others imported
        i = stream.index(b"body 1")
        bad = stream[:i] + b"BODY 1" + stream[i + 6:]
        n3.start()
        imp = subprocess.run([BIN, "queue", "--config", n3.conf, "import"], input=bad, capture_output=True,
                             timeout=60)
        assert imp.returncode == 1 and b"imported 2 messages; 0 imported before (skipped); 1 refused" in imp.stdout, imp
        assert b"checksum mismatch" in imp.stderr, imp.stderr
        deadline = time.time() + 20
        while len(n3.messages("alice")) < 2 and time.time() < deadline:
            time.sleep(0.1)
        got = sorted(re.search(rb"^Subject: (q\d)", m, re.M).group(1) for m in n3.messages("alice"))
        assert got == [b"q0", b"q2"], got
        # cut short: the last message is not imported, the ones before it are
        imp = subprocess.run([BIN, "queue", "--config", n3.conf, "import"], input=stream[:-40], capture_output=True,
                             timeout=60)
        m = re.search(rb"imported (\d+) messages?; (\d+) imported before \(skipped\); 1 refused", imp.stdout)
        assert imp.returncode == 1 and m and int(m.group(1)) + int(m.group(2)) == 2, imp
        assert b"cut inside a message" in imp.stderr
        n3.stop()
        b.stop()


def test_two_nodes_with_the_database_stopped_answer_451_never_550_and_lose_nothing():
    """PostgreSQL stopped under two nodes behind haproxy: for max_stale each node serves its copy
    of the directory; then every recipient, known or not, gets 451 4.3.0 on either node (the
    sender keeps the message and tries again), never a 550 that would bounce it. Nothing that
    got a 250 is lost, and once the database is back the deferred mail goes through: every
    message is delivered exactly once."""
    with Postgres() as pg:
        pg.start()
        # max_stale counts from each node's last word of the database (a keepalive every 2 s, so
        # up to 2 s before the stop): 6 s leaves the sends "within max_stale" a few seconds on a
        # loaded machine; its end is then waited for, not slept through
        with node(pg, "6s") as a, node(pg, "6s") as b:
            pg.migrate(a)
            pg.sql(f"INSERT INTO mailport_mailboxes (address, hash) VALUES ('alice@example.test', '{crypt_hash(PW)}')")
            a.start()
            b.start()
            from harness import free_port
            h25 = free_port()
            hp = HAProxy([("25", [f"127.0.0.1:{h25}"], None, None)],
                         servers={"25": [(a.port, "send-proxy-v2"), (b.port, "send-proxy-v2")]})
            try:
                hp.wait_port(h25)

                def send(i, to="alice@example.test"):
                    try:
                        with smtplib.SMTP("127.0.0.1", h25, timeout=10) as c:
                            c.sendmail("s@elsewhere.example", [to], f"Subject: d{i}\r\n\r\nx\r\n")
                        return 250
                    except smtplib.SMTPRecipientsRefused as e:
                        return e.recipients[to][0]
                codes = {i: send(i) for i in range(4)}
                assert set(codes.values()) == {250}, codes
                pg.stop()
                codes.update({i: send(i) for i in range(4, 8)})  # within max_stale: the copies serve
                # then each node's copy goes stale: an unknown recipient is no longer known to be
                # unknown (asked of each node directly, with no message)
                for srv in (a, b):
                    wait_for(lambda: rcpt_code(srv, "nobody@example.test") == 451, 30, srv.log)
                later = {i: send(i) for i in range(8, 12)}
                unknown = [send(100 + i, "nobody@example.test") for i in range(2)]
                assert set(later.values()) == {451}, later
                assert unknown == [451, 451], unknown         # not known to be unknown: never 550
                assert "defer rcpt=<alice@example.test> reason=directory-unavailable" in a.log()
                assert "defer rcpt=<alice@example.test> reason=directory-unavailable" in b.log()
                pg.start()
                deadline = time.time() + 20
                while time.time() < deadline and send(99) != 250:
                    time.sleep(0.2)
                # The senders try again, as often as it takes: each node finds the database back
                # on its own schedule, and one of them may still say 451 just after the other
                # took d99.
                for i in later:
                    retry_until = time.time() + 20
                    codes[i] = send(i)
                    while codes[i] != 250 and time.time() < retry_until:
                        time.sleep(0.2)
                        codes[i] = send(i)
                acked = sorted(f"d{i}" for i, c in codes.items() if c == 250) + ["d99"]
                assert len(acked) == 13, codes
                deadline = time.time() + 30
                while time.time() < deadline:
                    got = [re.search(rb"^Subject: (d\d+)", m, re.M).group(1).decode()
                           for srv in (a, b) for m in srv.messages("alice")]
                    if len(got) >= len(acked):
                        break
                    time.sleep(0.2)
                # a second copy could only come from what is still queued: once nothing is, none can
                assert a.wait_queue(0, 30) == 0 and b.wait_queue(0, 30) == 0, a.log()[-2000:] + b.log()[-2000:]
                got = [re.search(rb"^Subject: (d\d+)", m, re.M).group(1).decode()
                       for srv in (a, b) for m in srv.messages("alice")]
                assert sorted(got) == acked, (sorted(got), acked)   # each once, none lost
            finally:
                hp.close()
            assert a.stop() == 0 and b.stop() == 0
