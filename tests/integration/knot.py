"""Debian's Knot DNS (knotd) on a loopback port, authoritative for zone files the tests write:
the DNS that `mailport dns` output is loaded into, as an admin would load it."""
import os
import shutil
import subprocess

from harness import dns_answers, free_port, need


class Knot:
    """zones: [(name, zone file text)]; probe = (name, type, expected) to wait for."""

    def __init__(self, directory, zones, probe):
        need("knotd")
        need("dig")
        self.dir = directory
        self.port = free_port()
        self.proc = None
        self.write(zones)
        self.start(probe)

    def write(self, zones):
        conf = [f"server:\n    listen: 127.0.0.1@{self.port}\n    rundir: {self.dir}\n",
                f"database:\n    storage: {self.dir}\n",
                f"template:\n  - id: default\n    storage: {self.dir}\n    semantic-checks: on\n", "zone:\n"]
        for name, text in zones:
            path = os.path.join(self.dir, f"{name}.zone")
            with open(path, "w") as f:
                f.write(text)
            conf.append(f"  - domain: {name}\n    file: {path}\n")
        self.conf = os.path.join(self.dir, "knot.conf")
        with open(self.conf, "w") as f:
            f.write("".join(conf))

    def start(self, probe):
        self.log = open(os.path.join(self.dir, "knot.log"), "ab")
        self.proc = subprocess.Popen([shutil.which("knotd"), "-c", self.conf], stdout=self.log, stderr=self.log)
        if dns_answers(self.port, probe, self.proc):
            return
        self.close()
        with open(os.path.join(self.dir, "knot.log")) as f:
            raise AssertionError("knotd did not serve the zone:\n" + f.read()[-3000:])

    def reload(self, zones, probe):
        """New zone data: knotd is started again on the same port."""
        self.close()
        self.write(zones)
        self.start(probe)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        self.log.close()
