"""Diff mapped customers against the ledger and push what changed to People through dlt.

``push_persons`` does, for one run:

1. finishes a load package a killed or failed earlier push left behind (dlt keeps it in
   the pipelines directory), recording its per-record outcomes;
2. selects, in DuckDB SQL, the staged customers that need mapping: everything on the
   first run or after a mapping change, otherwise customers whose staged row changed
   (``_dlt_load_id``), persons never accepted (except rejected ones, unless
   ``retry_rejected``) and deleted customers whose deletion action has not been done;
3. maps them and keeps the persons whose payload hash differs from the last accepted one;
4. provisions custom attributes and tags (only when something will be sent);
5. pushes the persons through the ``people`` dlt destination (batches of ≤1000, several
   load files in parallel, one shared rate limiter), each batch's outcomes written to
   ``people_sync.person_state`` and ``people_sync.outcomes`` as it completes;
6. applies the mapping's ``on_deleted`` action to customers deleted in the store.

With ``dry_run`` steps 1, 4, 5 and 6 are skipped and nothing is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.ledger import LEDGER_DATASET, Ledger, ensure_ledger
from pipelines.mapping import canonical_json

PIPELINE_NAME = "bc2people_people"
PUSH_DATASET = "people_push"
PUSH_TABLE = "persons"
STAGING_TABLE = "bigcommerce.customers"
DEFAULT_WORKERS = 8
COUNT_KEYS = (
    "mapped",
    "rejected_by_mapping",
    "unchanged",
    "sent",
    "created",
    "updated",
    "not_modified",
    "rejected_by_people",
    "failed",
    "delete_actions",
)
ProgressFn = Callable[..., None]
# person_state.deleted_action once the mapping's on_deleted action is done for a person
DELETED_ACTION_RECORD = {"none": "none", "tag": "tagged", "delete": "deleted"}
LIVE = ""  # written as deleted_action for customers present in the store: clears it


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


@dataclass
class Selected:
    """The work a run found: persons to send and ledger entries to write."""

    to_send: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)


def _on_deleted(mapping: Any) -> tuple[str, str | None]:
    spec = getattr(mapping, "on_deleted", None) or {}
    action = str(spec.get("action") or "none")
    if action not in ("none", "tag", "delete"):
        raise ValueError(f"on_deleted action must be none, tag or delete, got {action!r}")
    return action, spec.get("tag")


def _staged_columns(con: Any) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bigcommerce' "
        "AND table_name = 'customers'"
    ).fetchall()
    return {r[0] for r in rows}


def _select_sql(has_deleted: bool) -> str:
    deleted = "c._deleted_at" if has_deleted else "CAST(NULL AS TIMESTAMP)"
    return f"""
    WITH s AS (
        SELECT * FROM {LEDGER_DATASET}.person_state
        WHERE customer_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY last_attempt_at DESC NULLS LAST) = 1
    )
    SELECT c.id, c._dlt_load_id, {deleted} IS NOT NULL AS is_deleted, s.external_id
    FROM {STAGING_TABLE} c LEFT JOIN s ON s.customer_id = c.id
    WHERE CASE WHEN {deleted} IS NOT NULL THEN s.deleted_action IS DISTINCT FROM $action
        ELSE s.customer_id IS NULL
          OR s.mapping_hash IS DISTINCT FROM $mapping_hash
          OR s.source_load_id IS DISTINCT FROM c._dlt_load_id
          OR ($retry AND s.last_status IN ('REJECTED_BY_MAPPING', 'REJECTED_BY_PEOPLE'))
          OR (coalesce(s.last_status, '') NOT IN ('REJECTED_BY_MAPPING', 'REJECTED_BY_PEOPLE', 'DELETED')
              AND s.accepted_hash IS DISTINCT FROM s.payload_hash)
          OR s.deleted_action IS NOT NULL  -- back in the store after a deletion
        END
    ORDER BY c.id
    """


def _iter_customers(con: Any, ids: list[int]) -> Iterator[dict[str, Any]]:
    """Staged customers (API-shaped dicts) for the given ids."""
    from pipelines.staging import iter_staged_customers

    if ids:
        yield from iter_staged_customers(con, customer_ids=ids)


def _flatten(payload: dict[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (payload or {}).items():
        if key == "customAttributes" and isinstance(value, dict):
            for k, v in value.items():
                flat[f"customAttributes.{k}"] = v
        else:
            flat[key] = value
    return flat


def field_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Field-level changes between two People payloads (custom attributes one by one)."""
    a, b = _flatten(before), _flatten(after)
    return [
        {"field": k, "before": a.get(k), "after": b.get(k)}
        for k in sorted(set(a) | set(b))
        if canonical_json(a.get(k)) != canonical_json(b.get(k))
    ]


def select_and_diff(
    con: Any,
    mapping: Any,
    run_id: str,
    *,
    store_hash: str,
    retry_rejected: bool = False,
    sample: int = 10,
    progress: ProgressFn | None = None,
) -> Selected:
    """Steps 2-3: choose customers in SQL, map them, diff against the ledger (no writes)."""
    out = Selected()
    cols = _staged_columns(con)
    if not cols:
        return out
    action, _tag = _on_deleted(mapping)
    mapping_hash = str(getattr(mapping, "sha256", "") or "")
    rows = con.execute(
        _select_sql("_deleted_at" in cols),
        {"action": DELETED_ACTION_RECORD[action], "mapping_hash": mapping_hash, "retry": bool(retry_rejected)},
    ).fetchall()
    if not rows:
        return out
    out.counts["selected"] = len(rows)
    load_ids = {r[0]: r[1] for r in rows}
    deleted = {r[0]: r[3] for r in rows if r[2]}
    live_ids = [r[0] for r in rows if not r[2]]
    context = {"store_hash": store_hash}

    # deleted customers: only the on_deleted action, never an upsert
    if deleted:
        need_map = [cid for cid, ext in deleted.items() if ext is None]
        ext_by_id = {cid: ext for cid, ext in deleted.items() if ext is not None}
        for customer in _iter_customers(con, need_map):
            rec = _map_one(mapping, customer, context)
            ext_by_id[customer["id"]] = rec.external_id or f"customer:{customer['id']}"
        states = _states(con, list(ext_by_id.values()))
        for cid, ext in ext_by_id.items():
            st = states.get(ext) or {}
            in_people = bool(st.get("accepted_hash") or st.get("people_id"))
            out.deletions.append(
                {"external_id": ext, "customer_id": cid, "in_people": in_people, "action": action}
            )
        out.counts["deleted_in_store_seen"] = len(deleted)

    mapped: list[tuple[Any, Any]] = []
    total = len(live_ids)
    for n, customer in enumerate(_iter_customers(con, live_ids), 1):
        mapped.append((_map_one(mapping, customer, context), customer.get("id")))
        if progress is not None and (n % 5000 == 0 or n == total):
            progress("map", records=n, total=total)
    states = _states(con, [r.external_id for r, _ in mapped if r.external_id])
    seen: dict[str, Any] = {}
    for rec, cid in mapped:
        cid = rec.customer_id if rec.customer_id is not None else cid
        base = {"customer_id": cid, "run_id": run_id, "source_load_id": load_ids.get(cid),
                "mapping_hash": mapping_hash, "deleted_action": LIVE}
        ext = rec.external_id
        rejection = rec.rejection
        if rec.payload is not None and ext and ext in seen:
            rejection = f"externalId {ext!r} is also produced by customer {seen[ext]}"
        if rec.payload is None or rejection or not ext:
            reason = rejection or "mapping produced no person"
            if getattr(rec, "rejection_field", None):
                reason = f"{rec.rejection_field}: {reason}"
            key = ext if ext and ext not in seen else f"customer:{cid}"
            out.entries.append(
                {**base, "external_id": key, "last_status": "REJECTED_BY_MAPPING", "error_code": "MAPPING",
                 "error_message": reason[:1000], "attempted": True, "outcome": True}
            )
            out.counts["rejected_by_mapping"] += 1
            continue
        seen[ext] = cid
        out.counts["mapped"] += 1
        person_json = canonical_json(rec.payload)
        h = hashlib.sha256(person_json.encode("utf-8")).hexdigest()  # == payload_hash(rec.payload)
        st = states.get(ext) or {}
        if st.get("accepted_hash") == h:
            out.counts["unchanged"] += 1
            out.entries.append({**base, "external_id": ext, "payload_hash": h})
            continue
        if st.get("last_status") == "REJECTED_BY_PEOPLE" and st.get("payload_hash") == h and not retry_rejected:
            out.counts["unchanged"] += 1
            out.counts["still_rejected"] += 1
            out.entries.append({**base, "external_id": ext, "payload_hash": h})
            continue
        kind = "update" if st.get("accepted_hash") else "create"
        out.counts["would_" + kind] += 1
        out.to_send.append({**base, "external_id": ext, "payload_hash": h, "person": person_json})
        if len(out.sample_diffs) < sample:
            before = json.loads(st["last_payload"]) if st.get("last_payload") else None
            out.sample_diffs.append(
                {"external_id": ext, "customer_id": cid, "kind": kind,
                 "changes": field_diff(before, rec.payload)}
            )
    return out


@dataclass
class _Failed:
    """Stands in for a mapped record when the mapping raised on a customer."""

    customer_id: Any
    rejection: str
    external_id: str | None = None
    payload: None = None
    rejection_field: str | None = None


def _map_one(mapping: Any, customer: dict[str, Any], context: dict[str, Any]) -> Any:
    """``mapping.map``; a customer the mapping cannot handle becomes a mapping rejection."""
    try:
        return mapping.map(customer, context=context)
    except Exception as exc:  # noqa: BLE001 - one hostile record must not stop the run
        return _Failed(customer.get("id"), f"mapping failed: {type(exc).__name__}: {exc}"[:500])


def _states(con: Any, external_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not external_ids:
        return {}
    cur = con.execute(
        f"SELECT external_id, accepted_hash, payload_hash, last_status, last_payload, people_id "
        f"FROM {LEDGER_DATASET}.person_state WHERE external_id IN (SELECT unnest($ids))",
        {"ids": external_ids},
    )
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


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
            if o.accepted:
                status = o.status
            elif o.status == "REJECTED":
                status = "REJECTED_BY_PEOPLE"
            else:
                status = "FAILED"
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
        action, tag = _on_deleted(mapping)
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
    return PeopleClient(cfg.base_url, cfg.api_key)


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
