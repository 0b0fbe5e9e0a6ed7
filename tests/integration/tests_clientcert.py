"""TLS client certificates as a second factor, or the only one (issue 19). `mailport user cert`
makes the CA and a device's certificate; real clients present it: curl (--cert, AUTH EXTERNAL on
465), openssl s_client (587 after STARTTLS), gsasl (GNU SASL's EXTERNAL), msmtp (tls_cert_file,
auth external), python3 smtplib (certificate + AUTH PLAIN), and mailport send --cert. A mailbox
says how it logs in (auth=certificate, auth=certificate+password, the default auth=password);
revoking a certificate refuses it from the next connection on, without a reload; a certificate
from another CA is ignored; port 25 never asks for one."""
import os
import smtplib
import ssl
import subprocess
import tempfile

from harness import BIN, Server, crypt_hash, msmtp, need

PW = "secret"


def cert_cmd(srv, *args):
    return subprocess.run([BIN, "user", "cert", *args, "--config", srv.conf], capture_output=True, text=True,
                          timeout=60)


def client_ctx(srv, cert=None):
    c = ssl.create_default_context(cafile=srv.ca)
    if cert is not None:
        c.load_cert_chain(cert + ".crt", cert + ".key")
    return c


def plain_login(srv, user, cert=None):
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=client_ctx(srv, cert), timeout=30) as c:
        try:
            return c.login(user, PW)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def external(srv, cert, authzid="="):
    """AUTH EXTERNAL over 465 from python3's ssl: (code, EHLO's AUTH line)."""
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=client_ctx(srv, cert), timeout=30) as c:
        c.ehlo("c")
        code, _ = c.docmd("AUTH", "EXTERNAL " + authzid)
        return code, c.esmtp_features.get("auth", "")


def s_client(srv, port, cert, lines, starttls=True):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", srv.ca, "-verify_return_error",
            "-ign_eof", "-quiet" if cert is not None else "-state"]
    if starttls:
        args += ["-starttls", "smtp"]
    if cert is not None:
        args += ["-cert", cert + ".crt", "-key", cert + ".key"]
    r = subprocess.run(args, input="".join(x + "\r\n" for x in lines), capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def test_client_certificates():
    need("curl")
    need("gsasl")
    need("msmtp")
    h = crypt_hash(PW)
    out = tempfile.mkdtemp(prefix="mailport-certs-")
    os.chmod(out, 0o755)
    with Server(tls=True, users=[f"alice@example.test:!::auth=certificate",
                                 f"bob@example.test:{h}::auth=certificate+password",
                                 f"carol@example.test:{h}"]) as srv:
        ca, cakey = os.path.join(srv.dir, "client-ca.pem"), os.path.join(srv.dir, "client-ca.key")
        with open(srv.conf, "a") as f:
            # every refusal below counts toward the lockout, which has its own tests
            f.write(f"\n[auth]\nclient_ca = {ca}\nclient_ca_key = {cakey}\nmax_failures = 100\n")
        r = cert_cmd(srv, "issue", "alice@example.test", "--label", "laptop", "--out", out)
        assert r.returncode == 78 and "mailport user cert ca" in r.stderr, r.stderr
        r = cert_cmd(srv, "ca")
        assert r.returncode == 0, r.stderr
        r = cert_cmd(srv, "ca")
        assert r.returncode != 0 and "not replacing a CA" in r.stderr, r.stderr
        for who, label in [("alice", "laptop"), ("alice", "phone"), ("bob", "phone"), ("carol", "desk")]:
            r = cert_cmd(srv, "issue", f"{who}@example.test", "--label", label, "--out", out)
            assert r.returncode == 0, r.stderr
            assert "PKCS#12" in r.stdout and f"revoke {who}@example.test {label}" in r.stdout, r.stdout
        pfx_pass = r.stdout.split("password, shown once: ")[1].split()[0]
        r = cert_cmd(srv, "issue", "alice@example.test", "--label", "laptop", "--out", out)
        assert r.returncode != 0 and "labelled laptop already" in r.stderr, r.stderr
        r = cert_cmd(srv, "issue", "nobody@example.test", "--label", "x", "--out", out)
        assert r.returncode == 65 and "not a mailbox" in r.stderr, r.stderr
        # the PKCS#12 file opens with the password shown, and holds key, certificate and CA
        r = subprocess.run(["openssl", "pkcs12", "-in", f"{out}/carol@example.test-desk.p12", "-passin",
                            f"pass:{pfx_pass}", "-nodes"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.count("BEGIN CERTIFICATE") == 2 and "PRIVATE KEY" in r.stdout, r.stderr
        alice, alice2 = f"{out}/alice@example.test-laptop", f"{out}/alice@example.test-phone"
        bob, carol = f"{out}/bob@example.test-phone", f"{out}/carol@example.test-desk"
        srv.start()

        # curl: implicit TLS with the certificate, AUTH EXTERNAL, a message sent
        msg = os.path.join(out, "msg")
        with open(msg, "w") as f:
            f.write("From: alice@example.test\r\nSubject: by certificate\r\n\r\nno password at all\r\n")
        r = subprocess.run(["curl", "-sS", "--url", f"smtps://127.0.0.1:{srv.port465}", "--cacert", srv.ca,
                            "--cert", alice + ".crt", "--key", alice + ".key", "--login-options", "AUTH=EXTERNAL",
                            "--user", "alice@example.test:", "--mail-from", "alice@example.test", "--mail-rcpt",
                            "carol@example.test", "--upload-file", msg], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        srv.wait_messages("carol", 1)
        log = srv.log()
        assert "client certificate address=127.0.0.1 mailbox=alice@example.test" in log, log
        assert "auth ok user=alice@example.test address=127.0.0.1 mechanism=EXTERNAL" in log, log

        # openssl s_client: STARTTLS on 587, EXTERNAL offered after TLS, "=" logs in as the
        # mailbox the certificate names; port 25 does not ask for a certificate at all
        o = s_client(srv, srv.port587, alice, ["EHLO c", "AUTH EXTERNAL =", "QUIT"])
        assert "EXTERNAL" in o and "235 2.7.0" in o, o
        o = s_client(srv, srv.port587, None, ["QUIT"])
        assert "Acceptable client certificate CA names" in o or "SSL_connect:SSLv3/TLS read server certificate request" in o, o
        o = s_client(srv, srv.port, None, ["QUIT"])
        assert "read server certificate request" not in o and "Acceptable client certificate CA names" not in o, o

        # gsasl (GNU SASL) and msmtp with the certificate, mechanism EXTERNAL, on 587
        r = subprocess.run(["gsasl", "--smtp", "--connect", f"127.0.0.1:{srv.port587}", "--starttls",
                            "--x509-ca-file", srv.ca, "--x509-cert-file", alice2 + ".crt", "--x509-key-file",
                            alice2 + ".key", "-m", "EXTERNAL", "-z", "alice@example.test", "--hostname", "localhost"],
                           input="", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "235 2.7.0" in r.stdout, r.stdout + r.stderr
        r = msmtp(srv.port587, ["tls on", "tls_starttls on", f"tls_trust_file {srv.ca}", f"tls_cert_file {alice2}.crt",
                                f"tls_key_file {alice2}.key", "auth external", "user alice@example.test"],
                  "alice@example.test", "carol@example.test",
                  "From: alice@example.test\nSubject: msmtp\n\nby certificate\n")
        assert r.returncode == 0, r.stderr
        srv.wait_messages("carol", 2)

        # mailport send --cert without --user: EXTERNAL by itself
        r = subprocess.run([BIN, "send", "--host", "127.0.0.1", "--port", str(srv.port465), "--tls", "implicit",
                            "--cafile", srv.ca, "--cert", alice + ".crt", "--key", alice + ".key", "-v",
                            "-f", "alice@example.test", "carol@example.test"],
                           input="Subject: send --cert\n\nx\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "-> AUTH EXTERNAL " in r.stderr and "235 2.7.0" in r.stderr, r.stderr
        srv.wait_messages("carol", 3)

        # alice: the certificate alone; her password (none) and another mailbox's certificate fail
        assert plain_login(srv, "alice@example.test", alice) == 535
        assert external(srv, carol, "YWxpY2VAZXhhbXBsZS50ZXN0")[0] == 535     # carol's cert asks for alice
        assert "reason=certificate-names-another-mailbox" in srv.log()
        # bob: certificate + password; either alone fails; carol (auth=password) cannot use EXTERNAL
        assert plain_login(srv, "bob@example.test", bob) == 235
        assert plain_login(srv, "bob@example.test") == 535
        code = external(srv, bob)[0]
        assert code == 535, (code, srv.log()[-3000:])
        assert plain_login(srv, "bob@example.test", carol) == 535
        code, mechs = external(srv, carol)
        assert code == 535 and "EXTERNAL" in mechs
        assert plain_login(srv, "carol@example.test") == 235 and plain_login(srv, "carol@example.test", carol) == 235
        log = srv.log()
        assert "reason=certificate-required" in log and "reason=mailbox-says-auth=password" in log, log
        assert "reason=certificate-only" in log and "reason=mailbox-says-auth=certificate+password" in log, log
        # without a certificate there is no EXTERNAL to pick
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=client_ctx(srv), timeout=30) as c:
            c.ehlo("c")
            assert "EXTERNAL" not in c.esmtp_features["auth"]
            assert c.docmd("AUTH", "EXTERNAL =")[0] == 504

        # revoked while the server runs: refused from the next connection on, the other
        # certificate of the same mailbox still works; list says so
        r = cert_cmd(srv, "revoke", "alice@example.test", "laptop")
        assert r.returncode == 0, r.stderr
        code, mechs = external(srv, alice)
        assert code == 504 and "EXTERNAL" not in mechs, (code, mechs)
        assert "reason=\"revoked\"" in srv.log()
        assert external(srv, alice2)[0] == 235
        r = cert_cmd(srv, "list", "alice@example.test")
        assert r.returncode == 0 and "revoked" in r.stdout and "valid until" in r.stdout, r.stdout
        r = cert_cmd(srv, "revoke", "alice@example.test", "laptop")
        assert r.returncode == 65 and "no valid certificate" in r.stderr, r.stderr

        # a certificate from another CA (the server's own test CA issued the server cert)
        from pki import path
        other = os.path.join(out, "other")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", other + ".key", "-out", other + ".crt", "-days", "2", "-subj",
                        "/CN=alice@example.test"], check=True, capture_output=True, timeout=30)
        code, mechs = external(srv, other)
        assert code == 504 and "EXTERNAL" not in mechs
        assert "reason=\"not issued by [auth] client_ca\"" in srv.log()
        assert path("ca.pem")
        assert srv.stop() == 0


def test_client_ca_config_errors():
    with Server(tls=True, extra="\n[auth]\nclient_ca = /nonexistent/ca.pem\n") as srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(timeout=30) == 78
        line = srv.conf_line("client_ca")
        assert f"mailport.conf:{line}: [auth] client_ca: cannot read /nonexistent/ca.pem" in srv.log(), srv.log()
