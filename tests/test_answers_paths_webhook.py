"""The Answers response-path helper, and the store/cart/converted webhook parser, deduper and register helper."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import BigCommerceError
from bc2people.answers.paths import PathError, parse_path, select
from bc2people.answers.webhook import (
    LRUDeduper,
    WebhookError,
    handle_cart_converted,
    parse_cart_converted,
    register_cart_converted_hook,
)

CUSTOMER = {"first_name": "Ana", "addresses": [{"city": "Zagreb"}, {"city": "Split"}], "first name": "x",
            "meta": {"0": "zero-key"}}
# the payload quoted in the reference notes (bigcommerce-api.md §5.15)
REFERENCE_PAYLOAD = {"scope": "store/cart/converted", "store_id": "1025646",
                     "data": {"type": "cart", "id": "d30016e2-23c0-4a90-884f-2e92ac135476", "orderId": 252},
                     "hash": "b86db7c77d7ef8f90d6a8aefa56de32ccd776923", "created_at": 1561486893,
                     "producer": "stores/{store_hash}"}
MISSION_PAYLOAD = {"producer": "stores/1xxxxx", "hash": "33f9585a3810123456789abcdef0123456789abc",
                   "created_at": 1686238730, "store_id": "1001000000", "scope": "store/cart/converted",
                   "data": {"type": "cart", "id": "7ff6ef6f-1e0b-435e-b57b-42486fec7488", "orderId": 24725}}


@pytest.mark.parametrize(("path", "value"), [
    ("first_name", "Ana"), ("$.first_name", "Ana"), ("addresses.0.city", "Zagreb"), ("$.addresses[1].city", "Split"),
    ("$['first name']", "x"), ("meta.0", "zero-key"), ("$", CUSTOMER), ("addresses[0]", {"city": "Zagreb"}),
])
def test_select_answers_paths(path: str, value: Any) -> None:
    assert select(CUSTOMER, path) == value


def test_select_missing_and_malformed() -> None:
    with pytest.raises(PathError, match="addresses.5"):
        select(CUSTOMER, "addresses.5.city")
    assert select(CUSTOMER, "last_name", default=None) is None
    with pytest.raises(PathError):
        parse_path("addresses[0]city")
    with pytest.raises(PathError):
        parse_path("a..b")


@given(st.lists(st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.integers(0, 3)),
                min_size=1, max_size=5), st.text(max_size=5))
def test_select_finds_what_was_built(parts: list[Any], leaf: str) -> None:
    doc: Any = leaf
    for part in reversed(parts):
        doc = [None] * part + [doc] if isinstance(part, int) else {part: doc}
    dotted = ".".join(str(p) for p in parts)
    bracket = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    assert select(doc, dotted) == leaf and select(doc, bracket) == leaf


def test_parse_mission_and_spec_payloads() -> None:
    event = parse_cart_converted(MISSION_PAYLOAD)
    assert (event.order_id, event.cart_id, event.store_id) == (24725, "7ff6ef6f-1e0b-435e-b57b-42486fec7488",
                                                               "1001000000")
    assert parse_cart_converted(REFERENCE_PAYLOAD).order_id == 252


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda p: p.update(scope="store/cart/created"), "scope"),
    (lambda p: p["data"].update(orderId="24725"), "data.orderId"),
    (lambda p: p["data"].update(orderId=True), "data.orderId"),
    (lambda p: p["data"].update(type="order"), "data.type"),
    (lambda p: p["data"].update(id="not-a-uuid"), "data.id"),
    (lambda p: p.pop("hash"), "hash"),
    (lambda p: p.update(store_id=1001000000), "store_id"),
    (lambda p: p.update(created_at="yesterday"), "created_at"),
    (lambda p: p.update(producer="me"), "producer"),
    (lambda p: p.update(data=[]), "data"),
])
def test_invalid_payloads_name_the_field(mutate: Any, field: str) -> None:
    payload = copy.deepcopy(MISSION_PAYLOAD)
    mutate(payload)
    with pytest.raises(WebhookError) as err:
        parse_cart_converted(payload)
    assert err.value.status == 422 and field in err.value.errors


def test_non_object_is_400_and_duplicates_are_flagged() -> None:
    with pytest.raises(WebhookError) as err:
        parse_cart_converted([MISSION_PAYLOAD])
    assert err.value.status == 400
    dedupe = LRUDeduper(max_size=4)  # two keys per event: hash and (cart id, order id)
    assert handle_cart_converted(MISSION_PAYLOAD, dedupe).duplicate is False
    assert handle_cart_converted(MISSION_PAYLOAD, dedupe).duplicate is True
    for n, h in enumerate(("a" * 40, "b" * 40), start=1):
        data = {**MISSION_PAYLOAD["data"], "orderId": MISSION_PAYLOAD["data"]["orderId"] + n}
        assert handle_cart_converted({**MISSION_PAYLOAD, "hash": h, "data": data}, dedupe).duplicate is False
    assert len(dedupe) == 4 and handle_cart_converted(MISSION_PAYLOAD, dedupe).duplicate is False  # evicted


def test_register_hook_against_sandbox(answers_client: BigCommerceClient, commerce_sandbox: Any) -> None:
    dest = "https://bot.example.com/webhooks/bigcommerce"
    result = register_cart_converted_hook(answers_client, dest, {"X-Api-Key": "hook-secret-value"})
    assert result["scope"] == "store/cart/converted" and result["is_active"] is True
    assert result["header_names"] == ["X-Api-Key"] and "hook-secret-value" not in json.dumps(result)
    stored = commerce_sandbox.commerce.hooks[result["id"]]
    assert stored["headers"] == {"X-Api-Key": "hook-secret-value"}
    with pytest.raises(BigCommerceError) as dup:
        register_cart_converted_hook(answers_client, dest, {"X-Api-Key": "hook-secret-value"})
    assert dup.value.status == 422 and "destination" in dup.value.errors
    for bad in ("http://bot.example.com/x", "https://bot.example.com:8443/x", "not a url"):
        with pytest.raises(WebhookError):
            register_cart_converted_hook(answers_client, bad)
    with pytest.raises(WebhookError):
        register_cart_converted_hook(answers_client, dest + "2", {"X-Bad\r\nInjected": "v"})
