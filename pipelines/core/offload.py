"""Mapping in a worker process, so a large selection uses both cores.

A process of this job is bound by Python's interpreter lock: while the selection decodes and
maps records, the delivery, the ledger writes (and, in an overlapped first sync, the staging)
wait for it. With an `Offload` in the `SyncSpec`, `plan.select_chunks` reads each chunk's raw
rows here (the wiring's `read_raw`, e.g. an Arrow table built natively by DuckDB, so this side
makes and pickles no Python object per value) and one worker process decodes them, maps them
and reduces each payload to its canonical text and hash; the diff against the ledger stays here. Results
come back in sequence, two chunks ahead, and equal the in-process path's (`map_chunk` is both).

The worker is a fresh interpreter (``python -m`` this package's ``offload_worker``: no
inherited threads or DuckDB handles, and the caller's main module is not imported again, as
multiprocessing's spawn would), started once per process and kept for the next push. It
holds no file and writes nothing, so a kill of this process loses nothing: the worker exits
when its pipe closes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

from .hashing import canonical_json, text_hash
from .model import Mapped

AHEAD = 2  # chunks submitted to the worker beyond the one being diffed
MAX_FRAME = 1 << 31  # no chunk's request or answer comes near 2 GiB: a bigger size means a garbled stream


@dataclass(frozen=True)
class Offload:
    """How the wiring lets the core map in a worker: ``read_raw(con, ids)`` gives
    ``(decode, rows)`` for the staged records of ``ids`` sorted by id (None when nothing is
    staged), ``decode(rows)`` yields the records; ``recipe()`` builds the record mapper.
    ``decode`` and ``recipe`` must pickle; ``key`` names the recipe (the worker keeps the
    mapper it built for the last key). Selections under ``min_records`` map in-process."""

    read_raw: Callable[[Any, list[int]], tuple[Callable[[Any], Iterable[dict[str, Any]]], Any] | None]
    recipe: Callable[[], Callable[[dict[str, Any]], Mapped]]
    key: str
    min_records: int = 10_000


def map_one(map_record: Callable[[dict[str, Any]], Mapped], record: dict[str, Any], id_column: str) -> Mapped:
    """``map_record(record)``; a record the mapper cannot handle becomes a rejection, and the
    result always carries the record's id."""
    try:
        rec = map_record(record)
    except Exception as exc:  # noqa: BLE001 - one hostile record must not stop the run
        reason = f"mapping failed: {type(exc).__name__}: {exc}"[:500]
        rec = Mapped(record.get(id_column), None, None, reason)
    if rec.entity_id is None:
        rec = replace(rec, entity_id=record.get(id_column))
    return rec


def map_chunk(map_record: Callable[[dict[str, Any]], Mapped], records: Iterable[dict[str, Any]],
              derived: dict[int, dict[str, Any]] | None, attach_as: str | None, id_column: str,
              *, as_text: bool = False) -> list[Mapped]:
    """Attach the derived values, map, and (``as_text``) replace each payload by its
    canonical text and hash: what crosses back from the worker."""
    out = []
    for record in records:
        if attach_as is not None:
            record[attach_as] = (derived or {}).get(int(record[id_column]), {})
        rec = map_one(map_record, record, id_column)
        if as_text and rec.payload is not None:
            text = canonical_json(rec.payload)
            rec = replace(rec, payload=None, text=text, hash=text_hash(text))
        out.append(rec)
    return out


# -- the worker's side (`offload_worker` runs `serve` in its own process) --------------------
_mapper: tuple[str, Callable[[dict[str, Any]], Mapped]] | None = None


def work(key: str, recipe: bytes, decode: Callable[[Any], Iterable[dict[str, Any]]], rows: Any,
         derived: dict[int, dict[str, Any]] | None, attach_as: str | None, id_column: str) -> list[Mapped]:
    """One chunk, in the worker: the mapper is built from ``recipe`` when ``key`` changes."""
    global _mapper
    if _mapper is None or _mapper[0] != key:
        import gc

        _mapper = (key, pickle.loads(recipe)())  # noqa: S301 - our own recipe, from our parent process
        gc.freeze()  # the compiled mapping is never garbage: keep it out of every collection
        gc.set_threshold(50_000, 20, 100)
    return map_chunk(_mapper[1], decode(rows), derived, attach_as, id_column, as_text=True)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer framed requests from ``inp`` on ``out``, first in first out, until ``inp`` closes."""
    import resource
    import traceback

    while (request := _read_frame(inp)) is not None:
        op, args = pickle.loads(request)  # noqa: S301 - frames from our parent process
        try:
            if op == "map":
                answer: Any = ("ok", work(*args))
            else:  # "usage"
                use = resource.getrusage(resource.RUSAGE_SELF)
                answer = ("ok", {"peak_rss_mib": _own_peak_rss_mib() or use.ru_maxrss // 1024,
                                 "cpu_s": round(use.ru_utime + use.ru_stime, 1)})
        except Exception:  # noqa: BLE001 - reported to the parent, which raises it
            answer = ("error", traceback.format_exc())
        _write_frame(out, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


def _own_peak_rss_mib() -> int | None:
    """This process's peak RSS since its exec (``VmHWM``). Not ``ru_maxrss``: Linux carries the
    parent's high-water mark over a vfork + exec, so a worker started by a large process would
    report the parent's peak as its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def _read_frame(f: IO[bytes]) -> bytes | None:
    head = f.read(8)
    if len(head) < 8:
        return None
    size = int.from_bytes(head, "little")
    if size > MAX_FRAME:
        raise ValueError(f"a frame announced {size:,} bytes: the stream is garbled")
    data = f.read(size)
    return data if len(data) == size else None


def _write_frame(f: IO[bytes], data: bytes) -> None:
    """Write one frame straight to ``f``'s file descriptor, retrying short writes. Not through
    ``f``'s buffer: Python's buffered writer can drop the rest of a large write that a stop
    signal (Ctrl-Z, SIGSTOP) cut short, and the reader would then wait for bytes that never come."""
    f.flush()
    fd = f.fileno()
    for part in (len(data).to_bytes(8, "little"), data):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


# -- this process's side --------------------------------------------------------------------
class WorkerFailed(RuntimeError):
    """The worker process died or could not map a chunk."""


class _Worker:
    """The worker process: requests written and answers read (by a thread) first in first out."""

    def __init__(self) -> None:
        import os
        import subprocess
        import sys

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", f"{__package__}.offload_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.answers: queue.Queue[Any] = queue.Queue()
        self.outstanding = 0
        threading.Thread(target=self._read, name="map-worker", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        why = None
        try:
            while (frame := _read_frame(self.proc.stdout)) is not None:
                self.answers.put(pickle.loads(frame))  # noqa: S301 - frames from our own worker
        except Exception as exc:  # noqa: BLE001 - a garbled stream: this worker cannot be trusted
            why = f"the map worker's answers are unreadable ({type(exc).__name__}: {exc}); it was stopped"
            self.proc.kill()
        finally:
            self.answers.put(("dead", why or f"the map worker exited (code {self.proc.poll()})"))

    def send(self, op: str, *args: Any) -> None:
        assert self.proc.stdin is not None
        try:
            _write_frame(self.proc.stdin, pickle.dumps((op, args), protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailed(f"the map worker is gone: {exc}") from None
        self.outstanding += 1

    def receive(self) -> Any:
        status, value = self.answers.get()
        if status == "dead":
            self.answers.put((status, value))  # every later call fails the same way
            self.outstanding = 0
            raise WorkerFailed(value)
        self.outstanding -= 1
        if status == "error":
            raise WorkerFailed(f"the map worker failed:\n{value}")
        return value

    def settle(self) -> None:
        """Read and drop the answers a stopped selection left outstanding (failures included),
        so the next selection reads its own."""
        while self.outstanding:
            with contextlib.suppress(WorkerFailed):
                self.receive()

    def alive(self) -> bool:
        return self.proc.poll() is None


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def _get_worker() -> _Worker:
    global _worker
    if _worker is None or not _worker.alive():
        _worker = _Worker()
    return _worker


def worker_usage() -> dict[str, Any] | None:
    """The worker's peak resident memory (``peak_rss_mib``) and CPU seconds (``cpu_s``) so far;
    None when no worker was started. Its own process: not in this process's figures."""
    with _worker_lock:
        if _worker is None or not _worker.alive():
            return None
        try:
            _worker.settle()
            _worker.send("usage")
            return dict(_worker.receive())
        except WorkerFailed:
            return None


def mapped_in_worker(con: Any, offload: Offload, ids: list[int], chunk_size: int,
                     derived_read: Callable[[Any, list[int]], dict[int, dict[str, Any]]] | None,
                     attach_as: str | None, id_column: str) -> Iterator[list[Mapped]]:
    """The records of ``ids`` mapped in the worker, one list per chunk of ``chunk_size`` ids,
    in sequence (their payloads as canonical text and hash). Reads ``con`` here. One selection
    uses the worker at a time."""
    with _worker_lock:
        worker = _get_worker()
        recipe = pickle.dumps(offload.recipe, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            for start in range(0, len(ids), chunk_size):
                chunk = ids[start : start + chunk_size]
                got = offload.read_raw(con, chunk)
                if got is None:
                    continue
                decode, rows = got
                extra = derived_read(con, chunk) if derived_read is not None else None
                worker.send("map", offload.key, recipe, decode, rows, extra, attach_as, id_column)
                while worker.outstanding > AHEAD:
                    yield worker.receive()
            while worker.outstanding:
                yield worker.receive()
        finally:
            worker.settle()
