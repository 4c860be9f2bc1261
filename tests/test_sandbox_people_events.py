"""The People sandbox's events endpoints follow the spec's rules, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

NOW = datetime.now(UTC)
DEFINITION = {"definitionId": "OrderPlaced", "title": "Order placed", "fields": [
    {"name": "total", "type": "Decimal"}, {"name": "currency", "type": "String"},
    {"name": "items", "type": "List", "schema": {"type": "Object", "fields": [{"name": "qty", "type": "Numeric"}]}},
]}


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(i: int, **over: Any) -> dict[str, Any]:
    item = {"eventId": f"ev-{i}", "definitionId": "OrderPlaced", "occurredTime": stamp(NOW - timedelta(hours=1)),
            "identifier": {"id": f"ext-{i}", "type": "EXTERNAL_ID"}, "properties": {"total": 10.5, "currency": "USD"}}
    item.update(over)
    return item


@pytest.fixture
def defined(people_http: Any) -> Any:
    resp = people_http.request("POST", "/peopleevents/2/definitions", json=DEFINITION)
    assert resp.status_code == 201, resp.text
    return people_http


def test_definitions_are_created_listed_read_and_only_extended(people_http: Any) -> None:
    assert people_http.request("POST", "/peopleevents/2/definitions", json=DEFINITION).status_code == 201
    dup = people_http.request("POST", "/peopleevents/2/definitions", json={**DEFINITION, "definitionId": "orderplaced"})
    assert dup.status_code == 400 and "already exists" in dup.text
    bad = people_http.request("POST", "/peopleevents/2/definitions", json={**DEFINITION, "definitionId": "Order-Placed"})
    assert bad.status_code == 400
    listed = people_http.request("GET", "/peopleevents/2/definitions").json()
    assert [d["definitionId"] for d in listed] == ["OrderPlaced"]
    retyped = people_http.request("POST", "/peopleevents/2/definitions/OrderPlaced",
                                  json={"title": "x", "fields": [{"name": "total", "type": "String"}]})
    assert retyped.status_code == 400 and "Decimal" in retyped.text
    added = people_http.request("POST", "/peopleevents/2/definitions/OrderPlaced",
                                json={"title": "x", "fields": [{"name": "coupon", "type": "String"}]})
    assert added.status_code == 200
    got = people_http.request("GET", "/peopleevents/2/definitions/orderplaced").json()
    assert {f["name"] for f in got["fields"]} == {"total", "currency", "items", "coupon"}
    assert people_http.request("GET", "/peopleevents/2/definitions/Nope").status_code == 404


def test_an_accepted_batch_is_202_stores_every_event_and_creates_unknown_persons(defined: Any, people_sandbox: Any) -> None:
    items = [event(i) for i in range(3)]
    items[0]["properties"]["items"] = [{"qty": 2}]
    resp = defined.request("POST", "/people/3/events", json=items)
    assert resp.status_code == 202, resp.text
    stored = people_sandbox.events.all_events()
    assert [e["eventId"] for e in stored] == ["ev-0", "ev-1", "ev-2"]
    assert people_sandbox.person_by_external_id("ext-1")["type"] == "CUSTOMER"  # auto-created profile


def test_one_invalid_event_fails_the_whole_batch(defined: Any, people_sandbox: Any) -> None:
    items = [event(i) for i in range(4)]
    items[2]["properties"]["total"] = "ten"  # wrong type: a schema error names no index
    resp = defined.request("POST", "/people/3/events", json=items)
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert errors[0]["index"] == -1 and errors[0]["code"] == 400501 and "total" in errors[0]["message"]
    assert people_sandbox.events.all_events() == []  # nothing of the batch is stored


@pytest.mark.parametrize(("change", "code", "index"), [
    ({"definitionId": "Unknown"}, 400501, -1),
    ({"properties": {"nope": 1}}, 400501, -1),
    ({"occurredTime": stamp(NOW - timedelta(days=31))}, 400504, 1),
    ({"eventId": "has space"}, 400504, 1),
    ({"identifier": {"id": "999999", "type": "ID"}}, 400505, 1),
    ({"properties": {"total": 1, "currency": "x" * 600_000}}, 400504, 1),
])
def test_each_rule_refuses_the_batch_with_the_spec_code(defined: Any, people_sandbox: Any, change: dict[str, Any],
                                                       code: int, index: int) -> None:
    items = [event(0), event(1, **change)]
    resp = defined.request("POST", "/people/3/events", json=items)
    assert resp.status_code == 400
    assert (resp.json()["errors"][0]["code"], resp.json()["errors"][0]["index"]) == (code, index)
    assert people_sandbox.events.all_events() == []


def test_batch_count_and_emptiness_limits(defined: Any) -> None:
    assert defined.request("POST", "/people/3/events", json=[]).json()["errors"][0]["code"] == 400502
    many = [event(i) for i in range(5001)]
    assert defined.request("POST", "/people/3/events", json=many).json()["errors"][0]["code"] == 400503
    assert defined.request("POST", "/people/3/events", json={"a": 1}).json()["errors"][0]["code"] == 400500


def test_an_event_id_is_recorded_once_and_receipts_count_every_arrival(defined: Any, people_sandbox: Any) -> None:
    assert defined.request("POST", "/people/3/events", json=[event(1)]).status_code == 202
    assert defined.request("POST", "/people/3/events", json=[event(1), event(2)]).status_code == 202
    assert [e["eventId"] for e in people_sandbox.events.all_events()] == ["ev-1", "ev-2"]
    assert people_sandbox.events.receipts["ev-1"] == 2
    future = event(3, occurredTime=stamp(NOW + timedelta(days=2)))
    assert defined.request("POST", "/people/3/events", json=[future]).status_code == 202
    assert people_sandbox.events.all_events()[-1]["occurredTime"] <= stamp(datetime.now(UTC) + timedelta(seconds=1))


def test_a_deleted_definition_refuses_its_events(defined: Any, people_sandbox: Any) -> None:
    assert people_sandbox.events.delete_definition("OrderPlaced")
    resp = defined.request("POST", "/people/3/events", json=[event(1)])
    assert resp.status_code == 400 and resp.json()["errors"][0]["code"] == 400501
    state = defined.request("GET", "/__sandbox__/events").json()
    assert state["definitions"] == [] and state["batches"] == {"rejected": 1}
