"""A package a killed drain (or nightly run) left behind is loaded first, and the next cycle's
own records are still staged: dlt would otherwise load the leftover *instead of* the new data,
and the entries would get their fate with the change never staged (found by the lane's SIGKILL
soak: 12 of 153 changes lost)."""

from __future__ import annotations

from typing import Any

from .fixtures_lane import LaneWorld, lane_world  # noqa: F401 - the fixture
from .fixtures_sync import MAPPING


def _leave_pending_then_drain(w: LaneWorld, source: Any, changed: int) -> None:
    """A run killed after normalizing ``source`` (its package left pending), then ``changed``
    renamed "Fresh" in the store and one drain until idle."""
    from bc2people.pipelines.staging import make_pipeline

    pipeline = make_pipeline(w.duckdb)
    pipeline.extract(source)
    pipeline.normalize()
    assert pipeline.has_pending_data
    w.bc.clock.advance(1)
    w.bc.update_customer(changed, first_name="Fresh")
    w.wait_delivered(len({p["hash"] for p in w.bc.commerce.webhook_payloads}))
    w.drainer().run(until_idle=True)


def test_a_cycle_after_a_killed_load_stages_its_own_changes(lane_world: LaneWorld) -> None:  # noqa: F811
    from bc2people.pipelines.staging import make_pipeline
    from bc2people.pipelines.sync import run_sync
    from bc2people.sources.bigcommerce.by_id import bigcommerce_records

    w = lane_world
    assert run_sync(MAPPING, w.duckdb).exit_code == 0
    first, second = (c["id"] for c in w.bc.customers()[:2])
    # a drain killed after normalizing its batch, before loading it: a package is left pending
    w.bc.update_customer(first, first_name="Leftover")
    _leave_pending_then_drain(w, bigcommerce_records([w.bc.customer(first)], []), second)

    assert w.people.person_by_external_id(f"bc-{w.bc.store_hash}-{second}")["firstName"] == "Fresh"
    assert w.people.person_by_external_id(f"bc-{w.bc.store_hash}-{first}")["firstName"] == "Leftover"
    assert not make_pipeline(w.duckdb).has_pending_data


def test_a_leftover_appended_segment_loaded_by_a_cycle_leaves_one_row_per_customer(
    lane_world: LaneWorld,  # noqa: F811
) -> None:
    # A first sync appends its segments; killed after normalizing one whose customers were
    # already staged (read again after an earlier kill), it leaves a package that appends them
    # a second time. The lane's next cycle loads that package first: ids stay unique.
    import duckdb

    from bc2people.pipelines.staging import make_pipeline
    from bc2people.pipelines.sync import run_sync
    from bc2people.sources.bigcommerce.by_id import bigcommerce_records

    w = lane_world
    assert run_sync(MAPPING, w.duckdb).exit_code == 0
    again, changed = (c["id"] for c in w.bc.customers()[:2])
    segment = bigcommerce_records([w.bc.customer(again)], [])
    segment.resources["customers"].apply_hints(write_disposition="append")
    _leave_pending_then_drain(w, segment, changed)

    con = duckdb.connect(str(w.duckdb))
    try:
        assert con.execute("SELECT count(*) - count(DISTINCT id) FROM bigcommerce.customers").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM bigcommerce.customers WHERE id = ?", [again]).fetchone() == (1,)
    finally:
        con.close()
    assert w.people.person_by_external_id(f"bc-{w.bc.store_hash}-{changed}")["firstName"] == "Fresh"
    assert not make_pipeline(w.duckdb).has_pending_data
