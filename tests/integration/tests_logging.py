"""Where log lines go (issue 21, first part): `[server] log = syslog` sends RFC 3164 lines with
facility mail to a datagram socket (as syslog(3) does to /dev/log), `log = journal` speaks the
journal's native protocol (PRIORITY, SYSLOG_IDENTIFIER, MAILPORT_ID, MESSAGE fields), and
`log_format = json` makes every line one JSON object with the event and its key=value fields.
The sockets here are datagram sockets this test binds (the paths a syslog daemon or journald
would own); the password of a real login never appears in any of them."""
import json
import os
import shutil
import smtplib
import socket
import ssl
import tempfile
import time

from harness import Server, datagram_socket, wait_for

PW = "secret"


def receiver():
    return datagram_socket("mailport-log-", 0.2)


def drain(s, until, timeout=15):
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            got.append(s.recv(65536).decode())
        except socket.timeout:
            if any(until in g for g in got):
                return got
    raise AssertionError(f"{until!r} never arrived: {got[-20:]}")


def login_and_send(srv):
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ssl.create_default_context(cafile=srv.ca),
                          timeout=30) as c:
        c.login("alice@example.test", PW)
        c.sendmail("alice@example.test", ["bob@example.test"], "Subject: log\r\n\r\nlogged\r\n")


def logged_session(dest):
    """A server logging to a socket of ours, one real login and message through it: (the
    server, still running, the datagrams it sent)."""
    s, path = receiver()
    srv = Server(tls=True, extra_server=f"log = {dest}\nlog_socket = {path}\n")
    try:
        srv.start(expect_ready=False)
        lines = drain(s, "started hostname=")
        login_and_send(srv)
        srv.wait_messages("bob", 1)
        lines += drain(s, "removed")
    except BaseException:
        srv.cleanup()                       # stops the server it started, and removes its files
        raise
    finally:
        s.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    return srv, lines


def test_syslog_facility_mail():
    srv, lines = logged_session("syslog")
    with srv:
        started = next(x for x in lines if "started hostname=" in x)
        assert started.startswith("<22>") and " mailport[" in started and "]: info - started hostname=" in started, \
            started
        assert any(x.startswith("<22>") and "auth ok user=alice@example.test" in x for x in lines), lines
        assert not any(PW in x for x in lines)
        assert "started hostname=" not in srv.log()         # nothing on stderr
        assert srv.stop() == 0


def test_journal_native_protocol():
    srv, lines = logged_session("journal")
    with srv:
        entries = [dict(f.split("=", 1) for f in x.strip("\n").split("\n")) for x in lines]
        started = next(e for e in entries if "started hostname=" in e["MESSAGE"])
        assert (started["PRIORITY"], started["SYSLOG_FACILITY"], started["SYSLOG_IDENTIFIER"]) == ("6", "2", "mailport")
        assert started["SYSLOG_PID"].isdigit() and started["MAILPORT_ID"] == "-"
        auth = next(e for e in entries if "auth ok" in e["MESSAGE"])
        assert auth["MAILPORT_ID"].startswith("s0"), auth
        assert not any(PW in x for x in lines)
        assert srv.stop() == 0


def test_json_lines_on_stderr():
    with Server(tls=True, extra_server="log_format = json\n") as srv:
        srv.start(expect_ready=False)
        deadline = time.time() + 15
        while '"event":"started"' not in srv.log() and time.time() < deadline:
            time.sleep(0.05)
        login_and_send(srv)
        srv.wait_messages("bob", 1)
        # read when the server has stopped: every line it wrote is whole (and "stopped" is last)
        assert srv.stop() == 0
        objs = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
        assert objs[-1]["event"] == "stopped", objs[-1]
        assert objs and all({"time", "pid", "level", "id", "event", "msg"} <= set(o) for o in objs), objs[:3]
        acc = next(o for o in objs if o["event"] == "accepted")
        assert acc["from"] == "<alice@example.test>" and acc["user"] == "alice@example.test", acc
        assert acc["id"] != "-" and acc["level"] == "info"
        auth = next(o for o in objs if o["event"] == "auth ok")
        assert auth["user"] == "alice@example.test" and auth["address"] == "127.0.0.1", auth
        assert PW not in srv.log()


def test_log_config_errors():
    with Server(tls=True, extra_server="log = eventlog\n") as srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(timeout=30) == 78
        assert f"mailport.conf:{srv.conf_line('log = eventlog')}: [server] log: \"eventlog\" is not" in srv.log()
    with Server(tls=True, extra_server="log = syslog\nlog_socket = /nonexistent/log.sock\n") as srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(timeout=30) == 78
        assert "[server] log = syslog: cannot open /nonexistent/log.sock" in srv.log(), srv.log()


def test_real_rsyslog_files_mail_facility():
    """Debian's rsyslog (unpacked by scripts/peer-rsyslog, run privately on a socket of its own,
    with Debian's rule: mail.* to mail.log) files mailport's lines under facility mail, in text and
    in JSON, and never a password."""
    import subprocess
    from harness import ROOT
    out = subprocess.run([os.path.join(ROOT, "scripts", "peer-rsyslog")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    rroot = os.path.join(ROOT, out.stdout.strip())
    d = tempfile.mkdtemp(prefix="mailport-rsyslog-")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(f'global(workDirectory="{d}")\n'
                'module(load="imuxsock" SysSock.Use="off")\n'
                f'input(type="imuxsock" Socket="{d}/log.sock")\n'
                f'mail.*  action(type="omfile" file="{d}/mail.log")\n'
                f'*.*;mail.none  action(type="omfile" file="{d}/other.log")\n')
    rs = subprocess.Popen([os.path.join(rroot, "usr/sbin/rsyslogd"), "-n", "-f", conf, "-i", os.path.join(d, "pid"),
                           "-M", os.path.join(rroot, "usr/lib/x86_64-linux-gnu/rsyslog")],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "rsyslogd.out"), "wb"))
    try:
        deadline = time.time() + 10
        while not os.path.exists(os.path.join(d, "log.sock")) and time.time() < deadline:
            assert rs.poll() is None, open(os.path.join(d, "rsyslogd.out")).read()
            time.sleep(0.05)
        os.chmod(os.path.join(d, "log.sock"), 0o666)
        for n, fmt in enumerate(("text", "json"), 1):
            with Server(tls=True, extra_server=f"log = syslog\nlog_socket = {d}/log.sock\nlog_format = {fmt}\n") as srv:
                srv.start(expect_ready=False)
                deadline = time.time() + 15
                while time.time() < deadline and not (os.path.exists(f"{d}/mail.log") and
                                                      open(f"{d}/mail.log").read().count("started") >= n):
                    time.sleep(0.1)
                login_and_send(srv)
                srv.wait_messages("bob", 1)
                assert srv.stop() == 0
        # rsyslog writes asynchronously, in the order it got the lines: the last each server
        # sent is "stopped"; once the second's is in mail.log, everything before it is filed
        wait_for(lambda: sum("stopped" in x for x in open(f"{d}/mail.log").read().splitlines()) >= 2, 30,
                 lambda: open(f"{d}/mail.log").read())
        log = open(f"{d}/mail.log").read()
        assert "mailport[" in log and "started hostname=" in log and "auth ok user=alice@example.test" in log, log
        js = [x.split("]: ", 1)[1] for x in log.splitlines() if "]: {" in x]
        assert js and json.loads(js[0])["event"], js[:2]
        assert any(json.loads(x).get("event") == "accepted" for x in js), js
        assert PW not in log
        assert not os.path.exists(f"{d}/other.log") or "mailport" not in open(f"{d}/other.log").read()
    finally:
        rs.terminate()
        rs.wait(10)
        shutil.rmtree(d, ignore_errors=True)
