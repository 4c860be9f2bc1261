"""``bc2people sync`` sweeps for deletions by default; ``--no-sweep-deletions`` skips it."""

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


def _marked(w: World) -> int:
    return int(ledger_rows(w.duckdb, "SELECT count(*) FROM people_sync.customers_deleted_in_store")[0][0])


def test_sync_sweeps_by_default_and_not_when_told_not_to(new_world: World) -> None:
    w = new_world
    w.bc.add_customers(generate_customers(30, seed=43, now=w.bc.clock.now() - 3600))
    assert w.sync().returncode == 0
    ids = sorted(c["id"] for c in w.bc.store.all())
    w.bc.delete_customer(ids[3])
    w.bc.delete_customer(ids[17])
    out = w.sync()  # no flag
    assert out.returncode == 0, out
    assert out.summary["counts"]["deleted_in_store"] == 2 and _marked(w) == 2

    w.bc.delete_customer(ids[20])
    out = w.sync("--no-sweep-deletions")
    assert out.returncode == 0, out
    assert out.summary["counts"]["deleted_in_store"] == 0 and _marked(w) == 2
