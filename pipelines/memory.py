"""The sync process's heap: fewer garbage collections while records stream, and memory handed back.

A run allocates millions of short-lived containers (parsed staged rows, payloads, ledger rows)
and holds a few hundred thousand long-lived ones (the selection's ids and versions, dlt's and
DuckDB's own objects). Almost none form reference cycles, yet CPython's cyclic collector runs
every 700 allocations and, each time the older generations fill up, walks everything that
survived: measured on a 100,000-customer push, about a third of the time spent reading staged
rows went to those walks, for 0.005% of the objects ever freed by them.

`memory_figures` reads the process's and DuckDB's share for the overlapped run's segment log.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator
from typing import Any

# Collections of the youngest generation every 50,000 net allocations (CPython's default: 700),
# and the older generations a little less often; objects alive when a run starts are frozen out
# of every collection until it ends.
_THRESHOLDS = (50_000, 20, 100)


_depth = 0
_lock = threading.Lock()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Within the block, collect cycles rarely and never re-walk what existed before it (the
    imports, the mapping, the caller's objects); the collector's settings are restored after.
    A block inside another (in any thread) changes nothing. Memory is still freed at once by
    reference counting."""
    global _depth
    with _lock:
        _depth += 1
        outermost = _depth == 1
        if outermost:
            before = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*_THRESHOLDS)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if outermost:
                gc.set_threshold(*before)
                gc.unfreeze()


def limit_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (``M_ARENA_MAX``; a no-op elsewhere): each thread of the reader,
    the producer and the People workers would otherwise keep its own arena's high-water mark
    (measured: about 55 MiB less peak RSS at 50,000 customers with 2). Arrow's buffers are taken
    from the same capped heap (`use_system_allocator`)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8: M_ARENA_MAX
    use_system_allocator()


ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def arrow_allocator_choice() -> str:
    """The allocator Arrow is to use: the environment's choice, else "system" (set there, where
    Arrow's C++ side reads it at its first allocation; cheap, no import)."""
    return os.environ.setdefault(ARROW_POOL_ENV, "system")


def use_system_allocator() -> None:
    """Have Arrow allocate with the C library's malloc rather than its bundled mimalloc, unless
    the environment already chose (``ARROW_DEFAULT_MEMORY_POOL``).

    mimalloc keeps a heap per thread, each at its own high-water mark, and an overlapped first
    sync allocates Arrow buffers on a dozen threads (read ahead, dlt's extract and load, the
    delivery lanes, the ledger's batches): at 1M customers its peak RSS was 1,084 MiB with
    mimalloc and 978 MiB with the system allocator, in the same wall time (`make bench-scale`).
    The variable is read by Arrow's C++ side when it first allocates (the CLI sets it before any
    work); the Python side's default pool is switched here too, for callers that used Arrow
    before."""
    if arrow_allocator_choice() != "system":
        return
    import pyarrow

    with contextlib.suppress(AttributeError, NotImplementedError, pyarrow.ArrowException):
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def release_memory() -> None:
    """Hand the heap a segment freed back to the OS (glibc's ``malloc_trim`` and pyarrow's own
    pool, which glibc's trim does not reach; no-ops elsewhere), so the peak stays one
    segment's, not the sum of every thread's high-water marks."""
    import ctypes

    import pyarrow

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(AttributeError):  # pyarrow < 13
        pyarrow.default_memory_pool().release_unused()


def memory_figures(con: Any) -> dict[str, int]:
    """Resident memory of the process and the share DuckDB reports on ``con``, in MiB. The
    result is fetched to its end: an unfinished result keeps its transaction open, and DuckDB
    refuses every CHECKPOINT while any such transaction runs."""
    out = {}
    with contextlib.suppress(Exception):
        rows = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        out["duckdb_mib"] = int((rows[0][0] or 0) // 2**20) if rows else 0
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                out["rss_mib"] = int(line.split()[1]) // 1024
    return out
