#!/usr/bin/env python3
"""make soak: the kill -9 cycle test for many cycles against the release build, with a mail
reader moving new/ to cur/; not part of make test. Prints acknowledged / lost / duplicated
and exits 1 on any loss or duplicate.
Usage: kill9.py [CYCLES] (default 100; SOAK_CYCLES too), SOAK_SEED for another schedule."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BIN, Server  # noqa: E402
from tests_faults import Reader, kill9_cycles  # noqa: E402


def main():
    cycles = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SOAK_CYCLES", "100"))
    seed = int(os.environ.get("SOAK_SEED", "1"))
    print(f"soak: {cycles} kill -9 cycles, 4 clients x 5 two-recipient messages each, binary "
          f"{os.path.relpath(BIN)}, seed {seed}", flush=True)
    with Server() as srv:
        reader = Reader(srv)
        reader.start()
        try:
            acked, lost, dup = kill9_cycles(srv, cycles, clients=4, per_client=5, seed=seed)
        finally:
            reader.stop()
        stopped = srv.stop()
        left = srv.queue_files()
    print(f"soak: acknowledged={len(acked)} lost={len(lost)} duplicated={len(dup)} "
          f"left in queue={len(left)} exit={stopped}")
    for what, seqs in (("lost", lost), ("duplicated", dup)):
        if seqs:
            print(f"soak: {what}: {' '.join(seqs[:20])}{' ...' if len(seqs) > 20 else ''}")
    return 1 if lost or dup or left or stopped != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
