#!/usr/bin/env python3
"""Build seed corpora from the golden transcripts (client bytes of each case) plus known
attack inputs; files are named by the SHA-1 of their content (nghttp2/h2o habit).
Re-running only adds files."""
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSCRIPTS = os.path.join(HERE, "..", "unit", "transcripts")


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}.get(n, n.encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def save(kind, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    sessions = []
    for name in sorted(os.listdir(TRANSCRIPTS)):
        if not name.endswith(".t"):
            continue
        cur = None
        for line in open(os.path.join(TRANSCRIPTS, name), encoding="utf-8", errors="surrogateescape"):
            line = line.rstrip("\n")
            if line.startswith("=== "):
                cur = bytearray()
                sessions.append(cur)
            elif cur is not None and line[:2] in ("C:", "R:"):
                arg = line[3:] if len(line) > 2 else ""
                cur += unescape(arg.encode("utf-8", "surrogateescape").decode("latin-1"))
                if line.startswith("C:"):
                    cur += b"\r\n"
    for s in sessions:
        for step in (0, 1, 7):
            save("session", bytes([step]) + bytes(s))
        for m in re.findall(rb"<[^>\r\n]*>", bytes(s)):
            save("path", m)
        if b"DATA\r\n" in s:
            save("data", bytes(s).split(b"DATA\r\n", 1)[1])
    for payload in (b"a\n.\nb\r\n.\r\n", b"a\r\n.\nb\r\n.\r\n", b"a\n.\r\nb\r\n.\r\n", b"a\r.\r\nb\r\n.\r\n",
                    b".\r\n", b"..\r\n.\r\n", b"\r\r\n.\r\n", b"x\0y\r\n.\r\n"):
        save("data", payload)
    # The configuration file: README's example, and values at and past their limits.
    with open(os.path.join(HERE, "..", "..", "README.md")) as f:
        readme = f.read()
    example = re.search(r"```ini\n(\[server\].*?)```", readme, re.S)
    if example:
        save("config", example.group(1).encode())
    for cfg in ("[server]\nspool = /tmp/x\nlocal_domains = example.org\n[smtp]\nlisten = 127.0.0.1:25\n",
                "[server]\ntimeout = 99999h\nmax_message_size = 1T\nlimits_exempt = 10.0.0.0/33 ::1/129\n",
                "[relay]\nsmarthost = smtps://user@host:465\nretry = 1m 5m 1h 4h 1d 0s\n",
                "[server]\nlocal_domains = a..b -x.example xn--bcher-kva.example\n[smtp]\nlisten = [::1]:25 *:587\n",
                "[tls]\ncert = a.pem\ncert = b.pem\nkey = a.key\nmin_version = TLSv1.1\n", "[x\n=\n;\n#\n"):
        save("config", cfg.encode())
    # The users file.
    for users in (b"alice@example.org:$y$j9T$abc$def\n", b"bob@example.org:$6$salt$hash:b@example.org,bo@example.net\n",
                  b"# comment\n\nnot-an-address:$y$x\nc@example.org:plaintext\nd@example.org:\n:\n",
                  b"e@example.org:!\ne@example.org:$y$dup\n" + b"f" * 300 + b"@x:$y$\n"):
        save("users", users)
    # Header sections as submitted.
    for hdr in (b"Subject: x\r\nDate: now\r\n\r\nbody", b"Message-ID: <a@b>\r\n folded\r\n\r\n",
                b"From: a\r\nX-Very-Long-Field-Name-Beyond-Sixteen: 1\r\ndate: lower\r\n\r\n",
                b"No empty line\r\nat all", b"\r\n", b"Bad header line\r\n\r\n", b"DATE:x\nMESSAGE-ID:y\n\n"):
        for step in (0, 3):
            save("hdrscan", bytes([step]) + hdr)
    print(f"seeded {len(sessions)} sessions", file=sys.stderr)


if __name__ == "__main__":
    main()
