"""Where the push path's time goes: 100,000 staged customers, People sandbox unlimited.

The shipped mapping (phones normalised), the People sandbox in its own process with no
latency and no rate limit, one `push_persons` run (select → map → diff → ledger → dlt
extract/normalize/load → HTTP → outcomes to the ledger). Named functions are wrapped with
wall-clock timers (summed over threads: the load workers overlap each other, and the
selection thread maps the next persons while the main thread delivers, so buckets can add up
to more than the wall time); cProfile would not see dlt's load
threads. The sandbox's own CPU seconds come from /proc. ``BENCH_PUSH_N`` sets the size,
BENCH_QUICK=1 uses 10,000.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TARGET = 15_000.0


class Buckets:
    """Wall seconds and calls per named bucket, summed over threads."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)  # CPU of the calling thread
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, bucket: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                dt, dc = time.perf_counter() - t0, time.thread_time() - c0
                with self.lock:
                    self.seconds[bucket] += dt
                    self.cpu[bucket] += dc
                    self.calls[bucket] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def wrap_iter(self, owner: Any, name: str, bucket: str) -> None:
        """Time a generator function: the time spent producing its items."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            it = original(*args, **kwargs)
            while True:
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    with self.lock:
                        self.seconds[bucket] += time.perf_counter() - t0
                        self.cpu[bucket] += time.thread_time() - c0
                yield item

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def instrument(b: Buckets) -> None:
    """Wrap the push path's stages (module attributes, so callers see the wrappers)."""
    import sys

    import bc2people.destinations.people.client as people_client
    import bc2people.pipelines.contact_removals as contact_removals
    import bc2people.pipelines.drops  # noqa: F401 - wrapped below
    import bc2people.pipelines.push as push
    from bc2people.pipelines.mapping import engine

    # pipelines.core re-exports functions named like its modules: take the modules themselves
    core_deliver = sys.modules["bc2people.pipelines.core.deliver"]
    core_plan = sys.modules["bc2people.pipelines.core.plan"]
    core_ledger = sys.modules["bc2people.pipelines.core.ledger"]
    hashing = sys.modules["bc2people.pipelines.core.hashing"]

    b.wrap(push, "traits_of", "traits (SQL)")
    b.wrap(core_plan, "table_columns", "select (SQL)")
    b.wrap_iter(core_plan, "select_chunks", "select+map+diff (thread wall)")
    b.wrap(core_plan, "_read_chunk", "read staged rows (in-process mapping)")
    b.wrap(push, "_raw_customers", "read raw staged rows (for the map worker)")
    b.wrap(engine.Mapping, "map", "mapping")
    b.wrap(core_plan, "canonical_json", "hashing: canonical JSON")
    b.wrap(core_plan, "text_hash", "hashing: sha256")
    b.wrap(hashing, "canonical_json", "hashing: canonical JSON")
    b.wrap(core_plan, "_states", "diff: ledger lookup")
    b.wrap(core_ledger.Ledger, "write", "ledger writes (waited for)")
    b.wrap(core_ledger.Ledger, "_write_group", "ledger transactions (all, incl. written behind)")
    b.wrap(core_deliver, "deliver", "deliver per package (wall; the lanes overlap)")
    b.wrap(core_deliver.Courier, "send", "main: waiting for a free delivery lane")
    b.wrap(core_deliver.Courier, "drain", "main: waiting for the last packages")
    b.wrap(core_deliver.Recorder, "__call__", "outcome sink (journal + queue, per batch)")
    b.wrap(people_client.PeopleClient, "upsert_json", "HTTP upsert (client, per batch)")
    b.wrap(contact_removals.ContactTracker, "prepare", "contacts: read payloads (per batch)")
    b.wrap(contact_removals.ContactTracker, "_apply", "contacts: SQL in the ledger txn")
    b.wrap(push._Delivering, "take", "entries + drops per part (main)")
    b.wrap(sys.modules["bc2people.pipelines.drops"], "record_drops", "dropped values")


def _worker_cpu() -> float:
    """CPU seconds of the map worker process so far (0 when none runs): its own process, so
    neither this process's figure nor the sandbox's holds it."""
    from bc2people.pipelines.core.offload import worker_usage

    return float((worker_usage() or {}).get("cpu_s", 0.0))


def _measure(db: Path, mapping: Any, ps: Any, run_id: str) -> tuple[Any, float, float, float, float, tuple[float, ...]]:
    """One `push_persons` into an empty People account: (result, wall s, own CPU s, map worker
    CPU s, sandbox CPU s, load average before)."""
    from bc2people.destinations.people.client import PeopleClient
    from bc2people.pipelines.push import push_persons

    ps.setup(mapping, rate=None, latency_ms=0)
    client = PeopleClient(ps.base_url, ps.api_key, rate=10_000)
    sandbox_cpu0, own0, worker0, load0 = _cpu_seconds(ps.proc.pid), time.process_time(), _worker_cpu(), os.getloadavg()
    t0 = time.perf_counter()
    res = push_persons(str(db), mapping, run_id, store_hash="bench1", client=client)
    wall = time.perf_counter() - t0
    return (res, wall, time.process_time() - own0, _worker_cpu() - worker0, _cpu_seconds(ps.proc.pid) - sandbox_cpu0,
            load0)


def main(quick: bool = False) -> None:
    from bc2people.pipelines.mapping import load_mapping
    from bc2people.sandbox.generator import generate_customers
    from benchmarks.bench_push import RemotePeople, _stage

    n = 10_000 if quick else int(os.environ.get("BENCH_PUSH_N", "100000"))
    mapping = load_mapping(str(Path(__file__).resolve().parents[1] / "mappings/customers_to_people.yaml"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_push_profile_"))
    ps = RemotePeople()
    b = Buckets()
    try:
        _stage(tmp / "all.duckdb", generate_customers(n, seed=42))
        shutil.copyfile(tmp / "all.duckdb", tmp / "timed.duckdb")
        # The figure: a run without timers (per-call timers cost several seconds per 100,000).
        res, wall, own, worker, sandbox_cpu, load0 = _measure(tmp / "all.duckdb", mapping, ps, "measure")
        sent = res.counts["sent"]
        print(f"{n:,} staged customers, shipped mapping, People sandbox unlimited (own process)")
        print(f"push_persons: {wall:.1f} s wall, sent {sent:,} = {sent / wall:,.0f} persons/s "
              f"(target {TARGET:,.0f}: {'MET' if sent / wall >= TARGET else 'NOT MET'})")
        total = own + worker + sandbox_cpu
        cores = os.cpu_count() or 1
        print(f"CPU: this process {own:.1f} s, map worker {worker:.1f} s, People sandbox {sandbox_cpu:.1f} s; "
              f"{total / max(sent, 1) * 1e6:.0f} us per person in all, so {cores} cores busy all the time "
              f"would send at most {cores * max(sent, 1) / total:,.0f} persons/s")
        print(f"load average before/after: {load0[0]:.1f} / {os.getloadavg()[0]:.1f} (2 cores shared)")
        # Where the time goes: a second run of the same push with every stage timed.
        instrument(b)
        _res, wall_t, own_t, _w, _sb, _l = _measure(tmp / "timed.duckdb", mapping, ps, "profile")
        b.restore()
        print(f"where the time goes (a second, timed run: {wall_t:.1f} s wall, {own_t:.1f} s own CPU; "
              "the timers add their own cost):")
        print("   stage (summed over threads)               wall s  share   thread CPU s  share of own CPU    calls")
        for name, secs in sorted(b.seconds.items(), key=lambda kv: -kv[1]):
            cpu = b.cpu[name]
            print(f"   {name:40} {secs:7.2f}  {secs / wall_t:5.0%}   {cpu:10.2f}   {cpu / own_t:6.0%}  "
                  f"{b.calls[name]:>10,}")
    finally:
        b.restore()
        with contextlib.suppress(Exception):
            ps.close()
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
