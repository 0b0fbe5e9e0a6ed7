"""PROXY protocol behind a real load balancer (issue 21): Debian's haproxy in TCP mode, started
here on loopback, in front of port 25 (send-proxy, v1), 465 (TLS passed through untouched,
send-proxy-v2) and 587 (send-proxy-v2, with haproxy's health checks sending v2 LOCAL). The
clients connect from their own loopback addresses (127.0.0.5, 127.0.0.6, ::1), and mailport
must see them, not the balancer, in its logs, its Received: header and its per-client limits.
A peer outside proxy_from, or a trusted one without a header, is not heard at all."""
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

from harness import Raw, Server, end_process, free_port, need, wait_for

PW = "secret"


class HAProxy:
    def __init__(self, backends, servers=None):
        """backends: [(name, [bind, ...], target_port, server_options)]; servers: {name: [(port,
        options), ...]} for a backend of several servers (round robin), where target_port is None."""
        need("haproxy")
        self.dir = tempfile.mkdtemp(prefix="mailport-haproxy-")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write("global\n  maxconn 200\n\ndefaults\n  mode tcp\n  timeout connect 5s\n"
                    "  timeout client 60s\n  timeout server 60s\n")
            for name, binds, port, opts in backends:
                f.write(f"\nfrontend f{name}\n")
                for b in binds:
                    f.write(f"  bind {b}\n")
                f.write(f"  default_backend b{name}\n\nbackend b{name}\n  source 127.0.0.1\n")
                if servers and name in servers:
                    f.write("  balance roundrobin\n  option redispatch\n  retries 2\n")
                    for k, (p, o) in enumerate(servers[name]):
                        f.write(f"  server m{k} 127.0.0.1:{p} {o}\n")
                else:
                    f.write(f"  server m 127.0.0.1:{port} {opts}\n")
        subprocess.run(["haproxy", "-c", "-q", "-f", self.cfg], check=True)
        self.log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg], stdout=self.log, stderr=self.log)

    def wait_port(self, port, host="127.0.0.1", family=socket.AF_INET):
        deadline = time.time() + 10
        while time.time() < deadline:
            assert self.proc.poll() is None, open(self.log.name).read()
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.connect((host, port))
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"haproxy not listening on {port}")

    def close(self):
        end_process(self.proc)
        self.log.close()

    def text(self):
        with open(self.log.name) as f:
            return f.read()

    def __del__(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def proxied_server(extra_server=""):
    srv = Server(tls=True, extra_server=extra_server, extra=(
        "\n[smtp]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n"
        "\n[submissions]\nproxy_protocol = yes\nproxy_from = 127.0.0.1/32\n"
        "\n[submission]\nproxy_protocol = yes\nproxy_from = 127.0.0.1\n"))
    return srv


def balancer(srv):
    h25, h465, h587, h25v6 = free_port(), free_port(), free_port(), free_port(socket.AF_INET6, "::1")
    hp = HAProxy([("25", [f"127.0.0.1:{h25}", f"[::1]:{h25v6}"], srv.port, "send-proxy"),
                  ("465", [f"127.0.0.1:{h465}"], srv.port465, "send-proxy-v2"),
                  ("587", [f"127.0.0.1:{h587}"], srv.port587, "send-proxy-v2 check check-send-proxy inter 300ms")])
    hp.wait_port(h25)
    hp.wait_port(h465)
    hp.wait_port(h587)
    hp.wait_port(h25v6, "::1", socket.AF_INET6)
    return hp, h25, h465, h587, h25v6


def ctx(srv):
    return ssl.create_default_context(cafile=srv.ca)


def test_clients_seen_through_haproxy_on_25_465_587():
    with proxied_server() as srv:
        srv.start()
        hp, h25, h465, h587, h25v6 = balancer(srv)
        try:
            # 25, PROXY v1, a client at 127.0.0.5
            with smtplib.SMTP("127.0.0.1", h25, source_address=("127.0.0.5", 0), timeout=30) as c:
                c.ehlo("client5.example")
                c.sendmail("someone@elsewhere.example", ["bob@example.test"], "Subject: via 25\r\n\r\nx\r\n")
            # 465: TLS passes through haproxy to mailport; the certificate is mailport's own
            with smtplib.SMTP_SSL("127.0.0.1", h465, source_address=("127.0.0.6", 0), context=ctx(srv),
                                  timeout=30) as c:
                c.login("alice@example.test", PW)
                c.sendmail("alice@example.test", ["bob@example.test"], "Subject: via 465\r\n\r\nx\r\n")
            # 587: STARTTLS and AUTH behind a v2 header (swaks, as an admin would test it)
            need("swaks")
            out = subprocess.run(["swaks", "--server", f"127.0.0.1:{h587}", "--tls", "--tls-ca-path", srv.ca,
                                  "--tls-verify", "--auth", "PLAIN", "--auth-user", "alice@example.test",
                                  "--auth-password", PW, "--from", "alice@example.test", "--to",
                                  "bob@example.test", "--header", "Subject: via 587", "--local-interface",
                                  "127.0.0.7", "--timeout", "30"], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            # 25 over IPv6: PROXY TCP6
            with smtplib.SMTP("::1", h25v6, timeout=30) as c:
                c.sendmail("someone@elsewhere.example", ["bob@example.test"], "Subject: via v6\r\n\r\nx\r\n")
            # two of haproxy's health checks at least (every 300 ms), logged when they end
            wait_for(lambda: len(re.findall(r" connect address=127\.0\.0\.1 port=\d+ role=submission proxy=127\.0\.0\.1",
                                            srv.log())) >= 2, 30, srv.log)
            msgs = srv.wait_messages("bob", 4)
            got = {re.search(rb"^Subject: (.*?)\r?$", m, re.M).group(1).decode(): m for m in msgs}
            assert b"Received: from client5.example ([127.0.0.5])" in got["via 25"], got["via 25"][:300]
            assert b"([127.0.0.6])" in got["via 465"]
            assert b"([127.0.0.7])" in got["via 587"]
            assert b"([::1])" in got["via v6"]
            for m in msgs:
                assert b"([127.0.0.1])" not in m, m[:400]     # (the HELO name may say anything)
            log = srv.log()
            assert "connect address=127.0.0.5 " in log and "role=smtp proxy=127.0.0.1" in log, log
            assert "address=127.0.0.6 " in log and "role=submissions proxy=127.0.0.1" in log
            assert "address=127.0.0.7 " in log and "role=submission proxy=127.0.0.1" in log
            assert "connect address=::1 " in log
            # haproxy's health checks on 587 (v2 LOCAL: the connection's own address stands)
            # were answered, and never refused
            assert "connect address=127.0.0.1 " in log and "role=submission proxy=127.0.0.1" in log, log
            assert not any("reject" in x for x in log.splitlines()), log
        finally:
            hp.close()
        assert " is DOWN" not in hp.text()
        assert srv.stop() == 0


def test_limits_apply_to_the_client_behind_the_balancer():
    with proxied_server("limits_exempt =\nmax_connections_per_ip = 2") as srv:
        srv.start()
        hp, h25, _h465, _h587, _v6 = balancer(srv)
        try:
            held = []
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", h25), timeout=10, source_address=("127.0.0.5", 0))
                held.append(s)
                assert s.recv(200).startswith(b"220 ")
            third = socket.create_connection(("127.0.0.1", h25), timeout=10, source_address=("127.0.0.5", 0))
            line = third.recv(200)
            assert line.startswith(b"421 4.7.0 ") and b"Too many connections from your address" in line, line
            third.close()
            # Every connection comes from the balancer's 127.0.0.1, yet another client gets in.
            other = socket.create_connection(("127.0.0.1", h25), timeout=10, source_address=("127.0.0.6", 0))
            assert other.recv(200).startswith(b"220 ")
            for s in held + [other]:
                s.close()
            assert "reject address=127.0.0.5 " in srv.log() and "reason=max_connections_per_ip limit=2 proxy=127.0.0.1" \
                in srv.log(), srv.log()
        finally:
            hp.close()
        assert srv.stop() == 0


def test_untrusted_peer_and_missing_header_are_not_heard():
    with proxied_server() as srv:
        srv.start()
        # From outside proxy_from: closed without a word (it could claim to be anyone).
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10, source_address=("127.0.0.9", 0))
        s.sendall(b"PROXY TCP4 192.0.2.1 127.0.0.1 1234 25\r\n")
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:            # closed with the header unread
            pass
        s.close()
        # From the balancer's address but speaking SMTP: not a PROXY header.
        r = Raw("127.0.0.1", srv.port)
        r.send("EHLO x\r\n")
        assert r.closed()
        r.close()
        # A forged v1 header with a bad address, and one cut short by a close.
        for bad in (b"PROXY TCP4 999.0.2.1 127.0.0.1 1234 25\r\n", b"PROXY TCP4 192.0"):
            r = Raw("127.0.0.1", srv.port)
            r.send(bad)
            if bad.endswith(b"\n"):
                assert r.closed()
            r.close()
        # A header that never ends is cut off after PROXY_TIMEOUT, not held for ever.
        r = Raw("127.0.0.1", srv.port465, timeout=30)
        r.send(b"PROXY TCP4 192.0.2.1 ")
        t0 = time.time()
        assert r.closed(timeout=30)
        assert time.time() - t0 < 25
        r.close()
        # A good header by hand (as a balancer would), then a real TLS session on 465 behind it.
        raw = socket.create_connection(("127.0.0.1", srv.port465), timeout=10)
        raw.sendall(b"PROXY TCP4 192.0.2.44 127.0.0.1 5555 465\r\n")
        tls = ctx(srv).wrap_socket(raw, server_hostname="mx.example.test")
        assert tls.recv(200).startswith(b"220 ")
        tls.close()
        deadline = time.time() + 10
        while "address=192.0.2.44 port=5555 role=submissions proxy=127.0.0.1" not in srv.log() and \
                time.time() < deadline:
            time.sleep(0.1)
        log = srv.log()
        assert "address=192.0.2.44 port=5555 role=submissions proxy=127.0.0.1" in log, log
        assert 'reject address=127.0.0.9' in log and "not in [smtp] proxy_from" in log, log
        assert 'reason="not a PROXY header' in log
        assert 'reason="PROXY v1 header with an address not of its family"' in log
        assert 'reason="closed in the middle of the PROXY header"' in log
        assert 'reason="PROXY header not completed in time"' in log
        assert srv.stop() == 0


def test_proxy_protocol_without_proxy_from_is_a_config_error():
    srv = Server(tls=True, extra="\n[submission]\nproxy_protocol = yes\n")
    with srv:
        srv.start(expect_ready=False)
        assert srv.proc.wait(15) == 78
        line = srv.conf_line("proxy_protocol")
        assert f"mailport.conf:{line}: [submission] proxy_protocol = yes needs proxy_from" in srv.log(), srv.log()
