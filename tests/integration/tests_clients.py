"""Real clients from Debian deliver into Maildir: python3 smtplib, swaks, curl, msmtp."""
import email
import smtplib
import subprocess

from harness import Server, need

MSG = "From: Sender <sender@remote.test>\r\nTo: alice@example.test\r\nSubject: {subj}\r\n\r\n{body}\r\n"


def check_delivered(srv, user, needle):
    msgs = srv.wait_messages(user, 1)
    assert len(msgs) == 1, msgs
    m = msgs[0]
    assert needle.encode() in m, m
    assert m.startswith(b"Return-Path: <"), m[:200]
    assert b"Received: from " in m and b"by mx.example.test (mailport)" in m, m[:400]
    assert b"\r\n" not in m, "Maildir files use LF line ends"
    return m


def test_smtplib_delivers():
    with Server() as srv:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            code, caps = c.ehlo("client.test")
            assert code == 250
            for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes"):
                assert c.has_extn(ext), ext
            refused = c.sendmail("sender@remote.test", ["alice@example.test"],
                                 MSG.format(subj="smtplib", body="hello from smtplib"))
            assert refused == {}
        m = check_delivered(srv, "alice", "hello from smtplib")
        parsed = email.message_from_bytes(m)
        assert parsed["Return-Path"] == "<sender@remote.test>"
        assert parsed["Delivered-To"] == "alice@example.test"
        assert "for <alice@example.test>" in parsed["Received"]
        assert srv.stop() == 0
        assert srv.queue_files() == []


def test_smtplib_dot_lines_and_8bit():
    body = ".starts with a dot\r\n..two dots\r\n.\r\nend caf\u00e9"
    with Server() as srv:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("sender@remote.test", ["bob@example.test"],
                       MSG.format(subj="dots", body=body).encode("utf-8"), mail_options=["BODY=8BITMIME"])
        m = srv.wait_messages("bob", 1)[0]
        assert b"\n.starts with a dot\n..two dots\n.\nend caf\xc3\xa9\n" in m, m
        assert srv.stop() == 0


def test_smtplib_smtputf8_recipient():
    with Server(users=["j\u00f6rg@example.test:$6$x$y"]) as srv:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s\u00e9nder@remote.test", ["J\u00f6rg@example.test"],
                       "Subject: utf8\r\n\r\nhallo\r\n".encode(), mail_options=["SMTPUTF8"])
        msgs = srv.wait_messages("j\u00f6rg", 1)
        assert b"Return-Path: <s\xc3\xa9nder@remote.test>" in msgs[0]
        assert b"with UTF8SMTP" in msgs[0]
        assert srv.stop() == 0


def test_multiple_recipients_aliases_and_tags():
    with Server() as srv:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            refused = c.sendmail("", ["alice+lists@example.test", "Postmaster@EXAMPLE.test",
                                      "bob@example.test", "al@example.test"],
                                 MSG.format(subj="multi", body="to many"))
            assert refused == {}
        assert len(srv.wait_messages("alice", 1)) == 1
        assert len(srv.wait_messages("bob", 1)) == 1
        srv.stop()
        # alice+lists, postmaster and al are one mailbox: one copy, and no "for" (Bcc privacy)
        assert len(srv.messages("alice")) == 1
        assert b"\tfor <" not in srv.messages("alice")[0]


def test_swaks_delivers():
    swaks = need("swaks")
    with Server() as srv:
        srv.start()
        r = subprocess.run([swaks, "--server", f"{srv.host}:{srv.port}", "--to", "alice@example.test",
                            "--from", "sender@remote.test", "--ehlo", "swaks.test",
                            "--header", "Subject: from swaks", "--body", "hello from swaks", "--pipeline"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "250 2.0.0 Ok: queued as" in r.stdout, r.stdout
        check_delivered(srv, "alice", "hello from swaks")
        assert srv.stop() == 0


def test_swaks_no_relay():
    swaks = need("swaks")
    with Server() as srv:
        srv.start()
        r = subprocess.run([swaks, "--server", f"{srv.host}:{srv.port}", "--to", "victim@elsewhere.test",
                            "--from", "alice@example.test"], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "550 5.7.1 Relay access denied" in r.stdout, r.stdout
        r = subprocess.run([swaks, "--server", f"{srv.host}:{srv.port}", "--to", "nobody@example.test"],
                           capture_output=True, text=True, timeout=60)
        assert "550 5.1.1" in r.stdout, r.stdout
        assert srv.stop() == 0
        assert srv.queue_files() == []
        assert "reason=relay-denied" in srv.log()


def test_curl_delivers():
    curl = need("curl")
    with Server() as srv:
        srv.start()
        r = subprocess.run([curl, "-sS", f"smtp://{srv.host}:{srv.port}", "--mail-from", "sender@remote.test",
                            "--mail-rcpt", "bob@example.test", "-T", "-"],
                           input=MSG.format(subj="curl", body="hello from curl"), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        check_delivered(srv, "bob", "hello from curl")
        assert srv.stop() == 0


def test_msmtp_delivers():
    msmtp = need("msmtp")
    with Server() as srv:
        srv.start()
        # Plaintext on the port 25 role is legitimate MX traffic; TLS is the next issue's.
        r = subprocess.run([msmtp, f"--host={srv.host}", f"--port={srv.port}", "--tls=off", "--auth=off",
                            "--from=sender@remote.test", "--domain=msmtp.test", "alice@example.test"],
                           input=MSG.format(subj="msmtp", body="hello from msmtp"), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        check_delivered(srv, "alice", "hello from msmtp")
        assert srv.stop() == 0
