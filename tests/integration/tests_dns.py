"""`mailport dns DOMAIN`: the records it prints are a zone that NLnet Labs' ldns-read-zone
parses, that unbound serves, and whose DKIM keys verify the signatures this server makes
(python3-dkim, its lookups answered by dig from that unbound); TLSA matches the certificate
(openssl), SRV prefers 465 (RFC 8314), --json carries the same records."""
import json
import os
import re
import smtplib
import ssl
import subprocess
import tempfile

from harness import BIN, Server, need
from pki import path
from tests_dane import AuthDNS, spki_sha256
from tests_dkim import dkim_keys

SOA = ("$ORIGIN example.test.\n@ 300 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
       "@ 300 IN NS ns.example.test.\nns 300 IN A 127.0.0.1\n")

VERIFY = r"""
import dkim, subprocess, sys
port = sys.argv[1]
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    out = subprocess.run(["dig", "+short", "-p", port, "@127.0.0.1", name, "TXT"], capture_output=True,
                         text=True).stdout
    return "".join(p for p in out.replace('" "', '').split('"') if p.strip() and p != "\n").encode()
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
print(d.verify(idx=0, dnsfunc=dnsfunc), d.verify(idx=1, dnsfunc=dnsfunc))
"""


def test_dns_records_load_serve_and_verify():
    need("ldns-read-zone")
    need("dig")
    with Server(tls=True) as s:
        dkim_keys(s, ("r1", "rsa"), ("e1", "ed25519"))
        r = subprocess.run([BIN, "dns", "example.test", "--config", s.conf], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        text = r.stdout
        # Every record after a line saying why; the loopback listener's address is left to the admin.
        for rtype in ("MX", "TXT", "SRV", "TLSA", "CNAME"):
            assert f" IN {rtype} " in text, (rtype, text)
        assert "; mx.example.test. 3600 IN A " in text
        assert "_submissions._tcp.example.test. 3600 IN SRV 0 1 465 mx.example.test." in text
        assert "_submission._tcp.example.test. 3600 IN SRV 10 1 587 mx.example.test." in text
        assert '"v=spf1 mx -all"' in text and "_dmarc.example.test. 3600 IN TXT \"v=DMARC1; p=quarantine;" in text
        assert "; _mta-sts.example.test." in text            # commented out: no policy is served yet
        tlsa = re.findall(r"^_(\d+)\._tcp\.mx\.example\.test\. 3600 IN TLSA 3 1 1 (\w+)$", text, re.M)
        assert {p for p, _ in tlsa} == {"25", "465", "587"} and all(h == spki_sha256(path("server.pem"))
                                                                  for _, h in tlsa), tlsa
        for line in text.splitlines():
            assert not line or line.startswith(";") or " 3600 IN " in line, line
        # A zone an independent parser accepts.
        d = tempfile.mkdtemp(prefix="mailport-dnszone-")
        os.chmod(d, 0o755)
        zone = os.path.join(d, "example.test")
        with open(zone, "w") as f:
            f.write(SOA + text)
        r = subprocess.run(["ldns-read-zone", zone], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "r1._domainkey.example.test." in r.stdout and "TLSA" in r.stdout, r.stdout[-2000:]
        # Served by unbound, its DKIM keys verify what this server signs.
        dns = AuthDNS(d, [("example.test", zone)], probe=("example.test", "MX", "mx.example.test."))
        try:
            s.start()
            ctx = ssl.create_default_context(cafile=s.ca)
            with smtplib.SMTP_SSL("127.0.0.1", s.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["bob@example.test"],
                           b"From: alice@example.test\r\nSubject: published keys\r\n\r\nverify me\r\n")
            m = s.wait_messages("bob", 1)[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            v = subprocess.run(["/usr/bin/python3", "-c", VERIFY, str(dns.port)], input=m, capture_output=True,
                               timeout=60)
            assert v.stdout.decode().split() == ["True", "True"], (v.stdout, v.stderr.decode()[-2000:])
            assert s.stop() == 0
        finally:
            dns.close()
        r = subprocess.run([BIN, "dns", "example.test", "--config", s.conf, "--json"], capture_output=True, text=True,
                           timeout=30)
        doc = json.loads(r.stdout)
        assert doc["schema"] == "mailport-dns" and doc["domain"] == "example.test", doc
        kinds = {(x["type"], x["publish"]) for x in doc["records"]}
        assert ("MX", True) in kinds and ("TXT", False) in kinds and all(x["why"] for x in doc["records"])
