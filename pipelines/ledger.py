"""The job's ledger: the sync core's tables in dataset ``people_sync``, with the People-named
views analysts query, and the in-place upgrade of files written by release 0.1.

The core (`pipelines.core.ledger`) keeps ``sync_state`` / ``sync_outcomes`` / ``runs``.
For the persons this job sends (target `TARGET`), ``person_state`` and ``outcomes`` are views
over them with the 0.1 column names (``external_id``, ``customer_id``, ``people_id``,
``source_load_id``, status ``REJECTED_BY_PEOPLE``), plus ``error_field`` and ``traits_hash``.
Release 0.1 had ``person_state`` and ``outcomes`` as tables: `ensure_ledger` moves their rows
into the core's tables in one transaction and replaces them with the views (history, ledger and
cursors kept; a crash during the move rolls it back and the next run does it again).
"""

from __future__ import annotations

from typing import Any

from bc2people.pipelines.core import ledger as core
from bc2people.pipelines.core.hashing import canonical_json, payload_hash
from bc2people.pipelines.core.ledger import ACCEPTED_STATUSES, REJECTED_STATUSES, utcnow

LEDGER_DATASET = "people_sync"
TARGET = "person"
REJECTED_BY_PEOPLE = "REJECTED_BY_PEOPLE"  # the views' name for the core's REJECTED_BY_TARGET
ORDER_COUNTS = ("orders_extracted", "orders_staged", "orders_odd", "guest_orders_unattributed")
# What the events push did this run (pipelines/events.py): events derived, sent and accepted,
# rejected (mapping, checks or People), too old, waiting for their person; requests sent.
EVENT_COUNTS = ("events_emitted", "events_accepted", "events_rejected", "events_too_old", "events_skipped",
                "event_requests")
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
    "contacts_removed",
    "dropped_values",
    *ORDER_COUNTS,
    *EVENT_COUNTS,
)
# The counts a push produces (the run's other counts come from staging).
PUSH_COUNTS = tuple(
    c for c in RUN_COUNTS if c not in ("staged", "extracted", "deleted_in_store", *ORDER_COUNTS, *EVENT_COUNTS)
)
RUN_STATUSES = core.RUN_STATUSES

__all__ = [
    "ACCEPTED_STATUSES", "LEDGER_DATASET", "PUSH_COUNTS", "REJECTED_STATUSES", "RUN_COUNTS", "TARGET",
    "canonical_json", "ensure_ledger", "finish_run", "payload_hash", "start_run", "utcnow",
]

_STATUS_VIEW = f"CASE {{col}} WHEN '{core.REJECTED_BY_TARGET}' THEN '{REJECTED_BY_PEOPLE}' ELSE {{col}} END"
_STATUS_CORE = f"CASE {{col}} WHEN '{REJECTED_BY_PEOPLE}' THEN '{core.REJECTED_BY_TARGET}' ELSE {{col}} END"

_VIEWS = f"""
CREATE OR REPLACE VIEW {LEDGER_DATASET}.person_state AS
SELECT key AS external_id, entity_id AS customer_id, payload_hash, last_payload, accepted_hash,
       remote_id AS people_id, {_STATUS_VIEW.format(col="last_status")} AS last_status, error_code, error_field,
       error_message, first_attempt_at, last_attempt_at, last_success_at, run_id,
       source_version AS source_load_id, derived_hash AS traits_hash, mapping_hash, deleted_action, deleted_at
FROM {LEDGER_DATASET}.sync_state WHERE target = '{TARGET}';
CREATE OR REPLACE VIEW {LEDGER_DATASET}.outcomes AS
SELECT run_id, key AS external_id, entity_id AS customer_id, {_STATUS_VIEW.format(col="status")} AS status,
       error_code, error_field, error_message, "at"
FROM {LEDGER_DATASET}.sync_outcomes WHERE target = '{TARGET}';
"""

_MIGRATE = f"""
INSERT INTO {LEDGER_DATASET}.sync_state (target, key, entity_id, payload_hash, last_payload, accepted_hash,
    remote_id, last_status, error_code, error_message, first_attempt_at, last_attempt_at, last_success_at,
    run_id, source_version, mapping_hash, deleted_action, deleted_at)
SELECT '{TARGET}', external_id, customer_id, payload_hash, last_payload, accepted_hash, people_id,
    {_STATUS_CORE.format(col="last_status")}, error_code, error_message, first_attempt_at, last_attempt_at,
    last_success_at, run_id, source_load_id, mapping_hash, deleted_action, deleted_at
FROM {LEDGER_DATASET}.person_state
ON CONFLICT DO NOTHING;
INSERT INTO {LEDGER_DATASET}.sync_outcomes (run_id, target, key, entity_id, status, error_code, error_message, "at")
SELECT run_id, '{TARGET}', external_id, customer_id, {_STATUS_CORE.format(col="status")}, error_code,
    error_message, "at"
FROM {LEDGER_DATASET}.outcomes;
DROP TABLE {LEDGER_DATASET}.person_state;
DROP TABLE {LEDGER_DATASET}.outcomes;
"""


def _table_type(con: Any, name: str) -> str | None:
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [LEDGER_DATASET, name],
    ).fetchone()
    return None if row is None else str(row[0])


def ensure_ledger(con: Any) -> None:
    """Create (or upgrade in place) the ledger and its People-named views; idempotent."""
    core.ensure_ledger(con, LEDGER_DATASET, RUN_COUNTS)
    # custom attribute names People accepted at some point (see `pipelines.push.remember_attributes`)
    con.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER_DATASET}.sent_attributes (name VARCHAR PRIMARY KEY, "
                "first_seen_at TIMESTAMP, last_seen_at TIMESTAMP)")
    if _table_type(con, "person_state") == "BASE TABLE":  # a file written by release 0.1
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(_MIGRATE)
            con.execute(_VIEWS)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    else:
        con.execute(_VIEWS)


def ledger(con: Any) -> core.Ledger:
    """The core's writer for the persons of this job."""
    return core.Ledger(con, LEDGER_DATASET, TARGET)


def start_run(
    con: Any, run_id: str, mapping_path: str | None, mapping_hash: str | None, options: dict[str, Any]
) -> None:
    """Record a new ``running`` run (and close runs a killed process left ``running``)."""
    ensure_ledger(con)
    core.start_run(con, LEDGER_DATASET, run_id, mapping_path, mapping_hash, options)


def finish_run(con: Any, run_id: str, status: str, counts: dict[str, Any], error: str | None = None) -> None:
    """Close a run with its final status, counts and error."""
    ensure_ledger(con)
    core.finish_run(con, LEDGER_DATASET, run_id, status, counts, error)
