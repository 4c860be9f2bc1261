"""The deletion-sweep guard, pinned at its boundaries through ``bc2people sync --sweep-deletions``.

The guard refuses a listing that would newly mark MORE than half of the live staged customers
as deleted, once at least 20 are staged (`GUARD_MIN_ROWS`): exactly half passes, one more is
refused; 19 staged customers are not guarded, 20 are. A refused sweep fails the run and marks
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_resilience import World, ledger_rows, make_world


@pytest.fixture
def new_world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, people_rate_limit=None)
    with w.bc, w.people:
        yield w


def _staged_then_delete(w: World, staged: int, deleted: int) -> None:
    w.bc.add_customers(generate_customers(staged, seed=41, now=w.bc.clock.now() - 3600))
    first = w.sync()
    assert first.returncode == 0, first
    assert ledger_rows(w.duckdb, "SELECT count(*) FROM bigcommerce.customers")[0][0] == staged
    for cid in sorted(c["id"] for c in w.bc.store.all())[:deleted]:
        w.bc.delete_customer(cid)
    assert len(w.bc.store.all()) == staged - deleted


def _marked(w: World) -> int:
    return int(ledger_rows(w.duckdb, "SELECT count(*) FROM people_sync.customers_deleted_in_store")[0][0])


@pytest.mark.parametrize(("staged", "deleted"), [(40, 20), (19, 19)], ids=["exactly-half", "below-min-rows"])
def test_sweep_at_the_limit_marks_the_deletions(new_world: World, staged: int, deleted: int) -> None:
    w = new_world
    _staged_then_delete(w, staged, deleted)
    out = w.sync("--sweep-deletions")
    assert out.returncode == 0, out
    assert out.summary["counts"]["deleted_in_store"] == deleted
    assert _marked(w) == deleted


@pytest.mark.parametrize(("staged", "deleted"), [(40, 21), (20, 11)], ids=["half-plus-one", "at-min-rows"])
def test_sweep_past_the_limit_is_refused_and_marks_nothing(new_world: World, staged: int, deleted: int) -> None:
    w = new_world
    _staged_then_delete(w, staged, deleted)
    out = w.sync("--sweep-deletions")
    assert out.returncode == 1, out
    assert "deletion sweep refused" in out.stdout + out.stderr, out
    assert _marked(w) == 0
    status = ledger_rows(w.duckdb, "SELECT status FROM people_sync.runs ORDER BY started_at DESC LIMIT 1")
    assert status == [("failed",)]
