"""REQUIRETLS (RFC 8689) end to end, against real peers started here: python3 smtplib submits
with MAIL ... REQUIRETLS; zones signed with Debian's ldns tools and served by unbound; a mailport
MX that offers REQUIRETLS (the next hop, which must see the parameter again), python3-aiosmtpd
as an MX with STARTTLS and a matching TLSA record but without REQUIRETLS, an unsigned zone.

The cases: a DANE hop with REQUIRETLS (delivered, the parameter passed on); a DNSSEC-signed MX
without TLSA whose certificate is valid for its name (delivered, WebPKI-verified); a hop
without REQUIRETLS and a hop nothing authenticates (bounced with 5.7.30, the bounce redacted,
nothing sent to them); "TLS-Required: No" past a TLSA mismatch (delivered); REQUIRETLS refused
in plaintext and offered only inside TLS; `mailport send --requiretls` to a server without it."""
import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time

from harness import BIN, Server, Skip, crypt_hash, free_port, need
from pki import make_cert, path
from tests_dane import SOA, AuthDNS, sign, spki_sha256, wait_log


def zones(port, good, wrong, no):
    rt = SOA.format(z="rt.test") + f"""
yes 300 IN MX 10 mx-yes
mx-yes 300 IN A 127.0.0.1
_{port}._tcp.mx-yes 300 IN TLSA 3 1 1 {good}
no 300 IN MX 10 mx-no
mx-no 300 IN A 127.0.0.2
_{port}._tcp.mx-no 300 IN TLSA 3 1 1 {no}
mismatch 300 IN MX 10 mx-bad
mx-bad 300 IN A 127.0.0.1
_{port}._tcp.mx-bad 300 IN TLSA 3 1 1 {wrong}
"""
    # A signed MX without TLSA, named as the certificate of the MX is (mx.example.test).
    web = SOA.format(z="example.test") + """
rt 300 IN MX 10 mx
mx 300 IN A 127.0.0.1
"""
    plain = SOA.format(z="plain.test") + """
@ 300 IN MX 10 mx
mx 300 IN A 127.0.0.1
"""
    return rt, web, plain


def submit(srv, rcpts, body, options=()):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
        c.login("alice@example.test", "secret")
        c.ehlo()
        assert c.has_extn("requiretls"), c.esmtp_features
        c.sendmail("alice@example.test", rcpts, body, mail_options=list(options))


def test_requiretls_end_to_end():
    need("ldns-signzone")
    need("dig")
    if subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        raise Skip("python3-aiosmtpd not installed")
    port = free_port()
    good, wrong = spki_sha256(path("server.pem")), spki_sha256(path("other.pem"))
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-requiretls-")
    os.chmod(d, 0o755)
    # aiosmtpd's own certificate, for its TLSA record and for `send` to 127.0.0.2.
    nocert, nokey = make_cert(os.path.dirname(path("ca.pem")), "rt-no", ["DNS:mx-no.rt.test", "IP:127.0.0.2"])
    rt, web, plain = zones(port, good, wrong, spki_sha256(nocert))
    ds = [sign(d, "rt.test", rt), sign(d, "example.test", web)]
    with open(os.path.join(d, "plain.test"), "w") as f:
        f.write("$ORIGIN plain.test.\n" + plain)
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write("\n".join(ds) + "\n")
    os.chmod(anchor, 0o644)
    dns = AuthDNS(d, [("rt.test", os.path.join(d, "rt.test.signed")),
                      ("example.test", os.path.join(d, "example.test.signed")),
                      ("plain.test", os.path.join(d, "plain.test"))],
                  probe=("yes.rt.test", "MX", "mx-yes.rt.test."))
    domains = "yes.rt.test mismatch.rt.test rt.example.test plain.test"
    mx = Server(tls=True, listen=f"127.0.0.1:{port}", domains=domains,
                users=[f"u@{dom}:{h}" for dom in domains.split()])
    nolog = os.path.join(d, "aiosmtpd.log")
    noreq = None
    try:
        mx.start()
        # An MX that does STARTTLS with the certificate its TLSA record names, and no REQUIRETLS.
        with open(nolog, "w") as out:
            # unbuffered: what it prints of a message (before its 250) is in the file at once, so
            # the checks below that nothing reached it read all it got
            noreq = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.2:{port}", "-c",
                                      "aiosmtpd.handlers.Debugging", "--tlscert", nocert, "--tlskey", nokey], stdout=out,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.time() + 60         # it listens on the MX's port, at another address
        while True:
            try:
                with smtplib.SMTP("127.0.0.2", port, timeout=10) as c:
                    c.ehlo()
                    assert "starttls" in c.esmtp_features and "requiretls" not in c.esmtp_features
                break
            except OSError:
                assert noreq.poll() is None and time.time() < deadline, open(nolog).read()
                time.sleep(0.1)

        # Port 25 of the MX: REQUIRETLS is neither offered nor taken in plaintext (RFC 8689 2).
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
            c.ehlo("client.test")
            assert not c.has_extn("requiretls"), c.esmtp_features
            code, msg = c.mail("a@remote.test", options=["REQUIRETLS"])
            assert code == 530 and msg.startswith(b"5.7.10"), (code, msg)
            c.starttls(context=ssl.create_default_context(cafile=path("ca.pem")))
            c.ehlo("client.test")
            assert c.has_extn("requiretls"), c.esmtp_features
            assert c.mail("a@remote.test", options=["REQUIRETLS"])[0] == 250
            c.rset()

        extra = (f"\n[relay]\nmx_port = {port}\nretry_schedule = 1s\ntimeout = 5s\n"
                 f"dnssec_trust_anchor = {anchor}\nmta_sts_ca_file = {path('ca.pem')}\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            secret = "the-content-a-bounce-must-not-carry"
            body = ("Subject: {s}\r\nMessage-ID: <{s}@example.test>\r\n\r\n" + secret + "\r\n")
            # A DANE hop that offers REQUIRETLS: delivered, and the next hop was told.
            submit(a, ["u@yes.rt.test"], body.format(s="rt-dane"), ["REQUIRETLS"])
            wait_log(a, "requiretls=yes")
            mx.wait_messages("u", 1, domain="yes.rt.test")
            wait_log(a, f"delivered to=<u@yes.rt.test> relay=mx-yes.rt.test[127.0.0.1]:{port} tls=dane-verified")
            wait_log(mx, "to=<u@yes.rt.test> nrcpt=1")
            assert "requiretls=yes" in [ln for ln in mx.log().splitlines() if "to=<u@yes.rt.test>" in ln
                                        and "accepted" in ln][0], mx.log()[-2000:]
            # A signed MX without TLSA: its certificate checked as WebPKI for the MX name.
            submit(a, ["u@rt.example.test"], body.format(s="rt-webpki"), ["REQUIRETLS"])
            mx.wait_messages("u", 1, domain="rt.example.test")
            wait_log(a, f"delivered to=<u@rt.example.test> relay=mx.example.test[127.0.0.1]:{port} tls=verified")
            # "TLS-Required: No" (without REQUIRETLS): a TLSA mismatch does not hold it back.
            submit(a, ["u@mismatch.rt.test"], "TLS-Required: No\r\nSubject: rt-optional\r\n\r\nanyway\r\n")
            got = mx.wait_messages("u", 1, domain="mismatch.rt.test")[0]
            assert b"TLS-Required: No" in got, got[:400]
            wait_log(a, "delivered to=<u@mismatch.rt.test> relay=mx-bad.rt.test[127.0.0.1]")
            assert "tls-required=no" in a.log()
            # A hop without REQUIRETLS, and one nothing authenticates: bounced at once, redacted.
            submit(a, ["u@no.rt.test"], body.format(s="rt-nohop"), ["REQUIRETLS"])
            submit(a, ["u@plain.test"], body.format(s="rt-plain"), ["REQUIRETLS"])
            bounces = a.wait_messages("alice", 2)
            for b, why in zip(sorted(bounces, key=lambda m: b"plain.test" in m),
                              (b"does not offer it", b"nothing authenticates mx=mx.plain.test")):
                assert b"Status: 5.7.30" in b and why in b, b.decode(errors="replace")[-3000:]
                assert secret.encode() not in b and b"Subject: rt-" not in b, b.decode(errors="replace")
                assert b"Message-ID: <rt-" in b and b"text/rfc822-headers" in b, b.decode(errors="replace")
            with open(nolog) as f:
                assert "rt-nohop" not in f.read()
            assert mx.messages("u", "plain.test") == []
            assert "MAIL FROM:<alice@example.test> REQUIRETLS" not in open(nolog).read()
            log = a.log()
            assert "retrying in plaintext" not in log
            assert "skipped mx=mx-no.rt.test: REQUIRETLS needed" in log, log[-3000:]
            # mailport send --requiretls: a server without REQUIRETLS gets nothing.
            r = subprocess.run([BIN, "send", "--host", "127.0.0.2", "--port", str(port), "--tls", "starttls",
                                "--cafile", path("ca.pem"), "--requiretls", "-f", "me@example.test",
                                "you@example.test"], input="Subject: rt-send\r\n\r\nx\r\n", capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 69 and "5.7.30" in r.stderr, (r.returncode, r.stderr)
            with open(nolog) as f:              # a message would have been printed before send's exit
                assert "rt-send" not in f.read()
            # ... and one that offers it takes it, tagged.
            r = subprocess.run([BIN, "send", "--host", "127.0.0.1", "--port", str(a.port587), "--tls", "starttls",
                                "--cafile", a.ca, "--user", "alice@example.test", "--password-command",
                                "echo secret", "--requiretls", "bob@example.test"],
                               input="Subject: rt-send\r\n\r\nx\r\n", capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            a.wait_messages("bob", 1)
            assert a.log().count("requiretls=yes") == 5, a.log()[-3000:]
            assert a.stop() == 0
    finally:
        dns.close()
        if noreq is not None:
            noreq.terminate()
            noreq.wait(timeout=10)
        mx.stop()
        mx.cleanup()
        shutil.rmtree(d, ignore_errors=True)
