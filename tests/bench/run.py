"""`make bench`: every benchmark, or those named (`make bench BENCH="dtmf"`).

Each prints its figures beside a reference measured in the same run, and a PASS/FAIL line
against the targets of its issue; the exit status is non-zero if any failed.
"""
from __future__ import annotations

import argparse
import importlib

BENCHES = ("dtmf", "voicekey", "access", "fxo", "api", "central", "calls", "flood", "fuzz", "tls", "soak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"one or more of {', '.join(BENCHES)} (default: all)")
    names = parser.parse_args(argv).names or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    failed = []
    for name in names:
        print(f"\n=== bench: {name} ===", flush=True)
        if importlib.import_module(f"tests.bench.{name}").main() != 0:
            failed.append(name)
    print(f"\nbench: {'FAILED: ' + ', '.join(failed) if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
