"""The ledger: the core's tables, the People-named views over them and the bulk writer's merge
rules (real DuckDB file, no HTTP)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from bc2people.pipelines.ledger import ensure_ledger, finish_run, ledger, start_run


@pytest.fixture
def con(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = duckdb.connect(str(tmp_path / "l.duckdb"))
    ensure_ledger(c)
    yield c
    c.close()


def state(con, ext):  # type: ignore[no-untyped-def]
    cur = con.execute("SELECT * FROM people_sync.person_state WHERE external_id = ?", [ext])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()  # drain: DuckDB refuses new work while a result is unfinished
    return dict(zip(names, rows[0], strict=True)) if rows else None


def test_ensure_ledger_is_idempotent_and_has_the_documented_columns(con) -> None:  # type: ignore[no-untyped-def]
    ensure_ledger(con)
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                      "table_schema = 'people_sync' AND table_name = 'person_state'").fetchall()}
    assert {"external_id", "customer_id", "payload_hash", "last_payload", "accepted_hash", "people_id",
            "last_status", "error_code", "error_message", "first_attempt_at", "last_attempt_at",
            "last_success_at", "run_id"} <= cols
    run_cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                          "table_schema = 'people_sync' AND table_name = 'runs'").fetchall()}
    assert {"staged", "extracted", "deleted_in_store", "delete_actions", "options", "error"} <= run_cols


def test_rejection_keeps_the_last_accepted_hash_and_first_attempt(con) -> None:  # type: ignore[no-untyped-def]
    led = ledger(con)
    base = {"key": "e1", "entity_id": 1, "run_id": "r1", "attempted": True, "outcome": True}
    led.write([{**base, "payload_hash": "A", "last_payload": '{"a":1}', "last_status": "CREATED", "remote_id": 9}])
    first = state(con, "e1")
    assert first["accepted_hash"] == "A" and first["last_success_at"] is not None
    led.write([{**base, "run_id": "r2", "payload_hash": "B", "last_payload": '{"a":2}',
                "last_status": "REJECTED_BY_TARGET", "error_code": "400100", "error_message": "bad email"}])
    s = state(con, "e1")
    assert (s["accepted_hash"], s["payload_hash"], s["last_status"], s["people_id"]) == (
        "A", "B", "REJECTED_BY_PEOPLE", 9)
    assert s["first_attempt_at"] == first["first_attempt_at"] and s["last_success_at"] == first["last_success_at"]
    assert s["error_message"] == "bad email" and s["run_id"] == "r2"
    led.write([{**base, "run_id": "r3", "payload_hash": "B", "last_status": "UPDATED"}])
    s = state(con, "e1")
    assert (s["accepted_hash"], s["error_code"], s["error_message"]) == ("B", None, None)
    assert con.execute("SELECT count(*) FROM people_sync.outcomes WHERE external_id = 'e1'").fetchall()[0] == (3,)


def test_refresh_entries_keep_status_and_write_no_outcome(con) -> None:  # type: ignore[no-untyped-def]
    led = ledger(con)
    led.write([{"key": "e1", "entity_id": 1, "payload_hash": "A", "last_status": "CREATED",
                "attempted": True, "outcome": True, "source_version": "L1", "mapping_hash": "M1"}])
    led.write([{"key": "e1", "entity_id": 1, "payload_hash": "A", "source_version": "L2",
                "mapping_hash": "M2"}])
    s = state(con, "e1")
    assert (s["last_status"], s["source_load_id"], s["mapping_hash"], s["accepted_hash"]) == (
        "CREATED", "L2", "M2", "A")
    assert con.execute("SELECT count(*) FROM people_sync.outcomes").fetchall()[0] == (1,)


def test_deletion_is_recorded_and_cleared_when_the_customer_returns(con) -> None:  # type: ignore[no-untyped-def]
    led = ledger(con)
    led.write([{"key": "e1", "entity_id": 1, "payload_hash": "A", "last_status": "CREATED",
                "attempted": True, "deleted_action": ""}])
    assert state(con, "e1")["deleted_action"] is None
    led.write([{"key": "e1", "entity_id": 1, "last_status": "DELETED", "deleted_action": "deleted",
                "attempted": True, "outcome": True}])
    s = state(con, "e1")
    assert (s["deleted_action"], s["accepted_hash"], s["last_status"]) == ("deleted", None, "DELETED")
    assert s["deleted_at"] is not None
    led.write([{"key": "e1", "entity_id": 1, "payload_hash": "A", "deleted_action": ""}])
    s = state(con, "e1")
    assert s["deleted_action"] is None and s["deleted_at"] is None


def test_concurrent_writers_share_one_connection_safely(con) -> None:  # type: ignore[no-untyped-def]
    led = ledger(con)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for b in range(5):
                led.write([{"key": f"t{t}-{b}-{i}", "entity_id": i, "payload_hash": "h",
                            "last_status": "CREATED", "attempted": True, "outcome": True} for i in range(200)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert con.execute("SELECT count(*), count(DISTINCT external_id) FROM people_sync.person_state").fetchall()[0] == (
        4000, 4000)
    assert con.execute("SELECT count(*) FROM people_sync.outcomes").fetchall()[0] == (4000,)


def test_finish_run_rejects_unknown_status(con) -> None:  # type: ignore[no-untyped-def]
    start_run(con, "r", None, None, {})
    with pytest.raises(ValueError, match="unknown run status"):
        finish_run(con, "r", "done", {})
    finish_run(con, "r", "failed", {"failed": 2}, error="People unavailable")
    assert con.execute("SELECT status, failed, error FROM people_sync.runs").fetchall()[0] == (
        "failed", 2, "People unavailable")


def test_people_status_of_each_outcome() -> None:
    from bc2people.destinations.people.client import RecordOutcome
    from bc2people.destinations.people.outcomes import status_of

    assert status_of(RecordOutcome(0, "NOT_MODIFIED", 3)) == "NOT_MODIFIED"
    assert status_of(RecordOutcome(0, "REJECTED", None, "400100", "bad")) == "REJECTED"
    assert status_of(RecordOutcome(0, "REJECTED", None, "409100", "conflict")) == "REJECTED"
    assert status_of(RecordOutcome(0, "REJECTED", None, "500100", "oops")) == "FAILED"
    assert status_of(RecordOutcome(0, "MISSING")) == "FAILED"


def test_core_tables_are_keyed_on_target_and_key(con) -> None:  # type: ignore[no-untyped-def]
    from bc2people.pipelines.core.ledger import Ledger

    Ledger(con, "people_sync", "other").write([{"key": "e1", "entity_id": 1, "payload_hash": "X",
                                               "last_status": "CREATED", "attempted": True, "outcome": True}])
    ledger(con).write([{"key": "e1", "entity_id": 1, "payload_hash": "A", "last_status": "CREATED",
                        "attempted": True, "outcome": True}])
    rows = con.execute("SELECT target, key, payload_hash FROM people_sync.sync_state ORDER BY target").fetchall()
    assert rows == [("other", "e1", "X"), ("person", "e1", "A")]
    # the People-named views show only the persons
    assert con.execute("SELECT count(*) FROM people_sync.person_state").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM people_sync.outcomes").fetchall() == [(1,)]
