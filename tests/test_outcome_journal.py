"""Outcomes written behind: People's requests go on while the ledger cannot commit (a DuckDB
checkpoint holds every commit), and the journal keeps what the ledger has not written yet, so a
kill in that gap loses no outcome and sends no person twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.core.deliver import Courier, replay_journal
from bc2people.pipelines.ledger import LEDGER_DATASET, TARGET, ensure_ledger, ledger, start_run
from bc2people.pipelines.paths import pipelines_dir_for
from bc2people.pipelines.push import people_delivery, push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from tests.fixtures_push import HandMapping, ledger_rows, stage_real
from tests.fixtures_staging import wait_until

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"
REPO = Path(__file__).resolve().parents[1]


def _rows(n: int, run_id: str) -> list[dict[str, Any]]:
    return [{"key": f"bc-{STORE}-{i}", "entity_id": i, "payload_hash": f"h{i}",
             "payload": json.dumps({"externalId": f"bc-{STORE}-{i}", "firstName": f"P{i}", "contactInformation": [
                 {"type": "EMAIL", "identifier": f"p{i}@example.com"}]}), "run_id": run_id,
             "source_version": None, "derived_hash": None, "mapping_hash": "m", "accepted_before": False}
            for i in range(1, n + 1)]


def _outcomes(db: Path) -> int:
    return int(ledger_rows(db, "SELECT count(*) FROM people_sync.sync_outcomes")[0][0])


def test_people_is_sent_to_while_the_ledger_cannot_commit(push_env: dict[str, Any]) -> None:
    """With the ledger's connection held (as a checkpoint holds every commit), every batch of a
    package still reaches People; each is journaled, and written once the ledger is free."""
    from bc2people.pipelines.contact_removals import ContactTracker

    ps, db = push_env["people"], push_env["db"]
    con = duckdb.connect(str(db))
    ensure_ledger(con)
    writer = ledger(con)
    tracker = ContactTracker(con, LEDGER_DATASET, TARGET, writer.lock)
    delivery = people_delivery(PeopleClient(ps.base_url, ps.api_key), tracker, "r1")
    journal = delivery.journal(pipelines_dir_for(db))
    courier = Courier(pipelines_dir_for(db), delivery, writer, "r1", workers=1, batch_size=10)
    delivered = threading.Event()
    try:
        with writer.lock:  # nothing commits meanwhile
            courier.send(_rows(50, "r1"), lambda tally, n: delivered.set())
            assert delivered.wait(30), "the package waited for the ledger"
            assert ps.requests_served[UPSERT] == 5
            assert len(journal.pending()) == 5
            assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes").fetchall() == [(0,)]
        courier.drain()
        assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes WHERE status = 'CREATED'").fetchall() == [(50,)]
        # the contacts were tracked in the transactions that recorded the batches
        assert con.execute(f"SELECT count(*) FROM {LEDGER_DATASET}.person_contacts").fetchall() == [(50,)]
        assert journal.pending() == []
    finally:
        courier.close()
        con.close()


def _ledger_and_journal(push_env: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(connection, ledger writer, People delivery, its journal) on the test's DuckDB file."""
    db = push_env["db"]
    con = duckdb.connect(str(db))
    ensure_ledger(con)
    delivery = people_delivery(PeopleClient(push_env["people"].base_url, push_env["people"].api_key))
    return con, ledger(con), delivery, delivery.journal(pipelines_dir_for(db))


def _created(n: int) -> list[dict[str, Any]]:
    """Ledger entries of ``n`` persons People created, recorded now."""
    return [{"key": r["key"], "entity_id": r["entity_id"], "payload_hash": r["payload_hash"],
             "last_payload": r["payload"], "last_status": "CREATED", "run_id": "r1", "attempted": True,
             "outcome": True, "at": datetime_now()} for r in _rows(n, "r1")]


def test_a_batch_journaled_after_the_ledger_wrote_it_is_not_written_twice(push_env: dict[str, Any]) -> None:
    """A kill after the ledger's commit but before the journal file's deletion: the next run only
    deletes the file."""
    db = push_env["db"]
    con, writer, delivery, journal = _ledger_and_journal(push_env)
    entries = _created(3)
    try:
        kept = journal.keep(writer.entries_table(entries), [False] * 3)
        writer.write(entries)
        assert replay_journal(pipelines_dir_for(db), delivery, writer) == 0
        assert not kept.exists()
        assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes").fetchall() == [(3,)]
        journal.keep(writer.entries_table(entries[:2]), [False] * 2)  # ... and one that was not written: written now, once
        assert replay_journal(pipelines_dir_for(db), delivery, writer) == 0  # its first key is recorded at that time
        entries_2 = [{**e, "at": datetime_now()} for e in entries[:2]]
        journal.keep(writer.entries_table(entries_2), [False] * 2)
        assert replay_journal(pipelines_dir_for(db), delivery, writer) == 1
        assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes").fetchall() == [(5,)]
        assert journal.pending() == []
    finally:
        con.close()


def datetime_now() -> Any:
    from bc2people.pipelines.core.ledger import utcnow

    return utcnow()


def test_outcomes_written_behind_keep_their_order_and_a_failure_is_raised(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "l.duckdb"))
    ensure_ledger(con)
    writer = ledger(con)
    committed: list[str] = []
    try:
        with writer.lock:
            for status in ("CREATED", "UPDATED"):
                entry = {"key": "k", "payload_hash": status, "last_status": status, "run_id": "r", "attempted": True,
                         "outcome": True}
                writer.write_behind(writer.entries_table([entry]), committed=lambda s=status: committed.append(s))
            assert committed == []  # queued, not written
        writer.flush()
        assert committed == ["CREATED", "UPDATED"]
        assert con.execute("SELECT last_status FROM people_sync.sync_state WHERE key = 'k'").fetchall() == [("UPDATED",)]

        def fails(c: Any) -> None:
            raise RuntimeError("disk full")

        writer.write_behind(writer.entries_table([{"key": "x", "last_status": "CREATED", "outcome": True}]), fails)
        assert wait_until(lambda: writer._behind == 0, timeout=10)
        with pytest.raises(RuntimeError, match="disk full"):
            writer.write_behind(writer.entries_table([{"key": "y", "last_status": "CREATED", "outcome": True}]))
        with pytest.raises(RuntimeError, match="disk full"):
            writer.flush()
        writer.flush()  # reported once
        assert con.execute("SELECT count(*) FROM people_sync.sync_state WHERE key IN ('x', 'y')").fetchall() == [(0,)]
    finally:
        con.close()


CHILD = textwrap.dedent(
    """
    import sys, time, duckdb
    from bc2people.destinations.people.client import PeopleClient
    from bc2people.pipelines.contact_removals import ContactTracker
    from bc2people.pipelines.core.deliver import Courier
    from bc2people.pipelines.ledger import LEDGER_DATASET, TARGET, ledger, start_run
    from bc2people.pipelines.paths import pipelines_dir_for
    from bc2people.pipelines.push import people_delivery, select
    from tests.fixtures_push import HandMapping
    db, url, key = sys.argv[1:4]
    con = duckdb.connect(db)
    start_run(con, "crash-run", "hand", "h", {})
    sel, _ = select(con, HandMapping(), "crash-run", store_hash="sandbox1")
    writer = ledger(con)
    delivery = people_delivery(PeopleClient(url, key), ContactTracker(con, LEDGER_DATASET, TARGET, writer.lock), "crash-run")
    courier = Courier(pipelines_dir_for(db), delivery, writer, "crash-run", workers=1, batch_size=50)
    writer.lock.acquire()  # every commit waits from now on, as behind a checkpoint that never ends
    courier.send(sel.to_send[:200], lambda tally, n: print("DELIVERED", flush=True))
    time.sleep(120)
    """
)


def test_a_kill_before_the_ledger_wrote_the_outcomes_loses_none_and_sends_none_twice(
        push_env: dict[str, Any], customers_factory: Any) -> None:
    ps, db = push_env["people"], push_env["db"]
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(customers_factory(300, seed=5))
        stage_real(bc, db)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), ps.base_url, ps.api_key], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # the package was sent whole: People has its 200 persons
        assert line.strip() == b"DELIVERED", child.stderr.read().decode()[-2000:] if child.stderr else ""
        child.send_signal(signal.SIGKILL)
    finally:
        child.communicate(timeout=30)
    assert ps.requests_served[UPSERT] == 4 and len(ps.persons()) == 200
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.sync_outcomes") == [(0,)]  # none was written

    con = duckdb.connect(str(db))
    start_run(con, "run-2", "hand", "h", {})
    con.close()
    res = push_persons(str(db), HandMapping(), "run-2", store_hash=STORE, batch_size=50, workers=2)
    # the journaled 200 were recorded first: only the 100 never sent go out
    assert res.counts["sent"] == 100
    assert ps.requests_served[UPSERT] == 6
    stored = ps.persons()
    assert len(stored) == len({p["externalId"] for p in stored}) == 300
    by_run = dict(ledger_rows(db, "SELECT run_id, count(*) FROM people_sync.sync_outcomes GROUP BY 1"))
    assert by_run == {"crash-run": 200, "run-2": 100}
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.person_state WHERE last_status = 'CREATED'") == [(300,)]
    # the replayed batches' contacts were tracked as they would have been
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.person_contacts") == [(300,)]
    assert push_persons(str(db), HandMapping(), "run-3", store_hash=STORE).counts["sent"] == 0


def test_a_batch_sharing_a_key_with_one_left_waiting_does_not_overtake_it(tmp_path: Path) -> None:
    """Queued A(k1), B(k1, k3), C(k3): A's transaction cannot take B (k1), nor C, whose k3 would
    then be written before B's: k3 ends as C says."""
    con = duckdb.connect(str(tmp_path / "l.duckdb"))
    ensure_ledger(con)
    writer = ledger(con)

    def entry(key: str, status: str) -> dict[str, Any]:
        return {"key": key, "payload_hash": status, "last_status": status, "run_id": "r", "outcome": True}

    try:
        with writer.lock:
            writer.write_behind(writer.entries_table([entry("k0", "CREATED")]))  # taken at once, then waits for the lock
            assert wait_until(lambda: not writer._waiting, timeout=10)
            writer.write_behind(writer.entries_table([entry("k1", "CREATED")]))
            writer.write_behind(writer.entries_table([entry("k1", "UPDATED"), entry("k3", "CREATED")]))
            writer.write_behind(writer.entries_table([entry("k3", "UPDATED")]))
        writer.flush()
        rows = con.execute("SELECT key, last_status FROM people_sync.sync_state ORDER BY key").fetchall()
        assert rows == [("k0", "CREATED"), ("k1", "UPDATED"), ("k3", "UPDATED")]
    finally:
        con.close()


def test_a_batch_journaled_as_plain_entries_is_replayed(push_env: dict[str, Any]) -> None:
    """A journal file of the first journaling release held the entries alone (no ``target`` or
    ``_pos``): one a kill left is still written to the ledger."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    db = push_env["db"]
    con, writer, delivery, journal = _ledger_and_journal(push_env)
    entries = [{**e, "accepted_before": False} for e in _created(2)]
    journal.folder.mkdir(parents=True)
    table = pa.Table.from_pylist(entries)
    with ipc.new_file(str(journal.folder / f"{0:020d}-1-00000000.arrow"), table.schema) as out:
        out.write_table(table)
    try:
        assert replay_journal(pipelines_dir_for(db), delivery, writer) == 1
        assert con.execute("SELECT key, last_status FROM people_sync.sync_state ORDER BY key").fetchall() == [
            ("bc-sandbox1-1", "CREATED"), ("bc-sandbox1-2", "CREATED")]
        assert journal.pending() == []
    finally:
        con.close()


def _package_past_its_last_batch(push_env: dict[str, Any], writer: Any, delivery: Any, journal: Any) -> Any:
    """A pending package of 300 rows (batches of 1,000) whose state says its file sent 300: what a
    kill after dlt saved the offset past the file's last, partial batch leaves. Returns its pipeline."""
    import dlt
    import pyarrow as pa

    from bc2people.pipelines.core.deliver import Recorder, _pipeline, _row_schema

    pipelines_dir = pipelines_dir_for(push_env["db"])
    recorder = Recorder(writer, "r1", None, 0, journal, delivery.before)
    pipeline = _pipeline(pipelines_dir, delivery, delivery.make_destination(recorder, 1000, 1))
    pipeline.extract(dlt.resource([pa.Table.from_pylist(_rows(300, "r1"), schema=_row_schema())],
                                  name=delivery.table, write_disposition="append"))
    pipeline.normalize()
    (state_file,) = (pipelines_dir / delivery.pipeline_name / "load" / "normalized").glob("*/load_package_state.json")
    (job,) = state_file.parent.glob("new_jobs/persons.*.parquet")
    state = json.loads(state_file.read_text())
    state["destination_state"] = {f"persons.{job.name.split('.')[1]}": 300}
    state_file.write_text(json.dumps(state))
    return pipeline


def test_a_package_killed_after_its_last_partial_batch_resumes(push_env: dict[str, Any]) -> None:
    """dlt saved the offset past a file's last, partial batch (300 rows, batches of 1,000) and the
    kill came before the job was done: the next run sends that batch again instead of failing on
    dlt's "offset must be a multiple of the batch size" on every run."""
    from bc2people.pipelines.core.deliver import resume_pending

    ps = push_env["people"]
    con, writer, delivery, journal = _ledger_and_journal(push_env)
    try:
        _package_past_its_last_batch(push_env, writer, delivery, journal)
        tally = resume_pending(pipelines_dir_for(push_env["db"]), delivery, writer, "r2", workers=1, batch_size=1000)
        assert sum(tally.values()) == 300 and len(ps.persons()) == 300
        assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes").fetchall() == [(300,)]
    finally:
        con.close()


def test_such_a_package_failed_by_earlier_versions_is_delivered_after_the_upgrade(push_env: dict[str, Any]) -> None:
    """Before the offsets were rounded, every run failed on that package, past dlt's retry limit
    (dlt then calls the job terminal but keeps it pending). An upgraded run delivers it: a store
    that failed every night before the upgrade needs nothing done by hand."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    from bc2people.pipelines.core.deliver import resume_pending

    ps = push_env["people"]
    con, writer, delivery, journal = _ledger_and_journal(push_env)
    try:
        pipeline = _package_past_its_last_batch(push_env, writer, delivery, journal)
        for _night in range(7):  # the earlier versions' runs: dlt loads the package as it is, and fails
            with pytest.raises(PipelineStepFailed, match="multiple of"):
                pipeline.load(workers=1)
        assert pipeline.has_pending_data and ps.persons() == []
        tally = resume_pending(pipelines_dir_for(push_env["db"]), delivery, writer, "r2", workers=1, batch_size=1000)
        assert sum(tally.values()) == 300 and len(ps.persons()) == 300
        assert con.execute("SELECT count(*) FROM people_sync.sync_outcomes").fetchall() == [(300,)]
        assert resume_pending(pipelines_dir_for(push_env["db"]), delivery, writer, "r3", workers=1,
                              batch_size=1000) == Counter()
    finally:
        con.close()
