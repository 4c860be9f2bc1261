"""A first run derives its events from every staged order a chunk at a time: the same facts and
snapshots as all at once, and a run cut (or SIGKILLed) between two chunks is finished by the
next one as a first run (the store's history is not turned into TOO_OLD events)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.core.hashing import canonical_json
from bc2people.pipelines.event_facts import WINDOW, changed_order_chunks, order_facts
from bc2people.pipelines.events import FIRST_RUN_TARGET, derive, ensure_event_tables
from bc2people.pipelines.mapping import load_mapping
from bc2people.sandbox.run import start_sandboxes
from tests.fixtures_push import stage_real

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "customers_to_people.yaml"
RECENT = 5  # orders placed within People's 30 days: the only ones a first run turns into events


class Cut(Exception):
    """Stands for the process dying between two chunks' transactions."""


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    """A staged store of 40 customers, their generated (older) orders and a few recent ones."""
    db = tmp_path_factory.mktemp("derive") / "base.duckdb"
    bc, people = start_sandboxes(40, seed=11, orders=True)
    try:
        old = sorted(i for i, o in bc.commerce.orders.items() if o["customer_id"] and o["status_id"] == 11)
        bc.clock.advance(60)
        for cid in (c["id"] for c in bc.store.all()[:RECENT]):
            bc.commerce.create_order_for(cid, 20.0)
        # old orders changed lately: a first run sends what happened to them within the 30 days
        bc.commerce.set_order_status(old[0], 5)
        bc.commerce.refund_order(old[1], 1.0)
        bc.clock.advance(60)
        stage_real(bc, db)
        now = datetime.fromtimestamp(bc.clock.now(), UTC).replace(tzinfo=None)
    finally:
        bc.stop()
        people.stop()
    return db, now


def _derive(db: Path, now: datetime, run_id: str, chunk: int, progress: Any = None) -> int:
    con = duckdb.connect(str(db))
    try:
        ensure_event_tables(con)
        return derive(con, load_mapping(MAPPING), run_id, now=now, backfill_days=None, journal=None, chunk=chunk,
                      progress=progress)
    finally:
        con.close()


def _ledger(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        events = con.execute("SELECT event_id, kind, entity_id, subject, occurred_at, payload, status, reason_code "
                             "FROM people_sync.events ORDER BY event_id").fetchall()
        snaps = con.execute("SELECT target, entity_id, version, state FROM people_sync.event_snapshots "
                            "ORDER BY target, entity_id").fetchall()
    finally:
        con.close()
    return events, snaps


def _reference_and_copy(staged: tuple[Path, datetime], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the staged file derived in one uncut pass, and a fresh copy to cut."""
    base, now = staged
    reference, copy = tmp_path / "reference.duckdb", tmp_path / "copy.duckdb"
    shutil.copyfile(base, reference)
    shutil.copyfile(base, copy)
    _derive(reference, now, "r1", chunk=1_000_000)
    return reference, copy


def test_chunks_record_what_one_pass_records(staged: tuple[Path, datetime], tmp_path: Path) -> None:
    base, now = staged
    whole, chunked = tmp_path / "whole.duckdb", tmp_path / "chunked.duckdb"
    shutil.copyfile(base, whole)
    shutil.copyfile(base, chunked)
    seen: list[int] = []
    n_whole = _derive(whole, now, "r1", chunk=1_000_000)
    n_chunked = _derive(chunked, now, "r1", chunk=7, progress=lambda phase, **kw: seen.append(kw["records"]))
    events, snaps = _ledger(chunked)
    orders = duckdb.connect(str(base), read_only=True).execute("SELECT count(*) FROM bigcommerce.orders").fetchall()[0][0]
    assert orders > 50 and len(seen) >= -(-orders // 7) and seen[-1] == orders
    assert all(b - a <= 7 for a, b in zip([0, *seen], seen, strict=False))
    assert (events, snaps) == _ledger(whole) and n_chunked == n_whole == len(events)
    assert len(snaps) == orders and all(target == "order" for target, *_ in snaps)  # no first-run mark left
    placed = [e for e in events if e[1] == "OrderPlaced"]
    assert len(placed) == RECENT and {e[6] for e in events} <= {"PENDING", "SKIPPED"}
    assert {e[1] for e in events} == {"OrderPlaced", "OrderCancelled", "OrderRefunded"}


def test_a_first_run_cut_between_chunks_is_finished_as_a_first_run(staged: tuple[Path, datetime],
                                                                   tmp_path: Path) -> None:
    now = staged[1]
    reference, cut = _reference_and_copy(staged, tmp_path)

    def die_after_two(phase: str, **kw: Any) -> None:
        if kw["records"] >= 14:
            raise Cut

    with pytest.raises(Cut):
        _derive(cut, now, "r1", chunk=7, progress=die_after_two)
    _events, snaps = _ledger(cut)
    assert (FIRST_RUN_TARGET, 0) in {(t, e) for t, e, *_ in snaps}  # the run is marked unfinished
    assert sum(t == "order" for t, *_ in snaps) == 14  # two chunks recorded, each whole
    _derive(cut, now, "r2", chunk=7)  # the next run: the remaining orders, still as a first run
    assert _ledger(cut) == _ledger(reference)
    events, _snaps = _ledger(cut)
    assert not [e for e in events if e[6] == "TOO_OLD"]  # the history did not become events


def test_a_first_runs_history_read_light_gives_the_same_facts_and_snapshots(staged: tuple[Path, datetime],
                                                                            tmp_path: Path) -> None:
    """Orders created and modified before the horizon are read with their snapshot's columns
    only: what they give (no fact, their snapshot) is what the whole order gives."""
    base, now = staged
    db = tmp_path / "light.duckdb"
    shutil.copyfile(base, db)
    spec = load_mapping(MAPPING).events
    assert spec is not None
    con = duckdb.connect(str(db))
    try:
        ensure_event_tables(con)

        def derived(before: datetime | None) -> tuple[list[Any], list[Any], int]:
            facts, snaps, short = [], [], 0
            for orders in changed_order_chunks(con, "people_sync", history_before=before, chunk=9):
                short += sum("products" not in o for o in orders)
                f, s = order_facts(orders, spec, now, first_run=True)
                facts += [(x.event_id, x.kind, x.occurred_at, canonical_json(x.payload), x.entity_id, x.status)
                          for x in f]
                snaps += [(x.entity_id, x.version, canonical_json(x.state)) for x in s]
            return sorted(facts), sorted(snaps), short

        whole = derived(None)
        light = derived((now - WINDOW - timedelta(days=1)).replace(tzinfo=UTC))
        total = con.execute("SELECT count(*) FROM bigcommerce.orders").fetchall()[0][0]
    finally:
        con.close()
    # the history read light: all but the recent orders and the two old ones changed lately
    assert whole[2] == 0 and light[2] == total - RECENT - 2
    assert light[:2] == whole[:2] and len(whole[1]) == total
    assert {f[1] for f in whole[0]} == {"OrderPlaced", "OrderCancelled", "OrderRefunded"}


CHILD = """
import sys, time
from datetime import datetime
import duckdb
from bc2people.pipelines.events import derive, ensure_event_tables
from bc2people.pipelines.mapping import load_mapping

def progress(phase, **kw):
    print(kw["records"], flush=True)
    time.sleep(0.5)  # the parent kills the process here, between two chunks' transactions

con = duckdb.connect(sys.argv[1])
ensure_event_tables(con)
derive(con, load_mapping(sys.argv[2]), "killed", now=datetime.fromisoformat(sys.argv[3]), backfill_days=None,
       journal=None, chunk=7, progress=progress)
"""


def test_a_first_run_killed_between_chunks_is_finished_by_the_next(staged: tuple[Path, datetime],
                                                                   tmp_path: Path) -> None:
    """SIGKILL of a real process after its second chunk committed: the next run ends as the uncut one."""
    now = staged[1]
    reference, killed = _reference_and_copy(staged, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(killed), str(MAPPING), now.isoformat()],
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=dict(os.environ))
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "7" and proc.stdout.readline().strip() == "14"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    _events, snaps = _ledger(killed)
    assert (FIRST_RUN_TARGET, 0) in {(t, e) for t, e, *_ in snaps} and sum(t == "order" for t, *_ in snaps) == 14
    _derive(killed, now, "r2", chunk=7)
    assert _ledger(killed) == _ledger(reference)
