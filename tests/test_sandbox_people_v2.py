"""People sandbox: v2 persons (get, list, delete), custom attributes and tags over real HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.fixtures_people import PeopleHTTP


def _seed(http: PeopleHTTP, n: int) -> None:
    persons = [
        {
            "externalId": f"bc-{i}",
            "firstName": f"Name{i:03d}",
            "contactInformation": [
                {"type": "EMAIL", "identifier": f"User{i}@Example.com"},
                {"type": "PHONE", "identifier": f"+3859100{i:05d}"},
            ],
            "tags": ["VIP"],
        }
        for i in range(n)
    ]
    assert http.upsert(persons).status_code == 207


def test_get_one_person_by_each_identifier_type_in_v2_shape(people_http: PeopleHTTP):
    _seed(people_http, 3)
    by_ext = people_http.request(
        "GET", "/people/2/persons", params={"identifier": "bc-1", "type": "EXTERNAL_ID"}
    )
    assert by_ext.status_code == 200
    person = by_ext.json()
    assert person["externalId"] == "bc-1"
    assert person["contactInformation"] == {
        "email": [{"address": "User1@Example.com"}],
        "phone": [{"number": "385910000001"}],
    }
    assert person["origin"] == "API" and person["modifiedFrom"] == "API"
    assert person["tags"] == ["VIP"]
    assert len(person["createdAt"]) == 19 and person["createdAt"][10] == "T"  # yyyy-MM-dd'T'HH:mm:ss
    for params in (
        {"identifier": "user1@example.COM", "type": "EMAIL"},
        {"identifier": "385910000001", "type": "PHONE"},
        {"identifier": "+385910000001", "type": "PHONE"},
        {"identifier": str(person["id"]), "type": "ID"},
    ):
        r = people_http.request("GET", "/people/2/persons", params=params)
        assert r.status_code == 200 and r.json()["id"] == person["id"], params


def test_get_missing_and_bad_queries(people_http: PeopleHTTP):
    missing = people_http.request(
        "GET", "/people/2/persons", params={"identifier": "nope", "type": "EXTERNAL_ID"}
    )
    assert missing.status_code == 404
    assert missing.json()["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
    other_channel = people_http.request(
        "GET", "/people/2/persons", params={"identifier": "u1", "type": "FACEBOOK"}
    )
    assert other_channel.status_code == 404
    bad_type = people_http.request("GET", "/people/2/persons", params={"identifier": "x", "type": "NICKNAME"})
    assert bad_type.status_code == 400
    assert bad_type.json()["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"
    no_type = people_http.request("GET", "/people/2/persons", params={"identifier": "x"})
    assert no_type.status_code == 400
    assert "type" in no_type.json()["requestError"]["serviceException"]["validationErrors"]


def test_list_paging_and_order(people_http: PeopleHTTP):
    _seed(people_http, 25)
    first = people_http.request("GET", "/people/2/persons").json()
    assert first["limit"] == 20 and first["page"] == 1 and len(first["persons"]) == 20
    assert "totalCount" not in first
    second = people_http.request(
        "GET", "/people/2/persons", params={"page": 2, "includeTotalCount": "true"}
    ).json()
    assert len(second["persons"]) == 5 and second["totalCount"] == 25
    ids = [p["id"] for p in first["persons"] + second["persons"]]
    assert len(set(ids)) == 25
    desc = people_http.request(
        "GET", "/people/2/persons", params={"orderBy": "firstName:desc", "limit": 3}
    ).json()
    assert [p["firstName"] for p in desc["persons"]] == ["Name024", "Name023", "Name022"]
    assert desc["orderBy"] == "firstName:desc"
    beyond = people_http.request("GET", "/people/2/persons", params={"page": 9}).json()
    assert beyond["persons"] == []
    big = people_http.request("GET", "/people/2/persons", params={"limit": 1000}).json()
    assert len(big["persons"]) == 25
    for params in ({"limit": 1001}, {"limit": 0}, {"page": 0}, {"limit": "x"}, {"orderBy": "email:asc"}):
        r = people_http.request("GET", "/people/2/persons", params=params)
        assert r.status_code == 400, params
    r = people_http.request("GET", "/people/2/persons", params={"filter": '{"firstName":"A"}'})
    assert r.status_code == 400 and "filter" in r.text


def test_delete_person(people_sandbox, people_http: PeopleHTTP):
    _seed(people_http, 2)
    r = people_http.request(
        "DELETE", "/people/2/persons", params={"identifier": "bc-0", "type": "EXTERNAL_ID"}
    )
    assert r.status_code == 200 and r.content == b""
    assert people_sandbox.person_by_external_id("bc-0") is None
    again = people_http.request(
        "DELETE", "/people/2/persons", params={"identifier": "bc-0", "type": "EXTERNAL_ID"}
    )
    assert again.status_code == 404
    # its identifiers are free again
    body = people_http.upsert(
        [{"externalId": "new", "contactInformation": [{"type": "EMAIL", "identifier": "user0@example.com"}]}]
    ).json()
    assert body["results"][0]["status"] == "CREATED"
    assert len(people_sandbox.persons()) == 2


def test_custom_attributes_http(people_sandbox, people_http: PeopleHTTP):
    r = people_http.request(
        "POST", "/people/2/customAttributes", json={"name": "Customer Group", "dataType": "INTEGER"}
    )
    assert r.status_code == 200
    created = r.json()
    assert created["name"] == "Customer Group" and created["dataType"] == "INTEGER" and "createdAt" in created
    dup = people_http.request(
        "POST", "/people/2/customAttributes", json={"name": "customer group", "dataType": "STRING"}
    )
    assert dup.status_code == 400
    assert dup.json()["errorCode"] == 40006
    assert dup.json()["requestError"]["serviceException"]["messageId"] == "DUPLICATE_NAME"
    for bad in (
        {"name": "x", "dataType": "MONEY"},
        {"name": "", "dataType": "STRING"},
        {"name": "a{b}", "dataType": "STRING"},
        {"name": "L", "dataType": "LIST_OF_OBJECTS"},
        {"name": "S", "dataType": "STRING", "objectSchema": {"a": "STRING"}},
    ):
        assert people_http.request("POST", "/people/2/customAttributes", json=bad).status_code == 400, bad
    lst = people_http.request(
        "POST",
        "/people/2/customAttributes",
        json={"name": "Cart", "dataType": "LIST_OF_OBJECTS", "objectSchema": {"productName": "STRING"}},
    )
    assert lst.json()["objectSchema"] == {"productName": "STRING"}
    one = people_http.request("GET", "/people/2/customAttributes/" + quote("CUSTOMER GROUP"))
    assert one.status_code == 200 and one.json()["name"] == "Customer Group"
    assert people_http.request("GET", "/people/2/customAttributes/none").status_code == 404
    listing = people_http.request(
        "GET", "/people/2/customAttributes", params={"includeTotalCount": "true"}
    ).json()
    assert [a["name"] for a in listing["customAttributes"]] == ["Cart", "Customer Group"]
    assert listing["limit"] == 20 and listing["page"] == 1 and listing["totalCount"] == 2
    assert people_sandbox.custom_attributes() == {"Customer Group": "INTEGER", "Cart": "LIST_OF_OBJECTS"}


def test_define_custom_attribute_python_api(people_sandbox):
    people_sandbox.define_custom_attribute("customer_group", "INTEGER")
    people_sandbox.define_custom_attribute("customer_group", "INTEGER")  # idempotent
    try:
        people_sandbox.define_custom_attribute("Customer_Group", "STRING")
    except ValueError as exc:
        assert "another data type" in str(exc)
    else:
        raise AssertionError("changing a data type must fail")
    assert people_sandbox.custom_attributes() == {"customer_group": "INTEGER"}


def test_tags_http(people_sandbox, people_http: PeopleHTTP):
    r = people_http.request("POST", "/people/2/tags", json={"name": "Deleted in store"})
    assert r.status_code == 200
    tag = r.json()
    assert tag["name"] == "Deleted in store" and isinstance(tag["id"], int)
    dup = people_http.request("POST", "/people/2/tags", json={"name": "DELETED IN STORE"})
    assert dup.status_code == 400 and dup.json()["errorCode"] == 40006
    assert people_http.request("POST", "/people/2/tags", json={"name": ""}).status_code == 400
    got = people_http.request("GET", "/people/2/tags/" + quote("deleted in store"))
    assert got.status_code == 200 and got.json()["id"] == tag["id"]
    assert people_http.request("GET", "/people/2/tags/none").status_code == 404
    people_http.request("POST", "/people/2/tags", json={"name": "A-first"})
    listing = people_http.request("GET", "/people/2/tags").json()
    assert [t["name"] for t in listing] == ["A-first", "Deleted in store"]  # bare array, as the spec declares
    assert people_sandbox.tags() == {"A-first", "Deleted in store"}


def test_tag_assignment_batch(people_sandbox, people_http: PeopleHTTP):
    _seed(people_http, 3)
    people_http.request("POST", "/people/2/tags", json={"name": "Deleted"})
    path = "/people/2/tags/Deleted/persons"
    body = {
        "people": [
            {"query": {"type": "EXTERNAL_ID", "identifier": "bc-0"}},
            {"query": {"type": "EMAIL", "identifier": "user1@example.com"}},
            {"query": {"type": "EXTERNAL_ID", "identifier": "nobody"}},  # skipped
        ]
    }
    r = people_http.request("PATCH", path, json=body)
    assert r.status_code == 200
    tags = {p["externalId"]: p["tags"] for p in people_sandbox.persons()}
    assert tags == {"bc-0": ["VIP", "Deleted"], "bc-1": ["VIP", "Deleted"], "bc-2": ["VIP"]}
    # idempotent
    assert people_http.request("PATCH", path, json=body).status_code == 200
    assert people_sandbox.person_by_external_id("bc-0")["tags"] == ["VIP", "Deleted"]
    # removal
    r = people_http.request(
        "DELETE", path, json={"people": [{"query": {"type": "EXTERNAL_ID", "identifier": "bc-0"}}]}
    )
    assert r.status_code == 200
    assert people_sandbox.person_by_external_id("bc-0")["tags"] == ["VIP"]
    # bad bodies
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"people": []},
        {"people": [{"query": {"type": "NAME", "identifier": "x"}}]},
    ]
    for bad in bad_bodies:
        assert people_http.request("PATCH", path, json=bad).status_code == 400, bad
    # unknown tag: created unless tags must exist
    people_http.request("PATCH", "/people/2/tags/Fresh/persons", json=body)
    assert "Fresh" in people_sandbox.tags()
    people_sandbox.require_existing_tags = True
    r = people_http.request("PATCH", "/people/2/tags/Unknown/persons", json=body)
    assert r.status_code == 404
    assert "Unknown" not in people_sandbox.tags()
