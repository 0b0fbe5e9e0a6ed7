"""Submission on 465 (implicit TLS) and 587 (STARTTLS required) with AUTH, driven by real
clients that verify the certificate: python3 smtplib, swaks, curl, msmtp, openssl s_client."""
import email
import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time

from harness import give_to_mail_user, Raw, Server, need, wait_for

MSG = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: {subj}\r\n\r\n{body}\r\n"


def ctx(ca):
    c = ssl.create_default_context(cafile=ca)
    c.minimum_version = ssl.TLSVersion.TLSv1_2
    return c


def check(srv, user, needle, proto):
    m = srv.wait_messages(user, 1)[0]
    assert needle.encode() in m, m
    assert f"with {proto} id".encode() in m, m[:600]
    assert b"(using TLSv1." in m, m[:600]
    assert b"secret" not in m
    return m


def test_smtplib_465_implicit_tls():
    with Server(tls=True) as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.ehlo("client.test")
            assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]
            assert not c.has_extn("starttls")
            c.login("alice@example.test", "secret")
            c.sendmail("alice@example.test", ["bob@example.test"], MSG.format(subj="465", body="via 465"))
        check(srv, "bob", "via 465", "ESMTPSA")
        assert "auth ok user=alice@example.test" in srv.log()
        assert "secret" not in srv.log()
        assert srv.stop() == 0


def test_smtplib_587_starttls():
    with Server(tls=True) as srv:
        srv.start()
        with smtplib.SMTP("127.0.0.1", srv.port587, timeout=10) as c:
            c.ehlo("client.test")
            assert c.has_extn("starttls")
            assert not c.has_extn("auth"), "AUTH must not be offered before TLS"
            code, _ = c.mail("alice@example.test")
            assert code == 530
            c.starttls(context=ctx(srv.ca))
            c.ehlo("client.test")
            assert c.has_extn("auth") and not c.has_extn("starttls")
            c.login("alice@example.test", "secret")
            c.sendmail("alice@example.test", ["bob@example.test"], MSG.format(subj="587", body="via 587"))
        check(srv, "bob", "via 587", "ESMTPSA")
        assert srv.stop() == 0


def test_swaks_587_and_465():
    swaks = need("swaks")
    with Server(tls=True) as srv:
        srv.start()
        for args, mech, body in (
            (["--server", f"127.0.0.1:{srv.port587}", "--tls"], "PLAIN", "swaks starttls"),
            (["--server", f"127.0.0.1:{srv.port465}", "--tlsc"], "LOGIN", "swaks implicit"),
        ):
            r = subprocess.run([swaks, *args, "--tls-verify", "--tls-ca-path", srv.ca, "--auth", mech,
                                "--auth-user", "alice@example.test", "--auth-password", "secret",
                                "--from", "alice@example.test", "--to", "bob@example.test", "--body", body],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "235 2.7.0" in r.stdout
        msgs = srv.wait_messages("bob", 2)
        assert any(b"swaks starttls" in m for m in msgs) and any(b"swaks implicit" in m for m in msgs)
        assert srv.stop() == 0


def test_curl_smtps_and_ssl_reqd():
    curl = need("curl")
    with Server(tls=True) as srv:
        srv.start()
        for url, extra in ((f"smtps://127.0.0.1:{srv.port465}", []),
                           (f"smtp://127.0.0.1:{srv.port587}", ["--ssl-reqd"])):
            r = subprocess.run([curl, "-sS", url, *extra, "--cacert", srv.ca, "--user", "alice@example.test:secret",
                                "--mail-from", "alice@example.test", "--mail-rcpt", "bob@example.test", "-T", "-"],
                               input=MSG.format(subj="curl", body=f"curl {url}"), capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, (url, r.stderr)
        assert len(srv.wait_messages("bob", 2)) == 2
        # without the CA, curl refuses the certificate: verification is real
        r = subprocess.run([curl, "-sS", f"smtps://127.0.0.1:{srv.port465}", "--user", "alice@example.test:secret",
                            "--mail-from", "alice@example.test", "--mail-rcpt", "bob@example.test", "-T", "-"],
                           input="x", capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert srv.stop() == 0


def test_msmtp_starttls_on_and_off():
    msmtp = need("msmtp")
    with Server(tls=True) as srv:
        srv.start()
        for port, starttls in ((srv.port587, "on"), (srv.port465, "off")):
            r = subprocess.run([msmtp, "--host=127.0.0.1", f"--port={port}", "--tls=on", f"--tls-starttls={starttls}",
                                f"--tls-trust-file={srv.ca}", "--auth=on", "--user=alice@example.test",
                                "--passwordeval=echo secret", "--from=alice@example.test", "bob@example.test"],
                               input=MSG.format(subj="msmtp", body=f"msmtp starttls={starttls}"),
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        assert len(srv.wait_messages("bob", 2)) == 2
        assert srv.stop() == 0


def s_client(args, stdin="QUIT\r\n"):
    # -ign_eof: wait for the server's reply to QUIT instead of closing at the end of stdin
    return subprocess.run(["openssl", "s_client", "-ign_eof", *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def test_openssl_versions_and_starttls():
    with Server(tls=True) as srv:
        srv.start()
        for flag in ("-tls1", "-tls1_1"):
            r = s_client(["-connect", f"127.0.0.1:{srv.port465}", flag])
            assert "Cipher is (NONE)" in r.stdout or r.returncode != 0, (flag, r.stdout[-500:])
            assert "220 mx.example.test" not in r.stdout
        for flag, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            r = s_client(["-connect", f"127.0.0.1:{srv.port465}", flag, "-CAfile", srv.ca, "-verify_return_error",
                          "-verify_hostname", "mx.example.test"])
            assert f"Protocol  : {want}" in r.stdout or f"New, {want}" in r.stdout, r.stdout[-800:]
            assert "Verify return code: 0 (ok)" in r.stdout
            assert "220 mx.example.test ESMTP mailport" in r.stdout
        for port in (srv.port587, srv.port):
            r = s_client(["-connect", f"127.0.0.1:{port}", "-starttls", "smtp", "-CAfile", srv.ca,
                          "-verify_return_error"], stdin="EHLO s-client.test\r\nQUIT\r\n")
            assert "Verify return code: 0 (ok)" in r.stdout, r.stdout[-800:]
            assert "250-AUTH PLAIN LOGIN" in r.stdout if port == srv.port587 else "AUTH" not in r.stdout
        # the failed handshakes were logged with the peer and a reason, and cost nothing else
        assert "tls handshake failed address=127.0.0.1" in srv.log()
        assert srv.stop() == 0


def test_commands_sent_right_after_the_handshake_are_answered():
    """openssl s_client on 465 sends its input as soon as the handshake is done, before the
    greeting arrives: the replies to EHLO and QUIT must all come back. (libevent ran the
    greeting's drain callback after those commands were answered, and the connection used to
    close with the replies unsent.)"""
    with Server(tls=True) as srv:
        srv.start()
        for _ in range(5):
            r = s_client(["-connect", f"127.0.0.1:{srv.port465}", "-CAfile", srv.ca, "-verify_return_error"],
                         stdin="EHLO s-client.test\r\nQUIT\r\n")
            assert "220 mx.example.test" in r.stdout, r.stdout[-600:]
            assert "250 SMTPUTF8" in r.stdout and "221 2.0.0 Bye" in r.stdout, (r.stdout[-600:], srv.log()[-800:])
        assert srv.stop() == 0


def test_tls_sessions_resume():
    """A client that kept the session of its last connection resumes it (TLS 1.3 ticket; TLS
    1.2 too), on 465 and after STARTTLS on 587, with or without SNI; the server issues one
    ticket per handshake and logs resumed=yes."""
    import tempfile
    with Server(tls=True) as srv:
        srv.start()
        d = tempfile.mkdtemp(prefix="mailport-sess-")
        cases = [(srv.port465, [], "TLSv1.3"), (srv.port465, ["-servername", "mx.example.test"], "TLSv1.3"),
                 (srv.port465, ["-tls1_2"], "TLSv1.2"), (srv.port587, ["-starttls", "smtp"], "TLSv1.3")]
        for i, (port, extra, version) in enumerate(cases):
            sess = os.path.join(d, f"s{i}")
            base = ["-connect", f"127.0.0.1:{port}", "-CAfile", srv.ca, "-verify_return_error", *extra]
            first = s_client(base + ["-sess_out", sess], stdin="EHLO s-client.test\r\nQUIT\r\n")
            assert f"New, {version}" in first.stdout, first.stdout[-800:]
            if version == "TLSv1.3":
                assert first.stdout.count("Post-Handshake New Session Ticket arrived") == 1, first.stdout[-1500:]
            again = s_client(base + ["-sess_in", sess], stdin="EHLO s-client.test\r\nQUIT\r\n")
            assert f"Reused, {version}" in again.stdout, (extra, again.stdout[-800:])
            assert "221" in again.stdout, (extra, again.stdout[-400:], again.stderr[-400:], srv.log()[-1500:])
        assert srv.log().count("resumed=yes") == len(cases), srv.log()
        assert srv.stop() == 0


def test_starttls_injection_discarded():
    """STARTTLS\\r\\nRSET\\r\\n in one write: the RSET must never be answered (CVE-2011-0411)."""
    with Server(tls=True) as srv:
        srv.start()
        r = Raw("127.0.0.1", srv.port587)
        assert r.code().startswith("220")
        r.send("EHLO evil.test\r\n")
        r.reply()
        r.send("STARTTLS\r\nRSET\r\nMAIL FROM:<alice@example.test>\r\n")
        assert r.code() == "220 2.0.0"
        assert r.buf == b""
        tls = ctx(srv.ca).wrap_socket(r.s, server_hostname="mx.example.test")
        tls.sendall(b"NOOP\r\n")
        first = tls.recv(4096)
        assert first.startswith(b"250 2.0.0 Ok"), first     # the NOOP's reply, not the RSET's
        tls.sendall(b"QUIT\r\n")
        assert tls.recv(4096).startswith(b"221")
        tls.close()
        assert "starttls discarded octets=" in srv.log()
        assert srv.stop() == 0


def test_policy_errors():
    import tempfile
    from tests_mx import DNS
    # The admin's DNS (unbound on loopback) answers every name, .test too: elsewhere.test has
    # no data there, so it does not exist.
    d = tempfile.mkdtemp(prefix="mailport-dns-")
    dns = DNS(d, zone='  local-zone: "." static\n  local-data: "probe.test. 3600 IN A 127.0.0.1"\n',
              probe=("probe.test", "A", "127.0.0.1"))
    try:
        policy_errors(f"127.0.0.1:{dns.port}")
    finally:
        dns.close()
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def policy_errors(resolver):
    with Server(tls=True, resolver=resolver) as srv:
        srv.start()
        # 587 before TLS
        r = Raw("127.0.0.1", srv.port587)
        r.code()
        r.send("EHLO c\r\n")
        ehlo = r.reply()
        assert "250-STARTTLS" in ehlo and not any("AUTH" in line for line in ehlo)
        for cmd in ("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=", "MAIL FROM:<alice@example.test>",
                    "RCPT TO:<bob@example.test>"):
            r.send(cmd + "\r\n")
            assert r.reply()[-1] == "530 5.7.0 Must issue a STARTTLS command first", cmd
        # 465 without AUTH, and sender spoofing after AUTH
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.ehlo("c")
            code, msg = c.mail("alice@example.test")
            assert (code, msg[:9]) == (530, b"5.7.0 Aut"), (code, msg)
            c.rset()
            c.login("alice@example.test", "secret")
            code, msg = c.mail("bob@example.test")
            assert code == 553 and msg.startswith(b"5.7.1"), (code, msg)
            c.rset()
            code, _ = c.mail("postmaster@example.test")          # alice's alias
            assert code == 250
            c.rset()
            # an authenticated user may send anywhere (elsewhere.test does not exist in the
            # test's DNS, so direct delivery bounces it back: NXDOMAIN is permanent)
            refused = c.sendmail("alice@example.test", ["someone@elsewhere.test"], MSG.format(subj="out", body="out"))
            assert refused == {}
        bounce = srv.wait_messages("alice", 1)[0]
        assert b"5.1.2" in bounce and b"does not exist (NXDOMAIN)" in bounce, bounce[-1500:]
        # port 25 with TLS: STARTTLS offered, AUTH never, relay still denied
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            c.starttls(context=ctx(srv.ca))
            c.ehlo("c")
            assert not c.has_extn("auth")
            c.mail("alice@example.test")
            code, _ = c.rcpt("someone@elsewhere.test")
            assert code == 550
        assert "reject sender=<bob@example.test> user=alice@example.test reason=not-owned" in srv.log()
        assert srv.stop() == 0


def test_submission_hygiene_date_and_message_id():
    with Server(tls=True) as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.login("alice@example.test", "secret")
            c.sendmail("alice@example.test", ["bob@example.test"], "Subject: bare\r\n\r\nno date\r\n")
            c.sendmail("alice@example.test", ["bob@example.test"],
                       "Subject: full\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nhas both\r\n")
            c.sendmail("alice@example.test", ["bob@example.test"], "Subject: headers only\r\n")
        msgs = srv.wait_messages("bob", 3)
        for m in msgs:
            parsed = email.message_from_bytes(m)
            assert len(parsed.get_all("Date")) == 1, m
            assert len(parsed.get_all("Message-ID")) == 1, m
            if b"has both" in m:
                assert parsed["Message-ID"] == "<x@y>"
        # port 25 adds neither
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            c.sendmail("x@remote.test", ["alice@example.test"], "Subject: mx\r\n\r\nplain mx\r\n")
        m = email.message_from_bytes(srv.wait_messages("alice", 1)[0])
        assert m["Date"] is None and m["Message-ID"] is None
        assert srv.stop() == 0


def test_auth_bruteforce_lockout():
    import base64
    with Server(tls=True) as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30) as c:
            c.ehlo("c")
            for i in range(5):          # max_failures = 5: each answered 535
                cred = base64.b64encode(f"\0alice@example.test\0wrong{i}".encode()).decode()
                code, msg = c.docmd("AUTH", "PLAIN " + cred)
                assert code == 535 and msg.startswith(b"5.7.8"), (i, code, msg)
        # the right password, from the same address, is now refused and the session closed
        c = smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30)
        c.ehlo("c")
        code, msg = c.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=")
        assert code == 454 and msg.startswith(b"4.7.0"), (code, msg)
        try:
            c.noop()
            raise AssertionError("session still open after 454")
        except (smtplib.SMTPServerDisconnected, ConnectionError, ssl.SSLError):
            pass
        assert "auth lockout address=127.0.0.1" in srv.log()
        assert "wrong" not in srv.log()
        assert srv.stop() == 0


def test_yescrypt_user_from_mailport_passwd():
    from harness import BIN, DEMO_HASH
    h = subprocess.run([BIN, "passwd"], input="correct horse battery staple\n", capture_output=True, text=True,
                       check=True).stdout.strip()
    assert h.startswith("$y$")
    with Server(tls=True, users=[f"carol@example.test:{h}", f"bob@example.test:{DEMO_HASH}"]) as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.login("carol@example.test", "correct horse battery staple")
            c.sendmail("carol@example.test", ["bob@example.test"], "Subject: y\r\n\r\nyescrypt\r\n")
        srv.wait_messages("bob", 1)
        assert srv.stop() == 0


def test_hanging_and_garbage_handshakes():
    with Server(tls=True, extra_server="timeout = 2s") as srv:
        srv.start()
        idle = socket.create_connection(("127.0.0.1", srv.port465))
        partial = socket.create_connection(("127.0.0.1", srv.port465))
        partial.sendall(bytes.fromhex("160301"))                  # half a record header
        plain = socket.create_connection(("127.0.0.1", srv.port465))
        plain.sendall(b"EHLO plaintext.test\r\n")                 # plaintext on the TLS port
        for s in (idle, partial, plain):
            s.settimeout(10)
            t0 = time.time()
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            assert time.time() - t0 < 8
            s.close()
        log = srv.log()
        assert 'reason="timeout: no TLS handshake from the client' in log and "tls handshake failed" in log
        # each mistake named in words, without OpenSSL's numeric codes
        assert "the client speaks plaintext on the implicit-TLS port: set it to 'SSL/TLS'" in log, log[-3000:]
        assert "error:0A" not in log and "lib(0)" not in log, log[-3000:]
        # and the server still serves
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.login("alice@example.test", "secret")
        assert srv.stop() == 0


def test_200_concurrent_tls_sessions():
    n = 200
    errors = []
    with Server(tls=True, extra_server="max_connections = 400") as srv:
        srv.start()
        context = ctx(srv.ca)
        barrier = threading.Barrier(n)

        def client(k):
            try:
                port = srv.port465 if k % 2 else srv.port587
                if k % 2:
                    c = smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=120)
                else:
                    c = smtplib.SMTP("127.0.0.1", port, timeout=120)
                    c.starttls(context=context)
                barrier.wait(60)
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["bob@example.test"], f"Subject: {k}\r\nX-Seq: {k}\r\n\r\nx\r\n")
                c.quit()
            except Exception as e:                               # noqa: BLE001
                errors.append(f"{k}: {e!r}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors[:5]
        msgs = srv.wait_messages("bob", n, timeout=120)
        seqs = sorted(int(m.split(b"X-Seq: ")[1].split(b"\n")[0]) for m in msgs)
        assert seqs == list(range(n))
        assert srv.stop() == 0


def test_sni_and_certificate_reload():
    from pki import make_cert, path, pki
    import os
    import shutil
    with Server(tls=True) as srv:
        # a second certificate for SNI, and copies of the default pair we can replace
        cert, key = os.path.join(srv.dir, "cert.pem"), os.path.join(srv.dir, "cert.key")
        shutil.copy(path("server.pem"), cert)
        shutil.copy(path("server.key"), key)
        give_to_mail_user(key, 0o600)       # as an admin would: a reload reads it as that user
        text = open(srv.conf).read().replace(f"cert = {path('server.pem')}\nkey = {path('server.key')}",
                                             f"cert = {cert}\nkey = {key}\ncert = {path('other.pem')}\n"
                                             f"key = {path('other.key')}")
        open(srv.conf, "w").write(text)
        srv.start()

        def subject(servername):
            r = s_client(["-connect", f"127.0.0.1:{srv.port465}", "-servername", servername, "-CAfile", srv.ca])
            return [line for line in r.stdout.splitlines() if line.startswith("subject=")][0]

        assert "other.example.test" in subject("other.example.test")
        assert "mx.example.test" in subject("mx.example.test")
        assert "mx.example.test" in subject("unknown.example.test")     # the default
        # a session in progress across the reload must keep working
        before = smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10)
        before.login("alice@example.test", "secret")
        # SIGHUP with a new certificate: new sessions get it
        new_cert, new_key = make_cert(pki(), "renewed", ["DNS:mx.example.test", "IP:127.0.0.1"])
        shutil.copy(new_cert, cert)
        shutil.copy(new_key, key)
        srv.signal(__import__("signal").SIGHUP)
        wait_for(lambda: "reloaded" in srv.log(), 30, srv.log)
        r = s_client(["-connect", f"127.0.0.1:{srv.port465}", "-servername", "mx.example.test", "-CAfile", srv.ca,
                      "-showcerts"])
        new_serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", new_cert], capture_output=True,
                                    text=True).stdout.strip()
        shown = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=r.stdout, capture_output=True,
                               text=True).stdout.strip()
        assert shown == new_serial, (shown, new_serial)
        before.sendmail("alice@example.test", ["bob@example.test"], "Subject: across\r\n\r\nreload\r\n")
        before.quit()
        assert b"reload" in srv.wait_messages("bob", 1)[0]
        # a broken certificate on reload keeps the running one and says why
        open(cert, "w").write("not a certificate\n")
        srv.signal(__import__("signal").SIGHUP)
        wait_for(lambda: "reload failed" in srv.log(), 30, srv.log)
        assert "reload failed, keeping the running configuration" in srv.log()
        assert f"{srv.conf}:" in srv.log() and "not a PEM certificate chain" in srv.log()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
            c.login("alice@example.test", "secret")
        assert srv.stop() == 0


def slow_hash(password, cost=10):
    """A deliberately expensive yescrypt hash (about a second), made through libxcrypt."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(password.encode(), lib.crypt_gensalt(b"$y$", cost, None, 0)).decode()


def test_password_hashing_does_not_stall_other_sessions():
    """While one login's expensive hash runs, another session is answered: the NOOP reply
    arrives before the login's 235 (with hashing on the event loop it could not)."""
    from harness import DEMO_HASH, Raw, crypt_hash
    with Server(tls=True, users=[f"slow@example.test:{slow_hash('secret')}", f"bob@example.test:{crypt_hash('x')}"]) as srv:
        srv.start()
        other = Raw("127.0.0.1", srv.port)
        assert other.code().startswith("220")
        c = ctx(srv.ca).wrap_socket(socket.create_connection(("127.0.0.1", srv.port465)),
                                    server_hostname="mx.example.test")
        f = c.makefile("rb")
        assert f.readline().startswith(b"220")
        c.sendall(b"EHLO c\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        arrived = {}

        def wait_auth():
            arrived["auth"] = (f.readline(), time.monotonic())

        waiter = threading.Thread(target=wait_auth)
        waiter.start()
        c.sendall(b"AUTH PLAIN AHNsb3dAZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n")   # slow@example.test / secret
        # NOOP after NOOP on the other session while the login's hash runs (about a second)
        noops = []
        while waiter.is_alive() and len(noops) < 500:
            other.send("NOOP\r\n")
            assert other.code() == "250 2.0.0"
            noops.append(time.monotonic())
        waiter.join(30)
        assert arrived["auth"][0].startswith(b"235 2.7.0"), arrived
        before = sum(1 for t in noops if t < arrived["auth"][1])
        # with the hash on the event loop, at most the one NOOP queued behind it would get through
        assert before >= 3, f"only {before} NOOPs answered while the password hash ran"
        c.close()
        assert srv.stop() == 0


def test_verified_credentials_cache():
    """A client logging in for every message pays for one full password check a minute, not
    one per login; a wrong password is never remembered; a reload forgets everything."""
    import signal
    with Server(tls=True) as srv:
        srv.start()

        def login(pw):
            with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=10) as c:
                try:
                    c.login("alice@example.test", pw)
                    return True
                except smtplib.SMTPAuthenticationError:
                    return False

        assert login("secret") and login("secret") and login("secret")
        log = srv.log()
        assert log.count("auth ok user=alice@example.test") == 3, log
        assert log.count("cached=yes") == 2, log
        assert not login("wrong") and not login("wrong")
        # (smtplib tries PLAIN, then LOGIN: two full checks per attempt, none remembered)
        assert srv.log().count("auth failed user=alice@example.test") == 4, srv.log()
        assert srv.log().count("cached=yes") == 2
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded config=" in srv.log(), 30, srv.log)
        assert login("secret")
        assert srv.log().count("cached=yes") == 2, "a reload must start with an empty cache"
        assert "secret" not in srv.log()
        assert srv.stop() == 0


def test_one_hash_for_many_logins_at_once():
    """A client that opens eight connections at once and logs in on each with one password
    costs one password hash: the others wait for its answer (or find it cached), and each
    session still logs its own login."""
    with Server(tls=True) as srv:
        srv.start()
        ready = threading.Barrier(8, timeout=20)
        results = []

        def client():
            with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=20) as c:
                c.ehlo()
                ready.wait()
                c.login("alice@example.test", "secret")
                results.append(c.noop()[0])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [250] * 8, (results, srv.log())
        lines = [ln for ln in srv.log().splitlines() if "auth ok user=alice@example.test" in ln]
        assert len(lines) == 8, lines
        hashed = [ln for ln in lines if "cached=yes" not in ln and "shared-hash=yes" not in ln]
        assert len(hashed) == 1, lines
        assert any("shared-hash=yes" in ln for ln in lines), lines
        assert srv.stop() == 0


def test_stalled_handshakes_cannot_shut_the_tls_door():
    """Concurrent TLS handshakes are bounded (accepts wait in the kernel's queue), but 150
    clients that connect to 465 and never send a ClientHello must not keep real clients out:
    handshakes older than a second no longer count."""
    with Server(tls=True, extra_server="timeout = 30s") as srv:
        srv.start()
        def fds():
            return len(os.listdir(f"/proc/{srv.proc.pid}/fd"))
        before = fds()
        stalled = [socket.create_connection(("127.0.0.1", srv.port465)) for _ in range(150)]
        try:
            # The server has taken as many as it handshakes at once (64); the rest wait in the
            # kernel's queue. (A stalled session logs nothing: its "connect" line waits for its
            # first words, so the log cannot say this.)
            wait_for(lambda: fds() >= before + 64, 30, lambda: f"descriptors: {before} before, {fds()} now")
            assert fds() >= before + 64, (before, fds())
            t0 = time.time()
            with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=15) as c:
                c.login("alice@example.test", "secret")
            assert time.time() - t0 < 5, "a real client waited behind stalled handshakes"
        finally:
            for s in stalled:
                s.close()
        assert srv.stop() == 0


def test_lockout_counts_retries_once_says_how_long_and_can_be_lifted():
    """smtplib's login() tries PLAIN, then LOGIN with the same bad password: one failure, not
    two. The 454 says how long; the lockout is logged once with its end; `mailport auth status`
    shows it, `mailport auth unlock` (by user or by IP) ends it."""
    from harness import BIN
    with Server(tls=True, extra="\n[auth]\nmax_failures = 3\nfailure_window = 10m\n") as srv:
        srv.start()

        def login(password):
            with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30) as c:
                try:
                    c.login("alice@example.test", password)
                    return 235, b""
                except smtplib.SMTPAuthenticationError as e:
                    return e.smtp_code, e.smtp_error
                except smtplib.SMTPServerDisconnected:
                    return 0, b""

        def plain(password):        # one AUTH PLAIN, its reply as sent
            import base64
            with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30) as c:
                c.ehlo("c")
                cred = base64.b64encode(f"\0alice@example.test\0{password}".encode()).decode()
                return c.docmd("AUTH", "PLAIN " + cred)

        def auth(*args):
            return subprocess.run([BIN, "auth", "--config", srv.conf, *args], capture_output=True, text=True,
                                  timeout=30)
        assert login("wrong") == (535, b"5.7.8 Authentication credentials invalid")
        assert login("wrong") == (535, b"5.7.8 Authentication credentials invalid")
        log = srv.log()
        assert log.count("auth failed user=alice@example.test") == 4, log        # PLAIN and LOGIN, twice
        assert log.count("counted=no (the same credentials again)") == 2, log
        assert "auth lockout" not in log                                        # 2 of 3 so far
        r = auth("status")
        assert r.returncode == 0 and "failing failures=2 last-user=alice@example.test" in r.stdout, r
        code, msg = login("wrong")                       # the third: a lockout (then 454 for LOGIN)
        assert code == 454 and b"try again in 10 minutes" in msg, (code, msg)
        code, msg = plain("secret")                      # even the right password, for 10 minutes
        assert code == 454 and msg.startswith(b"4.7.0") and b"try again in 10 minutes" in msg, (code, msg)
        log = srv.log()
        assert log.count("auth lockout address=127.0.0.1") == 1, log
        assert re.search(r"auth lockout address=127\.0\.0\.1 .* until=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", log), log
        assert log.count("reason=locked-out") == 0, log                          # refusals: debug only
        r = auth("status")
        assert r.returncode == 0 and re.search(r"127\.0\.0\.1 +LOCKED failures=3 last-user=alice@example\.test "
                                               r"until=\S+Z", r.stdout), r.stdout
        r = auth("unlock", "alice@example.test")
        assert r.returncode == 0 and "unlocked alice@example.test: 1 client may log in again" in r.stdout, r
        assert login("secret")[0] == 235
        assert "auth unlock user=alice@example.test clients=1 by the operator" in srv.log()
        # by IP, too; and an unknown one or garbage is said so
        for _ in range(3):
            login("wrong")
        assert plain("secret")[0] == 454
        r = auth("unlock", "127.0.0.1")
        assert r.returncode == 0 and "unlocked 127.0.0.1" in r.stdout, r
        assert login("secret")[0] == 235
        r = auth("unlock", "192.0.2.9")
        assert r.returncode == 0 and "nothing to unlock" in r.stdout, r
        r = auth("unlock", "not-an-address")
        assert r.returncode == 1 and "neither an IP address nor a user's address" in r.stderr, r
        assert "wrong" not in srv.log()
        assert srv.stop() == 0


def test_client_mistakes_are_named_in_the_log():
    """TLS sent to the STARTTLS port or the MX port, plaintext sent to the implicit-TLS port: the
    log says what the client did wrong and which setting fixes it, without OpenSSL's codes."""
    with Server(tls=True) as srv:
        srv.start()
        for port in (srv.port587, srv.port):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                ctx(srv.ca).wrap_socket(raw, server_hostname="localhost")
                raise AssertionError("a TLS handshake succeeded on a plaintext port")
            except ssl.SSLError as e:
                assert "WRONG_VERSION_NUMBER" in str(e), e      # our greeting is not TLS
            finally:
                raw.close()
        plain = socket.create_connection(("127.0.0.1", srv.port465), timeout=10)
        plain.sendall(b"EHLO plaintext.test\r\n")
        try:
            while plain.recv(4096):
                pass
        except ConnectionResetError:
            pass
        plain.close()
        wait_for(lambda: srv.log().count("speaks") >= 3, 30, srv.log)
        log = srv.log()
        for role in ("submission", "smtp"):
            assert (f'client speaks TLS first address=127.0.0.1 role={role}: set it to "STARTTLS" for this port, '
                    f'or use the implicit-TLS port 127.0.0.1:{srv.port465} with "SSL/TLS"') in log, log
        assert (f"role=submissions reason=\"the client speaks plaintext on the implicit-TLS port: set it to "
                f"'SSL/TLS' for this port") in log, log
        assert "error:" not in log and "lib(0)" not in log, log
        assert srv.stop() == 0
