"""testssl.sh (Debian) once per TLS listener: 465 (implicit TLS), 587 (STARTTLS) and the HTTPS
listener that publishes the settings for mail clients (same certificates, same standard).
Fails on any finding rated LOW or worse, on any protocol below TLS 1.2, and on any cipher
category that must not be offered."""
import json
import os
import subprocess

from harness import Server, free_port, need

MUST_NOT_OFFER = ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL", "cipherlist_aNULL",
                  "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA")
BAD = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def start_testssl(srv, target, extra):
    out = os.path.join(srv.dir, f"testssl-{target.split(':')[-1]}.json")
    proc = subprocess.Popen([need("testssl"), "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", out,
                             "-p", "-s", "-f", "-U", *extra, target], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, out


def judge_testssl(proc, out):
    proc.wait(timeout=600)
    with open(out) as f:
        findings = json.load(f)
    byid = {f["id"]: f for f in findings}
    bad = [f"{f['id']}: {f['severity']}: {f['finding']}" for f in findings if f["severity"] in BAD]
    for fid in MUST_NOT_OFFER:
        if fid in byid and "not offered" not in byid[fid]["finding"]:
            bad.append(f"{fid} offered: {byid[fid]['finding']}")
    assert "TLS1_2" in byid and byid["TLS1_2"]["finding"].startswith("offered"), byid.get("TLS1_2")
    assert "TLS1_3" in byid and byid["TLS1_3"]["finding"].startswith("offered"), byid.get("TLS1_3")
    fs = byid.get("FS") or byid.get("PFS")          # testssl 3.0 says PFS, 3.2 says FS
    assert fs is not None and fs["severity"] == "OK" and fs["finding"].startswith("offered"), fs
    assert not bad, "\n".join(bad)
    return len(findings)


def test_testssl_465_587_and_https():
    need("testssl")
    hp = free_port()
    with Server(tls=True, extra=f"\n[https]\nlisten = 127.0.0.1:{hp}\n") as srv:
        srv.start()
        # the three at once: each mostly waits on its openssl children and the server
        runs = [start_testssl(srv, f"127.0.0.1:{srv.port465}", []),
                start_testssl(srv, f"127.0.0.1:{srv.port587}", ["-t", "smtp"]),
                start_testssl(srv, f"127.0.0.1:{hp}", [])]
        n465, n587, nweb = (judge_testssl(*r) for r in runs)
        print(f"    testssl.sh: {n465} findings on 465, {n587} on 587, {nweb} on HTTPS, none LOW or worse")
        assert srv.stop() == 0
