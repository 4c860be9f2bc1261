"""Persons People fails on individually (a 5xx-class error item, or no entry in the 207) are
FAILED after the run, shown as pending by the reconciliation, and delivered by the next run
without any change in the store.

Goes through the CLI, the People sandbox's per-person fault mode and the analysts' tables and
views only, so it holds whatever the selector and ledger look like inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_resilience import World, expected_from_store, ledger_rows, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, people_rate_limit=None)
    with w.bc, w.people:
        w.bc.add_customers(generate_customers(30, seed=23, now=w.bc.clock.now() - 3600))
        yield w


def _state(w: World, ext_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    rows = ledger_rows(w.duckdb, "SELECT external_id, last_status, error_code, accepted_hash FROM "
                                 "people_sync.person_state WHERE external_id IN (SELECT unnest(?))", [ext_ids])
    return {r[0]: r[1:] for r in rows}


def _pending(w: World) -> dict[str, str]:
    rows = ledger_rows(w.duckdb, "SELECT external_id, reason FROM people_sync.customers_pending")
    return {str(r[0]): str(r[1]) for r in rows}


def _overall(w: World) -> dict[str, Any]:
    cur = ledger_rows(w.duckdb, "SELECT pending, accepted, staged_active FROM people_sync.reconcile_overall")
    return dict(zip(("pending", "accepted", "staged_active"), cur[0], strict=True))


def test_persons_people_failed_on_are_resent_by_the_next_run(world: World) -> None:
    w = world
    expected = expected_from_store(w.bc)
    candidates = sorted(expected.persons)
    assert len(candidates) >= 10
    errored, omitted = candidates[1:3], candidates[5:7]
    chosen = errored + omitted
    w.people.fail_persons(error=errored, omit=omitted)

    first = w.sync()
    assert first.returncode in (0, 3), first
    assert first.summary["counts"]["failed"] == len(chosen), first
    assert w.people.person_faults.hits == {ext: 1 for ext in chosen}
    state = _state(w, chosen)
    assert sorted(state) == sorted(chosen)
    for ext in errored:
        assert state[ext][0] == "FAILED" and state[ext][1] == "500100" and state[ext][2] is None, (ext, state[ext])
    for ext in omitted:
        assert state[ext][0] == "FAILED" and state[ext][2] is None, (ext, state[ext])
    assert all(w.people.person_by_external_id(ext) is None for ext in chosen)
    # in between, the reconciliation says these four are not delivered yet, and why
    pending = _pending(w)
    assert {ext: pending.get(ext) for ext in chosen} == {ext: "delivery failed" for ext in chosen}
    overall = _overall(w)
    assert overall["pending"] == len(chosen)
    assert overall["accepted"] == len(expected.persons) - len(chosen)

    # People recovers; nothing changes in the store: the next run delivers exactly those four
    w.people.fail_persons()
    upserts_before = w.upserts()
    second = w.sync()
    assert second.returncode == 0, second
    counts = second.summary["counts"]
    assert counts["extracted"] == 0, second
    assert (counts["sent"], counts["created"], counts["failed"]) == (len(chosen), len(chosen), 0), counts
    assert w.upserts() > upserts_before
    assert all(w.people.person_by_external_id(ext) is not None for ext in chosen)
    assert {ext: s[0] for ext, s in _state(w, chosen).items()} == {ext: "CREATED" for ext in chosen}
    assert not set(chosen) & set(_pending(w))
    overall = _overall(w)
    assert overall["pending"] == 0
    assert overall["accepted"] == len(expected.persons)
