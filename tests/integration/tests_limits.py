"""Per-client connection limits and slow clients, each with a bounded local attacker: every
loop here is bounded in count and time, and traffic stays on loopback."""
import socket
import subprocess
import time

from harness import BIN, Server, wait_for


def connect_from(srv, source, port=None):
    """A raw session from a chosen loopback source address (each is its own client)."""
    s = socket.create_connection((srv.host, port or srv.port), timeout=10, source_address=(source, 0))
    return s


def first_line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def test_per_client_concurrency_limit():
    with Server(tls=True, extra_server="limits_exempt =\nmax_connections_per_ip = 3") as srv:
        srv.start()
        held = [connect_from(srv, "127.0.0.1") for _ in range(3)]
        assert all(first_line(s).startswith("220 ") for s in held)
        fourth = connect_from(srv, "127.0.0.1")
        line = first_line(fourth)
        assert line.startswith("421 4.7.0 ") and "Too many connections from your address" in line, line
        # the refusal's line is written before the 421: whoever got one finds it, at once
        assert "reason=max_connections_per_ip limit=3" in srv.log(), srv.log()[-2000:]
        assert fourth.recv(100) == b""                  # and closed
        fourth.close()
        # Another client is not affected; on 465 the refusal is a close without a word.
        other = connect_from(srv, "127.0.0.2")
        assert first_line(other).startswith("220 ")
        tls = connect_from(srv, "127.0.0.1", srv.port465)
        assert tls.recv(100) == b""
        tls.close()
        # When one of the three leaves, there is room again.
        held[0].sendall(b"QUIT\r\n")
        assert first_line(held[0]).startswith("221")
        held[0].close()
        # its place is free from its "disconnect" line on (one event loop: the next connection
        # is taken after it), and then at the first try
        wait_for(lambda: " disconnect address=127.0.0.1 " in srv.log(), 30, srv.log)
        again = connect_from(srv, "127.0.0.1")
        line = first_line(again)
        assert line.startswith("220 "), line
        for s in held[1:] + [other, again]:
            s.close()
        assert "reject address=127.0.0.1" in srv.log() and "reason=max_connections_per_ip limit=3" in srv.log()
        assert srv.stop() == 0


def test_per_client_rate_limit():
    with Server(extra_server="limits_exempt =\nmax_connection_rate_per_ip = 5") as srv:
        srv.start()
        for _ in range(5):
            s = connect_from(srv, "127.0.0.1")
            assert first_line(s).startswith("220 ")
            s.sendall(b"QUIT\r\n")
            first_line(s)
            s.close()
        s = connect_from(srv, "127.0.0.1")
        line = first_line(s)
        assert line.startswith("421 4.7.0 ") and "slow down" in line, line
        assert "reason=max_connection_rate_per_ip limit=5" in srv.log(), srv.log()[-2000:]     # before the 421
        s.close()
        s = connect_from(srv, "127.0.0.3")              # someone else may still come in
        assert first_line(s).startswith("220 ")
        s.close()
        assert "reason=max_connection_rate_per_ip limit=5" in srv.log()
        assert srv.stop() == 0


def test_loopback_exempt_by_default():
    # As Postfix exempts $mynetworks: local programs may hold many sessions (default limit 50).
    with Server() as srv:
        srv.start()
        held = [connect_from(srv, "127.0.0.1") for _ in range(60)]
        assert all(first_line(s).startswith("220 ") for s in held)
        for s in held:
            s.close()
        assert srv.stop() == 0


def test_bad_exemption_list_names_file_and_line():
    with Server(extra_server="limits_exempt = 127.0.0.0/8 localhost") as srv:
        r = subprocess.run([BIN, "serve", "--config", srv.conf, "--check-config"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 78, r
        line = srv.conf_line("limits_exempt")
        assert f'{srv.conf}:{line}: [server] limits_exempt: "localhost" is not an address or network' in r.stderr, \
            r.stderr


def trickle(s, data, every=0.25):
    """Send data one octet at a time; stop at the first reply. Returns (octets sent, reply)."""
    s.setblocking(False)
    try:
        for i, b in enumerate(data):
            try:
                got = s.recv(4096)
                if got is not None:
                    return i, got.decode(errors="replace")
            except BlockingIOError:
                pass
            try:
                s.send(bytes([b]))
            except OSError:
                return i, ""
            time.sleep(every)
        return len(data), ""
    finally:
        s.setblocking(True)


def test_slow_loris_is_dropped_in_commands_and_in_data():
    """One octet every 250 ms keeps libevent's per-read timeout (2 s here) from ever firing;
    the line deadline does not: 421 4.4.2 after about 2 s, and nothing is stored."""
    with Server(extra_server="timeout = 2s") as srv:
        srv.start()
        s = connect_from(srv, "127.0.0.1")
        assert first_line(s).startswith("220 ")
        sent, reply = trickle(s, b"EHLO " + b"x" * 60 + b"\r\n")
        assert reply.startswith("421 4.4.2 "), (sent, reply)
        assert sent < 40, sent                         # cut off well before the line was done
        s.close()
        s = connect_from(srv, "127.0.0.1")
        first_line(s)
        s.sendall(b"HELO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        replies = b""
        while replies.count(b"\r\n") < 4:
            replies += s.recv(4096)
        assert b"354 " in replies, replies
        sent, reply = trickle(s, b"Subject: " + b"y" * 60 + b"\r\n\r\nbody\r\n.\r\n")
        assert reply.startswith("421 4.4.2 "), (sent, reply)
        s.close()
        # cut off, so never queued: an empty queue now is final (and a delivered message would
        # be in the Maildir already); each line was written before its 421
        assert srv.queue_files() == []
        assert srv.messages("alice") == []
        assert srv.log().count("reason=line-not-completed") == 2
        assert srv.stop() == 0


def test_slow_but_steady_client_is_kept():
    """Whole lines at a leisurely pace are fine: each completes well within the deadline."""
    with Server(extra_server="timeout = 2s") as srv:
        srv.start()
        s = connect_from(srv, "127.0.0.1")
        assert first_line(s).startswith("220 ")
        for _ in range(4):
            time.sleep(1)
            s.sendall(b"NOOP\r\n")
            assert first_line(s).startswith("250 ")
        s.sendall(b"QUIT\r\n")
        assert first_line(s).startswith("221 ")
        s.close()
        assert "line-not-completed" not in srv.log()
        assert srv.stop() == 0
