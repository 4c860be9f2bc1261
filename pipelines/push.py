"""Diff mapped customers against the ledger and push what changed to People through dlt.

``push_persons`` does, for one run:

1. finishes a load package a killed or failed earlier push left behind (dlt keeps it in
   the pipelines directory), recording its per-record outcomes;
2. selects, in DuckDB SQL, the staged customers that need mapping: everything on the
   first run or after a mapping change, otherwise customers whose staged row changed
   (``_dlt_load_id``), persons never accepted (except rejected ones, unless
   ``retry_rejected``) and deleted customers whose deletion action has not been done;
3. maps them and keeps the persons whose payload hash differs from the last accepted one
   (steps 2-3 are `pipelines.plan.select_and_diff`, shared with ``bc2people plan``);
4. provisions custom attributes and tags (only when something will be sent);
5. pushes the persons through the ``people`` dlt destination (batches of ≤1000, several
   load files in parallel, one shared rate limiter), each batch's outcomes written to
   ``people_sync.person_state`` and ``people_sync.outcomes`` as it completes;
6. applies the mapping's ``on_deleted`` action to customers deleted in the store.

With ``dry_run`` steps 1, 4, 5 and 6 are skipped and nothing is written.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.ledger import PUSH_COUNTS, Ledger, ensure_ledger
from pipelines.plan import DELETED_ACTION_RECORD, LIVE, on_deleted_action, select_and_diff

PIPELINE_NAME = "bc2people_people"
PUSH_DATASET = "people_push"
PUSH_TABLE = "persons"
DEFAULT_WORKERS = 8
COUNT_KEYS = PUSH_COUNTS
ProgressFn = Callable[..., None]


@dataclass
class PushResult:
    """Counts of one push and up to ``sample`` field-level diffs of the persons sent.

    Counts: every key of `COUNT_KEYS`, plus ``selected`` (staged customers the SQL picked
    for mapping), ``would_create``/``would_update`` (persons sent that People never / already
    accepted), ``still_rejected`` (rejected by People before, payload unchanged, not resent;
    included in ``unchanged``), ``deleted_in_store_seen`` and ``resumed`` (persons of an
    earlier run's pending load package delivered first; their outcomes are in
    created/updated/...). Each diff: ``{external_id, customer_id, kind: create|update,
    changes: [{field, before, after}]}`` against the last payload sent.
    """

    counts: dict[str, int]
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)


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


def ledger_status(outcome: Any) -> str:
    """person_state status for one People outcome.

    Accepted results keep People's status. A per-person error is REJECTED_BY_PEOPLE (not
    resent until its payload changes), except a 5xx-class code (e.g. 500100: People failed
    on that person) or no result at all, which are FAILED and resent on the next run.
    """
    if outcome.accepted:
        return str(outcome.status)
    if outcome.status == "REJECTED" and not str(outcome.error_code or "").startswith("5"):
        return "REJECTED_BY_PEOPLE"
    return "FAILED"


class _Recorder:
    """The destination's outcome sink: writes each batch's outcomes and tallies them."""

    def __init__(self, ledger: Ledger, run_id: str, progress: ProgressFn | None, total: int) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.progress = progress
        self.total = total
        self.counts: Counter[str] = Counter()
        self.batches = 0
        self.lock = threading.Lock()

    def __call__(self, rows: Any, outcomes: Any) -> None:
        entries = []
        tally: Counter[str] = Counter()
        for row, o in zip(rows, outcomes, strict=True):
            status = ledger_status(o)
            tally[status] += 1
            entries.append(
                {"external_id": row["external_id"], "customer_id": row.get("customer_id"),
                 "payload_hash": row["payload_hash"], "last_payload": row["person"], "people_id": o.people_id,
                 "last_status": status, "error_code": o.error_code, "error_message": o.error_message,
                 "run_id": self.run_id, "source_load_id": row.get("source_load_id"),
                 "mapping_hash": row.get("mapping_hash"), "deleted_action": LIVE, "attempted": True,
                 "outcome": True}
            )
        self.ledger.write(entries)
        with self.lock:
            self.counts.update(tally)
            self.batches += 1
            done = sum(self.counts.values())
        if self.progress is not None:
            self.progress("push", records=done, batches=self.batches, total=self.total)


def _pipeline(duckdb_path: str, destination: Any) -> Any:
    import dlt

    from pipelines.paths import pipelines_dir_for

    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(pipelines_dir_for(duckdb_path)),
        destination=destination,
        dataset_name=PUSH_DATASET,
    )


def _unwrap(exc: BaseException) -> BaseException:
    """The People error behind dlt's PipelineStepFailed, if any."""
    from destinations.people.errors import PeopleError

    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, PeopleError):
            return cur
        for attr in ("exception", "__cause__", "__context__"):
            nxt = getattr(cur, attr, None)
            if isinstance(nxt, BaseException):
                cur = nxt
                break
        else:
            cur = None
    return exc


def _load(pipeline: Any, workers: int) -> None:
    from destinations.people.errors import PeopleError, PeopleTransientError

    try:
        pipeline.normalize()
        pipeline.load(workers=workers)
    except Exception as exc:
        inner = _unwrap(exc)
        if isinstance(inner, PeopleError):
            raise inner from None
        raise PeopleTransientError(
            f"delivery to People did not finish ({type(exc).__name__}); the pending batches are kept "
            "and the next run sends them first"
        ) from exc


def push_persons(
    duckdb_path: str,
    mapping: Any,
    run_id: str,
    *,
    store_hash: str,
    dry_run: bool = False,
    retry_rejected: bool = False,
    progress: ProgressFn | None = None,
    workers: int = DEFAULT_WORKERS,
    batch_size: int = 1000,
    sample: int = 10,
    client: Any = None,
) -> PushResult:
    """Map, diff and deliver changed persons for one run; see the module docstring.

    ``workers`` parallel load jobs share one rate limiter; ``batch_size`` persons per
    upsert request (≤1000). ``client`` (a `PeopleClient`) defaults to one built from dlt
    config (``DESTINATION__PEOPLE__BASE_URL`` / ``DESTINATION__PEOPLE__API_KEY``).
    """
    import duckdb

    counts: Counter[str] = Counter({k: 0 for k in COUNT_KEYS})
    con = duckdb.connect(str(duckdb_path))
    try:
        ensure_ledger(con)
        ledger = Ledger(con)
        if not dry_run:
            client = client or _client()
            resumed = _resume_pending(duckdb_path, client, ledger, run_id, workers, batch_size, progress)
            if resumed:
                counts["resumed"] = sum(resumed.values())
                _merge_outcomes(counts, resumed)
        sel = select_and_diff(
            con, mapping, run_id, store_hash=store_hash, retry_rejected=retry_rejected, sample=sample,
            progress=progress,
        )
        counts.update(sel.counts)
        counts["sent"] += len(sel.to_send)
        action, tag = on_deleted_action(mapping)
        if dry_run:
            counts["delete_actions"] += sum(1 for d in sel.deletions if d["in_people"] and action != "none")
            return PushResult(dict(counts), sel.sample_diffs)
        ledger.write(sel.entries)
        acting = [d for d in sel.deletions if d["in_people"] and action != "none"]
        if sel.to_send or acting:
            from destinations.people.provisioning import provision

            tags = list(getattr(mapping, "fixed_tags", None) or [])
            if action == "tag" and tag:
                tags.append(tag)
            provision(client, dict(getattr(mapping, "custom_attributes", None) or {}), tags)
        if sel.to_send:
            outcome = _deliver(duckdb_path, client, ledger, run_id, sel.to_send, workers, batch_size, progress)
            _merge_outcomes(counts, outcome)
            counts["failed"] += len(sel.to_send) - sum(outcome.values())
        if sel.deletions:
            counts["delete_actions"] += _apply_deletions(client, ledger, run_id, sel.deletions, action, tag)
        return PushResult(dict(counts), sel.sample_diffs)
    finally:
        con.close()


def _merge_outcomes(counts: Counter[str], outcome: Counter[str]) -> None:
    counts["created"] += outcome["CREATED"]
    counts["updated"] += outcome["UPDATED"]
    counts["not_modified"] += outcome["NOT_MODIFIED"]
    counts["rejected_by_people"] += outcome["REJECTED_BY_PEOPLE"]
    counts["failed"] += outcome["FAILED"]


def _client() -> Any:
    from destinations.people.client import PeopleClient
    from destinations.people.destination import load_people_config

    cfg = load_people_config()
    return PeopleClient(cfg.base_url, cfg.api_key, timeout=cfg.timeout)


def _resume_pending(
    duckdb_path: str,
    client: Any,
    ledger: Ledger,
    run_id: str,
    workers: int,
    batch_size: int,
    progress: ProgressFn | None,
) -> Counter[str]:
    """Finish a load package an earlier push left behind; returns its outcome tally."""
    from destinations.people.destination import people_destination
    from pipelines.paths import pipelines_dir_for

    if not (pipelines_dir_for(duckdb_path) / PIPELINE_NAME).exists():
        return Counter()  # never pushed from this DuckDB file: nothing can be pending
    recorder = _Recorder(ledger, run_id, progress, 0)
    pipeline = _pipeline(duckdb_path, people_destination(client, recorder, batch_size=batch_size, workers=workers))
    if not pipeline.has_pending_data:
        return Counter()
    _load(pipeline, workers)
    return recorder.counts


def _deliver(
    duckdb_path: str,
    client: Any,
    ledger: Ledger,
    run_id: str,
    rows: list[dict[str, Any]],
    workers: int,
    batch_size: int,
    progress: ProgressFn | None,
) -> Counter[str]:
    """Push rows through dlt into the people destination; returns the outcome tally."""
    import dlt
    import pyarrow as pa

    from destinations.people.destination import people_destination

    recorder = _Recorder(ledger, run_id, progress, len(rows))
    pipeline = _pipeline(duckdb_path, people_destination(client, recorder, batch_size=batch_size, workers=workers))
    # one load file per worker (whole batches each), so the workers send in parallel
    per_file = max(batch_size, math.ceil(len(rows) / max(1, workers) / batch_size) * batch_size)
    # Arrow in, parquet files out: dlt writes and moves the files without per-row work.
    # Slices of whole batches keep every parquet row group a multiple of the batch size,
    # so each destination call is one full batch and resume offsets stay aligned.
    table = pa.Table.from_pylist(rows, schema=_push_schema())
    slices = [table.slice(start, per_file) for start in range(0, table.num_rows, per_file)]
    resource = dlt.resource(slices, name=PUSH_TABLE, write_disposition="append")
    with _env(
        {
            "NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS": str(per_file),
            "DATA_WRITER__FILE_MAX_ITEMS": str(per_file),
        }
    ):
        pipeline.extract(resource)
        _load(pipeline, workers)
    return recorder.counts


def _push_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("external_id", pa.string()),
            ("customer_id", pa.int64()),
            ("payload_hash", pa.string()),
            ("person", pa.string()),
            ("run_id", pa.string()),
            ("source_load_id", pa.string()),
            ("mapping_hash", pa.string()),
        ]
    )


def _apply_deletions(
    client: Any, ledger: Ledger, run_id: str, deletions: list[dict[str, Any]], action: str, tag: str | None
) -> int:
    """Tag or delete persons whose customer was deleted in the store; record it once."""
    done = 0
    entries: list[dict[str, Any]] = []
    acting = [d for d in deletions if d["in_people"] and action != "none"]
    if action == "tag" and tag and acting:
        for start in range(0, len(acting), 1000):
            chunk = acting[start : start + 1000]
            client.tag_persons(tag, [d["external_id"] for d in chunk])
            ledger.write(
                [{"external_id": d["external_id"], "customer_id": d["customer_id"], "run_id": run_id,
                  "deleted_action": "tagged", "outcome_status": "TAGGED", "outcome": True} for d in chunk]
            )
            done += len(chunk)
    elif action == "delete":
        for d in acting:
            client.delete_person(d["external_id"])
            ledger.write(
                [{"external_id": d["external_id"], "customer_id": d["customer_id"], "run_id": run_id,
                  "deleted_action": "deleted", "last_status": "DELETED", "attempted": True, "outcome": True}]
            )
            done += 1
    for d in deletions:
        if not (d["in_people"] and action != "none"):
            entries.append(
                {"external_id": d["external_id"], "customer_id": d["customer_id"], "run_id": run_id,
                 "deleted_action": DELETED_ACTION_RECORD[action]}
            )
    ledger.write(entries)
    return done
