"""People sandbox: per-person validation, each case checked by the 400100 error item it yields.

All cases travel in one batch (fast), each at its own index; a valid control person rides along.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures_people import PeopleHTTP

EID = {"externalId": "ok-id"}

# (person, expected property suffix after "persons[i]", message fragment)
INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({**EID, "externalId": "x" * 257}, ".externalId", "Size must be between 0 and 256"),
    ({**EID, "firstName": "x" * 256}, ".firstName", "255"),
    ({**EID, "lastName": "x" * 256}, ".lastName", "255"),
    ({**EID, "middleName": "x" * 51}, ".middleName", "50"),
    ({**EID, "nickName": "x" * 51}, ".nickName", "50"),
    ({**EID, "city": "x" * 51}, ".city", "50"),
    ({**EID, "country": "x" * 51}, ".country", "50"),
    ({**EID, "address": "x" * 257}, ".address", "256"),
    ({**EID, "profilePicture": "http://x.com/" + "x" * 2071}, ".profilePicture", "2083"),
    ({**EID, "profilePicture": "not a url"}, ".profilePicture", "URL"),
    ({**EID, "gender": "OTHER"}, ".gender", "MALE, FEMALE"),
    ({**EID, "type": "PROSPECT"}, ".type", "CUSTOMER, LEAD"),
    ({**EID, "birthDate": "15/01/1966"}, ".birthDate", "YYYY-MM-DD"),
    ({**EID, "birthDate": "1966-02-30"}, ".birthDate", "YYYY-MM-DD"),
    ({**EID, "preferredLanguage": "english"}, ".preferredLanguage", "BCP-47"),
    ({**EID, "firstName": 42}, ".firstName", "Must be a string"),
    ({**EID, "favouriteColour": "red"}, ".favouriteColour", "Unknown property"),
    ({"firstName": "Nobody"}, "", "at least one identifier"),
    ({"externalId": "", "firstName": "Blank"}, "", "at least one identifier"),
    ({**EID, "contactInformation": [{"type": "EMAIL", "identifier": "john.doe@example"}]},
     ".contactInformation[0].identifier", "Email address is invalid"),
    ({**EID, "contactInformation": [{"type": "EMAIL", "identifier": "a b@example.com"}]},
     ".contactInformation[0].identifier", "Email address is invalid"),
    ({**EID, "contactInformation": [{"type": "PHONE", "identifier": "+1 (555) 010-1234"}]},
     ".contactInformation[0].identifier", "Phone number is invalid"),
    ({**EID, "contactInformation": [{"type": "PHONE", "identifier": "123456"}]},
     ".contactInformation[0].identifier", "Phone number is invalid"),
    ({**EID, "contactInformation": [{"type": "PHONE", "identifier": "1234567890123456"}]},
     ".contactInformation[0].identifier", "Phone number is invalid"),
    ({**EID, "contactInformation": [{"type": "PHONE", "identifier": "0041793026727"}]},
     ".contactInformation[0].identifier", "Phone number is invalid"),
    ({**EID, "contactInformation": [{"type": "FAX", "identifier": "41793026727"}]},
     ".contactInformation[0].type", "PHONE, EMAIL"),
    ({**EID, "contactInformation": [{"type": "EMAIL"}]}, ".contactInformation[0].identifier", "Must not be null"),
    ({**EID, "contactInformation": [{"type": "EMAIL", "identifier": "a@example.com", "primary": "yes"}]},
     ".contactInformation[0].primary", "boolean"),
    ({**EID, "contactInformation": {"email": [{"address": "a@example.com"}]}}, ".contactInformation", "array"),
    ({**EID, "contactInformation": [{"type": "EMAIL", "identifier": f"e{i}@example.com"} for i in range(101)]},
     ".contactInformation", "At most 100 email"),
    ({**EID, "tags": ["a", "A"]}, ".tags[1]", "unique"),
    ({**EID, "tags": [""]}, ".tags[0]", "non-empty"),
    ({**EID, "tags": "VIP"}, ".tags", "array"),
    ({**EID, "customAttributes": {"undefined_attr": 1}}, ".customAttributes.undefined_attr", "not defined"),
    ({**EID, "customAttributes": {"group": "3"}}, ".customAttributes.group", "INTEGER"),
    ({**EID, "customAttributes": {"group": 3.5}}, ".customAttributes.group", "INTEGER"),
    ({**EID, "customAttributes": {"group": True}}, ".customAttributes.group", "INTEGER"),
    ({**EID, "customAttributes": {"group": 2**63}}, ".customAttributes.group", "out of bounds"),
    ({**EID, "customAttributes": {"spent": "12.5"}}, ".customAttributes.spent", "DECIMAL"),
    ({**EID, "customAttributes": {"note": 5}}, ".customAttributes.note", "STRING"),
    ({**EID, "customAttributes": {"note": "x" * 4097}}, ".customAttributes.note", "4096"),
    ({**EID, "customAttributes": {"active": "true"}}, ".customAttributes.active", "BOOLEAN"),
    ({**EID, "customAttributes": {"since": "2024-13-01"}}, ".customAttributes.since", "DATE"),
    ({**EID, "customAttributes": {"since": "2024-01-01T00:00:00"}}, ".customAttributes.since", "DATE"),
    ({**EID, "customAttributes": {"seen": "2024-01-01"}}, ".customAttributes.seen", "DATE_TIME"),
    ({**EID, "customAttributes": {"seen": "2024-01-01 10:00:00"}}, ".customAttributes.seen", "DATE_TIME"),
    ({**EID, "customAttributes": {"cart": {"name": "x"}}}, ".customAttributes.cart", "list of objects"),
    ({**EID, "customAttributes": {"cart": [{"price": "cheap"}]}}, ".customAttributes.cart", "DECIMAL"),
    ({**EID, "customAttributes": {"cart": [{"colour": "red"}]}}, ".customAttributes.cart", "objectSchema"),
    ({**EID, "customAttributes": ["group", 1]}, ".customAttributes", "object"),
]  # fmt: skip

FORBIDDEN = list('&<>"/\\:(){}=;#') + ["\n", "\r"]

VALID_EXTRAS: list[dict[str, Any]] = [
    {"firstName": "Ana-Marija O'Neil", "lastName": "Smith Jr.", "middleName": "J", "nickName": "Aj"},
    {"gender": "FEMALE", "type": "LEAD", "birthDate": "1966-01-15", "preferredLanguage": "en-gb"},
    {"preferredLanguage": "hr", "profilePicture": "https://cdn.example.com/p.png?size=1"},
    {"contactInformation": [{"type": "PHONE", "identifier": "+14155550123", "primary": True}]},
    {"contactInformation": [{"type": "EMAIL", "identifier": "first.o'last+tag@sub.example.co.uk"}]},
    {"customAttributes": {"Group": 9223372036854775807, "spent": 12, "note": "x" * 4096, "active": False}},
    {"customAttributes": {"since": "2024-02-29", "seen": "2024-01-01T10:00:00"}},
    {"customAttributes": {"seen": "2024-01-01T10:00:00.123Z"}},
    {"customAttributes": {"seen": "2024-01-01T10:00:00+02:00"}},
    {"customAttributes": {"cart": [{"name": "Shoe", "price": 25.33}, {"name": "Hat", "price": None}]}},
    {"id": 999, "createdAt": "2020-01-01T00:00:00", "computedAttributes": {"x": 1}},  # read-only: ignored
]


@pytest.fixture
def defined(people_sandbox):
    for name, dtype in [
        ("group", "INTEGER"),
        ("spent", "DECIMAL"),
        ("note", "STRING"),
        ("active", "BOOLEAN"),
        ("since", "DATE"),
        ("seen", "DATE_TIME"),
    ]:
        people_sandbox.define_custom_attribute(name, dtype)
    people_sandbox.define_custom_attribute("cart", "LIST_OF_OBJECTS", {"name": "STRING", "price": "DECIMAL"})
    return people_sandbox


def test_each_invalid_person_gets_its_own_400100_item(defined, people_http: PeopleHTTP):
    batch = [p for p, _, _ in INVALID] + [{"externalId": "control", "firstName": "Fine"}]
    r = people_http.upsert(batch)
    assert r.status_code == 207
    body = r.json()
    errors = {e["index"]: e for e in body["errors"]}
    assert sorted(errors) == list(range(len(INVALID)))
    for i, (_, suffix, fragment) in enumerate(INVALID):
        e = errors[i]
        assert e["code"] == 400100, e
        assert e["message"] == "One or more properties of the person are invalid"
        props = [d["property"] for d in e["details"]]
        assert f"persons[{i}]{suffix}" in props, (i, e)
        msg = next(d["message"] for d in e["details"] if d["property"] == f"persons[{i}]{suffix}")
        assert fragment.lower() in msg.lower(), (i, msg)
    assert [(x["index"], x["status"]) for x in body["results"]] == [(len(INVALID), "CREATED")]
    assert [p["externalId"] for p in defined.persons()] == ["control"]


def test_forbidden_name_characters(people_http: PeopleHTTP):
    batch = [{"externalId": f"f{i}", "firstName": f"a{ch}b"} for i, ch in enumerate(FORBIDDEN)]
    batch += [{"externalId": "l", "lastName": "x&y"}, {"externalId": "m", "middleName": "x#"}]
    batch += [{"externalId": "n", "nickName": "a:b"}, {"externalId": "city-ok", "city": "Split (HR)"}]
    body = people_http.upsert(batch).json()
    assert sorted(e["index"] for e in body["errors"]) == list(range(len(batch) - 1))
    fields = [
        e["details"][0]["property"].split(".")[1] for e in sorted(body["errors"], key=lambda e: e["index"])
    ]
    assert fields[-3:] == ["lastName", "middleName", "nickName"]
    assert [x["index"] for x in body["results"]] == [len(batch) - 1]  # other fields may hold them


def test_valid_edge_values_are_accepted_and_stored(defined, people_http: PeopleHTTP):
    batch = [{"externalId": f"v{i}", **extra} for i, extra in enumerate(VALID_EXTRAS)]
    body = people_http.upsert(batch).json()
    assert body["errors"] == []
    assert [x["status"] for x in body["results"]] == ["CREATED"] * len(VALID_EXTRAS)
    p3 = defined.person_by_external_id("v3")
    assert p3["contactInformation"] == [{"type": "PHONE", "identifier": "14155550123", "primary": True}]
    p5 = defined.person_by_external_id("v5")
    assert p5["customAttributes"]["group"] == 9223372036854775807  # stored under the defined name
    p10 = defined.person_by_external_id("v10")
    assert p10["id"] != 999 and p10["createdAt"] != "2020-01-01T00:00:00"


def test_item_that_is_not_an_object(people_http: PeopleHTTP):
    body = people_http.upsert(["just a string", {"externalId": "fine"}]).json()
    assert body["errors"][0]["index"] == 0
    assert body["errors"][0]["details"] == [{"property": "persons[0]", "message": "Must be an object"}]
    assert body["results"][0]["index"] == 1
