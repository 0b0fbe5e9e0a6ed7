#!/usr/bin/env python3
"""Build seed corpora from the golden transcripts (client bytes of each case) plus known
attack inputs; files are named by the SHA-1 of their content (nghttp2/h2o habit).
Re-running only adds files."""
import hashlib
import os
import re
import struct
import sys
import zlib

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


def queue_file(i, rcpts=1):
    """A queue file as spool.c writes it, with its checksum record (K)."""
    body = f"Subject: {i}\r\n\r\nbody {i}\r\n".encode()
    rec = lambda t, p: b"%c %d\n%s\n" % (t, len(p), p)  # noqa: E731
    head = b"MAILPORT-QUEUE 1\n" + rec(ord("T"), b"1000") + rec(ord("S"), b"a@example.org")
    for r in range(rcpts):
        addr = b"r%d@example.org" % r
        head += rec(ord("R"), addr) + rec(ord("O"), addr) + rec(ord("L"), b"1")
    data = head + b"M %020d\n" % len(body) + body + b"\n"
    return data + b"K 8\n%08x\nE 0\n\n" % zlib.crc32(data)


def record(magic, gen, nonce, batch, qid, payload):
    """One journal record (journal.c): 64-octet header with its own CRC, payload, to 512."""
    def pack(hcrc):
        return struct.pack("<4sIQI32sIII", magic, gen, len(payload), zlib.crc32(payload), qid, batch, nonce, hcrc)
    h = pack(zlib.crc32(pack(0)))
    data = h + payload
    return data + b"\0" * (-len(data) % 512)


def journals():
    gen, nonce = 7, 0x5eed1234
    recs = [record(b"MPJG", gen, nonce, 0, b"", b"")]
    qids = [b"6B1190000000%04X%X" % (i, i % 16) for i in range(6)]
    for i, q in enumerate(qids):
        recs.append(record(b"MPJ1", gen, nonce, 1 + i, q, queue_file(i, 1 + i % 2)))
    recs.append(record(b"MPJS", gen, nonce, 7, qids[1], b"I 0 /m/tmp/1.M2.host\n"))
    recs.append(record(b"MPJD", gen, nonce, 7, b"", qids[0].ljust(32, b"\0")))
    whole = b"".join(recs)
    yield whole
    yield whole[:len(whole) - 700]                                  # torn at the end
    yield whole[:1500] + b"\xff" * 40 + whole[1540:]                 # damage in the middle
    yield whole[:600] + b"X" + whole[601:]                          # a header flipped
    yield b"".join(record(b"MPJ1", gen, 0, 0, q, queue_file(i)) for i, q in enumerate(qids))   # first format


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
    # The configuration file: the example in docs/configuration.md, and values at and past their limits.
    with open(os.path.join(HERE, "..", "..", "docs", "configuration.md")) as f:
        page = f.read()
    example = re.search(r"```ini\n(\[server\].*?)```", page, re.S)
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
    # Journals as a crash leaves them: whole, torn at the end, damaged in the middle.
    for j in journals():
        save("journal", j)
    print(f"seeded {len(sessions)} sessions", file=sys.stderr)


if __name__ == "__main__":
    main()
