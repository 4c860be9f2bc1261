"""A bc2people.duckdb written by release 0.1.0 keeps working: ledger, history and cursors kept,
nothing re-sent that has not changed.

``tests/data/release-0.1.0.duckdb.gz`` was written by release 0.1.0 (40 generated customers,
seed 7, store clock frozen at 2026-01-01T01:00Z): a full sync, then 3 customers renamed and
customer 5 deleted, an incremental sync with the deletion sweep (tagged ``bc-deleted``).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from bc2people.pipelines.ledger import ensure_ledger
from bc2people.pipelines.sync import run_sync
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.run import env_for, start_sandboxes

FIXTURE = Path(__file__).parent / "data" / "release-0.1.0.duckdb.gz"
MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "customers_to_people.yaml"
OLD_MAPPING = Path(__file__).parent / "data" / "customers_to_people-0.1.0.yaml"  # 0.1.0's default mapping
FROZEN_AT = 1767225600 + 3600 + 1200  # where release 0.1.0 left the store clock


def _unpack(tmp_path: Path) -> Path:
    db = tmp_path / "bc2people.duckdb"
    with gzip.open(FIXTURE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _old_state(db: Path) -> list[tuple]:  # type: ignore[type-arg]
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT external_id, customer_id, payload_hash, accepted_hash, people_id, last_status, "
                           "deleted_action FROM people_sync.person_state ORDER BY external_id").fetchall()
    finally:
        con.close()


def test_a_0_1_ledger_is_moved_into_the_core_tables_with_its_history(tmp_path: Path) -> None:
    db = _unpack(tmp_path)
    before = _old_state(db)
    assert len(before) == 40 and ("tagged" in {r[6] for r in before})
    con = duckdb.connect(str(db))
    try:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                 "WHERE table_schema = 'people_sync'").fetchall())
        assert kinds["person_state"] == "BASE TABLE"  # really a 0.1 file
        con.execute("UPDATE people_sync.person_state SET last_status = 'REJECTED_BY_PEOPLE', "
                    "error_code = '409100' WHERE customer_id = 9")
        before = [r if r[1] != 9 else (*r[:5], "REJECTED_BY_PEOPLE", r[6]) for r in before]
        outcomes = con.execute("SELECT count(*) FROM people_sync.outcomes").fetchone()
        ensure_ledger(con)
        ensure_ledger(con)  # idempotent
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                 "WHERE table_schema = 'people_sync'").fetchall())
        assert kinds["person_state"] == "VIEW" and kinds["outcomes"] == "VIEW" and kinds["sync_state"] == "BASE TABLE"
        assert con.execute("SELECT count(*) FROM people_sync.outcomes").fetchone() == outcomes
        core = con.execute("SELECT last_status FROM people_sync.sync_state WHERE entity_id = 9").fetchone()
        assert core == ("REJECTED_BY_TARGET",)
        assert con.execute("SELECT count(*) FROM people_sync.runs").fetchone() == (2,)
    finally:
        con.close()
    assert _old_state(db) == before


def test_the_first_run_after_the_upgrade_reads_from_the_old_cursor_and_sends_nothing_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _unpack(tmp_path)
    monkeypatch.chdir(tmp_path)
    bc, people = start_sandboxes(0, seed=7)
    try:
        bc.add_customers(generate_customers(40, seed=7))
        bc.clock.freeze(FROZEN_AT - 1200)
        for cid in (1, 2, 3):
            bc.update_customer(cid, first_name=f"Renamed{cid}")
        bc.delete_customer(5)
        bc.clock.freeze(FROZEN_AT + 600)
        for key, value in env_for(bc, people).items():
            monkeypatch.setenv(key, value)
        result = run_sync(OLD_MAPPING, db)
        assert result.exit_code == 0, result.error
        assert result.counts["extracted"] == 0  # the 0.1 cursor was kept: nothing new in the window
        # nothing sent: the only People requests are the pre-flight's read of the attribute definitions
        sends = sum(n for k, n in people.requests_served.items() if not k.startswith("GET "))
        assert result.counts["sent"] == 0 and sends == 0
        con = duckdb.connect(str(db), read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM people_sync.runs").fetchone() == (3,)
            assert con.execute("SELECT count(*) FROM people_sync.person_state WHERE deleted_action = 'tagged'"
                               ).fetchone() == (1,)
        finally:
            con.close()
        bc.update_customer(4, first_name="Changed")
        bc.clock.advance(600)
        again = run_sync(OLD_MAPPING, db)
        assert (again.exit_code, again.counts["extracted"], again.counts["sent"]) == (0, 1, 1)
        # Today's default mapping adds the order traits: every live person's output changes
        # (an order count of 0 is a value), so each is sent once, and then never again.
        new = run_sync(MAPPING, db)
        # (this People sandbox started empty, so most are created here; a real People updates them)
        assert (new.exit_code, new.counts["sent"], new.counts["created"] + new.counts["updated"]) == (0, 39, 39)
        person = people.person_by_external_id("bc-sandbox1-4")
        assert person is not None and person["customAttributes"]["bc_order_count"] == 0
        assert run_sync(MAPPING, db).counts["sent"] == 0
    finally:
        bc.stop()
        people.stop()
