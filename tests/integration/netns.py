"""Tests whose peer asks only /etc/resolv.conf's resolver (Postfix's smtp client, OpenDKIM's
opendkim-testmsg) run in a network and mount namespace of their own: a loopback of their own
for port 25 and 53, and a private resolv.conf bound over the real one. run_inner() is the
outer test's side, inner_main() the inside script's."""
import fcntl
import os
import socket
import struct
import subprocess
import sys
import tempfile

from harness import Skip


def unshare_args():
    """unshare's options for a network and mount namespace of our own, or Skip.

    In a chroot whose root is no mount point (the pristine roots of .ci/fresh-root, where CI
    runs), unshare cannot make "/" private ("cannot change root filesystem propagation"). Where
    no mount is shared at all, a new namespace's mounts propagate nowhere whatever is asked, so
    there its propagation may stay as it is; anywhere else that is never done, so the private
    resolv.conf bound inside can never show outside."""
    if os.geteuid() != 0:
        raise Skip("needs root for its own network namespace")
    args = ["--net", "--mount"]
    if subprocess.run(["unshare", *args, "true"], capture_output=True).returncode == 0:
        return args
    with open("/proc/self/mountinfo") as f:
        shared = any(" shared:" in line.split(" - ")[0] for line in f)
    args += ["--propagation", "unchanged"]
    if not shared and subprocess.run(["unshare", *args, "true"], capture_output=True).returncode == 0:
        return args
    raise Skip("cannot make a network namespace here")


def run_inner(script, timeout=240):
    """Run tests/integration/SCRIPT inside `unshare --net --mount`; Skip where that cannot be."""
    args = unshare_args()
    inner = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin")
    r = subprocess.run(["unshare", *args, sys.executable, inner], capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-1500:]


def loopback_up():
    """ip link set lo up, without iproute2 (not on a minimal Debian)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]   # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))                             # SIOCSIFFLAGS, IFF_UP
    s.close()


def private_resolv(d, nameserver="127.0.0.1", options=""):
    """/etc/resolv.conf for this namespace only: nameserver and options lines."""
    path = os.path.join(d, "resolv.conf")
    with open(path, "w") as f:
        f.write(f"nameserver {nameserver}\n" + (f"options {options}\n" if options else ""))
    subprocess.run(["mount", "--bind", path, "/etc/resolv.conf"], check=True)


def inner_main(main, prefix):
    """The inside script's entry: main(d) in a fresh directory, loopback up; exit 0 when every
    check held, else print what did not and exit 1."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        os.chmod(d, 0o755)
        loopback_up()
        try:
            main(d)
        except AssertionError as e:
            print("FAILED:", str(e)[-3000:])
            sys.exit(1)
    sys.exit(0)
