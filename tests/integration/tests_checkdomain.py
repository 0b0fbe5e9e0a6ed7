"""`mailport check --domain`: the records `mailport dns` printed, loaded into Knot DNS (knotd,
an authoritative server we did not write) as an admin would, are judged all right; then each
record is broken in turn and the check names that record and says what to publish. The TLSA
records are compared with the certificate each port of a running mailport presents (OpenSSL's
DANE code), and the DKIM keys with the key files."""
import json
import os
import re
import subprocess
import tempfile

from harness import BIN, Server
from knot import Knot
from tests_dkim import dkim_keys

SOA = ("$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
       "@ IN NS ns.example.test.\nns IN A 127.0.0.1\n")
PROBE = ("example.test", "NS", "ns.example.test.")


def published(text):
    """The records `mailport dns` says to publish (not the commented ones), and the host's address
    (it listens on loopback, so the printed A record is a placeholder to fill in)."""
    lines = [l for l in text.splitlines() if l and not l.startswith(";")]
    return "\n".join(lines) + "\nmx.example.test. 3600 IN A 127.0.0.1\n"


def check(srv, knot, *extra):
    args = [BIN, "check", "example.test", "--config", srv.conf, "--resolver", f"127.0.0.1:{knot.port}", "--json",
            "--timeout", "10"]
    for port, real in (("25", srv.port), ("465", srv.port465), ("587", srv.port587)):
        args += ["--connect-to", f"mx.example.test:{port}:127.0.0.1:{real}"]
    r = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=120)
    doc = json.loads(r.stdout)
    assert doc["schema"] == "mailport-check-domain", doc
    return r.returncode, doc


def codes(doc, severity=None):
    return {f["code"] for f in doc["findings"] if severity is None or f["severity"] == severity}


def test_check_domain_against_knot():
    with Server(tls=True) as s:
        dkim_keys(s, ("r1", "rsa"), ("e1", "ed25519"))
        r = subprocess.run([BIN, "dns", "example.test", "--config", s.conf], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        good = published(r.stdout)
        d = tempfile.mkdtemp(prefix="mailport-knot-")
        os.chmod(d, 0o755)
        knot = Knot(d, [("example.test", SOA + good)], PROBE)
        try:
            s.start()
            code, doc = check(s, knot)
            bad = [f for f in doc["findings"] if f["severity"] != "info"]
            assert code == 0 and not bad, json.dumps(doc, indent=1)
            ok = codes(doc)
            for c in ("mx-ok", "addr-ok", "spf-ok", "dkim-ok", "dmarc-ok", "dmarc-aligned", "srv-ok", "tlsrpt-ok",
                      "tlsa-ok"):
                assert c in ok, (c, ok)
            # without [https] nothing serves autoconfig.example.test, so mailport dns leaves it out
            assert "autoconfig-missing" in ok, ok
            assert sum(f["code"] == "tlsa-ok" for f in doc["findings"]) == 3      # 25, 465 and 587 probed
            assert sum(f["code"] == "dkim-ok" for f in doc["findings"]) == 2
            # The words a person reads.
            text = subprocess.run([BIN, "check", "--domain", "example.test", "--config", s.conf, "--resolver",
                                   f"127.0.0.1:{knot.port}"] + [f"--connect-to=mx.example.test:{p}:127.0.0.1:{q}"
                                  for p, q in ((25, s.port), (465, s.port465), (587, s.port587))],
                                  capture_output=True, text=True, timeout=120).stdout
            assert "Verdict: every record example.test needs is published and right." in text, text
            # The bare name, no --config, no --domain: it has MX records and no address of its own,
            # so it is a mail domain: what it publishes, judged on its own (DKIM selectors unknown).
            r = subprocess.run([BIN, "check", "example.test", "--resolver", f"127.0.0.1:{knot.port}", "--json"] +
                               [f"--connect-to=mx.example.test:{p}:127.0.0.1:{q}"
                                for p, q in ((25, s.port), (465, s.port465), (587, s.port587))],
                               capture_output=True, text=True, timeout=120)
            doc = json.loads(r.stdout)
            assert r.returncode == 0 and doc["schema"] == "mailport-check-domain", (r.returncode, r.stdout)
            assert "checking it as a mail domain" in r.stderr, r.stderr
            assert {"mx-ok", "spf-ok", "dmarc-ok", "tlsa-ok", "dkim-not-checked"} <= codes(doc), codes(doc)

            other_key = subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519"], capture_output=True,
                                       check=True).stdout
            other_pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=other_key,
                                       capture_output=True, check=True).stdout[-32:]
            import base64
            other_p = base64.b64encode(other_pub).decode()
            spf11 = '"v=spf1 ' + " ".join(f"include:i{i}.example.test" for i in range(11)) + ' -all"'
            incl = "".join(f'i{i} IN TXT "v=spf1 ?all"\n' for i in range(11))
            breaks = [
                # (what to change in the zone, the finding expected, its severity)
                (lambda z: z.replace("IN MX 10 mx.example.test.", "IN MX 10 elsewhere.example.net."),
                 "mx-elsewhere", "broken"),
                (lambda z: z.replace('"v=spf1 mx -all"', '"v=spf1 -all"'), "spf-not-this-host", "broken"),
                (lambda z: z.replace('"v=spf1 mx -all"', '"v=spf1 mx +all"'), "spf-pass-all", "broken"),
                (lambda z: z.replace('"v=spf1 mx -all"', '"v=spf1 mx ip4:1.2.3.4/40 -all"'), "spf-syntax", "broken"),
                (lambda z: z.replace('"v=spf1 mx -all"', spf11) + incl, "spf-permerror", "broken"),
                (lambda z: re.sub(r'^example\.test\. 3600 IN TXT "v=spf1.*$', "", z, flags=re.M), "spf-missing",
                 "broken"),
                (lambda z: z + 'example.test. 3600 IN TXT "v=spf1 a -all"\n', "spf-several", "broken"),
                (lambda z: re.sub(r'(e1\._domainkey\.example\.test\. 3600 IN TXT \( "v=DKIM1; k=ed25519;" "p=)[^"]+',
                                  lambda m: m.group(1) + other_p, z), "dkim-mismatch", "broken"),
                (lambda z: re.sub(r"^r1\._domainkey.*$", "", z, flags=re.M), "dkim-missing", "broken"),
                (lambda z: re.sub(r"^_dmarc.*$", "", z, flags=re.M), "dmarc-missing", "warning"),
                (lambda z: z.replace("v=DMARC1; p=quarantine;", "v=DMARC1; p=block;"), "dmarc-syntax", "broken"),
                (lambda z: z.replace("v=DMARC1; p=quarantine;", "v=DMARC1; p=none;"), "dmarc-p-none", "warning"),
                (lambda z: z.replace("SRV 10 1 587 mx.example.test.", "SRV 10 1 587 other.example.net."),
                 "srv-wrong", "broken"),
                (lambda z: z.replace("v=TLSRPTv1; rua=", "v=TLSRPTv1; mailto="), "tlsrpt-syntax", "broken"),
                (lambda z: re.sub(r"(_465\._tcp\.mx\.example\.test\. 3600 IN TLSA 3 1 1 )\w+", r"\g<1>" + "ab" * 32,
                                  z), "tlsa-mismatch", "broken"),
            ]
            for change, want, severity in breaks:
                knot.reload([("example.test", SOA + change(good))], PROBE)
                code, doc = check(s, knot)
                found = [f for f in doc["findings"] if f["code"] == want]
                assert found and found[0]["severity"] == severity, (want, json.dumps(doc, indent=1))
                assert code == (2 if severity == "broken" else 1), (want, code)
                # it names what to publish where a record is wrong or missing
                if want in ("mx-elsewhere", "spf-missing", "dkim-mismatch", "dkim-missing", "srv-wrong"):
                    assert "publish" in found[0]["text"], found[0]
            assert "tlsa-not-config" in codes(doc)      # the last change: not the configured key either
            assert s.stop() == 0
        finally:
            knot.close()
