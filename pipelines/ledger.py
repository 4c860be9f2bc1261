"""The sync ledger in DuckDB dataset ``people_sync``: per-person state, runs, outcomes.

``person_state`` — one row per externalId:
  external_id (key), customer_id, payload_hash (hash of the last payload mapped and sent),
  last_payload (JSON of that payload), accepted_hash (hash of the last payload People
  accepted), people_id, last_status (CREATED | UPDATED | NOT_MODIFIED | REJECTED_BY_MAPPING |
  REJECTED_BY_PEOPLE | FAILED | DELETED), error_code, error_message, first_attempt_at,
  last_attempt_at, last_success_at, run_id; added columns:
  ``source_load_id`` (the staged row's ``_dlt_load_id`` when it was last mapped: a changed
  staged row is re-mapped), ``mapping_hash`` (sha256 of the mapping that last mapped it:
  a new mapping re-maps everything), ``deleted_action`` (none | tagged | deleted: what was
  done once the customer was deleted in the store) and ``deleted_at``.

``runs`` — one row per run: run_id, started_at, finished_at, status (running | success |
  failed | rejected_threshold | dry_run), mapping_file, mapping_hash, options (JSON), counts
  (staged, extracted, mapped, rejected_by_mapping, unchanged, sent, created, updated,
  not_modified, rejected_by_people, failed, deleted_in_store, delete_actions), error.

``outcomes`` — one row per person per attempt: run_id, external_id, customer_id, status,
  error_code, error_message, at.

Timestamps are naive UTC. Writes from several loader threads go through `Ledger`, which
serialises them on one connection with one lock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

LEDGER_DATASET = "people_sync"
ACCEPTED_STATUSES = ("CREATED", "UPDATED", "NOT_MODIFIED")
REJECTED_STATUSES = ("REJECTED_BY_MAPPING", "REJECTED_BY_PEOPLE")
RUN_COUNTS = (
    "staged",
    "extracted",
    "mapped",
    "rejected_by_mapping",
    "unchanged",
    "sent",
    "created",
    "updated",
    "not_modified",
    "rejected_by_people",
    "failed",
    "deleted_in_store",
    "delete_actions",
)
# The counts a push produces (the run's other counts come from staging).
PUSH_COUNTS = tuple(c for c in RUN_COUNTS if c not in ("staged", "extracted", "deleted_in_store"))
RUN_STATUSES = ("running", "success", "failed", "rejected_threshold", "dry_run")

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {LEDGER_DATASET};
CREATE TABLE IF NOT EXISTS {LEDGER_DATASET}.person_state (
    external_id VARCHAR PRIMARY KEY,
    customer_id BIGINT,
    payload_hash VARCHAR,
    last_payload JSON,
    accepted_hash VARCHAR,
    people_id BIGINT,
    last_status VARCHAR,
    error_code VARCHAR,
    error_message VARCHAR,
    first_attempt_at TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_success_at TIMESTAMP,
    run_id VARCHAR,
    source_load_id VARCHAR,
    mapping_hash VARCHAR,
    deleted_action VARCHAR,
    deleted_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS {LEDGER_DATASET}.runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    status VARCHAR,
    mapping_file VARCHAR,
    mapping_hash VARCHAR,
    options JSON,
    {", ".join(f"{c} BIGINT" for c in RUN_COUNTS)},
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS {LEDGER_DATASET}.outcomes (
    run_id VARCHAR,
    external_id VARCHAR,
    customer_id BIGINT,
    status VARCHAR,
    error_code VARCHAR,
    error_message VARCHAR,
    "at" TIMESTAMP
);
"""


def utcnow() -> datetime:
    """Naive UTC now (the ledger's timestamp convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def canonical_json(payload: Any) -> str:
    """Stable JSON text of a payload (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_hash(payload: Any) -> str:
    """sha256 of the canonical JSON of a payload."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def ensure_ledger(con: Any) -> None:
    """Create the ``people_sync`` schema and its tables when missing (idempotent)."""
    con.execute(_DDL)


def start_run(
    con: Any, run_id: str, mapping_path: str | None, mapping_hash: str | None, options: dict[str, Any]
) -> None:
    """Record a new ``running`` run; runs left ``running`` by a killed process become failed."""
    ensure_ledger(con)
    now = utcnow()
    con.execute(
        f"UPDATE {LEDGER_DATASET}.runs SET status = 'failed', error = 'interrupted', finished_at = ? "
        "WHERE status = 'running' AND run_id <> ?",
        [now, run_id],
    )
    con.execute(
        f"INSERT INTO {LEDGER_DATASET}.runs (run_id, started_at, status, mapping_file, mapping_hash, options) "
        "VALUES (?, ?, 'running', ?, ?, ?)",
        [run_id, now, None if mapping_path is None else str(mapping_path), mapping_hash, canonical_json(options)],
    )


def finish_run(con: Any, run_id: str, status: str, counts: dict[str, Any], error: str | None = None) -> None:
    """Close a run with its final status, its counts (unknown keys ignored) and error."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}; known: {', '.join(RUN_STATUSES)}")
    ensure_ledger(con)
    known = [c for c in RUN_COUNTS if c in counts and counts[c] is not None]
    sets = ", ".join(["finished_at = ?", "status = ?", "error = ?"] + [f"{c} = ?" for c in known])
    con.execute(
        f"UPDATE {LEDGER_DATASET}.runs SET {sets} WHERE run_id = ?",
        [utcnow(), status, error] + [int(counts[c]) for c in known] + [run_id],
    )


# -- bulk writes used by the push ----------------------------------------------------------

STATE_COLUMNS = (
    "external_id",
    "customer_id",
    "payload_hash",
    "last_payload",
    "people_id",
    "last_status",
    "error_code",
    "error_message",
    "run_id",
    "source_load_id",
    "mapping_hash",
    "deleted_action",
    "outcome_status",
    "at",
)

_UPSERT_STATE = f"""
INSERT INTO {LEDGER_DATASET}.person_state (
    external_id, customer_id, payload_hash, last_payload, accepted_hash, people_id, last_status,
    error_code, error_message, first_attempt_at, last_attempt_at, last_success_at, run_id,
    source_load_id, mapping_hash, deleted_action, deleted_at)
SELECT external_id, customer_id, payload_hash, last_payload,
    CASE WHEN last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED') THEN payload_hash END,
    people_id, last_status, error_code, error_message,
    CASE WHEN attempted THEN "at" END, CASE WHEN attempted THEN "at" END,
    CASE WHEN last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED') THEN "at" END,
    run_id, source_load_id, mapping_hash, deleted_action,
    CASE WHEN nullif(deleted_action, '') IS NOT NULL THEN "at" END
FROM _ledger_batch
ON CONFLICT (external_id) DO UPDATE SET
    customer_id = excluded.customer_id,
    payload_hash = coalesce(excluded.payload_hash, person_state.payload_hash),
    last_payload = coalesce(excluded.last_payload, person_state.last_payload),
    accepted_hash = CASE WHEN excluded.last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED')
        THEN excluded.payload_hash WHEN excluded.last_status = 'DELETED' THEN NULL
        ELSE person_state.accepted_hash END,
    people_id = coalesce(excluded.people_id, person_state.people_id),
    last_status = coalesce(excluded.last_status, person_state.last_status),
    error_code = CASE WHEN excluded.last_status IS NULL THEN person_state.error_code ELSE excluded.error_code END,
    error_message = CASE WHEN excluded.last_status IS NULL THEN person_state.error_message
        ELSE excluded.error_message END,
    first_attempt_at = coalesce(person_state.first_attempt_at, excluded.first_attempt_at),
    last_attempt_at = coalesce(excluded.last_attempt_at, person_state.last_attempt_at),
    last_success_at = coalesce(excluded.last_success_at, person_state.last_success_at),
    run_id = excluded.run_id,
    source_load_id = coalesce(excluded.source_load_id, person_state.source_load_id),
    mapping_hash = coalesce(excluded.mapping_hash, person_state.mapping_hash),
    deleted_action = CASE WHEN excluded.deleted_action = '' THEN NULL
        ELSE coalesce(excluded.deleted_action, person_state.deleted_action) END,
    deleted_at = CASE WHEN excluded.deleted_action = '' THEN NULL
        ELSE coalesce(person_state.deleted_at, excluded.deleted_at) END
"""


class Ledger:
    """Thread-safe bulk writer of person_state + outcomes on one DuckDB connection.

    Each entry is a dict with the keys of `STATE_COLUMNS` (missing keys are NULL) plus
    ``attempted`` (bool: a request or mapping attempt happened) and ``outcome`` (bool: also
    write an ``outcomes`` row, whose status is ``outcome_status`` or else ``last_status``).
    ``deleted_action`` = "" clears a recorded deletion (the customer is back in the store). A NULL ``last_status`` keeps the stored status (used to
    refresh ``source_load_id``/``mapping_hash`` of unchanged persons).
    """

    def __init__(self, con: Any) -> None:
        self.con = con
        self.lock = threading.Lock()
        ensure_ledger(con)

    def write(self, entries: Sequence[dict[str, Any]]) -> None:
        """Upsert the entries into person_state and append their outcomes, atomically."""
        if not entries:
            return
        import pyarrow as pa

        now = utcnow()
        cols: dict[str, list[Any]] = {c: [e.get(c) for e in entries] for c in STATE_COLUMNS}
        cols["at"] = [e.get("at") or now for e in entries]
        cols["attempted"] = [bool(e.get("attempted")) for e in entries]
        cols["outcome"] = [bool(e.get("outcome")) for e in entries]
        types = {
            "customer_id": pa.int64(),
            "people_id": pa.int64(),
            "at": pa.timestamp("us"),
            "attempted": pa.bool_(),
            "outcome": pa.bool_(),
        }
        table = pa.table({c: pa.array(v, type=types.get(c, pa.string())) for c, v in cols.items()})
        with self.lock:
            self.con.register("_ledger_batch", table)
            try:
                self.con.execute("BEGIN TRANSACTION")
                try:
                    self.con.execute(_UPSERT_STATE)
                    self.con.execute(
                        f"UPDATE {LEDGER_DATASET}.person_state SET deleted_action = NULL WHERE deleted_action = ''"
                    )
                    self.con.execute(
                        f"INSERT INTO {LEDGER_DATASET}.outcomes "
                        "SELECT run_id, external_id, customer_id, coalesce(outcome_status, last_status), error_code, "
                        "error_message, \"at\" "
                        "FROM _ledger_batch WHERE outcome"
                    )
                    self.con.execute("COMMIT")
                except BaseException:
                    self.con.execute("ROLLBACK")
                    raise
            finally:
                self.con.unregister("_ledger_batch")
