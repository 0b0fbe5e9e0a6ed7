"""DANE for direct MX delivery (RFC 7672), against real peers started here: zones signed with
Debian's ldns tools (ldns-keygen, ldns-signzone) and served by unbound as an authoritative
auth-zone on a loopback port, validated by mailport's libunbound with the zones' DS records
as trust anchor, cross-checked by BIND's delv (DNSSEC) and openssl s_client (the TLSA match);
mailport MX hosts on 127.0.0.1 and 127.0.0.2, the same port.

The cases: a TLSA match (delivered, tls=dane-verified), a TLSA mismatch (deferred, never sent
in plaintext), a bogus signature (deferred), an insecure zone (falls back to opportunistic
STARTTLS), STARTTLS stripped on a DANE host (deferred), and dane-only for a domain without
DANE (deferred)."""
import json
import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile

from harness import BIN, Server, Skip, crypt_hash, free_port, need, wait_for
from pki import path
from unbound import Unbound


def spki_sha256(cert):
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True, check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.stdout, capture_output=True,
                         check=True)
    dig = subprocess.run(["openssl", "dgst", "-sha256", "-r"], input=der.stdout, capture_output=True, check=True)
    return dig.stdout.split()[0].decode()


SOA = "@ 300 IN SOA ns.{z}. admin.{z}. 1 3600 600 86400 300\n@ 300 IN NS ns.{z}.\nns 300 IN A 127.0.0.1\n"


def dane_zone(port, good, wrong):
    return SOA.format(z="dane.test") + f"""
good 300 IN MX 10 mx-good
mx-good 300 IN A 127.0.0.1
_{port}._tcp.mx-good 300 IN TLSA 3 1 1 {good}
mismatch 300 IN MX 10 mx-bad
mx-bad 300 IN A 127.0.0.1
_{port}._tcp.mx-bad 300 IN TLSA 3 1 1 {wrong}
strip 300 IN MX 10 mx-strip
mx-strip 300 IN A 127.0.0.2
_{port}._tcp.mx-strip 300 IN TLSA 3 1 1 {good}
nodane 300 IN MX 10 mx-nodane
mx-nodane 300 IN A 127.0.0.1
"""


def bogus_zone(port, good):
    return SOA.format(z="bogus.test") + f"""
@ 300 IN MX 10 mx
mx 300 IN A 127.0.0.1
_{port}._tcp.mx 300 IN TLSA 3 1 1 {good}
"""


def insecure_zone(port, wrong):
    # TLSA records in an unsigned zone mean nothing (RFC 7672 2.2): a wrong one is ignored.
    return SOA.format(z="insecure.test") + f"""
@ 300 IN MX 10 mx
mx 300 IN A 127.0.0.1
_{port}._tcp.mx 300 IN TLSA 3 1 1 {wrong}
"""


def sign(d, zone, text):
    """The zone signed with a fresh key (one KSK signs everything); returns its DS line."""
    src = os.path.join(d, zone)
    with open(src, "w") as f:
        f.write(f"$ORIGIN {zone}.\n" + text)
    key = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone], cwd=d, capture_output=True,
                         text=True, check=True).stdout.strip()
    subprocess.run(["ldns-signzone", "-n", "-o", zone, src, key], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, key + ".ds")) as f:
        return f.read().strip()


def tamper_tlsa(signed):
    """Change the TLSA data after signing: its RRSIG no longer matches (bogus)."""
    with open(signed) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 8 and parts[3] == "TLSA":
            h = parts[7]
            parts[7] = ("0" if h[0] != "0" else "1") + h[1:]
            line = "\t".join(parts)
        out.append(line)
    with open(signed, "w") as f:
        f.write("\n".join(out) + "\n")


class AuthDNS(Unbound):
    """unbound serving the zone files authoritatively (auth-zone) on a loopback port."""

    def __init__(self, d, zones, probe=("good.dane.test", "MX", "mx-good.dane.test."), port=None):
        # "test." is one of unbound's own local zones unless told otherwise.
        tail = "".join(f'auth-zone:\n  name: "{name}."\n  zonefile: "{file}"\n  for-downstream: yes\n'
                       f'  for-upstream: no\n  fallback-enabled: no\n' for name, file in zones)
        super().__init__(d, server_extra='  local-zone: "test." nodefault', tail=tail, probe=probe, port=port)


def delv_anchor(ds_lines, file):
    """The DS records in BIND's trust-anchors syntax, for delv."""
    with open(file, "w") as f:
        f.write("trust-anchors {\n")
        for line in ds_lines:
            w = line.split()
            i = w.index("DS")
            owner, (tag, alg, dt), digest = w[0], w[i + 1:i + 4], "".join(w[i + 4:])
            f.write(f'  "{owner}" static-ds {tag} {alg} {dt} "{digest}";\n')
        f.write("};\n")
    return file


def delv(dns, anchor, root, name, rtype):
    """BIND's validating lookup tool, an independent judge of the zones' signatures."""
    r = subprocess.run(["delv", "-a", anchor, f"+root={root}", "-p", str(dns.port), "@127.0.0.1", name, rtype],
                       capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def check_mx(*args):
    """mailport check --mx --json: (exit code, document)."""
    r = subprocess.run([BIN, "check", "--mx", "--json", "--timeout", "5", *args], capture_output=True, text=True,
                       timeout=60)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "mailport-check-mx" and doc["exit"] == r.returncode, (doc, r.returncode)
    return r.returncode, doc


def submit(srv, rcpts):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
        c.login("alice@example.test", "secret")
        c.sendmail("alice@example.test", rcpts, "Subject: dane\r\n\r\nover the last hop\r\n")


def wait_log(srv, needle, timeout=30):
    wait_for(lambda: needle in srv.log(), timeout, lambda: f"{needle!r} not in the log:\n" + srv.log()[-4000:])


def test_dane_delivery_match_mismatch_bogus_insecure_stripped():
    need("dig")
    need("ldns-signzone")
    need("delv")
    port = free_port()
    good, wrong = spki_sha256(path("server.pem")), spki_sha256(path("other.pem"))
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-dane-")
    os.chmod(d, 0o755)
    ds = [sign(d, "dane.test", dane_zone(port, good, wrong)), sign(d, "bogus.test", bogus_zone(port, good))]
    tamper_tlsa(os.path.join(d, "bogus.test.signed"))
    with open(os.path.join(d, "insecure.test"), "w") as f:
        f.write("$ORIGIN insecure.test.\n" + insecure_zone(port, wrong))
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write("\n".join(ds) + "\n")
    os.chmod(anchor, 0o644)
    dns = AuthDNS(d, [("dane.test", os.path.join(d, "dane.test.signed")),
                      ("bogus.test", os.path.join(d, "bogus.test.signed")),
                      ("insecure.test", os.path.join(d, "insecure.test"))])
    domains = "good.dane.test mismatch.dane.test nodane.dane.test bogus.test insecure.test"
    mx = Server(tls=True, listen=f"127.0.0.1:{port}", domains=domains,
                users=[f"u@{dom}:{h}" for dom in domains.split()])
    strip = Server(listen=f"127.0.0.2:{port}", domains="strip.dane.test", users=[f"u@strip.dane.test:{h}"])
    try:
        # The zones are what a validator other than ours says they are.
        bind_anchor = delv_anchor(ds, os.path.join(d, "anchor.bind"))
        out = delv(dns, bind_anchor, "dane.test", f"_{port}._tcp.mx-good.dane.test", "TLSA")
        assert "fully validated" in out, out
        out = delv(dns, bind_anchor, "bogus.test", f"_{port}._tcp.mx.bogus.test", "TLSA")
        assert "resolution failed" in out or "validation failure" in out or "SERVFAIL" in out, out
        mx.start()
        strip.start()
        # And the TLSA record is what OpenSSL's own DANE client accepts from this MX.
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp",
                            "-dane_tlsa_domain", "mx-good.dane.test", "-dane_tlsa_rrdata", f"3 1 1 {good}",
                            "-dane_ee_no_namechecks",
                            "-brief"], input="QUIT\r\n", capture_output=True, text=True, timeout=30)
        assert "Verification: OK" in r.stderr + r.stdout and "DANE TLSA 3 1 1" in r.stderr + r.stdout, r.stderr
        extra = (f"\n[relay]\nmx_port = {port}\nretry_schedule = 1s\ntimeout = 5s\n"
                 f"dnssec_trust_anchor = {anchor}\ntls_policy = dane nodane.dane.test:dane-only\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, ["u@good.dane.test", "u@mismatch.dane.test", "u@bogus.test", "u@insecure.test",
                       "u@strip.dane.test", "u@nodane.dane.test"])
            # A TLSA match: delivered, and the log says how.
            got = mx.wait_messages("u", 1, domain="good.dane.test")[0]
            assert b"with ESMTPS" in got, got[:400]
            wait_log(a, "delivered to=<u@good.dane.test> relay=mx-good.dane.test[127.0.0.1]")
            assert f"relay=mx-good.dane.test[127.0.0.1]:{port} tls=dane-verified" in a.log(), a.log()[-3000:]
            assert "TLSA 3 1 1" in a.log()
            # An insecure zone: its TLSA records are ignored, opportunistic STARTTLS as before.
            mx.wait_messages("u", 1, domain="insecure.test")
            wait_log(a, f"delivered to=<u@insecure.test> relay=mx.insecure.test[127.0.0.1]:{port} tls=opportunistic")
            # The rest waits: never delivered, never in plaintext, each with its reason.
            wait_log(a, "deferred to=<u@mismatch.dane.test>")
            wait_log(a, "deferred to=<u@bogus.test>")
            wait_log(a, "deferred to=<u@strip.dane.test>")
            wait_log(a, "deferred to=<u@nodane.dane.test>")
            log = a.log()
            assert "dane-failed mx=mx-bad.dane.test [127.0.0.1]" in log, log[-4000:]
            assert "matches none of its 1 TLSA record" in log, log[-4000:]
            assert "dane-failed mx=mx.bogus.test" in log and "bogus" in log, log[-4000:]
            assert "dane-failed mx=mx-strip.dane.test [127.0.0.2]: not delivered" in log, log[-4000:]
            assert "STARTTLS is required but the server does not offer it" in log
            assert "dane-only, but mx-nodane.dane.test has no DANE" in log, log[-4000:]
            assert "retrying in plaintext" not in log
            # a retry round (retry_schedule 1s): each is deferred again, still nothing in plaintext
            rest = ("mismatch.dane.test", "bogus.test", "strip.dane.test", "nodane.dane.test")
            wait_for(lambda: all(a.log().count(f"deferred to=<u@{dom}>") >= 2 for dom in rest), 30,
                     lambda: a.log()[-4000:])
            assert "retrying in plaintext" not in a.log()
            for dom in ("mismatch.dane.test", "bogus.test", "nodane.dane.test"):
                assert mx.messages("u", dom) == [], dom
            assert strip.messages("u", "strip.dane.test") == []
            assert "MAIL FROM" not in strip.log() and "mail from=" not in strip.log().lower()
            assert len(a.queue_files()) == 1
            assert a.stop() == 0
        # check --mx says the same, with the same code, before any mail is sent.
        common = ["--resolver", f"127.0.0.1:{dns.port}", "--trust-anchor", anchor, "--port", str(port)]
        rc, doc = check_mx(*common, "good.dane.test")
        h = doc["hosts"][0]
        assert rc == 0 and doc["dnssec_validating"] and h["dnssec_secure"], doc
        assert h["policy"] == "dane" and h["level"] == "dane" and h["tls_ok"], h
        assert "dane-verified" in h["probe"] and "TLSA 3 1 1" in h["probe"] and "1 usable TLSA" in h["dane"], h
        rc, doc = check_mx(*common, "u@mismatch.dane.test")
        assert rc == 2 and not doc["hosts"][0]["tls_ok"] and "matches none" in doc["hosts"][0]["probe"], doc
        rc, doc = check_mx(*common, "bogus.test")
        assert rc == 2 and not doc["hosts"][0]["usable"] and "bogus" in doc["hosts"][0]["not_usable_why"], doc
        rc, doc = check_mx(*common, "insecure.test")
        assert rc == 0 and doc["hosts"][0]["policy"] == "opportunistic", doc
        rc, doc = check_mx(*common, "strip.dane.test")
        assert rc == 2 and "STARTTLS not offered: delivery waits" in doc["hosts"][0]["probe"], doc
        text = subprocess.run([BIN, "check", "--mx", *common, "good.dane.test"], capture_output=True, text=True,
                              timeout=60).stdout
        assert "DNSSEC:  validating" in text and "policy: dane (dane)" in text and "dane-verified" in text, text
    finally:
        dns.close()
        for s in (mx, strip):
            s.stop()
            s.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_dnssec_unavailable_resolver_falls_back_and_says_so():
    """A trust anchor whose keys the resolver cannot deliver (a DNS without DNSSEC): answers
    count as insecure, mail goes opportunistically, and the log says why once; dane-only waits."""
    need("dig")
    need("ldns-keygen")
    d = tempfile.mkdtemp(prefix="mailport-dane-")
    os.chmod(d, 0o755)
    port = free_port()
    h = crypt_hash("secret")
    ds = sign(d, "dane.test", dane_zone(port, "00" * 32, "00" * 32))
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write(ds + "\n")
    os.chmod(anchor, 0o644)
    # The zone served unsigned: the anchor's DNSKEY never comes.
    with open(os.path.join(d, "plain"), "w") as f:
        f.write("$ORIGIN dane.test.\n" + dane_zone(port, "00" * 32, "00" * 32))
    dns = AuthDNS(d, [("dane.test", os.path.join(d, "plain"))])
    mx = Server(tls=True, listen=f"127.0.0.1:{port}", domains="good.dane.test nodane.dane.test",
                users=[f"u@good.dane.test:{h}", f"u@nodane.dane.test:{h}"])
    try:
        mx.start()
        extra = (f"\n[relay]\nmx_port = {port}\nretry_schedule = 1s\ntimeout = 5s\n"
                 f"dnssec_trust_anchor = {anchor}\ntls_policy = dane nodane.dane.test:dane-only\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, ["u@good.dane.test", "u@nodane.dane.test"])
            wait_log(a, "delivered to=<u@good.dane.test> relay=mx-good.dane.test[127.0.0.1]")
            mx.wait_messages("u", 1, domain="good.dane.test")
            assert "tls=opportunistic" in a.log()
            wait_log(a, "dnssec unavailable resolver=127.0.0.1:")
            wait_log(a, "deferred to=<u@nodane.dane.test>")
            assert a.log().count("dnssec unavailable") == 1, a.log()[-3000:]
            assert mx.messages("u", "nodane.dane.test") == []
            assert a.stop() == 0
    finally:
        dns.close()
        mx.stop()
        mx.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_tls_policy_errors_name_the_line():
    with Server(extra="\n[relay]\ntls_policy = dane example.org:sometimes\n") as s:
        r = subprocess.run([os.environ.get("MAILPORT_BIN", "build/mailport"), "serve", "--check-config", "--config",
                            s.conf], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, (r.returncode, r.stderr)
        assert f"{s.conf}:{s.conf_line('tls_policy')}: [relay] tls_policy: \"example.org:sometimes\"" in r.stderr, \
            r.stderr
    with Server(extra="\n[relay]\ndnssec_trust_anchor = /nonexistent/root.key\n") as s:
        r = subprocess.run([os.environ.get("MAILPORT_BIN", "build/mailport"), "serve", "--check-config", "--config",
                            s.conf], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, (r.returncode, r.stderr)
        assert f"{s.conf}:{s.conf_line('dnssec_trust_anchor')}: [relay] dnssec_trust_anchor /nonexistent/root.key" \
            in r.stderr, r.stderr


def test_postfix_dane_client_accepts_our_records():
    """Cross-check with a DANE client we did not write: Postfix (smtp_tls_security_level = dane)
    delivers to a mailport MX whose TLSA record the tests' zone publishes, and defers where the
    record does not match. Postfix asks only /etc/resolv.conf's resolver on port 53 and trusts
    its AD bit, so this runs in a network and mount namespace of its own (unshare): a validating
    unbound on its port 53, a private resolv.conf, the MX on its port 25."""
    from netns import run_inner
    need("unshare")
    need("ldns-signzone")
    need("dig")
    # Unpacked out here: inside, there is no network to fetch the package with.
    here = os.path.dirname(os.path.abspath(__file__))
    pr = subprocess.run([os.path.join(here, "..", "..", "scripts", "peer-postfix")], capture_output=True, text=True,
                        timeout=300)
    if pr.returncode != 0:
        raise Skip("postfix package not available: " + pr.stderr[-200:])
    run_inner("dane_postfix_inner.py")
