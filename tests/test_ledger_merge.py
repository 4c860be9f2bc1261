"""The ledger's batch write (delete and insert of each batch's state rows) keeps exactly the merge
rules of the previous release's single ``INSERT ... ON CONFLICT DO UPDATE`` statement, kept here
as the oracle: random batches of entries, written both ways, leave identical ``sync_state`` rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.pipelines.core.ledger import ENTRY_KEYS, STATE_COLUMNS, Ledger, ensure_ledger

DS, TARGET = "ledger_test", "people"

# The previous release's statement, verbatim (then a full-table UPDATE turned '' into NULL).
_ORACLE_UPSERT = """
INSERT INTO {ds}.sync_state (
    target, key, entity_id, payload_hash, last_payload, accepted_hash, remote_id, last_status,
    error_code, error_field, error_message, first_attempt_at, last_attempt_at, last_success_at, run_id,
    source_version, derived_hash, mapping_hash, deleted_action, deleted_at)
SELECT target, key, entity_id, payload_hash, last_payload,
    CASE WHEN last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED') THEN payload_hash END,
    remote_id, last_status, error_code, error_field, error_message,
    CASE WHEN attempted THEN "at" END, CASE WHEN attempted THEN "at" END,
    CASE WHEN last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED') THEN "at" END,
    run_id, source_version, derived_hash, mapping_hash, deleted_action,
    CASE WHEN nullif(deleted_action, '') IS NOT NULL THEN "at" END
FROM _oracle_batch
ON CONFLICT (target, key) DO UPDATE SET
    entity_id = coalesce(excluded.entity_id, sync_state.entity_id),
    payload_hash = coalesce(excluded.payload_hash, sync_state.payload_hash),
    last_payload = coalesce(excluded.last_payload, sync_state.last_payload),
    accepted_hash = CASE WHEN excluded.last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED')
        THEN excluded.payload_hash WHEN excluded.last_status = 'DELETED' THEN NULL
        ELSE sync_state.accepted_hash END,
    remote_id = coalesce(excluded.remote_id, sync_state.remote_id),
    last_status = coalesce(excluded.last_status, sync_state.last_status),
    error_code = CASE WHEN excluded.last_status IS NULL THEN sync_state.error_code ELSE excluded.error_code END,
    error_field = CASE WHEN excluded.last_status IS NULL THEN sync_state.error_field ELSE excluded.error_field END,
    error_message = CASE WHEN excluded.last_status IS NULL THEN sync_state.error_message
        ELSE excluded.error_message END,
    first_attempt_at = coalesce(sync_state.first_attempt_at, excluded.first_attempt_at),
    last_attempt_at = coalesce(excluded.last_attempt_at, sync_state.last_attempt_at),
    last_success_at = coalesce(excluded.last_success_at, sync_state.last_success_at),
    run_id = excluded.run_id,
    source_version = coalesce(excluded.source_version, sync_state.source_version),
    derived_hash = CASE WHEN excluded.mapping_hash IS NOT NULL THEN excluded.derived_hash
        ELSE sync_state.derived_hash END,
    mapping_hash = coalesce(excluded.mapping_hash, sync_state.mapping_hash),
    deleted_action = CASE WHEN excluded.deleted_action = '' THEN NULL
        ELSE coalesce(excluded.deleted_action, sync_state.deleted_action) END,
    deleted_at = CASE WHEN excluded.deleted_action = '' THEN NULL
        ELSE coalesce(sync_state.deleted_at, excluded.deleted_at) END
"""


def _oracle_write(con: Any, entries: list[dict[str, Any]]) -> None:
    cols: dict[str, list[Any]] = {c: [e.get(c) for e in entries] for c in ENTRY_KEYS}
    cols["target"] = [TARGET] * len(entries)
    cols["attempted"] = [bool(e.get("attempted")) for e in entries]
    types = {"entity_id": pa.int64(), "remote_id": pa.int64(), "at": pa.timestamp("us"), "attempted": pa.bool_()}
    con.register("_oracle_batch", pa.table({c: pa.array(v, type=types.get(c, pa.string())) for c, v in cols.items()}))
    con.execute(_ORACLE_UPSERT.format(ds=DS))
    con.execute(f"UPDATE {DS}.sync_state SET deleted_action = NULL WHERE deleted_action = ''")
    con.unregister("_oracle_batch")


def _rows(con: Any) -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT {', '.join(STATE_COLUMNS)} FROM {DS}.sync_state ORDER BY key").fetchall()


_T0 = datetime(2026, 1, 1)
_entry = st.fixed_dictionaries({
    "key": st.sampled_from(["k1", "k2", "k3", "k4"]),
    "entity_id": st.none() | st.integers(1, 3),
    "payload_hash": st.none() | st.sampled_from(["A", "B"]),
    "last_payload": st.none() | st.sampled_from(['{"a": 1}', '{"b": 2}']),
    "remote_id": st.none() | st.integers(1, 2),
    "last_status": st.none() | st.sampled_from(["CREATED", "UPDATED", "NOT_MODIFIED", "REJECTED_BY_MAPPING",
                                                "REJECTED_BY_TARGET", "FAILED", "DELETED"]),
    "error_code": st.none() | st.just("400"),
    "error_field": st.none() | st.just("email"),
    "error_message": st.none() | st.just("bad"),
    "run_id": st.sampled_from(["r1", "r2"]),
    "source_version": st.none() | st.sampled_from(["v1", "v2"]),
    "derived_hash": st.none() | st.sampled_from(["d1", "d2"]),
    "mapping_hash": st.none() | st.sampled_from(["m1", "m2"]),
    "deleted_action": st.none() | st.sampled_from(["", "none", "tagged", "deleted"]),
    "attempted": st.booleans(),
    "outcome": st.booleans(),
})


def _unique_keys(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({e["key"]: e for e in batch}.values())  # callers never put a key twice in a batch


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_entry, min_size=1, max_size=4).map(_unique_keys), min_size=1, max_size=6))
def test_batches_leave_the_same_state_rows_as_the_single_upsert(batches: list[list[dict[str, Any]]]) -> None:
    ours, oracle = duckdb.connect(), duckdb.connect()
    try:
        for con in (ours, oracle):
            ensure_ledger(con, DS, ())
        writer = Ledger(ours, DS, TARGET)
        for i, batch in enumerate(batches):
            at = _T0 + timedelta(minutes=i)
            entries = [{**e, "at": at} for e in batch]
            writer.write(entries)
            _oracle_write(oracle, entries)
            assert _rows(ours) == _rows(oracle), f"after batch {i}"
        assert ours.execute(f"SELECT count(*) FROM {DS}.sync_state WHERE deleted_action = ''").fetchall() == [(0,)]
    finally:
        ours.close()
        oracle.close()


def test_a_key_given_twice_in_one_batch_keeps_its_first_entry_and_both_outcomes() -> None:
    con = duckdb.connect()
    ensure_ledger(con, DS, ())
    writer = Ledger(con, DS, TARGET)
    writer.write([{"key": "k", "payload_hash": "A", "last_status": "CREATED", "run_id": "r", "outcome": True},
                  {"key": "k", "payload_hash": "B", "last_status": "FAILED", "run_id": "r", "outcome": True}])
    assert con.execute(f"SELECT payload_hash, accepted_hash, last_status FROM {DS}.sync_state").fetchall() == [
        ("A", "A", "CREATED")]
    assert con.execute(f"SELECT count(*) FROM {DS}.sync_outcomes").fetchall() == [(2,)]


def _hold_first_write(writer: Ledger) -> tuple[Any, Any]:
    """Start a write whose transaction waits until released; returns (release, thread)."""
    import threading

    inside, release = threading.Event(), threading.Event()

    def hold(con: Any) -> None:
        inside.set()
        release.wait(10)

    t = threading.Thread(target=writer.write, args=([{"key": "first", "run_id": "r", "last_status": "CREATED"}],),
                         kwargs={"before": hold})
    t.start()
    assert inside.wait(10)
    return release, t


def _queued(writer: Ledger, n: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while len(writer._waiting) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(writer._waiting) >= n


def test_batches_waiting_for_the_lock_are_written_in_one_transaction() -> None:
    import threading

    con = duckdb.connect()
    ensure_ledger(con, DS, ())
    writer = Ledger(con, DS, TARGET)
    release, first = _hold_first_write(writer)
    threads = [threading.Thread(target=writer.write, args=(
        [{"key": f"k{i}-{j}", "run_id": "r", "payload_hash": "h", "last_status": "CREATED", "outcome": True}
         for j in range(50)],)) for i in range(5)]
    for t in threads:
        t.start()
    _queued(writer, 5)
    release.set()
    for t in [first, *threads]:
        t.join(10)
    assert writer.transactions == 2  # the held one, then the five waiting batches together
    assert con.execute(f"SELECT count(*), count(accepted_hash) FROM {DS}.sync_state").fetchall() == [(251, 250)]
    assert con.execute(f"SELECT count(*) FROM {DS}.sync_outcomes").fetchall() == [(250,)]


def test_waiting_batches_that_share_a_key_are_written_in_order_in_separate_transactions() -> None:
    import threading

    con = duckdb.connect()
    ensure_ledger(con, DS, ())
    writer = Ledger(con, DS, TARGET)
    release, first = _hold_first_write(writer)
    b = threading.Thread(target=writer.write, args=(
        [{"key": "k", "run_id": "r1", "payload_hash": "A", "last_status": "CREATED", "remote_id": 7}],))
    b.start()
    _queued(writer, 1)
    c = threading.Thread(target=writer.write, args=(
        [{"key": "k", "run_id": "r2", "payload_hash": "B", "last_status": "FAILED", "error_code": "500"}],))
    c.start()
    _queued(writer, 2)
    release.set()
    for t in (first, b, c):
        t.join(10)
    assert writer.transactions == 3
    assert con.execute(f"SELECT payload_hash, accepted_hash, last_status, remote_id, run_id FROM {DS}.sync_state "
                       "WHERE key = 'k'").fetchall() == [("B", "A", "FAILED", 7, "r2")]


def test_a_failing_transaction_fails_every_batch_written_in_it() -> None:
    import threading

    con = duckdb.connect()
    ensure_ledger(con, DS, ())
    writer = Ledger(con, DS, TARGET)
    release, first = _hold_first_write(writer)
    errors: list[BaseException] = []

    def write(entries: list[dict[str, Any]], before: Any = None) -> None:
        try:
            writer.write(entries, before)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    def fail(con: Any) -> None:
        raise RuntimeError("caller's table refused")

    threads = [threading.Thread(target=write, args=([{"key": "ok", "run_id": "r", "last_status": "CREATED"}],)),
               threading.Thread(target=write, args=([{"key": "bad", "run_id": "r", "last_status": "CREATED"}], fail))]
    threads[0].start()
    _queued(writer, 1)
    threads[1].start()
    _queued(writer, 2)
    release.set()
    for t in [first, *threads]:
        t.join(10)
    assert len(errors) == 2 and all("refused" in str(e) for e in errors)
    assert con.execute(f"SELECT key FROM {DS}.sync_state").fetchall() == [("first",)]  # both rolled back
