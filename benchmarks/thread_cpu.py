"""CPU seconds of a ``bc2people`` child process by thread, for the benchmarks' reports.

``python -c LAUNCHER <module> args...`` runs as ``python -m <module> args...`` does, except
that every Python thread adds its own CPU time
(``time.thread_time()``) to a tally under its name when it ends, a number that does not follow
a letter read as ``N`` (``deliver-lane_3`` counts as ``deliver-lane_N``, ``bc2people-stage`` as itself); at exit the main thread adds its own and the tally is
written as JSON to the file named by ``BENCH_THREAD_CPU``. What the process's rusage holds
beyond the tally is CPU of threads Python did not start (DuckDB's and Arrow's own workers)
or that were still running at exit (daemon threads): `by_thread` reports it as one line.
The product is untouched: only the benchmark's child is started this way.
"""

from __future__ import annotations

import json
from pathlib import Path

ENV = "BENCH_THREAD_CPU"
NATIVE = "native (DuckDB/Arrow) or unfinished"

LAUNCHER = r"""
import atexit, json, os, re, runpy, sys, threading, time
_tally, _lock = {}, threading.Lock()
def _add(name, seconds):
    key = re.sub(r"(?<![A-Za-z])\d+", "N", name)
    with _lock:
        _tally[key] = _tally.get(key, 0.0) + seconds
_inner = threading.Thread._bootstrap_inner
def _bootstrap_inner(self):
    try:
        _inner(self)
    finally:
        _add(self.name, time.thread_time())
threading.Thread._bootstrap_inner = _bootstrap_inner
def _dump():
    _add("MainThread", time.thread_time())
    with _lock, open(os.environ["BENCH_THREAD_CPU"], "w", encoding="utf-8") as fh:
        json.dump(_tally, fh)
atexit.register(_dump)
module, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def by_thread(path: Path, total_cpu: float, top: int = 8) -> str:
    """The tally ``LAUNCHER`` wrote, largest first (``top`` entries, the rest summed), with the
    CPU it does not hold (``total_cpu`` minus its sum) as `NATIVE`; "" when none was written."""
    try:
        tally: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    tally[NATIVE] = max(0.0, total_cpu - sum(tally.values()))
    ranked = sorted(tally.items(), key=lambda kv: -kv[1])
    shown = ranked[:top]
    rest = sum(s for _, s in ranked[top:])
    parts = [f"{name} {seconds:.1f}" for name, seconds in shown]
    if rest:
        parts.append(f"others {rest:.1f}")
    return "sync CPU by thread (s): " + ", ".join(parts)
