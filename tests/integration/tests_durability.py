"""Accepted means durable: SIGKILL and SIGTERM never lose an accepted message and never
deliver one twice."""
import os
import signal
import smtplib
import time

from harness import Raw, Server, unread, wait_for


def send(srv, seq, rcpt="alice@example.test"):
    with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
        c.sendmail("s@remote.test", [rcpt], f"Subject: {seq}\r\nX-Seq: {seq}\r\n\r\nbody\r\n")


def seqs(msgs):
    return sorted(m.split(b"X-Seq: ")[1].split(b"\n")[0].decode() for m in msgs)


def test_sigkill_right_after_250():
    rounds = 8
    with Server() as srv:
        for i in range(rounds):
            srv.start()
            send(srv, f"k{i}")          # returns after the 250 to end of data
            srv.kill()                  # no chance to deliver or clean up
        srv.start()
        msgs = srv.wait_messages("alice", rounds)
        # a duplicate could only come from what is still queued: once nothing is, none can
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]
        assert seqs(srv.messages("alice")) == sorted(f"k{i}" for i in range(rounds)), seqs(msgs)
        assert srv.stop() == 0
        assert srv.queue_files() == []


def test_sigkill_with_delivery_blocked_then_restart():
    with Server() as srv:
        srv.start()
        srv.block_maildir("bob")
        for i in range(3):
            send(srv, f"b{i}", "bob@example.test")
        wait_for(lambda: "delivery deferred" in srv.log(), 30, srv.log)
        assert len(srv.queue_files()) == 3
        srv.kill()
        os.unlink(srv.maildir("bob"))
        srv.start()
        srv.wait_messages("bob", 3)
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]     # nothing left to deliver again
        assert seqs(srv.messages("bob")) == ["b0", "b1", "b2"]
        assert srv.stop() == 0
        assert srv.queue_files() == []


def test_sigkill_mid_data_stores_nothing():
    # A small message is received in memory; one over 1 MiB goes to spool/tmp/ on the way.
    for partial, on_disk in ((b"partial", False), ((b"x" * 76 + b"\r\n") * 15000, True)):
        with Server() as srv:
            srv.start()
            r = Raw(srv.host, srv.port)
            r.code()
            r.send("HELO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
            for _ in range(4):
                r.reply()
            r.s.sendall(b"Subject: never acknowledged\r\n\r\n" + partial)
            # the kill comes once the server has read all of it (and, for the big one, has
            # begun its file in spool/tmp/)
            tmp = os.path.join(srv.dir, "spool", "tmp")
            wait_for(lambda: unread(r.s) == 0 and (not on_disk or any(os.scandir(tmp))), 30,
                     lambda: f"the server did not take the data: {unread(r.s)} octets unread")
            srv.kill()
            r.close()
            assert any(os.scandir(os.path.join(srv.dir, "spool", "tmp"))) == on_disk
            srv.start()
            assert not any(os.scandir(os.path.join(srv.dir, "spool", "tmp")))
            # the start replayed the journal before it said "started": what it put back is in
            # the queue, or, delivered, already in the Maildir; an empty queue then is final
            assert srv.queue_files() == []
            assert srv.messages("alice") == []
            assert srv.stop() == 0


def test_sigterm_during_session_loses_nothing():
    # a grace longer than a loaded machine could take to finish the session: the test is that
    # the session in flight finishes, not how fast
    with Server(extra_server="shutdown_grace = 60s") as srv:
        srv.start()
        c = smtplib.SMTP(srv.host, srv.port, timeout=20)
        c.sendmail("s@remote.test", ["alice@example.test"], "Subject: t1\r\nX-Seq: t1\r\n\r\none\r\n")
        c.mail("s@remote.test")
        c.rcpt("alice@example.test")
        code, _ = c.docmd("DATA")
        assert code == 354
        c.send(b"Subject: t2\r\nX-Seq: t2\r\n\r\nfirst half ")
        srv.signal(signal.SIGTERM)       # the session is in flight: it gets the grace period
        wait_for(lambda: "shutdown signal=TERM sessions=1 " in srv.log(since_start=True) or srv.proc.poll() is not None,
                 30, lambda: srv.log()[-3000:])
        assert srv.proc.poll() is None
        c.send(b"second half\r\n.\r\n")
        code, msg = c.getreply()
        assert code == 250, (code, msg)
        c.quit()
        assert srv.proc.wait(15) == 0
        srv.check_sanitizers()
        srv.start()                      # whatever was not delivered before the stop is now
        assert seqs(srv.wait_messages("alice", 2)) == ["t1", "t2"]
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]     # nothing left to deliver again
        assert len(srv.messages("alice")) == 2
        assert srv.stop() == 0


def test_sigterm_grace_then_421():
    with Server() as srv:
        srv.start()
        r = Raw(srv.host, srv.port)
        r.code()
        r.send("EHLO idle.test\r\n")
        r.reply()
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        assert r.code() == "421 4.3.2"   # after shutdown_grace (3 s in the test config)
        assert time.time() - t0 >= 2
        assert r.closed()
        assert srv.proc.wait(10) == 0
        srv.check_sanitizers()
        # listeners closed at once: new connections are refused during the grace period
        assert "shutdown signal=TERM" in srv.log()


def test_emptied_journal_gen_is_recovered_from_and_said():
    """journal.gen names the journal's current generation; a crash can leave it empty. The
    generation is then read from the journal itself, nothing is lost, and the log says so."""
    with Server() as srv:
        srv.start()
        send(srv, "g0")
        srv.kill()
        with open(os.path.join(srv.dir, "spool", "journal.gen"), "w"):
            pass                        # emptied, as a crash mid-write could leave it
        srv.start()
        srv.wait_messages("alice", 1)
        assert "journal.gen is empty or missing; generation=" in srv.log(since_start=True), srv.log(since_start=True)
        assert seqs(srv.messages("alice")) == ["g0"]
        assert srv.stop() == 0
