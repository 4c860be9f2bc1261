"""Issue 14 item 5: a customer's old email/phone leaves People once People accepted the new one.

People's PATCH upsert appends contacts (the People sandbox does the same), so without a removal
the old address stays on the person and the next customer who takes it hits 409100. The push
removes dropped contacts with ``DELETE /people/2/persons/contactInformation`` after the upsert is
accepted, records it, and keeps a failed removal queued for the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.push import push_persons
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_push import HandMapping, MappedRecord, ledger_rows, stage

STORE = "s1"


class ContactMapping(HandMapping):
    """HandMapping with the customer's own email (lower-cased) and phone as contacts."""

    def map(self, customer: dict[str, Any], context: dict[str, Any] | None = None) -> MappedRecord:
        rec = super().map(customer, context)
        assert rec.payload is not None
        rec.payload["contactInformation"] = [
            {"type": "EMAIL", "identifier": customer["email"].lower()},
            {"type": "PHONE", "identifier": customer["phone"]},
        ]
        return rec


def ext(cid: int) -> str:
    return f"bc-{STORE}-{cid}"


def contacts(ps: PeopleSandbox, cid: int) -> set[tuple[str, str]]:
    person = ps.person_by_external_id(ext(cid))
    assert person is not None
    return {(c["type"], c["identifier"]) for c in person["contactInformation"]}


@pytest.fixture
def world(push_env: dict[str, Any], people_client: PeopleClient) -> dict[str, Any]:
    customers = generate_customers(6, seed=3)
    for c in customers:
        c["email"] = f"old{c['id']}@example.com"
        c["phone"] = f"1415555{c['id']:04d}"
    db: Path = push_env["db"]
    stage(db, customers)
    mapping = ContactMapping()
    res = push_persons(str(db), mapping, "run-1", store_hash=STORE, client=people_client)
    assert res.counts["created"] == 6 and res.counts["contacts_removed"] == 0
    by_id = {c["id"]: c for c in customers}

    def run(run_id: str, **changes: dict[str, Any]) -> dict[str, int]:
        for cid, fields in changes.items():
            by_id[int(cid.lstrip("c"))].update(fields)
        if changes:
            stage(db, [by_id[int(k.lstrip("c"))] for k in changes])
        return push_persons(str(db), mapping, run_id, store_hash=STORE, client=people_client).counts

    return {**push_env, "run": run, "client": people_client}


def test_changed_email_and_phone_leave_people(world: dict[str, Any]) -> None:
    ps, db, run = world["people"], world["db"], world["run"]
    counts = run("run-2", c1={"email": "New1@Example.com"}, c2={"phone": "14155560002"})
    assert counts["updated"] == 2 and counts["contacts_removed"] == 2 and counts["contact_removals_pending"] == 0
    assert contacts(ps, 1) == {("EMAIL", "new1@example.com"), ("PHONE", "14155550001")}
    assert contacts(ps, 2) == {("EMAIL", "old2@example.com"), ("PHONE", "14155560002")}
    assert contacts(ps, 3) == {("EMAIL", "old3@example.com"), ("PHONE", "14155550003")}
    rows = ledger_rows(db, "SELECT external_id, status, error_message FROM people_sync.outcomes "
                           "WHERE run_id = 'run-2' AND status = 'CONTACT_REMOVED' ORDER BY external_id")
    assert [(r[0], r[1]) for r in rows] == [(ext(1), "CONTACT_REMOVED"), (ext(2), "CONTACT_REMOVED")]
    assert "old1@example.com" in rows[0][2] and "14155550002" in rows[1][2]
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.contact_removals") == [(0,)]
    (rc,) = ledger_rows(db, "SELECT count(*) FROM people_sync.outcomes WHERE status = 'CONTACT_REMOVED'")
    assert rc == (2,)
    # the freed address can now go to another customer: accepted, no 409100
    counts = run("run-3", c4={"email": "old1@example.com"})
    assert counts["updated"] == 1 and counts["rejected_by_people"] == 0 and counts["contacts_removed"] == 1
    assert ("EMAIL", "old1@example.com") in contacts(ps, 4) and ("EMAIL", "old4@example.com") not in contacts(ps, 4)
    # nothing left to do: a run with no change sends nothing at all
    before = sum(ps.requests_served.values())
    assert run("run-4")["contacts_removed"] == 0 and sum(ps.requests_served.values()) == before


def test_failed_removal_keeps_the_upsert_and_is_retried(world: dict[str, Any]) -> None:
    ps, db, run = world["people"], world["db"], world["run"]
    ps.contact_removal_failures = 100
    counts = run("run-2", c1={"email": "new1@example.com"})
    assert counts["updated"] == 1 and counts["contacts_removed"] == 0 and counts["contact_removals_pending"] == 1
    (state,) = ledger_rows(db, "SELECT last_status, accepted_hash = payload_hash FROM people_sync.person_state "
                               "WHERE external_id = ?", [ext(1)])
    assert state == ("UPDATED", True)  # the upsert is recorded, whatever happened to the removal
    assert ("EMAIL", "new1@example.com") in contacts(ps, 1) and ("EMAIL", "old1@example.com") in contacts(ps, 1)
    (queued,) = ledger_rows(db, "SELECT key, type, identifier, attempts, last_error IS NOT NULL "
                                "FROM people_sync.contact_removals")
    assert queued == (ext(1), "EMAIL", "old1@example.com", 1, True)
    assert ledger_rows(db, "SELECT status FROM people_sync.outcomes WHERE run_id = 'run-2' AND external_id = ? "
                           "AND status LIKE 'CONTACT%'", [ext(1)]) == [("CONTACT_REMOVAL_FAILED",)]
    ps.contact_removal_failures = 0
    counts = run("run-3")
    assert counts["sent"] == 0 and counts["contacts_removed"] == 1 and counts["contact_removals_pending"] == 0
    assert contacts(ps, 1) == {("EMAIL", "new1@example.com"), ("PHONE", "14155550001")}


def test_a_contact_mapped_again_is_not_removed(world: dict[str, Any]) -> None:
    ps, db, run = world["people"], world["db"], world["run"]
    ps.contact_removal_failures = 100
    run("run-2", c1={"email": "new1@example.com"})  # old1 queued, its removal fails
    ps.contact_removal_failures = 0
    counts = run("run-3", c1={"email": "old1@example.com"})  # back to the old address
    # People still had old1 (NOT_MODIFIED); new1 is the one no longer mapped
    assert counts["sent"] == 1 and counts["not_modified"] == 1 and counts["contacts_removed"] == 1
    assert contacts(ps, 1) == {("EMAIL", "old1@example.com"), ("PHONE", "14155550001")}
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.contact_removals") == [(0,)]


def test_a_ledger_from_before_tracking_starts_from_the_last_accepted_payload(world: dict[str, Any]) -> None:
    ps, db, run = world["people"], world["db"], world["run"]
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("DELETE FROM people_sync.person_contacts")  # as if run-1 was made by an older release
    con.close()
    counts = run("run-2", c5={"email": "new5@example.com"})
    assert counts["contacts_removed"] == 1
    assert contacts(ps, 5) == {("EMAIL", "new5@example.com"), ("PHONE", "14155550005")}


def test_sandbox_contact_information_delete(people_sandbox: PeopleSandbox) -> None:
    people_sandbox.store.upsert([(0, {"externalId": "x", "contactInformation": [
        {"type": "EMAIL", "identifier": "a@example.com"}, {"type": "EMAIL", "identifier": "b@example.com"},
        {"type": "PHONE", "identifier": "14155550100"}]})], replace=False)
    s = requests.Session()
    s.headers["Authorization"] = f"App {people_sandbox.api_key}"
    url = people_sandbox.base_url + "/people/2/persons/contactInformation"
    r = s.delete(url, params={"identifier": "x", "type": "EXTERNAL_ID"},
                 json={"contactInformation": {"email": [{"address": "A@example.com"}], "phone": [{"number": "+14155550100"}]}},
                 timeout=5)
    assert r.status_code == 200 and r.json()["contactInformation"]["email"] == [{"address": "b@example.com"}]
    assert people_sandbox.store.find("EMAIL", "a@example.com") is None  # the address is free again
    assert s.delete(url, params={"identifier": "nobody", "type": "EXTERNAL_ID"},
                    json={"contactInformation": {}}, timeout=5).status_code == 404
    assert s.delete(url, params={"identifier": "x", "type": "EXTERNAL_ID"}, json={}, timeout=5).status_code == 400
