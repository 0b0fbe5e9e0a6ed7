"""Exactly once under every fault (issue 15): kill -9 right after a two-recipient message
completes while a mail reader moves new/ to cur/, an idle server that must checkpoint, a
deleted message that must stay deleted, a server out of descriptors, and a spool whose
file system is full. The kill -9 cycle below is also what `make soak` runs for longer."""
import collections
import os
import random
import smtplib
import socket
import subprocess
import threading
import time

from harness import BIN, Server, Skip, wait_for

USERS = ("alice", "bob")


class Reader(threading.Thread):
    """A mail reader's habit (Dovecot, mutt): a new message moves from new/ to cur/ at once.
    A copy delivered again under the same name is, to its user, the message back as unread: it
    is kept beside the first (name.againN), not over it, so that it is counted."""

    def __init__(self, srv, users=USERS):
        super().__init__(daemon=True)
        self.srv, self.users, self.halt = srv, users, threading.Event()

    def run(self):
        while not self.halt.is_set():
            for u in self.users:
                md = self.srv.maildir(u)
                try:
                    names = os.listdir(os.path.join(md, "new"))
                except FileNotFoundError:
                    continue
                os.makedirs(os.path.join(md, "cur"), exist_ok=True)
                for n in names:
                    dst, k = os.path.join(md, "cur", n + ":2,S"), 0
                    while os.path.exists(dst):
                        k += 1
                        dst = os.path.join(md, "cur", f"{n}.again{k}:2,S")
                    try:
                        os.rename(os.path.join(md, "new", n), dst)
                    except FileNotFoundError:
                        pass
            time.sleep(0.002)

    def stop(self):
        self.halt.set()
        self.join(5)


def copies(srv, user):
    """X-Seq of every copy in user's Maildir, new/ and cur/ alike, counted. cur/ first: a file
    only ever moves from new/ to cur/, so none is counted twice; one that moves while new/ is
    read sends the count round again."""
    while True:
        c = collections.Counter()
        try:
            for sub in ("cur", "new"):
                d = os.path.join(srv.maildir(user), sub)
                for name in os.listdir(d) if os.path.isdir(d) else ():
                    with open(os.path.join(d, name), "rb") as f:
                        data = f.read()
                    if b"X-Seq: " in data:
                        c[data.split(b"X-Seq: ")[1].split(b"\r\n")[0].split(b"\n")[0].decode()] += 1
            return c
        except FileNotFoundError:
            continue


def removed(srv, n=1, timeout=10):
    """Wait until n messages have left the queue (the log says "removed" once each is
    delivered): the moment after which nothing of them may happen again."""
    deadline = time.time() + timeout
    while time.time() < deadline and srv.log(since_start=True).count(" removed\n") < n:
        time.sleep(0.0005)


def message(seq):
    return f"Subject: {seq}\r\nX-Seq: {seq}\r\n\r\nbody of {seq}\r\n"


def kill9_cycles(srv, cycles, clients=2, per_client=3, seed=1, quiet=True):
    """Start, load with `clients` sessions sending two-recipient messages, kill -9 at a random
    moment (half of the time right after one of the cycle's messages left the queue), for
    `cycles` rounds; then start once more and let everything drain. Returns (acknowledged,
    lost, duplicated): seqs that got a 250, those missing from a mailbox, those in one twice."""
    rng = random.Random(seed)
    acked, lock = set(), threading.Lock()
    rcpts = [f"{u}@example.test" for u in USERS]
    for cycle in range(cycles):
        srv.start()

        def client(t):
            try:
                with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
                    for i in range(per_client):
                        seq = f"c{cycle}-{t}-{i}"
                        c.sendmail("s@remote.test", rcpts, message(seq))
                        with lock:
                            acked.add(seq)
            except (OSError, smtplib.SMTPException):
                pass                    # the kill came first: not acknowledged, not counted

        threads = [threading.Thread(target=client, args=(t,)) for t in range(clients)]
        for th in threads:
            th.start()
        if rng.random() < 0.5:
            removed(srv, rng.randint(1, clients * per_client))
        else:
            time.sleep(rng.random() * 0.3)
        srv.kill()
        for th in threads:
            th.join(15)
    srv.start()
    deadline = time.time() + 60
    while time.time() < deadline and not all(set(copies(srv, u)) >= acked for u in USERS):
        time.sleep(0.1)
    # a late duplicate could only come from what is still queued: once nothing is, none can
    assert srv.wait_queue(0, 60) == 0, srv.log()[-3000:]
    lost = sorted({s for u in USERS for s in acked if copies(srv, u)[s] == 0})
    dup = sorted({s for u in USERS for s, n in copies(srv, u).items() if n > 1})
    if not quiet:
        print(f"acknowledged={len(acked)} lost={len(lost)} duplicated={len(dup)}")
    return acked, lost, dup


def test_kill9_right_after_two_recipients_delivers_nothing_twice():
    with Server() as srv:
        reader = Reader(srv)
        reader.start()
        try:
            for cycle in range(15):
                srv.start()
                with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
                    c.sendmail("s@remote.test", ["alice@example.test", "bob@example.test"], message(f"t{cycle}"))
                removed(srv)
                srv.kill()              # the message just completed and left the queue
            srv.start()
            assert srv.wait_queue(0, 60) == 0, srv.log()[-3000:]     # nothing left to deliver (again)
            for u in USERS:
                got = copies(srv, u)
                assert sorted(got) == sorted(f"t{i}" for i in range(15)), (u, got)
                assert set(got.values()) == {1}, (u, {s: n for s, n in got.items() if n > 1})
        finally:
            reader.stop()
        assert srv.stop() == 0


def test_kill9_under_load_loses_nothing_delivers_nothing_twice():
    with Server() as srv:
        reader = Reader(srv)
        reader.start()
        try:
            acked, lost, dup = kill9_cycles(srv, cycles=8)
        finally:
            reader.stop()
        assert acked and not lost and not dup, (len(acked), lost, dup)
        assert srv.stop() == 0
        assert srv.queue_files() == []


def wait_log(srv, text, n=1, timeout=30):
    wait_for(lambda: srv.log(since_start=True).count(text) >= n, timeout, lambda: srv.log()[-3000:])


def settled(srv):
    """Nothing a kill could make the server do again: no message queued (its own answer, and no
    file in queue/), and the journal's current generation holds no record (a checkpoint came
    after the last delivery: the next start replays nothing). The journal (journal_int.h): a
    generation header (MPJG, its number at 4) at 0, the first record's header at 512."""
    if srv.queue_files():
        return False
    for _, _, files in os.walk(os.path.join(srv.dir, "spool", "queue")):
        if files:
            return False
    with open(os.path.join(srv.dir, "spool", "journal"), "rb") as f:
        head = f.read(520)
    return (len(head) == 520 and head[:4] == b"MPJG" and
            not (head[512:516] in (b"MPJ1", b"MPJD", b"MPJS") and head[516:520] == head[4:8]))


def test_idle_server_checkpoints_what_it_delivered():
    # One session: its commits run on the event loop, not on the committer thread.
    with Server() as srv:
        srv.start()
        srv.block_maildir("bob")
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            for i in range(5):
                c.sendmail("s@remote.test", ["bob@example.test"], message(f"d{i}"))
        wait_log(srv, "delivery deferred", 5)
        os.unlink(srv.maildir("bob"))
        srv.wait_messages("bob", 5)     # the retry (retry_interval 1s) delivers them
        # idle: a checkpoint is due within a second; the kill comes once it is done
        wait_for(lambda: settled(srv), 30, lambda: srv.log()[-3000:])
        srv.kill()
        srv.start()                     # a replay would have said so before "started"
        assert srv.wait_queue(0, 30) == 0, srv.log()[-3000:]     # nothing left to deliver again
        assert "journal restored" not in srv.log(since_start=True)
        assert copies(srv, "bob") == {f"d{i}": 1 for i in range(5)}
        assert srv.stop() == 0


def test_deleted_message_stays_deleted_after_kill9():
    with Server() as srv:
        srv.start()
        srv.block_maildir("bob")
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("s@remote.test", ["bob@example.test"], message("gone"))
        wait_log(srv, "delivery deferred")
        (qid,) = srv.queue_files()
        out = subprocess.run([BIN, "queue", "--config", srv.conf, "delete", qid], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0 and "deleted" in out.stdout, (out.stdout, out.stderr)
        srv.kill()                      # at once: "deleted" must already be true on disk
        os.unlink(srv.maildir("bob"))
        srv.start()
        # the start replayed the journal before it said "started": what it put back is in the
        # queue, or, delivered, already in the Maildir; an empty queue then is final
        assert srv.queue_files() == []
        assert copies(srv, "bob") == {}
        assert srv.stop() == 0


def test_out_of_descriptors_backs_off_and_recovers():
    with Server(extra_server="max_connections = 1000\nmax_connections_per_ip = 1000") as srv:
        srv.nofile = 48
        srv.start()
        socks = []
        try:
            for _ in range(80):         # the kernel completes them; the server cannot take them all
                socks.append(socket.create_connection((srv.host, srv.port), timeout=5))
            wait_log(srv, "accept failed")
            time.sleep(3)               # a window of a dozen retries (every 250 ms): one line for all
            lines = srv.log(since_start=True).count("accept failed")
            assert 1 <= lines <= 2, f"{lines} 'accept failed' lines in 3 s"
            assert "raise the descriptor limit" in srv.log(since_start=True)
        finally:
            for s in socks:
                s.close()
        # the sessions end, their descriptors come back, and the next connection, queued in
        # the kernel behind the closed ones, gets its greeting
        with smtplib.SMTP(srv.host, srv.port, timeout=60) as c:
            assert c.ehlo()[0] == 250
        assert srv.stop() == 0


def test_full_spool_452_then_crash_and_start():
    if os.geteuid() != 0:
        raise Skip("needs root to mount a small tmpfs for the spool")
    with Server(extra_server="min_free_space = 0") as srv:
        spool = os.path.join(srv.dir, "spool")
        os.makedirs(spool)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", spool]).returncode != 0:
            raise Skip("cannot mount a tmpfs here")
        try:
            srv.start()
            srv.block_maildir("bob")
            body = "x" * 998 + "\r\n"
            acked, reply = [], None
            with smtplib.SMTP(srv.host, srv.port, timeout=20) as c:
                for i in range(200):    # 100 KB each: the 3 MiB file system fills up
                    seq = f"f{i}"
                    try:
                        c.sendmail("s@remote.test", ["bob@example.test"], message(seq) + body * 100)
                        acked.append(seq)
                    except smtplib.SMTPResponseException as e:
                        reply = (e.smtp_code, e.smtp_error.decode())
                        break
            assert reply is not None and reply[0] == 452 and reply[1].startswith("4.3.1"), reply
            assert acked
            srv.kill()                  # a crash while the spool is full
            srv.start()                 # must start with what is on disk
            os.unlink(srv.maildir("bob"))
            deadline = time.time() + 60
            while time.time() < deadline and set(copies(srv, "bob")) < set(acked):
                time.sleep(0.1)
            # a duplicate could only come from what is still queued: once nothing is, none can
            assert srv.wait_queue(0, 60) == 0, srv.log()[-3000:]
            got = copies(srv, "bob")
            assert set(got) >= set(acked), sorted(set(acked) - set(got))
            assert set(got.values()) == {1}, {s: n for s, n in got.items() if n > 1}
            assert srv.stop() == 0
        finally:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            subprocess.run(["umount", spool])
