"""Property tests: arbitrary customer-shaped JSON never crashes the engine; every input ends
as a People-valid payload or a rejection with a reason."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.pipelines.mapping import Mapping, payload_hash
from tests.fixtures_mapping import CTX, CUSTOMER, DEFAULT_MAPPING_PATH, assert_people_valid

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "Yes", "no", "1", "+1 415 555 2671", "(415) 555-2671", "a@b.co", "JANE@EXAMPLE.COM",
                     "2020-02-06T17:46:33Z", "2020-02-30T00:00:00Z", "x" * 300, "a&b<c>", "\u202e\u0000\ufeff", "null",
                     "lone \ud83d", "\udc00x"]),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(TEXT, inner, max_size=3)), max_leaves=12)


def _field(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(shape, shape, JSON)


ADDRESS = st.fixed_dictionaries({}, optional={
    "address1": _field(TEXT), "city": _field(TEXT), "country": _field(TEXT), "country_code": _field(TEXT),
    "state_or_province": _field(TEXT), "postal_code": _field(TEXT), "phone": _field(TEXT),
})
CUSTOMERS = st.fixed_dictionaries({}, optional={
    "id": _field(st.integers(-5, 10**9)),
    "email": _field(TEXT), "first_name": _field(TEXT), "last_name": _field(TEXT), "company": _field(TEXT),
    "phone": _field(TEXT), "customer_group_id": _field(st.integers(0, 10)),
    "date_created": _field(TEXT), "date_modified": _field(TEXT),
    "accepts_product_review_abandoned_cart_emails": _field(st.booleans()),
    "origin_channel_id": _field(st.integers(0, 5)), "channel_ids": _field(st.lists(st.integers(1, 5), max_size=3)),
    "addresses": _field(st.lists(ADDRESS, max_size=2)),
    "form_fields": _field(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["newsletter", "x"]), "value": JSON}),
                                   max_size=2)),
    "store_credit_amounts": _field(st.lists(st.fixed_dictionaries({"amount": _field(st.floats())}), max_size=2)),
})

_MAPPING: Mapping | None = None


def _mapping() -> Mapping:
    global _MAPPING
    if _MAPPING is None:
        from bc2people.pipelines.mapping import load_mapping

        _MAPPING = load_mapping(DEFAULT_MAPPING_PATH)
    return _MAPPING


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(customer=CUSTOMERS)
def test_any_customer_shaped_json_gives_a_valid_payload_or_a_reason(customer: dict[str, Any]) -> None:
    rec = _mapping().map(customer, CTX)
    assert (rec.payload is None) != (rec.rejection is None)
    if rec.payload is not None:
        assert_people_valid(rec.payload)
        assert rec.payload["externalId"] == f"bc-{CTX['store_hash']}-{customer['id']}"
        assert payload_hash(rec.payload) == payload_hash(_mapping().map(customer, CTX).payload)
    else:
        assert rec.rejection and rec.rejection_field and rec.rejection.startswith(rec.rejection_field + ":")
    json.dumps(rec.sources, default=str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(CUSTOMER)), value=JSON)
def test_one_weird_field_in_a_good_customer_never_crashes(key: str, value: Any) -> None:
    customer = {**CUSTOMER, key: value}
    rec = _mapping().map(customer, CTX)
    assert rec.payload is not None or rec.rejection
    if rec.payload is not None:
        assert_people_valid(rec.payload)


@settings(max_examples=100, deadline=None)
@given(anything=JSON)
def test_anything_at_all_is_mapped_or_rejected(anything: Any) -> None:
    rec = _mapping().map(anything, CTX)
    assert rec.payload is not None or rec.rejection
