"""The reconciliation views on a hand-built DuckDB: each customer lands in exactly one state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.ledger import ensure_ledger
from bc2people.pipelines.reconcile import (
    ensure_reconciliation_views,
    missing_tables,
    people_errors,
    reconcile_overall,
    reconcile_sql,
    reconcile_summary,
    statements,
)

# customer id -> (ledger row or None); staged load id is "L2" for every staged customer.
LEDGER: dict[int, dict[str, Any] | None] = {
    1: {"last_status": "CREATED", "payload_hash": "h1", "accepted_hash": "h1", "people_id": 11, "source_load_id": "L2"},
    2: {"last_status": "UPDATED", "payload_hash": "h2", "accepted_hash": "h2", "people_id": 12, "source_load_id": "L1"},
    3: {"last_status": "REJECTED_BY_MAPPING", "error_message": "email invalid", "source_load_id": "L2"},
    4: {"last_status": "REJECTED_BY_PEOPLE", "error_code": "409100", "payload_hash": "h4", "source_load_id": "L2"},
    5: {"last_status": "FAILED", "payload_hash": "h5", "error_message": "timeout", "source_load_id": "L2"},
    6: None,  # staged, never mapped
    7: {"last_status": "REJECTED_BY_PEOPLE", "error_code": "400100", "payload_hash": "h7b", "accepted_hash": "h7a",
        "people_id": 17, "source_load_id": "L2"},  # accepted once, then a change was rejected
    8: {"last_status": "CREATED", "payload_hash": "h8", "accepted_hash": "h8", "people_id": 18, "source_load_id": "L2"},
}
DELETED = {8}
EXPECTED_STATE = {1: "accepted", 2: "pending", 3: "rejected_by_mapping", 4: "rejected_by_people", 5: "pending",
                  6: "pending", 7: "rejected_by_people", 8: "deleted_in_store"}


@pytest.fixture
def con(tmp_path: Path) -> Any:
    c = duckdb.connect(str(tmp_path / "r.duckdb"))
    c.execute("CREATE SCHEMA bigcommerce")
    c.execute("CREATE TABLE bigcommerce.customers (id BIGINT, email VARCHAR, first_name VARCHAR, last_name VARCHAR, "
              "date_modified TIMESTAMP, _dlt_load_id VARCHAR)")
    for cid in LEDGER:
        c.execute("INSERT INTO bigcommerce.customers VALUES (?, ?, 'F', 'L', now()::TIMESTAMP, 'L2')",
                  [cid, f"c{cid}@example.com"])
    ensure_ledger(c)
    for cid, row in LEDGER.items():
        if row is None:
            continue
        c.execute(
            "INSERT INTO people_sync.sync_state (target, key, entity_id, payload_hash, accepted_hash, remote_id, "
            "last_status, error_code, error_message, last_attempt_at, last_success_at, run_id, source_version) "
            "VALUES ('person', ?, ?, ?, ?, ?, replace(?, 'BY_PEOPLE', 'BY_TARGET'), ?, ?, now()::TIMESTAMP, ?, "
            "'r1', ?)",
            [f"bc-s-{cid}", cid, row.get("payload_hash"), row.get("accepted_hash"), row.get("people_id"),
             row["last_status"], row.get("error_code"), row.get("error_message"),
             None if row.get("accepted_hash") is None else "2026-01-01", row.get("source_load_id")],
        )
    yield c
    c.close()


def test_views_wait_for_their_inputs(tmp_path: Path) -> None:
    c = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        assert "bigcommerce.customers" in missing_tables(c)
        assert ensure_reconciliation_views(c) is False
    finally:
        c.close()


def test_sql_file_splits_into_statements() -> None:
    stmts = statements(reconcile_sql())
    assert len(stmts) >= 15 and all(s.upper().startswith("CREATE OR REPLACE VIEW") for s in stmts)


def test_every_customer_has_exactly_one_state(con: Any) -> None:
    assert ensure_reconciliation_views(con) is True
    assert ensure_reconciliation_views(con) is True  # idempotent
    # Adding the sweep's column later does not break the views.
    con.execute("ALTER TABLE bigcommerce.customers ADD COLUMN _deleted_at TIMESTAMP")
    con.execute("UPDATE bigcommerce.customers SET _deleted_at = now()::TIMESTAMP WHERE id IN (8)")
    states = dict(con.execute("SELECT customer_id, state FROM people_sync.customer_status").fetchall())
    assert states == EXPECTED_STATE


def test_overall_counts_and_list_views_agree(con: Any) -> None:
    con.execute("ALTER TABLE bigcommerce.customers ADD COLUMN _deleted_at TIMESTAMP")
    con.execute("UPDATE bigcommerce.customers SET _deleted_at = now()::TIMESTAMP WHERE id = 8")
    ensure_reconciliation_views(con)
    o = reconcile_overall(con)
    assert o == {"staged": 8, "staged_active": 7, "staged_deleted": 1, "mapped": 5, "rejected_by_mapping": 1,
                 "pending": 3, "accepted": 1, "rejected_by_people": 2, "never_synced": 4}
    assert o["accepted"] + o["pending"] + o["rejected_by_mapping"] + o["rejected_by_people"] == o["staged_active"]
    ids = lambda view: sorted(r[0] for r in con.execute(f"SELECT customer_id FROM people_sync.{view}").fetchall())  # noqa: E731
    assert ids("customers_pending") == [2, 5, 6]
    assert ids("customers_rejected_by_people") == [4, 7]
    assert ids("customers_never_synced") == [3, 4, 5, 6]
    assert ids("customers_mapped") == [1, 2, 4, 5, 7]
    reasons = dict(con.execute("SELECT customer_id, reason FROM people_sync.customers_pending").fetchall())
    assert reasons == {2: "staged change not mapped yet", 5: "delivery failed", 6: "not mapped yet"}
    assert {e["error_code"]: e["customers"] for e in people_errors(con)} == {"409100": 1, "400100": 1}
    summary = dict(reconcile_summary(con))
    assert summary["accepted by People"] == 1 and summary["  code 409100"] == 1


def test_by_run_view_joins_outcomes(con: Any) -> None:
    from bc2people.pipelines.ledger import finish_run, start_run

    start_run(con, "r1", "m.yaml", "abc", {"dry_run": False})
    finish_run(con, "r1", "success", {"mapped": 3, "created": 1, "updated": 1, "rejected_by_people": 1})
    con.execute("INSERT INTO people_sync.sync_outcomes (run_id, target, key, entity_id, status, error_code, "
                "error_message, \"at\") VALUES ('r1', 'person', 'bc-s-1', 1, 'CREATED', NULL, NULL, now()::TIMESTAMP),"
                "('r1', 'person', 'bc-s-4', 4, 'REJECTED_BY_TARGET', '409100', 'conflict', now()::TIMESTAMP)")
    ensure_reconciliation_views(con)
    row = con.execute("SELECT accepted, outcomes_recorded, outcomes_rejected_by_people FROM people_sync.reconcile_by_run"
                      " WHERE run_id = 'r1'").fetchone()
    assert row == (2, 2, 1)
    errs = con.execute("SELECT error_code, records FROM people_sync.people_errors_by_run").fetchall()
    assert errs == [("409100", 1)]
