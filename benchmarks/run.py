"""``make bench``: run every ``benchmarks/bench_*.py`` and print one report.

Each benchmark module exposes ``main(quick: bool) -> None`` and prints its own section.
Set ``BENCH_QUICK=1`` for a small, fast pass (used to check the scripts still run).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

from benchmarks.machine import speed_line


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    only = sys.argv[1:]
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    print(f"bc2people benchmarks ({'quick' if quick else 'full'}), {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(speed_line(), flush=True)
    for name in names:
        if only and not any(o in name for o in only):
            continue
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        module.main(quick=quick)
    print(f"\nat the end, {speed_line()}")  # a shared machine's speed moves during a long run
    return 0


if __name__ == "__main__":
    sys.exit(main())
