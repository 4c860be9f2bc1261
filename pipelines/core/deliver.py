"""Delivery: send selected payloads through a dlt destination and record every outcome.

The target supplies a `Delivery`: the dlt pipeline and table names its load packages use, and
a factory for its dlt destination. The destination calls the sink after each request with the
batch's rows and one `Outcome` per row. The sink journals the batch's ledger entries
(`pipelines.core.journal`) before dlt commits the batch, and the ledger writes them behind
(`Ledger.write_behind`), so the target's requests do not wait for the database (a DuckDB
checkpoint makes every commit wait for seconds). A crash re-sends at most the batch in flight
(the targets' writes are idempotent by key); batches journaled but not yet in the ledger are
written first by the next run (`replay_journal`), then a package left by a killed run is
finished; a pipeline folder a kill left damaged is discarded first (`workdir.heal_pipeline_dir`).

A `Courier` sends a run's packages on threads of its own, in lanes (`DEFAULT_LANES`, at most
`LANES`), each lane its own dlt pipeline: one lane extracts and normalizes its package while
another's requests are in flight, and the caller selects and maps the next package meanwhile,
so the target's request pipe does not drain between packages.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .journal import ACCEPTED_BEFORE, OutcomeJournal
from .ledger import LIVE, Ledger, utcnow
from .model import ProgressFn
from .workdir import align_resume_offsets, discard_extracted_remnants, heal_pipeline_dir

LANES = 4  # the most packages a courier keeps in flight (each lane one dlt pipeline; resumed on every run)
DEFAULT_LANES = 2  # a push's lanes unless it asks for more (an overlapped first sync uses `LANES`)
# one package at a time extracts and normalizes (the lanes overlap on loading, the HTTP part)
_EXTRACT_LOCK = threading.Lock()

# The columns of a row sent through the destination (pass-through ones come back to the sink).
# ``accepted_before``: the target accepted a payload for this key before the run selected it
# (False lets a sink skip looking the key up; absent, as in packages of older releases, or
# None means unknown).
ROW_COLUMNS = ("key", "entity_id", "payload_hash", "payload", "run_id", "source_version", "derived_hash",
               "mapping_hash", "accepted_before")


@dataclass(frozen=True)
class Outcome:
    """What the target said about one row: a status from the ledger's vocabulary and detail."""

    status: str
    remote_id: int | None = None
    error_code: str | None = None
    error_field: str | None = None
    error_message: str | None = None


class OutcomeSink(Protocol):
    """Called after each request with the batch's rows and one `Outcome` per row."""

    def __call__(self, rows: Sequence[dict[str, Any]], outcomes: Sequence[Outcome]) -> None: ...


# (rows, statuses) -> the target's own bookkeeping for a recorded batch, run in the ledger
# transaction that records it, before the batch (or None: nothing to do)
BeforeFn = Callable[[Sequence[dict[str, Any]], Sequence[str]], Callable[[Any], Any] | None]


@dataclass(frozen=True)
class Delivery:
    """How one target receives payloads through dlt."""

    pipeline_name: str
    dataset_name: str
    table: str
    make_destination: Callable[[OutcomeSink, int, int], Any]  # (sink, batch_size, workers) -> destination
    is_final_error: Callable[[BaseException], bool]  # an error to pass on as it is (credentials, bad request)
    before: BeforeFn | None = None  # from rows with key, payload and accepted_before

    def journal(self, pipelines_dir: Path) -> OutcomeJournal:
        """Where this target's recorded batches wait for the ledger (beside its lanes' folders:
        discarded with them when the DuckDB file is replaced)."""
        return OutcomeJournal(pipelines_dir / f"{self.pipeline_name}_outcome_journal")


class DeliveryIncomplete(Exception):
    """Delivery stopped before every batch was sent; the pending batches go first next run."""

    exit_code = 1


class Recorder:
    """The destination's outcome sink: journals each batch's outcomes and has the ledger write
    them behind (`pipelines.core.journal`); tallies them."""

    def __init__(self, ledger: Ledger, run_id: str, progress: ProgressFn | None, total: int,
                 journal: OutcomeJournal, before: BeforeFn | None = None) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.progress = progress
        self.total = total
        self.journal, self.before = journal, before
        self.counts: Counter[str] = Counter()
        self.batches = 0
        self.lock = threading.Lock()

    def __call__(self, rows: Sequence[dict[str, Any]], outcomes: Sequence[Outcome]) -> None:
        entries = []
        tally: Counter[str] = Counter()
        at = utcnow()
        for row, o in zip(rows, outcomes, strict=True):
            tally[o.status] += 1
            entries.append(
                {"key": row["key"], "entity_id": row.get("entity_id"), "payload_hash": row["payload_hash"],
                 "last_payload": row["payload"], "remote_id": o.remote_id, "last_status": o.status,
                 "error_code": o.error_code, "error_field": o.error_field, "error_message": o.error_message,
                 "run_id": self.run_id, "source_version": row.get("source_version"),
                 "derived_hash": row.get("derived_hash"), "mapping_hash": row.get("mapping_hash"),
                 "deleted_action": LIVE, "attempted": True, "outcome": True, "at": at}
            )
        before = self.before(rows, [o.status for o in outcomes]) if self.before is not None else None
        table = self.ledger.entries_table(entries)
        # dlt counts the batch as sent once this returns
        kept = self.journal.keep(table, [row.get("accepted_before") for row in rows])
        self.ledger.write_behind(table, before, lambda: self.journal.discard(kept))
        with self.lock:
            self.counts.update(tally)
            self.batches += 1
            done = sum(self.counts.values())
        if self.progress is not None:
            self.progress("push", records=done, batches=self.batches, total=self.total)


def lane_pipeline_name(delivery: Delivery, lane: int) -> str:
    """The dlt pipeline of a courier lane: the delivery's own name for the first, then ``_2``, ..."""
    return delivery.pipeline_name if lane == 0 else f"{delivery.pipeline_name}_{lane + 1}"


def _pipeline(pipelines_dir: Path, delivery: Delivery, destination: Any, lane: int = 0) -> Any:
    import dlt

    name = lane_pipeline_name(delivery, lane)
    heal_pipeline_dir(pipelines_dir / name)  # a damaged folder would fail every run
    discard_extracted_remnants(pipelines_dir / name)  # the lane's own folder: no one else uses it now
    return dlt.pipeline(pipeline_name=name, pipelines_dir=str(pipelines_dir),
                        destination=destination, dataset_name=delivery.dataset_name)


def _final_error(delivery: Delivery, exc: BaseException) -> BaseException | None:
    """The target's own final error behind dlt's PipelineStepFailed, if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if delivery.is_final_error(cur):
            return cur
        nxt = getattr(cur, "exception", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return None


@contextlib.contextmanager
def _delivery_errors(delivery: Delivery) -> Iterator[None]:
    """The target's own final errors as they are; any other failure as `DeliveryIncomplete`."""
    try:
        yield
    except Exception as exc:
        inner = _final_error(delivery, exc)
        if inner is not None:
            raise inner from None
        raise DeliveryIncomplete(
            f"delivery did not finish ({type(exc).__name__}); the pending batches are kept and the next run "
            "sends them first"
        ) from exc


def _load(pipeline: Any, delivery: Delivery, workers: int) -> None:
    with _delivery_errors(delivery):
        pipeline.normalize()
        pipeline.load(workers=workers)


def resume_pending(
    pipelines_dir: Path, delivery: Delivery, ledger: Ledger, run_id: str, *, workers: int, batch_size: int,
    progress: ProgressFn | None = None,
) -> Counter[str]:
    """Finish the load packages an earlier run left behind (one per courier lane at most);
    returns their outcome tally by status."""
    replay_journal(pipelines_dir, delivery, ledger)
    recorder = Recorder(ledger, run_id, progress, 0, delivery.journal(pipelines_dir), delivery.before)
    for lane in range(LANES):
        name = lane_pipeline_name(delivery, lane)
        heal_pipeline_dir(pipelines_dir / name)
        if not (pipelines_dir / name).exists():
            continue  # never delivered from here: nothing can be pending
        align_resume_offsets(pipelines_dir / name, batch_size)
        pipeline = _pipeline(pipelines_dir, delivery, delivery.make_destination(recorder, batch_size, workers), lane)
        if pipeline.has_pending_data:
            _load(pipeline, delivery, workers)
    ledger.flush()
    return recorder.counts


def replay_journal(pipelines_dir: Path, delivery: Delivery, ledger: Ledger) -> int:
    """Write to the ledger the batches a killed run journaled but did not record (each once:
    one the ledger already holds, killed before its file was deleted, is only deleted);
    returns how many were written."""
    journal = delivery.journal(pipelines_dir)
    written = 0
    for path in journal.pending():
        table = journal.read(path)
        first = table.slice(0, 1).to_pylist()
        if first and not ledger.has_outcome(first[0]["key"], first[0]["at"]):
            before = None
            if delivery.before is not None:
                rows = [{"key": k, "payload": p, "accepted_before": a} for k, p, a in zip(
                    *(table.column(c).to_pylist() for c in ("key", "last_payload", ACCEPTED_BEFORE)), strict=True)]
                before = delivery.before(rows, table.column("last_status").to_pylist())
            table = table.drop_columns([ACCEPTED_BEFORE])
            if "_pos" not in table.column_names:  # journaled as plain entries (1f6c1a8): made a batch table
                table = ledger.entries_table(table.to_pylist())
            ledger.write_table(table, before)
            written += 1
        journal.discard(path)
    return written


def _file_sizes(pipeline_name: str, per_file: int) -> None:
    """dlt's file-size settings for one lane's pipeline only: dlt reads them from the
    environment, under the pipeline's name first. The keys are set, never removed: removing a
    key while another thread iterates ``os.environ`` (``requests`` does, for proxies, on every
    request) raised ``KeyError`` in that thread and failed a first sync mid-read."""
    prefix = pipeline_name.upper()
    for key in ("NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS", "DATA_WRITER__FILE_MAX_ITEMS"):
        os.environ[f"{prefix}__{key}"] = str(per_file)


def deliver(
    pipelines_dir: Path, delivery: Delivery, ledger: Ledger, run_id: str, rows: list[dict[str, Any]], *,
    workers: int, batch_size: int, progress: ProgressFn | None = None, lane: int = 0,
) -> Counter[str]:
    """Send ``rows`` (keys `ROW_COLUMNS`) through the target's destination as one load package
    of the pipeline of ``lane`` (`lane_pipeline_name`); returns the outcome tally."""
    import dlt
    import pyarrow as pa

    recorder = Recorder(ledger, run_id, progress, len(rows), delivery.journal(pipelines_dir), delivery.before)
    pipeline = _pipeline(pipelines_dir, delivery, delivery.make_destination(recorder, batch_size, workers), lane)
    # one load file per worker (whole batches each), so the workers send in parallel
    per_file = max(batch_size, math.ceil(len(rows) / max(1, workers) / batch_size) * batch_size)
    # Arrow in, parquet files out: dlt moves the files without per-row work. Slices of whole
    # batches keep every row group a multiple of the batch size, so each destination call is
    # one full batch and resume offsets stay aligned.
    table = pa.Table.from_pylist(rows, schema=_row_schema())
    slices = [table.slice(start, per_file) for start in range(0, table.num_rows, per_file)]
    resource = dlt.resource(slices, name=delivery.table, write_disposition="append")
    with _EXTRACT_LOCK:
        _file_sizes(pipeline.pipeline_name, per_file)
        pipeline.extract(resource)
        with _delivery_errors(delivery):
            pipeline.normalize()
    with _delivery_errors(delivery):
        pipeline.load(workers=workers)
    return recorder.counts


class Courier:
    """Delivers a run's packages (`deliver`) on ``lanes`` threads (at most `LANES`), each lane its
    own dlt pipeline, while the caller prepares the next ones.

    `send` returns once the package is handed to a free lane (it waits while every lane is
    busy, or while a package in flight holds one of its keys: a key's later payload must not
    overtake its earlier one); ``on_done(tally, rows)`` runs on the lane's thread when the
    package is delivered.
    Each package is still one dlt load: a kill leaves at most one pending per lane, and
    `resume_pending` finishes them first. The first failure stops the courier: `send` and
    `drain` raise it, and no further package starts (their rows were not sent, so the next run
    selects them again).
    """

    def __init__(self, pipelines_dir: Path, delivery: Delivery, ledger: Ledger, run_id: str, *,
                 workers: int, batch_size: int, lanes: int = DEFAULT_LANES) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pipelines_dir, self.delivery, self.ledger, self.run_id = pipelines_dir, delivery, ledger, run_id
        self.workers, self.batch_size = workers, batch_size
        self.lanes = max(1, min(lanes, LANES))
        self._free = list(range(self.lanes))
        self._keys: dict[int, set[str]] = {}  # lane -> keys of its package in flight
        self._busy = threading.Condition()
        self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="deliver-lane")
        self._failure: BaseException | None = None

    def send(self, rows: list[dict[str, Any]], on_done: Callable[[Counter[str], int], None],
             progress: ProgressFn | None = None) -> None:
        """Hand ``rows`` to the next free lane (waiting for one); raises an earlier package's failure."""
        keys = {str(r["key"]) for r in rows}
        with self._busy:
            while self._failure is None and (
                not self._free or any(not keys.isdisjoint(held) for held in self._keys.values())
            ):
                self._busy.wait()
            self._raise_failure()
            lane = self._free.pop(0)
            self._keys[lane] = keys
        self._pool.submit(self._deliver, lane, rows, on_done, progress)

    def _deliver(self, lane: int, rows: list[dict[str, Any]], on_done: Callable[[Counter[str], int], None],
                 progress: ProgressFn | None) -> None:
        try:
            if self._failure is None:
                tally = deliver(self.pipelines_dir, self.delivery, self.ledger, self.run_id, rows,
                                workers=self.workers, batch_size=self.batch_size, progress=progress, lane=lane)
                on_done(tally, len(rows))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by send/drain
            with self._busy:
                self._failure = self._failure or exc
        finally:
            with self._busy:
                self._keys.pop(lane, None)
                self._free.append(lane)
                self._busy.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def drain(self) -> None:
        """Wait until every package handed over is delivered; raises the first failure."""
        with self._busy:
            while len(self._free) < self.lanes:
                self._busy.wait()
            self._raise_failure()
        try:
            self.ledger.flush()  # every outcome recorded: the caller reads the ledger next
        except Exception as exc:
            raise DeliveryIncomplete(f"the ledger could not record every outcome ({type(exc).__name__}); they are "
                                     "kept and the next run records them first") from exc

    def close(self) -> None:
        """Start nothing more and wait for the packages in flight (their outcomes are recorded)."""
        with self._busy:
            if self._failure is None:
                self._failure = DeliveryIncomplete("delivery stopped")
        self._pool.shutdown(wait=True)
        with contextlib.suppress(Exception):  # what the ledger could not write stays journaled
            self.ledger.flush()


def _row_schema() -> Any:
    import pyarrow as pa

    types = {"entity_id": pa.int64(), "accepted_before": pa.bool_()}
    return pa.schema([(c, types.get(c, pa.string())) for c in ROW_COLUMNS])
