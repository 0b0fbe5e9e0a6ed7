"""The inside of tests_dkim.test_opendkim_verifies_our_signatures: run by `unshare --net
--mount`, because opendkim-testmsg (opendkim-tools) asks only /etc/resolv.conf's resolver: an
unbound on the namespace's port 53 serves the zone `mailport dns` printed, and a private
resolv.conf points there. Exits 0 when every check held."""
import os
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, Server  # noqa: E402
from netns import inner_main, private_resolv  # noqa: E402
from tests_dane import AuthDNS  # noqa: E402
from tests_dkim import MESSAGES, dkim_keys  # noqa: E402
from tests_dns import SOA  # noqa: E402


def main(d):
    with Server(tls=True) as s:
        dkim_keys(s, ("r1", "rsa"), ("e1", "ed25519"))
        text = subprocess.run([BIN, "dns", "example.test", "--config", s.conf], capture_output=True, text=True,
                              check=True).stdout
        zone = os.path.join(d, "example.test")
        with open(zone, "w") as f:
            f.write(SOA + text)
        dns = AuthDNS(d, [("example.test", zone)], probe=("example.test", "MX", "mx.example.test."), port=53)
        try:
            private_resolv(d)
            s.start()
            ctx = ssl.create_default_context(cafile=s.ca)
            with smtplib.SMTP_SSL("127.0.0.1", s.port465, context=ctx, timeout=10) as c:
                c.login("alice@example.test", "secret")
                for name, body in MESSAGES.items():
                    c.sendmail("alice@example.test", ["bob@example.test"], body,
                               mail_options=["BODY=8BITMIME"] if name == "8bit" else [])
            for m in s.wait_messages("bob", len(MESSAGES)):
                m = m.replace(b"\r\n", b"\n")
                # One signature at a time: opendkim-testmsg judges the first it finds.
                head, body = m.split(b"\n\n", 1)
                lines = head.split(b"\n")
                sigs = [i for i, ln in enumerate(lines) if ln.lower().startswith(b"dkim-signature:")]
                assert len(sigs) == 2, head
                for keep in sigs:
                    drop = [i for i in sigs if i != keep][0]
                    end = drop + 1
                    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
                        end += 1
                    one = b"\n".join(lines[:drop] + lines[end:]) + b"\n\n" + body
                    r = subprocess.run(["opendkim-testmsg"], input=one, capture_output=True, timeout=30)
                    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr, one[:800])
                    bad = one.replace(b"\n\n", b"\n\nchanged ", 1)
                    r = subprocess.run(["opendkim-testmsg"], input=bad, capture_output=True, timeout=30)
                    assert r.returncode != 0, ("a changed message passed", bad[:400])
            assert s.stop() == 0
        finally:
            dns.close()


if __name__ == "__main__":
    inner_main(main, "mailport-odkim-")
