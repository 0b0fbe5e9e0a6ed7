"""Least privilege: started as root, mailport binds its ports, gives the spool to [server]
user and becomes that user before any thread starts; as root without a user it refuses to
run. These tests need root (CI runs as root); elsewhere they are skipped."""
import os
import pwd
import smtplib
import stat
import subprocess

from harness import BIN, MAIL_USER, Server, Skip, wait_for


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root")


def ids(pid):
    """(real, effective, saved, fs) uids and gids of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    return [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()], st["Groups"].split()


def test_becomes_the_mail_user_after_binding():
    need_root()
    pw = pwd.getpwnam(MAIL_USER)
    with Server(tls=True) as srv:      # binds 3 ports and loads a key as root first
        srv.start()
        uids, gids, groups = ids(srv.proc.pid)
        assert uids == [pw.pw_uid] * 4 and gids == [pw.pw_gid] * 4, (uids, gids)
        assert "0" not in groups, groups
        assert f"running as user={MAIL_USER} uid={pw.pw_uid}" in srv.log()
        spool = os.path.join(srv.dir, "spool")
        for name in ("", "lock", "journal", "journal.gen", "queue", "tmp"):
            st = os.stat(os.path.join(spool, name))
            assert st.st_uid == pw.pw_uid, name
        assert stat.S_IMODE(os.stat(spool).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(spool, "journal")).st_mode) == 0o600
        # and it still does its job: a message in, a Maildir file owned by that user out
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s@remote.test", ["alice@example.test"], "Subject: as nobody\r\n\r\nhi\r\n")
        srv.wait_messages("alice", 1)
        new = os.path.join(srv.maildir("alice"), "new")
        assert all(os.stat(os.path.join(new, f)).st_uid == pw.pw_uid for f in os.listdir(new))
        assert srv.stop() == 0


def conf_without_user(srv):
    text = "".join(line for line in open(srv.conf) if not line.startswith("user ="))
    with open(srv.conf, "w") as f:
        f.write(text)


def test_root_without_user_is_refused():
    need_root()
    with Server() as srv:
        conf_without_user(srv)
        r = subprocess.run([BIN, "serve", "--config", srv.conf], capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, r
        assert srv.conf in r.stderr and "does not run as root" in r.stderr and "user = " in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(srv.dir, "spool")), "refused before touching anything"


def test_bad_users_name_file_and_line():
    for value, why in (("no-such-user-here", 'no such user "no-such-user-here"'), ("root", '"root" is root')):
        with Server(extra_server=f"user = {value}") as srv:
            r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 78, r
            assert f"{srv.conf}:{srv.conf_line('user =')}: [server] user: {why}" in r.stderr, r.stderr


def test_root_creates_the_maildir_root_for_the_mail_user():
    """As for the spool: started as root, the server makes a missing Maildir root (here under a
    directory only root may write) and gives it to [server] user, whose delivery agent writes
    beneath it; --check-config does the same and says OK."""
    import shutil
    import tempfile
    need_root()
    pw = pwd.getpwnam(MAIL_USER)
    top = tempfile.mkdtemp(prefix="mailport-vmail-")
    os.chmod(top, 0o755)                    # root's; others may only traverse it
    try:
        with Server(extra_server=f"maildir = {top}/vmail/%d/%u") as srv:
            r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r
            st = os.stat(os.path.join(top, "vmail"))
            assert st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o700, st
            shutil.rmtree(os.path.join(top, "vmail"))
            srv.start()
            with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
                c.sendmail("s@remote.test", ["alice@example.test"], "Subject: vmail\r\n\r\nhi\r\n")
            new = os.path.join(top, "vmail", "example.test", "alice", "new")
            wait_for(lambda: os.path.isdir(new) and os.listdir(new), 30, lambda: srv.log()[-2000:])
            assert srv.wait_queue(0, 30) == 0, srv.log()[-2000:]     # nothing more to come
            assert len(os.listdir(new)) == 1, srv.log()[-2000:]
            assert os.stat(os.path.join(top, "vmail")).st_uid == pw.pw_uid
            assert os.stat(top).st_uid == 0               # what existed keeps its owner
            assert srv.stop() == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_check_config_as_root_leaves_the_spool_to_the_mail_user():
    """An admin's `mailport serve --check-config` as root before a start by systemd, whose unit
    runs mailport as its user from the first instruction: the spool the check made is that
    user's, not root's (found by installing the Debian package in a fresh root)."""
    need_root()
    pw = pwd.getpwnam(MAIL_USER)
    with Server() as srv:
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r
        spool = os.path.join(srv.dir, "spool")
        for base, dirs, files in os.walk(spool):
            for n in dirs + files:
                assert os.lstat(os.path.join(base, n)).st_uid == pw.pw_uid, os.path.join(base, n)
