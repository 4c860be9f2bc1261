"""Issue 14, items 8, 13 and 14: Retry-After units, what a 404 means in the adapter, webhook dedupe."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from bc2people.answers import carts, checkouts
from bc2people.answers.client import BigCommerceClient, retry_after_seconds
from bc2people.answers.config import AnswersConfig
from bc2people.answers.http import create_app
from bc2people.answers.webhook import CartConverted, LRUDeduper, handle_cart_converted
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

API_KEY = "bot-api-key-0123456789abcdef"
AUTH = {"X-Api-Key": API_KEY}
CART = "7ff6ef6f-1e0b-435e-b57b-42486fec7488"
ADDRESS: dict[str, Any] = {"email": "ana@example.com", "country_code": "HR", "first_name": "Ana", "last_name": "Kovac",
                           "address1": "Ilica 1", "city": "Zagreb", "postal_code": "10000"}


def _payload(created_at: int, order_id: int = 24725, cart_id: str = CART) -> dict[str, Any]:
    import hashlib

    body = {"producer": "stores/x", "created_at": created_at, "store_id": "1001000000",
            "scope": "store/cart/converted", "data": {"type": "cart", "id": cart_id, "orderId": order_id}}
    return {**body, "hash": hashlib.sha1(repr(sorted(body.items())).encode()).hexdigest()}


# -- item 8: X-Retry-After is seconds ---------------------------------------------------
def test_sandbox_429_sends_x_retry_after_in_seconds_and_the_client_reads_seconds(commerce_sandbox: Any) -> None:
    url = f"{commerce_sandbox.base_url}/stores/{ANSWERS_STORE}/v3/catalog/products/80"
    headers = {"X-Auth-Token": ANSWERS_TOKEN, "Accept": "application/json"}
    commerce_sandbox.set_quota(1, 30.0)
    try:
        assert requests.get(url, headers=headers, timeout=5).status_code == 200
        resp = requests.get(url, headers=headers, timeout=5)
    finally:
        commerce_sandbox.set_quota(None)
    assert resp.status_code == 429
    retry_s, reset_ms = int(resp.headers["X-Retry-After"]), int(resp.headers["X-Rate-Limit-Time-Reset-Ms"])
    assert 1 <= retry_s <= 30 and retry_s == max(1, math.ceil(reset_ms / 1000))  # seconds, as the docs say
    # both headers name the same moment; the client waits for the later reading of the two
    assert retry_after_seconds(resp) == pytest.approx(max(retry_s, reset_ms / 1000))
    del resp.headers["X-Rate-Limit-Time-Reset-Ms"]  # a 429 that carries only X-Retry-After
    assert retry_after_seconds(resp) == retry_s  # seconds, not retry_s / 1000
    del resp.headers["X-Retry-After"]
    assert retry_after_seconds(resp) is None


def test_a_429_with_only_x_retry_after_is_not_retried_at_once(answers_client: BigCommerceClient,
                                                                commerce_sandbox: Any) -> None:
    """The client must not hammer: with X-Retry-After of many seconds it gives up instead of retrying."""
    commerce_sandbox.set_quota(0, 30.0)
    try:
        before = answers_client.requests_sent
        with pytest.raises(Exception) as err:
            carts.get_cart(answers_client, CART)
    finally:
        commerce_sandbox.set_quota(None)
    assert getattr(err.value, "status", None) == 429 and answers_client.requests_sent - before == 1


# -- item 13: a 404 on a sub-resource is not `found: false` --------------------------------
@pytest.fixture
def app_client(answers_config: AnswersConfig) -> Iterator[TestClient]:
    with TestClient(create_app(answers_config, API_KEY)) as client:
        yield client


def test_a_missing_consignment_is_not_found_false(app_client: TestClient, answers_client: BigCommerceClient,
                                                  answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 80, 1)
    checkouts.add_consignment(answers_client, cart["cart_id"], **ADDRESS)
    r = app_client.post("/functions/select_shipping_option", headers=AUTH, json={
        "checkout_id": cart["cart_id"], "consignment_id": "0123456789abc", "shipping_option_id": "x1"})
    body = r.json()
    assert r.status_code != 404 and r.status_code == 422, body
    assert body["error"] is True and "found" not in body and body["errors"]["bigcommerce_status"] == "404"
    assert "Consignment" in body["title"]
    # the thing asked for itself missing is still found: false with 404
    miss = app_client.post("/functions/get_cart", headers=AUTH, json={"cart_id": "00000000-0000-4000-8000-000000000000"})
    assert miss.status_code == 404 and miss.json()["found"] is False


def test_adding_to_a_missing_cart_is_an_error_not_found_false(app_client: TestClient) -> None:
    r = app_client.post("/functions/add_item_to_cart", headers=AUTH,
                        json={"cart_id": "00000000-0000-4000-8000-000000000000", "product_id": 80})
    assert r.status_code == 422 and r.json()["title"] == "Cart not found"
    assert r.json()["errors"]["bigcommerce_status"] == "404"


# -- item 14: dedupe on (cart id, order id) as well as hash -------------------------------
def test_a_refired_cart_converted_with_a_new_hash_is_a_duplicate() -> None:
    dedupe = LRUDeduper()
    first = handle_cart_converted(_payload(1686238730), dedupe)
    refired = handle_cart_converted(_payload(1686238799), dedupe)  # new created_at, so a new hash
    assert first.hash != refired.hash
    assert first.duplicate is False and refired.duplicate is True and refired.order_id == first.order_id
    again = handle_cart_converted(_payload(1686238730), dedupe)  # same hash: still a duplicate
    assert again.duplicate is True
    other_order = handle_cart_converted(_payload(1686238800, order_id=24726), dedupe)  # a second order of the cart
    assert other_order.duplicate is False


def test_the_adapter_hands_a_refired_event_on_once(answers_config: AnswersConfig) -> None:
    seen: list[CartConverted] = []
    with TestClient(create_app(answers_config, API_KEY, on_cart_converted=seen.append)) as client:
        a = client.post("/webhooks/bigcommerce", json=_payload(1686238730), headers=AUTH)
        b = client.post("/webhooks/bigcommerce", json=_payload(1686239999), headers=AUTH)
    assert a.status_code == b.status_code == 200 and b.json()["duplicate"] is True
    assert [e.order_id for e in seen] == [24725]
