"""Commerce events end to end: ``run_sync`` against both sandboxes derives order changes and
cart conversions, sends each event once, and a quiet re-run sends no event request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.answers.webhook import CartConverted, CartJournal
from bc2people.pipelines.sync import run_sync
from bc2people.sandbox.run import env_for, start_sandboxes

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "customers_to_people.yaml"
EVENT_PATHS = ("POST /people/3/events", "GET /peopleevents/2/definitions", "POST /peopleevents/2/definitions")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Path]]:
    monkeypatch.chdir(tmp_path)
    bc, people = start_sandboxes(40, seed=5, orders=True)
    people.rate_limit = None
    for key, value in env_for(bc, people).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EVENTS__CART_JOURNAL", str(tmp_path / "carts.jsonl"))
    try:
        yield bc, people, tmp_path
    finally:
        bc.stop()
        people.stop()


def q(db: Path, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def event_requests(people: Any) -> int:
    return sum(n for k, n in people.requests_served.items() if "event" in k.lower())


def test_order_changes_become_events_once_and_quiet_runs_send_nothing(world: Any) -> None:
    bc, people, tmp = world
    db = tmp / "e.duckdb"
    first = run_sync(MAPPING, db, max_rejected_pct=100)
    assert first.exit_code == 0, first.error
    # generated history is older than 30 days: it reaches People as traits, not as events
    assert first.counts["events_emitted"] == 0 and event_requests(people) == 0
    assert q(db, "SELECT count(*) FROM people_sync.event_snapshots")[0][0] == first.counts["orders_staged"]

    buyers = [r[0] for r in q(db, "SELECT id FROM bigcommerce.customers ORDER BY id LIMIT 3")]
    open_orders = [r[0] for r in q(db, "SELECT id FROM bigcommerce.orders WHERE customer_id > 0 AND status_id = 11 "
                                       "AND NOT is_deleted ORDER BY id LIMIT 3")]
    bc.clock.advance(120)
    new = [bc.commerce.create_order_for(c, 42.0)["id"] for c in buyers]
    bc.commerce.set_order_status(open_orders[0], 5)  # cancelled: status change + cancellation
    bc.commerce.set_order_status(open_orders[1], 2)  # shipped: status change
    bc.commerce.refund_order(open_orders[2], 3.0)    # refund: status change (14) + refund
    CartJournal(tmp / "carts.jsonl")(CartConverted(order_id=new[0], cart_id="0b3a4e0c-8d1c-4f1a-9e3b-3f8f2b1c0d9e",
                                                   store_id="1", producer="stores/x", hash="a" * 40,
                                                   created_at=int(bc.clock.now())))
    bc.clock.advance(120)
    second = run_sync(MAPPING, db, max_rejected_pct=100)
    assert second.exit_code == 0, second.error
    stored = people.events.all_events()
    by_type: dict[str, int] = {}
    for e in stored:
        by_type[e["definitionId"]] = by_type.get(e["definitionId"], 0) + 1
    assert by_type == {"OrderPlaced": 3, "OrderStatusChanged": 3, "OrderCancelled": 1, "OrderRefunded": 1,
                       "CartConverted": 1}
    assert second.counts["events_emitted"] == second.counts["events_accepted"] == 9
    refund = next(e for e in stored if e["definitionId"] == "OrderRefunded")
    assert refund["properties"]["amount"] == 3.0 and refund["properties"]["orderId"] == open_orders[2]
    cancelled = next(e for e in stored if e["definitionId"] == "OrderStatusChanged"
                     and e["properties"]["orderId"] == open_orders[0])
    assert (cancelled["properties"]["fromStatusId"], cancelled["properties"]["toStatusId"]) == (11, 5)
    cart = next(e for e in stored if e["definitionId"] == "CartConverted")
    assert cart["properties"]["orderId"] == new[0]
    assert cart["identifier"] == {"id": f"bc-sandbox1-{buyers[0]}", "type": "EXTERNAL_ID"}
    sent = {r[0] for r in q(db, "SELECT event_id FROM people_sync.events WHERE status = 'SENT'")}
    assert sent == {e["eventId"] for e in stored} and len(stored) == len(sent)
    view = dict((r[0], r[1:4]) for r in q(db, "SELECT event_type, emitted, accepted, rejected "
                                               "FROM people_sync.events_by_type"))
    assert view["OrderStatusChanged"] == (3, 3, 0)

    # no order changes (a full re-read even): not one event request, nothing emitted
    before = event_requests(people)
    third = run_sync(MAPPING, db, max_rejected_pct=100, full_refresh=True)
    assert third.exit_code == 0, third.error
    assert third.counts["events_emitted"] == 0 and event_requests(people) == before
    assert len(people.events.all_events()) == 9
    runs = q(db, "SELECT events_emitted, events_accepted, event_requests FROM people_sync.runs ORDER BY started_at")
    assert runs[-2][:2] == (9, 9) and runs[-1] == (0, 0, 0)


def test_unreached_customers_and_deleted_definitions_wait_with_a_reason(world: Any) -> None:
    bc, people, tmp = world
    db = tmp / "b.duckdb"
    a, b, c = sorted(int(x["id"]) for x in bc.store.all())[:3]
    people.fail_persons(error=[f"bc-sandbox1-{a}"])  # People refuses person a: it never reaches People
    first = run_sync(MAPPING, db, max_rejected_pct=100)
    assert first.exit_code == 0, first.error
    bc.clock.advance(120)
    order_a = bc.commerce.create_order_for(a, 10.0)["id"]
    bc.commerce.create_order_for(b, 11.0)
    bc.clock.advance(120)
    second = run_sync(MAPPING, db, max_rejected_pct=100)
    assert second.exit_code == 0, second.error
    status = dict(q(db, "SELECT subject, status || ':' || coalesce(reason_code, '') FROM people_sync.events"))
    assert status[f"order:{order_a}"] == "SKIPPED:NO_PERSON", status
    assert second.counts["events_skipped"] == 1 and second.counts["events_accepted"] == 1

    # a user deletes OrderPlaced in People: not re-created behind their back, the event waits
    people.events.delete_definition("OrderPlaced")
    bc.clock.advance(120)
    order_c = bc.commerce.create_order_for(c, 12.0)["id"]
    bc.clock.advance(120)
    third = run_sync(MAPPING, db, max_rejected_pct=0)
    assert third.exit_code == 3 and "events" in (third.error or "")  # --max-rejected-pct covers events
    row = q(db, "SELECT status, reason_code, reason FROM people_sync.events WHERE subject = ?", [f"order:{order_c}"])
    assert row[0][:2] == ("REJECTED", "DEFINITION_MISSING") and "deleted in People" in row[0][2]

    # People accepts person a again; --retry-rejected re-creates the definition: both go out once
    people.fail_persons()
    fourth = run_sync(MAPPING, db, max_rejected_pct=100, retry_rejected=True)
    assert fourth.exit_code == 0, fourth.error
    final = dict(q(db, "SELECT subject, status FROM people_sync.events"))
    assert final[f"order:{order_a}"] == "SENT" and final[f"order:{order_c}"] == "SENT"
    ids_sent = [e["eventId"] for e in people.events.all_events()]
    assert len(ids_sent) == len(set(ids_sent)) == 3
