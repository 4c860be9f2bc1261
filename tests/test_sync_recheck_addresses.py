"""Issue 14 item 4: an address edit that leaves the customer's ``date_modified`` alone still
reaches People with ``sync --recheck-addresses``, and only the real change is sent.

The spec documents no ``date_modified`` filter on ``GET /v3/customers/addresses``, so the
re-check is a full re-read of the customers whose People diff sends only changed persons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_resilience import RES_STORE, World, make_world

N = 40


@pytest.fixture
def world(tmp_path: Path) -> Any:
    w = make_world(tmp_path, people_rate_limit=None)
    w.bc.add_customers(generate_customers(N, seed=144, now=w.bc.clock.now() - 3600))
    with w.bc, w.people:
        yield w


def _with_address(world: World) -> int:
    return next(c["id"] for c in world.bc.customers() if c.get("addresses") and c.get("email"))


def _people_city(world: World, cid: int) -> Any:
    person = world.people.person_by_external_id(f"bc-{RES_STORE}-{cid}")
    assert person is not None
    return person.get("city")


@pytest.mark.parametrize("touches", [True, False])
def test_an_address_edit_reaches_people_with_recheck_addresses(world: World, touches: bool) -> None:
    world.bc.address_edits_touch_customer = touches
    assert world.sync().returncode == 0
    cid = _with_address(world)
    before = world.bc.customer(cid)
    world.bc.clock.advance(5)
    world.bc.edit_address(cid, 0, city="Recheckville")
    assert (world.bc.customer(cid)["date_modified"] != before["date_modified"]) is touches
    world.bc.clock.advance(120)

    plain = world.sync()
    assert plain.returncode == 0, plain
    if touches:  # the store bumped the customer: the nightly run sees the edit
        assert _people_city(world, cid) == "Recheckville"
        return
    assert _people_city(world, cid) != "Recheckville"  # the incremental window cannot see it

    rechecked = world.sync("--recheck-addresses")
    assert rechecked.returncode == 0, rechecked
    assert _people_city(world, cid) == "Recheckville"
    counts = rechecked.summary["counts"]
    assert counts["extracted"] == N  # every customer was re-read ...
    assert counts["sent"] == counts["updated"] == 1  # ... and only the real change was sent
