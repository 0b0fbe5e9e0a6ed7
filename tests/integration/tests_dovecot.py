"""Beside Dovecot (issue 21): Debian's dovecot-core, -imapd and -lmtpd run privately (dovecot.py);
mailport checks submission passwords through Dovecot's auth-client socket ([auth] backend =
dovecot:SOCKET, the protocol of Postfix's smtpd_sasl_type = dovecot) and delivers local mail
over LMTP ([server] maildir = lmtp:unix:SOCKET, RFC 2033). A real IMAP client (python3 imaplib,
over IMAPS with the certificate verified) fetches what was delivered. The users file still names
the mailboxes, with * where a hash would be: the passwords are Dovecot's alone."""
import contextlib
import email
import imaplib
import smtplib
import ssl
import subprocess
import time

from dovecot import Dovecot
from harness import Server, crypt_hash, need, wait_for
from pki import path

PW = "Dovecot-knows-this-1"


def mailport_beside(dv, extra_server="", users=None):
    users = users or ["alice@example.test:*:al@example.test", "bob@example.test:*",
                      "carol@example.test:*"]        # carol: a mailbox here, not in Dovecot
    return Server(tls=True, users=users, extra_server=f"maildir = lmtp:unix:{dv.lmtp}\n{extra_server}",
                  extra=f"\n[auth]\nbackend = dovecot:{dv.auth}\n")


def imap_messages(dv, user, password, want, timeout=30):
    ctx = ssl.create_default_context(cafile=path("ca.pem"))
    deadline = time.time() + timeout
    while True:
        with imaplib.IMAP4_SSL("127.0.0.1", dv.imaps_port, ssl_context=ctx, timeout=10) as m:
            m.login(user, password)
            m.select("INBOX")
            typ, data = m.search(None, "ALL")
            ids = data[0].split()
            if len(ids) >= want or time.time() > deadline:
                out = []
                for i in ids:
                    typ, d = m.fetch(i, "(RFC822)")
                    out.append(email.message_from_bytes(d[0][1]))
                return out
        time.sleep(0.2)


@contextlib.contextmanager
def beside_dovecot():
    """A private Dovecot with alice and bob, and a started mailport using it: (dovecot, server,
    an SSL context trusting the server's CA)."""
    h = crypt_hash(PW)
    with Dovecot({"alice@example.test": h, "bob@example.test": h}, path("server.pem"), path("server.key")) as dv:
        dv.start()
        with mailport_beside(dv) as srv:
            srv.start()
            yield dv, srv, ssl.create_default_context(cafile=srv.ca)


def test_login_through_dovecot_and_delivery_by_lmtp_fetched_over_imap():
    with beside_dovecot() as (dv, srv, ctx):
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
            try:
                c.login("alice@example.test", "wrong password")
                raise AssertionError("a wrong password logged in")
            except smtplib.SMTPAuthenticationError as e:
                assert e.smtp_code == 535, e
            c.login("alice@example.test", PW)
            c.sendmail("alice@example.test", ["bob@example.test"],
                       "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: through LMTP\r\n\r\n"
                       "fetched by IMAP\r\n.leading dot\r\n")
        # 587 with swaks, as an admin would try it
        need("swaks")
        out = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.port587}", "--tls", "--tls-ca-path", srv.ca,
                              "--tls-verify", "--auth", "LOGIN", "--auth-user", "bob@example.test",
                              "--auth-password", PW, "--from", "bob@example.test", "--to", "al@example.test",
                              "--header", "Subject: to an alias", "--timeout", "30"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        got = imap_messages(dv, "bob@example.test", PW, 1)
        assert len(got) == 1 and got[0]["Subject"] == "through LMTP", got
        body = got[0].get_payload()
        assert "fetched by IMAP" in body and "\n.leading dot" in body, body   # dot-stuffing undone
        assert "by mx.example.test (mailport)" in str(got[0]["Received"]) or \
            any("mailport" in r for r in got[0].get_all("Received")), got[0].get_all("Received")
        assert got[0]["Return-Path"] == "<alice@example.test>"          # Dovecot's, from MAIL FROM
        got = imap_messages(dv, "alice@example.test", PW, 1)
        assert [m["Subject"] for m in got] == ["to an alias"]
        log = srv.log()
        assert "auth ok user=alice@example.test" in log and "backend=dovecot" in log, log
        assert "relay=lmtp" in log
        assert PW not in log and "wrong password" not in log
        assert srv.stop() == 0


def test_lmtp_refusal_bounces_and_dovecot_down_defers():
    with beside_dovecot() as (dv, srv, ctx):
        # carol is a mailbox to mailport but unknown to Dovecot: LMTP says 550 5.1.1, a bounce
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
            c.login("alice@example.test", PW)
            c.sendmail("alice@example.test", ["carol@example.test"], "Subject: to carol\r\n\r\nx\r\n")
        bounces = imap_messages(dv, "alice@example.test", PW, 1)
        assert len(bounces) == 1 and bounces[0].get_content_type() == "multipart/report", bounces
        report = bounces[0].as_string()
        assert "carol@example.test" in report and "5.1.1" in report, report[:3000]
        assert 'bounced to=<carol@example.test> relay=lmtp reason="550' in srv.log(), srv.log()

        # Dovecot goes away: logins get 454 4.7.0 (not counted as failures), mail waits
        dv.stop()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
            try:
                c.login("bob@example.test", PW + "x")     # not in the credentials cache
                raise AssertionError("logged in with Dovecot down")
            except smtplib.SMTPAuthenticationError as e:
                assert e.smtp_code == 454 and b"4.7.0" in e.smtp_error, e
        # A message accepted on port 25 for bob waits in the queue while Dovecot is down ...
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as c:
            c.sendmail("someone@elsewhere.example", ["bob@example.test"], "Subject: waited\r\n\r\nx\r\n")
        wait_for(lambda: "delivery deferred to=<bob@example.test>" in srv.log(), 30, srv.log)
        log = srv.log()
        assert "delivery deferred to=<bob@example.test>" in log, log
        assert "auth tempfail user=bob@example.test" in log and "auth failed user=bob" not in log
        assert "cannot connect to the auth service" in log
        # ... and is delivered once Dovecot is back (retry_interval 1s), exactly once
        dv.start()
        got = imap_messages(dv, "bob@example.test", PW, 1)
        assert [m["Subject"] for m in got] == ["waited"]
        # a second copy could only come from what is still queued: once nothing is, none can
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]
        assert len(imap_messages(dv, "bob@example.test", PW, 1)) == 1
        assert srv.stop() == 0


def test_config_errors_name_the_line():
    srv = Server(tls=True, extra_server="maildir = lmtp:unix:relative/lmtp")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        assert f"mailport.conf:{srv.conf_line('maildir = lmtp')}: [server] maildir: " in srv.log(), srv.log()
    srv = Server(tls=True, extra="\n[auth]\nbackend = dovecot\n")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        assert f"mailport.conf:{srv.conf_line('backend = dovecot')}: [auth] backend" in srv.log(), srv.log()
    srv = Server(tls=True, extra="\n[auth]\nbackend = dovecot:/run/x\nscram = yes\n")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        assert "[auth] scram = yes needs the users file's scram= keys" in srv.log(), srv.log()
