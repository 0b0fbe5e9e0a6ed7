"""From demo to production (issue 21): `make install` into a DESTDIR with PREFIX=/usr lays out
what a Debian MTA does (sbin/mailport with sendmail beside it, bin/mailq, man pages, an example
configuration, the systemd unit, sysusers and tmpfiles entries) and `make uninstall` takes it
back; the installed pages pass mandoc -Tlint and mailport.conf(5) lists every parameter; the
example configuration, with site values filled in, runs and takes mail; systemd-analyze verifies
the unit and rates its hardening; and the server speaks the sd_notify protocol to a socket in
$NOTIFY_SOCKET (what systemd reads for Type=notify)."""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile

from harness import MAIL_USER, ROOT, Server, datagram_socket, need

FILES = ["usr/sbin/mailport", "usr/sbin/sendmail", "usr/bin/mailq", "usr/share/man/man8/mailport.8",
         "usr/share/man/man5/mailport.conf.5", "usr/share/man/man1/mailport-send.1",
         "usr/share/man/man1/mailport-check.1", "usr/share/man/man8/mailport-queue.8",
         "etc/mailport/mailport.conf", "etc/mailport/mailport.conf.example",
         "usr/lib/systemd/system/mailport.service", "usr/lib/sysusers.d/mailport.conf",
         "usr/lib/tmpfiles.d/mailport.conf"]


def make(*args):
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", *args], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def installed():
    d = tempfile.mkdtemp(prefix="mailport-install-")
    make("install", f"DESTDIR={d}", "PREFIX=/usr")
    return d


def files_under(d):
    out = set()
    for base, _dirs, names in os.walk(d):
        for n in names:
            out.add(os.path.relpath(os.path.join(base, n), d))
    return out


def test_install_layout_links_and_uninstall():
    d = installed()
    try:
        assert files_under(d) == set(FILES), files_under(d) ^ set(FILES)
        assert os.readlink(os.path.join(d, "usr/sbin/sendmail")) == "mailport"
        assert os.readlink(os.path.join(d, "usr/bin/mailq")) == "../sbin/mailport"
        # the links are the program: sendmail is `mailport send`, mailq lists a queue
        out = subprocess.run([os.path.join(d, "usr/sbin/sendmail"), "--help"], capture_output=True, text=True)
        assert "sendmail [options]" in out.stdout + out.stderr
        with Server() as srv:
            srv.start()
            q = subprocess.run([os.path.join(d, "usr/bin/mailq"), "-C", srv.conf], capture_output=True, text=True,
                               timeout=30)
            assert q.returncode == 0, q.stdout + q.stderr
            assert srv.stop() == 0
        # a second install keeps the configuration someone edited
        conf = os.path.join(d, "etc/mailport/mailport.conf")
        with open(conf, "a") as f:
            f.write("# edited\n")
        make("install", f"DESTDIR={d}", "PREFIX=/usr")
        assert open(conf).read().endswith("# edited\n")
        out = make("uninstall", f"DESTDIR={d}", "PREFIX=/usr")
        assert files_under(d) == {"etc/mailport/mailport.conf"}, files_under(d)
        assert "kept /etc/mailport/mailport.conf" in out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_man_pages_lint_and_list_every_parameter():
    need("mandoc")
    d = installed()
    try:
        pages = [os.path.join(d, f) for f in FILES if "/man/" in f]
        r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", *pages], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
        text = subprocess.run(["mandoc", "-Tascii", "-O", "width=200", os.path.join(d, FILES[4])],
                              capture_output=True, text=True).stdout
        text = re.sub(".\b", "", text)              # no overstrike
        defaults = subprocess.run([os.path.join(d, "usr/sbin/mailport"), "serve", "--defaults"],
                                  capture_output=True, text=True).stdout
        section = None
        for line in defaults.splitlines():
            if line.startswith("["):
                section = line
                assert section in text, section
            m = re.match(r"^#? ?([a-z_]+) = (.*)$", line)
            if m:
                assert re.search(rf"^\s+{m.group(1)} =", text, re.M), (section, m.group(1))
                if m.group(2):
                    assert f"{m.group(1)} = {m.group(2)}" in text, (m.group(1), m.group(2))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_example_configuration_runs_with_site_values():
    from pki import path
    d = installed()
    srv = Server(tls=True)      # its directory, ports and users file; the configuration is the example's
    try:
        text = open(os.path.join(d, "etc/mailport/mailport.conf.example")).read()
        site = {"spool = /var/spool/mailport": f"spool = {srv.dir}/spool",
                "local_domains = example.org": "local_domains = example.test",
                "maildir = /var/mail/vhosts/%d/%u": f"maildir = {srv.dir}/mail/%d/%u",
                "user = mailport": f"user = {MAIL_USER}",
                "users = /etc/mailport/users": f"users = {srv.users_file}",
                "cert = /etc/ssl/certs/ssl-cert-snakeoil.pem": f"cert = {path('server.pem')}",
                "key = /etc/ssl/private/ssl-cert-snakeoil.key": f"key = {path('server.key')}",
                "listen = 0.0.0.0:25 [::]:25": f"listen = 127.0.0.1:{srv.port}",
                "listen = 0.0.0.0:465 [::]:465": f"listen = 127.0.0.1:{srv.port465}",
                "listen = 0.0.0.0:587 [::]:587": f"listen = 127.0.0.1:{srv.port587}"}
        for k, v in site.items():
            assert k in text, k
            text = text.replace(k, v)
        text = text.replace("[relay]\n", "[relay]\nresolver = 127.0.0.1:9\n")
        with open(srv.conf, "w") as f:
            f.write(text)
        srv.start()
        ctx = ssl.create_default_context(cafile=srv.ca)
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
            c.login("alice@example.test", "secret")
            c.sendmail("alice@example.test", ["bob@example.test"], "Subject: example config\r\n\r\nx\r\n")
        srv.wait_messages("bob", 1)
        assert srv.stop() == 0
    finally:
        srv.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_systemd_unit_verifies_and_is_hardened():
    need("systemd-analyze")
    d = installed()
    try:
        unit = os.path.join(d, "usr/lib/systemd/system/mailport.service")
        text = open(unit).read()
        for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=mailport", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "ReadWritePaths=/var/spool/mailport", "RestartPreventExitStatus=78",
                     "ExecStart=/usr/sbin/mailport serve --config /etc/mailport/mailport.conf"):
            assert want in text, want
        # verify wants the programs it names: point them into DESTDIR
        local = os.path.join(d, "mailport.service")
        with open(local, "w") as f:
            f.write(text.replace("/usr/sbin/mailport", os.path.join(d, "usr/sbin/mailport")))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", local], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and "Unknown" not in r.stderr and "mailport.service:" not in r.stderr, r.stderr
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", local], capture_output=True, text=True,
                           timeout=60)
        m = re.search(r"Overall exposure level for mailport.service: ([0-9.]+) (\w+)", r.stdout)
        assert m and float(m.group(1)) <= 2.0, r.stdout[-600:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_sd_notify_ready_reloading_stopping():
    s, sock_path = datagram_socket("mailport-notify-", 15)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = sock_path
    srv = Server(tls=True)
    try:
        srv.start(expect_ready=False)
        ready = s.recv(4096).decode()
        assert ready.startswith("READY=1\n") and f"MAINPID={srv.proc.pid}" in ready, ready
        assert "started hostname=" in srv.log()        # ready only once it took connections
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
            assert c.recv(100).startswith(b"220 ")
        srv.signal(signal.SIGHUP)
        reloading = s.recv(4096).decode()
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC="), reloading
        assert s.recv(4096).decode().startswith("READY=1\nSTATUS=reloaded")
        srv.signal(signal.SIGTERM)
        assert s.recv(4096).decode().startswith("STOPPING=1")
        assert srv.proc.wait(30) == 0
    finally:
        if old is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = old
        s.close()
        srv.cleanup()
        shutil.rmtree(os.path.dirname(sock_path), ignore_errors=True)
