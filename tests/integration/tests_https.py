"""The settings published for mail clients, and the metrics (issue 20). `serve` with [https]
listen publishes, for each local domain: Thunderbird's autoconfig (validated by xmllint against
autoconfig.xsd, written from the published format, and read back by `mailport check`'s own
discovery through a local DNS), Outlook's Autodiscover POX (parsed by python3 xml.etree), an
Apple profile (signed: openssl cms verifies it; python3 plistlib reads it), and the MTA-STS
policy at mta-sts.DOMAIN, which a sending mailport fetches and enforces. [metrics] listen
serves Prometheus text: promtool finds no format problem and a real Prometheus scrapes it.
Hostile HTTP clients (oversized headers, garbage, a client that never finishes its request) are
bounded and the server goes on."""
import json
import os
import plistlib
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from harness import BIN, Server, Skip, crypt_hash, free_port, need, wait_for
from pki import path
from tests_mx import DNS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
AD_REQ = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
          'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>{}</EMailAddress>'
          '<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
          '</AcceptableResponseSchema></Request></Autodiscover>')
NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def web_server(extra=""):
    hp, mp = free_port(), free_port()
    srv = Server(tls=True, extra=f"\n[tls]\ncert = {path('web.pem')}\nkey = {path('web.key')}\n"
                                 f"\n[https]\nlisten = 127.0.0.1:{hp}\nimap = imap.example.test:993\n{extra}"
                                 f"\n[metrics]\nlisten = 127.0.0.1:{mp}\n")
    srv.https, srv.metrics = hp, mp
    return srv


def curl(srv, host, urlpath, *extra):
    """(status, content type, body) of https://host/urlpath on the server's HTTPS port."""
    r = subprocess.run(["curl", "-sS", "--cacert", srv.ca, "--resolve", f"{host}:{srv.https}:127.0.0.1",
                        "-w", "\n%{http_code} %{content_type}", *extra, f"https://{host}:{srv.https}{urlpath}"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition(b"\n")
    code, _, ctype = tail.decode().partition(" ")
    return int(code), ctype, body


def test_autoconfig_autodiscover_profile_and_mta_sts():
    need("curl")
    need("xmllint")
    with web_server("mta_sts_mode = enforce\nmta_sts_max_age = 1d\n") as srv:
        srv.start()
        # Thunderbird: 465 implicit TLS first, then 587 STARTTLS, the full address as user name
        code, ctype, body = curl(srv, "autoconfig.example.test", "/mail/config-v1.1.xml?emailaddress=alice%40example.test")
        assert code == 200 and ctype.startswith("application/xml"), (code, ctype, body)
        xml = os.path.join(srv.dir, "config-v1.1.xml")
        with open(xml, "wb") as f:
            f.write(body)
        r = subprocess.run(["xmllint", "--noout", "--schema", os.path.join(HERE, "autoconfig.xsd"), xml],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        root = ET.fromstring(body)
        out = [(s.findtext("port"), s.findtext("socketType"), s.findtext("hostname"), s.findtext("username"))
               for s in root.iter("outgoingServer")]
        assert out == [(str(srv.port465), "SSL", "mx.example.test", "%EMAILADDRESS%"),
                       (str(srv.port587), "STARTTLS", "mx.example.test", "%EMAILADDRESS%")], out
        inc = root.find("emailProvider/incomingServer")
        assert inc.findtext("hostname") == "imap.example.test" and inc.findtext("socketType") == "SSL"
        # one request per connection
        r = subprocess.run(["curl", "-sS", "-i", "--cacert", srv.ca, "--resolve", f"mta-sts.example.test:{srv.https}:"
                            "127.0.0.1", f"https://mta-sts.example.test:{srv.https}/.well-known/mta-sts.txt"],
                           capture_output=True, text=True, timeout=30)
        assert "\nConnection: close\n" in r.stdout.replace("\r\n", "\n"), r.stdout
        # the .well-known path on the domain's own name, and only for local domains
        assert curl(srv, "mx.example.test", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress="
                    "bob%40example.test")[0] == 200
        assert curl(srv, "mx.example.test", "/mail/config-v1.1.xml?emailaddress=x%40elsewhere.test")[0] == 404
        assert curl(srv, "mx.example.test", "/mail/config-v1.1.xml")[0] == 404

        # Outlook: Autodiscover POX answered for the address asked, by an independent parser
        code, ctype, body = curl(srv, "autodiscover.example.test", "/autodiscover/autodiscover.xml", "--data",
                                 AD_REQ.format("alice@example.test"), "-H", "Content-Type: text/xml")
        assert code == 200, (code, body)
        acct = ET.fromstring(body).find(f"{NS}Response/{NS}Account")
        protos = {p.findtext(f"{NS}Type"): p for p in acct.findall(f"{NS}Protocol")}
        smtp = protos["SMTP"]
        assert (smtp.findtext(f"{NS}Server"), smtp.findtext(f"{NS}Port"), smtp.findtext(f"{NS}Encryption"),
                smtp.findtext(f"{NS}LoginName"), smtp.findtext(f"{NS}SPA")) == (
                    "mx.example.test", str(srv.port465), "SSL", "alice@example.test", "off")
        assert protos["IMAP"].findtext(f"{NS}Port") == "993"
        assert curl(srv, "autodiscover.example.test", "/Autodiscover/Autodiscover.xml")[0] == 405
        assert curl(srv, "autodiscover.example.test", "/autodiscover/autodiscover.xml", "--data", "<x")[0] == 400
        assert curl(srv, "autodiscover.example.test", "/autodiscover/autodiscover.xml", "--data",
                    AD_REQ.format("eve@elsewhere.test"))[0] == 404

        # Apple: a configuration profile with the account, signed with the server's certificate
        # (openssl cms verifies it against the CA), the plist inside parsed by plistlib
        def profile():
            code, ctype, body = curl(srv, "mx.example.test", "/apple/mail.mobileconfig?email=alice%40example.test")
            assert code == 200 and ctype == "application/x-apple-aspen-config", (code, ctype)
            r = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-CAfile", srv.ca, "-purpose", "any"],
                               input=body, capture_output=True, timeout=30)
            assert r.returncode == 0 and b"Verification successful" in r.stderr, r.stderr
            return plistlib.loads(r.stdout)
        prof = profile()
        acct = prof["PayloadContent"][0]
        assert prof["PayloadType"] == "Configuration" and acct["PayloadType"] == "com.apple.mail.managed"
        assert (acct["OutgoingMailServerHostName"], acct["OutgoingMailServerPortNumber"],
                acct["OutgoingMailServerUseSSL"], acct["OutgoingMailServerUsername"]) == (
                    "mx.example.test", srv.port465, True, "alice@example.test")
        assert acct["IncomingMailServerPortNumber"] == 993 and acct["IncomingMailServerUseSSL"] is True
        assert profile()["PayloadUUID"] == prof["PayloadUUID"]      # installing it again replaces it

        # MTA-STS (RFC 8461): at mta-sts.DOMAIN only, mode and max_age from the config
        code, ctype, body = curl(srv, "mta-sts.example.test", "/.well-known/mta-sts.txt")
        assert code == 200 and ctype.startswith("text/plain"), (code, ctype)
        assert body == b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n", body
        assert curl(srv, "autoconfig.example.test", "/.well-known/mta-sts.txt")[0] == 404
        # TLS 1.2 minimum here too
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.https}", "-tls1_1"],
                           input="", capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "http https address=127.0.0.1 host=mta-sts.example.test path=/.well-known/mta-sts.txt code=200" in srv.log()
        assert srv.stop() == 0


def test_check_reads_the_published_autoconfig():
    """mailport check ADDRESS finds the server through the autoconfig file mailport publishes
    (a local DNS says where autoconfig.example.test is; no SRV records) and probes its ports."""
    need("unbound")
    need("dig")
    with web_server() as srv:
        srv.start()
        d = tempfile.mkdtemp(prefix="mailport-https-dns-")
        dns = DNS(d, '  local-zone: "." static\n  local-data: "example.test. 3600 IN MX 10 mx.example.test."\n'
                     '  local-data: "mx.example.test. 3600 IN A 127.0.0.1"\n'
                     '  local-data: "autoconfig.example.test. 3600 IN A 127.0.0.1"\n',
                  ("example.test", "MX", "mx.example.test."))
        try:
            r = subprocess.run([BIN, "check", "--json", "--resolver", f"127.0.0.1:{dns.port}", "--cafile", srv.ca,
                                "--connect-to", f"autoconfig.example.test:443:127.0.0.1:{srv.https}",
                                "--connect-to", f"mx.example.test:25:127.0.0.1:{srv.port}", "alice@example.test"],
                               capture_output=True, text=True, timeout=120)
            doc = json.loads(r.stdout)
            disc = doc["discovery"]
            assert disc["source"] == "autoconfig", disc
            assert [(p["port"], p["role"], p["source"]) for p in doc["ports"]][:2] == [
                (srv.port465, "submissions", "autoconfig"), (srv.port587, "submission", "autoconfig")], doc["ports"]
            assert all(p["verdict"] == "ok" for p in doc["ports"]), doc["ports"]
        finally:
            dns.close()
        assert srv.stop() == 0


def test_metrics_promtool_and_prometheus():
    import smtplib
    import ssl
    r = subprocess.run([os.path.join(REPO, "scripts", "peer-prometheus")], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Skip("prometheus package not available: " + r.stderr[-200:])
    root = os.path.join(REPO, r.stdout.strip())
    with web_server() as srv:
        srv.start()
        ctx = ssl.create_default_context(cafile=srv.ca)
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
            try:            # smtplib tries PLAIN, then LOGIN: two failed attempts
                c.login("alice@example.test", "wrong")
            except smtplib.SMTPAuthenticationError:
                pass
            c.login("alice@example.test", "secret")
            c.sendmail("alice@example.test", ["bob@example.test"], "Subject: m\r\n\r\nmetrics\r\n")
        srv.wait_messages("bob", 1)
        text = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{srv.metrics}/metrics"], capture_output=True,
                              text=True, timeout=30).stdout
        r = subprocess.run([os.path.join(root, "usr/bin/promtool"), "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        for line in ['mailport_sessions_total{role="submissions"} 1', 'mailport_auth_total{result="ok"} 1',
                     'mailport_auth_total{result="failed"} 2', 'mailport_messages_accepted_total{role="submissions"} 1',
                     'mailport_deliveries_total{result="delivered"} 1', "mailport_queue_messages 0"]:
            assert line + "\n" in text, (line, text)
        assert 'mailport_tls_handshakes_total{version="TLSv1.3",cipher="TLS_AES_256_GCM_SHA384"} 1' in text, text
        assert "mailport_journal_commit_batch_messages_count 1" in text, text
        # the metrics port is plain HTTP on its own address and serves nothing else
        assert subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                               f"http://127.0.0.1:{srv.metrics}/mail/config-v1.1.xml"],
                              capture_output=True, text=True, timeout=30).stdout == "404"

        # a real Prometheus scrapes it
        d = tempfile.mkdtemp(prefix="mailport-prom-")
        pport = free_port()
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mailport\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{srv.metrics}']\n")
        prom = subprocess.Popen([os.path.join(root, "usr/bin/prometheus"), f"--config.file={d}/prometheus.yml",
                                 f"--storage.tsdb.path={d}/data", f"--web.listen-address=127.0.0.1:{pport}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            value = None
            deadline = time.time() + 60
            while time.time() < deadline and value is None:
                time.sleep(0.25)
                q = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{pport}/api/v1/query?query="
                                    "mailport_messages_accepted_total%7Brole%3D%22submissions%22%7D"],
                                   capture_output=True, text=True, timeout=10)
                try:
                    res = json.loads(q.stdout)["data"]["result"]
                except (ValueError, KeyError):
                    continue
                if res:
                    value = res[0]["value"][1]
            assert value == "1", value
            q = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{pport}/api/v1/query?query=up"],
                               capture_output=True, text=True, timeout=10)
            assert json.loads(q.stdout)["data"]["result"][0]["value"][1] == "1", q.stdout
        finally:
            prom.terminate()
            prom.wait(timeout=30)
        assert srv.stop() == 0


def test_hostile_http_clients():
    with web_server() as srv:
        srv.start()

        def raw(data, wait=5):
            s = socket.create_connection(("127.0.0.1", srv.metrics), timeout=wait)
            s.sendall(data)
            got = b""
            try:
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    got += b
            except socket.timeout:
                got += b"<timeout>"
            s.close()
            return got

        # headers past the bound, garbage, a pipelined request after garbage: refused, closed
        big = raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert big == b"" or big.split(b" ")[1] in (b"400", b"413", b"431"), big[:100]
        garbage = raw(b"\x16\x03\x01\x00\xff garbage\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n")
        assert garbage == b"" or garbage.startswith(b"HTTP/1.1 400") or garbage.startswith(b"HTTP/1.0 400"), garbage[:100]
        assert b"mailport_" not in garbage
        # a client that sends half a request and stops is dropped after the timeout
        t = time.time()
        slow = raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", wait=30)
        assert b"<timeout>" not in slow and time.time() - t < 25, (slow[:100], time.time() - t)
        # plaintext to the HTTPS port: no answer in the clear
        s = socket.create_connection(("127.0.0.1", srv.https), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except (socket.timeout, ConnectionResetError):
            data = b""
        assert b"HTTP/1.1 200" not in data
        s.close()
        # and still serving
        r = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{srv.metrics}/metrics"], capture_output=True, timeout=30)
        assert b"mailport_sessions_total" in r.stdout
        # a flood of idle HTTPS connections: past 256 open at once, a new one's handshake fails at
        # its first message; the mail ports are not starved, and once the flood ends HTTPS serves
        # again
        idle = [socket.create_connection(("127.0.0.1", srv.https), timeout=10) for _ in range(260)]
        # the server has taken 256 of them when it refuses one of ours past them
        wait_for(lambda: "https connection refused: 256 HTTPS connections open already" in srv.log(), 30,
                 lambda: srv.log()[-3000:])
        r = subprocess.run(["curl", "-sS", "--cacert", srv.ca, "--resolve", f"mta-sts.example.test:{srv.https}:127.0.0.1",
                            f"https://mta-sts.example.test:{srv.https}/.well-known/mta-sts.txt"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, r.stdout
        assert "https connection refused: 256 HTTPS connections open already" in srv.log()
        import smtplib
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            assert c.noop()[0] == 250
        for x in idle:
            x.close()

        def serves():               # once the server has read the closes, its slots are free
            try:
                return curl(srv, "mta-sts.example.test", "/.well-known/mta-sts.txt")[0] == 200
            except AssertionError:
                return False
        wait_for(serves, 30, lambda: srv.log()[-3000:])
        code, _, body = curl(srv, "mta-sts.example.test", "/.well-known/mta-sts.txt")
        assert code == 200 and body.startswith(b"version: STSv1"), (code, body)
        assert srv.stop() == 0


def test_https_config_errors():
    hp = free_port()
    with Server(tls=True, extra=f"\n[https]\nlisten = 127.0.0.1:{hp}\nmta_sts_mode = strict\nimap = nope\n") as srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(timeout=30) == 78
        log = srv.log()
        assert f"mailport.conf:{srv.conf_line('mta_sts_mode')}: [https] mta_sts_mode: \"strict\" is not" in log, log
        assert f"mailport.conf:{srv.conf_line('imap = nope')}: [https] imap: \"nope\" is not HOST:PORT" in log, log


def test_dns_lists_the_names_https_serves():
    """mailport dns: with [https] the autoconfig., autodiscover. and mta-sts. names (CNAMEs to the
    host), the _mta-sts TXT record (the policy is served now) and the IMAP SRV record are to be
    published; without it they are commented out."""
    with web_server() as srv:
        r = subprocess.run([BIN, "dns", "example.test", "--config", srv.conf], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        for rec in ("autoconfig.example.test. 3600 IN CNAME mx.example.test.",
                    "autodiscover.example.test. 3600 IN CNAME mx.example.test.",
                    "mta-sts.example.test. 3600 IN CNAME mx.example.test.",
                    "_imaps._tcp.example.test. 3600 IN SRV 0 1 993 imap.example.test.",
                    "_submissions._tcp.example.test. 3600 IN SRV 0 1 465 mx.example.test."):
            assert "\n" + rec in r.stdout, (rec, r.stdout)
        assert "\n_mta-sts.example.test. 3600 IN TXT \"v=STSv1; id=" in r.stdout, r.stdout
    with Server(tls=True) as srv:
        r = subprocess.run([BIN, "dns", "example.test", "--config", srv.conf], capture_output=True, text=True,
                           timeout=30)
        assert "; autoconfig.example.test. 3600 IN CNAME" in r.stdout and "; _mta-sts.example.test." in r.stdout, \
            r.stdout


def test_mailport_sender_enforces_the_policy_mailport_serves():
    """End to end, mailport on both sides: the receiving server publishes its own MTA-STS policy
    (mode enforce, mx = its host name) on [https]; a sending mailport, told by DNS that the
    domain has a policy (_mta-sts TXT), fetches it from there and delivers only over TLS with
    the MX certificate verified against the policy (tls=mta-sts-verified)."""
    need("dig")
    from pki import make_cert, pki
    from tests_dane import AuthDNS, submit, wait_log
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-sts-own-")
    os.chmod(d, 0o755)
    cert, key = make_cert(pki(), "stsown", ["DNS:mta-sts.stsown.test"])
    hp, mport = free_port(), free_port()
    mx = Server(tls=True, listen=f"127.0.0.1:{mport}", domains="stsown.test", users=[f"u@stsown.test:{h}"],
                extra=f"\n[tls]\ncert = {cert}\nkey = {key}\n\n[https]\nlisten = 127.0.0.1:{hp}\n"
                      "mta_sts_mode = enforce\n")
    with open(os.path.join(d, "stsown.test"), "w") as f:
        f.write("$ORIGIN stsown.test.\n@ 300 IN SOA ns.stsown.test. admin.stsown.test. 1 3600 600 86400 300\n"
                "@ 300 IN NS ns.stsown.test.\nns 300 IN A 127.0.0.1\n@ 300 IN MX 10 mx.example.test.\n"
                "mta-sts 300 IN A 127.0.0.1\n_mta-sts 300 IN TXT \"v=STSv1; id=1;\"\n")
    with open(os.path.join(d, "example.test"), "w") as f:
        f.write("$ORIGIN example.test.\n@ 300 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
                "@ 300 IN NS ns.example.test.\nns 300 IN A 127.0.0.1\nmx 300 IN A 127.0.0.1\n")
    dns = None
    try:
        mx.start()
        dns = AuthDNS(d, [("stsown.test", os.path.join(d, "stsown.test")), ("example.test", os.path.join(d, "example.test"))],
                      probe=("stsown.test", "MX", "mx.example.test."))
        extra = (f"\n[relay]\nmx_port = {mport}\nretry_schedule = 1s\ntimeout = 5s\ndnssec_trust_anchor = none\n"
                 f"mta_sts_port = {hp}\nmta_sts_ca_file = {path('ca.pem')}\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, ["u@stsown.test"])
            mx.wait_messages("u", 1, domain="stsown.test")
            wait_log(a, f"delivered to=<u@stsown.test> relay=mx.example.test[127.0.0.1]:{mport} tls=mta-sts-verified")
            assert a.stop() == 0
        assert "http https address=127.0.0.1 host=mta-sts.stsown.test path=/.well-known/mta-sts.txt code=200" in mx.log()
    finally:
        if dns is not None:
            dns.close()
        mx.stop()
        mx.cleanup()
