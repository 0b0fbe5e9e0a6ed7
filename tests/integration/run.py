#!/usr/bin/env python3
"""Run every integration test (tests_*.py, functions test_*); print one line per test and
the closing line 'N passed, N failed, N skipped'. Exit 1 on any failure.
Usage: run.py [substring ...] to run only tests whose name contains one of them."""
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Skip  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.access(BIN, os.X_OK):
        print(f"integration: {BIN} is not built")
        return 1
    tests = []
    for name in sorted(os.listdir(here)):
        if name.startswith("tests_") and name.endswith(".py"):
            mod = importlib.import_module(name[:-3])
            for attr in sorted(vars(mod)):
                if attr.startswith("test_") and callable(getattr(mod, attr)):
                    tests.append((f"{name[:-3]}.{attr}", getattr(mod, attr)))
    if len(sys.argv) > 1:
        tests = [t for t in tests if any(a in t[0] for a in sys.argv[1:])]
    passed = failed = skipped = 0
    start = time.time()
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
        except Skip as e:
            skipped += 1
            print(f"SKIP {name}: {e}", flush=True)
            continue
        except Exception:
            failed += 1
            print(f"FAIL {name} ({time.time() - t0:.1f}s)\n{traceback.format_exc()}", flush=True)
            continue
        passed += 1
        print(f"ok   {name} ({time.time() - t0:.1f}s)", flush=True)
    print(f"integration ({time.time() - start:.0f}s, binary {os.path.relpath(BIN)}):")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
