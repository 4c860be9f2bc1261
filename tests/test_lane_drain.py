"""The drain end to end: store changes → signed webhooks → intake → re-fetch → staging → People."""

from __future__ import annotations

import json

import duckdb

from .fixtures_lane import LaneWorld, lane_world  # noqa: F401 - the fixture
from .fixtures_sync import MAPPING


def _nightly(w: LaneWorld) -> None:
    from bc2people.pipelines.sync import run_sync

    res = run_sync(MAPPING, w.duckdb)
    assert res.exit_code == 0, res.error


def _ext(w: LaneWorld, cid: int) -> str:
    return f"bc-{w.bc.store_hash}-{cid}"


def _accepted(w: LaneWorld, key: str) -> int:
    """How many payloads People accepted (created/updated) for a person, over all runs."""
    con = duckdb.connect(str(w.duckdb), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM people_sync.sync_outcomes WHERE key = ? AND status IN "
                          "('CREATED', 'UPDATED')", [key]).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_customer_address_order_and_deletion_reach_people_through_the_lane(lane_world: LaneWorld) -> None:  # noqa: F811
    w = lane_world
    _nightly(w)
    cids = [c["id"] for c in w.bc.customers()[:4]]
    upd, addr, buyer, gone = cids
    accepted_before = _accepted(w, _ext(w, upd))
    w.bc.update_customer(upd, first_name="Lanefirst")
    w.bc.clock.advance(1)  # the next event of this customer has another created_at, so another hash
    w.bc.update_customer(upd, first_name="Lanesecond")  # two events, one re-fetch (collapsed)
    old = w.bc.customer(addr)
    addresses = [{**(old["addresses"][0] if old["addresses"] else {"id": 999, "customer_id": addr}),
                  "city": "Zagreb"}]
    w.bc.update_customer(addr, touch=False, addresses=addresses)  # address only: no customer/updated
    w.bc.commerce.create_order_for(buyer, 4321.0)
    w.bc.delete_customer(gone)
    new = w.bc.create_customer(email="lane.new@example.com", first_name="Nova", last_name="Lane")
    scopes = [p["scope"] for p in w.bc.commerce.webhook_payloads]
    assert "store/customer/address/updated" in scopes and scopes.count("store/customer/updated") == 2
    w.wait_delivered(len({p["hash"] for p in w.bc.commerce.webhook_payloads}))

    stats = w.drainer().run(until_idle=True)

    assert w.people.person_by_external_id(_ext(w, upd))["firstName"] == "Lanesecond"
    assert _accepted(w, _ext(w, upd)) == accepted_before + 1  # one accepted payload for the collapsed pair
    assert "Zagreb" in json.dumps(w.people.person_by_external_id(_ext(w, addr)))  # the mapped city
    assert "bc-deleted" in (w.people.person_by_external_id(_ext(w, gone)).get("tags") or [])
    assert w.people.person_by_external_id(_ext(w, new["id"]))["firstName"] == "Nova"
    buyer_traits = w.people.person_by_external_id(_ext(w, buyer))["customAttributes"]
    assert float(buyer_traits["bc_lifetime_value"]) >= 4321.0
    assert stats.collapsed >= 1 and stats.customers_gone == 1

    from bc2people.pipelines.lane.intake import Intake

    intake = Intake(w.intake_path)
    try:
        rows = list(intake.rows())
    finally:
        intake.close()
    assert rows and all(r["state"] in ("done", "ignored") for r in rows)  # every delivery has its fate
    fates = {(r["kind"], r["entity_id"]): r["fate"] for r in rows if r["fate"] != "collapsed"}
    assert fates[("customer", str(gone))] == "deleted in store"
    assert fates[("customer", str(upd))] == "synced"


def test_a_second_drain_sends_nothing_new(lane_world: LaneWorld) -> None:  # noqa: F811
    w = lane_world
    _nightly(w)
    cid = w.bc.customers()[5]["id"]
    w.bc.update_customer(cid, last_name="Once")
    w.wait_delivered(1)
    w.drainer().run(until_idle=True)
    sent = w.people.requests_served.copy()
    # A hook's hash covers its store-clock second: a second change within the first one's second
    # would be stored as its twin (see `Intake.append_many`), so this one comes a second later.
    w.bc.clock.advance(1)
    w.bc.update_customer(cid, touch=False, notes="staff-only note")  # a hook fires; notes are not mapped
    w.wait_delivered(2)
    w.drainer().run(until_idle=True)
    upserts = "PATCH /people/3/persons/upsert"
    assert w.people.requests_served[upserts] == sent[upserts]
    assert _accepted(w, _ext(w, cid)) == 2  # created by the nightly run, updated once by the lane
