"""Debian's unbound on a loopback port as the tests' DNS: local data (tests_mx) or
authoritative zone files, signed or not (tests_dane, tests_mtasts)."""
import os
import shutil
import subprocess

from harness import dns_answers, free_port, need


class Unbound:
    """server_extra: lines inside server:; tail: sections after it (auth-zone: ...); probe =
    (name, type, expected) to wait for; port: reuse one (a restart with new data)."""

    def __init__(self, directory, server_extra="", tail="", probe=None, port=None):
        need("unbound")
        self.port = port or free_port()
        conf = os.path.join(directory, "unbound.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{directory}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
{server_extra}
remote-control:
  control-enable: no
{tail}""")
        self.proc = subprocess.Popen([shutil.which("unbound"), "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        if dns_answers(self.port, probe, self.proc):
            return
        if self.proc.poll() is not None:
            raise AssertionError("unbound exited: " + self.proc.stderr.read().decode())
        self.close()
        raise AssertionError("unbound did not answer")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
