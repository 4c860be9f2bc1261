"""Issue 14 item 6: ``bc2people plan --match`` shows, before the first sync, how many staged
customers People would attach to a person it already has (same email/phone, no externalId of
ours), which would conflict (409100) and which would be new, using People's match endpoint;
checked against what the upsert then really does in the People sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.cli import main as cli_main
from bc2people.pipelines.plan_match import match_report
from bc2people.pipelines.push import push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_push import HandMapping, MappedRecord, ledger_rows, stage, stage_real

STORE = "s1"


class ContactMapping(HandMapping):
    def map(self, customer: dict[str, Any], context: dict[str, Any] | None = None) -> MappedRecord:
        rec = super().map(customer, context)
        assert rec.payload is not None
        rec.payload["contactInformation"] = [{"type": "EMAIL", "identifier": customer["email"].lower()},
                                             {"type": "PHONE", "identifier": customer["phone"]}]
        return rec


def email(cid: int) -> str:
    return f"c{cid}@example.com"


def phone(cid: int) -> str:
    return f"1415555{cid:04d}"


def preload(ps: PeopleSandbox) -> None:
    """Persons from another integration (no bc- externalId) and one of ours."""
    ps.store.upsert([
        (0, {"contactInformation": [{"type": "EMAIL", "identifier": email(1)}]}),                # attach
        (1, {"contactInformation": [{"type": "EMAIL", "identifier": email(2)}]}),                # conflict:
        (2, {"contactInformation": [{"type": "PHONE", "identifier": phone(2)}]}),                #   two persons
        (3, {"externalId": f"bc-{STORE}-3", "contactInformation": [{"type": "EMAIL", "identifier": email(3)}]}),
    ], replace=False)


@pytest.fixture
def staged(push_env: dict[str, Any]) -> dict[str, Any]:
    customers = generate_customers(8, seed=5)
    for c in customers:
        c["email"], c["phone"] = email(c["id"]).upper(), phone(c["id"])
    stage(push_env["db"], customers)
    preload(push_env["people"])
    return push_env


def test_match_report_classifies_and_the_upsert_agrees(staged: dict[str, Any], people_client: PeopleClient) -> None:
    ps, db = staged["people"], staged["db"]
    mapping = ContactMapping()
    res = match_report(str(db), mapping, store_hash=STORE, client=people_client)
    c = res.counts
    assert (c["checked"], c["ours"], c["attach"], c["conflict"], c["new"]) == (8, 1, 1, 1, 5)
    assert res.requests == 1  # 8 customers x 3 identities in one request
    kinds = {s["external_id"]: (s["kind"], s["detail"]) for s in res.samples}
    assert kinds[f"bc-{STORE}-1"][0] == "attach" and email(1) in kinds[f"bc-{STORE}-1"][1]
    assert kinds[f"bc-{STORE}-2"][0] == "conflict" and phone(2) in kinds[f"bc-{STORE}-2"][1]
    assert len(ps.persons()) == 4  # nothing written

    # what the first sync then does, customer by customer
    before_p1 = ps.store.find("EMAIL", email(1))
    push_persons(str(db), mapping, "run-1", store_hash=STORE, client=people_client)
    status = dict(ledger_rows(db, "SELECT customer_id, last_status FROM people_sync.person_state"))
    assert status[1] == "UPDATED" and ps.person_by_external_id(f"bc-{STORE}-1")["id"] == before_p1["id"]  # type: ignore[index]
    assert status[2] == "REJECTED_BY_PEOPLE"
    assert ledger_rows(db, "SELECT error_code FROM people_sync.person_state WHERE customer_id = 2") == [("409100",)]
    assert status[3] in ("UPDATED", "NOT_MODIFIED")
    assert all(status[cid] == "CREATED" for cid in range(4, 9))


def test_without_matches_everyone_is_new_and_a_404_means_no_match(push_env: dict[str, Any],
                                                                  people_client: PeopleClient) -> None:
    ps, db = push_env["people"], push_env["db"]
    customers = generate_customers(3, seed=5)
    for c in customers:
        c["email"], c["phone"] = email(c["id"]), phone(c["id"])
    stage(db, customers)
    ps.match_none_404 = True
    res = match_report(str(db), ContactMapping(), store_hash=STORE, client=people_client)
    assert (res.counts["new"], res.counts["checked"], res.requests) == (3, 3, 1)


def test_a_contact_of_another_of_our_customers_is_a_conflict(staged: dict[str, Any],
                                                             people_client: PeopleClient) -> None:
    ps, db = staged["people"], staged["db"]
    mapping = ContactMapping()
    push_persons(str(db), mapping, "run-1", store_hash=STORE, client=people_client)
    # customer 5 now uses customer 6's email: People holds it on customer 6's person
    (c5,) = [c for c in generate_customers(8, seed=5) if c["id"] == 5]
    c5["email"], c5["phone"] = email(6), phone(5)
    stage(db, [c5])
    res = match_report(str(db), mapping, store_hash=STORE, client=people_client)
    assert res.counts["conflict"] == 2 and res.counts["ours"] == 6  # conflicts: customers 2 and 5
    detail = {s["external_id"]: s["detail"] for s in res.samples}[f"bc-{STORE}-5"]
    assert email(6) in detail and ps.person_by_external_id(f"bc-{STORE}-5") is not None


def test_cli_plan_match(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", "sandbox1")
    target = _any_email(db)  # a person another integration made with a customer's email
    ps.store.upsert([(0, {"contactInformation": [{"type": "EMAIL", "identifier": target.lower()}]})], replace=False)
    rc = cli_main(["plan", "--duckdb", str(db), "--json", "--match", "--sample", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    m = doc["match"]["counts"]
    assert m["attach"] >= 1 and m["ours"] == 0 and m["checked"] == m["attach"] + m["conflict"] + m["new"]
    assert m["checked"] + m["rejected_by_mapping"] == doc["counts"]["staged"]
    assert doc["match"]["requests"] >= 1 and ps.requests_served["POST /people/2/persons/match"] >= 1
    assert cli_main(["plan", "--duckdb", str(db), "--match"]) == 0
    assert "would attach to an existing person" in capsys.readouterr().out


def _any_email(db: Path) -> str:
    (row,) = ledger_rows(db, "SELECT email FROM bigcommerce.customers WHERE email LIKE '%@%' ORDER BY id LIMIT 1")
    return str(row[0])


def test_sandbox_match_endpoint_and_matching_order(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    preload(people_sandbox)
    s = requests.Session()
    s.headers["Authorization"] = f"App {people_sandbox.api_key}"
    url = people_sandbox.base_url + "/people/2/persons/match"
    ids = [{"type": "EMAIL", "identifier": email(1).upper()}, {"type": "EMAIL", "identifier": email(1).upper()},
           {"type": "EXTERNAL_ID", "identifier": "nobody"}]
    r = s.post(url, json={"identities": ids}, timeout=5)
    assert r.status_code == 200 and r.json() == {"matches": [
        {"type": "EMAIL", "identifier": email(1).upper(), "personId": 1}]}  # duplicates answered once
    assert s.post(url, json={"identities": [{"type": "EMAIL"}]}, timeout=5).status_code == 400
    assert s.post(url, json={"identities": [ids[2]]}, timeout=5).json() == {"matches": []}
    people_sandbox.match_none_404 = True
    assert s.post(url, json={"identities": [ids[2]]}, timeout=5).status_code == 404
    # matching order: default 409100; with an order, the first identifier type that matches wins
    item = {"externalId": "bc-x", "contactInformation": [{"type": "EMAIL", "identifier": email(2)},
                                                         {"type": "PHONE", "identifier": phone(2)}]}
    (out,) = people_client.upsert([item])
    assert out.error_code == "409100"
    r = requests.post(people_sandbox.base_url + "/__sandbox__/match-order", json={"order": ["PHONE", "EMAIL"]},
                      timeout=5)
    assert r.status_code == 200 and people_sandbox.match_order == ("PHONE", "EMAIL")
    (out,) = people_client.upsert([item])
    assert out.status == "UPDATED"
    person = people_sandbox.person_by_external_id("bc-x")
    assert person is not None and person["id"] == 3  # the phone's person
    assert people_sandbox.store.find("EMAIL", email(2))["id"] == 2  # type: ignore[index]  # email stays with its owner
    with pytest.raises(ValueError):
        people_sandbox.match_order = ["NICKNAME"]
    people_sandbox.reset()
    assert people_sandbox.match_order is None and people_sandbox.match_none_404 is False


def test_match_has_its_own_faster_limiter(people_sandbox: PeopleSandbox) -> None:
    client = PeopleClient(people_sandbox.base_url, people_sandbox.api_key)
    assert client.limiter("match").rate == 15.0 and client.limiter("upsert").rate == 5.0
