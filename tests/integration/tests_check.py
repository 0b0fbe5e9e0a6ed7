"""`mailport check` against servers it did not write: mailport itself, a private Postfix with
STARTTLS only, openssl s_server (expired, self-signed, wrong-host, TLS 1.0-only), a plaintext
server offering AUTH before TLS, a closed port, a silent port, a filtered port, and discovery
through a local DNS server (unbound: SRV, MX) and a local HTTPS autoconfig server. Every case
has an expected verdict; the JSON is checked field by field."""
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from fakesmtp import FakeSMTP
from harness import BIN, Server, free_port, need, wait_for, wait_listening
from pki import make_cert, path, pki
from tests_mx import DNS


def check(*args, timeout=3, expect_exit=None):
    """Run mailport check --json; returns (exit code, document)."""
    r = subprocess.run([BIN, "check", "--json", "--timeout", str(timeout), *args], capture_output=True, text=True,
                       timeout=120)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {r.returncode}): {r.stdout!r} {r.stderr!r}")
    assert doc["schema"] == "mailport-check" and doc["version"] == 1, doc
    assert doc["exit"] == r.returncode, (doc["exit"], r.returncode)
    if expect_exit is not None:
        assert r.returncode == expect_exit, (r.returncode, json.dumps(doc, indent=1))
    return r.returncode, doc


def codes(port):
    return {r["code"]: r["severity"] for r in port["reasons"]}


def password_file(d, pw):
    p = os.path.join(d, "pw")
    with open(p, "w") as f:
        f.write(pw + "\n")
    os.chmod(p, 0o600)
    return p


class SServer:
    """openssl s_server on a loopback port, its stdin/stdout driven like a minimal SMTP server
    (greeting per connection, EHLO, QUIT); each connection is handled in turn."""

    def __init__(self, cert, key, *extra):
        need("openssl")
        self.port = free_port()
        self.proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", cert,
                                      "-key", key, "-quiet", "-crlf", *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # s_server sends what arrives on its stdin to the connected client: the greeting waits
        # there for the first session (the probe), which starts once the port listens.
        self.say("220 s-server.test ESMTP openssl")
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        wait_listening(self.port, self.proc)

    def say(self, line):
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            self.lines.append(line)
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                self.say("250-s-server.test\n250 8BITMIME")
            elif verb == "QUIT":
                self.say("221 bye")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def test_check_mailport_all_ports_and_login():
    with Server(tls=True) as s:
        s.start()
        d = tempfile.mkdtemp(prefix="mailport-check-")
        try:
            pw = password_file(d, "secret")
            rc, doc = check("--port", f"{s.port465}/submissions,{s.port587}/submission,{s.port}/smtp",
                            "--cafile", s.ca, "--user", "alice@example.test", "--password-file", pw, "--relay-test",
                            "127.0.0.1", expect_exit=0)
        finally:
            shutil.rmtree(d)
        p465, p587, p25 = doc["ports"]
        assert doc["kind"] == "host" and doc["discovery"] is None
        for p in (p465, p587, p25):
            assert p["reach"] == "connected" and p["address"] == "127.0.0.1", p
            assert p["verdict"] == "ok", p
            assert p["greeting"]["code"] == 220 and "mx.example.test" in p["greeting"]["text"]
            assert p["tls"]["version"] == "TLSv1.3" and p["tls"]["group"] == "x25519", p["tls"]
            c = p["certificate"]
            assert c["chain_valid"] and c["host_match"] and not c["expired"], c
            assert c["key_type"] == "EC" and c["key_bits"] == 256 and c["signature"] == "ecdsa-with-SHA256", c
            assert 0 < c["days_left"] <= 30 and c["chain_error"] is None, c
            assert p["tls_versions"] == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
            assert p["secure"] is True
        assert p465["speaks"] == "tls" and p465["ehlo_before_tls"] is None and p465["starttls"] is None
        assert p587["speaks"] == "plaintext" and p587["ehlo_before_tls"]["auth"] == []
        assert p587["ehlo_before_tls"]["starttls"] and p587["starttls"] == {"offered": True, "reply": 220}
        for p in (p465, p587):
            assert p["ehlo_after_tls"]["auth"] == ["PLAIN", "LOGIN"], p["ehlo_after_tls"]
            assert p["login"]["tested"] and p["login"]["ok"] and p["login"]["code"] == 235, p["login"]
            assert codes(p) == {"login-ok": "info", "auth-mechanisms": "info"}, p["reasons"]
            assert p["ehlo_after_tls"]["auth_strength"] == {"PLAIN": "password", "LOGIN": "password"}
            words = [r["text"] for r in p["reasons"] if r["code"] == "auth-mechanisms"][0]
            assert "PLAIN, LOGIN (the password itself, protected only by TLS" in words, words
        assert p25["ehlo_after_tls"]["auth"] == [] and p25["login"] == {"tested": False, "why_not": None}
        assert p25["relay_test"]["tested"] and not p25["relay_test"]["open"], p25["relay_test"]
        assert p25["relay_test"]["code"] == 550 and codes(p25) == {"no-open-relay": "info"}
        rec = doc["recommendation"]
        assert rec["port"] == s.port465 and rec["security"] == "implicit-tls", rec
        assert rec["text"].startswith(f"Use port {s.port465} with SSL/TLS (implicit TLS 1.3, valid certificate, "
                                      f"login works). Port {s.port587} with STARTTLS also works."), rec
        # Never anything about the password in the server's log (the check sent it, inside TLS).
        assert "secret" not in s.log()
        # The human report: one verdict per port and the advice, no colour when not on a tty.
        # (A port other than 465/587/25 without a role: its role is what it turns out to speak.)
        r = subprocess.run([BIN, "check", "--port", f"{s.port465},{s.port587}/starttls", "--cafile", s.ca,
                            "--timeout", "2", "localhost"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "\033[" not in r.stdout, r.stdout
        assert f"Port {s.port465} on localhost (submissions, implicit TLS)  OK" in r.stdout, r.stdout
        assert f"Port {s.port587} on localhost (submission, STARTTLS)  OK" in r.stdout, r.stdout
        assert f"Recommendation: Use port {s.port465} with SSL/TLS" in r.stdout, r.stdout
        assert 'Never choose "no encryption"' in r.stdout
        s.stop()


def test_check_wrong_password_and_untrusted_ca():
    with Server(tls=True) as s:
        s.start()
        d = tempfile.mkdtemp(prefix="mailport-check-")
        try:
            pw = password_file(d, "not-the-password")
            # A wrong password is the user's problem: the server works (its port is still the one
            # to use), the login was refused, and the exit status says exactly that (77).
            rc, doc = check("--port", f"{s.port465}/submissions,{s.port587}/submission", "--cafile", s.ca,
                            "--user", "alice@example.test", "--password-file", pw, "127.0.0.1", expect_exit=77)
            for p in doc["ports"]:
                assert p["verdict"] == "warning" and codes(p)["login-failed"] == "warning", p["reasons"]
                assert p["login"]["code"] == 535 and not p["secure"], p["login"]
            assert doc["recommendation"]["port"] == s.port465, doc["recommendation"]
            assert "The server works, but it refused your login (535" in doc["recommendation"]["text"]
            assert "not-the-password" not in s.log()
            # Without our CA the system store does not trust the test CA: no password is sent.
            before = s.log().count("AUTH")
            rc, doc = check("--port", f"{s.port465}/submissions", "--user", "alice@example.test",
                            "--password-file", pw, "127.0.0.1", expect_exit=1)
            p = doc["ports"][0]
            # the chain ends in a CA this machine does not know: the advice is --cafile
            assert codes(p)["cert-private-ca"] == "broken" and codes(p)["login-not-tested"] == "warning", p
            assert "run the check with --cafile FILE" in [r["text"] for r in p["reasons"]
                                                           if r["code"] == "cert-private-ca"][0]
            assert p["login"]["tested"] is False and "password was not sent" in p["login"]["why_not"], p["login"]
            assert p["certificate"]["chain_valid"] is False and p["certificate"]["host_match"] is True
            assert "Do not send a password to it" in doc["recommendation"]["text"]
            assert s.log().count("AUTH") == before
            # The password file is read as send reads it (cli/secret.c): one every user may read
            # still works, with the same warning and fix.
            os.chmod(pw, 0o644)
            r = subprocess.run([BIN, "check", "--json", "--timeout", "3", "--port", f"{s.port465}/submissions",
                                "--cafile", s.ca, "--user", "alice@example.test", "--password-file", pw, "127.0.0.1"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 77, (r.returncode, r.stderr)
            assert (f"mailport check: warning: {pw} is readable by every user on this machine (mode 0644); "
                    f"protect it with: chmod 600 {pw}") in r.stderr, r.stderr
        finally:
            shutil.rmtree(d)
        s.stop()


def test_check_client_settings_on_the_wrong_port():
    """The classic mistakes: implicit TLS on a port the client treats as STARTTLS and back."""
    with Server(tls=True) as s:
        s.start()
        rc, doc = check("--port", f"{s.port465}/submission,{s.port587}/submissions", "--cafile", s.ca, "127.0.0.1",
                        timeout=2, expect_exit=0)
        tls_first, plain_first = doc["ports"]
        assert tls_first["speaks"] == "tls" and tls_first["verdict"] == "warning", tls_first
        assert codes(tls_first) == {"implicit-tls-on-starttls-port": "warning"}, tls_first["reasons"]
        assert plain_first["speaks"] == "plaintext" and plain_first["verdict"] == "warning", plain_first
        assert codes(plain_first) == {"starttls-on-implicit-port": "warning"}, plain_first["reasons"]
        assert plain_first["tls"]["version"] == "TLSv1.3" and plain_first["secure"]
        s.stop()


def test_check_postfix_starttls_only():
    from postfix import Postfix
    pf = Postfix()
    try:
        rc, doc = check("--port", f"{pf.port_starttls}/submission,{pf.port_tls}/submissions", "--cafile",
                        path("ca.pem"), "localhost", expect_exit=0)
        st, impl = doc["ports"]
        assert st["speaks"] == "plaintext" and st["greeting"]["text"].startswith("pf.example.test ESMTP"), st
        assert st["starttls"] == {"offered": True, "reply": 220} and st["ehlo_before_tls"]["auth"] == []
        assert st["tls"]["version"] == "TLSv1.3" and st["certificate"]["chain_valid"], st
        assert st["ehlo_after_tls"]["pipelining"] and st["ehlo_after_tls"]["size"] == 10240000, st["ehlo_after_tls"]
        # This Postfix has no SASL: a warning, not a failure (it may relay for known networks).
        # Postfix 3.7's default smtpd_tls_protocols still takes TLS 1.0 and 1.1: found and said.
        assert st["verdict"] == "warning", st["reasons"]
        assert codes(st) == {"no-auth": "warning", "tls-old-versions": "warning"}, st["reasons"]
        assert st["tls_versions"] == {"TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": True}
        assert impl["speaks"] == "tls" and impl["secure"], impl
        rec = doc["recommendation"]
        assert rec["port"] == pf.port_tls and rec["security"] == "implicit-tls", rec
        assert f"Port {pf.port_starttls} with STARTTLS also works" in rec["text"], rec
        # STARTTLS only: the same Postfix port, asked only about itself.
        rc, doc = check("--port", f"{pf.port_starttls}/submission", "--cafile", path("ca.pem"), "localhost",
                        expect_exit=0)
        assert doc["recommendation"]["security"] == "starttls", doc["recommendation"]
        assert doc["recommendation"]["text"].startswith(f"Use port {pf.port_starttls} with STARTTLS (TLS 1.3")
    finally:
        pf.close()


def test_check_openssl_bad_certificates():
    d = pki()
    self_key, self_crt = os.path.join(d, "selfsigned.key"), os.path.join(d, "selfsigned.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", self_key, "-out", self_crt, "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "30"], check=True, capture_output=True)
    cases = [
        ("expired", (path("expired.pem"), path("expired.key")), "cert-expired"),
        ("self-signed", (self_crt, self_key), "cert-self-signed"),
        ("wrong-host", (path("other.pem"), path("other.key")), "cert-wrong-host"),
    ]
    for name, (crt, key), code in cases:
        srv = SServer(crt, key)
        try:
            rc, doc = check("--port", f"{srv.port}/submissions", "--cafile", path("ca.pem"), "127.0.0.1",
                            expect_exit=1)
        finally:
            srv.close()
        p = doc["ports"][0]
        assert p["speaks"] == "tls" and p["greeting"]["text"] == "s-server.test ESMTP openssl", (name, p)
        assert p["verdict"] == "broken" and codes(p).get(code) == "broken", (name, p["reasons"])
        assert not p["secure"] and doc["recommendation"]["port"] is None, name
        assert "No secure way to submit mail" in doc["recommendation"]["text"], doc["recommendation"]
        c = p["certificate"]
        if name == "expired":
            assert c["expired"] and c["days_left"] < -365 and c["not_after"] == "2020-02-01T00:00:00Z", c
        if name == "wrong-host":
            assert c["chain_valid"] and not c["host_match"] and c["names"] == "other.example.test", c
        if name == "self-signed":
            assert not c["chain_valid"] and c["host_match"], c


def test_check_openssl_tls10_only():
    srv = SServer(path("server.pem"), path("server.key"), "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
    try:
        rc, doc = check("--port", f"{srv.port}/submissions", "--cafile", path("ca.pem"), "127.0.0.1", expect_exit=1)
    finally:
        srv.close()
    p = doc["ports"][0]
    assert p["speaks"] == "tls" and p["tls"] is None, p
    assert p["tls_versions"] == {"TLSv1": True, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": False}, p
    assert p["verdict"] == "broken" and codes(p)["tls-too-old"] == "broken", p["reasons"]
    assert "TLS 1.0" in [r for r in p["reasons"] if r["code"] == "tls-too-old"][0]["text"]


def test_check_plaintext_server_with_auth_before_tls():
    def script(n, cmd):
        if cmd == "EHLO":
            return "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"
        return None
    fake = FakeSMTP(script=script)
    d = tempfile.mkdtemp(prefix="mailport-check-")
    try:
        pw = password_file(d, "hunter2")
        rc, doc = check("--port", f"{fake.port}/submission,{fake.port}/submissions", "--user", "u@fake.test",
                        "--password-file", pw, "127.0.0.1", timeout=2, expect_exit=1)
        cmds = fake.commands()
    finally:
        fake.close()
        shutil.rmtree(d)
    sub, subs = doc["ports"]
    assert sub["speaks"] == "plaintext" and sub["starttls"] == {"offered": False, "reply": None}, sub
    assert sub["ehlo_before_tls"]["auth"] == ["PLAIN", "LOGIN"] and sub["tls"] is None
    assert codes(sub) == {"auth-before-tls": "warning", "no-starttls": "broken"}, sub["reasons"]
    assert sub["login"]["tested"] is False and "without TLS" in sub["login"]["why_not"], sub["login"]
    assert subs["speaks"] == "plaintext" and codes(subs)["starttls-on-implicit-port"] == "warning"
    # The password never went over plaintext.
    assert not any(c.upper().startswith("AUTH") for c in cmds), cmds
    assert not any("hunter2" in c for c in cmds)
    assert "No secure way" in doc["recommendation"]["text"] and doc["recommendation"]["port"] is None


def test_check_slow_greeting_on_a_port_of_unknown_role():
    """A port given without a role is tried as TLS after a short silence; a server that only
    greets slowly (a greet pause, as postscreen does) is still found to be plaintext SMTP."""
    fake = FakeSMTP(starttls_cert=(path("server.pem"), path("server.key")), greet_delay=2.5)
    try:
        rc, doc = check("--port", str(fake.port), "--cafile", path("ca.pem"), "127.0.0.1", timeout=8, expect_exit=0)
    finally:
        fake.close()
    p = doc["ports"][0]
    # plaintext, STARTTLS, and no AUTH after it: what an MX looks like
    assert p["role"] == "smtp" and p["role_guessed"] is True, p
    assert p["speaks"] == "plaintext" and p["greeting"]["text"] == "fake.test ESMTP", p
    assert p["tls"]["version"] == "TLSv1.3" and p["starttls"] == {"offered": True, "reply": 220}, p
    assert p["secure"] is True, p


def test_check_closed_silent_and_filtered_ports():
    closed = free_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    # A full accept queue makes Linux drop SYNs: what a firewall dropping packets looks like.
    filtered = socket.socket()
    filtered.bind(("127.0.0.1", 0))
    filtered.listen(0)
    fill = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(filtered.getsockname())
        except BlockingIOError:
            pass
        fill.append(c)

    def queue_full():       # the first connection sits in the accept queue (rx_queue of a listener)
        port = f":{filtered.getsockname()[1]:04X}"
        with open("/proc/net/tcp") as f:
            return any(x.split()[1].endswith(port) and x.split()[3] == "0A" and int(x.split()[4].split(":")[1], 16) >= 1
                       for x in f.readlines()[1:])
    wait_for(queue_full, 30, "the filtered port's accept queue did not fill")
    try:
        t0 = time.time()
        rc, doc = check("--port", f"{closed}/submissions,{silent.getsockname()[1]}/submission,"
                        f"{filtered.getsockname()[1]}/submission", "127.0.0.1", timeout=2, expect_exit=2)
        elapsed = time.time() - t0
    finally:
        for c in fill:
            c.close()
        filtered.close()
        silent.close()
        for conn, _ in accepted:
            conn.close()
    c, s, f = doc["ports"]
    assert c["reach"] == "refused" and codes(c) == {"refused": "broken"}, c
    assert s["reach"] == "connected" and s["speaks"] == "unknown" and codes(s) == {"no-smtp": "broken"}, s
    assert f["reach"] == "timeout" and codes(f) == {"timeout": "broken"}, f
    assert "No mail submission service answered" in doc["recommendation"]["text"]
    # Probes run at once, each within its own bound (not the sum of three timeouts).
    assert elapsed < 15, elapsed


ZONE = """
  local-zone: "." static
  local-data: "_submissions._tcp.example.test. 3600 IN SRV 0 1 {p465} mx.example.test."
  local-data: "_submissions._tcp.example.test. 3600 IN SRV 10 1 {p465} backup.example.test."
  local-data: "_submission._tcp.example.test. 3600 IN SRV 0 0 0 ."
  local-data: "example.test. 3600 IN MX 10 mx.example.test."
  local-data: "mx.example.test. 3600 IN A 127.0.0.1"
  local-data: "auto.test. 3600 IN MX 10 mx.example.test."
  local-data: "autoconfig.auto.test. 3600 IN A 127.0.0.1"
  local-data: "wellknown.test. 3600 IN MX 10 mx.example.test."
  local-data: "wellknown.test. 3600 IN A 127.0.0.1"
  local-data: "guess.test. 3600 IN MX 10 mx.example.test."
"""

AUTOCONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <incomingServer type="imap"><hostname>imap.{domain}</hostname><port>993</port>
      <socketType>SSL</socketType></incomingServer>
    <outgoingServer type="smtp">
      <hostname>mx.example.test</hostname><port>{p465}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>mx.example.test</hostname><port>{p587}</port><socketType>STARTTLS</socketType>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


class HTTPS:
    """Python's http.server over TLS (test CA), serving files from a directory."""

    def __init__(self, directory, cert, key):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=directory, **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.requests = []
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_check_discovery_srv_autoconfig_and_mx():
    need("unbound")
    need("dig")
    with Server(tls=True) as s:
        s.start()
        d = tempfile.mkdtemp(prefix="mailport-check-dns-")
        dns = https = None
        try:
            dns = DNS(d, ZONE.format(p465=s.port465), ("example.test", "MX", "mx.example.test."))
            resolver = f"127.0.0.1:{dns.port}"
            to25 = f"mx.example.test:25:127.0.0.1:{s.port}"

            # 1. SRV (RFC 6186): _submissions points at the server, _submission says "." (not offered).
            rc, doc = check("--resolver", resolver, "--cafile", s.ca, "--connect-to", to25, "alice@example.test",
                            expect_exit=0)
            disc = doc["discovery"]
            assert doc["kind"] == "address" and disc["domain"] == "example.test" and disc["source"] == "srv", disc
            steps = {st["query"]: st["result"] for st in disc["steps"]}
            assert steps["_submission._tcp.example.test"].startswith('".": the domain says'), steps
            assert steps["_submissions._tcp.example.test"].startswith(f"mx.example.test port {s.port465} "
                                                                      "(priority 0"), steps
            assert [(p["host"], p["port"], p["role"], p["source"]) for p in doc["ports"]] == [
                ("mx.example.test", s.port465, "submissions", "srv"), ("mx.example.test", 25, "smtp", "mx")]
            assert all(p["verdict"] == "ok" for p in doc["ports"]), doc["ports"]
            assert doc["recommendation"]["host"] == "mx.example.test"
            assert doc["recommendation"]["port"] == s.port465

            # 2. No SRV: the autoconfig file at https://autoconfig.DOMAIN/ (HTTPS verified, test CA).
            www = os.path.join(d, "www")
            os.makedirs(os.path.join(www, "mail"))
            os.makedirs(os.path.join(www, ".well-known", "autoconfig", "mail"))
            for sub in ("mail", ".well-known/autoconfig/mail"):
                with open(os.path.join(www, sub, "config-v1.1.xml"), "w") as f:
                    f.write(AUTOCONFIG.format(domain="auto.test", p465=s.port465, p587=s.port587))
            crt, key = make_cert(pki(), "autoconfig",
                                 ["DNS:autoconfig.auto.test", "DNS:wellknown.test", "DNS:auto.test"])
            https = HTTPS(www, crt, key)
            rc, doc = check("--resolver", resolver, "--cafile", s.ca, "--connect-to", to25, "--connect-to",
                            f"autoconfig.auto.test:443:127.0.0.1:{https.port}", "bob@auto.test", expect_exit=0)
            disc = doc["discovery"]
            assert disc["source"] == "autoconfig", disc
            assert [st["source"] for st in disc["steps"]] == ["srv", "srv", "autoconfig", "mx"], disc["steps"]
            assert disc["steps"][2]["query"].startswith("https://autoconfig.auto.test/mail/config-v1.1.xml?"
                                                        "emailaddress=bob%40auto.test"), disc["steps"][2]
            assert [(p["port"], p["role"], p["source"]) for p in doc["ports"]] == [
                (s.port465, "submissions", "autoconfig"), (s.port587, "submission", "autoconfig"), (25, "smtp", "mx")]
            assert all(p["verdict"] == "ok" for p in doc["ports"]), doc["ports"]

            # 3. autoconfig.DOMAIN does not exist: the .well-known URL on the domain itself.
            rc, doc = check("--resolver", resolver, "--cafile", s.ca, "--connect-to", to25, "--connect-to",
                            f"wellknown.test:443:127.0.0.1:{https.port}", "carol@wellknown.test", expect_exit=0)
            disc = doc["discovery"]
            assert disc["source"] == "autoconfig", disc
            assert disc["steps"][2]["result"] == "the host does not exist", disc["steps"]
            assert disc["steps"][3]["query"] == "https://wellknown.test/.well-known/autoconfig/mail/config-v1.1.xml"

            # 4. Nothing published: the MX host is the guess, and the report says so.
            rc, doc = check("--resolver", resolver, "--cafile", s.ca, "--connect-to", to25, "--connect-to",
                            f"mx.example.test:465:127.0.0.1:{s.port465}", "--connect-to",
                            f"mx.example.test:587:127.0.0.1:{s.port587}", "dave@guess.test", expect_exit=0)
            assert doc["discovery"]["source"] == "mx", doc["discovery"]
            assert [(p["port"], p["source"]) for p in doc["ports"]] == [(465, "mx"), (587, "mx"), (25, "mx")]
            assert doc["recommendation"]["port"] == 465

            # 5. A host name that does not resolve: "dns-error", not "refused".
            rc, doc = check("--resolver", resolver, "--port", "465", "nowhere.test", expect_exit=2)
            p = doc["ports"][0]
            assert p["reach"] == "dns-error" and codes(p) == {"dns": "broken"}, p
            assert "nowhere.test has no address" in p["error"], p

            # 6. A domain that does not exist: nothing to probe, exit 2, said in words.
            rc, doc = check("--resolver", resolver, "nobody@nowhere.test", expect_exit=2)
            assert doc["ports"] == [] and doc["discovery"]["source"] == "none"
            assert "The domain nowhere.test does not exist (NXDOMAIN): check the spelling" in \
                doc["recommendation"]["text"], doc["recommendation"]

            # 7. DNS itself failing (a resolver that never answers) is not a spelling mistake:
            # said as such, within the timeout, and discovery stops instead of waiting 5 times.
            dead = f"127.0.0.1:{free_port()}"
            t0 = time.time()
            rc, doc = check("--resolver", dead, "nobody@example.test", timeout=2, expect_exit=2)
            assert time.time() - t0 < 15, time.time() - t0
            text = doc["recommendation"]["text"]
            assert "DNS failed" in text and "network connection and its DNS resolver" in text, text
            assert "spelling" not in text, text
            assert [s["source"] for s in doc["discovery"]["steps"]] == ["srv", "srv", "dns"], doc["discovery"]
            rc, doc = check("--resolver", dead, "--port", "465", "mail.example.test", timeout=2, expect_exit=2)
            p = doc["ports"][0]
            assert p["reach"] == "dns-error" and codes(p) == {"dns-failed": "broken"}, p
            assert "timed out" in p["error"] and "because DNS failed" in doc["recommendation"]["text"], doc
        finally:
            if https:
                https.close()
            if dns:
                dns.close()
            shutil.rmtree(d, ignore_errors=True)
        s.stop()


def test_check_usage_errors():
    for args in (["--port", "0", "localhost"], ["--port", "25/bogus", "localhost"], ["--timeout", "x", "h"],
                 ["--user", "u", "localhost"], ["--connect-to", "a:b", "h"], [], ["bad\x1bname"], ["a b"]):
        r = subprocess.run([BIN, "check", *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert r.stderr, args


def test_check_roles_from_what_ports_speak_and_old_tls_on_any_port():
    """Ports given without a role: mailport's 587 (STARTTLS, AUTH after it) is submission, its
    port 25 role (STARTTLS, no AUTH) is an MX, its 465 is submissions. A TLS-first server that
    speaks only TLS 1.0 is reported as TLS with that version, whatever its port's role."""
    with Server(tls=True) as s:
        s.start()
        rc, doc = check("--port", f"{s.port465},{s.port587},{s.port}", "--cafile", s.ca, "localhost", expect_exit=0)
        roles = {p["port"]: (p["role"], p["role_guessed"]) for p in doc["ports"]}
        assert roles == {s.port465: ("submissions", True), s.port587: ("submission", True), s.port: ("smtp", True)}, roles
        assert doc["recommendation"]["port"] == s.port465
        s.stop()
    for role in ("", "/submission", "/smtp"):
        srv = SServer(path("server.pem"), path("server.key"), "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
        try:
            rc, doc = check("--port", f"{srv.port}{role}", "--cafile", path("ca.pem"), "127.0.0.1")
        finally:
            srv.close()
        p = doc["ports"][0]
        assert p["speaks"] == "tls" and p["tls_versions"]["TLSv1"] is True and p["tls_versions"]["TLSv1.2"] is False, p
        assert "tls-too-old" in codes(p) and "no-greeting" not in codes(p) and "tls-failed" not in codes(p), p
        assert "TLS 1.0" in [r["text"] for r in p["reasons"] if r["code"] == "tls-too-old"][0]
        if role:
            assert codes(p)["implicit-tls-on-starttls-port"] == "warning", p["reasons"]
        else:
            assert p["role"] == "submissions", p


def test_check_leaves_one_line_per_version_probe_in_the_server_log():
    with Server(tls=True) as s:
        s.start()
        before = len(s.log().splitlines())
        rc, doc = check("--port", f"{s.port465}/submissions,{s.port587}/submission,{s.port}/smtp", "--cafile", s.ca,
                        "localhost", expect_exit=0)
        lines = s.log().splitlines()[before:]
        failed = [line for line in lines if "handshake failed" in line]
        # TLS 1.0 and 1.1 offered alone on each of the three ports: one line each, marked
        assert len(failed) == 6, "\n".join(lines)
        for line in failed:
            assert " probe=yes " in line and "which is obsolete and refused (RFC 8996)" in line, line
            assert " port=" in line and " role=" in line, line
        sessions = {line.split()[3] for line in failed}
        assert all(sum(1 for line in lines if f" {sid} " in line) == 1 for sid in sessions), "\n".join(lines)
        assert not any("error:" in line or "lib(0)" in line for line in lines), "\n".join(lines)
        s.stop()
