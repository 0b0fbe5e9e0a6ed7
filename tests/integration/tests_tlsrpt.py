"""TLS-RPT (RFC 8460): the daily aggregate report of what direct MX delivery met under DANE,
against real peers started here: a zone signed with Debian's ldns tools and served by unbound,
with _smtp._tls records naming a mailto: rua (received by a mailport MX, the recording sink
for mail) and an https: rua (python3's http.server wrapped in TLS, recording the POST); each
report checked against a JSON Schema written from RFC 8460 4 with Debian's python3-jsonschema."""
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

from harness import BIN, Server, Skip, crypt_hash, free_port, need
from pki import path
from tests_dane import SOA, AuthDNS, check_mx, sign, spki_sha256, submit, wait_log

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tlsrpt.schema.json")

SINK = r"""
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "wb") as f:
            f.write(self.headers.get("Content-Type", "").encode() + b"\n" + body)
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
            for _ in range(100):
                if os.path.exists(posted):
                    break
                time.sleep(0.1)
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
