"""SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, RFC 9266; issue 19): the password
never crosses the network, and with -PLUS the login is bound to the TLS connection (tls-exporter),
so a man in the middle holding a certificate the client trusts cannot use it. msmtp, through GNU
SASL, logs in with SCRAM-SHA-256 over 465 and over 587 after STARTTLS, with the keys `mailport
passwd --scram` made; gsasl (GNU SASL with GnuTLS) with -PLUS; a wrong password and a mailbox
without SCRAM keys fail the same way (535), and the latter still logs in with PLAIN; a client
that says it could bind while we offer -PLUS is refused (a downgrade); without [auth] scram =
yes neither is offered nor accepted."""
import base64
import os
import smtplib
import ssl
import subprocess
import tempfile

import harness
from harness import BIN, Server, need

PW = "mountain river quietly 47 lamps"


def passwd_scram(pw):
    r = subprocess.run([BIN, "passwd", "--scram"], input=pw + "\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    hash_, scram = r.stdout.split()
    assert scram.startswith("scram=4096,"), scram
    return hash_, scram


def msmtp(srv, port, starttls, user, password, to="bob@example.test"):
    return harness.msmtp(port, ["tls on", f"tls_starttls {'on' if starttls else 'off'}", f"tls_trust_file {srv.ca}",
                                "tls_certcheck on", "auth scram-sha-256", f"user {user}", f"password {password}"],
                         user, to, f"From: {user}\nSubject: scram\n\nno password sent\n")


def test_scram_sha_256_with_msmtp():
    need("msmtp")
    h, scram = passwd_scram(PW)
    with Server(tls=True, users=[f"alice@example.test:{h}::{scram}", f"bob@example.test:{h}"],
                extra="\n[auth]\nscram = yes\n") as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ssl.create_default_context(cafile=srv.ca),
                              timeout=30) as c:
            c.ehlo("c")
            assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"], \
                c.esmtp_features
        r = msmtp(srv, srv.port465, False, "alice@example.test", PW)
        assert r.returncode == 0, r.stderr
        r = msmtp(srv, srv.port587, True, "alice@example.test", PW)
        assert r.returncode == 0, r.stderr
        srv.wait_messages("bob", 2)
        log = srv.log()
        assert log.count("auth ok user=alice@example.test address=127.0.0.1 mechanism=SCRAM-SHA-256") == 2, log
        # a wrong password, and a mailbox without SCRAM keys: both fail at the proof
        r = msmtp(srv, srv.port465, False, "alice@example.test", "not the password at all")
        assert r.returncode != 0 and "535" in r.stderr, r.stderr
        r = msmtp(srv, srv.port465, False, "bob@example.test", PW)
        assert r.returncode != 0 and "535" in r.stderr, r.stderr
        assert "auth failed user=bob@example.test" in srv.log()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ssl.create_default_context(cafile=srv.ca),
                              timeout=30) as c:
            c.login("bob@example.test", PW)          # PLAIN still works for bob
        assert PW not in srv.log()
        assert srv.stop() == 0


def test_scram_not_offered_unless_configured():
    h, scram = passwd_scram(PW)
    with Server(tls=True, users=[f"alice@example.test:{h}::{scram}"]) as srv:
        srv.start()
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ssl.create_default_context(cafile=srv.ca),
                              timeout=30) as c:
            c.ehlo("c")
            assert "SCRAM" not in c.esmtp_features["auth"]
            code, text = c.docmd("AUTH", "SCRAM-SHA-256")
            assert code == 504, (code, text)
        assert srv.stop() == 0


def test_mailport_send_prefers_scram_and_auth_scram_refuses_plain():
    """mailport send uses SCRAM-SHA-256 when the server offers it (mutual: it checks the server's
    proof too); with --auth scram it refuses a server that offers only PLAIN and LOGIN, sending
    nothing; the same account file line (auth = scram) works as the option does."""
    h, scram = passwd_scram(PW)
    d = tempfile.mkdtemp(prefix="mailport-send-scram-")
    pwfile = os.path.join(d, "pw")
    with open(pwfile, "w") as f:
        f.write(PW + "\n")
    os.chmod(pwfile, 0o600)

    def send(srv, *extra):
        return subprocess.run([BIN, "send", "--host", "127.0.0.1", "--port", str(srv.port465), "--tls", "implicit",
                               "--cafile", srv.ca, "--user", "alice@example.test", "--password-file", pwfile,
                               "-f", "alice@example.test", "-v", *extra, "bob@example.test"],
                              input="Subject: scram\n\nvia mailport send\n", capture_output=True, text=True,
                              timeout=60)
    with Server(tls=True, users=[f"alice@example.test:{h}::{scram}", f"bob@example.test:{h}"],
                extra="\n[auth]\nscram = yes\n") as srv:
        srv.start()
        r = send(srv)
        assert r.returncode == 0, r.stderr
        assert "-> AUTH SCRAM-SHA-256-PLUS ********" in r.stderr and "-> AUTH PLAIN" not in r.stderr, r.stderr
        srv.wait_messages("bob", 1)
        assert "mechanism=SCRAM-SHA-256-PLUS" in srv.log()
        assert srv.stop() == 0
    with Server(tls=True, users=[f"alice@example.test:{h}::{scram}", f"bob@example.test:{h}"]) as srv:
        srv.start()
        r = send(srv, "--auth", "scram")
        assert r.returncode != 0 and "does not offer SCRAM-SHA-256: the password was not sent" in r.stderr, r.stderr
        assert "-> AUTH" not in r.stderr and "auth ok" not in srv.log() and "auth failed" not in srv.log()
        acct = os.path.join(d, "send.conf")
        with open(acct, "w") as f:
            f.write(f"[account a]\nhost = 127.0.0.1\nport = {srv.port465}\ntls = implicit\ncafile = {srv.ca}\n"
                    f"user = alice@example.test\npassword_file = {pwfile}\nauth = scram\n")
        r = subprocess.run([BIN, "send", "--config", acct, "--account", "a", "-f", "alice@example.test",
                            "bob@example.test"], input="Subject: x\n\nx\n", capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "does not offer SCRAM-SHA-256" in r.stderr, r.stderr
        r = send(srv)                                   # any: PLAIN inside TLS
        assert r.returncode == 0, r.stderr
        assert srv.stop() == 0


def gsasl(srv, mech, password, *extra):
    return subprocess.run(["gsasl", "--smtp", "--connect", f"127.0.0.1:{srv.port587}", "--starttls", "--x509-ca-file",
                           srv.ca, "--hostname", "localhost", "-m", mech, "-a", "alice@example.test", "-p", password,
                           *extra], input="", capture_output=True, text=True, timeout=60)


def test_scram_plus_with_gsasl_and_downgrade_refused():
    need("gsasl")
    h, scram = passwd_scram(PW)
    with Server(tls=True, users=[f"alice@example.test:{h}::{scram}"], extra="\n[auth]\nscram = yes\n") as srv:
        srv.start()
        r = gsasl(srv, "SCRAM-SHA-256-PLUS", PW)
        assert r.returncode == 0 and "235 2.7.0" in r.stdout, r.stdout + r.stderr
        assert "auth ok user=alice@example.test address=127.0.0.1 mechanism=SCRAM-SHA-256-PLUS" in srv.log()
        r = gsasl(srv, "SCRAM-SHA-256-PLUS", "wrong password, same binding")
        assert r.returncode != 0 and "535 5.7.8" in r.stdout, r.stdout + r.stderr
        r = gsasl(srv, "SCRAM-SHA-256", PW, "--no-cb")       # "n": a client that cannot bind
        assert r.returncode == 0 and "235 2.7.0" in r.stdout, r.stdout + r.stderr
        # "y" (I could bind, you did not offer it) while -PLUS was offered: someone removed it
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ssl.create_default_context(cafile=srv.ca),
                              timeout=30) as c:
            c.ehlo("c")
            first = base64.b64encode(b"y,,n=alice@example.test,r=abcdefghijkl").decode()
            code, text = c.docmd("AUTH", "SCRAM-SHA-256 " + first)
            assert code == 501 and b"SCRAM-SHA-256-PLUS was offered" in text, (code, text)
            # and a binding type we do not do
            first = base64.b64encode(b"p=tls-unique,,n=alice@example.test,r=abcdefghijkl").decode()
            code, text = c.docmd("AUTH", "SCRAM-SHA-256-PLUS " + first)
            assert code == 501 and b"tls-unique is not supported" in text, (code, text)
        assert PW not in srv.log()
        assert srv.stop() == 0
