#!/usr/bin/env python3
"""make soak-relay: kill -9 cycles while mailport relays to a smarthost that takes mail more
slowly than the clients send it (issue 35); not part of make test.

A smarthost on loopback (this process, it outlives every mailport) answers 250 to the end of
data only after 20-50 ms and records each message's X-Seq with the time of its 250. mailport
relays everything for remote.test to it (smtp://, [relay] smarthost). Each cycle starts
mailport, CLIENTS threads submit one-recipient messages (unique X-Seq) over submissions (465,
AUTH) at SOAK_RATE in all (faster than the smarthost takes them), and after a random 0.5-3 s
the tool scrapes /metrics and kills mailport with SIGKILL. At the end mailport starts once more and the tool waits (bounded) until
every acknowledged message reached the smarthost.

Prints: acknowledged, lost (a 250 to the client, never at the smarthost), duplicated (copies
beyond the first, per 10,000 copies), each duplicate's window (the kill came this long after
the smarthost's 250 to the first copy; negative: the kill came before that 250, the SMTP window
no sender can close), the clients' wait for their 250, the checkpoints as seen from outside
(spool/queue/ sampled every 50 ms: a jump of JUMP files or more is one; works for any binary)
and whether each wait of 100 ms or more overlapped one, and the journal histograms summed over
the cycles (mailport_journal_checkpoint_seconds when the binary has it). Exits 1 on any loss,
on mail left in the queue, or on an unclean last stop.

Usage: kill9_relay.py [CYCLES] (default 20; SOAK_CYCLES too). SOAK_SEED (1), SOAK_CLIENTS (4),
SOAK_RATE (messages/s of all clients together, default 280; 0 = flat out, about 1,000/s here,
which buries the smarthost in a backlog that grows by thousands a cycle), SOAK_RELAY_CONCURRENCY
(concurrency and destination_concurrency, default 8: the smarthost then takes about 230/s),
SOAK_VERBOSE=1 (a line per cycle), MAILPORT_BIN.
"""
import collections
import os
import random
import re
import smtplib
import ssl
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from fakesmtp import FakeSMTP  # noqa: E402
from harness import BIN, Server, free_port  # noqa: E402

CYCLE_LIMIT = 20.0          # seconds a cycle may take at most (clients stop, the kill comes)
DRAIN_LIMIT = 180.0         # seconds the last start may take to relay what was acknowledged
JUMP = 20                   # files added to queue/ between two samples that make a checkpoint
HISTS = ("mailport_journal_checkpoint_seconds", "mailport_journal_commit_seconds")


class SlowSmarthost(FakeSMTP):
    """A plain SMTP server on 127.0.0.1 that sleeps 20-50 ms before its 250 to the end of
    data. received: X-Seq -> list of monotonic times of the 250s sent for it."""

    def __init__(self, seed, delay=(0.020, 0.050)):
        self.delay = delay
        self.rng = random.Random(seed * 7919 + 1)
        self.received = collections.defaultdict(list)
        super().__init__(script=self._slow, accepted=self._record)

    def _slow(self, n, cmd):
        if cmd == "END":
            with self.lock:
                d = self.rng.uniform(*self.delay)
            time.sleep(d)
        return None

    def _record(self, body):
        # Accepted from here on (a real MTA's fsync before its 250): counted even when the
        # sender is gone by now and never reads the 250.
        m = re.search(rb"^X-Seq: (\S+)", body, re.M)
        self.received[m.group(1).decode() if m else None].append(time.monotonic())

    def snapshot(self):
        with self.lock:
            return {k: list(v) for k, v in self.received.items()}


class QueueWatch(threading.Thread):
    """Counts the files in spool/queue/ every 50 ms: a checkpoint writes the undelivered
    messages there, so a jump between two samples is one (old and new binaries alike).
    jumps: (monotonic time of the sample before, of the sample after, files added)."""

    def __init__(self, spool):
        super().__init__(daemon=True)
        self.queue = os.path.join(spool, "queue")
        self.halt = threading.Event()
        self.jumps = []
        self.prev = None

    def count(self):
        n = 0
        for _, _, files in os.walk(self.queue):
            n += sum(1 for f in files if not f.endswith(".st"))
        return n

    def run(self):
        deadline = time.monotonic() + 3600
        while not self.halt.is_set() and time.monotonic() < deadline:
            t, n = time.monotonic(), self.count()
            if self.prev is not None and n - self.prev[1] >= JUMP:
                self.jumps.append((self.prev[0], t, n - self.prev[1]))
            self.prev = (t, n)
            time.sleep(0.05)

    def restart(self):
        self.prev = None        # a start of its own (replay) is not a checkpoint under load

    def stop(self):
        self.halt.set()
        self.join(5)


def message(seq):
    return f"Subject: {seq}\r\nX-Seq: {seq}\r\n\r\nbody of {seq}\r\n"


def scrape(port):
    """{histogram name: {le: cumulative count}} and sums, from /metrics; {} when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for name in HISTS:
        b = {}
        for le, n in re.findall(rf'(?m)^{name}_bucket{{le="([^"]+)"}} (\d+)', text):
            b[le] = int(n)
        m = re.search(rf"(?m)^{name}_sum (\S+)", text)
        if b:
            out[name] = (b, float(m.group(1)) if m else 0.0)
    return out


def add_hist(total, scraped):
    for name, (b, s) in scraped.items():
        tb, ts = total.get(name, ({}, 0.0))
        for le, n in b.items():
            tb[le] = tb.get(le, 0) + n
        total[name] = (tb, ts + s)


def hist_lines(total):
    lines = []
    for name in HISTS:
        if name not in total:
            lines.append(f"  {name}: not served by this binary")
            continue
        b, s = total[name]
        keys = sorted(b, key=lambda k: float("inf") if k == "+Inf" else float(k))
        count = b.get("+Inf", 0)
        prev, parts = 0, []
        for k in keys:
            parts.append(f"<={k}:{b[k] - prev}")
            prev = b[k]
        mean = s / count * 1e3 if count else 0.0
        lines.append(f"  {name}: count={count} sum={s:.3f}s mean={mean:.2f}ms  " + " ".join(parts))
    return lines


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def main():
    cycles = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SOAK_CYCLES", "20"))
    seed = int(os.environ.get("SOAK_SEED", "1"))
    nclients = int(os.environ.get("SOAK_CLIENTS", "4"))
    conc = int(os.environ.get("SOAK_RELAY_CONCURRENCY", "8"))
    rate = float(os.environ.get("SOAK_RATE", "280"))       # messages/s all clients together; 0: flat out
    interval = nclients / rate if rate > 0 else 0.0
    rng = random.Random(seed)
    smart = SlowSmarthost(seed)
    mport = free_port()
    print(f"soak-relay: {cycles} kill -9 cycles, {nclients} clients at {rate:g} messages/s in all (0: flat out), "
          f"smarthost 127.0.0.1:{smart.port} "
          f"(20-50 ms per message, {conc} connections), binary {os.path.relpath(BIN)}, seed {seed}", flush=True)
    extra = (f"\n[relay]\nsmarthost = smtp://127.0.0.1:{smart.port}\nretry_schedule = 1s\ntimeout = 10s\n"
             f"concurrency = {conc}\ndestination_concurrency = {conc}\n"
             f"\n[metrics]\nlisten = 127.0.0.1:{mport}\n")
    errors = collections.Counter()          # client failures before the kill
    acked, lock = {}, threading.Lock()      # seq -> (cycle, client's wait for the 250 in s)
    kills = []                              # monotonic time of each kill
    t_cycle0 = []                           # monotonic time of each cycle's start
    hist_total = {}
    per_cycle = []
    ok = True
    t_start = time.monotonic()
    with Server(tls=True, extra=extra) as srv:
        ctx = ssl.create_default_context(cafile=srv.ca)
        watch = QueueWatch(os.path.join(srv.dir, "spool"))
        try:
            watch.start()
            for cycle in range(cycles):
                srv.start()
                watch.restart()
                halt, killing = threading.Event(), threading.Event()
                t_cycle = time.monotonic()
                t_cycle0.append(t_cycle)
                cyc_acked = [0]

                def client(t, cycle=cycle, halt=halt, killing=killing, cyc_acked=cyc_acked, t_cycle=t_cycle):
                    deadline = time.monotonic() + CYCLE_LIMIT
                    try:
                        with smtplib.SMTP_SSL("127.0.0.1", srv.port465, context=ctx, timeout=10) as c:
                            c.login("alice@example.test", "secret")
                            i, due = 0, time.monotonic()
                            while not halt.is_set() and time.monotonic() < deadline:
                                if interval:        # paced: never a burst to catch up
                                    now = time.monotonic()
                                    if due > now:
                                        time.sleep(due - now)
                                    due = max(due, now) + interval
                                seq = f"c{cycle}-{t}-{i}"
                                t0 = time.monotonic()
                                c.sendmail("alice@example.test", ["far@remote.test"], message(seq))
                                with lock:
                                    acked[seq] = (cycle, time.monotonic() - t0, t0 - t_cycle)
                                    cyc_acked[0] += 1
                                i += 1
                    except (OSError, smtplib.SMTPException) as e:
                        # the kill came first: not acknowledged, not counted
                        if not killing.is_set():
                            with lock:
                                errors[f"{type(e).__name__}: {e}"[:120]] += 1

                threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(nclients)]
                for th in threads:
                    th.start()
                time.sleep(rng.uniform(0.5, 3.0))
                scraped = scrape(mport)
                killing.set()
                srv.kill()
                kills.append(time.monotonic())
                watch.restart()
                halt.set()
                for th in threads:
                    th.join(15)
                add_hist(hist_total, scraped)
                cp = scraped.get(HISTS[0])
                per_cycle.append((cycle, cyc_acked[0], len(smart.snapshot()),
                                  cp[0].get("+Inf", 0) if cp else None))
            srv.start()
            deadline = time.monotonic() + DRAIN_LIMIT
            while time.monotonic() < deadline:
                got = smart.snapshot()
                if all(s in got for s in acked):
                    break
                time.sleep(0.2)
            time.sleep(2.0)                 # a late duplicate would show up by now
            add_hist(hist_total, scrape(mport))
            got = smart.snapshot()
            left = srv.queue_files()
            stopped = srv.stop()
            tail = srv.log()
        finally:
            watch.stop()
            smart.close()
    elapsed = time.monotonic() - t_start

    lost = sorted(s for s in acked if s not in got)
    dups = {s: ts for s, ts in got.items() if len(ts) > 1}
    extra_copies = sum(len(ts) - 1 for ts in dups.values())
    copies = sum(len(ts) for ts in got.values())
    unacked_received = sum(1 for s in got if s not in acked)
    windows = []        # per duplicate: the kill after the first copy's 250 (ms)
    for s, ts in dups.items():
        first = ts[0]
        after = [k for k in kills if k >= first - 1.0]
        k = min(after, key=lambda k: abs(k - first)) if after else None
        windows.append(((k - first) * 1e3) if k is not None else float("nan"))
    waits = [w for _, w, _ in acked.values()]
    slow = sorted(((w, c, at) for c, w, at in acked.values() if w >= 0.1), reverse=True)
    t_end = {seq: (t_cycle0[c] + at, t_cycle0[c] + at + w) for seq, (c, w, at) in acked.items() if w >= 0.1}
    jumps = watch.jumps
    with_cp = sum(1 for a, b in t_end.values() if any(ja - 0.05 <= b and jb >= a for ja, jb, _ in jumps))
    per10k = extra_copies / copies * 1e4 if copies else 0.0
    after250 = sum(1 for x in windows if x >= 0)

    print(f"soak-relay: acknowledged={len(acked)} copies={copies} lost={len(lost)} duplicated={len(dups)} "
          f"extra copies={extra_copies} ({per10k:.1f} per 10,000 copies) received unacknowledged={unacked_received} "
          f"left in queue={len(left)} exit={stopped} time={elapsed:.0f}s")
    if windows:
        after = sorted((x for x in windows if x >= 0), reverse=True)
        before = [x for x in windows if x < 0]
        buckets = [(10, "<=10ms"), (50, "<=50ms"), (250, "<=250ms"), (float("inf"), ">250ms")]
        dist, lo = [], 0.0
        for hi, name in buckets:
            dist.append(f"{name}:{sum(1 for x in after if lo <= x <= hi or (lo < x <= hi))}")
            lo = hi
        print(f"soak-relay: duplicates whose first copy had the smarthost's 250 before the kill: {len(after)} "
              f"({after250 / copies * 1e4:.1f} per 10,000 copies), kill came that long after: {' '.join(dist)}; "
              f"longest (ms): {' '.join(f'{x:.0f}' for x in after[:20])}")
        print(f"soak-relay: duplicates killed before the smarthost's 250 (the SMTP window): {len(before)}")
    print(f"soak-relay: clients' wait for the 250 (ms): p50={pct(waits, 50) * 1e3:.1f} p90={pct(waits, 90) * 1e3:.1f} "
          f"p99={pct(waits, 99) * 1e3:.1f} p99.9={pct(waits, 99.9) * 1e3:.1f} max={max(waits, default=0) * 1e3:.1f} "
          f">=100ms={len(slow)}")
    sizes = sorted(n for _, _, n in jumps)
    print(f"soak-relay: checkpoints seen as queue/ growing by >={JUMP} files in 50 ms: {len(sizes)}, files each: "
          f"min={min(sizes, default=0)} p50={pct(sizes, 50):.0f} p90={pct(sizes, 90):.0f} max={max(sizes, default=0)}; "
          f"waits >=100ms overlapping one: {with_cp} of {len(slow)}")
    if slow:
        print("soak-relay: the slowest (wait ms @ cycle+ms since its start): "
              + " ".join(f"{w * 1e3:.0f}@{c}+{at * 1e3:.0f}" for w, c, at in slow[:25]))
    print("soak-relay: journal histograms (summed over the cycles' last scrapes and the drain):")
    for line in hist_lines(hist_total):
        print(line)
    for e, n in errors.most_common(5):
        print(f"soak-relay: client failed before the kill {n}x: {e}")
    if os.environ.get("SOAK_VERBOSE"):
        for cycle, n, rec, cps in per_cycle:
            print(f"  cycle {cycle}: acknowledged {n}, smarthost has {rec}, checkpoints {cps}")
    if lost:
        ok = False
        print(f"soak-relay: LOST: {' '.join(lost[:40])}{' ...' if len(lost) > 40 else ''}")
        print(tail[-4000:])
    if left or stopped != 0:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
