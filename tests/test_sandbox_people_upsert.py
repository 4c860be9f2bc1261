"""People sandbox: v3 upsert semantics over real HTTP (PATCH/PUT, matching, conflicts, envelopes)."""

from __future__ import annotations

import json

from tests.fixtures_people import PeopleHTTP


def _email(addr: str) -> dict[str, str]:
    return {"type": "EMAIL", "identifier": addr}


def _phone(number: str) -> dict[str, str]:
    return {"type": "PHONE", "identifier": number}


def test_patch_creates_then_not_modified_then_updated(people_sandbox, people_http: PeopleHTTP):
    person = {"externalId": "bc-1", "firstName": "Jane", "contactInformation": [_email("jane@example.com")]}
    r = people_http.upsert([person])
    assert r.status_code == 207
    body = r.json()
    assert body["errors"] == []
    assert body["results"][0]["status"] == "CREATED" and body["results"][0]["index"] == 0
    pid = body["results"][0]["id"]
    assert isinstance(pid, int)

    again = people_http.upsert([person]).json()
    assert again["results"] == [{"id": pid, "index": 0, "status": "NOT_MODIFIED"}]
    stored = people_sandbox.person_by_external_id("bc-1")
    modified_at = stored["modifiedAt"]

    changed = people_http.upsert([{"externalId": "bc-1", "lastName": "Smith"}]).json()
    assert changed["results"] == [{"id": pid, "index": 0, "status": "UPDATED"}]
    stored = people_sandbox.person_by_external_id("bc-1")
    assert stored["firstName"] == "Jane" and stored["lastName"] == "Smith"  # PATCH keeps missing fields
    assert stored["type"] == "CUSTOMER"  # default type
    assert stored["modifiedAt"] >= modified_at
    assert len(people_sandbox.persons()) == 1


def test_patch_appends_tags_and_contacts_put_replaces(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert(
        [
            {
                "externalId": "bc-2",
                "firstName": "Ann",
                "city": "Zagreb",
                "tags": ["VIP"],
                "contactInformation": [_email("ann@example.com")],
            }
        ]
    )
    people_http.upsert(
        [{"externalId": "bc-2", "tags": ["New"], "contactInformation": [_phone("+385911234567")]}]
    )
    p = people_sandbox.person_by_external_id("bc-2")
    assert p["tags"] == ["VIP", "New"]
    assert [c["identifier"] for c in p["contactInformation"]] == ["ann@example.com", "385911234567"]
    assert p["city"] == "Zagreb"

    r = people_http.upsert([{"externalId": "bc-2", "firstName": "Ann", "tags": ["New"]}], method="PUT").json()
    assert r["results"][0]["status"] == "UPDATED"
    p = people_sandbox.person_by_external_id("bc-2")
    assert p["tags"] == ["New"]
    assert p["contactInformation"] == []
    assert "city" not in p  # PUT clears omitted fields
    # the old email no longer names this person: it can be used by someone else
    r = people_http.upsert([{"externalId": "bc-3", "contactInformation": [_email("ann@example.com")]}]).json()
    assert r["results"][0]["status"] == "CREATED"


def test_put_same_state_is_not_modified_and_tag_order_is_irrelevant(people_http: PeopleHTTP):
    person = {"externalId": "x", "tags": ["a", "b"], "contactInformation": [_email("x@example.com")]}
    assert people_http.upsert([person], method="PUT").json()["results"][0]["status"] == "CREATED"
    person["tags"] = ["b", "a"]
    assert people_http.upsert([person], method="PUT").json()["results"][0]["status"] == "NOT_MODIFIED"


def test_patch_null_and_empty_custom_attribute_clear(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.define_custom_attribute("group", "INTEGER")
    people_sandbox.define_custom_attribute("note", "STRING")
    people_http.upsert([{"externalId": "c", "city": "Split", "customAttributes": {"group": 3, "note": "hi"}}])
    r = people_http.upsert(
        [{"externalId": "c", "city": None, "customAttributes": {"group": None, "note": ""}}]
    )
    assert r.json()["results"][0]["status"] == "UPDATED"
    p = people_sandbox.person_by_external_id("c")
    assert "city" not in p and p["customAttributes"] == {}


def test_matching_by_email_case_insensitive_and_phone(people_sandbox, people_http: PeopleHTTP):
    first = people_http.upsert(
        [{"firstName": "A", "contactInformation": [_email("Mixed@Example.com")]}]
    ).json()
    pid = first["results"][0]["id"]
    by_email = people_http.upsert(
        [{"lastName": "B", "contactInformation": [_email("mixed@example.COM")]}]
    ).json()
    assert by_email["results"][0] == {"id": pid, "index": 0, "status": "UPDATED"}
    people_http.upsert([{"externalId": "ph", "contactInformation": [_phone("41793026727")]}])
    # '+' is optional: the same E.164 number matches
    by_phone = people_http.upsert([{"firstName": "P", "contactInformation": [_phone("+41793026727")]}]).json()
    assert by_phone["results"][0]["status"] == "UPDATED"
    assert people_sandbox.person_by_external_id("ph")["firstName"] == "P"
    assert len(people_sandbox.persons()) == 2


def test_external_id_is_case_sensitive(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert([{"externalId": "Abc"}])
    r = people_http.upsert([{"externalId": "abc"}]).json()
    assert r["results"][0]["status"] == "CREATED"
    assert {p["externalId"] for p in people_sandbox.persons()} == {"Abc", "abc"}


def test_identifiers_of_two_persons_conflict_409100(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert(
        [
            {"externalId": "a", "contactInformation": [_email("a@example.com")]},
            {"externalId": "b", "contactInformation": [_email("b@example.com")]},
        ]
    )
    before = people_sandbox.persons()
    r = people_http.upsert(
        [
            {"externalId": "a", "contactInformation": [_email("b@example.com")]},  # id -> A, email -> B
            {
                "externalId": "new",
                "contactInformation": [_email("A@example.com")],
            },  # email -> A with other id
            {"externalId": "ok", "firstName": "Fine"},
        ]
    )
    assert r.status_code == 207
    body = r.json()
    assert [e["index"] for e in body["errors"]] == [0, 1]
    assert all(e["code"] == 409100 for e in body["errors"])
    assert all(
        e["details"] and e["details"][0]["property"].startswith(f"persons[{e['index']}]")
        for e in body["errors"]
    )
    assert [(x["index"], x["status"]) for x in body["results"]] == [(2, "CREATED")]
    after = {p["externalId"]: p for p in people_sandbox.persons()}
    assert after["a"] == before[0] and after["b"] == before[1]  # nothing merged, nothing taken over


def test_contact_of_person_without_external_id_gets_it(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert([{"contactInformation": [_email("lead@example.com")], "type": "LEAD"}])
    r = people_http.upsert(
        [{"externalId": "bc-9", "contactInformation": [_email("lead@example.com")]}]
    ).json()
    assert r["results"][0]["status"] == "UPDATED"
    p = people_sandbox.person_by_external_id("bc-9")
    assert p is not None and p["type"] == "LEAD"


def test_same_identity_twice_in_one_batch_applies_sequentially(people_sandbox, people_http: PeopleHTTP):
    r = people_http.upsert(
        [
            {"externalId": "dup", "firstName": "One"},
            {"externalId": "dup", "firstName": "One"},
            {"externalId": "dup", "firstName": "Two"},
        ]
    ).json()
    statuses = [(x["index"], x["status"]) for x in r["results"]]
    assert statuses == [(0, "CREATED"), (1, "NOT_MODIFIED"), (2, "UPDATED")]
    assert len({x["id"] for x in r["results"]}) == 1
    assert people_sandbox.person_by_external_id("dup")["firstName"] == "Two"


def test_all_invalid_batch_is_still_207(people_http: PeopleHTTP):
    r = people_http.upsert([{"firstName": "Joe", "contactInformation": [{"identifier": "john.doe@example"}]}])
    assert r.status_code == 207
    body = r.json()
    assert body["results"] == []
    assert body["errors"][0]["details"] == [
        {"property": "persons[0].contactInformation[0].type", "message": "Must not be null"}
    ]


def test_whole_request_errors(people_sandbox, people_http: PeopleHTTP):
    malformed = people_http.request("PATCH", "/people/3/persons/upsert", data=b'{"persons": [')
    assert malformed.status_code == 400
    assert malformed.json() == {"code": 400103, "message": "Malformed JSON body, wrong syntax"}

    missing = people_http.request("PUT", "/people/3/persons/upsert", json={"people": []})
    assert missing.status_code == 400
    assert missing.json()["code"] == 400104
    assert missing.json()["details"] == [{"property": "persons", "message": "Required, but value is missing"}]

    empty_body = people_http.request("PATCH", "/people/3/persons/upsert")
    assert empty_body.status_code == 400 and empty_body.json()["code"] == 400104

    empty = people_http.upsert([])
    assert empty.status_code == 400 and empty.json()["code"] == 400101

    too_many = people_http.upsert([{"externalId": str(i)} for i in range(1001)])
    assert too_many.status_code == 400 and too_many.json()["code"] == 400101
    assert "1001" in too_many.json()["details"][0]["message"]

    not_list = people_http.request("PATCH", "/people/3/persons/upsert", json={"persons": {"externalId": "1"}})
    assert not_list.status_code == 400 and not_list.json()["code"] == 400102

    assert people_sandbox.persons() == []  # nothing applied by a rejected request


def test_exactly_1000_persons_accepted(people_sandbox, people_http: PeopleHTTP):
    r = people_http.upsert([{"externalId": f"bulk-{i}"} for i in range(1000)])
    assert r.status_code == 207
    assert len(r.json()["results"]) == 1000
    assert len(people_sandbox.persons()) == 1000


def test_unicode_round_trips(people_sandbox, people_http: PeopleHTTP):
    name = "Željko 😀 مرحبا"
    body = json.dumps({"persons": [{"externalId": "u", "firstName": name}]}, ensure_ascii=False).encode()
    r = people_http.request(
        "PATCH", "/people/3/persons/upsert", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.json()["results"][0]["status"] == "CREATED"
    assert people_sandbox.person_by_external_id("u")["firstName"] == name


def test_tags_created_on_the_fly_unless_required(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert([{"externalId": "t", "tags": ["Fresh"]}])
    assert people_sandbox.tags() == {"Fresh"}
    # tag names are case-insensitive: the registry's spelling wins
    people_http.upsert([{"externalId": "t2", "tags": ["fresh"]}])
    assert people_sandbox.person_by_external_id("t2")["tags"] == ["Fresh"]

    people_sandbox.require_existing_tags = True
    r = people_http.upsert([{"externalId": "t3", "tags": ["Fresh", "Unknown"]}]).json()
    assert r["results"] == []
    assert r["errors"][0]["details"] == [
        {"property": "persons[0].tags[1]", "message": "Tag 'Unknown' does not exist"}
    ]
    assert people_sandbox.tags() == {"Fresh"}


def test_patch_contact_spelling_and_primary(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert(
        [{"externalId": "e", "contactInformation": [{**_email("Ann@Example.com"), "primary": True}]}]
    )
    r = people_http.upsert([{"externalId": "e", "contactInformation": [_email("ann@example.com")]}]).json()
    assert r["results"][0]["status"] == "UPDATED"  # same contact, new spelling
    assert people_sandbox.person_by_external_id("e")["contactInformation"] == [
        {"type": "EMAIL", "identifier": "ann@example.com", "primary": True}  # primary kept when not sent
    ]
    r = people_http.upsert([{"externalId": "e", "contactInformation": [_email("ann@example.com")]}]).json()
    assert r["results"][0]["status"] == "NOT_MODIFIED"


def test_rejected_person_leaves_stored_state_untouched(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert([{"externalId": "keep", "firstName": "Kept", "city": "Rijeka"}])
    before = people_sandbox.person_by_external_id("keep")
    r = people_http.upsert([{"externalId": "keep", "firstName": "Bad<Name>", "city": "Pula"}]).json()
    assert r["results"] == [] and r["errors"][0]["code"] == 400100
    assert people_sandbox.person_by_external_id("keep") == before  # no partial apply
