"""Direct MX delivery against a local DNS server (Debian's unbound, serving only its own
local data on a loopback port) and a second mailport as the MX: MX preference, an MX host
that does not resolve, implicit MX, null MX, NXDOMAIN, REFUSED, opportunistic STARTTLS."""
import os
import shutil
import smtplib
import ssl
import time

from harness import Server, crypt_hash, need, wait_for
from unbound import Unbound

ZONE = """
  local-zone: "." static
  local-data: "remote.example. 3600 IN MX 5 nowhere.remote.example."
  local-data: "remote.example. 3600 IN MX 10 mx1.remote.example."
  local-data: "mx1.remote.example. 3600 IN A 127.0.0.1"
  local-data: "implicit.example. 3600 IN A 127.0.0.1"
  local-data: "nullmx.example. 3600 IN MX 0 ."
  local-data: "relay.test. 3600 IN MX 10 mx1.remote.example."
  local-zone: "refused.example." refuse
"""


class DNS(Unbound):
    """unbound on a loopback port answering only zone; probe = (name, type, expected) to wait for."""

    def __init__(self, directory, zone=ZONE, probe=("remote.example", "MX", "mx1.remote.example.")):
        super().__init__(directory, server_extra=zone, probe=probe)


def test_direct_mx_delivery():
    need("dig")
    h = crypt_hash("secret")
    mx = Server(tls=True, domains="remote.example implicit.example relay.test",
                users=[f"far@remote.example:{h}", f"near@implicit.example:{h}", f"t@relay.test:{h}"])
    mx.start()
    dns = DNS(mx.dir)
    try:
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}",
                    extra=f"\n[relay]\nmx_port = {mx.port}\nretry_schedule = 1s\ntimeout = 5s\n") as a:
            a.start()
            ctx = ssl.create_default_context(cafile=a.ca)
            with smtplib.SMTP_SSL("127.0.0.1", a.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["far@remote.example", "near@implicit.example",
                                                  "x@nullmx.example", "y@nosuch.example", "z@refused.example",
                                                  "t@relay.test"],
                           "Subject: direct\r\n\r\ndirect MX\r\n")
            far = mx.wait_messages("far", 1, domain="remote.example")[0]
            near = mx.wait_messages("near", 1, domain="implicit.example")[0]
            # [relay] resolver is the admin's DNS: it is asked about special-use names too
            # (libunbound would answer .test with NXDOMAIN itself)
            t = mx.wait_messages("t", 1, domain="relay.test")[0]
            for m in (far, near, t):
                assert b"with ESMTPS id" in m, m[:600]          # opportunistic STARTTLS was used
                assert b"direct MX" in m
            bounce = a.wait_messages("alice", 1)[0]
            assert b"Final-Recipient: rfc822; x@nullmx.example" in bounce
            assert b"Status: 5.1.10" in bounce and b"null MX" in bounce
            assert b"Final-Recipient: rfc822; y@nosuch.example" in bounce
            assert b"Status: 5.1.2" in bounce
            assert b"refused.example" not in bounce.split(b"text/rfc822-headers")[0].split(b"delivery-status")[1]
            # the sender logs a delivery once the MX's 250 is in, which may come after the
            # message is in the MX's Maildir; and a deferral once its attempt is over
            wait_for(lambda: "delivered to=<far@remote.example> relay=mx1.remote.example[127.0.0.1]" in a.log() and
                     "deferred to=<z@refused.example>" in a.log(), 30, lambda: a.log()[-3000:])
            log = a.log()
            assert "delivered to=<far@remote.example> relay=mx1.remote.example[127.0.0.1]" in log, log[-3000:]
            # libunbound reports an upstream REFUSED as SERVFAIL: temporary either way
            assert "deferred to=<z@refused.example>" in log and ("REFUSED" in log or "SERVFAIL" in log)
            assert a.wait_queue(1) == 1                         # only the REFUSED one waits
            assert a.stop() == 0
    finally:
        dns.close()
        mx.stop()
        mx.cleanup()


def test_opportunistic_tls_failure_falls_back_to_plaintext():
    """An MX that offers STARTTLS but cannot complete it still gets the mail, in plaintext
    (RFC 3207 opportunistic; no policy requires TLS for it)."""
    from fakesmtp import FakeSMTP
    need("dig")
    bad = os.path.join("/tmp", f"bad-cert-{os.getpid()}.pem")
    with open(bad, "w") as f:
        f.write("not a certificate\n")
    fake = FakeSMTP(starttls_cert=(bad, bad))            # STARTTLS offered, handshake fails
    d = os.path.join("/tmp", f"dns-{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    dns = DNS(d)
    try:
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}",
                    extra=f"\n[relay]\nmx_port = {fake.port}\nretry_schedule = 1s\ntimeout = 5s\n") as a:
            a.start()
            ctx = ssl.create_default_context(cafile=a.ca)
            with smtplib.SMTP_SSL("127.0.0.1", a.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["far@remote.example"], "Subject: fb\r\n\r\nfallback\r\n")
            wait_for(lambda: fake.messages, 30, lambda: a.log()[-2000:])
            assert len(fake.messages) == 1, a.log()[-2000:]
            assert "retrying in plaintext" in a.log()
            assert a.stop() == 0
    finally:
        dns.close()
        fake.close()
        os.unlink(bad)
        shutil.rmtree(d, ignore_errors=True)
