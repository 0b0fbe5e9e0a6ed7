"""Every core serves connections (issue 36): `[server] workers = N` runs N event loops, each
a thread with its own SO_REUSEPORT listeners. Real clients (python3 smtplib, openssl s_client
through the harness) reach every loop; a reload reaches every loop; a stop ends every loop's
sessions with 421 4.3.2 and loses nothing; a second server on the same address is still an
error. The whole suite also runs with workers = 1 and 2 (make test)."""
import glob
import os
import signal
import smtplib
import socket
import time

from harness import Server, wait_for


def loop_switches(pid):
    """{thread name: voluntary context switches} of the server's event-loop threads (the main
    thread is loop 0)."""
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = open(os.path.join(task, "comm")).read().strip()
            status = open(os.path.join(task, "status")).read()
        except OSError:
            continue
        if name.startswith("loop") or task.endswith(f"/{pid}"):
            n = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
            out["loop0" if task.endswith(f"/{pid}") else name] = n
    return out


def ehlo_size(srv):
    with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
        c.ehlo("loops.test")
        return int(c.esmtp_features["size"])


def test_every_loop_serves_and_takes_a_reload():
    with Server(extra_server="workers = 2\nmax_message_size = 1M") as srv:
        srv.start()
        assert "loops=2" in srv.log(), srv.log()
        before = loop_switches(srv.proc.pid)
        assert sorted(before) == ["loop0", "loop1"], before
        # The kernel spreads connections over the loops by their addresses: 40 of them reach both
        # (all on one would be a chance of 2^-39).
        conns = []
        for i in range(40):
            c = smtplib.SMTP(srv.host, srv.port, timeout=10)
            c.ehlo("loops.test")
            conns.append(c)
        for i, c in enumerate(conns):
            c.sendmail("s@remote.test", ["alice@example.test"], f"Subject: loop {i}\r\n\r\nhi\r\n")
            c.quit()
        srv.wait_messages("alice", 40)
        after = loop_switches(srv.proc.pid)
        # An idle loop wakes a handful of times; one that served about 20 sessions, hundreds.
        for name in ("loop0", "loop1"):
            assert after[name] - before[name] > 40, (before, after)
        # A reload: every loop's new sessions see the new snapshot.
        with open(srv.conf) as f:
            conf = f.read()
        with open(srv.conf, "w") as f:
            f.write(conf.replace("max_message_size = 1M", "max_message_size = 2M"))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in srv.log(), 30, srv.log)
        sizes = set()
        deadline = time.time() + 10
        while time.time() < deadline and sizes != {2 * 1024 * 1024}:
            sizes = {ehlo_size(srv) for _ in range(40)}
        assert sizes == {2 * 1024 * 1024}, sizes
        assert srv.stop() == 0


def test_stop_ends_every_loops_sessions_and_loses_nothing():
    with Server(extra_server="workers = 2\nshutdown_grace = 2s") as srv:
        srv.start()
        socks = []
        for _ in range(16):
            s = socket.create_connection((srv.host, srv.port), timeout=10)
            s.recv(512)
            s.sendall(b"EHLO loops.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
            socks.append(s)
        for s in socks:             # every session has its 354 before the stop
            got = b""
            while b"354" not in got:
                got += s.recv(4096)
        srv.signal(signal.SIGTERM)
        wait_for(lambda: "shutdown signal=TERM" in srv.log(), 30, srv.log)
        # The message whose end of data comes inside the grace period is taken.
        socks[0].sendall(b"Subject: inside the grace\r\n\r\nhi\r\n.\r\n")
        got = b""
        while b"\r\n" not in got.split(b"354", 1)[-1]:
            got += socks[0].recv(4096)
        assert b"250 2.0.0" in got, got
        for s in socks[1:]:
            got = b""
            s.settimeout(15)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            assert b"421 4.3.2" in got, got
            s.close()
        socks[0].close()
        assert srv.proc.wait(30) == 0
        srv.start()                 # delivered now if it was not before the stop
        srv.wait_messages("alice", 1)
        # the queue empty, the count is final: once, not twice
        assert srv.wait_queue(0) == 0, srv.queue_files()
        assert len(os.listdir(os.path.join(srv.dir, "mail/example.test/alice/new"))) == 1
        assert srv.stop() == 0


def test_second_server_on_the_address_is_still_an_error():
    """SO_REUSEPORT lets the loops share an address; it must not let a second server join them
    unnoticed (started by mistake, or a stale one): that one fails as before, exit 71."""
    with Server(extra_server="workers = 2") as a:
        a.start()
        with Server(listen=f"127.0.0.1:{a.port}", extra_server="workers = 2") as b:
            b.start(expect_ready=False)
            rc = b.proc.wait(30)
            assert rc == 71, (rc, b.log())
            assert f"cannot listen on 127.0.0.1:{a.port}" in b.log(), b.log()
        # and the first still serves on every loop
        for _ in range(10):
            assert ehlo_size(a) > 0
        assert a.stop() == 0
