"""Values the mapping dropped (``on_invalid: drop``), kept so they are never dropped without a trace.

Table ``people_sync.dropped_values`` holds one row per value left out of a person sent in a run
(run_id, external_id, customer_id, field, reason, at); view ``people_sync.dropped_by_field``
counts them per run and field with an example reason. The run's total is the ``dropped_values``
column of ``people_sync.runs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bc2people.pipelines.ledger import LEDGER_DATASET

TABLE = f"{LEDGER_DATASET}.dropped_values"
VIEW = f"{LEDGER_DATASET}.dropped_by_field"


def ensure_drops(con: Any) -> None:
    """Create the table and its view (idempotent)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {LEDGER_DATASET}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (run_id VARCHAR, external_id VARCHAR, customer_id BIGINT, "
                'field VARCHAR, reason VARCHAR, "at" TIMESTAMP)')
    con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS SELECT run_id, field, count(*) AS \"values\", "
                f"count(DISTINCT customer_id) AS customers, any_value(reason) AS example_reason, max(\"at\") AS \"at\" "
                f"FROM {TABLE} GROUP BY run_id, field")


def record_drops(con: Any, run_id: str, drops: Sequence[dict[str, Any]]) -> None:
    """Append one row per dropped value of this run (after `ensure_drops`, once per run: its
    view is a catalog change, which a checkpoint and the run's other writers would wait on)."""
    from bc2people.pipelines.core.ledger import utcnow

    if not drops:
        return
    now = utcnow()
    # one statement over lists (DuckDB's executemany runs one INSERT per row: seconds per thousand)
    con.execute(f"INSERT INTO {TABLE} SELECT $1, k, e, f, r, $2 FROM (SELECT unnest($3::VARCHAR[]) AS k, "
                "unnest($4::BIGINT[]) AS e, unnest($5::VARCHAR[]) AS f, unnest($6::VARCHAR[]) AS r)",
                [run_id, now, [d["key"] for d in drops], [d["entity_id"] for d in drops],
                 [d["field"] for d in drops], [d["reason"] for d in drops]])
