"""A package a killed drain (or nightly run) left behind is loaded first, and the next cycle's
own records are still staged: dlt would otherwise load the leftover *instead of* the new data,
and the entries would get their fate with the change never staged (found by the lane's SIGKILL
soak: 12 of 153 changes lost)."""

from __future__ import annotations

from .fixtures_lane import LaneWorld, lane_world  # noqa: F401 - the fixture
from .fixtures_sync import MAPPING


def test_a_cycle_after_a_killed_load_stages_its_own_changes(lane_world: LaneWorld) -> None:  # noqa: F811
    from bc2people.pipelines.staging import make_pipeline
    from bc2people.pipelines.sync import run_sync
    from bc2people.sources.bigcommerce.by_id import bigcommerce_records

    w = lane_world
    assert run_sync(MAPPING, w.duckdb).exit_code == 0
    first, second = (c["id"] for c in w.bc.customers()[:2])
    # a drain killed after normalizing its batch, before loading it: a package is left pending
    w.bc.update_customer(first, first_name="Leftover")
    pipeline = make_pipeline(w.duckdb)
    pipeline.extract(bigcommerce_records([w.bc.customer(first)], []))
    pipeline.normalize()
    assert pipeline.has_pending_data
    w.bc.clock.advance(1)
    w.bc.update_customer(second, first_name="Fresh")
    w.wait_delivered(len({p["hash"] for p in w.bc.commerce.webhook_payloads}))

    w.drainer().run(until_idle=True)

    assert w.people.person_by_external_id(f"bc-{w.bc.store_hash}-{second}")["firstName"] == "Fresh"
    assert w.people.person_by_external_id(f"bc-{w.bc.store_hash}-{first}")["firstName"] == "Leftover"
    assert not make_pipeline(w.duckdb).has_pending_data
