"""DKIM cross-checked with three verifiers and signers we did not write, in both directions:
Debian's python3-dkim (dkimpy), Perl's Mail::DKIM (libmail-dkim-perl; it has no Ed25519, see
dkim_cross_inner.UNJUDGED) and OpenDKIM's libopendkim (opendkim-tools' library, called through
ctypes: opendkim-testmsg's own reading of a message fails on some, see dkim_cross_inner).

- Ours, verified by them: every message mailport signs on port 465 (rsa-sha256 and
  ed25519-sha256) passes at all three, and fails at all three once changed.
- Theirs, verified by us: messages signed by each of them (dkimpy rsa and ed25519, Mail::DKIM
  rsa, OpenDKIM rsa), as signed and tampered with, go through port 25; mailport's verdict in
  its Authentication-Results field is the verdict of all three on the message delivered. RFC
  8463 Appendix A.3's message (Ed25519 and RSA), as published and changed, goes the same way.

The messages are generated: a 10 KB Cc: folded over 300 lines, 400 To: fields (an h= tag over
1,600 characters), odd From fields (a quoted display name holding '<' and '@', a comment with
an '@', a group, an encoded word), an 8-bit body and an empty one.

OpenDKIM's tools ask only /etc/resolv.conf's resolver, so both directions run inside a network
and mount namespace of their own (netns.py): an authoritative unbound on its port 53 serves
example.test (the keys `mailport dns` printed) and example.net (the peers' keys), and the three
peers and mailport all ask it. Nothing leaves the namespace's loopback."""
import os
import subprocess

from harness import Skip
from netns import run_inner

PY = "/usr/bin/python3"


def need_peers():
    """Skip only when a peer is truly missing (scripts/install-deps installs all three)."""
    if subprocess.run([PY, "-c", "import dkim, nacl"], capture_output=True).returncode != 0:
        raise Skip("python3-dkim (or python3-nacl) not installed")
    if subprocess.run(["perl", "-MMail::DKIM::Verifier", "-MMail::DKIM::Signer", "-e", "1"],
                      capture_output=True).returncode != 0:
        raise Skip("libmail-dkim-perl not installed")
    if subprocess.run([PY, "-c", "import ctypes; ctypes.CDLL('libopendkim.so.11')"], capture_output=True).returncode:
        raise Skip("libopendkim (opendkim-tools) not installed")


def run_part(part):
    need_peers()
    os.environ["MAILPORT_DKIM_CROSS"] = part
    try:
        run_inner("dkim_cross_inner.py", timeout=600)
    finally:
        del os.environ["MAILPORT_DKIM_CROSS"]


def test_dkim_cross_ours_verified_by_dkimpy_maildkim_opendkim():
    run_part("ours")


def test_dkim_cross_theirs_verified_by_us_as_by_them():
    run_part("theirs")
