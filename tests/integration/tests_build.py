"""The build itself: a pkg-config module that does not resolve stops `make` with pkg-config's own
message (a fresh Debian once compiled without the libxml2 flags because the call's errors went
to /dev/null)."""
import os
import shutil
import subprocess
import tempfile

from harness import ROOT, need


def test_missing_pkg_config_module_stops_the_build_in_words():
    need("pkg-config")
    d = tempfile.mkdtemp(prefix="mailport-pkg-")
    try:
        r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", f"PKGDIR={d}",
                            "PKGS=libevent no-such-module-for-mailport", f"{d}/cflags"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r
        assert "no-such-module-for-mailport" in r.stderr and "not found" in r.stderr, r.stderr
        assert "failed (see above): run scripts/install-deps" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(d, "cflags")), os.listdir(d)
        # with every module present, the flags are written
        r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", f"PKGDIR={d}", f"{d}/cflags"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        assert "-I/usr/include/libxml2" in open(os.path.join(d, "cflags")).read()
    finally:
        shutil.rmtree(d, ignore_errors=True)
