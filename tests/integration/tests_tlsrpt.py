"""TLS-RPT (RFC 8460): the daily aggregate report of what direct MX delivery met under DANE
and MTA-STS, against real peers started here: a zone signed with Debian's ldns tools and
served by unbound, with _smtp._tls records naming a mailto: rua (received by a mailport MX,
the recording sink for mail) and an https: rua (python3's http.server wrapped in TLS,
recording the POST); MTA-STS policies from the same kind of server; plain MX hosts scripted
here on other loopback addresses (STARTTLS refused, not offered, an expired certificate);
each report checked against a JSON Schema written from RFC 8460 4 with Debian's
python3-jsonschema."""
import base64
import email
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import stsweb
from harness import BIN, Server, Skip, crypt_hash, end_process, free_port, need, wait_for
from pki import make_cert, path, pki
from tests_dane import SOA, AuthDNS, check_mx, sign, spki_sha256, submit, wait_log

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tlsrpt.schema.json")

SINK = r"""
import http.server, os, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2] + ".tmp", "wb") as f:     # whole when the test sees it
            f.write(self.headers.get("Content-Type", "").encode() + b"\n" + body)
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
        self.send_response(201)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("ready", flush=True)
s.serve_forever()
"""


def validate(doc):
    """RFC 8460's schema, judged by python3-jsonschema (Debian's), not by us."""
    r = subprocess.run(["/usr/bin/python3", "-c", "import json, sys, jsonschema; "
                        "jsonschema.validate(json.load(open(sys.argv[1])), json.load(sys.stdin))", SCHEMA],
                       input=json.dumps(doc), capture_output=True, text=True, timeout=30)
    if "No module named 'jsonschema'" in r.stderr:
        raise Skip("python3-jsonschema not installed")
    assert r.returncode == 0, r.stderr[-2000:]


def test_tlsrpt_daily_report_by_mail_and_https():
    need("ldns-signzone")
    need("dig")
    port, hport = free_port(), free_port()
    good, wrong = spki_sha256(path("server.pem")), spki_sha256(path("other.pem"))
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-tlsrpt-")
    os.chmod(d, 0o755)
    zone = SOA.format(z="rpt.test") + f"""
good 300 IN MX 10 mx-good
mx-good 300 IN A 127.0.0.1
_{port}._tcp.mx-good 300 IN TLSA 3 1 1 {good}
_smtp._tls.good 300 IN TXT "v=TLSRPTv1; rua=mailto:reports@good.rpt.test"
bad 300 IN MX 10 mx-bad
mx-bad 300 IN A 127.0.0.1
_{port}._tcp.mx-bad 300 IN TLSA 3 1 1 {wrong}
_smtp._tls.bad 300 IN TXT "v=TLSRPTv1; rua=https://127.0.0.1:{hport}/tlsrpt"
"""
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write(sign(d, "rpt.test", zone) + "\n")
    os.chmod(anchor, 0o644)
    dns = AuthDNS(d, [("rpt.test", os.path.join(d, "rpt.test.signed"))], probe=("good.rpt.test", "MX",
                                                                                "mx-good.rpt.test."))
    mx = Server(tls=True, listen=f"127.0.0.1:{port}", domains="good.rpt.test bad.rpt.test",
                users=[f"u@good.rpt.test:{h}", f"reports@good.rpt.test:{h}", f"u@bad.rpt.test:{h}"])
    posted = os.path.join(d, "posted")
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(hport), posted, path("server.pem"), path("server.key")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        mx.start()
        extra = (f"\n[relay]\nmx_port = {port}\nretry_schedule = 1s\ntimeout = 5s\n"
                 f"dnssec_trust_anchor = {anchor}\nmta_sts_ca_file = {path('ca.pem')}\n"
                 f"tlsrpt_contact = tls-reports@example.test\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, ["u@good.rpt.test"])
            submit(a, ["u@good.rpt.test", "u@bad.rpt.test"])
            mx.wait_messages("u", 2, domain="good.rpt.test")
            wait_log(a, "deferred to=<u@bad.rpt.test>")
            r = subprocess.run([BIN, "tlsrpt", "--config", a.conf, "send", "today"], capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0 and "being sent" in r.stdout, (r.returncode, r.stdout, r.stderr)
            wait_log(a, "reports sent")
            assert "2 reports sent" in a.log(), a.log()[-3000:]
            r = subprocess.run([BIN, "tlsrpt", "--config", a.conf, "send", "someday"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode != 0 and "YYYY-MM-DD" in r.stderr, (r.returncode, r.stderr)

            # mailto: a multipart/report of type tlsrpt through our own queue, over DANE.
            msg = email.message_from_bytes(mx.wait_messages("reports", 1, domain="good.rpt.test")[0])
            assert msg.get_content_type() == "multipart/report", msg.get_content_type()
            assert msg.get_param("report-type") == "tlsrpt"
            assert msg["TLS-Report-Domain"] == "good.rpt.test" and msg["TLS-Report-Submitter"] == "mx.example.test"
            assert msg["Subject"].startswith("Report Domain: good.rpt.test Submitter: mx.example.test Report-ID: <")
            part = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
            assert part.get_filename().startswith("mx.example.test!good.rpt.test!"), part.get_filename()
            doc = json.loads(gzip.decompress(base64.b64decode(part.get_payload())))
            validate(doc)
            assert doc["contact-info"] == "tls-reports@example.test", doc
            pol = doc["policies"][0]
            assert pol["policy"]["policy-type"] == "tlsa" and pol["policy"]["policy-domain"] == "good.rpt.test"
            assert pol["policy"]["policy-string"] == [f"3 1 1 {good}"], pol
            assert pol["summary"] == {"total-successful-session-count": 2, "total-failure-session-count": 0}, pol

            # https: a POST of the gzip'd JSON.
            wait_for(lambda: os.path.exists(posted), 30, lambda: a.log()[-3000:])
            with open(posted, "rb") as f:
                ctype, body = f.read().split(b"\n", 1)
            assert ctype == b"application/tlsrpt+gzip", ctype
            doc = json.loads(gzip.decompress(body))
            validate(doc)
            pol = doc["policies"][0]
            assert pol["policy"]["policy-domain"] == "bad.rpt.test" and pol["summary"][
                "total-successful-session-count"] == 0, pol
            fails = pol["failure-details"]
            assert pol["summary"]["total-failure-session-count"] == sum(f["failed-session-count"] for f in fails) >= 1
            assert fails[0]["result-type"] == "tlsa-invalid" and fails[0]["receiving-mx-hostname"] == \
                "mx-bad.rpt.test" and fails[0]["receiving-ip"] == "127.0.0.1", fails
            assert "matches none of its 1 TLSA record" in fails[0]["failure-reason-code"], fails
            # A day is sent once by the daily run: it is marked.
            assert os.path.exists(os.path.join(a.dir, "spool", "tlsrpt", doc["date-range"]["start-datetime"][:10]
                                               + ".sent"))
            assert a.stop() == 0
        # check --mx names where the reports go.
        common = ["--resolver", f"127.0.0.1:{dns.port}", "--trust-anchor", anchor, "--port", str(port)]
        rc, doc = check_mx(*common, "good.rpt.test")
        assert rc == 0 and doc["tlsrpt_rua"] == "mailto:reports@good.rpt.test", doc
        text = subprocess.run([BIN, "check", "--mx", *common, "bad.rpt.test"], capture_output=True, text=True,
                              timeout=60).stdout
        assert f"TLS-RPT: https://127.0.0.1:{hport}/tlsrpt" in text, text
        # The knobs are checked like every other: file:line, exit 78.
        with Server(extra="\n[relay]\ntlsrpt = sometimes\n") as s:
            r = subprocess.run([BIN, "serve", "--check-config", "--config", s.conf], capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 78 and f"{s.conf}:{s.conf_line('tlsrpt =')}: [relay] tlsrpt" in r.stderr, r.stderr
    finally:
        dns.close()
        sink.terminate()
        sink.wait(timeout=10)
        mx.stop()
        mx.cleanup()
        shutil.rmtree(d, ignore_errors=True)


# A plain MX that takes the mail however STARTTLS goes; ADDR PORT FILE MODE [CERT KEY] (FILE gets
# each recipient). MODE 454: STARTTLS offered and answered with 454 (RFC 3207 4: "TLS not
# available due to temporary reason"); none: not offered; tls: offered, with CERT and KEY.
FAKE_MX = r"""
import socketserver, ssl, sys
addr, port, taken, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(socketserver.BaseRequestHandler):
    def handle(self):
        sock, tls = self.request, False
        rf = sock.makefile("rb")
        def w(s):
            sock.sendall(s.encode() + b"\r\n")
        w("220 fake.rpt.test ESMTP")
        data = False
        while True:
            raw = rf.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if data:
                if line == ".":
                    data = False
                    w("250 2.0.0 taken")
                continue
            cmd = line.upper()
            if cmd.startswith("EHLO"):
                w("250-fake.rpt.test")
                if mode != "none" and not tls:
                    w("250-STARTTLS")
                w("250 8BITMIME")
            elif cmd == "STARTTLS" and mode == "454":
                w("454 4.7.0 TLS not available due to temporary reason")
            elif cmd == "STARTTLS" and mode == "tls" and not tls:
                w("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(sys.argv[5], sys.argv[6])
                sock, tls = ctx.wrap_socket(sock, server_side=True), True
                rf = sock.makefile("rb")
            elif cmd.startswith("RCPT"):
                with open(taken, "a") as f:
                    f.write(line[8:].strip("<> ") + "\n")
                w("250 2.1.5 ok")
            elif cmd.startswith("MAIL") or cmd == "RSET":
                w("250 2.1.0 ok")
            elif cmd == "DATA":
                w("354 go ahead")
                data = True
            elif cmd == "QUIT":
                w("221 2.0.0 bye")
                return
            else:
                w("502 5.5.2 what")
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
srv = S((addr, port), H)
print("ready", flush=True)
srv.serve_forever()
"""


def test_tlsrpt_mta_sts_testing_starttls_454_addresses_and_resolver():
    """RFC 8461 5 and RFC 8460 4.3 under MTA-STS, in a DNSSEC-signed zone without TLSA records:
    a testing policy validates as enforce would and reports what fails (a certificate for
    another name, one expired, an MX not named, no STARTTLS), but delivers; a STARTTLS answered
    454 is starttls-not-supported (enforce: deferred; testing: delivered in plaintext); every failure names both ends (sending-mta-ip, receiving-ip), a host skipped
    for not being named too; the reports are POSTed to a host only the configured resolver
    knows."""
    need("ldns-signzone")
    need("dig")
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-tlsrpt-sts-")
    os.chmod(d, 0o755)
    mport, hport = free_port(), free_port()
    # domain label: (mode, mx pattern, MX host). mx.example.test has the MX's certificate.
    doms = {
        "testbad": ("testing", "*.rpt.test", "mx2.rpt.test"),          # certificate for another name
        "testok": ("testing", "mx.example.test", "mx.example.test"),   # all well: a success
        "testunnamed": ("testing", "other.rpt.test", "mx.example.test"),
        "enf454": ("enforce", "mx454.rpt.test", "mx454.rpt.test"),
        "test454": ("testing", "mx454.rpt.test", "mx454.rpt.test"),
        "enfunnamed": ("enforce", "other.rpt.test", "mx.example.test"),
        "testexpired": ("testing", "*.rpt.test", "mxexpired.rpt.test"),  # a certificate past its date
        "testnotls": ("testing", "*.rpt.test", "mxplain.rpt.test"),      # STARTTLS not offered
    }
    zone = SOA.format(z="rpt.test") + "mx2 300 IN A 127.0.0.1\nmx454 300 IN A 127.0.0.2\n" \
        "mxexpired 300 IN A 127.0.0.3\nmxplain 300 IN A 127.0.0.4\nreports 300 IN A 127.0.0.1\n"
    os.makedirs(os.path.join(d, "web", "posted"))
    for label, (mode, pattern, mxhost) in doms.items():
        zone += (f"{label} 300 IN MX 10 {mxhost}.\nmta-sts.{label} 300 IN A 127.0.0.1\n"
                 f"_mta-sts.{label} 300 IN TXT \"v=STSv1; id=1;\"\n"
                 f"_smtp._tls.{label} 300 IN TXT \"v=TLSRPTv1; rua=https://reports.rpt.test:{hport}/{label}\"\n")
        with open(os.path.join(d, "web", f"{label}.rpt.test"), "w") as f:
            f.write(f"version: STSv1\nmode: {mode}\nmx: {pattern}\nmax_age: 86400\n")
    anchor = os.path.join(d, "anchor.ds")
    with open(anchor, "w") as f:
        f.write(sign(d, "rpt.test", zone) + "\n")
    os.chmod(anchor, 0o644)
    with open(os.path.join(d, "example.test"), "w") as f:
        f.write("$ORIGIN example.test.\n" + SOA.format(z="example.test") + "mx 300 IN A 127.0.0.1\n")
    cert, key = make_cert(pki(), "tlsrpt-web", ["DNS:reports.rpt.test"] +
                          [f"DNS:mta-sts.{label}.rpt.test" for label in doms])
    web = subprocess.Popen([sys.executable, "-c", stsweb.SCRIPT, os.path.join(d, "web"), str(hport), cert, key],
                           stdout=subprocess.PIPE, text=True)
    taken = os.path.join(d, "taken")
    fakes = [subprocess.Popen([sys.executable, "-c", FAKE_MX, addr, str(mport), taken, *mode],
                              stdout=subprocess.PIPE, text=True)
             for addr, mode in (("127.0.0.2", ["454"]), ("127.0.0.3", ["tls", path("expired.pem"),
                                                                       path("expired.key")]),
                                ("127.0.0.4", ["none"]))]
    dns = None
    mx = Server(tls=True, listen=f"127.0.0.1:{mport}", domains=" ".join(f"{x}.rpt.test" for x in doms),
                users=[f"u@{x}.rpt.test:{h}" for x in doms])
    try:
        assert web.stdout.readline().strip() == "ready"
        for fake in fakes:
            assert fake.stdout.readline().strip() == "ready"
        dns = AuthDNS(d, [("rpt.test", os.path.join(d, "rpt.test.signed")),
                          ("example.test", os.path.join(d, "example.test"))],
                      probe=("testok.rpt.test", "MX", "mx.example.test."))
        mx.start()
        extra = (f"\n[relay]\nmx_port = {mport}\nretry_schedule = 1s\ntimeout = 5s\n"
                 f"dnssec_trust_anchor = {anchor}\nmta_sts_port = {hport}\nmta_sts_ca_file = {path('ca.pem')}\n"
                 f"tlsrpt_contact = tls-reports@example.test\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, [f"u@{x}.rpt.test" for x in doms])
            # testing: delivered whatever validation says (RFC 8461 5), over TLS where it was had
            for x in ("testbad", "testok", "testunnamed"):
                mx.wait_messages("u", 1, domain=f"{x}.rpt.test")
            want = ("u@test454.rpt.test", "u@testexpired.rpt.test", "u@testnotls.rpt.test")
            wait_for(lambda: os.path.exists(taken) and all(x in open(taken).read() for x in want), 30,
                     lambda: a.log()[-3000:])
            assert all(x in open(taken).read() for x in want), open(taken).read()
            wait_log(a, "delivered to=<u@testexpired.rpt.test> relay=mxexpired.rpt.test[127.0.0.3]:"
                        f"{mport} tls=opportunistic")
            wait_log(a, f"delivered to=<u@testnotls.rpt.test> relay=mxplain.rpt.test[127.0.0.4]:{mport} tls=none")
            # enforce: a 454 or an MX the policy does not name holds the mail back
            wait_log(a, "deferred to=<u@enf454.rpt.test>")
            wait_log(a, "deferred to=<u@enfunnamed.rpt.test>")
            assert "u@enf454.rpt.test" not in open(taken).read()
            assert mx.messages("u", "enfunnamed.rpt.test") == []
            r = subprocess.run([BIN, "tlsrpt", "--config", a.conf, "send", "today"], capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
            wait_log(a, "reports sent")
            assert f"{len(doms)} reports sent" in a.log(), a.log()[-3000:]
            # The rua host exists only in the test's DNS: it was found through [relay] resolver.
            assert f"posted to https://reports.rpt.test:{hport}/testbad" in a.log(), a.log()[-3000:]
            reports = {}
            for label in doms:
                with open(os.path.join(d, "web", "posted", label), "rb") as f:
                    host, ctype, body = f.read().split(b"\n", 2)
                assert host.split(b":")[0] == b"reports.rpt.test" and ctype == b"application/tlsrpt+gzip", (host,
                                                                                                            ctype)
                doc = json.loads(gzip.decompress(body))
                validate(doc)
                assert len(doc["policies"]) == 1, doc
                pol = doc["policies"][0]
                assert pol["policy"]["policy-type"] == "sts" and pol["policy"]["policy-domain"] == f"{label}.rpt.test"
                reports[label] = pol
            assert a.stop() == 0

        def failures(label, rtype):
            pol = reports[label]
            fails = pol.get("failure-details", [])
            assert pol["summary"]["total-failure-session-count"] == sum(f["failed-session-count"] for f in fails)
            got = [f for f in fails if f["result-type"] == rtype]
            assert got, (label, rtype, pol)
            for f in fails:     # both ends of every failed session
                assert f["sending-mta-ip"] == "127.0.0.1" and f["receiving-ip"].startswith("127.0.0."), f
            return got

        # testing, a certificate for another name: delivered, and counted as enforce would
        f = failures("testbad", "certificate-host-mismatch")
        assert f[0]["receiving-mx-hostname"] == "mx2.rpt.test" and f[0]["receiving-ip"] == "127.0.0.1", f
        assert reports["testbad"]["summary"]["total-successful-session-count"] == 0, reports["testbad"]
        assert "mode: testing" in reports["testbad"]["policy"]["policy-string"]
        # testing, all well: a success, no failure
        assert reports["testok"]["summary"] == {"total-successful-session-count": 1,
                                                "total-failure-session-count": 0}, reports["testok"]
        # testing, the MX not named: delivered, counted
        f = failures("testunnamed", "validation-failure")
        assert "not one of the MX hosts" in f[0]["failure-reason-code"], f
        # STARTTLS answered 454: counted under both modes (enforce retried: at least once)
        for label in ("enf454", "test454"):
            f = failures(label, "starttls-not-supported")
            assert f[0]["receiving-mx-hostname"] == "mx454.rpt.test" and f[0]["receiving-ip"] == "127.0.0.2", f
            assert "454" in f[0]["failure-reason-code"], f
            assert reports[label]["summary"]["total-successful-session-count"] == 0, reports[label]
        # testing, an expired certificate: delivered over that TLS, counted
        f = failures("testexpired", "certificate-expired")
        assert f[0]["receiving-mx-hostname"] == "mxexpired.rpt.test" and f[0]["receiving-ip"] == "127.0.0.3", f
        # testing, STARTTLS not offered: delivered in plaintext, counted
        f = failures("testnotls", "starttls-not-supported")
        assert f[0]["receiving-ip"] == "127.0.0.4" and "does not offer STARTTLS" in f[0]["failure-reason-code"], f
        # enforce, the MX not named: skipped before connecting, and still where it would have gone
        f = failures("enfunnamed", "validation-failure")
        assert f[0]["receiving-mx-hostname"] == "mx.example.test" and f[0]["receiving-ip"] == "127.0.0.1", f
    finally:
        if dns:
            dns.close()
        end_process(web)
        for fake in fakes:
            end_process(fake)
        mx.stop()
        mx.cleanup()
        shutil.rmtree(d, ignore_errors=True)
