"""Pipelining and concurrency: every accepted message delivered exactly once."""
import os
import smtplib
import threading
import time

from harness import BIN, Raw, Server


def test_pipelined_burst():
    n = 25
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        assert r.code().startswith("220")
        burst = "EHLO burst.test\r\n"
        for i in range(n):
            burst += ("MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
                      f"DATA\r\nSubject: burst {i}\r\n\r\nX-Seq: burst-{i}\r\n.\r\n")
        burst += "QUIT\r\n"
        r.send(burst)                                   # one write: the whole pipeline
        assert r.reply()[0].startswith("250-")
        for i in range(n):
            assert r.code() == "250 2.1.0"
            assert r.code() == "250 2.1.5"
            assert r.code() == "550 5.1.1"
            assert r.code() == "354 2.0.0"
            assert r.code() == "250 2.0.0"
        assert r.code() == "221 2.0.0"
        assert r.closed()
        msgs = srv.wait_messages("alice", n)
        seqs = sorted(int(m.split(b"X-Seq: burst-")[1].split(b"\n")[0]) for m in msgs)
        assert seqs == list(range(n)), seqs
        assert srv.stop() == 0


def test_100_clients_x5_exactly_once():
    clients, per = 100, 5
    errors = []
    with Server(extra_server="max_connections = 200") as srv:
        srv.start()
        barrier = threading.Barrier(clients)

        def client(k):
            try:
                with smtplib.SMTP(srv.host, srv.port, timeout=60) as c:
                    barrier.wait(30)                      # all connected at once
                    for i in range(per):
                        c.sendmail("s@remote.test", ["bob@example.test"],
                                   f"Subject: c{k} m{i}\r\nX-Seq: {k}-{i}\r\n\r\nbody {k} {i}\r\n")
            except Exception as e:                        # noqa: BLE001
                errors.append(f"client {k}: {e!r}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:5]
        msgs = srv.wait_messages("bob", clients * per, timeout=120)
        seqs = [m.split(b"X-Seq: ")[1].split(b"\n")[0].decode() for m in msgs]
        assert len(seqs) == clients * per
        assert sorted(seqs) == sorted(f"{k}-{i}" for k in range(clients) for i in range(per))
        assert srv.stop() == 0
        assert srv.queue_files() == []


def test_2000_concurrent_sessions():
    """Thousands of concurrent sessions in one process: all greeted, all served."""
    import resource
    import selectors
    import socket

    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        from harness import Skip
        raise Skip(f"open file limit {hard} is below {n + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
    with Server(extra_server=f"max_connections = {n + 10}") as srv:
        srv.start()
        socks = []
        sel = selectors.DefaultSelector()
        try:
            for _ in range(n):
                s = socket.socket()
                s.connect((srv.host, srv.port))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
            greeted = set()
            deadline = time.time() + 60
            while len(greeted) < n and time.time() < deadline:
                for key, _ in sel.select(timeout=1):
                    if key.fileobj.recv(512).startswith(b"220 "):
                        greeted.add(key.fileobj.fileno())
                    sel.unregister(key.fileobj)
            assert len(greeted) == n, len(greeted)
            with open(f"/proc/{srv.proc.pid}/status") as f:
                rss = [line for line in f if line.startswith("VmRSS")][0].split()[1]
            print(f"    {n} idle sessions: server RSS {int(rss) // 1024} MiB ({os.path.basename(os.path.dirname(BIN))} build)")
            # while all of them are held, mail still flows
            with smtplib.SMTP(srv.host, srv.port, timeout=30) as c:
                c.sendmail("s@remote.test", ["alice@example.test"], "Subject: busy\r\n\r\nstill served\r\n")
            assert b"still served" in srv.wait_messages("alice", 1)[0]
            for s in socks[:100]:                # and each held session is live
                s.setblocking(True)
                s.settimeout(10)
                s.sendall(b"QUIT\r\n")
                assert s.recv(512).startswith(b"221 ")
        finally:
            for s in socks:
                s.close()
        assert srv.stop() == 0
