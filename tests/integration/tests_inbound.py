"""Port 25's sender checks: SPF (RFC 7208), DKIM verification (RFC 6376, RFC 8463) and DMARC
(RFC 7489), reported in Authentication-Results: (RFC 8601). Everything is judged by peers we did
not write: messages signed by python3-dkim (dkimpy, rsa and ed25519, relaxed and simple),
SPF verdicts compared with pyspf's (python3-spf) for the same records, DMARC verdicts with Perl
Mail::DMARC's (libmail-dmarc-perl) for the same records and results, the header field read
by python3-authres's RFC 8601 parser, DNS served by Debian's unbound from local data on a
loopback port. Clients: python3 smtplib and swaks."""
import json
import os
import re
import smtplib
import subprocess

from harness import BIN, Server, Skip, need
from unbound import Unbound

PY = "/usr/bin/python3"


def keypair(directory, kind):
    """(private key for dkimpy, the p= of its TXT record)."""
    key = os.path.join(directory, f"{kind}.key")
    if kind == "rsa":
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        import base64
        return open(key, "rb").read(), base64.b64encode(der).decode()
    r = subprocess.run([PY, "-c", "import nacl.signing, base64; k = nacl.signing.SigningKey.generate(); "
                        "print(base64.b64encode(bytes(k)).decode(), base64.b64encode(bytes(k.verify_key)).decode())"],
                       check=True, capture_output=True, text=True)
    priv, pub = r.stdout.split()
    return priv.encode(), pub


def txt(name, value):
    """local-data for a TXT record, split in 255-octet strings."""
    parts = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"  local-data: '{name}. 3600 IN TXT {parts}'\n"


SPF_CASES = {
    # domain: its TXT records and any other records it needs
    "example.net": ["v=spf1 ip4:127.0.0.0/8 -all"],
    "forged.example": ["v=spf1 -all"],
    "soft.example": ["v=spf1 ~all"],
    "incl.example": ["v=spf1 include:example.net -all"],
    "redir.example": ["v=spf1 redirect=example.net"],
    "mx.example": ["v=spf1 mx/24 -all"],
    "a.example": ["v=spf1 a:host.a.example/8 -all"],
    "macro.example": ["v=spf1 exists:%{ir}._spf.%{d} -all"],
    "bounces.strict.example": ["v=spf1 ip4:127.0.0.1 -all"],
    "bounces.example.net": ["v=spf1 ip4:127.0.0.1 -all"],
    "macro2.example": ["v=spf1 exists:%{l1r-}.%{ir}.%{v}.m.%{d2} -all"],
    "two.example": ["v=spf1 -all", "v=spf1 +all"],
    "syntax.example": ["v=spf1 ip4:300.1.1.1 -all"],
    "void.example": ["v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example +all"],
    "deep.example": ["v=spf1 include:d1.example include:d2.example include:d3.example include:d4.example "
                     "include:d5.example include:d6.example include:d7.example include:d8.example "
                     "include:d9.example include:d10.example include:d11.example +all"],
    "neutral.example": ["v=spf1 ?all"],
    "helo.example": ["v=spf1 ip4:127.0.0.1 -all"],
    "nospf.example": ["some other text"],
}

OTHER = """
  local-data: "mx.example. 3600 IN MX 10 mail.mx.example."
  local-data: "mail.mx.example. 3600 IN A 127.0.0.200"
  local-data: "host.a.example. 3600 IN A 127.9.9.9"
  local-data: "1.0.0.127._spf.macro.example. 3600 IN A 127.0.0.2"
  local-data: "strong.1.0.0.127.in-addr.m.macro2.example. 3600 IN A 127.0.0.2"
"""
for i in range(1, 12):
    SPF_CASES[f"d{i}.example"] = ["v=spf1 ?all"]


# The records of the DMARC cases (RFC 7489), beyond those of example.net, forged.example,
# soft.example and strict.example in zone().
DMARC_RECORDS = {
    "parent.example": ["v=DMARC1; p=reject"],
    "two.parent.example": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
    "bad.parent.example": ["v=DMARC1; p=bogus"],
    "badsp.parent.example": ["v=DMARC1; p=none; sp=bogus"],
    "lc.parent.example": ["v=dmarc1; p=none"],
    "sp.example": ["v=DMARC1; p=reject; sp=none"],
    "upper.example": ["v=DMARC1; p=REJECT"],
    "tagcase.example": ["V=DMARC1; P=Reject; ADKIM=S"],
    "rua.example": ["v=DMARC1; p=invalid; rua=mailto:d@rua.example"],
    "space.example": ["v = DMARC1 ; p = reject"],
    "pct0.example": ["v=DMARC1; p=reject; pct=0"],
    "pctbad.example": ["v=DMARC1; p=reject; pct=150"],
    "dup.example": ["v=DMARC1; p=none; p=reject"],
    "vlast.example": ["p=reject; v=DMARC1"],
    "sdkim.example.net": ["v=DMARC1; p=reject; adkim=S"],
}
DMARC_EXISTING = ["parent.example", "sp.example", "upper.example", "tagcase.example", "rua.example", "space.example",
                  "pct0.example", "pctbad.example", "dup.example", "vlast.example", "plain.example", "example.net",
                  "forged.example", "soft.example"]


def zone(keys):
    z = '  local-zone: "." static\n'
    for d, recs in SPF_CASES.items():
        for r in recs:
            z += txt(d, r)
    z += OTHER
    z += txt("rsa._domainkey.example.net", "v=DKIM1; k=rsa; p=" + keys["rsa"][1])
    z += txt("ed._domainkey.example.net", "v=DKIM1; k=ed25519; p=" + keys["ed25519"][1])
    z += txt("revoked._domainkey.example.net", "v=DKIM1; k=rsa; p=")
    z += txt("_dmarc.example.net", "v=DMARC1; p=reject; rua=mailto:dmarc@example.net")
    z += txt("_dmarc.forged.example", "v=DMARC1; p=reject")
    z += txt("_dmarc.soft.example", "v=DMARC1; p=quarantine")
    z += txt("_dmarc.strict.example", "v=DMARC1; p=reject; aspf=s")
    for d, recs in DMARC_RECORDS.items():
        for r in recs:
            z += txt("_dmarc." + d, r)
    # Mail::DMARC only judges a From: domain that exists (its exists_in_dns): an address for
    # each organizational domain of the DMARC cases
    for d in DMARC_EXISTING:
        z += f'  local-data: "{d}. 3600 IN A 127.0.0.1"\n'
    return z


SIGN = r"""
import dkim, sys
key, sel, algo, canon = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4].encode()
msg = sys.stdin.buffer.read()
sig = dkim.sign(msg, sel, b"example.net", open(key, "rb").read(), canonicalize=tuple(canon.split(b"/")),
                signature_algorithm=algo, include_headers=[b"from", b"to", b"subject", b"date"],
                length=len(sys.argv) > 5)
sys.stdout.buffer.write(sig + msg)
"""

PYSPF = r"""
import sys, dns.resolver, spf
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
dns.resolver.default_resolver = r
for line in sys.stdin:
    sender, helo = line.split()
    print(spf.check2(i="127.0.0.1", s=sender, h=helo)[0])
"""

PARSE = r"""
import authres, sys
for block in sys.stdin.read().split("\n\n\n"):
    if not block.strip():
        continue
    h = authres.AuthenticationResultsHeader.parse(block.strip())
    out = [h.authserv_id]
    for r in h.results:
        props = ",".join(f"{p.type}.{p.name}={p.value}" for p in r.properties)
        out.append(f"{r.method}={r.result}[{props}]")
    print(" ".join(out))
"""


def parse_ar(messages):
    """Each message's own (topmost) Authentication-Results field, as python3-authres reads it."""
    blocks = []
    for m in messages:
        head = m.split(b"\n\n")[0].decode()
        lines = head.split("\n")
        for i, l in enumerate(lines):
            if l.lower().startswith("authentication-results:"):
                field = [l]
                for c in lines[i + 1:]:
                    if c[:1] in (" ", "\t"):
                        field.append(c)
                    else:
                        break
                blocks.append("\n".join(field))
                break
        else:
            blocks.append("Authentication-Results: missing; none")
    r = subprocess.run([PY, "-c", PARSE], input="\n\n\n".join(blocks), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def message(sender_domain, subject="hi", body="Hello.\r\n"):
    return (f"From: Someone <x@{sender_domain}>\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
            f"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@{sender_domain}>\r\n"
            f"\r\n{body}").encode()


def sign(msg, key, selector, algo, canon, length=False):
    """msg signed by python3-dkim; length: with l= (the body length signed)."""
    r = subprocess.run([PY, "-c", SIGN, key, selector, algo, canon] + (["l"] if length else []), input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


class Env:
    """A mailport MX for example.test with sender checks, and the DNS above."""

    def __init__(self, extra=""):
        need("unbound")
        need("dig")
        self.srv = Server(sender_checks=True, extra=extra)
        os.makedirs(os.path.join(self.srv.dir, "keys"))
        self.keys = {}
        for kind in ("rsa", "ed25519"):
            priv, pub = keypair(os.path.join(self.srv.dir, "keys"), kind)
            path = os.path.join(self.srv.dir, "keys", f"{kind}.dkimpy")
            with open(path, "wb") as f:
                f.write(priv)
            self.keys[kind] = (path, pub)
        self.dns = Unbound(self.srv.dir, server_extra=zone(self.keys), probe=("example.net", "TXT", "spf1"))
        with open(self.srv.conf) as f:
            conf = f.read()
        with open(self.srv.conf, "w") as f:
            f.write(conf.replace("resolver = 127.0.0.1:9", f"resolver = 127.0.0.1:{self.dns.port}"))
        self.srv.start()

    def send(self, mail_from, msg, helo="client.example"):
        with smtplib.SMTP(self.srv.host, self.srv.port, local_hostname=helo, timeout=60) as s:
            s.sendmail(mail_from, ["bob@example.test"], msg)

    def close(self):
        self.dns.close()
        self.srv.cleanup()


def test_spf_verdicts_agree_with_pyspf():
    env = Env()
    try:
        cases = [(f"x@{d}", "client.example") for d in SPF_CASES if not re.fullmatch(r"d\d+\.example", d)]
        cases.append(("strong-bad@macro2.example", "client.example"))
        cases.append(("", "helo.example"))          # null sender: the HELO name is checked
        for sender, helo in cases:
            env.send(sender, message(sender.split("@")[-1] if sender else "helo.example", subject=f"spf {sender}"),
                     helo=helo)
        msgs = env.srv.wait_messages("bob", len(cases))
        got = {}
        for line in parse_ar(msgs):
            spf = [w for w in line.split() if w.startswith("spf=")][0]
            result = spf.split("[")[0][4:]
            ident = spf.split("[")[1].rstrip("]")
            got[ident] = result
        r = subprocess.run([PY, "-c", PYSPF, str(env.dns.port)], capture_output=True, text=True, timeout=120,
                           input="".join(f"{s or 'postmaster@' + h} {h}\n" for s, h in cases))
        if "No module named 'spf'" in r.stderr:
            raise Skip("python3-spf not installed")
        assert r.returncode == 0, r.stderr
        expected = r.stdout.split()
        assert len(expected) == len(cases)
        for (sender, helo), want in zip(cases, expected):
            ident = f"smtp.mailfrom={sender}" if sender else f"smtp.helo={helo}"
            assert got.get(ident) == want, (sender, helo, got.get(ident), want, got)
        # Each one that matters by name, so a shared mistake with pyspf cannot hide.
        assert got["smtp.mailfrom=x@example.net"] == "pass"
        assert got["smtp.mailfrom=x@forged.example"] == "fail"
        assert got["smtp.mailfrom=x@soft.example"] == "softfail"
        assert got["smtp.mailfrom=x@incl.example"] == "pass"
        assert got["smtp.mailfrom=x@redir.example"] == "pass"
        assert got["smtp.mailfrom=x@mx.example"] == "pass"
        assert got["smtp.mailfrom=x@a.example"] == "pass"
        assert got["smtp.mailfrom=x@macro.example"] == "pass"
        assert got["smtp.mailfrom=strong-bad@macro2.example"] == "pass"
        assert got["smtp.mailfrom=x@two.example"] == "permerror"
        assert got["smtp.mailfrom=x@syntax.example"] == "permerror"
        assert got["smtp.mailfrom=x@void.example"] == "permerror"
        assert got["smtp.mailfrom=x@deep.example"] == "permerror"
        assert got["smtp.mailfrom=x@neutral.example"] == "neutral"
        assert got["smtp.mailfrom=x@nospf.example"] == "none"
        assert got["smtp.helo=helo.example"] == "pass"
    finally:
        env.close()


def test_dkim_signatures_of_python3_dkim_verified():
    env = Env()
    try:
        body8 = "Gr\u00fc\u00dfe aus K\u00f6ln.\r\n\r\n.leading dot\r\n\r\n\r\n"
        cases = [
            ("rsa", "rsa-sha256", "relaxed/relaxed", "pass"),
            ("rsa", "rsa-sha256", "simple/simple", "pass"),
            ("ed", "ed25519-sha256", "relaxed/relaxed", "pass"),
            ("ed", "ed25519-sha256", "relaxed/simple", "pass"),
        ]
        for sel, algo, canon, _ in cases:
            key = env.keys["rsa" if sel == "rsa" else "ed25519"][0]
            msg = message("example.net", subject=f"dkim {algo} {canon}", body=body8)
            env.send("x@example.net", sign(msg, key, sel, algo, canon))
        # Changed in transit: a body line altered after signing; then a Subject.
        signed = sign(message("example.net", subject="changed body"), env.keys["rsa"][0], "rsa", "rsa-sha256",
                      "relaxed/relaxed")
        env.send("x@forged.example", signed.replace(b"Hello.", b"Hello!"))
        signed = sign(message("example.net", subject="changed subject"), env.keys["ed25519"][0], "ed",
                      "ed25519-sha256", "relaxed/relaxed")
        env.send("x@forged.example", signed.replace(b"changed subject", b"changed Subject"))
        signed = sign(message("example.net", subject="revoked"), env.keys["rsa"][0], "revoked", "rsa-sha256",
                      "relaxed/relaxed")
        env.send("x@example.net", signed)
        signed = sign(message("example.net", subject="unknown selector"), env.keys["rsa"][0], "nosuch",
                      "rsa-sha256", "relaxed/relaxed")
        env.send("x@example.net", signed)
        # l=: text appended after the signed length (a list footer) keeps the signature valid
        signed = sign(message("example.net", subject="with l"), env.keys["rsa"][0], "rsa", "rsa-sha256",
                      "simple/simple", length=True)
        env.send("x@forged.example", signed + b"-- \r\nfooter added by a list\r\n")
        msgs = env.srv.wait_messages("bob", len(cases) + 5)
        lines = parse_ar(msgs)
        by_subject = {}
        for m, line in zip(msgs, lines):
            subj = [l for l in m.decode("utf-8", "replace").split("\n") if l.startswith("Subject:")][0][9:].strip()
            by_subject[subj] = line
        for sel, algo, canon, want in cases:
            line = by_subject[f"dkim {algo} {canon}"]
            assert f"dkim={want}[header.d=example.net,header.s={sel},header.a={algo}," in line, line
            assert "dmarc=pass" in line, line
        line = by_subject["changed body"]
        assert "dkim=fail" in line and "spf=fail" in line and "dmarc=fail" in line, line
        assert "dkim=fail" in by_subject["changed Subject"], by_subject["changed Subject"]
        assert "dkim=permerror" in by_subject["revoked"], by_subject["revoked"]
        assert "dkim=permerror" in by_subject["unknown selector"], by_subject["unknown selector"]
        assert "dkim=pass" in by_subject["with l"] and "dmarc=pass" in by_subject["with l"], by_subject["with l"]
        # The reason is said in words, readable by RFC 8601 parsers.
        raw = [m for m in msgs if b"changed body" in m][0].decode()
        assert 'reason="body hash did not verify"' in raw, raw[:800]
    finally:
        env.close()


def test_dmarc_pass_fail_and_reject_knob():
    env = Env()
    try:
        # SPF aligned (example.net from 127.0.0.1), DKIM aligned for a subdomain's From (relaxed),
        # nothing aligned for forged.example (p=reject) and soft.example (p=quarantine).
        env.send("x@example.net", message("example.net", subject="spf aligned"))
        sub = sign(message("news.example.net", subject="dkim relaxed"), env.keys["rsa"][0], "rsa", "rsa-sha256",
                   "relaxed/relaxed")
        env.send("bounce@forged.example", sub)
        env.send("x@forged.example", message("forged.example", subject="forged"))
        env.send("x@soft.example", message("soft.example", subject="soft"))
        # SPF passes for a bounce subdomain: aligned under relaxed (the default), not under aspf=s
        env.send("x@bounces.example.net", message("example.net", subject="relaxed"))
        env.send("x@bounces.strict.example", message("strict.example", subject="strict"))
        msgs = env.srv.wait_messages("bob", 6)
        lines = dict((m.split(b"Subject: ")[1].split(b"\r\n")[0].split(b"\n")[0].decode(), l)
                     for m, l in zip(msgs, parse_ar(msgs)))
        assert "dmarc=pass[header.from=example.net]" in lines["spf aligned"], lines
        assert "dmarc=pass[header.from=news.example.net]" in lines["dkim relaxed"], lines
        assert "spf=fail" in lines["dkim relaxed"], lines
        assert "dmarc=fail[header.from=forged.example]" in lines["forged"], lines
        assert "dmarc=fail[header.from=soft.example]" in lines["soft"], lines
        assert "spf=pass" in lines["relaxed"] and "dmarc=pass[header.from=example.net]" in lines["relaxed"], lines
        assert "spf=pass" in lines["strict"] and "dmarc=fail[header.from=strict.example]" in lines["strict"], lines
        raw = [m for m in msgs if b"Subject: forged" in m][0]
        assert b"(p=reject)" in raw
        log = env.srv.log()
        assert "spf=fail dkim=none dmarc=fail/forged.example" in log, log[-2000:]
    finally:
        env.close()
    # The knob: p=reject failures refused at the end of DATA, nothing delivered, nothing lost
    # of the mail that passes or whose policy is not reject.
    env = Env(extra="")
    try:
        with open(env.srv.conf) as f:
            conf = f.read()
        env.srv.stop()
        with open(env.srv.conf, "w") as f:
            f.write(conf.replace("sender_checks = yes", "sender_checks = yes\ndmarc_reject = yes"))
        env.srv.start()
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{env.srv.port}", "--from", "x@forged.example",
                            "--to", "bob@example.test", "--header", "From: x@forged.example", "--helo",
                            "client.example"], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r.stdout
        assert "550 5.7.1 Message refused: forged.example publishes a DMARC policy of reject" in r.stdout, r.stdout
        env.send("x@soft.example", message("soft.example", subject="soft kept"))
        env.send("x@example.net", message("example.net", subject="passes"))
        msgs = env.srv.wait_messages("bob", 2)
        assert env.srv.wait_queue(0, 30) == 0, env.srv.log()[-3000:]     # nothing more to come
        assert len(env.srv.messages("bob")) == 2
        assert not [m for m in msgs if b"forged" in m]
        assert "refused " in env.srv.log() and 'reason="Message refused: forged.example' in env.srv.log()
        assert not env.srv.queue_files()
    finally:
        env.close()


def test_forged_authentication_results_removed():
    env = Env()
    try:
        msg = (b"Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=x@forged.example;\r\n"
               b"\tdmarc=pass header.from=forged.example\r\n"
               b"Authentication-Results: (comment) MX.example.test; dkim=pass header.d=forged.example\r\n"
               b"Authentication-Results: upstream.example; spf=pass smtp.mailfrom=x@forged.example\r\n"
               + message("forged.example", subject="forged ar"))
        env.send("x@forged.example", msg)
        m = env.srv.wait_messages("bob", 1)[0]
        fields = [l for l in m.split(b"\n") if l.lower().startswith(b"authentication-results:")]
        assert len(fields) == 2, m[:1500]
        assert b"upstream.example" in fields[1]
        assert b"spf=fail" in m.split(b"Received:")[0]
        assert "removed 2 Authentication-Results fields that claimed to be ours" in env.srv.log()
    finally:
        env.close()


def test_dead_dns_gives_temperror_and_keeps_mail():
    """A DNS server that never answers: the message is still accepted and delivered, its
    results temperror; the next ones do not wait for it again."""
    srv = Server(sender_checks=True)          # resolver 127.0.0.1:9: nothing answers there
    srv.start()
    try:
        for i in range(3):
            with smtplib.SMTP(srv.host, srv.port, timeout=60) as s:
                s.sendmail("x@example.net", ["bob@example.test"], message("example.net", subject=f"dead {i}"))
        msgs = srv.wait_messages("bob", 3)
        for line in parse_ar(msgs):
            assert "spf=temperror" in line and "dmarc=temperror" in line, line
        assert srv.log().count("does not answer; for the next 30 s") == 1, srv.log()[-3000:]
    finally:
        srv.cleanup()


def test_sender_check_settings_are_checked():
    """A value that is neither yes nor no is a config error naming file:line (exit 78)."""
    for key in ("sender_checks", "dmarc_reject"):
        srv = Server()
        try:
            with open(srv.conf) as f:
                conf = f.read()
            with open(srv.conf, "w") as f:
                f.write(conf.replace("sender_checks = no", f"sender_checks = {'maybe' if key == 'sender_checks' else 'no'}"
                                     + ("\ndmarc_reject = maybe" if key == "dmarc_reject" else "")))
            r = subprocess.run([BIN, "serve", "--config", srv.conf], capture_output=True, text=True, timeout=30)
            assert r.returncode == 78, (r.returncode, r.stderr)
            assert f"mailport.conf:{srv.conf_line(key + ' = maybe')}: [smtp] {key}: \"maybe\": expected yes or no" \
                in r.stderr, r.stderr
        finally:
            srv.cleanup()


# Perl Mail::DMARC (PurePerl) judging one message per input line, given what mailport found for
# SPF and DKIM (compared with pyspf and dkimpy above): the From: field, the SPF result and
# domain, the DKIM results. Its DNS is the test's unbound only (a Net::DNS resolver on loopback),
# its public suffix list the file named in its configuration.
MAIL_DMARC = r"""
use strict;
use warnings;
use JSON::PP;
use Net::DNS::Resolver;
use Mail::DMARC::PurePerl;

my $port = shift @ARGV;
my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port, recurse => 1, dnsrch => 0,
                                  defnames => 0, udp_timeout => 5, tcp_timeout => 5, retry => 2);
while (my $line = <STDIN>) {
    my $in = decode_json($line);
    my $dmarc = Mail::DMARC::PurePerl->new;
    $dmarc->set_resolver($res);
    $dmarc->source_ip('127.0.0.1');
    $dmarc->envelope_to('example.test');
    $dmarc->envelope_from($in->{spf_domain});
    $dmarc->header_from_raw($in->{from});
    $dmarc->spf(domain => $in->{spf_domain}, scope => 'mfrom', result => $in->{spf});
    $dmarc->dkim($in->{dkim});
    my $r = $dmarc->validate;
    print lc($r->result), " ", lc($r->disposition), "\n";
}
"""

# (subject, MAIL FROM, From: fields, signed by example.net's rsa key, mailport's dmarc= result and
# disposition (the policy applied to a failure), Mail::DMARC's where it differs on purpose, why)
DMARC_CASES = [
    ("own record", "x@forged.example", ["x@parent.example"], False, "fail", "reject", None),
    ("two records at a subdomain", "x@forged.example", ["x@two.parent.example"], False, "none", "none",
     ("fail", "none", "RFC 7489 6.6.3 step 5: several records end discovery and DMARC is not applied, which 11.2 "
      "reports as dmarc=none (no policy); Mail::DMARC keeps its default result fail, with no disposition")),
    ("bad p at a subdomain", "x@forged.example", ["x@bad.parent.example"], False, "none", "none",
     ("fail", "none", "RFC 7489 6.6.3 step 6: a record without a valid p= or rua= means no DMARC processing "
      "(dmarc=none), not a failure; both leave the parent's p=reject alone")),
    ("bad sp at a subdomain", "x@forged.example", ["x@badsp.parent.example"], False, "none", "none",
     ("fail", "none", "RFC 7489 6.6.3 step 6: an invalid sp= without a valid rua= means no DMARC processing")),
    ("no record at a subdomain", "x@forged.example", ["x@norec.parent.example"], False, "fail", "reject", None),
    ("v=dmarc1 at a subdomain", "x@forged.example", ["x@lc.parent.example"], False, "fail", "reject",
     ("fail", "none", "RFC 7489 6.3 and 6.4: v= MUST be exactly DMARC1 (%x44 %x4d %x41 %x52 %x43 %x31); a record "
      "with v=dmarc1 is discarded (6.6.3 step 2), so the organizational domain's p=reject applies; Mail::DMARC "
      "compares the version in lower case and applies p=none")),
    ("sp for a subdomain", "x@forged.example", ["x@news.sp.example"], False, "fail", "none", None),
    ("sp not for the domain", "x@forged.example", ["x@sp.example"], False, "fail", "reject", None),
    ("p in upper case", "x@forged.example", ["x@upper.example"], False, "fail", "reject", None),
    ("tags in upper case", "x@forged.example", ["x@tagcase.example"], False, "fail", "reject", None),
    ("bad p with a rua", "x@forged.example", ["x@rua.example"], False, "fail", "none", None),
    ("white space in the record", "x@forged.example", ["x@space.example"], False, "fail", "reject",
     ("none", "none", "RFC 7489 6.4: dmarc-version = \"v\" *WSP \"=\" *WSP \"DMARC1\" and dmarc-sep allow white "
      "space; Mail::DMARC discards a record whose first 8 octets are not v=dmarc1")),
    ("pct 0", "x@forged.example", ["x@pct0.example"], False, "fail", "quarantine", None),
    ("pct over 100", "x@forged.example", ["x@pctbad.example"], False, "fail", "reject", None),
    ("a tag twice", "x@forged.example", ["x@dup.example"], False, "none", "none",
     ("fail", "reject", "RFC 7489 6.3 takes DKIM's tag-value syntax, and RFC 6376 3.2 makes a tag-list with a "
      "tag twice invalid: no policy; Mail::DMARC keeps the last p=")),
    ("v not first", "x@forged.example", ["x@vlast.example"], False, "none", "none", None),
    ("adkim S", "x@forged.example", ["x@sdkim.example.net"], True, "fail", "reject", None),
    ("dkim relaxed", "x@forged.example", ["x@news.example.net"], True, "pass", "none", None),
    ("spf aligned", "x@example.net", ["x@example.net"], False, "pass", "none", None),
    ("no policy", "x@forged.example", ["x@plain.example"], False, "none", "none", None),
    ("two domains, forged last", "x@example.net", ["a@example.net, b@parent.example"], False, "fail", "reject",
     None),
    ("two domains, forged first", "x@example.net", ["b@parent.example, a@example.net"], False, "fail", "reject",
     ("pass", "none", "RFC 7489 6.6.1: every domain of a From: with several is judged and the strictest failing "
      "policy applies; Mail::DMARC judges the last address's domain only")),
    ("two From fields", "x@example.net", ["a@example.net", "b@parent.example"], False, "fail", "reject",
     ("pass", "none", "RFC 7489 6.6.1 (and RFC 5322 3.6: one From:): a second From: field must not hide a "
      "domain, each is judged; Mail::DMARC is given the first field, as a single-From extractor reads it")),
    ("two domains, both aligned", "x@example.net", ["a@example.net, b@news.example.net"], False, "pass", "none",
     None),
]


def dmarc_message(case):
    subject, _, froms, signed = case[:4]
    msg = "".join(f"From: {f}\r\n" for f in froms)
    msg += (f"To: bob@example.test\r\nSubject: dmarc {subject}\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@dmarc.example>\r\n\r\nHello.\r\n")
    return msg.encode()


def mail_dmarc_verdicts(dns_port, directory, inputs):
    """Mail::DMARC's (result, disposition) for each input, with its own configuration: no report
    store, our DNS timeout, and the Debian public suffix list plus the .example and .test TLDs
    of RFC 2606 (the list's implicit "*" rule, which libpsl applies and Mail::DMARC does not)."""
    psl = os.path.join(directory, "psl.dat")
    with open("/usr/share/publicsuffix/public_suffix_list.dat", encoding="utf-8") as f:
        base = f.read()
    with open(psl, "w", encoding="utf-8") as f:
        f.write(base + "\nexample\ntest\n")
    ini = os.path.join(directory, "mail-dmarc.ini")
    with open(ini, "w") as f:
        f.write(f"[report_store]\nauto_save = 0\n\n[dns]\ntimeout = 5\npublic_suffix_list = {psl}\n")
    env = dict(os.environ, MAIL_DMARC_CONFIG_FILE=ini)
    r = subprocess.run(["perl", "-e", MAIL_DMARC, str(dns_port)], input="".join(json.dumps(i) + "\n" for i in inputs),
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    out = [tuple(l.split()) for l in r.stdout.splitlines()]
    assert len(out) == len(inputs), (r.stdout, r.stderr)
    return out


def test_dmarc_verdicts_agree_with_mail_dmarc():
    """mailport's dmarc= verdict and disposition against Mail::DMARC's on the same DNS, case by
    case (RFC 7489 6.3, 6.4, 6.6.1, 6.6.3); then dmarc_reject = yes refuses a From: with a
    forged p=reject domain among others (550 5.7.1) and keeps mail of a subdomain whose own
    record is broken or doubled."""
    need("perl")
    if subprocess.run(["perl", "-MMail::DMARC::PurePerl", "-e", "1"], capture_output=True).returncode != 0:
        raise Skip("libmail-dmarc-perl not installed")
    env = Env()
    try:
        for case in DMARC_CASES:
            msg = dmarc_message(case)
            if case[3]:
                msg = sign(msg, env.keys["rsa"][0], "rsa", "rsa-sha256", "relaxed/relaxed")
            env.send(case[1], msg)
        msgs = env.srv.wait_messages("bob", len(DMARC_CASES))
        by_subject = {}
        for m in msgs:
            text = m.decode("utf-8", "replace")
            subj = re.search(r"^Subject: dmarc (.*?)\r?$", text, re.M).group(1)
            by_subject[subj] = (m, parse_ar([m])[0])
        inputs, got = [], {}
        for case in DMARC_CASES:
            raw, line = by_subject[case[0]]
            head = raw.split(b"\n\n")[0].split(b"\r\n\r\n")[0].decode()
            field = re.search(r"\tdmarc=(\w+)(?: \((?:p=(\w+))?[^)]*\))?", head)
            assert field, head[:1500]
            result, policy = field.group(1), field.group(2) or "none"
            got[case[0]] = (result, policy if result == "fail" else "none")
            spf = re.search(r"spf=(\w+)\[smtp\.mailfrom=[^@\]]*@([^,\]]+)", line)
            dkim = [{"domain": d, "selector": sel, "result": res}
                    for res, d, sel in re.findall(r"dkim=(\w+)\[header\.d=([^,\]]+),header\.s=([^,\]]+)", line)]
            # Mail::DMARC takes one From: value: the (first) field
            inputs.append({"from": case[2][0],
                           "spf": spf.group(1), "spf_domain": spf.group(2), "dkim": dkim})
        theirs = mail_dmarc_verdicts(env.dns.port, env.srv.dir, inputs)
        for case, their in zip(DMARC_CASES, theirs):
            subject, want, differs = case[0], (case[4], case[5]), case[6]
            assert got[subject] == want, (subject, "mailport", got[subject], "RFC 7489", want)
            if differs is None:
                assert their == want, (subject, "Mail::DMARC", their, "mailport", got[subject])
            else:
                # a deliberate difference: Mail::DMARC still says what the case says it does
                assert their == differs[:2], (subject, "Mail::DMARC", their, "expected", differs[:2], differs[2])
        # Several From: domains are reported as one dmarc= result, the strictest, and logged each.
        raw = by_subject["two domains, forged first"][0].decode()
        assert "dmarc=fail (p=reject; other From: domains: example.net=pass) header.from=parent.example" in raw, \
            raw[:1500]
        assert "dmarc=fail/parent.example dmarc_from=parent.example:fail,example.net:pass" in env.srv.log()
        # A broken or doubled subdomain record: the comment says why there is no policy.
        raw = by_subject["two records at a subdomain"][0].decode()
        assert "_dmarc.two.parent.example has 2 DMARC records: no policy" in raw, raw[:1500]

        # dmarc_reject = yes
        env.srv.stop()
        with open(env.srv.conf) as f:
            conf = f.read()
        with open(env.srv.conf, "w") as f:
            f.write(conf.replace("sender_checks = yes", "sender_checks = yes\ndmarc_reject = yes"))
        env.srv.start()
        refused = [c for c in DMARC_CASES if c[0] in ("two domains, forged first", "two From fields")]
        for case in refused:
            try:
                env.send(case[1], dmarc_message(case))
                raise AssertionError(f"{case[0]}: accepted under dmarc_reject")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 550, (case[0], e)
                assert e.smtp_error.startswith(b"5.7.1 Message refused: parent.example publishes a DMARC policy "
                                               b"of reject"), (case[0], e)
        many = ("nine domains", "x@example.net", [", ".join(f"a@d{i}.example" for i in range(8)) + ", x@example.net"],
                False)
        try:
            env.send(many[1], dmarc_message(many))
            raise AssertionError("nine From: domains accepted under dmarc_reject")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 550 and b"more than 8 domains" in e.smtp_error, e
        kept = [c for c in DMARC_CASES if c[0] in ("two records at a subdomain", "bad p at a subdomain",
                                                   "bad sp at a subdomain", "two domains, both aligned")]
        for case in kept:
            env.send(case[1], dmarc_message(case))
        msgs = env.srv.wait_messages("bob", len(DMARC_CASES) + len(kept))
        assert env.srv.wait_queue(0, 30) == 0, env.srv.log()[-3000:]     # nothing more to come
        assert len(env.srv.messages("bob")) == len(DMARC_CASES) + len(kept)
        assert not env.srv.queue_files()
    finally:
        env.close()
