"""Process separation: the server process (network, TLS, SMTP, the queue) cannot write
Maildirs; a delivery agent that it starts as a fresh program does, confined to the Maildir
root, without TCP, keys or users file. Driven by python3 smtplib; the separation is read off
/proc from outside."""
import os
import pwd
import re
import signal
import smtplib
import tempfile
import time

from harness import MAIL_USER, Server, give_to_mail_user


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def agent_of(srv):
    kids = children(srv.proc.pid)
    assert len(kids) == 1, kids
    with open(f"/proc/{kids[0]}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[1] == b"deliver-agent", argv
    return kids[0]


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict((k, v.strip()) for k, v in (line.split(":", 1) for line in f if ":" in line))


def tcp_inodes():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                inodes.add(line.split()[9])
    return inodes


def open_files(pid):
    """What the process holds open besides stdin, stdout and stderr (the log)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if int(fd) <= 2:
            continue
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return out


def memory_holds(pid, needle, limit=256 << 20):
    """Whether needle is in the process's readable private memory (regions up to limit)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if not perms.startswith("rw") or hi - lo > limit:
                continue
            try:
                mem.seek(lo)
                if needle in mem.read(hi - lo):
                    return True
            except (OSError, ValueError, OverflowError):
                pass
    return False


def test_maildir_agent_is_a_separate_confined_process():
    mail = tempfile.mkdtemp(prefix="mailport-md-")     # not beside the config: nothing to read
    give_to_mail_user(mail)
    try:
        with Server(tls=True, extra_server=f"maildir = {mail}/%d/%u") as srv:
            srv.start()
            agent = agent_of(srv)
            log = srv.log()
            assert re.search(rf"local delivery agent pid={agent} root={re.escape(mail)} uid=\d+ landlock=", log), log
            assert "confined landlock=abi" in log or "landlock=unavailable" in log, log
            # Both gave up gaining privileges (Landlock needs it); the agent runs as the mail
            # user when we are root, like the server.
            assert status(srv.proc.pid)["NoNewPrivs"] == "1"
            assert status(agent)["NoNewPrivs"] == "1"
            if os.geteuid() == 0:
                assert status(agent)["Uid"].split()[0] == str(pwd.getpwnam(MAIL_USER).pw_uid)
            # No TCP socket, no listener, no spool, key or users file in the agent.
            files = open_files(agent)
            sockets = {re.sub(r"\D", "", f) for f in files if f.startswith("socket:")}
            assert not sockets & tcp_inodes(), files
            assert not [f for f in files if f.startswith(srv.dir)], files
            # The users file's password hash is in the server's memory, never in the agent's
            # (it is a fresh program, not a fork of the server).
            with open(srv.users_file, "rb") as f:
                hash_ = f.readline().split(b":")[1]
            if os.geteuid() == 0:
                assert memory_holds(srv.proc.pid, hash_)
                assert not memory_holds(agent, hash_)
            # And it delivers: two recipients, two Maildirs beneath the agent's root.
            with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
                c.sendmail("s@remote.test", ["alice@example.test", "bob@example.test"],
                           "Subject: via the agent\r\n\r\nhi\r\n")
            for user in ("alice", "bob"):
                new = os.path.join(mail, "example.test", user, "new")
                deadline = time.time() + 20
                while time.time() < deadline and not (os.path.isdir(new) and os.listdir(new)):
                    time.sleep(0.05)
                assert len(os.listdir(new)) == 1, srv.log()[-3000:]
            assert srv.stop() == 0
            assert agent not in children(os.getpid())
            assert not os.path.exists(f"/proc/{agent}") or "Z" in status(agent)["State"]
    finally:
        import shutil
        shutil.rmtree(mail, ignore_errors=True)


def test_agent_death_stops_the_server_and_loses_nothing():
    with Server() as srv:
        srv.start()
        agent = agent_of(srv)
        os.kill(agent, signal.SIGSTOP)          # a delivery will wait on it
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s@remote.test", ["bob@example.test"], "Subject: survives\r\n\r\nhi\r\n")
        time.sleep(0.3)
        os.kill(agent, signal.SIGKILL)
        rc = srv.proc.wait(30)
        srv.check_sanitizers()
        assert rc == 70, (rc, srv.log()[-3000:])                 # EX_SOFTWARE: restart me
        assert f"local delivery agent pid={agent} killed by signal 9" in srv.log()
        assert srv.messages("bob") == []
        srv.start()
        msgs = srv.wait_messages("bob", 1)
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]     # nothing left to deliver again
        assert len(srv.messages("bob")) == 1 and b"Subject: survives" in msgs[0]
        assert srv.stop() == 0
