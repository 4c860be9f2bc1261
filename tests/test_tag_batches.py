"""Issue 14 item 7: a person People does not have never fails a whole tag batch.

``PATCH /people/2/tags/{name}/persons`` documents a 404; People's other v2 batches answer a
query matching nobody with a per-item 409 "There is no person matching the query". The sandbox
plays both (and the lenient skip); the client isolates the missing persons either way and the
push records their deletion tag as done, with the reason, while the others are tagged."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.errors import PeopleRequestError
from bc2people.pipelines.push import push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_push import HandMapping, ledger_rows, stage_real

STORE = "sandbox1"
TAG = "bc-deleted"
TAG_PATH = f"PATCH /people/2/tags/{TAG}/persons"


def _persons(ps: PeopleSandbox, n: int) -> list[str]:
    ids = [f"p{i}" for i in range(n)]
    ps.store.upsert([(i, {"externalId": e}) for i, e in enumerate(ids)], replace=False)
    return ids


@pytest.mark.parametrize("mode", ["404", "409", "skip"])
def test_client_isolates_missing_persons(people_sandbox: PeopleSandbox, people_client: PeopleClient,
                                         mode: str) -> None:
    people_sandbox.tag_missing_person = mode
    people_client.create_tag(TAG)
    real = _persons(people_sandbox, 40)
    ids = real[:20] + ["ghost-1"] + real[20:] + ["ghost-2"]
    res = people_client.tag_persons_isolating(TAG, ids)
    assert sorted(res.tagged) == sorted(real if mode != "skip" else ids)
    assert set(res.missing) == (set() if mode == "skip" else {"ghost-1", "ghost-2"})
    assert all("404" in why or "409" in why for why in res.missing.values())
    assert all(TAG in people_sandbox.person_by_external_id(e)["tags"] for e in real)  # type: ignore[index]
    # the split costs a few requests per missing person, not one per person
    if mode == "404":
        assert 3 <= res.requests <= 2 * 2 * 6 + 1
    else:
        assert res.requests == 1


def test_old_whole_batch_call_fails_on_a_missing_person(people_sandbox: PeopleSandbox,
                                                        people_client: PeopleClient) -> None:
    # what the deletion step used to call: one unknown person fails the batch for everybody
    people_sandbox.tag_missing_person = "404"
    real = _persons(people_sandbox, 3)
    with pytest.raises(PeopleRequestError):
        people_client.tag_persons(TAG, [*real, "ghost"])
    assert not any(TAG in p["tags"] for p in people_sandbox.persons())


def test_a_vanished_tag_is_recreated_once(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    people_sandbox.tag_missing_person = "404"
    people_sandbox.require_existing_tags = True
    real = _persons(people_sandbox, 4)
    res = people_client.tag_persons_isolating(TAG, [*real, "ghost"])
    assert TAG in people_sandbox.tags()
    assert sorted(res.tagged) == sorted(real) and set(res.missing) == {"ghost"}


def test_sandbox_answers_as_each_mode_says(people_sandbox: PeopleSandbox) -> None:
    real = _persons(people_sandbox, 2)
    session = requests.Session()
    session.headers["Authorization"] = f"App {people_sandbox.api_key}"
    body = {"people": [{"query": {"type": "EXTERNAL_ID", "identifier": i}} for i in [real[0], "ghost", real[1]]]}
    url = people_sandbox.base_url + f"/people/2/tags/{TAG}/persons"
    ok = session.patch(url, json=body, timeout=5)
    assert ok.status_code == 200 and not ok.content  # default: skip
    people_sandbox.tag_missing_person = "404"
    r = session.patch(url, json=body, timeout=5)
    assert r.status_code == 404 and r.json()["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
    people_sandbox.tag_missing_person = "409"
    r = session.patch(url, json=body, timeout=5)
    assert r.status_code == 200
    assert r.json() == {"results": [{"query": {"type": "EXTERNAL_ID", "identifier": "ghost"}, "status": 409,
                                     "errors": [{"message": "There is no person matching the query"}]}]}
    admin = requests.post(people_sandbox.base_url + "/__sandbox__/tag-missing-person", json={"value": "skip"},
                          timeout=5)
    assert admin.status_code == 200 and people_sandbox.tag_missing_person == "skip"
    people_sandbox.reset()
    assert people_sandbox.tag_missing_person == "skip"


@pytest.mark.parametrize("mode", ["404", "409"])
def test_push_tags_the_rest_and_records_the_missing_person(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox,
                                                           mode: str) -> None:
    ps, db = push_env["people"], push_env["db"]
    ps.tag_missing_person = mode
    stage_real(bc_sandbox, db)
    mapping = HandMapping(on_deleted={"action": "tag", "tag": TAG})
    push_persons(str(db), mapping, "run-1", store_hash=STORE)
    ps.store.delete("EXTERNAL_ID", f"bc-{STORE}-31")  # someone removed it in People meanwhile
    for cid in (30, 31, 32):
        bc_sandbox.delete_customer(cid)
    stage_real(bc_sandbox, db, sweep_deletions=True)
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE)
    assert res.counts["delete_actions"] == 2
    for cid in (30, 32):
        assert TAG in ps.person_by_external_id(f"bc-{STORE}-{cid}")["tags"]  # type: ignore[index]
    rows = dict(ledger_rows(db, "SELECT customer_id, deleted_action FROM people_sync.person_state "
                                "WHERE customer_id IN (30, 31, 32)"))
    assert rows == {30: "tagged", 31: "tagged", 32: "tagged"}
    (state,) = ledger_rows(db, "SELECT last_status, error_code, error_message, accepted_hash "
                               "FROM people_sync.person_state WHERE customer_id = 31")
    assert state[0] == "DELETED" and state[1] == "NOT_IN_PEOPLE" and TAG in state[2] and state[3] is None
    outcomes = ledger_rows(db, "SELECT external_id, status FROM people_sync.outcomes WHERE run_id = 'run-2' "
                               "ORDER BY external_id")
    assert outcomes == [(f"bc-{STORE}-30", "TAGGED"), (f"bc-{STORE}-31", "NOT_IN_PEOPLE"),
                        (f"bc-{STORE}-32", "TAGGED")]
    before = sum(ps.requests_served.values())
    again = push_persons(str(db), mapping, "run-3", store_hash=STORE)
    assert again.counts["delete_actions"] == 0 and sum(ps.requests_served.values()) == before
