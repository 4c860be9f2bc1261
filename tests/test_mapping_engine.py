"""Mapping customers: payloads, rejections with reasons, options, canonical hashing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from bc2people.pipelines.mapping import MappedRecord, Mapping, payload_hash
from tests.fixtures_mapping import CTX, assert_people_valid

MakeMapping = Callable[..., Mapping]


def test_default_mapping_on_a_realistic_customer(default_mapping: Mapping, customer: dict[str, Any]) -> None:
    rec = default_mapping.map(customer, CTX)
    assert isinstance(rec, MappedRecord)
    assert rec.rejection is None and rec.rejection_field is None
    assert rec.customer_id == 42 and rec.external_id == "bc-abc123-42"
    assert rec.payload == {
        "externalId": "bc-abc123-42",
        "type": "CUSTOMER",
        "firstName": "Jane",
        "lastName": "O'Neil Sales",
        "address": "1 Main St",
        "city": "San Francisco",
        "country": "United States",
        "contactInformation": [
            {"type": "EMAIL", "identifier": "jane.doe@example.com", "primary": True},
            {"type": "PHONE", "identifier": "14155552671", "primary": True},
        ],
        "tags": ["accepts-marketing", "bc-group-3", "bigcommerce", "newsletter"],
        "customAttributes": {
            "bc_accepts_marketing": True, "bc_channel_ids": "1,2", "bc_company": "ACME Ltd", "bc_country_code": "US",
            "bc_customer_group_id": 3, "bc_date_created": "2020-02-06T17:46:33Z", "bc_date_modified": "2024-05-01T08:00:00Z",
            "bc_newsletter": True, "bc_origin_channel_id": 1, "bc_postal_code": "94103", "bc_state": "California",
            "bc_store_credit": 12.75,
        },
    }
    assert list(rec.payload) == ["externalId", "type", "firstName", "lastName", "address", "city", "country",
                                 "contactInformation", "tags", "customAttributes"]
    assert rec.sources["lastName"] == "O'Neil (Sales)"
    assert rec.sources["externalId"] == {"store_hash": "abc123", "$.id": 42}
    assert rec.sources["customAttributes.bc_store_credit"] == [10.5, 2.25]
    assert rec.sources["tags#2"] == {"$.customer_group_id": 3}


def test_default_mapping_leaves_out_empty_values_and_uses_fallback_phone(
    default_mapping: Mapping, customer: dict[str, Any]
) -> None:
    customer.update(company="", phone="", customer_group_id=0, accepts_product_review_abandoned_cart_emails=False,
                    form_fields=[{"name": "newsletter", "value": "no"}], channel_ids=None, addresses=[])
    payload = default_mapping.map(customer, CTX).payload
    assert payload is not None
    attrs = payload["customAttributes"]
    assert "bc_company" not in attrs and "bc_channel_ids" not in attrs and "bc_state" not in attrs
    assert attrs["bc_newsletter"] is False and attrs["bc_accepts_marketing"] is False
    assert payload["tags"] == ["bigcommerce"]
    assert "address" not in payload and "city" not in payload
    assert [c["type"] for c in payload["contactInformation"]] == ["EMAIL"]  # no phone anywhere
    customer["addresses"] = [{"phone": "+44 20 7946 0958"}]
    payload = default_mapping.map(customer, CTX).payload
    assert payload is not None
    assert payload["contactInformation"][1] == {"type": "PHONE", "identifier": "442079460958", "primary": True}


def test_default_mapping_drops_invalid_contacts_but_keeps_the_person(
    default_mapping: Mapping, customer: dict[str, Any]
) -> None:
    customer.update(email="not-an-email", phone="555-CALL-NOW", addresses=[])
    rec = default_mapping.map(customer, CTX)
    assert rec.rejection is None and rec.payload is not None
    assert "contactInformation" not in rec.payload
    assert rec.payload["externalId"] == "bc-abc123-42"


def test_payload_hash_is_canonical(default_mapping: Mapping, customer: dict[str, Any]) -> None:
    a = default_mapping.map(customer, CTX).payload
    shuffled = dict(reversed(list(copy.deepcopy(customer).items())))
    b = default_mapping.map(shuffled, CTX).payload
    assert a == b and payload_hash(a) == payload_hash(b)
    assert json.dumps(a) == json.dumps(b)  # same key order too
    assert len(payload_hash(a)) == 64
    customer["first_name"] = "Janet"
    c = default_mapping.map(customer, CTX).payload
    assert payload_hash(c) != payload_hash(a)
    assert payload_hash({"b": 1, "a": [1, "é"]}) == payload_hash({"a": [1, "é"], "b": 1})
    assert payload_hash({"a": "lone \ud83d"}) != payload_hash({"a": "lone "})


@pytest.mark.parametrize(
    ("fields", "change", "field", "fragment"),
    [
        ("- to: lastName\n  from: $.last_name\n", {"last_name": "x" * 300}, "lastName",
         "is 300 characters, People allows 255 (add the truncate transform) (source $.last_name = 'xxxx"),
        ("- to: firstName\n  from: $.first_name\n", {"first_name": "Jane (Sales)"}, "firstName",
         "characters People forbids in names: '()' (add strip_forbidden) (source $.first_name = 'Jane (Sales)')"),
        ("- to: email\n  from: $.email\n  transforms: [email]\n", {"email": "jane@"}, "email",
         "email: is not a valid email address (source $.email = 'jane@')"),
        ("- to: phone\n  from: $.phone\n  transforms: [phone_e164]\n", {"phone": "123"}, "phone",
         "is not a valid phone number"),
        ("- to: phone\n  from: $.phone\n", {"phone": "(415) 555-2671"}, "phone", "add the phone_e164 transform"),
        ("- to: firstName\n  from: $.first_name\n  transforms: [trim]\n", {"first_name": ["Jane"]}, "firstName",
         "trim expects text, got list (source $.first_name = ['Jane'])"),
        ("- to: customAttributes.g\n  type: INTEGER\n  from: $.customer_group_id\n", {"customer_group_id": "gold"},
         "customAttributes.g", "cannot read str as a whole number (source $.customer_group_id = 'gold')"),
        ("- to: customAttributes.c\n  type: DECIMAL\n  from: $.store_credit_amounts[*].amount\n  take: all\n  transforms: [sum]\n",
         {"store_credit_amounts": [{"amount": 1e308}]}, "customAttributes.c", "out of People's DECIMAL range"),
        ("- to: customAttributes.d\n  type: DATE\n  from: $.date_created\n", {}, "customAttributes.d",
         "must be a date written YYYY-MM-DD (source $.date_created = '2020-02-06T17:46:33Z')"),
        ("- to: birthDate\n  from: $.notes\n  transforms: [date]\n", {"notes": "someday"}, "birthDate",
         "is not a date this transform can read"),
        ("- to: gender\n  from: $.notes\n", {"notes": "X"}, "gender", "must be one of MALE, FEMALE"),
        ("- to: email\n  from: $.email\n  take: required\n", {"email": ""}, "email", "required value is missing"),
        ("- to: tags\n  template: 'g-{$.channel_ids}'\n", {}, "tags", "placeholder {$.channel_ids} is a list"),
        ("- to: tags\n  from: $.channel_ids[*]\n  take: all\n  transforms: [{lookup: {map: {1: [x]}}}]\n", {},
         "tags", "must be text, got list (item"),
        ("- to: city\n  from: $.addresses[0].city\n", {"addresses": [{"city": "Z\ud83d"}]}, "city",
         "invalid Unicode character"),
        ("- to: customAttributes.c\n  type: STRING\n  from: $.addresses[0].city\n", {"addresses": [{"city": "Z\udc00"}]},
         "customAttributes.c", "invalid Unicode character"),
    ],
)
def test_rejections_name_the_field_and_the_source_value(
    mapping_text: MakeMapping, customer: dict[str, Any], fields: str, change: dict[str, Any], field: str, fragment: str
) -> None:
    m = mapping_text(fields)
    customer.update(change)
    rec = m.map(customer, CTX)
    assert rec.payload is None
    assert rec.rejection_field == field
    assert rec.rejection is not None and rec.rejection.startswith(field + ": ")
    assert fragment in rec.rejection
    assert rec.external_id == "bc-abc123-42" and rec.customer_id == 42


def test_no_external_id_is_a_rejection(default_mapping: Mapping, customer: dict[str, Any]) -> None:
    del customer["id"]
    rec = default_mapping.map(customer, CTX)
    assert rec.payload is None and rec.rejection_field == "externalId"
    assert "no value" in (rec.rejection or "")


def test_on_invalid_drop_and_reject(mapping_text: MakeMapping, customer: dict[str, Any]) -> None:
    strict = mapping_text("- to: email\n  from: $.email\n  transforms: [email]\n")
    lenient = mapping_text("- to: email\n  from: $.email\n  transforms: [email]\n  on_invalid: drop\n")
    customer["email"] = "broken@"
    assert strict.map(customer, CTX).rejection_field == "email"
    assert lenient.map(customer, CTX).payload == {"externalId": "bc-abc123-42"}


def test_take_all_contacts_dedupe_and_primary(mapping_text: MakeMapping, customer: dict[str, Any]) -> None:
    m = mapping_text(
        "- to: email\n  from: $.email\n  transforms: [email]\n"
        "- to: email\n  value: JANE.DOE@example.com\n  transforms: [email]\n"
        "- to: phone\n  from: $.addresses[*].phone\n  take: all\n  transforms: [phone_e164]\n  primary: true\n  on_invalid: drop\n"
    )
    customer["addresses"].append({"phone": "+44 20 7946 0958"})
    customer["addresses"].append({"phone": "garbage"})
    payload = m.map(customer, CTX).payload
    assert payload is not None
    assert payload["contactInformation"] == [
        {"type": "EMAIL", "identifier": "jane.doe@example.com"},
        {"type": "PHONE", "identifier": "14155552671", "primary": True},
        {"type": "PHONE", "identifier": "442079460958"},
    ]


def test_when_conditions(mapping_text: MakeMapping, customer: dict[str, Any]) -> None:
    m = mapping_text(
        "- to: tags\n  value: grouped\n  when: $.customer_group_id\n"
        "- to: tags\n  value: news\n  when: {from: \"$.form_fields[?(@.name=='newsletter')].value\", in: [yes, 'true', 1]}\n"
        "- to: tags\n  value: ch2\n  when: {from: '$.channel_ids[*]', equals: 2}\n"
    )
    assert m.map(customer, CTX).payload["tags"] == ["ch2", "grouped", "news"]  # type: ignore[index]
    customer.update(customer_group_id=0, form_fields=[{"name": "newsletter", "value": ["No"]}], channel_ids=[1])
    assert "tags" not in m.map(customer, CTX).payload  # type: ignore[operator]
    customer["form_fields"] = [{"name": "newsletter", "value": 1}]
    assert m.map(customer, CTX).payload["tags"] == ["news"]  # type: ignore[index]


def test_default_and_on_empty_clear(mapping_text: MakeMapping, customer: dict[str, Any]) -> None:
    m = mapping_text(
        "- to: nickName\n  from: $.notes\n  on_empty: clear\n"
        "- to: gender\n  from: $.notes\n  on_empty: clear\n"
        "- to: customAttributes.note\n  type: STRING\n  from: $.notes\n  on_empty: clear\n"
        "- to: customAttributes.n\n  type: INTEGER\n  from: $.notes\n  on_empty: clear\n"
        "- to: country\n  from: $.nowhere\n  default: Unknown\n"
        "- to: middleName\n  from: $.company\n  transforms: [trim]\n  default: '-'\n"
    )
    customer.update(notes="", company="   ")  # empty, and empty after trim
    payload = m.map(customer, CTX).payload
    assert payload == {"externalId": "bc-abc123-42", "nickName": "", "gender": None, "middleName": "-",
                       "country": "Unknown", "customAttributes": {"n": None, "note": ""}}


def test_coalescing_from_list_and_lookup(mapping_text: MakeMapping, customer: dict[str, Any]) -> None:
    m = mapping_text(
        "- to: city\n  from: [$.nowhere, $.company, '$.addresses[0].city']\n"
        "- to: gender\n  from: $.notes\n  transforms: [{lookup: {map: {m: MALE, f: FEMALE}, default: null}}]\n"
    )
    customer.update(company="", notes="F")
    assert m.map(customer, CTX).payload == {"externalId": "bc-abc123-42", "city": "San Francisco", "gender": "FEMALE"}
    customer["notes"] = "other"
    assert "gender" not in (m.map(customer, CTX).payload or {})


def test_bad_customers_and_context(default_mapping: Mapping) -> None:
    weird: Any
    for weird in (None, [], "customer", 42):
        rec = default_mapping.map(weird, CTX)
        assert rec.payload is None and rec.rejection and "not a JSON object" in rec.rejection
    rec = default_mapping.map({}, CTX)
    assert rec.payload is None and rec.rejection_field == "externalId"
    with pytest.raises(ValueError, match="store_hash"):
        default_mapping.map({"id": 1}, {})


def test_map_many_equals_map(default_mapping: Mapping) -> None:
    from bc2people.sandbox.generator import generate_customers

    customers = generate_customers(50, seed=5)
    assert list(default_mapping.map_many(customers, CTX)) == [default_mapping.map(c, CTX) for c in customers]


def test_default_mapping_over_generator_customers_messy_and_nasty(default_mapping: Mapping) -> None:
    from bc2people.sandbox.generator import generate_customers, nasty_customers

    customers = generate_customers(1500, seed=3) + nasty_customers(300, seed=3, start_id=50_000)
    records = list(default_mapping.map_many(customers, CTX))
    assert len(records) == len(customers)
    ids = set()
    for customer, rec in zip(customers, records, strict=True):
        assert (rec.payload is None) != (rec.rejection is None), rec
        assert rec.customer_id == customer["id"]
        if rec.payload is not None:
            assert_people_valid(rec.payload)
            assert rec.external_id == f"bc-abc123-{customer['id']}"
            ids.add(rec.external_id)
        else:
            assert rec.rejection and rec.rejection_field and rec.rejection.startswith(rec.rejection_field + ": ")
            assert "source" in rec.rejection
    mapped = sum(r.payload is not None for r in records)
    assert mapped >= 1500  # every well-formed customer maps; only nasty ones may be rejected
    assert len(ids) == mapped


def test_what_the_engine_accepts_the_people_sandbox_accepts(
    default_mapping: Mapping, people_sandbox: Any, people_http: Any
) -> None:
    from bc2people.sandbox.generator import generate_customers, nasty_customers

    for name, data_type in default_mapping.custom_attributes.items():
        people_sandbox.define_custom_attribute(name, data_type)
    customers = generate_customers(300, seed=9) + nasty_customers(100, seed=9, start_id=70_000)
    payloads = [r.payload for r in default_mapping.map_many(customers, CTX) if r.payload is not None]
    assert len(payloads) > 300
    for start in range(0, len(payloads), 200):
        resp = people_http.upsert(payloads[start : start + 200])
        assert resp.status_code == 207
        body = resp.json()
        assert body["errors"] == [], body["errors"][:3]
    stored = people_sandbox.person_by_external_id(payloads[0]["externalId"])
    assert stored is not None and stored["firstName"] == payloads[0].get("firstName", stored["firstName"])
