"""`mailport send` (and the binary as `sendmail`) against real servers started here (mailport on
465/587, python3-aiosmtpd with TLS) and hostile ones (STARTTLS stripped, plaintext on the TLS
port, wrong-host and untrusted certificates, TLS 1.0 only): exit codes, words, and what the
server saw."""
import email
import os
import shutil
import subprocess
import time

from fakesmtp import FakeSMTP
from harness import BIN, Server, free_port
from pki import path

MSG = "Subject: {s}\n\nhello\n.starts with a dot\n"


def run_send(args, stdin, binary=BIN, argv0=None):
    return subprocess.run([argv0 or binary, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          executable=binary)


def creds(srv, password="secret"):
    pw = os.path.join(srv.dir, "send-password")
    with open(pw, "w") as f:
        f.write(password + "\n")
    return ["--user", "alice@example.test", "--password-file", pw, "--cafile", srv.ca, "--host", "127.0.0.1"]


def test_send_465_587_and_auto():
    with Server(tls=True) as srv:
        srv.start()
        r = run_send(["send", *creds(srv), "--port", str(srv.port465), "--tls", "implicit", "-f", "alice@example.test",
                      "bob@example.test"], MSG.format(s="implicit"))
        assert r.returncode == 0, r.stderr
        r = run_send(["send", *creds(srv), "--port", str(srv.port587), "--tls", "starttls", "-f", "alice@example.test",
                      "bob@example.test"], MSG.format(s="starttls"))
        assert r.returncode == 0, r.stderr
        # auto: implicit TLS first; here nothing listens there, so STARTTLS on the second port
        dead = free_port()
        r = run_send(["send", *creds(srv), "--auto-ports", f"{dead},{srv.port587}", "-f", "alice@example.test",
                      "bob@example.test"], MSG.format(s="auto"))
        assert r.returncode == 0, r.stderr
        assert f"port {dead}:" in r.stderr and "refused" in r.stderr and "trying port" in r.stderr, r.stderr
        msgs = srv.wait_messages("bob", 3)
        for m in msgs:
            p = email.message_from_bytes(m)
            assert p["Date"] and p["Message-ID"] and p["From"] == "<alice@example.test>", m[:400]
            assert b"\n.starts with a dot\n" in m
            assert b"ESMTPSA" in m
        assert "secret" not in srv.log()
        assert srv.stop() == 0


def test_send_to_aiosmtpd_implicit_tls():
    if subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        from harness import Skip
        raise Skip("python3-aiosmtpd not installed")
    port = free_port()
    log = f"/tmp/aiosmtpd-send-{port}.log"
    out = open(log, "w+")
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                             "aiosmtpd.handlers.Debugging", "--smtpscert", path("server.pem"), "--smtpskey",
                             path("server.key")], stdout=out, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        time.sleep(1)
        r = run_send(["send", "--host", "127.0.0.1", "--port", str(port), "--tls", "implicit", "--cafile",
                      path("ca.pem"), "-f", "me@example.test", "you@example.test"], MSG.format(s="to aiosmtpd"))
        assert r.returncode == 0, r.stderr
        time.sleep(0.5)
        out.seek(0)
        assert "Subject: to aiosmtpd" in out.read()
    finally:
        proc.terminate()
        proc.wait(10)
        out.close()
        os.unlink(log)


def saw_nothing_private(fake):
    cmds = [c.split(" ")[0].upper() for c in fake.commands()]
    assert "AUTH" not in cmds and "MAIL" not in cmds and "RCPT" not in cmds, cmds


def test_send_refuses_downgrades_and_bad_certificates():
    pw = "/tmp/send-pw-%d" % os.getpid()
    with open(pw, "w") as f:
        f.write("secret\n")
    base = ["send", "--user", "alice@example.test", "--password-file", pw, "--cafile", path("ca.pem"),
            "--host", "127.0.0.1", "-f", "alice@example.test", "bob@example.test"]
    try:
        # 1. STARTTLS stripped from EHLO
        fake = FakeSMTP()
        r = run_send(base + ["--port", str(fake.port), "--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "did not offer STARTTLS; nothing was sent" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 2. plaintext where implicit TLS is expected (465 spoken as plaintext)
        fake = FakeSMTP()
        r = run_send(base + ["--port", str(fake.port), "--tls", "implicit"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "spoke plaintext: use --tls starttls" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 3. a certificate for another name
        fake = FakeSMTP(starttls_cert=(path("other.pem"), path("other.key")))
        r = run_send(base + ["--port", str(fake.port), "--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "not accepted" in r.stderr and "mismatch" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 4. a certificate from a CA we do not trust (self-signed chain, no --cafile)
        fake = FakeSMTP(starttls_cert=(path("server.pem"), path("server.key")))
        untrusted = [a for a in base if a not in ("--cafile", path("ca.pem"))]
        r = run_send(untrusted + ["--port", str(fake.port), "--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "pass --cafile" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 5. a server that speaks only TLS 1.0
        port = free_port()
        s = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert",
                              path("server.pem"), "-key", path("server.key"), "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)
            r = run_send(base + ["--port", str(port), "--tls", "implicit"], MSG.format(s="x"))
            assert r.returncode == 69, (r.returncode, r.stderr)
            assert "older than 1.2" in r.stderr or "handshake" in r.stderr, r.stderr
        finally:
            s.kill()
            s.wait()
        # 6. an expired certificate
        fake = FakeSMTP(starttls_cert=(path("expired.pem"), path("expired.key")))
        r = run_send(base + ["--port", str(fake.port), "--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "expired" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 7. bytes after the 220 to STARTTLS (CVE-2021-22947 class): abort, do not discard
        fake = FakeSMTP(starttls_cert=(path("server.pem"), path("server.key")),
                        script=lambda n, cmd: "220 go ahead\r\n250-injected before TLS" if cmd == "STARTTLS" else None)
        r = run_send(base + ["--port", str(fake.port), "--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "sent data after agreeing to start TLS" in r.stderr, r.stderr
        saw_nothing_private(fake)
        fake.close()
        # 8. --tls none with a login is refused before connecting
        r = run_send(base + ["--port", "1", "--tls", "none"], MSG.format(s="x"))
        assert r.returncode == 78 and "plaintext" in r.stderr, r
    finally:
        os.unlink(pw)


def test_send_errors_in_words():
    with Server(tls=True) as srv:
        srv.start()
        r = run_send(["send", *creds(srv, "wrong"), "--port", str(srv.port465), "--tls", "implicit",
                      "-f", "alice@example.test", "bob@example.test"], MSG.format(s="x"))
        assert r.returncode == 77 and "refused the login: 535" in r.stderr, r
        r = run_send(["send", *creds(srv), "--port", str(srv.port465), "--tls", "implicit",
                      "-f", "bob@example.test", "bob@example.test"], MSG.format(s="x"))
        assert r.returncode == 69 and "553" in r.stderr and "check -f" in r.stderr, r
        r = run_send(["send", *creds(srv), "--port", str(free_port()), "--tls", "implicit",
                      "-f", "alice@example.test", "bob@example.test"], MSG.format(s="x"))
        assert r.returncode == 75 and "refused (nothing listening" in r.stderr, r
        r = run_send(["send", *creds(srv), "--port", str(srv.port465), "--tls", "implicit",
                      "-f", "alice@example.test"], MSG.format(s="x"))
        assert r.returncode == 64 and "no recipients" in r.stderr, r
        r = run_send(["send", "--host", "127.0.0.1", "-f", "a@b.test", "bob@example.test"], "x\0y\n")
        assert r.returncode == 65, r
        r = run_send(["send", "--config", "/nonexistent/send.conf", "bob@example.test"], "x\n")
        assert r.returncode == 78, r
        assert srv.stop() == 0


def test_sendmail_compatibility():
    with Server(tls=True) as srv:
        srv.start()
        pw = os.path.join(srv.dir, "pw")
        with open(pw, "w") as f:
            f.write("secret\n")
        conf = os.path.join(srv.dir, "send.conf")
        with open(conf, "w") as f:
            f.write(f"[account default]\nhost = 127.0.0.1\nport = {srv.port587}\ntls = starttls\n"
                    f"user = alice@example.test\npassword_file = {pw}\ncafile = {srv.ca}\nfrom = alice@example.test\n")
        link = os.path.join(srv.dir, "sendmail")
        os.symlink(os.path.abspath(BIN), link)
        # To with a quoted display name and a group, Cc with an encoded word, a folded Bcc
        msg = ("From: Alice <alice@example.test>\nTo: \"Bob, the builder\" <bob@example.test>, "
               "\"Team, Inc\": al@example.test;\n"
               "Cc: =?utf-8?q?Al=C3=AFce?= <postmaster@example.test>\nBcc: (hidden)\n alice+bcc@example.test\n"
               "Subject: -t test\n\nline\n.\nafter a lone dot\n..two\n")
        # -t: recipients from To/Cc/Bcc; -i: the lone "." is content; Bcc removed
        r = subprocess.run([link, "--config", conf, "-t", "-i"], input=msg, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        bob = srv.wait_messages("bob", 1)[0]
        assert b"Bcc" not in bob and b"alice+bcc" not in bob, bob[:600]
        assert b"=?utf-8?q?Al=C3=AFce?=" in bob                 # encoded words left intact
        assert b"\nline\n.\nafter a lone dot\n..two\n" in bob, bob
        time.sleep(0.5)
        assert len(srv.wait_messages("alice", 1)) == 1      # al@, postmaster@, alice+bcc@ are alice: one copy
        # without -i a lone "." ends the message (sendmail semantics); -f sets the envelope sender
        r = subprocess.run([link, "--config", conf, "-f", "postmaster@example.test", "bob@example.test"],
                           input="Subject: dot\n\nbefore\n.\nnever sent\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        msgs = srv.wait_messages("bob", 2)
        dot = [m for m in msgs if b"Subject: dot" in m][0]
        assert b"before" in dot and b"never sent" not in dot
        assert dot.startswith(b"Return-Path: <postmaster@example.test>")
        # a sendmail-style -oi and -odi are understood or ignored
        r = subprocess.run([link, "--config", conf, "-oi", "-odi", "bob@example.test"],
                           input="Subject: oi\n\na\n.\nb\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        oi = [m for m in srv.wait_messages("bob", 3) if b"Subject: oi" in m][0]
        assert b"\na\n.\nb\n" in oi
        assert srv.stop() == 0


def test_send_with_auth_to_aiosmtpd():
    """AUTH against an SMTP implementation we did not write: aiosmtpd with STARTTLS required."""
    if subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        from harness import Skip
        raise Skip("python3-aiosmtpd not installed")
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "aiosmtpd_auth.py"),
                             str(port), path("server.pem"), path("server.key")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pw = f"/tmp/send-pw-ai-{os.getpid()}"
    try:
        assert proc.stdout.readline().strip() == "READY"
        with open(pw, "w") as f:
            f.write("secret\n")
        base = ["send", "--host", "127.0.0.1", "--port", str(port), "--tls", "starttls", "--cafile", path("ca.pem"),
                "--user", "alice", "--password-file", pw, "-f", "me@example.test", "you@example.test"]
        r = run_send(base, MSG.format(s="auth to aiosmtpd"))
        assert r.returncode == 0, r.stderr
        line = proc.stdout.readline()
        while line and not line.startswith("MESSAGE"):    # aiosmtpd's own warnings come first
            line = proc.stdout.readline()
        assert "MESSAGE from=me@example.test" in line and "auth=True" in line, line
        # (a wrong password is tested against mailport: aiosmtpd 1.4 stalls after a failed AUTH)
    finally:
        proc.terminate()
        proc.wait(10)
        if os.path.exists(pw):
            os.unlink(pw)


def test_send_to_private_postfix():
    """A private Postfix 3.7 (Debian's, unpacked) with implicit TLS and with STARTTLS required."""
    from postfix import Postfix
    pf = Postfix()
    try:
        for port, mode in ((pf.port_tls, "implicit"), (pf.port_starttls, "starttls")):
            r = run_send(["send", "--host", "127.0.0.1", "--port", str(port), "--tls", mode, "--cafile",
                          path("ca.pem"), "-f", "me@example.test", "someone@postfix.example"],
                         MSG.format(s=f"to postfix over {mode}"))
            assert r.returncode == 0, (mode, r.stderr, pf.log()[-1500:])
        pf.wait_sent(2)
        assert pf.log().count("TLS connection established from localhost") >= 2, pf.log()[-2000:]
        assert "to=<someone@postfix.example>" in pf.log()
        # Postfix refuses relaying for strangers: a clear 5xx and exit 69
        r = run_send(["send", "--host", "127.0.0.1", "--port", str(pf.port_tls), "--tls", "implicit", "--cafile",
                      path("ca.pem"), "-f", "me@example.test", "someone@elsewhere.example"], MSG.format(s="relay"))
        assert r.returncode == 69 and "Relay access denied" in r.stderr, r
    finally:
        pf.close()
