"""More than one node (issue 22, first part): the directory in PostgreSQL. Debian's PostgreSQL 15
runs privately (postgres.py); two mailport nodes share it. `mailport directory migrate` makes
the tables (and finds nothing to do the second time); a mailbox, an alias or a new password
written into the database is seen by a running node at once (LISTEN/NOTIFY), by python3 smtplib
logging in and swaks sending; with the database stopped, the nodes serve what they loaded for
max_stale, then answer 451 4.3.0 / 454 4.7.0, never 550, and recover when it is back."""
import os
import signal
import re
import smtplib
import ssl
import subprocess
import time

from harness import BIN, Server, crypt_hash, need, wait_for
from postgres import Postgres

PW = "Pg-directory-password-1"


def node(pg, max_stale="3s"):
    return Server(tls=True, users=[], extra=(f"\n[directory]\nbackend = postgresql\npostgresql = {pg.conninfo}\n"
                                             f"password_file = {pg.pwfile}\nmax_stale = {max_stale}\n"))


def login(srv, user, password):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=30) as c:
        try:
            c.login(user, password)
            return 235
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def rcpt(srv, to):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("someone@elsewhere.example")
        return c.rcpt(to)[0]


def eventually(fn, want, timeout=30):
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


def test_two_nodes_share_one_directory_and_see_changes_at_once():
    with Postgres() as pg:
        pg.start()
        with node(pg) as a, node(pg) as b:
            for srv, want in ((a, "schema at version 2 (applied 2)"), (b, "at version 2 (nothing to do)")):
                out = pg.migrate(srv)
                assert want in out, out
            a.start()
            b.start()
            assert rcpt(b, "alice@example.test") == 550           # not there yet: a real "no"
            pg.sql(f"INSERT INTO mailport_mailboxes (address, hash) VALUES ('alice@example.test', '{crypt_hash(PW)}')")
            assert eventually(lambda: login(b, "alice@example.test", PW), 235) == 235
            # each node hears the database's notification on its own: A may come a moment after B
            assert eventually(lambda: login(a, "alice@example.test", PW), 235) == 235
            pg.sql("INSERT INTO mailport_aliases VALUES ('al@example.test', 'alice@example.test')")
            need("swaks")
            deadline = time.time() + 30
            while True:
                out = subprocess.run(["swaks", "--server", f"127.0.0.1:{a.port}", "--to", "al@example.test", "--from",
                                      "x@elsewhere.example", "--timeout", "20"], capture_output=True, text=True, timeout=60)
                if out.returncode == 0 or time.time() > deadline:
                    break
                time.sleep(0.1)
            assert out.returncode == 0, out.stdout
            a.wait_messages("alice", 1)
            # a new password in the database: the old one stops working on the other node at once
            pg.sql(f"UPDATE mailport_mailboxes SET hash = '{crypt_hash(PW + 'x')}' WHERE address = 'alice@example.test'")
            assert eventually(lambda: login(b, "alice@example.test", PW), 535) == 535
            assert login(b, "alice@example.test", PW + "x") == 235
            # the line comes after the new copy is in place: a login may see the copy first
            wait_for(lambda: "directory: reloaded from PostgreSQL mailboxes=1" in b.log(), 30, b.log)
            assert PW not in a.log() + b.log()
            assert a.stop() == 0 and b.stop() == 0


def test_database_away_serves_cache_then_451_never_550():
    with Postgres() as pg:
        pg.start()
        # max_stale counts from the last word of the database (a keepalive every 2 s, so up to
        # 2 s before the stop): 6 s leaves the checks "within max_stale" a few seconds on a
        # loaded machine; its end is then waited for, not slept through
        with node(pg, "6s") as srv:
            pg.migrate(srv)
            pg.sql(f"INSERT INTO mailport_mailboxes (address, hash) VALUES ('bob@example.test', '{crypt_hash(PW)}')")
            srv.start()
            assert rcpt(srv, "bob@example.test") == 250
            pg.stop()
            assert rcpt(srv, "bob@example.test") == 250         # the loaded copy serves for max_stale
            assert rcpt(srv, "nobody@example.test") == 550
            # the copy goes stale: an unknown recipient is no longer known to be unknown
            assert eventually(lambda: rcpt(srv, "nobody@example.test"), 451, 30) == 451
            assert rcpt(srv, "bob@example.test") == 451
            assert rcpt(srv, "nobody@example.test") == 451      # not known to be unknown: never 550
            assert login(srv, "bob@example.test", PW + "y") == 454
            log = srv.log()
            assert "defer rcpt=<bob@example.test> reason=directory-unavailable" in log, log
            assert "auth tempfail user=bob@example.test" in log
            pg.start()
            assert eventually(lambda: rcpt(srv, "bob@example.test"), 250) == 250
            assert login(srv, "bob@example.test", PW) == 235
            # the line comes after the new copy is in place: a session may see the copy first
            wait_for(lambda: "directory: PostgreSQL answers again" in srv.log(), 30, srv.log)
            assert srv.stop() == 0


def test_directory_config_errors():
    srv = Server(tls=True, extra="\n[directory]\nbackend = postgresql\n")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        assert f"mailport.conf:{srv.conf_line('backend = postgresql')}: [directory] backend = postgresql needs" \
            in srv.log(), srv.log()
    srv = Server(tls=True, extra="\n[directory]\nbackend = ldap\n")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        assert "[directory] backend: \"ldap\" is not file or postgresql" in srv.log(), srv.log()


def user_cmd(srv, *args, password=None):
    return subprocess.run([BIN, "user", *args, "--config", srv.conf], input=(password + "\n") if password else None,
                          capture_output=True, text=True, timeout=60)


def test_user_commands_on_postgresql_and_on_the_users_file():
    with Postgres() as pg:
        pg.start()
        with node(pg) as a, node(pg) as b:
            pg.migrate(a)
            b.start()
            r = user_cmd(a, "add", "Dave@Example.test", "--alias", "d@example.test", password=PW)
            assert r.returncode == 0 and "added dave@example.test" in r.stdout, r.stdout + r.stderr
            assert eventually(lambda: login(b, "dave@example.test", PW), 235) == 235
            assert rcpt(b, "d@example.test") == 250
            r = user_cmd(a, "add", "weak@example.test", password="password")
            assert r.returncode == 65 and "too weak" in r.stderr, r.stderr
            r = user_cmd(a, "passwd", "dave@example.test", password=PW + "2")
            assert r.returncode == 0, r.stderr
            assert eventually(lambda: login(b, "dave@example.test", PW + "2"), 235) == 235
            assert "dave@example.test (aliases: d@example.test)" in user_cmd(a, "list").stdout
            # an app password made on node A is a row: node B takes it at once, and its revocation
            r = user_cmd(a, "app-password", "add", "dave@example.test", "--label", "phone")
            assert r.returncode == 0 and "stored only as a hash" in r.stderr, r.stdout + r.stderr
            app = r.stdout.strip()
            assert eventually(lambda: login(b, "dave@example.test", app), 235) == 235
            r = user_cmd(a, "app-password", "list", "dave@example.test")
            assert r.returncode == 0 and re.search(r"dave@example\.test +\S{4} +phone ", r.stdout), r.stdout
            assert pg.sql("SELECT label FROM mailport_app_passwords WHERE mailbox = 'dave@example.test'").strip() == "phone"
            r = user_cmd(a, "app-password", "revoke", "dave@example.test", "phone")
            assert r.returncode == 0 and "revoked" in r.stdout, r.stdout + r.stderr
            assert eventually(lambda: login(b, "dave@example.test", app), 535) == 535
            assert user_cmd(a, "app-password", "add", "nobody@example.test", "--label", "x").returncode == 67
            # the login policy is a column: app passwords only, then the main password is refused on B
            r = user_cmd(a, "policy", "dave@example.test", "login=app-passwords")
            assert r.returncode == 0 and "now has login=app-passwords" in r.stdout, r.stdout + r.stderr
            assert pg.sql("SELECT auth, login FROM mailport_mailboxes WHERE address = 'dave@example.test'").strip() == \
                "password|app-passwords"
            assert eventually(lambda: login(b, "dave@example.test", PW + "2"), 535) == 535
            assert user_cmd(a, "policy", "dave@example.test", "auth=certificate", "login=any").returncode == 0
            assert pg.sql("SELECT auth, login FROM mailport_mailboxes WHERE address = 'dave@example.test'").strip() == \
                "certificate|any"
            assert user_cmd(a, "policy", "dave@example.test", "auth=kerberos").returncode == 64
            assert user_cmd(a, "delete", "dave@example.test").returncode == 0
            assert eventually(lambda: rcpt(b, "d@example.test"), 550) == 550
            assert user_cmd(a, "delete", "dave@example.test").returncode == 1
            assert b.stop() == 0
    # the users file: the same commands, the file rewritten whole, read at the next reload
    with Server(tls=True) as srv:
        srv.start()
        r = user_cmd(srv, "add", "erin@example.test", password=PW)
        assert r.returncode == 0 and "next reload" in r.stdout, r.stderr
        assert "bob@example.test:" in open(srv.users_file).read()      # the other lines kept
        srv.signal(signal.SIGHUP)
        assert eventually(lambda: login(srv, "erin@example.test", PW), 235) == 235
        assert user_cmd(srv, "add", "erin@example.test", password=PW).returncode == 1
        r = user_cmd(srv, "policy", "erin@example.test", "login=app-passwords")
        assert r.returncode == 0 and "set login=app-passwords for erin@example.test" in r.stdout, r.stdout + r.stderr
        assert re.search(r"^erin@example\.test:\$[^:]+::login=app-passwords$", open(srv.users_file).read(), re.M)
        r = user_cmd(srv, "policy", "erin@example.test", "auth=certificate+password", "login=any")
        assert re.search(r"^erin@example\.test:\$[^:]+::auth=certificate\+password login=any$",
                         open(srv.users_file).read(), re.M), open(srv.users_file).read()
        assert user_cmd(srv, "policy", "erin@example.test", "login=app-passwords").returncode == 0
        srv.signal(signal.SIGHUP)
        assert eventually(lambda: login(srv, "erin@example.test", PW), 535) == 535
        assert srv.stop() == 0


def external(srv, cert, user="dave@example.test"):
    """curl over 465 with a client certificate and AUTH EXTERNAL, no message: curl's exit status
    (0: logged in; 67: login refused)."""
    r = subprocess.run(["curl", "-sS", "--url", f"smtps://127.0.0.1:{srv.port465}", "--cacert", srv.ca, "--cert",
                        cert + ".crt", "--key", cert + ".key", "--login-options", "AUTH=EXTERNAL", "--user",
                        f"{user}:", "-X", "NOOP"], capture_output=True, text=True, timeout=60)
    return r.returncode


def test_a_certificate_revoked_on_one_node_is_refused_by_the_other():
    """The client CA shared by two nodes, the CRL in the directory: `mailport user cert revoke`
    on node A writes it to PostgreSQL, node B copies it to its own client_crl at once, and curl
    with the revoked certificate no longer logs in on node B (it did before)."""
    import tempfile
    with Postgres() as pg:
        pg.start()
        with node(pg) as a, node(pg) as b:
            ca, cakey = os.path.join(a.dir, "client-ca.pem"), os.path.join(a.dir, "client-ca.key")
            for srv in (a, b):
                with open(srv.conf, "a") as f:
                    f.write(f"\n[auth]\nclient_ca = {ca}\nclient_ca_key = {cakey}\nmax_failures = 100\n")
            pg.migrate(a)
            assert user_cmd(a, "add", "dave@example.test", password=PW).returncode == 0
            assert user_cmd(a, "policy", "dave@example.test", "auth=certificate").returncode == 0
            out = tempfile.mkdtemp(prefix="mailport-certs-")
            os.chmod(out, 0o755)
            r = subprocess.run([BIN, "user", "cert", "ca", "--config", a.conf], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            r = subprocess.run([BIN, "user", "cert", "issue", "dave@example.test", "--label", "laptop", "--out", out,
                                "--config", a.conf], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            cert = os.path.join(out, "dave@example.test-laptop")
            b.start()
            assert eventually(lambda: external(b, cert), 0) == 0
            r = subprocess.run([BIN, "user", "cert", "revoke", "dave@example.test", "laptop", "--config", a.conf],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and "CRL shared through PostgreSQL" in r.stdout, r.stdout + r.stderr
            assert eventually(lambda: external(b, cert), 67) == 67
            log = b.log()
            assert "client certificates' CRL copied from PostgreSQL" in log, log
            assert "reason=\"revoked\"" in log, log
            assert b.stop() == 0
