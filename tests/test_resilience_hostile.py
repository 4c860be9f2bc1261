"""Hostile customers (the generator's nastiest corner) flow through the whole job without a crash:
each one ends in People exactly as mapped, or in ``person_state`` with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers, nasty_customers
from tests.fixtures_resilience import (
    RES_STORE,
    expected_from_store,
    ledger_problems,
    ledger_rows,
    make_world,
    people_problems,
    people_rejections,
    runs_problems,
    staging_duplicates,
)

PREFIX = f"bc-{RES_STORE}-"
N_NASTY = 120


@pytest.mark.slow
def test_nasty_customers_end_in_people_or_in_person_state_with_a_reason(tmp_path: Path) -> None:
    world = make_world(tmp_path, people_rate_limit=None)
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(200, seed=61, now=world.bc.clock.now() - 3600))
        world.bc.add_customers(nasty_customers(N_NASTY, seed=61, start_id=5001))
        first = world.sync()
        assert first.returncode == 0, first
        assert "Traceback" not in first.stderr
        counts = first.summary["counts"]
        assert counts["staged"] == 200 + N_NASTY == counts["extracted"]
        assert counts["mapped"] + counts["rejected_by_mapping"] == 200 + N_NASTY

        expected = expected_from_store(world.bc)
        nasty_ids = set(range(5001, 5001 + N_NASTY))
        assert nasty_ids & set(expected.rejected) and nasty_ids & set(expected.ext_of)  # both outcomes occur
        by_people = people_rejections(world.duckdb)
        assert all(reason for reason in by_people.values()), by_people
        assert not people_problems(world.people, expected, prefix=PREFIX, refused=by_people)[:10]
        assert not ledger_problems(world.duckdb, world.people, expected, refused=by_people)[:10]
        rows = ledger_rows(world.duckdb, "SELECT customer_id, last_status, error_message FROM people_sync.person_state "
                                         "WHERE customer_id >= 5001")
        assert {r[0] for r in rows} == nasty_ids  # every hostile customer has its row
        for cid, status, reason in rows:
            if status not in ("CREATED", "UPDATED", "NOT_MODIFIED"):
                assert status in ("REJECTED_BY_MAPPING", "REJECTED_BY_PEOPLE") and reason, (cid, status, reason)

        # hostile values hash stably: a second run finds nothing to send
        again = world.sync()
        assert again.returncode == 0, again
        assert again.summary["counts"]["sent"] == 0, again.summary
        assert staging_duplicates(world.duckdb) == 0
        assert not runs_problems(world.duckdb, world.runs)
