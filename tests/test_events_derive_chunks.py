"""A first run derives its events from every staged order a chunk at a time: the same facts and
snapshots as all at once, and a run cut between two chunks is finished by the next one as a
first run (the store's history is not turned into TOO_OLD events)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

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
        bc.clock.advance(60)
        for cid in (c["id"] for c in bc.store.all()[:RECENT]):
            bc.commerce.create_order_for(cid, 20.0)
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
    assert orders > 50 and len(seen) == -(-orders // 7) and seen[-1] == orders
    assert (events, snaps) == _ledger(whole) and n_chunked == n_whole == len(events)
    assert len(snaps) == orders and all(target == "order" for target, *_ in snaps)  # no first-run mark left
    placed = [e for e in events if e[1] == "OrderPlaced"]
    assert len(placed) == RECENT and {e[6] for e in events} <= {"PENDING", "SKIPPED"}


def test_a_first_run_cut_between_chunks_is_finished_as_a_first_run(staged: tuple[Path, datetime],
                                                                   tmp_path: Path) -> None:
    base, now = staged
    reference, cut = tmp_path / "reference.duckdb", tmp_path / "cut.duckdb"
    shutil.copyfile(base, reference)
    shutil.copyfile(base, cut)
    _derive(reference, now, "r1", chunk=1_000_000)

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
