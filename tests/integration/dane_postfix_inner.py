"""The inside of tests_dane.test_postfix_dane_client_accepts_our_records: run by `unshare --net
--mount` (a network namespace of its own, so port 25 and 53 on its loopback are ours, and a
private /etc/resolv.conf, because Postfix's resolver reads nothing else). Exits 0 when every
check held, else prints what did not and exits 1."""
import os
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, crypt_hash  # noqa: E402
from netns import inner_main, private_resolv  # noqa: E402
from pki import path  # noqa: E402
from postfix import Postfix  # noqa: E402
from tests_dane import SOA, AuthDNS, sign, spki_sha256, wait_log  # noqa: E402
from unbound import Unbound  # noqa: E402


def main(d):
    good, wrong = spki_sha256(path("server.pem")), spki_sha256(path("other.pem"))
    zone = SOA.format(z="pf-dane.test") + f"""
good 300 IN MX 10 mx-good
mx-good 300 IN A 127.0.0.2
_25._tcp.mx-good 300 IN TLSA 3 1 1 {good}
mismatch 300 IN MX 10 mx-bad
mx-bad 300 IN A 127.0.0.2
_25._tcp.mx-bad 300 IN TLSA 3 1 1 {wrong}
"""
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write(sign(d, "pf-dane.test", zone) + "\n")
    os.chmod(anchor, 0o644)
    auth = AuthDNS(d, [("pf-dane.test", os.path.join(d, "pf-dane.test.signed"))],
                   probe=("good.pf-dane.test", "MX", "mx-good.pf-dane.test."))
    # Postfix trusts the AD bit of the resolver in resolv.conf: a validating unbound on port 53,
    # with the zone's DS as trust anchor, asking the authoritative one.
    rd = os.path.join(d, "recursor")
    os.makedirs(rd)
    rec = Unbound(rd, server_extra=f'  module-config: "validator iterator"\n  trust-anchor-file: "{anchor}"\n'
                                   '  local-zone: "test." nodefault\n  val-log-level: 2\n',
                  tail=f'stub-zone:\n  name: "pf-dane.test."\n  stub-addr: 127.0.0.1@{auth.port}\n',
                  probe=("good.pf-dane.test", "MX", "mx-good.pf-dane.test."), port=53)
    private_resolv(d, options="trust-ad")
    r = subprocess.run(["dig", "+dnssec", "@127.0.0.1", "_25._tcp.mx-good.pf-dane.test", "TLSA"],
                       capture_output=True, text=True)
    assert " ad" in r.stdout.split("flags:")[1].split(";")[0], r.stdout
    h = crypt_hash("secret")
    mx = Server(tls=True, listen="127.0.0.2:25", domains="good.pf-dane.test mismatch.pf-dane.test",
                users=[f"u@good.pf-dane.test:{h}", f"u@mismatch.pf-dane.test:{h}"])
    pf = None
    try:
        mx.start()
        pf = Postfix(plain=True, extra_main="""
default_transport = smtp
relay_transport = smtp
smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination
mynetworks = 127.0.0.0/8
smtp_dns_support_level = dnssec
smtp_host_lookup = dns
smtp_tls_security_level = dane
smtp_tls_loglevel = 1
""", extra_master="smtp      unix  - - n - - smtp\n")
        for dom in ("good", "mismatch"):
            with smtplib.SMTP("127.0.0.1", pf.port_plain, timeout=10) as c:
                c.sendmail("sender@pf.example.test", [f"u@{dom}.pf-dane.test"],
                           f"Subject: postfix dane {dom}\r\n\r\nacross\r\n")
        # A first attempt that met a resolver still warming up is deferred: ask Postfix to try
        # again now and then, rather than wait for its own backoff.
        deadline = time.time() + 60
        while time.time() < deadline and not mx.messages("u", "good.pf-dane.test"):
            time.sleep(0.5)
            if int(deadline - time.time()) % 5 == 0:
                subprocess.run([os.path.join(pf.root, "usr/sbin/postqueue"), "-f"], env=pf.env, capture_output=True)
        got = mx.wait_messages("u", 1, domain="good.pf-dane.test")[0]
        assert b"postfix dane good" in got and b"with ESMTPS" in got, got[:400]
        # the mismatch's attempt ends in its own line (a deferral of the good one's first
        # attempt, if the resolver was still warming up, is another)
        deadline = time.time() + 60
        while time.time() < deadline and not any("to=<u@mismatch.pf-dane.test>" in ln and "status=deferred" in ln
                                                 for ln in pf.log().splitlines()):
            time.sleep(0.2)
        log = pf.log()
        # Postfix's own words: our TLSA record matched (DANE), and the wrong one did not.
        assert "Verified TLS connection established to mx-good.pf-dane.test[127.0.0.2]:25" in log, log[-3000:]
        assert "to=<u@good.pf-dane.test>" in log and "status=sent" in log, log[-3000:]
        bad = [ln for ln in log.splitlines() if "to=<u@mismatch.pf-dane.test>" in ln]
        assert bad and all("status=deferred" in ln for ln in bad), log[-3000:]
        assert "Server certificate not verified" in log or "certificate verification failed" in log, log[-3000:]
        # deferred: that attempt is over, and sent nothing
        assert mx.messages("u", "mismatch.pf-dane.test") == []
        wait_log(mx, "to=<u@good.pf-dane.test>")
    except AssertionError:
        if pf is not None:
            print("Postfix's log:\n" + pf.log()[-3000:])
        raise
    finally:
        if pf is not None:
            pf.close()
        mx.stop()
        mx.cleanup()
        rec.close()
        auth.close()


if __name__ == "__main__":
    inner_main(main, "mailport-pfdane-")
