"""Event delivery against the People sandbox: checks before sending, the whole-batch-fails rule,
definition type conflicts, and every bad event ending in the ledger with a reason."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.errors import ProvisioningError
from bc2people.destinations.people.events import send_event_batch
from bc2people.pipelines.core import events as core
from bc2people.pipelines.core.ledger import utcnow
from bc2people.pipelines.events import EVENT_TARGET, push_events
from bc2people.pipelines.ledger import LEDGER_DATASET, ensure_ledger
from bc2people.pipelines.mapping import load_mapping

MAPPING = load_mapping(Path(__file__).resolve().parents[1] / "mappings" / "customers_to_people.yaml")


def make_ledger(db: Path, accepted: range, never: range = range(0)) -> None:
    """Persons the ledger shows People accepted (and ones People refused)."""
    con = duckdb.connect(str(db))
    try:
        ensure_ledger(con)
        from bc2people.pipelines.events import ensure_event_tables

        ensure_event_tables(con)
        for i in accepted:
            con.execute("INSERT INTO people_sync.sync_state (target, key, entity_id, payload_hash, accepted_hash, "
                        "last_status) VALUES ('person', ?, ?, 'h', 'h', 'CREATED')", [f"bc-s-{i}", i])
        for i in never:
            con.execute("INSERT INTO people_sync.sync_state (target, key, entity_id, payload_hash, last_status) "
                        "VALUES ('person', ?, ?, 'h', 'REJECTED_BY_TARGET')", [f"bc-s-{i}", i])
    finally:
        con.close()


def fact(i: int, kind: str = "OrderPlaced", age: timedelta = timedelta(hours=1), **payload: Any) -> core.Fact:
    body = {"orderId": i, "total": 10.5, "currency": "USD", **payload}
    return core.Fact(f"ev{kind}{i}", kind, utcnow() - age, body, f"order:{i}", entity_id=i)


def add_facts(db: Path, facts: list[core.Fact]) -> None:
    con = duckdb.connect(str(db))
    try:
        core.record(con, LEDGER_DATASET, EVENT_TARGET, "run-0", facts)
    finally:
        con.close()


def statuses(db: Path) -> dict[str, tuple[str, str | None, str | None]]:
    con = duckdb.connect(str(db))
    try:
        rows = con.execute("SELECT event_id, status, reason_code, reason FROM people_sync.events").fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.fixture
def client(people_sandbox: Any) -> PeopleClient:
    return PeopleClient(people_sandbox.base_url, people_sandbox.api_key, backoff_base=0.01)


def test_bad_events_end_in_the_ledger_with_a_reason_and_the_rest_is_sent(tmp_path: Path, people_sandbox: Any,
                                                                        client: PeopleClient) -> None:
    db = tmp_path / "e.duckdb"
    make_ledger(db, accepted=range(1, 9), never=range(9, 10))
    good = [fact(i) for i in range(1, 5)]
    bad = [fact(5, total="abc"),                      # wrong type for the definition's Decimal
           fact(6, currency="x" * 600_000),           # over the 512,000-byte item limit
           fact(7, age=timedelta(days=31)),           # older than People keeps
           fact(8, coupon="X1"),                      # a property the definition does not have
           fact(9),                                   # its customer never reached People
           fact(10)]                                  # no person at all
    add_facts(db, good + bad)
    result = push_events(str(db), MAPPING, "run-1", client=client)
    got = statuses(db)
    assert {got[f.event_id][0] for f in good} == {"SENT"}
    assert sorted(e["eventId"] for e in people_sandbox.events.all_events()) == sorted(f.event_id for f in good)
    assert got["evOrderPlaced5"][:2] == ("REJECTED", "DEFINITION") and "total" in got["evOrderPlaced5"][2]
    assert got["evOrderPlaced6"][:2] == ("REJECTED", "TOO_LARGE") and "512,000" in got["evOrderPlaced6"][2]
    assert got["evOrderPlaced7"][:2] == ("TOO_OLD", "TOO_OLD")
    assert got["evOrderPlaced8"][:2] == ("REJECTED", "DEFINITION") and "coupon" in got["evOrderPlaced8"][2]
    assert got["evOrderPlaced9"][:2] == ("SKIPPED", "NO_PERSON") and "not accepted" in got["evOrderPlaced9"][2]
    assert got["evOrderPlaced10"][:2] == ("SKIPPED", "NO_PERSON") and "never reached" in got["evOrderPlaced10"][2]
    c = result.counts
    assert (c["events_accepted"], c["events_rejected"], c["events_too_old"], c["events_skipped"]) == (4, 3, 1, 2)
    assert c["event_requests"] == 1  # the checks kept every bad event out of the batch

    # nothing new: the next run sends nothing at all
    served = sum(people_sandbox.requests_served.values())
    again = push_events(str(db), MAPPING, "run-2", client=client)
    assert again.counts["event_requests"] == 0 and sum(people_sandbox.requests_served.values()) == served


def test_a_batch_people_refuses_whole_is_narrowed_to_the_offender(tmp_path: Path, people_sandbox: Any,
                                                                 client: PeopleClient) -> None:
    db = tmp_path / "b.duckdb"
    make_ledger(db, accepted=range(0))
    people_sandbox.events.define("OrderPlaced", "t", None, [{"name": "total", "type": "Decimal"}])
    when = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    texts = [core.Outgoing(f"id{i}", json.dumps({
        "eventId": f"id{i}", "definitionId": "OrderPlaced", "occurredTime": when,
        "identifier": {"id": f"p{i}", "type": "EXTERNAL_ID"}, "properties": {"total": "bad" if i == 37 else 1.5}}))
             for i in range(64)]
    add_facts(db, [core.Fact(t.event_id, "OrderPlaced", utcnow(), {}, "x") for t in texts])
    con = duckdb.connect(str(db))
    try:
        ledger = core.EventLedger(con, LEDGER_DATASET, EVENT_TARGET, "run-1")
        tally = core.deliver_events(ledger, texts, lambda b: send_event_batch(client, b), max_items=5000,
                                    max_bytes=15_728_640, workers=1, reason_code="PEOPLE")
    finally:
        con.close()
    got = statuses(db)
    assert got["id37"][:2] == ("REJECTED", "PEOPLE") and "400501" in (got["id37"][2] or "")
    assert all(got[f"id{i}"][0] == "SENT" for i in range(64) if i != 37)
    stored = [e["eventId"] for e in people_sandbox.events.all_events()]
    assert len(stored) == 63 == len(set(stored))
    # whole batch refused, then halves: 1 + 2 per level of a 64-item binary search
    assert people_sandbox.events.batches["rejected"] == 7 and tally.requests == 13


def test_a_definition_typed_otherwise_in_people_is_a_configuration_error(tmp_path: Path, people_sandbox: Any,
                                                                        client: PeopleClient) -> None:
    db = tmp_path / "c.duckdb"
    make_ledger(db, accepted=range(1, 3))
    people_sandbox.events.define("OrderPlaced", "t", None, [{"name": "total", "type": "String"}])
    add_facts(db, [fact(1), fact(2)])
    with pytest.raises(ProvisioningError) as err:
        push_events(str(db), MAPPING, "run-1", client=client)
    assert err.value.exit_code == 2
    assert "Decimal in the mapping but String in People" in str(err.value)
    assert people_sandbox.events.all_events() == [] and set(v[0] for v in statuses(db).values()) == {"PENDING"}
