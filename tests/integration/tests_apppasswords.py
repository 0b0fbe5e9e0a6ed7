"""App passwords (issue 19): made by `mailport user app-password add`, used by real clients
(python3 smtplib with PLAIN and LOGIN over 465, swaks over 587 with STARTTLS), listed with their
last use, and revoked while the server runs: the next AUTH fails at once (even one the
credentials cache remembers), a session already logged in goes on. A mailbox with
login=app-passwords refuses its main password. Guessing app passwords hits the same lockout.
The password is never stored or logged in the clear."""
import os
import re
import smtplib
import ssl
import subprocess

from harness import BIN, Server, crypt_hash

MAIN = "secret"          # the main password of the test mailboxes


def ctx(ca):
    return ssl.create_default_context(cafile=ca)


def user(srv, *args):
    return subprocess.run([BIN, "user", "app-password", *args, "--config", srv.conf], capture_output=True, text=True,
                          timeout=60)


def add(srv, address, label):
    r = user(srv, "add", address, "--label", label)
    assert r.returncode == 0, r.stderr
    pw = r.stdout.strip()
    assert re.fullmatch(r"([a-z2-9]{4}-){7}[a-z2-9]{4}", pw), pw
    return pw


def smtplib_login(srv, address, password, mechanism):
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30) as c:
        c.ehlo("c")
        c.user, c.password = address, password
        try:
            code, _ = c.auth(mechanism, getattr(c, "auth_" + mechanism.lower().replace("-", "_")))
            return code
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def test_app_passwords_add_use_list_revoke():
    h = crypt_hash(MAIN)
    with Server(tls=True, users=[f"alice@example.test:{h}:al@example.test",
                                 f"carol@example.test:{h}::login=app-passwords",
                                 f"bob@example.test:{h}"]) as srv:
        srv.start()
        phone = add(srv, "alice@example.test", "phone")
        laptop = add(srv, "alice@example.test", "laptop")
        carol = add(srv, "carol@example.test", "thunderbird")
        # errors in words: an alias, an unknown mailbox, a label used twice
        r = user(srv, "add", "al@example.test", "--label", "x")
        assert r.returncode == 67 and "is an alias of alice@example.test" in r.stderr, r.stderr
        r = user(srv, "add", "nobody@example.test", "--label", "x")
        assert r.returncode == 67 and "is not a mailbox" in r.stderr, r.stderr
        r = user(srv, "add", "alice@example.test", "--label", "phone")
        assert r.returncode == 65 and 'already has an app password labelled "phone"' in r.stderr, r.stderr

        # PLAIN and LOGIN, as typed (with dashes), without dashes and in capitals
        assert smtplib_login(srv, "alice@example.test", phone, "PLAIN") == 235
        assert smtplib_login(srv, "alice@example.test", laptop.replace("-", "").upper(), "LOGIN") == 235
        assert smtplib_login(srv, "alice@example.test", MAIN, "PLAIN") == 235   # main password too
        # another mailbox's app password is not this one's
        assert smtplib_login(srv, "bob@example.test", phone, "PLAIN") == 535
        # login=app-passwords: the main password never logs in, the app password does
        assert smtplib_login(srv, "carol@example.test", MAIN, "PLAIN") == 535
        assert smtplib_login(srv, "carol@example.test", carol, "PLAIN") == 235
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.port587}", "--tls", "--tls-verify", "--tls-ca-path",
                            srv.ca, "--auth", "LOGIN", "--auth-user", "carol@example.test", "--auth-password", carol,
                            "--from", "carol@example.test", "--to", "bob@example.test"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout[-2000:]
        srv.wait_messages("bob", 1)

        r = user(srv, "list", "alice@example.test")
        assert r.returncode == 0, r.stderr
        lines = {l.split()[2]: l for l in r.stdout.splitlines()[1:]}
        assert set(lines) == {"phone", "laptop"}, r.stdout
        assert lines["phone"].rstrip().endswith(", 127.0.0.1"), r.stdout
        assert "app-password=phone" in srv.log()

        # a session logged in before the revocation goes on; the next AUTH fails at once,
        # although the credentials cache would have let it in for a minute
        assert smtplib_login(srv, "alice@example.test", phone, "PLAIN") == 235          # cached now
        s = smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30)
        s.login("alice@example.test", phone)
        r = user(srv, "revoke", "alice@example.test", "phone")
        assert r.returncode == 0 and "revoked" in r.stdout, r
        assert smtplib_login(srv, "alice@example.test", phone, "PLAIN") == 535
        s.sendmail("alice@example.test", ["bob@example.test"], "Subject: after revoke\r\n\r\nsame session\r\n")
        s.quit()
        assert smtplib_login(srv, "alice@example.test", laptop, "PLAIN") == 235        # the other one still works
        r = user(srv, "list", "alice@example.test")
        assert "phone" not in r.stdout and "laptop" in r.stdout
        r = user(srv, "revoke", "alice@example.test", "phone")
        assert r.returncode == 65 and 'no app password with id or label "phone"' in r.stderr

        # never in the clear: not in the store, not in the log
        store = open(os.path.join(srv.dir, "spool", "app-passwords")).read()
        log = srv.log()
        for pw in (phone, laptop, carol):
            for form in (pw, pw.replace("-", "")):
                assert form not in store and form not in log
        assert oct(os.stat(os.path.join(srv.dir, "spool", "app-passwords")).st_mode & 0o777) == "0o600"
        assert srv.stop() == 0


def test_guessing_app_passwords_is_locked_out():
    h = crypt_hash(MAIN)
    with Server(tls=True, users=[f"alice@example.test:{h}"],
                extra="\n[auth]\nmax_failures = 3\nfailure_window = 10m\n") as srv:
        srv.start()
        real = add(srv, "alice@example.test", "phone")
        # the right id with a wrong rest, then random ones: each a failure; then the lockout
        guesses = [real[:5] + "aaaa-" * 6 + "aaaa", "bbbb-" * 7 + "bbbb", "cccc-" * 7 + "cccc"]
        codes = [smtplib_login(srv, "alice@example.test", g, "PLAIN") for g in guesses]
        assert codes == [535, 535, 535], codes
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx(srv.ca), timeout=30) as c:
            c.ehlo("c")
            import base64
            cred = base64.b64encode(f"\0alice@example.test\0{real}".encode()).decode()
            code, text = c.docmd("AUTH", "PLAIN " + cred)
        assert code == 454, (code, text)            # even the right one, while locked out
        assert "auth lockout" in srv.log()
        assert srv.stop() == 0


def test_store_given_to_the_server_after_the_rename_is_read():
    """`mailport user` renames the new store into place and then gives it to the server's user;
    a login in between finds it unreadable. The store must be read once it is readable, even
    though its size and time did not change (a revocation must not be missed for good)."""
    from harness import MAIL_USER, Skip
    import pwd
    if os.geteuid() != 0:
        raise Skip("needs root: the store changes owner")
    h = crypt_hash(MAIN)
    with Server(tls=True, users=[f"alice@example.test:{h}"]) as srv:
        srv.start()
        add(srv, "alice@example.test", "phone")
        assert smtplib_login(srv, "alice@example.test", MAIN, "PLAIN") == 235       # the store is read
        laptop = add(srv, "alice@example.test", "laptop")
        store = os.path.join(srv.dir, "spool", "app-passwords")
        os.chown(store, 0, 0)                                   # as between the rename and the chown
        assert smtplib_login(srv, "alice@example.test", laptop, "PLAIN") == 535
        assert "app passwords not reloaded" in srv.log()
        pw = pwd.getpwnam(MAIL_USER)
        os.chown(store, pw.pw_uid, pw.pw_gid)
        assert smtplib_login(srv, "alice@example.test", laptop, "PLAIN") == 235
        assert srv.stop() == 0
