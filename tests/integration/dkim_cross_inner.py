"""The inside of tests_dkim_cross (run by `unshare --net --mount`, see netns.py): an
authoritative unbound on the namespace's port 53 for example.test and example.net, a private
resolv.conf pointing there, then one part, named by MAILPORT_DKIM_CROSS:

- "ours": messages signed by mailport on port 465, judged by dkimpy, Mail::DKIM and OpenDKIM;
- "theirs": messages signed by them, as signed and tampered with, through port 25; mailport's
  verdict compared with theirs on the message delivered.

Exits 0 when every check held."""
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, Server  # noqa: E402
from netns import inner_main, private_resolv  # noqa: E402
from tests_dane import AuthDNS  # noqa: E402
from tests_dkim import dkim_keys  # noqa: E402

PY = "/usr/bin/python3"
DATE = "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"


def messages(sender):
    """The generated messages, name -> bytes (CRLF), From: sender's address in odd forms."""
    cc = "Cc: " + ",\r\n ".join(f"Person {i} <person{i}@example.org>" for i in range(300)) + "\r\n"
    assert len(cc) > 10000
    many_to = "".join(f"To: r{i}@example.org\r\n" for i in range(400))
    to = "To: Bob <bob@example.test>\r\n"
    plain = "\r\nHello,\r\nthis is the body.\r\n"
    m = {
        "long-cc": f"From: Alice <{sender}>\r\n{to}{cc}Subject: a 10 KB Cc\r\n{DATE}{plain}",
        "many-to": f"From: {sender}\r\n{many_to}Subject: 400 To fields\r\n{DATE}{plain}",
        "folded": (f"From:\r\n Alice\r\n\t<{sender}>\r\n{to}Subject: a subject\r\n\tfolded  over\r\n   three"
                   f" lines \r\n{DATE}\r\n  leading and trailing  \t\r\n.dot\r\n\r\n\r\n"),
        "quoted-lt": f'From: "Mallory <m@evil.example>" <{sender}>\r\n{to}Subject: quoted lt\r\n{DATE}{plain}',
        "comment-at": f"From: {sender} (Alice @ home, <m@evil.example>)\r\n{to}Subject: comment at\r\n{DATE}{plain}",
        "comment-first": f"From: (for m@evil.example) {sender}\r\n{to}Subject: comment first\r\n{DATE}{plain}",
        "group": f"From: Team: {sender};\r\n{to}Subject: a group\r\n{DATE}{plain}",
        "encoded": (f"From: =?utf-8?q?J=C3=B6rg_=3Cj=40evil=2Eexample=3E?= <{sender}>\r\n{to}"
                    f"Subject: =?utf-8?q?encoded_w=C3=B6rd?=\r\n{DATE}{plain}"),
        "8bit": (f"From: {sender}\r\n{to}Subject: 8-bit\r\nMIME-Version: 1.0\r\n"
                 f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n{DATE}\r\n"
                 "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u00fcn\u00efc\u00f6d\u00e9\r\n\ttab  and  spaces \r\n"),
        "empty": f"From: {sender}\r\n{to}Subject: empty body\r\n{DATE}\r\n",
    }
    return {k: v.encode() for k, v in m.items()}


# RFC 8463 Appendix A.3, byte for byte, and A.2's key records (the RSA key has 1,024 bits, which
# RFC 8301 3.2 still has verifiers accept).
RFC8463_SIGNED = (
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    b" subject : date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    b" date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    b"From: Joe SixPack <joe@football.example.com>\r\n"
    b"To: Suzie Q <suzie@shopping.example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    b"\r\n"
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet?\r\n"
    b"\r\n"
    b"Joe.\r\n"
)
RFC8463_KEYS = [
    ("brisbane._domainkey", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
    ("test._domainkey", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR"
                        "6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5Qj"
                        "vHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"),
]


def crlf(m):
    return m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---- the three peers, each judging a batch of message files --------------------------------------

DKIMPY_VERIFY = r"""
import dkim, json, sys
out = {}
for path in sys.argv[1:]:
    msg = open(path, "rb").read()
    n = len([l for l in msg.split(b"\r\n\r\n")[0].split(b"\r\n") if l.lower().startswith(b"dkim-signature:")])
    d = dkim.DKIM(msg)
    v = []
    for i in range(n):
        try:
            v.append("pass" if d.verify(idx=i) else "fail")
        except Exception as e:
            v.append(f"fail ({e})")
    out[path] = v
print(json.dumps(out))
"""

MAILDKIM_VERIFY = r"""
use strict; use warnings; use Mail::DKIM::Verifier; use JSON::PP;
my %out;
for my $path (@ARGV) {
    my $msg = do { local $/; open(my $fh, "<:raw", $path) or die "$path: $!"; <$fh> };
    my $v = Mail::DKIM::Verifier->new();
    $v->PRINT($msg); $v->CLOSE;
    $out{$path} = [ map { $_->result eq "pass" ? "pass" : "fail (" . $_->result_detail . ")" } $v->signatures ];
}
print encode_json(\%out), "\n";
"""

DKIMPY_SIGN = r"""
import dkim, sys
key, sel, algo = open(sys.argv[1], "rb").read(), sys.argv[2].encode(), sys.argv[3].encode()
for path in sys.argv[4:]:
    msg = open(path, "rb").read()
    sig = dkim.sign(msg, sel, b"example.net", key, canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algo,
                    include_headers=[b"from", b"to", b"cc", b"subject", b"date", b"mime-version", b"content-type"])
    open(path + ".signed", "wb").write(sig + msg)
"""

MAILDKIM_SIGN = r"""
use strict; use warnings; use Mail::DKIM::Signer; use Mail::DKIM::TextWrap;
my ($key, $sel, @paths) = @ARGV;
for my $path (@paths) {
    # $/ undone before the key is read: Mail::DKIM reads the key file line by line
    my $msg = do { local $/; open(my $fh, "<:raw", $path) or die "$path: $!"; <$fh> };
    my $s = Mail::DKIM::Signer->new(Algorithm => "rsa-sha256", Method => "relaxed/simple", Domain => "example.net",
                                    Selector => $sel, KeyFile => $key);
    $s->PRINT($msg); $s->CLOSE;
    open(my $o, ">:raw", "$path.signed") or die; print $o $s->signature->as_string, "\r\n", $msg; close $o;
}
"""


# libopendkim itself (the library of opendkim-testmsg and the milter) through ctypes, the part
# its signer and verifier below share: the calls both make, and a header block cut into its
# fields (each with its folds) as dkim_header() takes them one by one.
OPENDKIM_LIB = r"""
import ctypes, json, sys
lib = ctypes.CDLL("libopendkim.so.11")
P, S, I = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
lib.dkim_init.restype = P
lib.dkim_header.argtypes = lib.dkim_body.argtypes = [P, ctypes.c_char_p, S]
lib.dkim_eoh.argtypes = [P]
lib.dkim_eom.argtypes = [P, P]
lib.dkim_free.argtypes = [P]
lib.dkim_getresultstr.restype = ctypes.c_char_p
L = lib.dkim_init(None, None)
def fields(head):
    out = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\r\n" + line
        else:
            out.append(line)
    return out
"""

# OpenDKIM's signer: Debian's opendkim-testmsg (2.11.0~beta2) answers "dkim_chunk(): Syntax
# error" to every message in its signing mode, so the fields are handed to dkim_header() one by
# one instead.
OPENDKIM_SIGN = OPENDKIM_LIB + r"""
lib.dkim_sign.restype = P
lib.dkim_sign.argtypes = [P, ctypes.c_char_p, P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, I, I, I,
                          ctypes.c_ssize_t, ctypes.POINTER(I)]
lib.dkim_getsighdr_d.argtypes = [P, S, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(S)]
key, sel = open(sys.argv[1], "rb").read(), sys.argv[2].encode()
for path in sys.argv[3:]:
    msg = open(path, "rb").read()
    head, body = msg.split(b"\r\n\r\n", 1)
    st = I(0)
    # relaxed/simple, rsa-sha256 (DKIM_CANON_RELAXED 1, DKIM_CANON_SIMPLE 0, DKIM_SIGN_RSASHA256 1)
    d = lib.dkim_sign(L, b"t", None, key, sel, b"example.net", 1, 0, 1, -1, ctypes.byref(st))
    assert d, lib.dkim_getresultstr(st.value)
    for f in fields(head):
        r = lib.dkim_header(d, f, len(f))
        assert r == 0, (path, lib.dkim_getresultstr(r), f[:80])
    for r in (lib.dkim_eoh(d), lib.dkim_body(d, body, len(body)), lib.dkim_eom(d, None)):
        assert r == 0, (path, lib.dkim_getresultstr(r))
    buf, n = ctypes.c_char_p(), S()
    assert lib.dkim_getsighdr_d(d, len(b"DKIM-Signature"), ctypes.byref(buf), ctypes.byref(n)) == 0
    open(path + ".signed", "wb").write(b"DKIM-Signature: " + buf.value + b"\r\n" + msg)
    lib.dkim_free(d)
"""


def dkimpy_verify(paths):
    r = subprocess.run([PY, "-c", DKIMPY_VERIFY] + paths, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return json.loads(r.stdout)


def maildkim_verify(paths):
    r = subprocess.run(["perl", "-e", MAILDKIM_VERIFY] + paths, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return json.loads(r.stdout)


# OpenDKIM's verifier, libopendkim as its signer above: opendkim-testmsg's dkim_chunk() path
# answers "Syntax error" to well-formed messages of several To fields, which libopendkim's own
# field-by-field interface (the milter's) takes.
OPENDKIM_VERIFY = OPENDKIM_LIB + r"""
lib.dkim_verify.restype = P
lib.dkim_verify.argtypes = [P, ctypes.c_char_p, P, ctypes.POINTER(I)]
out = {}
for path in sys.argv[1:]:
    msg = open(path, "rb").read()
    head, body = msg.split(b"\r\n\r\n", 1)
    st = I(0)
    d = lib.dkim_verify(L, b"t", None, ctypes.byref(st))
    assert d, lib.dkim_getresultstr(st.value)
    r = 0
    for f in fields(head):
        r = r or lib.dkim_header(d, f, len(f))
    r = r or lib.dkim_eoh(d)
    r = r or lib.dkim_body(d, body, len(body))
    r = r or lib.dkim_eom(d, None)
    out[path] = "pass" if r == 0 else "fail (" + lib.dkim_getresultstr(r).decode() + ")"
    lib.dkim_free(d)
print(json.dumps(out))
"""


def opendkim_verify(paths):
    """OpenDKIM's verdict per signature, for each message file: libopendkim judges the first
    signature it finds, so each is given to it alone (the others cut out)."""
    one = {}
    for path in paths:
        m = open(path, "rb").read()
        head, body = m.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        sigs = []
        for i, ln in enumerate(lines):
            if ln.lower().startswith(b"dkim-signature:"):
                end = i + 1
                while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
                    end += 1
                sigs.append((i, end))
        for k, keep in enumerate(sigs):
            drop = set()
            for s in sigs:
                if s != keep:
                    drop.update(range(*s))
            p = f"{path}.sig{k}"
            with open(p, "wb") as f:
                f.write(b"\r\n".join(ln for i, ln in enumerate(lines) if i not in drop) + b"\r\n\r\n" + body)
            one.setdefault(path, []).append(p)
    r = subprocess.run([PY, "-c", OPENDKIM_VERIFY] + [p for ps in one.values() for p in ps], capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    got = json.loads(r.stdout)
    return {path: [got[p] for p in one.get(path, [])] for path in paths}


def judge(d, named):
    """name -> {peer: [verdict per signature]} for messages name -> bytes (written as CRLF)."""
    paths = {}
    os.makedirs(os.path.join(d, "judge"), exist_ok=True)
    for i, (name, m) in enumerate(named.items()):
        p = os.path.join(d, "judge", f"{i}.eml")
        with open(p, "wb") as f:
            f.write(crlf(m))
        paths[p] = name
    py, pl, od = dkimpy_verify(list(paths)), maildkim_verify(list(paths)), opendkim_verify(list(paths))
    return {name: {"dkimpy": py[p], "Mail::DKIM": pl[p], "opendkim": od[p]} for p, name in paths.items()}


# Debian 12's Mail::DKIM (1.20230212) has no Ed25519 (RFC 8463): it calls such a signature
# "invalid (unsupported algorithm ed25519-sha256)", which RFC 6376 6.1.1 lets a verifier do with
# an algorithm it does not implement. Those verdicts are left out; dkimpy and OpenDKIM judge
# every Ed25519 signature here.
UNJUDGED = "fail (invalid (unsupported algorithm ed25519-sha256))"


def disagree(peer, got, want):
    """Where peer's verdicts (one per signature) differ from want, those it could not judge
    aside: a list of (index, verdict, wanted)."""
    if len(got) != len(want):
        return [(-1, got, want)]
    return [(i, g, w) for i, (g, w) in enumerate(zip(got, want))
            if g.split()[0] != w and not (peer == "Mail::DKIM" and g == UNJUDGED)]


def zone_file(d, origin, records):
    """A zone file for origin with its SOA, NS and TXT records (name, text), strings of 255."""
    z = (f"$ORIGIN {origin}.\n@ 300 IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 300\n"
         f"@ 300 IN NS ns.{origin}.\nns 300 IN A 127.0.0.1\n")
    for name, text in records:
        parts = " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))
        z += f"{name} 300 IN TXT ( {parts} )\n"
    path = os.path.join(d, origin)
    with open(path, "w") as f:
        f.write(z)
    return path


# ---- ours: signed by mailport, verified by them ---------------------------------------------------

def ours(d):
    with Server(tls=True, resolver="127.0.0.1:53") as s:
        dkim_keys(s, ("r1", "rsa"), ("e1", "ed25519"))
        text = subprocess.run([BIN, "dns", "example.test", "--config", s.conf], capture_output=True, text=True,
                              check=True).stdout
        zone = os.path.join(d, "example.test")
        with open(zone, "w") as f:
            f.write(f"$ORIGIN example.test.\n@ 300 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
                    f"@ 300 IN NS ns.example.test.\nns 300 IN A 127.0.0.1\n{text}")
        dns = AuthDNS(d, [("example.test", zone)], probe=("example.test", "MX", "mx.example.test."), port=53)
        try:
            private_resolv(d)
            s.start()
            sent = messages("alice@example.test")
            ctx = ssl.create_default_context(cafile=s.ca)
            with smtplib.SMTP_SSL("127.0.0.1", s.port465, context=ctx, timeout=30) as c:
                c.login("alice@example.test", "secret")
                for name, body in sent.items():
                    c.sendmail("alice@example.test", ["bob@example.test"], b"X-Case: " + name.encode() + b"\r\n" + body,
                               mail_options=["BODY=8BITMIME"] if name == "8bit" else [])
            got = {}
            for m in s.wait_messages("bob", len(sent), timeout=60):
                got[re.search(rb"^X-Case: (\S+)", m, re.M).group(1).decode()] = m
            assert sorted(got) == sorted(sent), sorted(got)
            # The odd From fields were read as the address parser reads them: every message
            # was signed for example.test, none left unsigned.
            log = s.log()
            assert log.count(" dkim=example.test") == len(sent) and "dkim=unsigned" not in log, log[-3000:]
            # Changed after signing: a body line added, and the last address of the Cc (past
            # the first 8 KiB of the field) changed.
            tampered = {}
            for name, m in got.items():
                tampered[name + "/body"] = m.replace(b"\n\n", b"\n\nchanged\n", 1)
            tampered["long-cc/cc"] = got["long-cc"].replace(b"person299@", b"person298@")
            tampered["many-to/to"] = got["many-to"].replace(b"To: r399@", b"To: r398@")
            verdicts = judge(d, {**got, **tampered})
            bad = []
            for name, per_peer in verdicts.items():
                want = ["fail", "fail"] if "/" in name else ["pass", "pass"]
                for peer, v in per_peer.items():
                    if disagree(peer, v, want):
                        bad.append(f"{name}: {peer} says {v}, want {want}")
            assert not bad, "\n".join(bad)
            # Not signed, and the log line says why (not silently).
            with smtplib.SMTP_SSL("127.0.0.1", s.port465, context=ctx, timeout=30) as c:
                c.login("alice@example.test", "secret")
                c.sendmail("alice@example.test", ["bob@example.test"], b"Subject: no From\r\n\r\nx\r\n")
                c.sendmail("alice@example.test", ["bob@example.test"],
                           b"From: undisclosed-recipients:;\r\nSubject: no address\r\n\r\nx\r\n")
            s.wait_messages("bob", len(sent) + 2, timeout=60)
            log = s.log()
            assert 'dkim=unsigned dkim_reason="no From field"' in log, log[-3000:]
            assert 'dkim=unsigned dkim_reason="no domain in the From field"' in log, log[-3000:]
            assert s.stop() == 0
        finally:
            dns.close()


# ---- theirs: signed by them, verified by us as by them ---------------------------------------------

def keys(d):
    """(rsa PEM path (PKCS#1, which all three read), ed25519 seed path for dkimpy, rsa p=, ed p=)."""
    import base64
    k = os.path.join(d, "rsa.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                    k + ".p8"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", k + ".p8", "-traditional", "-out", k], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", k, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    r = subprocess.run([PY, "-c", "import nacl.signing, base64; k = nacl.signing.SigningKey.generate(); "
                        "print(base64.b64encode(bytes(k)).decode(), base64.b64encode(bytes(k.verify_key)).decode())"],
                       check=True, capture_output=True, text=True)
    priv, pub = r.stdout.split()
    ed = os.path.join(d, "ed.key")
    with open(ed, "w") as f:
        f.write(priv)
    return k, ed, base64.b64encode(der).decode(), pub


def tamper(name, m):
    """A change a verifier must see: inside a signed header field (deep in the 10 KB Cc, the
    last of 400 To fields, else the Subject), and in the body."""
    if name == "long-cc":
        hdr = m.replace(b"person299@", b"person298@")
    elif name == "many-to":
        hdr = m.replace(b"To: r399@", b"To: r398@")
    else:
        hdr = re.sub(rb"\nSubject: ", b"\nSubject: Re: ", m, count=1)
    assert hdr != m, name
    return {"header": hdr, "body": m.replace(b"\r\n\r\n", b"\r\n\r\nchanged\r\n", 1)}


def theirs(d):
    rsa, ed, rsa_p, ed_p = keys(d)
    net = zone_file(d, "example.net", [
        ("py._domainkey", f"v=DKIM1; k=rsa; p={rsa_p}"), ("pyed._domainkey", f"v=DKIM1; k=ed25519; p={ed_p}"),
        ("perl._domainkey", f"v=DKIM1; k=rsa; p={rsa_p}"), ("odkim._domainkey", f"v=DKIM1; k=rsa; p={rsa_p}"),
    ])
    football = zone_file(d, "football.example.com", RFC8463_KEYS)
    dns = AuthDNS(d, [("example.net", net), ("football.example.com", football)],
                  probe=("py._domainkey.example.net", "TXT", "DKIM1"), port=53)
    s = Server(sender_checks=True, resolver="127.0.0.1:53")
    try:
        private_resolv(d)
        s.start()
        base = messages("x@example.net")
        src = os.path.join(d, "src")
        os.makedirs(src)
        paths = {}
        for name, m in base.items():
            p = os.path.join(src, name + ".eml")
            with open(p, "wb") as f:
                f.write(m)
            paths[name] = p
        signed = {}
        for signer, cmd in (("dkimpy-rsa", [PY, "-c", DKIMPY_SIGN, rsa, "py", "rsa-sha256"]),
                            ("dkimpy-ed25519", [PY, "-c", DKIMPY_SIGN, ed, "pyed", "ed25519-sha256"]),
                            ("maildkim-rsa", ["perl", "-e", MAILDKIM_SIGN, rsa, "perl"]),
                            ("opendkim-rsa", [PY, "-c", OPENDKIM_SIGN, rsa, "odkim"])):
            r = subprocess.run(cmd + list(paths.values()), capture_output=True, timeout=300)
            assert r.returncode == 0, (signer, r.stderr.decode()[-2000:])
            for name, p in paths.items():
                signed[(signer, name)] = crlf(open(p + ".signed", "rb").read())
        cases = {}
        for (signer, name), m in signed.items():
            cases[f"{signer}/{name}/signed"] = m
            for variant, t in tamper(name, m).items():
                cases[f"{signer}/{name}/{variant}"] = t
        # RFC 8463's own example through port 25, as published and with its Subject changed.
        cases["rfc8463/a3/signed"] = RFC8463_SIGNED
        cases["rfc8463/a3/header"] = RFC8463_SIGNED.replace(b"Is dinner ready?", b"Is supper ready?")
        with smtplib.SMTP(s.host, s.port, local_hostname="client.example", timeout=60) as c:
            for key, m in cases.items():
                c.sendmail("x@example.net", ["alice@example.test"], b"X-Variant: " + key.encode() + b"\r\n" + m,
                           mail_options=["BODY=8BITMIME"] if "/8bit/" in key else [])
        got = {}
        for m in s.wait_messages("alice", len(cases), timeout=180):
            got[re.search(rb"^X-Variant: (\S+)", m, re.M).group(1).decode()] = m
        assert sorted(got) == sorted(cases), set(cases) - set(got)
        verdicts = judge(d, got)
        bad = []
        for key, m in got.items():
            head = m.replace(b"\r\n", b"\n").split(b"\n\n")[0].decode("utf-8", "replace")
            ar = re.search(r"^Authentication-Results:.*(?:\n[ \t].*)*", head, re.M)
            assert ar is not None, head[:800]
            ours = re.findall(r"\bdkim=(\w+)", ar.group(0))
            want = ["pass" if key.endswith("/signed") else "fail"] * (2 if key.startswith("rfc8463/") else 1)
            if ours != want:
                bad.append(f"{key}: mailport says {ours} ({ar.group(0)!r}), want {want}")
            for peer, v in verdicts[key].items():
                if disagree(peer, v, ours):
                    bad.append(f"{key}: {peer} says {v}, mailport {ours}")
        assert not bad, "\n".join(bad)
        assert s.stop() == 0
    finally:
        s.cleanup()
        dns.close()


def main(d):
    {"ours": ours, "theirs": theirs}[os.environ["MAILPORT_DKIM_CROSS"]](d)


if __name__ == "__main__":
    inner_main(main, "mailport-dkimx-")
