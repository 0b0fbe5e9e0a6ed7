"""`mailport send` (and the binary as `sendmail`) against real servers started here (mailport on
465/587, python3-aiosmtpd with TLS) and hostile ones (STARTTLS stripped, plaintext on the TLS
port, wrong-host and untrusted certificates, TLS 1.0 only): exit codes, words, and what the
server saw."""
import email
import os
import socket
import ssl
import subprocess
import threading
import time

from fakesmtp import FakeSMTP
from harness import BIN, Server, free_port, wait_for, wait_listening
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
        wait_listening(port, proc)
        r = run_send(["send", "--host", "127.0.0.1", "--port", str(port), "--tls", "implicit", "--cafile",
                      path("ca.pem"), "-f", "me@example.test", "you@example.test"], MSG.format(s="to aiosmtpd"))
        assert r.returncode == 0, r.stderr

        def printed():              # aiosmtpd prints the message before its 250; read it whole
            out.seek(0)
            return "Subject: to aiosmtpd" in out.read()
        wait_for(printed, 30, lambda: open(log).read())
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
            wait_listening(port, s)
            r = run_send(base + ["--port", str(port), "--tls", "implicit"], MSG.format(s="x"))
            assert r.returncode == 69, (r.returncode, r.stderr)
            assert "offers only TLS 1.0, which is obsolete and refused (RFC 8996)" in r.stderr, r.stderr
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
        # a sender refused at MAIL is a refused sender, not "1 of 1 recipients refused"
        assert r.returncode == 69 and "refused the sender <bob@example.test> (given with -f): 553 5.7.1" in r.stderr, r
        assert "give -f ADDRESS" in r.stderr and "recipient" not in r.stderr, r
        r = run_send(["send", *creds(srv), "--port", str(free_port()), "--tls", "implicit",
                      "-f", "alice@example.test", "bob@example.test"], MSG.format(s="x"))
        assert r.returncode == 75 and "connection refused by 127.0.0.1:" in r.stderr, r
        assert "(nothing listening on that port)" in r.stderr, r
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
        srv.wait_messages("alice", 1)
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]     # a second copy would be queued
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


def sendmail_link(srv):
    link = os.path.join(srv.dir, "sendmail")
    if not os.path.exists(link):
        os.symlink(os.path.abspath(BIN), link)
    return link


def account(srv, port, tls="starttls", user="alice@example.test", from_=None):
    pw = os.path.join(srv.dir, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    os.chmod(pw, 0o600)
    conf = os.path.join(srv.dir, f"send-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"[account default]\nhost = 127.0.0.1\nport = {port}\ntls = {tls}\npassword_file = {pw}\n"
                f"cafile = {srv.ca}\n" + (f"user = {user}\n" if user else "") + (f"from = {from_}\n" if from_ else ""))
    return conf


def test_sendmail_t_without_f_takes_the_sender_from_the_message():
    """cron, mutt, git send-email and PHP's mail() call `sendmail -t -i` without -f: the envelope
    sender is the message's single From: address, else its Sender:, else the login."""
    with Server(tls=True) as srv:
        srv.start()
        link = sendmail_link(srv)
        conf = account(srv, srv.port587)
        def run(args, msg):
            return subprocess.run([link, "--config", conf, *args], input=msg, capture_output=True, text=True,
                                  timeout=60)
        # 1. the From: address (alice's alias), no -f, no from = in the account
        r = run(["-t", "-i"], "From: Postmaster <postmaster@example.test>\nTo: bob@example.test\nSubject: one\n\nx\n")
        assert r.returncode == 0, r.stderr
        # 2. two authors: Sender: says who sent it (RFC 5322 3.6.2)
        r = run(["-t", "-i"], "From: bob@example.test, al@example.test\nSender: al@example.test\n"
                              "To: bob@example.test\nSubject: two\n\nx\n")
        assert r.returncode == 0, r.stderr
        # 3. no From: at all: the login, which is an address (and the From: added says so)
        r = run(["-t", "-i"], "To: bob@example.test\nSubject: three\n\nx\n")
        assert r.returncode == 0, r.stderr
        msgs = {email.message_from_bytes(m)["Subject"]: m for m in srv.wait_messages("bob", 3)}
        assert msgs["one"].startswith(b"Return-Path: <postmaster@example.test>"), msgs["one"][:200]
        assert msgs["two"].startswith(b"Return-Path: <al@example.test>"), msgs["two"][:200]
        assert msgs["three"].startswith(b"Return-Path: <alice@example.test>"), msgs["three"][:200]
        assert b"\nFrom: <alice@example.test>\n" in msgs["three"], msgs["three"][:600]
        # 4. -t and no recipient header: a usage error, whatever else is missing (no host here)
        r = subprocess.run([link, "--config", os.devnull, "-t"], input="Subject: none\n\nx\n", capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 64 and "-t found no address" in r.stderr, r
        # 5. no -f, no From:, a login that is not an address, no from =: refused, in words
        conf2 = account(srv, srv.port587, user="alice")
        r = subprocess.run([link, "--config", conf2, "-t"], input="To: bob@example.test\n\nx\n",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 78 and "no sender" in r.stderr and "From:" in r.stderr, r
        assert srv.stop() == 0


def test_send_after_a_lockout_says_why_and_exits_75():
    with Server(tls=True, extra="\n[auth]\nmax_failures = 2\nfailure_window = 10m\n") as srv:
        srv.start()
        base = ["send", "--port", str(srv.port465), "--tls", "implicit", "-f", "alice@example.test", "bob@example.test"]
        for _ in range(2):
            r = run_send([*base[:1], *creds(srv, "wrong"), *base[1:]], MSG.format(s="x"))
            assert r.returncode == 77, r
        r = run_send([*base[:1], *creds(srv), *base[1:]], MSG.format(s="x"))
        assert r.returncode == 75, (r.returncode, r.stderr)
        assert "refused the login: 454 4.7.0" in r.stderr and "try again in 10 minutes" in r.stderr, r.stderr
        assert "refusing logins from your address for now" in r.stderr, r.stderr
        assert srv.stop() == 0


def test_send_finds_out_what_a_port_speaks_and_shows_the_server_verbatim():
    with Server(tls=True) as srv:
        srv.start()
        # --tls starttls against the implicit-TLS port: a silent server, said in words, quickly
        t0 = time.time()
        r = run_send(["send", *creds(srv), "--port", str(srv.port465), "--tls", "starttls", "--timeout", "3",
                      "-f", "alice@example.test", "bob@example.test"], MSG.format(s="x"))
        assert r.returncode == 75, (r.returncode, r.stderr)
        assert "sent no SMTP greeting in 3 s" in r.stderr and "use --tls implicit" in r.stderr, r.stderr
        assert time.time() - t0 < 10
        # --tls auto (the default) on ports that are not 465/587: what each speaks
        for port, saw in ((srv.port465, "stayed silent: trying TLS from the first byte"),
                          (srv.port587, "greeted in plaintext: STARTTLS required")):
            r = run_send(["send", *creds(srv), "--port", str(port), "-v", "-f", "alice@example.test",
                          "bob@example.test"], MSG.format(s=f"auto {port}"))
            assert r.returncode == 0, r.stderr
            assert saw in r.stderr, r.stderr
            # -v shows the server's lines exactly as sent
            assert "<- 250-mx.example.test" in r.stderr and "<- 250 SMTPUTF8" in r.stderr, r.stderr
            assert "<- 250-PIPELINING" in r.stderr, r.stderr
            assert "secret" not in r.stderr
        assert len(srv.wait_messages("bob", 2)) == 2
        assert srv.stop() == 0


def test_silent_server_and_stalled_handshake_are_temporary():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    held = []

    def accept():
        while True:
            try:
                held.append(lsock.accept()[0])     # accepted, never a word
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    try:
        base = ["send", "--host", "127.0.0.1", "--port", str(port), "--cafile", path("ca.pem"), "--timeout", "2",
                "-f", "me@example.test", "you@example.test"]
        r = run_send(base + ["--tls", "implicit"], MSG.format(s="x"))
        assert r.returncode == 75, (r.returncode, r.stderr)
        assert "did not answer the TLS handshake" in r.stderr, r.stderr
        r = run_send(base + ["--tls", "starttls"], MSG.format(s="x"))
        assert r.returncode == 75 and "sent no SMTP greeting" in r.stderr, (r.returncode, r.stderr)
    finally:
        lsock.close()
        for c in held:
            c.close()


def test_send_names_an_obsolete_tls_version_behind_starttls():
    fake = FakeSMTP(starttls_cert=(path("server.pem"), path("server.key")), tls_max=ssl.TLSVersion.TLSv1_1)
    try:
        r = run_send(["send", "--host", "127.0.0.1", "--port", str(fake.port), "--tls", "starttls", "--cafile",
                      path("ca.pem"), "-f", "me@example.test", "you@example.test"], MSG.format(s="x"))
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "offers only TLS 1.1, which is obsolete and refused (RFC 8996)" in r.stderr, r.stderr
        assert "unexpected eof" not in r.stderr and "error:0A" not in r.stderr, r.stderr
        saw_nothing_private(fake)
    finally:
        fake.close()


def test_password_file_readable_by_everyone_gets_a_warning():
    with Server(tls=True) as srv:
        srv.start()
        args = ["send", *creds(srv), "--port", str(srv.port465), "--tls", "implicit", "-f", "alice@example.test",
                "bob@example.test"]
        pw = args[args.index("--password-file") + 1]
        os.chmod(pw, 0o644)
        r = run_send(args, MSG.format(s="x"))
        assert r.returncode == 0, r.stderr
        assert f"warning: {pw} is readable by every user on this machine (mode 0644)" in r.stderr, r.stderr
        assert f"chmod 600 {pw}" in r.stderr
        os.chmod(pw, 0o600)
        r = run_send(args, MSG.format(s="x"))
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
        assert srv.stop() == 0


def test_sendmail_mailq_version_options_and_bs():
    fake = FakeSMTP(script=lambda n, cmd: "451 4.3.0 not now" if cmd == "RCPT" else None)
    try:
        with Server(tls=True, extra=f"\n[relay]\nsmarthost = smtp://127.0.0.1:{fake.port}\n"
                                    "retry_schedule = 1h\ntimeout = 5s\n") as srv:
            srv.start()
            link = sendmail_link(srv)
            conf = account(srv, srv.port465, tls="implicit")
            # unknown sendmail options are ignored, as sendmail does
            r = subprocess.run([link, "--config", conf, "-oem", "-odb", "-oQ/var/spool/x", "-Oqueue=x", "-N", "never",
                                "-B", "8BITMIME", "-i", "far@remote.test"], input="Subject: q\n\nx\n",
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            wait_for(lambda: "deferred to=<far@remote.test>" in srv.log(), 30, srv.log)
            # mailq and sendmail -bp: the local server's queue
            mailq = os.path.join(srv.dir, "mailq")
            os.symlink(os.path.abspath(BIN), mailq)
            for argv in ([mailq, "-C", srv.conf], [link, "-bp", "-C", srv.conf]):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, (argv, r.stderr)
                assert "<far@remote.test>  deferred after 1 attempt" in r.stdout, r.stdout
                assert "1 message in the queue" in r.stdout, r.stdout
            r = subprocess.run([link, "--version"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and r.stdout.startswith("mailport send (sendmail-compatible) "), r
            # -bs (SMTP on stdin) is refused in words
            r = subprocess.run([link, "-bs"], input="HELO x\r\n", capture_output=True, text=True, timeout=30)
            assert r.returncode == 64 and "-bs (SMTP on standard input) is not supported" in r.stderr, r
            assert srv.stop() == 0
    finally:
        fake.close()
