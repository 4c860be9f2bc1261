"""Delivery: send selected payloads through a dlt destination and record every outcome.

The target supplies a `Delivery`: the dlt pipeline and table names its load packages use, and
a factory for its dlt destination. The destination calls the sink after each request with the
batch's rows and one `Outcome` per row, and the sink writes them to the ledger before dlt
commits the batch, so a crash re-sends at most the batch in flight (the targets' writes are
idempotent by key). A package left by a killed run is finished first, on the next run; a
pipeline folder a kill left damaged is discarded first (`workdir.heal_pipeline_dir`).
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

from .ledger import LIVE, Ledger
from .model import ProgressFn
from .workdir import heal_pipeline_dir

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
    """Called after each request with the batch's rows and one `Outcome` per row; ``before``
    (optional) is the target's own bookkeeping, run in the same ledger transaction first."""

    def __call__(self, rows: Sequence[dict[str, Any]], outcomes: Sequence[Outcome],
                 before: Callable[[Any], Any] | None = None) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """How one target receives payloads through dlt."""

    pipeline_name: str
    dataset_name: str
    table: str
    make_destination: Callable[[OutcomeSink, int, int], Any]  # (sink, batch_size, workers) -> destination
    is_final_error: Callable[[BaseException], bool]  # an error to pass on as it is (credentials, bad request)


class DeliveryIncomplete(Exception):
    """Delivery stopped before every batch was sent; the pending batches go first next run."""

    exit_code = 1


class Recorder:
    """The destination's outcome sink: writes each batch's outcomes to the ledger, tallies them."""

    def __init__(self, ledger: Ledger, run_id: str, progress: ProgressFn | None, total: int) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.progress = progress
        self.total = total
        self.counts: Counter[str] = Counter()
        self.batches = 0
        self.lock = threading.Lock()

    def __call__(self, rows: Sequence[dict[str, Any]], outcomes: Sequence[Outcome],
                 before: Callable[[Any], Any] | None = None) -> None:
        entries = []
        tally: Counter[str] = Counter()
        for row, o in zip(rows, outcomes, strict=True):
            tally[o.status] += 1
            entries.append(
                {"key": row["key"], "entity_id": row.get("entity_id"), "payload_hash": row["payload_hash"],
                 "last_payload": row["payload"], "remote_id": o.remote_id, "last_status": o.status,
                 "error_code": o.error_code, "error_field": o.error_field, "error_message": o.error_message,
                 "run_id": self.run_id, "source_version": row.get("source_version"),
                 "derived_hash": row.get("derived_hash"), "mapping_hash": row.get("mapping_hash"),
                 "deleted_action": LIVE, "attempted": True, "outcome": True}
            )
        self.ledger.write(entries, before)
        with self.lock:
            self.counts.update(tally)
            self.batches += 1
            done = sum(self.counts.values())
        if self.progress is not None:
            self.progress("push", records=done, batches=self.batches, total=self.total)


def _pipeline(pipelines_dir: Path, delivery: Delivery, destination: Any) -> Any:
    import dlt

    heal_pipeline_dir(pipelines_dir / delivery.pipeline_name)  # a damaged folder would fail every run
    return dlt.pipeline(pipeline_name=delivery.pipeline_name, pipelines_dir=str(pipelines_dir),
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


def _load(pipeline: Any, delivery: Delivery, workers: int) -> None:
    try:
        pipeline.normalize()
        pipeline.load(workers=workers)
    except Exception as exc:
        inner = _final_error(delivery, exc)
        if inner is not None:
            raise inner from None
        raise DeliveryIncomplete(
            f"delivery did not finish ({type(exc).__name__}); the pending batches are kept and the next run "
            "sends them first"
        ) from exc


def resume_pending(
    pipelines_dir: Path, delivery: Delivery, ledger: Ledger, run_id: str, *, workers: int, batch_size: int,
    progress: ProgressFn | None = None,
) -> Counter[str]:
    """Finish a load package an earlier run left behind; returns its outcome tally by status."""
    heal_pipeline_dir(pipelines_dir / delivery.pipeline_name)
    if not (pipelines_dir / delivery.pipeline_name).exists():
        return Counter()  # never delivered from here: nothing can be pending
    recorder = Recorder(ledger, run_id, progress, 0)
    pipeline = _pipeline(pipelines_dir, delivery, delivery.make_destination(recorder, batch_size, workers))
    if not pipeline.has_pending_data:
        return Counter()
    _load(pipeline, delivery, workers)
    return recorder.counts


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def deliver(
    pipelines_dir: Path, delivery: Delivery, ledger: Ledger, run_id: str, rows: list[dict[str, Any]], *,
    workers: int, batch_size: int, progress: ProgressFn | None = None,
) -> Counter[str]:
    """Send ``rows`` (keys `ROW_COLUMNS`) through the target's destination; returns the outcome tally."""
    import dlt
    import pyarrow as pa

    recorder = Recorder(ledger, run_id, progress, len(rows))
    pipeline = _pipeline(pipelines_dir, delivery, delivery.make_destination(recorder, batch_size, workers))
    # one load file per worker (whole batches each), so the workers send in parallel
    per_file = max(batch_size, math.ceil(len(rows) / max(1, workers) / batch_size) * batch_size)
    # Arrow in, parquet files out: dlt moves the files without per-row work. Slices of whole
    # batches keep every row group a multiple of the batch size, so each destination call is
    # one full batch and resume offsets stay aligned.
    table = pa.Table.from_pylist(rows, schema=_row_schema())
    slices = [table.slice(start, per_file) for start in range(0, table.num_rows, per_file)]
    resource = dlt.resource(slices, name=delivery.table, write_disposition="append")
    with _env({"NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS": str(per_file), "DATA_WRITER__FILE_MAX_ITEMS": str(per_file)}):
        pipeline.extract(resource)
        _load(pipeline, delivery, workers)
    return recorder.counts


def _row_schema() -> Any:
    import pyarrow as pa

    types = {"entity_id": pa.int64(), "accepted_before": pa.bool_()}
    return pa.schema([(c, types.get(c, pa.string())) for c in ROW_COLUMNS])
