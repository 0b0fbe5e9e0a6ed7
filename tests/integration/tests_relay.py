"""Outbound delivery through a smarthost, against real servers started here: a second
mailport (smtps:// and smtp+starttls:// with AUTH, and smtp://), python3-aiosmtpd with
STARTTLS and with implicit TLS, and scripted servers for the failure modes."""
import os
import re
import smtplib
import ssl
import subprocess
import threading
import time

from fakesmtp import FakeSMTP
from harness import Server, crypt_hash, free_port, give_to_mail_user, need, reseal_queue_file, wait_for, wait_listening
from pki import path


def relay_section(srv, url, user=None, ca=None, extra=""):
    text = f"\n[relay]\nsmarthost = {url}\nretry_schedule = 1s\ntimeout = 5s\n{extra}"
    if user:
        pw = os.path.join(srv.dir, "relay-password")
        with open(pw, "w") as f:
            f.write("secret\n")
        os.chmod(pw, 0o600)                 # a secret: the server refuses it world-readable
        give_to_mail_user(pw, 0o600)
        text += f"user = {user}\npassword_file = {pw}\n"
    if ca:
        text += f"ca_file = {ca}\n"
    with open(srv.conf, "a") as f:
        f.write(text)


def submit(srv, rcpts, body="relayed", sender="alice@example.test"):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
        c.login("alice@example.test", "secret")
        c.sendmail(sender, rcpts, f"Subject: {body}\r\nX-Body: {body}\r\n\r\n{body}\r\n")


def remote_mailport():
    # The relay user may send as alice@example.test (an alias), as a smarthost account would.
    h = crypt_hash("secret")
    b = Server(tls=True, domains="remote.test",
               users=[f"far@remote.test:{h}", f"relay@remote.test:{h}:alice@example.test"])
    b.start()
    return b


def wait_queue_empty(srv, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not srv.queue_files():
            return
        time.sleep(0.1)
    raise AssertionError("queue not empty:\n" + srv.log()[-3000:])


def test_relay_to_mailport_smtps_starttls_and_plain():
    b = remote_mailport()
    try:
        for url, user, proto in ((f"smtps://127.0.0.1:{b.port465}", "relay@remote.test", b"ESMTPSA"),
                                 (f"smtp+starttls://127.0.0.1:{b.port587}", "relay@remote.test", b"ESMTPSA"),
                                 (f"smtp://127.0.0.1:{b.port}", None, b"with ESMTP id")):
            with Server(tls=True) as a:
                relay_section(a, url, user=user, ca=path("ca.pem"))
                a.start()
                submit(a, ["far@remote.test"], body=url)
                wait_queue_empty(a)
                assert f"delivered to=<far@remote.test> relay=127.0.0.1:" in a.log(), a.log()[-2000:]
                assert "secret" not in a.log()
                assert a.stop() == 0
        msgs = b.wait_messages("far", 3, domain="remote.test")
        assert sum(proto in m for m in msgs) >= 1
        for m in msgs:
            assert b"Received: from mx.example.test" in m, m[:500]    # A's EHLO, seen by B
        assert b.log().count("auth ok user=relay@remote.test") == 2
    finally:
        b.stop()
        b.cleanup()


def test_relay_to_aiosmtpd_starttls_and_smtps():
    need("/usr/bin/python3")
    if subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        from harness import Skip
        raise Skip("python3-aiosmtpd not installed")
    for mode in ("starttls", "smtps"):
        port = free_port()
        out = open(os.path.join("/tmp", f"aiosmtpd-{port}.log"), "w+")
        tlsargs = (["--tlscert", path("server.pem"), "--tlskey", path("server.key")] if mode == "starttls" else
                   ["--smtpscert", path("server.pem"), "--smtpskey", path("server.key")])
        proc = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                 "-c", "aiosmtpd.handlers.Debugging", *tlsargs],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            wait_listening(port, proc)
            url = f"smtp+starttls://127.0.0.1:{port}" if mode == "starttls" else f"smtps://127.0.0.1:{port}"
            with Server(tls=True) as a:
                relay_section(a, url, ca=path("ca.pem"))
                a.start()
                submit(a, ["someone@aiosmtpd.test"], body=f"to aiosmtpd over {mode}")
                wait_queue_empty(a)
                assert a.stop() == 0
            out.seek(0)
            got = out.read()
            assert f"to aiosmtpd over {mode}" in got, got[-2000:]
        finally:
            proc.terminate()
            proc.wait(10)
            out.close()
            os.unlink(out.name)


def test_starttls_missing_defers_and_sends_nothing():
    fake = FakeSMTP()                              # no STARTTLS on offer
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp+starttls://127.0.0.1:{fake.port}", user="relay@remote.test", ca=path("ca.pem"))
            a.start()
            submit(a, ["far@remote.test"])
            wait_for(lambda: "deferred to=<far@remote.test>" in a.log(), 30, a.log)
            assert "STARTTLS is required but the server does not offer it" in a.log(), a.log()[-2000:]
            assert len(a.queue_files()) == 1
            cmds = fake.commands()
            assert cmds and all(c.split(" ")[0].upper() in ("EHLO", "QUIT") for c in cmds), cmds
            assert a.stop() == 0
    finally:
        fake.close()


def test_wrong_certificate_defers_and_sends_nothing():
    b = remote_mailport()
    try:
        with Server(tls=True) as a:
            # trust anchor that did not issue B's certificate: verification must fail
            relay_section(a, f"smtps://127.0.0.1:{b.port465}", user="relay@remote.test", ca=path("other.pem"))
            a.start()
            submit(a, ["far@remote.test"])
            wait_for(lambda: "deferred to=<far@remote.test>" in a.log(), 30, a.log)
            assert "certificate of 127.0.0.1" in a.log() and "not accepted" in a.log(), a.log()[-2000:]
            assert len(a.queue_files()) == 1
            assert a.stop() == 0
        assert "auth ok" not in b.log() and "auth failed" not in b.log()
        assert b.messages("far", "remote.test") == []
    finally:
        b.stop()
        b.cleanup()


def test_temporary_failure_then_exactly_one_copy():
    fake = FakeSMTP(script=lambda n, cmd: "451 4.3.0 try again later" if (n == 0 and cmd == "END") else None)
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{fake.port}")
            a.start()
            submit(a, ["far@remote.test"], body="retry me")
            wait_queue_empty(a, 30)         # nothing left that could be sent again
            assert "deferred to=<far@remote.test>" in a.log()
            assert "451 4.3.0 try again later" in a.log()
            assert len(fake.messages) == 1, len(fake.messages)
            assert b"retry me" in fake.messages[0]
            assert a.stop() == 0
    finally:
        fake.close()


def test_permanent_failure_bounces_to_local_sender():
    fake = FakeSMTP(script=lambda n, cmd: "550 5.1.1 <far@remote.test>: no such user" if cmd == "RCPT" else None)
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{fake.port}")
            a.start()
            submit(a, ["far@remote.test"], body="will bounce")
            bounce = a.wait_messages("alice", 1)[0]
            assert b"Subject: Undelivered Mail Returned to Sender" in bounce
            assert b"multipart/report; report-type=delivery-status" in bounce
            assert b"Final-Recipient: rfc822; far@remote.test" in bounce
            assert b"Status: 5.1.1" in bounce
            assert b"no such user" in bounce
            assert b"Subject: will bounce" in bounce        # the original's headers
            assert b"Return-Path: <>" in bounce
            # it says the message is attached, and it is: whole, as message/rfc822
            assert b"It is attached below." in bounce and b"Content-Type: message/rfc822" in bounce, bounce
            assert b"\n\nwill bounce\n" in bounce.split(b"message/rfc822")[1], bounce
            wait_queue_empty(a)
            assert fake.messages == []
            assert a.stop() == 0
    finally:
        fake.close()


def test_sigkill_during_delivery_then_one_copy():
    hung = threading.Event()

    def script(n, cmd):
        if n == 0 and cmd == "END":
            hung.set()                      # the whole message is here; its reply never comes
            return "HANG"
        return None
    fake = FakeSMTP(script=script)
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{fake.port}")
            a.start()
            submit(a, ["far@remote.test"], body="killed mid-delivery")
            wait_for(hung.is_set, 30, lambda: a.log()[-3000:])
            a.kill()                                   # the server never answered the end of data
            a.start()
            wait_queue_empty(a, 30)                    # nothing left that could be sent again
            assert len(fake.messages) == 1, len(fake.messages)
            assert a.stop() == 0
    finally:
        fake.close()


def test_relay_to_postfix_smtp_sink():
    """Postfix's smtp-sink (from Debian's postfix package, unpacked, not installed) as the
    smarthost; it records the envelope and the content it received."""
    r = subprocess.run([os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "peer-postfix")],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        from harness import Skip
        raise Skip("postfix package not available: " + r.stderr[-200:])
    root = os.path.join(os.path.dirname(__file__), "..", "..", r.stdout.strip())
    port = free_port()
    import tempfile
    dump = tempfile.mkdtemp(prefix="mailport-sink-")
    os.chmod(dump, 0o777)                      # smtp-sink drops to nobody before it writes
    sink = subprocess.Popen([os.path.join(root, "usr/sbin/smtp-sink"), "-u", "nobody", "-d", f"{dump}/%M.",
                             f"127.0.0.1:{port}", "32"], env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, sink)
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{port}")
            a.start()
            ctx = ssl.create_default_context(cafile=a.ca)
            with smtplib.SMTP_SSL("127.0.0.1", a.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["far@remote.test", "other@remote.test"],
                           "Subject: to postfix\r\n\r\nfirst\r\n.dot line\r\n..two dots\r\nlast\r\n")
            wait_queue_empty(a)
            assert a.stop() == 0
        files = [os.path.join(dump, f) for f in os.listdir(dump)]
        assert len(files) == 1, files
        got = open(files[0], "rb").read()
        assert b"X-Mail-Args: <alice@example.test>" in got, got[:400]
        assert b"X-Rcpt-Args: <far@remote.test>" in got and b"X-Rcpt-Args: <other@remote.test>" in got
        assert b"\nfirst\n.dot line\n..two dots\nlast\n" in got.replace(b"\r\n", b"\n"), got
    finally:
        sink.terminate()
        sink.wait(10)
        import shutil
        shutil.rmtree(dump, ignore_errors=True)


def submit_many(srv, n, rcpt="far@remote.test"):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
        c.login("alice@example.test", "secret")
        for i in range(n):
            c.sendmail("alice@example.test", [rcpt], f"Subject: m{i}\r\nX-Seq: {i}\r\n\r\nmessage {i}\r\n")


def test_connection_reuse_and_destination_limit():
    fake = FakeSMTP(script=lambda n, cmd: None)
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{fake.port}",
                          extra="concurrency = 4\ndestination_concurrency = 1\n")
            a.start()
            submit_many(a, 20)
            wait_queue_empty(a, 60)
            assert a.stop() == 0
        assert len(fake.messages) == 20
        seqs = sorted(int(m.split(b"X-Seq: ")[1].split(b"\r\n")[0]) for m in fake.messages)
        assert seqs == list(range(20))
        assert fake.max_active == 1, fake.max_active               # one connection at a time
        assert len(fake.sessions) < 20, len(fake.sessions)         # and reused, RSET between
        assert "RSET" in fake.commands()
        print(f"    20 messages over {len(fake.sessions)} connection(s)")
    finally:
        fake.close()


def test_connection_reuse_over_tls_and_auth_to_mailport():
    b = remote_mailport()
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtps://127.0.0.1:{b.port465}", user="relay@remote.test", ca=path("ca.pem"),
                          extra="destination_concurrency = 1\n")
            a.start()
            submit_many(a, 10)
            wait_queue_empty(a, 60)
            assert a.stop() == 0
        assert len(b.wait_messages("far", 10, domain="remote.test")) == 10
        logins = b.log().count("auth ok user=relay@remote.test")
        assert 1 <= logins < 10, logins                             # TLS and AUTH once per connection
    finally:
        b.stop()
        b.cleanup()


def test_relay_to_private_postfix():
    """A private Postfix 3.7 as the smarthost, over smtps:// and smtp+starttls://."""
    from postfix import Postfix
    pf = Postfix()
    try:
        for url in (f"smtps://127.0.0.1:{pf.port_tls}", f"smtp+starttls://127.0.0.1:{pf.port_starttls}"):
            with Server(tls=True) as a:
                relay_section(a, url, ca=path("ca.pem"))
                a.start()
                submit(a, ["someone@postfix.example"], body=url)
                wait_queue_empty(a)
                assert "delivered to=<someone@postfix.example>" in a.log()
                assert a.stop() == 0
        pf.wait_sent(2)
        assert pf.log().count("TLS connection established from localhost") >= 2
    finally:
        pf.close()


def test_bounce_says_what_happened_and_returns_what_it_says():
    """Undeliverable for the whole queue lifetime: the bounce names the span and what the last
    attempt met (a refused connection, with the host). A message over the 50,000 octets a bounce
    carries comes back as its header, and the text says so."""
    dead = free_port()
    with Server(tls=True) as a:
        relay_section(a, f"smtp://127.0.0.1:{dead}")
        a.start()
        submit(a, ["far@remote.test"], body="never arrives")
        wait_for(lambda: "deferred to=<far@remote.test>" in a.log(), 30, a.log)
        assert a.stop() == 0
        # Five days later: the queue file's arrival record (T) moved back, as the clock would.
        [qf] = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(a.dir, "spool", "queue")) for f in fs
                if not f.endswith(".st")]
        data = open(qf, "rb").read()
        m = re.search(rb"\nT (\d+)\n(\d+)\n", data)
        old = m.group(2)
        new = str(int(old) - 5 * 86400 - 60).encode()
        assert len(new) == len(old)
        with open(qf, "wb") as f:
            f.write(reseal_queue_file(data[:m.start(2)] + new + data[m.end(2):]))
        a.start()
        bounce = a.wait_messages("alice", 1, timeout=40)[0]
        text = bounce.split(b"message/delivery-status")[0].decode()
        assert "not delivered for 5 days (the longest this server keeps trying)" in text, text
        assert f"the last attempt: connection refused by 127.0.0.1:{dead} (nothing listening on that port)" in text, text
        assert "It is attached below." in text and b"Content-Type: message/rfc822" in bounce
        assert b"Status: 4.4.7" not in bounce and b"Status: 5.4.7" in bounce, bounce
        assert a.stop() == 0
    fake = FakeSMTP(script=lambda n, cmd: "550 5.1.1 <far@remote.test>: no such user" if cmd == "RCPT" else None)
    try:
        with Server(tls=True) as a:
            relay_section(a, f"smtp://127.0.0.1:{fake.port}")
            a.start()
            big = "x" * 70 + "\r\n"
            ctx = ssl.create_default_context(cafile=a.ca)
            with smtplib.SMTP_SSL("127.0.0.1", a.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["far@remote.test"], "Subject: big one\r\n\r\n" + big * 1000)
            bounce = a.wait_messages("alice", 1)[0]
            assert (b"Its header is attached below (the whole message is larger than the 50,000 octets this "
                    b"server returns).") in bounce, bounce[:1500]
            assert b"Content-Type: text/rfc822-headers" in bounce and b"message/rfc822" not in bounce
            assert b"Subject: big one" in bounce and b"x" * 70 not in bounce
            assert a.stop() == 0
    finally:
        fake.close()
