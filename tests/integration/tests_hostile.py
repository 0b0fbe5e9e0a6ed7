"""Hostile and broken clients: the right RFC 5321/3463 code or a clean close, nothing lost,
nothing smuggled, no crash (the server runs under ASan+UBSan here)."""
import re
import socket
import subprocess
import time

from harness import BIN, Raw, Server, unread, wait_for

SMUGGLE = {
    "LF.LF": "\n.\n",
    "CRLF.LF": "\r\n.\n",
    "LF.CRLF": "\n.\r\n",
    "CR.CRLF": "\r.\r\n",
    "CR.CR": "\r.\r",
}


def open_tx(r, rcpt="alice@example.test"):
    assert r.code().startswith("220")
    r.send(f"EHLO evil.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
    assert r.reply()[0].startswith("250-")
    assert r.code() == "250 2.1.0"
    assert r.code() == "250 2.1.5"
    assert r.code() == "354 2.0.0"


def test_smuggling_never_two_messages():
    """Each payload tries to end DATA early and start a second transaction to bob. A bare LF
    is stored as a line break inside the one message; a bare CR refuses the message."""
    with Server() as srv:
        srv.start()
        accepted = 0
        for name, seq in SMUGGLE.items():
            r = Raw(srv.host, srv.port)
            open_tx(r)
            r.send(f"Subject: outer {name}\r\n\r\nouter body{seq}"
                   "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                   f"Subject: smuggled {name}\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n")
            reply = r.reply()[-1]
            # one reply for the whole DATA: the smuggled commands never ran
            if "\r" in seq.replace("\r\n", ""):
                assert reply.startswith("550 5.6.0"), (name, reply)
            else:
                assert reply.startswith("250 2.0.0"), (name, reply)
                accepted += 1
            assert r.code() == "221 2.0.0", name
            r.close()
        msgs = srv.wait_messages("alice", accepted)
        # a smuggled message would be queued for bob: once nothing is, none can arrive later
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]
        assert srv.messages("bob") == []
        assert len(srv.messages("alice")) == accepted == 3
        for m in msgs:      # the would-be second message is inert text inside the first
            assert b"outer body" in m and b"Subject: smuggled" in m, m
        assert srv.stop() == 0
        assert srv.queue_files() == []


def test_curl_with_unix_line_ends():
    """curl -T sends a file as it is; LF line ends are common and must not lose the mail."""
    from harness import need
    import subprocess
    curl = need("curl")
    with Server() as srv:
        srv.start()
        r = subprocess.run([curl, "-sS", f"smtp://{srv.host}:{srv.port}", "--mail-from", "s@remote.test",
                            "--mail-rcpt", "bob@example.test", "-T", "-"],
                           input="Subject: unix file\n\nfirst line\n.second line starts with a dot\nlast\n",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        m = srv.wait_messages("bob", 1)[0]
        assert b"Subject: unix file\n\nfirst line\n.second line starts with a dot\nlast\n" in m, m
        assert srv.stop() == 0


def test_bad_commands_get_codes():
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        cases = [
            (b"FOO\r\n", "500 5.5.1"),
            (b"MAIL FROM:<a@b.test>\r\n", "503 5.5.1"),
            (b"EHLO\r\n", "501 5.5.4"),
            (b"HELO c\r\n", "250 mx.exa"),
            (b"RCPT TO:<alice@example.test>\r\n", "503 5.5.1"),
            (b"MAIL FROM:<bad address>\r\n", "501 5.1.7"),
            (b"NOOP\x00x\r\n", "500 5.5.2"),
            (b"NOOP " + b"x" * 600 + b"\r\n", "500 5.5.2"),
            (b"MAIL FROM:<a@b.test>\r\n", "250 2.1.0"),
            (b"MAIL FROM:<a@b.test>\r\n", "503 5.5.1"),
            (b"DATA\r\n", "554 5.5.1"),
            (b"RSET\r\n", "250 2.0.0"),
            (b"VRFY alice\r\n", "252 2.5.0"),
        ]
        for line, want in cases:
            r.send(line)
            got = r.reply()[-1]
            assert got.startswith(want), (line[:40], got)
        r.send(b"QUIT\r\n")
        assert r.code() == "221 2.0.0"
        assert srv.stop() == 0


def test_twenty_errors_close():
    """The default error limit is Postfix's smtpd_hard_error_limit, 20: the 20th error reply is
    followed by 421 and a close."""
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        r.send(b"".join(b"BOGUS%d\r\n" % i for i in range(22)))
        for _ in range(20):
            assert r.code() == "500 5.5.1"
        assert r.code() == "421 4.7.0"
        assert r.closed()
        assert srv.stop() == 0


def test_a_dozen_unknown_recipients_do_not_cut_off_the_sender():
    """smtplib on the MX port: a message for a dozen unknown users and one real one is delivered
    (each unknown one gets 550 5.1.1); with 10 as the limit the session used to be cut off."""
    import smtplib
    with Server() as srv:
        srv.start()
        rcpts = [f"nobody{i}@example.test" for i in range(12)] + ["bob@example.test"]
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as s:
            refused = s.sendmail("someone@example.net", rcpts, b"Subject: many\r\n\r\nhello\r\n")
        assert sorted(refused) == sorted(rcpts[:12]), refused
        assert all(code == 550 and msg.startswith(b"5.1.1") for code, msg in refused.values()), refused
        assert b"Subject: many" in srv.wait_messages("bob", 1)[0]
        assert srv.stop() == 0


def test_binary_garbage_and_tls_hello():
    """A TLS ClientHello or random binary on the plaintext port: error replies, then close."""
    with Server() as srv:
        srv.start()
        hello = bytes.fromhex("16030100c4010000c00303") + bytes(range(256)) * 4
        r = Raw(srv.host, srv.port)
        r.code()
        r.send(hello)
        r.s.shutdown(socket.SHUT_WR)
        assert r.closed()
        r = Raw(srv.host, srv.port)    # the server is still there
        assert r.code().startswith("220")
        r.send("QUIT\r\n")
        assert r.code() == "221 2.0.0"
        assert srv.stop() == 0


def test_idle_client_dropped_after_timeout():
    with Server(extra_server="timeout = 2s") as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        t0 = time.time()
        assert r.code() == "421 4.4.2"
        assert 1.5 <= time.time() - t0 < 10
        assert r.closed()
        assert "timeout address=127.0.0.1" in srv.log()
        assert srv.stop() == 0


def test_max_connections():
    with Server(extra_server="max_connections = 3") as srv:
        srv.start()
        held = [Raw(srv.host, srv.port) for _ in range(3)]
        for r in held:
            assert r.code().startswith("220")
        extra = Raw(srv.host, srv.port)
        assert extra.code() == "421 4.7.0"
        assert extra.closed()
        held[0].send("QUIT\r\n")
        held[0].code()
        held[0].closed()
        # the slot is free from the session's end, which its "disconnect" line starts (one
        # event loop: the next connection is taken after it)
        wait_for(lambda: " disconnect address=127.0.0.1 " in srv.log(since_start=True), 30, srv.log)
        again = Raw(srv.host, srv.port)     # a slot is free again
        assert again.code().startswith("220")
        assert srv.stop() == 0


def test_size_limits():
    with Server(extra_server="max_message_size = 4K") as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        r.send("EHLO c\r\n")
        assert "250-SIZE 4096" in r.reply()
        r.send("MAIL FROM:<s@remote.test> SIZE=5000\r\n")
        assert r.code() == "552 5.3.4"
        r.send("MAIL FROM:<s@remote.test> SIZE=100\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        assert r.code() == "250 2.1.0"
        assert r.code() == "250 2.1.5"
        assert r.code() == "354 2.0.0"
        r.send(("x" * 78 + "\r\n") * 100 + ".\r\n")
        assert r.code() == "552 5.3.4"
        r.send("QUIT\r\n")
        assert r.code() == "221 2.0.0"
        # refused, so never queued: an empty queue now is final (and a delivered one would be
        # in the Maildir already)
        assert srv.queue_files() == []
        assert srv.messages("alice") == []
        assert srv.stop() == 0


def test_too_many_recipients():
    users = [f"u{i}@example.test:$6$x$y" for i in range(101)]
    with Server(users=users) as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        r.send("HELO c\r\nMAIL FROM:<s@remote.test>\r\n" + "".join(f"RCPT TO:<u{i}@example.test>\r\n" for i in range(101)))
        r.reply()
        r.code()
        for i in range(100):
            assert r.code() == "250 2.1.5", i
        assert r.code() == "452 4.5.3"
        r.send("DATA\r\n")
        assert r.code() == "354 2.0.0"
        r.send("Subject: wide\r\n\r\nx\r\n.\r\nQUIT\r\n")
        assert r.code() == "250 2.0.0"
        for i in (0, 99):
            srv.wait_messages(f"u{i}", 1)
        assert srv.messages("u100") == []
        assert srv.stop() == 0


def test_slow_sender_one_byte_at_a_time():
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        for b in b"HELO slow.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n":
            r.send(bytes([b]))
        for want in ("250 mx.exa", "250 2.1.0", "250 2.1.5", "354 2.0.0"):
            assert r.reply()[-1].startswith(want)
        for b in b"Subject: slow\r\n\r\nbyte by byte\r\n.\r\n":
            r.send(bytes([b]))
        assert r.code() == "250 2.0.0"
        assert b"byte by byte" in srv.wait_messages("bob", 1)[0]
        assert srv.stop() == 0


def test_client_that_never_reads():
    """Pipelines thousands of commands without reading replies: bounded buffering, server
    stays responsive to others."""
    with Server(extra_server="timeout = 3s") as srv:
        srv.start()
        hog = Raw(srv.host, srv.port)
        hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.s.settimeout(2)
        sent = 0
        try:
            for _ in range(2000):
                hog.s.sendall(b"NOOP\r\n" * 500)
                sent += 1
        except (socket.timeout, BrokenPipeError, ConnectionResetError):
            pass
        other = Raw(srv.host, srv.port)
        assert other.code().startswith("220")
        other.send("QUIT\r\n")
        assert other.code() == "221 2.0.0"
        assert sent < 2000, "the server should stop reading from a client that does not read"
        hog.close()
        assert srv.stop() == 0


def test_half_close_still_gets_replies():
    """printf 'EHLO x\\r\\n...QUIT\\r\\n' | nc: the client shuts its side after writing;
    every reply must still arrive before the server closes."""
    with Server() as srv:
        srv.start()
        for _ in range(5):
            r = Raw(srv.host, srv.port)
            r.send("EHLO nc.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                   "Subject: half-close\r\n\r\nvia nc\r\n.\r\nQUIT\r\n")
            r.s.shutdown(socket.SHUT_WR)
            assert r.code().startswith("220")
            r.reply()
            assert [r.code() for _ in range(5)] == ["250 2.1.0", "250 2.1.5", "354 2.0.0", "250 2.0.0", "221 2.0.0"]
            assert r.closed()
        assert len(srv.wait_messages("bob", 5)) == 5
        assert srv.stop() == 0


def test_half_close_with_large_pending_output():
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        n = 3000
        r.send(b"NOOP\r\n" * n + b"QUIT\r\n")
        r.s.shutdown(socket.SHUT_WR)
        # the server reads all of it, then the EOF, with its replies still queued (we read none)
        wait_for(lambda: unread(r.s) == 0, 30, lambda: f"{unread(r.s)} octets unread")
        assert r.code().startswith("220")
        for i in range(n):
            assert r.code() == "250 2.0.0", i
        assert r.code() == "221 2.0.0"
        assert r.closed()
        assert srv.stop() == 0


def test_spool_free_space_floor():
    # A floor no disk can meet: every new message is refused with 452 4.3.1, nothing stored.
    with Server(extra_server="min_free_space = 1000T") as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        r.send("EHLO c\r\n")
        r.reply()
        r.send("MAIL FROM:<s@remote.test>\r\n")
        assert r.code() == "452 4.3.1"
        r.send("QUIT\r\n")
        assert r.code() == "221 2.0.0"
        assert "below min_free_space" in srv.log()
        assert srv.stop() == 0


def test_tls_client_closing_right_after_handshake():
    """What `mailport check`'s version probes do: implicit TLS handshake, then close before
    reading the greeting. The greeting can never be written after the peer's close_notify;
    the session must end at once, not hold a slot until its timeout (nor stall shutdown)."""
    import ssl
    from pki import path
    with Server(tls=True, extra_server="timeout = 60s") as srv:
        srv.start()
        ctx = ssl.create_default_context(cafile=path("ca.pem"))
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", srv.port465)) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    try:
                        tls.unwrap()        # sends close_notify (then meets the greeting)
                    except ssl.SSLError:
                        pass
        # mailport check's TLS-version probes close without reading anything at all.
        for _ in range(5):
            subprocess.run([BIN, "check", "--port", f"{srv.port465}/submissions,{srv.port587}/submission",
                            "--timeout", "3", "127.0.0.1"], capture_output=True, timeout=60)
        # every session's lines are written when the server has read the client's close, which
        # may come after the client is gone: wait for all 60 to be logged, and ended
        def ended():
            log = srv.log()
            probes = log.count(" probe=yes reason=")
            return log.count(" connect ") + probes >= 60 and log.count(" disconnect ") >= log.count(" connect ")
        wait_for(ended, 30, srv.log)
        log = srv.log()
        # A version probe (TLS 1.0 or 1.1 offered alone) is one line, marked as a probe; every
        # other session has its connect and its disconnect ("closed by client" ones too).
        probes = re.findall(r" tls handshake failed address=127\.0\.0\.1 port=\d+ role=\w+ probe=yes reason=", log)
        assert len(probes) == 5 * 2 * 2, log
        assert log.count(" connect ") + len(probes) == 60, log
        assert log.count(" disconnect ") == log.count(" connect "), log
        t0 = time.time()
        assert srv.stop() == 0
        assert time.time() - t0 < 5, "shutdown waited on dead TLS sessions"
