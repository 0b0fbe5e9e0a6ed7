"""Limits shared by every node (issue 22): two mailport nodes behind Debian's haproxy (round
robin, PROXY v2) count AUTH failures, new connections per client and messages per user together
in a private Redis 7 with a password. A brute force spread over both nodes is locked out after
max_failures in total, and `mailport auth unlock` on one node ends it on both; a user's
messages and a client's connections are limited in total, not per node. With the store stopped
or frozen (it takes connections but never answers) each node counts alone, says so once, and
comes back to the store when it returns."""
import base64
import re
import smtplib
import socket
import ssl
import subprocess
import time

from harness import BIN, Server, free_port, wait_for
from redis import Redis
from tests_proxy import HAProxy


def node(rd, limits="", auth="max_failures = 4\nfailure_window = 10m\n", server="", password_file=None, proxy=True):
    return Server(tls=True, extra_server=server, extra=(
        f"\n[auth]\n{auth}"
        f"\n[limits]\nredis = 127.0.0.1:{rd.port}\npassword_file = {password_file or rd.pwfile}\n{limits}" +
        ("\n[smtp]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n"
         "\n[submissions]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n" if proxy else "")))


def balancer(a, b):
    """haproxy round robin over both nodes' 25 and 465, PROXY v2: every client is 127.0.0.1."""
    p25, p465 = free_port(), free_port()
    hp = HAProxy([("25", [f"127.0.0.1:{p25}"], None, None), ("465", [f"127.0.0.1:{p465}"], None, None)],
                 servers={"25": [(a.port, "send-proxy-v2"), (b.port, "send-proxy-v2")],
                          "465": [(a.port465, "send-proxy-v2"), (b.port465, "send-proxy-v2")]})
    hp.wait_port(p25)
    hp.wait_port(p465)
    return hp, p25, p465


def wait_log(srv, needle, timeout=30):
    wait_for(lambda: needle in srv.log(), timeout, lambda: f"{needle!r} not in the log:\n{srv.log()}")


def plain(port, ca, password, user="alice@example.test"):
    """One AUTH PLAIN through the balancer: (code, text)."""
    ctx = ssl.create_default_context(cafile=ca)
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as c:
        c.ehlo("client.example")
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, text = c.docmd("AUTH", "PLAIN " + cred)
        return code, text.decode()


def test_brute_force_over_two_nodes_is_locked_out_in_total_and_unlocked_on_both():
    with Redis() as rd:
        rd.start()
        with node(rd) as a, node(rd) as b:
            a.start()
            b.start()
            wait_log(a, "shared counters up address=127.0.0.1:")
            wait_log(b, "shared counters up address=127.0.0.1:")
            hp, _, p465 = balancer(a, b)
            try:
                # four guesses spread over both nodes (round robin: 2 and 2, or 3 and 1 when
                # haproxy sent its readiness probe to one of them): each node alone allows 4
                for i in range(4):
                    code, text = plain(p465, a.ca, f"guess-{i}")
                    assert code == 535 and text.startswith("5.7.8"), (i, code, text)
                on_a = a.log().count("auth failed user=alice@example.test")
                on_b = b.log().count("auth failed user=alice@example.test")
                assert on_a >= 1 and on_b >= 1 and on_a + on_b == 4, (on_a, on_b)
                both = a.log() + b.log()
                assert both.count("auth lockout address=127.0.0.1") == 1, both
                assert "counted=shared total=4" in both, both
                # the fifth, on either node, and even the right password, meets the lockout
                for _ in range(2):
                    code, text = plain(p465, a.ca, "secret")
                    assert code == 454 and text.startswith("4.7.0") and "try again in 10 minutes" in text, (code, text)
                assert rd.cmd("TTL", "mailport:lock:127.0.0.1").lstrip(":").isdigit()
                # the operator unlocks on node A: both nodes let alice in again
                r = subprocess.run([BIN, "auth", "--config", a.conf, "unlock", "127.0.0.1"], capture_output=True,
                                   text=True, timeout=30)
                assert r.returncode == 0 and "unlocked 127.0.0.1 on every node" in r.stdout, r
                wait_log(a, "shared counters forgave keys=")
                for _ in range(2):
                    assert plain(p465, a.ca, "secret")[0] == 235
                assert "auth ok user=alice@example.test" in a.log() and "auth ok user=alice@example.test" in b.log()
                r = subprocess.run([BIN, "auth", "--config", b.conf, "status"], capture_output=True, text=True,
                                   timeout=30)
                assert r.returncode == 0 and f"shared counters at 127.0.0.1:{rd.port}: up" in r.stdout, r
            finally:
                hp.close()
            a.stop()
            b.stop()
            assert "ERROR: AddressSanitizer" not in a.log() + b.log()


def test_messages_per_user_and_connections_per_client_are_counted_over_both_nodes():
    limits = "max_messages_per_user = 3/h\n"
    server = "limits_exempt =\nmax_connection_rate_per_ip = 8"
    with Redis() as rd:
        rd.start()
        with node(rd, limits, server=server) as a, node(rd, limits, server=server) as b:
            a.start()
            b.start()
            wait_log(a, "shared counters up")
            wait_log(b, "shared counters up")
            hp, p25, p465 = balancer(a, b)
            try:
                ctx = ssl.create_default_context(cafile=a.ca)
                refused = None
                for i in range(4):
                    with smtplib.SMTP_SSL("127.0.0.1", p465, context=ctx, timeout=30) as c:
                        c.login("alice@example.test", "secret")
                        try:
                            c.sendmail("alice@example.test", ["bob@example.test"], f"Subject: n{i}\r\n\r\nx\r\n")
                        except smtplib.SMTPSenderRefused as e:
                            refused = (i, e.smtp_code, e.smtp_error.decode())
                assert refused is not None and refused[:2] == (3, 450), refused
                assert refused[2].startswith("4.7.1 Sending limit reached: 3 messages per 1 hour"), refused
                assert re.search(r"try again in (\d+ minutes|1 hour)", refused[2]), refused
                both = a.log() + b.log()
                assert both.count("accepted") >= 3 and "reason=max_messages_per_user limit=3/3600s counted=shared" in both
                assert "accepted" in a.log() and "accepted" in b.log()       # spread: each node alone allows 3
                # connections: the sessions so far (the TLS ones above, and haproxy's readiness
                # probes that reached a node), then plain port 25 ones until the first refusal:
                # 8 a minute in total, whichever node admitted them
                seen = []
                for _ in range(10):
                    s = socket.create_connection(("127.0.0.1", p25), timeout=10)
                    seen.append(s.recv(512).decode())
                    s.close()
                    if seen[-1].startswith("421"):
                        break
                assert seen[-1].startswith("421 4.7.0") and "Too many new connections" in seen[-1], seen
                # The log comes after what the client saw: the refusing node writes its line once
                # the 421 is sent, and a session's "connect" line is deferred to its first line (for
                # the sessions above: their "disconnect", once the node has read the close). So the
                # counts are read when the refusal is logged and every session seen has ended.
                # A session is logged by its "connect", or by its failed handshake (a probe on 465).
                def settled():
                    logs = [a.log(), b.log()]
                    admitted = [log.count(" connect address=127.0.0.1 ") +
                                log.count(" tls handshake failed address=127.0.0.1 ") for log in logs]
                    ended = all(log.count(" connect address=127.0.0.1 ") ==
                                log.count(" disconnect address=127.0.0.1 ") for log in logs)
                    refused = "reason=max_connection_rate_per_ip limit=8 counted=shared" in "".join(logs)
                    return admitted if sum(admitted) >= 8 and ended and refused else None
                admitted = wait_for(settled, 30, lambda: a.log() + b.log())
                assert sum(admitted) == 8 and min(admitted) >= 3, admitted     # neither node saw 8
                both = a.log() + b.log()
                assert "reason=max_connection_rate_per_ip limit=8 counted=shared" in both, both
            finally:
                hp.close()
            a.stop()
            b.stop()
            assert "ERROR: AddressSanitizer" not in a.log() + b.log()


def test_store_down_or_frozen_each_node_counts_alone_and_comes_back():
    with Redis() as rd:
        rd.start()
        with node(rd, auth="max_failures = 3\nfailure_window = 10m\n", proxy=False) as a, \
                node(rd, password_file=a_bad_password_file(), proxy=False) as bad:
            a.start()
            wait_log(a, "shared counters up")
            # a wrong password: refused by the store, said, and the node serves with local counts
            bad.start()
            wait_log(bad, "shared counters unavailable address=127.0.0.1:")
            assert "WRONGPASS" in bad.log() or "invalid password" in bad.log(), bad.log()
            assert plain(bad.port465, bad.ca, "secret")[0] == 235
            # frozen: the store takes the questions and never answers; within 500 ms the node
            # stops waiting, the session goes on, and the log says why once
            rd.freeze()
            try:
                t0 = time.time()
                assert plain(a.port465, a.ca, "secret")[0] == 235
                assert time.time() - t0 < 10
                wait_log(a, "reason=\"no reply within 500 ms\"")
            finally:
                rd.thaw()
            wait_log(a, "shared counters back")
            # stopped: counted here alone, locked out here after max_failures
            rd.stop()
            wait_log(a, "reason=\"Server closed the connection\"")
            for i in range(3):
                assert plain(a.port465, a.ca, f"wrong-{i}")[0] == 535
            code, text = plain(a.port465, a.ca, "secret")
            assert code == 454, (code, text)
            assert a.log().count("shared counters unavailable") == 2, a.log()     # once per outage
            rd.start()
            wait_log(a, "shared counters back", timeout=40)
            a.stop()
            bad.stop()
            assert "ERROR: AddressSanitizer" not in a.log() + bad.log()


_bad = None


def a_bad_password_file():
    import os
    import tempfile
    global _bad
    if _bad is None:
        d = tempfile.mkdtemp(prefix="mailport-redis-bad-")
        os.chmod(d, 0o755)
        _bad = os.path.join(d, "password")
        with open(_bad, "w") as f:
            f.write("not-the-password\n")
        os.chmod(_bad, 0o644 & ~0o004)
        if os.geteuid() == 0:
            import pwd
            from harness import MAIL_USER
            os.chown(_bad, 0, pwd.getpwnam(MAIL_USER).pw_gid)
    return _bad
