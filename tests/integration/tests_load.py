"""Pipelining and concurrency: every accepted message delivered exactly once."""
import smtplib
import threading

from harness import Raw, Server


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
