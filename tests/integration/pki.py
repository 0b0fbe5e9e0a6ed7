"""A throwaway PKI for the tests, made once per run with the openssl command line:
a CA, a server certificate (ECDSA P-256) for mx.example.test, localhost and 127.0.0.1, and a
second one for other.example.test (SNI)."""
import atexit
import os
import pwd
import shutil
import subprocess
import tempfile

_DIR = None


def _run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_cert(d, name, sans, days="30"):
    """Key and CA-signed certificate; returns (cert, key) paths."""
    key, csr, crt, ext = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "pem", "ext"))
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key, cwd=d)
    _run("openssl", "req", "-new", "-key", key, "-subj", f"/CN={sans[0].split(':', 1)[1]}", "-out", csr, cwd=d)
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\nextendedKeyUsage=serverAuth\n"
                "keyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", crt, "-extfile", ext, "-days", days, cwd=d)
    os.chmod(key, 0o600)
    if os.geteuid() == 0:       # the server runs as the mail user; a reload reads the key as it
        from harness import MAIL_USER
        pw = pwd.getpwnam(MAIL_USER)
        os.chown(key, pw.pw_uid, pw.pw_gid)
    return crt, key


def make_expired(d):
    """A certificate for 127.0.0.1 that expired in 2020 (openssl ca takes explicit dates)."""
    os.makedirs(os.path.join(d, "ca-db"), exist_ok=True)
    open(os.path.join(d, "ca-db", "index.txt"), "w").close()
    with open(os.path.join(d, "ca-db", "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(f"""[ca]
default_ca = test
[test]
dir = {d}
database = $dir/ca-db/index.txt
serial = $dir/ca-db/serial
new_certs_dir = $dir/ca-db
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[ext]
subjectAltName = DNS:mx.example.test,IP:127.0.0.1
basicConstraints = CA:FALSE
""")
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "expired.key",
         cwd=d)
    _run("openssl", "req", "-new", "-key", "expired.key", "-subj", "/CN=mx.example.test", "-out", "expired.csr", cwd=d)
    _run("openssl", "ca", "-batch", "-config", "ca.cnf", "-extensions", "ext", "-startdate", "20200101000000Z",
         "-enddate", "20200201000000Z", "-in", "expired.csr", "-out", "expired.pem", cwd=d)


def pki():
    global _DIR
    if _DIR is not None:
        return _DIR
    d = tempfile.mkdtemp(prefix="mailport-pki-")
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key", cwd=d)
    _run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=mailport test CA", "-days", "30",
         "-out", "ca.pem", cwd=d)
    make_cert(d, "server", ["DNS:mx.example.test", "DNS:localhost", "IP:127.0.0.1", "IP:::1"])
    make_cert(d, "other", ["DNS:other.example.test"])
    # the names mail clients and MTA-STS senders reach the HTTPS listener by (tests_https)
    make_cert(d, "web", ["DNS:autoconfig.example.test", "DNS:mta-sts.example.test", "DNS:autodiscover.example.test"])
    make_expired(d)
    _DIR = d
    return d


def path(name):
    return os.path.join(pki(), name)
