"""Strong passwords: `mailport passwd` refuses a weak one with the reason in words (each rule),
judged against an independent implementation of the same estimate, Debian's python3-zxcvbn:
every password we accept it scores 4 (the top), every one we refuse for guessability it scores
lower. An accepted password's hash logs in with python3 smtplib. --allow-weak hashes anyway and
says it is for tests. MD5-crypt hashes in the users file are warned about once, with the
addresses; DES-crypt ones are refused (file:line)."""
import json
import subprocess

from harness import BIN, Server, crypt_hash

RULES = [
    # (password, --user, words the refusal must contain)
    ("short1!", None, "it has 7 characters; at least 12 are needed"),
    ("Tr0ub4dor&3", None, "it has 11 characters; at least 12 are needed"),
    ("password", None, "one of the most common passwords"),
    ("iloveyou123456", None, "made of a common password, word or name"),
    ("qwertyuiopasdfgh", None, "common password, word or name"),
    ("zxcvfdsaqwer", None, "keyboard pattern"),
    ("abcdefghijklmnop", None, "sequence"),
    ("P@ssw0rd12345", None, "letters swapped for digits"),
    ("19850612198506", None, "date or a year"),
    ("q7q7q7q7q7q7q7q7", None, "repeats characters"),
    ("alice2026alice!", "alice@example.org", 'contains "alice" from the address alice@example.org'),
    ("Example-Org-Mail-7", "bob@example.org", 'contains "example" from the address bob@example.org'),
]
STRONG = ["correct horse battery staple", "mountain river quietly 47 lamps", "zx7!Qm9#Lp2$wE", "Vj3;kq8/Lw0-Tz"]

ZXCVBN = r"""
import json, sys, zxcvbn
print(json.dumps([zxcvbn.zxcvbn(p)["score"] for p in json.loads(sys.stdin.read())]))
"""


def passwd(pw, *args):
    return subprocess.run([BIN, "passwd", *args], input=pw + "\n", capture_output=True, text=True, timeout=30)


def test_weak_passwords_refused_with_the_reason():
    for pw, user, words in RULES:
        r = passwd(pw, *(["--user", user] if user else []))
        assert r.returncode == 65 and r.stdout == "", (pw, r)
        assert "mailport passwd: this password is too weak: " in r.stderr and words in r.stderr, (pw, r.stderr)
    for pw in STRONG:
        r = passwd(pw, "--user", "alice@example.org")
        assert r.returncode == 0 and r.stdout.startswith("$y$"), (pw, r.stderr)
    # an independent estimate agrees
    refused = [pw for pw, user, words in RULES if user is None and "characters" not in words]
    r = subprocess.run(["/usr/bin/python3", "-c", ZXCVBN], input=json.dumps(refused + STRONG), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    scores = json.loads(r.stdout)
    assert all(s <= 3 for s in scores[:len(refused)]), list(zip(refused, scores))
    assert all(s == 4 for s in scores[len(refused):]), list(zip(STRONG, scores))


def test_allow_weak_is_for_tests_and_says_so():
    r = passwd("password", "--allow-weak")
    assert r.returncode == 0 and r.stdout.startswith("$y$"), r
    assert "--allow-weak (for tests only): hashing a weak password: it is one of the most common" in r.stderr, r.stderr
    r = subprocess.run([BIN, "passwd", "--help"], capture_output=True, text=True, timeout=30)
    assert "--allow-weak" in r.stdout and "for tests only" in r.stdout


def test_strong_password_hash_logs_in():
    import smtplib
    import ssl
    h = passwd("mountain river quietly 47 lamps", "--user", "carol@example.test").stdout.strip()
    with Server(tls=True, users=[f"carol@example.test:{h}"]) as srv:
        srv.start()
        c = ssl.create_default_context(cafile=srv.ca)
        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=c, timeout=10) as s:
            s.login("carol@example.test", "mountain river quietly 47 lamps")
        assert srv.stop() == 0


def test_weak_hash_types_in_the_users_file():
    md5 = subprocess.run(["openssl", "passwd", "-1", "some password"], capture_output=True, text=True,
                         check=True).stdout.strip()
    good = crypt_hash("secret")
    with Server(users=[f"old1@example.test:{md5}", f"old2@example.test:{md5}", f"new@example.test:{good}"]) as srv:
        srv.start()
        log = srv.log()
        assert log.count("MD5-crypt") == 1, log
        assert "2 mailboxes have MD5-crypt hashes" in log and "old1@example.test, old2@example.test" in log, log
        assert "new@example.test" not in log.split("MD5-crypt")[1].split("\n")[0]
        assert srv.stop() == 0
    des = subprocess.run(["openssl", "passwd", "-crypt", "secret"], capture_output=True, text=True)
    des_hash = des.stdout.strip() if des.returncode == 0 else "abJnggxhB/yWI"
    with Server(users=["# one line first", f"old@example.test:{des_hash}"]) as srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(30) == 78
        assert "users:2: a DES-crypt hash" in srv.log(), srv.log()
