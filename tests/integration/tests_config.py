"""Configuration: errors name file:line and exit 78; --check-config; SIGHUP reload; IPv6."""
import os
import signal
import smtplib
import socket
import subprocess
import time

from harness import BIN, Server, Skip, wait_for


def test_config_errors_exit_78():
    with Server(extra_server="bogus_key = 1\ntimeout = soon") as srv:
        r = subprocess.run([BIN, "serve", "--config", srv.conf], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, r
        bogus, timeout = srv.conf_line("bogus_key"), srv.conf_line("timeout")
        assert f"{srv.conf}:{bogus}: unknown key \"bogus_key\" in [server]" in r.stderr, r.stderr
        assert f"{srv.conf}:{timeout}: [server] timeout: \"soon\" is not a duration" in r.stderr, r.stderr


def test_users_file_errors_exit_78():
    with Server(users=["alice@example.test:plaintext-password", "not-an-address:$6$x"]) as srv:
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 78
        assert f"{srv.users_file}:1: password must be a crypt(3) hash" in r.stderr, r.stderr
        assert f"{srv.users_file}:2:" in r.stderr, r.stderr
        assert "plaintext-password" not in r.stderr      # secrets never echoed


def test_check_config_ok_and_defaults():
    with Server() as srv:
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r
    r = subprocess.run([BIN, "serve", "--defaults"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "max_message_size = 25M" in r.stdout
    r = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64


def test_bind_failure_is_reported():
    with Server() as srv:
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", srv.port))
        blocker.listen(1)
        try:
            srv.start(expect_ready=False)
            rc = srv.proc.wait(30)
            assert rc == 71, rc
            assert f"cannot listen on 127.0.0.1:{srv.port}" in srv.log()
        finally:
            blocker.close()


def test_sighup_reload_users_and_bad_reload():
    with Server() as srv:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.ehlo("c")
            c.mail("s@remote.test")
            assert c.rcpt("carol@example.test")[0] == 550
        srv.write_users([open(srv.users_file).read().strip(), "carol@example.test:$6$x$y"])
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in srv.log(), 30, srv.log)
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s@remote.test", ["carol@example.test"], "Subject: after reload\r\n\r\nhi\r\n")
        srv.wait_messages("carol", 1)
        # a broken reload keeps the running configuration
        with open(srv.conf, "a") as f:
            f.write("[server]\nnonsense = yes\n")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in srv.log(), 30, srv.log)
        assert "reload failed, keeping the running configuration" in srv.log()
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s@remote.test", ["carol@example.test"], "Subject: still\r\n\r\nhi\r\n")
        srv.wait_messages("carol", 2)
        assert srv.stop() == 0


def test_ipv6_listener():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        raise Skip("no IPv6 loopback")
    port6 = 0
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port6 = s.getsockname()[1]
    srv = Server()
    with srv:
        srv.listen = f"127.0.0.1:{srv.port} [::1]:{port6}"
        text = open(srv.conf).read().replace(f"listen = 127.0.0.1:{srv.port}", f"listen = {srv.listen}")
        open(srv.conf, "w").write(text)
        srv.start()
        with smtplib.SMTP("::1", port6, timeout=10) as c:
            c.sendmail("s@remote.test", ["bob@example.test"], "Subject: v6\r\n\r\nover IPv6\r\n")
        m = srv.wait_messages("bob", 1)[0]
        assert b"([::1])" in m, m[:300]
        assert srv.stop() == 0


def test_spool_in_use_refused():
    with Server() as srv:
        srv.start()
        other_port = srv.port + 1 if srv.port < 65000 else srv.port - 1
        text = open(srv.conf).read().replace(f"127.0.0.1:{srv.port}", f"127.0.0.1:{other_port}")
        conf2 = os.path.join(srv.dir, "second.conf")
        open(conf2, "w").write(text)
        r = subprocess.run([BIN, "serve", "--config", conf2], capture_output=True, text=True, timeout=30)
        assert r.returncode == 73, r
        assert "in use by another mailport process" in r.stderr
        assert srv.stop() == 0


def test_secret_and_users_files_must_be_regular_files():
    """A FIFO (or a device) where the relay password file or the users file should be: a clear
    error and exit 78, not a server that hangs at start waiting for a writer. (Found by
    fuzz_config: its input, reached through a relative path, was a pipe.)"""
    with Server(extra="\n[relay]\nsmarthost = smtp://127.0.0.1:2525\npassword_file = pw.fifo\n") as srv:
        os.mkfifo(os.path.join(srv.dir, "pw.fifo"))
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 78, r
        assert f"{srv.conf}:{srv.conf_line('password_file')}: [relay] password_file: cannot read " in r.stderr
        assert "not a regular file" in r.stderr, r.stderr
    with Server() as srv:
        os.unlink(srv.users_file)
        os.mkfifo(srv.users_file)
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 78 and "cannot read users file: not a regular file" in r.stderr, r


def test_world_readable_key_and_unclean_maildir_exit_78():
    import shutil
    from pki import path
    with Server(extra_server="maildir = /var/mail/../tmp/%d/%u") as srv:
        key = os.path.join(srv.dir, "open.key")
        shutil.copy(path("server.key"), key)
        os.chmod(key, 0o644)
        with open(srv.conf, "a") as f:
            f.write(f"\n[tls]\ncert = {path('server.pem')}\nkey = {key}\n")
        r = subprocess.run([BIN, "serve", "--config", srv.conf], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, r
        assert (f"{srv.conf}:{srv.conf_line('key = ')}: [tls] key: {key} is readable by every user "
                "(mode 0644)") in r.stderr, r.stderr
        assert f"{srv.conf}:{srv.conf_line('maildir =')}: [server] maildir:" in r.stderr, r.stderr
        assert "BEGIN" not in r.stderr and "PRIVATE" not in r.stderr     # the key is never echoed


def check_config(srv):
    return subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True, text=True,
                          timeout=30)


def test_check_config_checks_what_serve_would():
    """--check-config says "configuration OK" only for what serve would start with: certificates
    and keys load and match, the spool and the Maildir root can be written, the users file loads;
    each problem names file:line, exit 78. And it works while the server runs."""
    from pki import path
    with Server(tls=True) as srv:
        r = check_config(srv)
        assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r
        srv.start()
        r = check_config(srv)        # the running server holds the spool's lock: still OK
        assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r
        assert srv.stop() == 0
        good = open(srv.conf).read()
        cases = [
            # a key file that does not exist
            (good.replace(f"key = {path('server.key')}", "key = /nonexistent/server.key"), "key = /nonexistent",
             "[tls] key /nonexistent/server.key"),
            # a CA certificate paired with the server's key
            (good.replace(f"cert = {path('server.pem')}", f"cert = {path('ca.pem')}"), "cert = ",
             "does not belong to cert"),
            # a spool that cannot exist
            (good.replace("spool = spool", "spool = /proc/nope"), "spool = ", "[server] spool /proc/nope"),
            # a Maildir root that cannot exist
            (good.replace("maildir = mail/%d/%u", "maildir = /proc/nope/%d/%u"), "maildir = ",
             "[server] maildir root cannot create /proc/nope"),
        ]
        for text, needle, want in cases:
            with open(srv.conf, "w") as f:
                f.write(text)
            r = check_config(srv)
            line = srv.conf_line(needle)
            assert r.returncode == 78 and "configuration OK" not in r.stdout, (want, r)
            assert f"{srv.conf}:{line}: " in r.stderr and want in r.stderr, (want, line, r.stderr)
            # and serve refuses the same configuration
            srv.start(expect_ready=False)
            rc = srv.proc.wait(30)
            assert rc != 0, (want, srv.log()[-2000:])


def test_every_verb_has_help():
    for verb in ("serve", "send", "check", "queue", "auth", "passwd"):
        r = subprocess.run([BIN, verb, "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("usage: mailport " + verb), (verb, r)
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "Every verb takes --help." in r.stdout, r
    r = subprocess.run([BIN, "queue"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64 and "which action?" in r.stderr, r
