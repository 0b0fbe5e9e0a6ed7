#!/usr/bin/env python3
"""Why two load generators disagree about mailport: a factor study (not part of make bench).

make bench's smtpbench (one libevent loop) and a generator with a blocking thread per session
(our bench/smtpthreads, and ../shared/tools/smtpload if it is there) measured mailport at
different shares of smtp-sink. Each differs from the other in more than the generator: how
the server delivers, the message size, messages per connection, where the server's log goes.
This script varies one factor at a time from make bench's plain C16 K10 1 KiB (discard, the
log to a file, as bench/run.py starts mailport), measures every value with every generator
against mailport and against Postfix's smtp-sink, interleaved, ROUNDS times, and prints a
table: the median [range] in msg/s, the share of smtp-sink measured with the same generator
and the same workload, and the server's CPU per message (less sensitive to the neighbours
on this machine than throughput). Pipelining is not a factor to vary: no generator here
pipelines (each writes a command and waits for its reply), so the table says so.

Loopback only; every run is bounded (messages and -d seconds). Usage:
bench/generators.py [--rounds N] [--messages N] [--no-smtpload]"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: Mailport, smtp_sink, cpu_seconds, settle)

SMTPLOAD_SRC = os.path.join(os.path.dirname(run.REPO), "shared", "tools", "smtpload.c")
SMTPLOAD = None     # main() builds it into a temporary directory, for this study only

# factor, value, workload (size, K), server variant; the first row is the baseline
ROWS = [
    ("baseline", "C16 K10 1 KiB, discard, log to a file", (1024, 10), "discard"),
    ("delivery", "Maildir", (1024, 10), "maildir"),
    ("delivery + K", "Maildir, K1", (1024, 1), "maildir"),
    ("message size", "10 KiB", (10240, 10), "discard"),
    ("connections", "K1 (a connection per message)", (1024, 1), "discard"),
    ("log", "stderr to /dev/null", (1024, 10), "devnull"),
    ("log", "stderr to a pipe (a supervisor)", (1024, 10), "pipe"),
    ("pinning", "server on core 0, generator on core 1", (1024, 10), "pinned"),
]


class LoggedMailport(run.Mailport):
    """run.Mailport (stderr to a file in its directory), restarted with its stderr elsewhere:
    /dev/null, or a pipe drained by another process as a supervisor (systemd, docker) does."""

    def __init__(self, maildir, log="file"):
        super().__init__(maildir)
        self.reader = None
        if log == "file":
            return
        self.proc.terminate()
        self.proc.wait(30)
        if log == "pipe":
            self.reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
            out = self.reader.stdin
        else:
            out = subprocess.DEVNULL
        self.proc = subprocess.Popen([run.MAILPORT, "serve", "--config", os.path.join(self.dir, "mailport.conf")],
                                     stdout=out, stderr=out)
        if self.reader:
            self.reader.stdin.close()       # mailport holds the write end now
        for p in (self.p25, self.p465, self.p587):
            run.wait_listening(p)

    def close(self):
        super().close()
        if self.reader:
            self.reader.wait(30)


def pin(pid, core):
    """Every thread of pid onto one core."""
    run.sh("taskset", "-a", "-p", "-c", str(core), str(pid))


def generate(gen, port, size, k, n, rcpt, pinned):
    """One bounded run; (msg/s, messages, the generator's CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pre = ["taskset", "-c", "1"] if pinned else []
    if gen == "smtpload":
        args = pre + [SMTPLOAD, "-H", "127.0.0.1", "-p", str(port), "-m", "plain", "-c", "16", "-k", str(k),
                      "-n", str(n), "-s", str(size), "-r", rcpt, "-f", "bench@example.test", "-T", "60"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), "")
        kv = dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)
        rate, msgs, failed = float(kv.get("msgs_s", 0)), float(kv.get("ok", 0)), float(kv.get("fail", 0))
    else:
        path = run.BENCH if gen == "smtpbench" else run.THREADS
        args = pre + [path, "-s", f"127.0.0.1:{port}", "-m", "plain", "-c", "16", "-k", str(k), "-n", str(n),
                      "-S", str(size), "-t", rcpt, "-d", "60"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        kv = dict(x.split("=", 1) for x in r.stdout.split() if "=" in x)
        rate, msgs, failed = float(kv.get("msgs_per_s", 0)), float(kv.get("msgs", 0)), float(kv.get("failed", 0))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if failed:
        print(f"  ! {gen}: {int(failed)} failed: {r.stderr.strip()[:200]}", flush=True)
    return rate, msgs, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main():
    global SMTPLOAD
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=6000)
    ap.add_argument("--no-smtpload", action="store_true")
    ap.add_argument("--only", nargs="*", default=[], help="only the rows whose factor is one of these words "
                    "(baseline, delivery, size, connections, log, pinning)")
    args = ap.parse_args()
    rows = [r for r in ROWS if r[0] == "baseline" or not args.only or any(o in r[0] for o in args.only)]
    gens = ["smtpbench", "smtpthreads"]
    tmp = tempfile.mkdtemp(prefix="mailport-generators-")
    SMTPLOAD = os.path.join(tmp, "smtpload")
    if not args.no_smtpload and os.path.exists(SMTPLOAD_SRC):
        r = run.sh("cc", "-O2", "-Wall", "-pthread", SMTPLOAD_SRC, "-o", SMTPLOAD, "-lssl", "-lcrypto")
        if r.returncode == 0:
            gens.append("smtpload")
        else:
            print("smtpload does not build: " + r.stderr[:300], flush=True)
    r = run.sh(os.path.join(run.REPO, "scripts", "peer-postfix"), timeout=600)
    if r.returncode != 0:
        sys.exit("cannot unpack Postfix: " + r.stderr)
    pf_root = os.path.join(run.REPO, r.stdout.strip())
    n = args.messages
    # (row index or ("sink", workload, pinned), generator) -> [msg/s]; cpu: -> [µs/msg]
    rate, cpu, gcpu = {}, {}, {}

    def note(key, gen, value, srv_cpu, gen_cpu, msgs):
        rate.setdefault((key, gen), []).append(value)
        if msgs:
            cpu.setdefault((key, gen), []).append(srv_cpu * 1e6 / msgs)
            gcpu.setdefault((key, gen), []).append(gen_cpu * 1e6 / msgs)

    t_start = time.time()
    try:
        for rnd in range(args.rounds):
            order = gens[rnd % len(gens):] + gens[:rnd % len(gens)]     # who goes first rotates
            # smtp-sink: every workload, pinned and not, with every generator
            sink, sport, dump = run.smtp_sink(pf_root)
            try:
                for workload in sorted({w for _, _, w, _ in rows}):
                    for pinned in (False, True) if workload == (1024, 10) and any(r[3] == "pinned" for r in rows) \
                            else (False,):
                        if pinned:
                            pin(sink.pid, 0)
                        for gen in order:
                            run.settle()
                            c0 = run.cpu_seconds(sink.pid)
                            v, msgs, gc = generate(gen, sport, workload[0], workload[1], n, "sink@example.test", pinned)
                            note(("sink", workload, pinned), gen, v, run.cpu_seconds(sink.pid) - c0, gc, msgs)
                            print(f"  round {rnd + 1} smtp-sink {workload[0]:5} K{workload[1]:<2}"
                                  f"{' pinned' if pinned else '       '} {gen:11} {v:8.0f} msg/s", flush=True)
                        if pinned:
                            run.sh("taskset", "-a", "-p", "-c", "0,1", str(sink.pid))
            finally:
                run.stop(sink)
                shutil.rmtree(dump, ignore_errors=True)
            # mailport: one server per variant, the rows that use it
            for variant in ("discard", "maildir", "devnull", "pipe", "pinned"):
                if not any(r[3] == variant for r in rows):
                    continue
                m = LoggedMailport(variant == "maildir", {"devnull": "devnull", "pipe": "pipe"}.get(variant, "file"))
                try:
                    if variant == "pinned":
                        pin(m.proc.pid, 0)
                    for i, (factor, value, (size, k), v_) in enumerate(ROWS):
                        if v_ != variant or ROWS[i] not in rows:
                            continue
                        for gen in order:
                            m.drain()
                            run.settle()
                            c0 = run.cpu_seconds(m.proc.pid)
                            v, msgs, gc = generate(gen, m.p25, size, k, n, m.rcpt, variant == "pinned")
                            m.drain()       # Maildir: the delivery is part of a message's cost
                            note(i, gen, v, run.cpu_seconds(m.proc.pid) - c0, gc, msgs)
                            print(f"  round {rnd + 1} mailport {factor:13} {value:40} {gen:11} {v:8.0f} msg/s",
                                  flush=True)
                finally:
                    m.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(vals):
        return statistics.median(vals) if vals else 0

    def rng(vals):
        return f"{med(vals):,.0f} [{min(vals):,.0f}–{max(vals):,.0f}]" if vals else "–"

    print(f"\n{args.rounds} rounds, {n} messages a run, {time.time() - t_start:.0f} s. Plain SMTP, C16, lock-step: "
          "no generator pipelines (smtpload has no option for it either).\n")
    head = "| factor | value | " + " | ".join(f"{g} mailport msg/s | {g} smtp-sink msg/s | {g} ratio" for g in gens)
    print(head + " | mailport CPU µs/msg (" + " / ".join(gens) + ") | smtp-sink CPU µs/msg | generator CPU µs/msg "
          "against mailport (" + " / ".join(gens) + ") | against smtp-sink |")
    print("|---" * (2 + 3 * len(gens) + 4) + "|")
    for i, (factor, value, workload, variant) in enumerate(ROWS):
        if ROWS[i] not in rows:
            continue
        cells = []
        for g in gens:
            sink = rate.get((("sink", workload, variant == "pinned"), g), [])
            mp = rate.get((i, g), [])
            ratio = med(mp) / med(sink) if med(sink) else 0
            cells += [rng(mp), rng(sink), f"{ratio:.0%}"]
        scpu = " / ".join(f"{med(cpu.get((i, g), [])):.0f}" for g in gens)
        kcpu = " / ".join(f"{med(cpu.get((('sink', workload, variant == 'pinned'), g), [])):.0f}" for g in gens)
        gc = " / ".join(f"{med(gcpu.get((i, g), [])):.0f}" for g in gens)
        gk = " / ".join(f"{med(gcpu.get((('sink', workload, variant == 'pinned'), g), [])):.0f}" for g in gens)
        print(f"| {factor} | {value} | " + " | ".join(cells) + f" | {scpu} | {kcpu} | {gc} | {gk} |")


if __name__ == "__main__":
    main()
