"""The overlapped push (issue 16 target 5): the selection runs in parts in a thread while the
persons already selected are delivered, a dlt load package per ``delivery_chunk``; a batch's
contacts are written in its ledger transaction. Same outcomes, same crash safety."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.errors import PeopleAuthError
from bc2people.pipelines.contact_removals import ContactTracker
from bc2people.pipelines.core.ledger import Ledger
from bc2people.pipelines.core.model import Selected
from bc2people.pipelines.core.plan import merge_selected, select_and_diff, select_chunks
from bc2people.pipelines.ledger import LEDGER_DATASET, TARGET, ensure_ledger, start_run
from bc2people.pipelines.push import person_spec, push_persons
from tests.fixtures_push import (
    HandMapping,
    assert_person_matches,
    expected_persons,
    ledger_rows,
    mark_deleted,
    stage,
)

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"
REPO = Path(__file__).resolve().parents[1]


def test_parts_merge_into_the_whole_selection(tmp_path: Path, customers_factory: Any) -> None:
    db = tmp_path / "s.duckdb"
    stage(db, customers_factory(1200, seed=11))
    mark_deleted(db, [3, 500, 1100])
    con = duckdb.connect(str(db))
    try:
        ensure_ledger(con)
        spec = person_spec(HandMapping(reject_ids=[7, 900]), STORE)
        whole = select_and_diff(con, spec, "r1", sample=7, chunk_size=5000)
        parts = list(select_chunks(con, spec, "r1", sample=7, chunk_size=250))
    finally:
        con.close()
    # the first part holds the deletions and the selected count; then one part per 250 live records
    assert len(parts) == 1 + math.ceil(1197 / 250)
    assert [d["entity_id"] for d in parts[0].deletions] == [3, 500, 1100] and not parts[0].to_send
    assert all(not p.deletions for p in parts[1:])
    merged = Selected()
    for p in parts:
        merge_selected(merged, p)
    assert merged.to_send == whole.to_send and len(whole.to_send) == 1195
    assert merged.entries == whole.entries and merged.deletions == whole.deletions
    assert merged.counts == whole.counts and merged.counts["selected"] == 1200
    assert merged.sample_diffs == whole.sample_diffs and len(merged.sample_diffs) == 7
    assert all(r["accepted_before"] is False for r in merged.to_send)  # a first run: nobody accepted yet


def test_chunked_delivery_sends_everyone_once(push_env: dict[str, Any], customers_factory: Any) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(2300, seed=5))
    mapping = HandMapping(bad_email_ids=[12])
    res = push_persons(str(db), mapping, "r1", store_hash=STORE, batch_size=250, workers=2, delivery_chunk=1000)
    assert res.counts["sent"] == 2300 and res.counts["created"] == 2299 and res.counts["rejected_by_people"] == 1
    # packages of 1000, 1000 and 300 persons, each split into whole batches of 250
    assert ps.requests_served[UPSERT] == 4 + 4 + 2
    expected = expected_persons(db, mapping, STORE)
    del expected[f"bc-{STORE}-12"]
    by_ext = {p["externalId"]: p for p in ps.persons()}
    assert len(by_ext) == len(ps.persons()) == 2299
    for ext, payload in expected.items():
        assert_person_matches(by_ext.get(ext), payload)
    tracked = ledger_rows(db, f"SELECT count(*) FROM {LEDGER_DATASET}.person_contacts")[0][0]
    assert tracked == 2299  # every accepted person's contacts, written with its ledger batch
    before = sum(ps.requests_served.values())
    again = push_persons(str(db), mapping, "r2", store_hash=STORE, delivery_chunk=1000)
    assert again.counts["sent"] == 0 and sum(ps.requests_served.values()) == before


def test_a_delivery_error_stops_the_selection_thread(push_env: dict[str, Any], customers_factory: Any) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(1500, seed=6))
    client = PeopleClient(ps.base_url, "not-the-key", timeout=5.0, backoff_base=0.02, backoff_cap=0.2)
    with pytest.raises(PeopleAuthError):
        push_persons(str(db), HandMapping(), "r1", store_hash=STORE, client=client, delivery_chunk=200)
    assert not [t for t in threading.enumerate() if t.name == "push-select"]
    assert ps.persons() == []
    # nothing was recorded as accepted: the next run (right key) sends everyone
    res = push_persons(str(db), HandMapping(), "r2", store_hash=STORE, delivery_chunk=200)
    assert res.counts["created"] == 1500 and len(ps.persons()) == 1500


def test_a_batch_bookkeeping_commits_or_rolls_back_with_its_ledger_rows(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "l.duckdb"))
    try:
        ensure_ledger(con)
        con.execute("CREATE TABLE side (k VARCHAR)")
        writer = Ledger(con, LEDGER_DATASET, TARGET)
        entry = {"key": "k1", "entity_id": 1, "payload_hash": "h", "last_payload": "{}", "last_status": "CREATED",
                 "attempted": True, "outcome": True}

        def failing(c: Any) -> None:
            c.execute("INSERT INTO side VALUES ('k1')")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            writer.write([entry], failing)
        assert con.execute("SELECT count(*) FROM side").fetchall() == [(0,)]
        assert con.execute(f"SELECT count(*) FROM {LEDGER_DATASET}.sync_state").fetchall() == [(0,)]
        assert con.execute(f"SELECT count(*) FROM {LEDGER_DATASET}.sync_outcomes").fetchall() == [(0,)]

        seen: list[Any] = []

        def reads_the_ledger_before_the_batch(c: Any) -> None:
            seen.append(c.execute(f"SELECT count(*) FROM {LEDGER_DATASET}.sync_state").fetchall()[0])
            c.execute("INSERT INTO side VALUES ('k1')")

        writer.write([entry], reads_the_ledger_before_the_batch)
        assert seen == [(0,)]
        assert con.execute("SELECT count(*) FROM side").fetchall() == [(1,)]
        assert con.execute(f"SELECT accepted_hash FROM {LEDGER_DATASET}.sync_state").fetchall() == [("h",)]
    finally:
        con.close()


def test_tracked_contacts_are_compared_whatever_the_row_says(tmp_path: Path) -> None:
    """A row's ``accepted_before`` is what the selection saw: False for a customer read twice in
    one first sync whose first copy People accepted since. Its tracked contacts still count."""
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    try:
        ensure_ledger(con)
        writer = Ledger(con, LEDGER_DATASET, TARGET)
        tracker = ContactTracker(con, LEDGER_DATASET, TARGET, writer.lock)
        old = '{"externalId":"k","contactInformation":[{"type":"EMAIL","identifier":"old@example.com"}]}'
        new = '{"externalId":"k","contactInformation":[{"type":"EMAIL","identifier":"new@example.com"}]}'
        assert tracker.accepted([{"key": "k", "payload": old}], ["CREATED"], "r1") == 0
        # accepted before, unknown (an older load package) or accepted earlier in this run: the
        # old email is queued
        for flag in (True, None, False):
            con.execute(f"DELETE FROM {LEDGER_DATASET}.contact_removals")
            tracker.accepted([{"key": "k", "payload": old}], ["UPDATED"], "r1")
            row = {"key": "k", "payload": new, **({} if flag is None else {"accepted_before": flag})}
            assert tracker.accepted([row], ["UPDATED"], "r2") == 1
            assert con.execute(f"SELECT identifier FROM {LEDGER_DATASET}.contact_removals").fetchall() == [
                ("old@example.com",)]
    finally:
        con.close()


CHILD = textwrap.dedent(
    """
    import sys, duckdb
    from bc2people.pipelines.ledger import start_run
    from bc2people.pipelines.push import push_persons
    from tests.fixtures_push import HandMapping
    db = sys.argv[1]
    con = duckdb.connect(db); start_run(con, "crash-run", "hand", "h", {}); con.close()
    push_persons(db, HandMapping(bad_email_ids=[4]), "crash-run", store_hash="sandbox1", batch_size=50, workers=2,
                 delivery_chunk=100)
    print("FINISHED")
    """
)


def test_sigkill_between_chunks_then_rerun_converges(push_env: dict[str, Any], customers_factory: Any) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(700, seed=4))
    ps.latency_ms = 150
    ps.rate_limit = 5
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while ps.requests_served[UPSERT] < 5:  # past the first package of 100 persons
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the push never started sending"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL and b"FINISHED" not in out, err.decode()[-2000:]
    assert 0 < len(ps.persons()) < 699

    ps.latency_ms = 0
    mapping = HandMapping(bad_email_ids=[4])
    con = duckdb.connect(str(db))
    start_run(con, "run-2", "hand", "h", {})
    con.close()
    push_persons(str(db), mapping, "run-2", store_hash=STORE, batch_size=50, workers=2, delivery_chunk=100)

    expected = expected_persons(db, mapping, STORE)
    del expected[f"bc-{STORE}-4"]
    stored = ps.persons()
    by_ext = {p["externalId"]: p for p in stored}
    assert len(stored) == len(by_ext) == len(expected) == 699  # none missing, none duplicated
    for ext, payload in expected.items():
        assert_person_matches(by_ext.get(ext), payload)
    rows = ledger_rows(db, "SELECT external_id, last_status, people_id, accepted_hash = payload_hash "
                           "FROM people_sync.person_state")
    state = {r[0]: r[1:] for r in rows}
    assert len(state) == 700 and state[f"bc-{STORE}-4"][0] == "REJECTED_BY_PEOPLE"
    for ext, person in by_ext.items():
        status, people_id, accepted = state[ext]
        assert status in ("CREATED", "UPDATED", "NOT_MODIFIED") and accepted and people_id == person["id"], ext
    tracked = ledger_rows(db, f"SELECT count(*) FROM {LEDGER_DATASET}.person_contacts")[0][0]
    assert tracked == 699
    before = sum(ps.requests_served.values())
    again = push_persons(str(db), mapping, "run-3", store_hash=STORE)
    assert again.counts["sent"] == 0 and sum(ps.requests_served.values()) == before
