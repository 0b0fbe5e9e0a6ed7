"""MTA-STS (RFC 8461) for direct MX delivery, against real peers started here: an HTTPS
policy server (python3's http.server behind TLS, with a certificate of the test CA) for
several domains, unbound serving the zones (auth-zone) on a loopback port, and a mailport MX.

The cases: enforce with the MX named (delivered, its certificate verified: tls=mta-sts-verified),
enforce with the MX not named (deferred), enforce with an MX whose certificate is for another
name (deferred, never plaintext), testing (delivered, logged), the policy cached in the spool
and used again without a fetch, a new policy id fetched again, and the background refresh
of a policy past half its max_age."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import stsweb
from harness import Server, crypt_hash, free_port, need
from pki import make_cert, path, pki
from tests_dane import AuthDNS, check_mx, submit, wait_log

POLICIES = {
    "sts.test": "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n",
    "stsx.test": "version: STSv1\nmode: enforce\nmx: other.example.test\nmax_age: 86400\n",
    "ststest.test": "version: STSv1\nmode: testing\nmx: other.example.test\nmax_age: 86400\n",
    "stsbadcert.test": "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n",
}


def zones(d, policy_ids):
    files = []
    for dom in POLICIES:
        mxname = "mx2.example.test." if dom == "stsbadcert.test" else "mx.example.test."
        with open(os.path.join(d, dom), "w") as f:
            f.write(f"$ORIGIN {dom}.\n@ 300 IN SOA ns.{dom}. admin.{dom}. 1 3600 600 86400 300\n"
                    f"@ 300 IN NS ns.{dom}.\nns 300 IN A 127.0.0.1\n@ 300 IN MX 10 {mxname}\n"
                    f"mta-sts 300 IN A 127.0.0.1\n_mta-sts 300 IN TXT \"v=STSv1; id={policy_ids.get(dom, '1')};\"\n")
        files.append((dom, os.path.join(d, dom)))
    with open(os.path.join(d, "example.test"), "w") as f:
        f.write("$ORIGIN example.test.\n@ 300 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
                "@ 300 IN NS ns.example.test.\nns 300 IN A 127.0.0.1\nmx 300 IN A 127.0.0.1\n"
                "mx2 300 IN A 127.0.0.1\n")
    files.append(("example.test", os.path.join(d, "example.test")))
    return files


def test_mta_sts_enforce_testing_cache_and_new_id():
    need("dig")
    h = crypt_hash("secret")
    d = tempfile.mkdtemp(prefix="mailport-sts-")
    os.chmod(d, 0o755)
    web = os.path.join(d, "web")
    os.makedirs(web)
    for dom, text in POLICIES.items():
        with open(os.path.join(web, dom), "w") as f:
            f.write(text)
    cert, key = make_cert(pki(), "mtasts", [f"DNS:mta-sts.{dom}" for dom in POLICIES])
    hport, mport = free_port(), free_port()
    https = subprocess.Popen([sys.executable, "-c", stsweb.SCRIPT, web, str(hport), cert, key], stdout=subprocess.PIPE,
                             text=True)
    doms = list(POLICIES)
    mx = Server(tls=True, listen=f"127.0.0.1:{mport}", domains=" ".join(doms), users=[f"u@{x}:{h}" for x in doms])
    dns = None
    try:
        assert https.stdout.readline().strip() == "ready"
        dns = AuthDNS(d, zones(d, {}), probe=("sts.test", "MX", "mx.example.test."))
        mx.start()
        extra = (f"\n[relay]\nmx_port = {mport}\nretry_schedule = 1s\ntimeout = 5s\ndnssec_trust_anchor = none\n"
                 f"mta_sts_port = {hport}\nmta_sts_ca_file = {path('ca.pem')}\n")
        with Server(tls=True, resolver=f"127.0.0.1:{dns.port}", extra=extra) as a:
            a.start()
            submit(a, [f"u@{x}" for x in doms])
            # enforce, the MX named: delivered over TLS with its certificate verified
            mx.wait_messages("u", 1, domain="sts.test")
            wait_log(a, f"delivered to=<u@sts.test> relay=mx.example.test[127.0.0.1]:{mport} tls=mta-sts-verified")
            # testing: delivered as before, and what enforce would refuse is logged
            mx.wait_messages("u", 1, domain="ststest.test")
            wait_log(a, "mta-sts testing domain=ststest.test id=1: mx=mx.example.test is not in the policy")
            # enforce, the MX not named: waits
            wait_log(a, "deferred to=<u@stsx.test>")
            assert "mta-sts-failed mx=mx.example.test: not one of the MX hosts" in a.log(), a.log()[-3000:]
            # enforce, a certificate for another name: waits, never plaintext
            wait_log(a, "deferred to=<u@stsbadcert.test>")
            assert "tls required by policy=mta-sts mx=mx2.example.test" in a.log(), a.log()[-3000:]
            assert "retrying in plaintext" not in a.log()
            for x in ("stsx.test", "stsbadcert.test"):
                assert mx.messages("u", x) == [], x
            # The policy is in the spool, and a second message uses it without a fetch.
            assert os.path.exists(os.path.join(a.dir, "spool", "sts", "sts.test"))
            with open(os.path.join(web, "requests")) as f:
                fetched = f.read().count("mta-sts.sts.test ")
            assert fetched == 1, fetched
            submit(a, ["u@sts.test"])
            mx.wait_messages("u", 2, domain="sts.test")
            with open(os.path.join(web, "requests")) as f:
                assert f.read().count("mta-sts.sts.test ") == 1
            # A new id: fetched again, and the new policy (which no longer names the MX) holds.
            with open(os.path.join(web, "sts.test"), "w") as f:
                f.write("version: STSv1\nmode: enforce\nmx: other.example.test\nmax_age: 86400\n")
            dns.close()
            dns = AuthDNS(d, zones(d, {"sts.test": "2"}), probe=("_mta-sts.sts.test", "TXT", "id=2"), port=dns.port)
            submit(a, ["u@sts.test"])
            wait_log(a, "mta-sts-failed mx=mx.example.test: not one of the MX hosts that the enforced MTA-STS "
                        "policy of sts.test (id 2)")
            with open(os.path.join(web, "requests")) as f:
                assert f.read().count("mta-sts.sts.test ") == 2
            assert len(mx.messages("u", "sts.test")) == 2
            # The background refresh (at start, then hourly): a policy older than half its
            # max_age is fetched again even though its id did not change.
            assert a.stop() == 0
            cache = os.path.join(a.dir, "spool", "sts", "sts.test")
            with open(cache) as f:
                cid, _, rest = f.read().split("\n", 2)
            with open(cache, "w") as f:
                f.write(f"{cid}\n{int(time.time()) - 50000}\n{rest}")
            with open(os.path.join(web, "sts.test"), "w") as f:
                f.write("version: STSv1\nmode: testing\nmx: other.example.test\nmax_age: 86400\n")
            a.start()
            wait_log(a, "mta-sts refreshed domain=sts.test id=2 mode=testing max_age=86400")
            with open(cache) as f:
                assert "mode: testing" in f.read()
            with open(os.path.join(web, "requests")) as f:
                assert f.read().count("mta-sts.sts.test ") == 3
            assert "mta-sts refreshed domain=sts" not in a.log().replace("domain=sts.test", ""), a.log()[-2000:]
            assert a.stop() == 0
        common = ["--resolver", f"127.0.0.1:{dns.port}", "--trust-anchor", "none", "--port", str(mport),
                  "--cafile", path("ca.pem"), "--https-port", str(hport)]
        rc, doc = check_mx(*common, "stsbadcert.test")
        assert doc["mta_sts"]["mode"] == "enforce" and doc["hosts"][0]["policy"] == "mta-sts", doc
        assert rc == 2 and "not accepted" in doc["hosts"][0]["probe"], doc
        rc, doc = check_mx(*common, "stsx.test")
        assert rc == 2 and not doc["hosts"][0]["usable"] and not doc["hosts"][0]["mta_sts_named"], doc
        rc, doc = check_mx(*common, "ststest.test")
        assert rc == 0 and doc["mta_sts"]["mode"] == "testing" and doc["hosts"][0]["policy"] == "opportunistic", doc
        with open(os.path.join(web, "sts.test"), "w") as f:
            f.write(POLICIES["sts.test"])
        dns.close()
        dns = AuthDNS(d, zones(d, {"sts.test": "3"}), probe=("_mta-sts.sts.test", "TXT", "id=3"), port=dns.port)
        rc, doc = check_mx(*common, "sts.test")
        h = doc["hosts"][0]
        assert rc == 0 and h["policy"] == "mta-sts" and h["tls_ok"] and "mta-sts-verified" in h["probe"], doc
    finally:
        https.terminate()
        https.wait(10)
        if dns:
            dns.close()
        mx.stop()
        mx.cleanup()
        shutil.rmtree(d, ignore_errors=True)
