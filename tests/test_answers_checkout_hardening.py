"""Issue 14, items 9 and 11: Create Order status ids and retries; correcting a shipping or billing address."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from bc2people.answers import carts, checkouts
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import BigCommerceError, InvalidParameter
from tests.fixtures_answers import ANSWERS_STORE

ADDRESS: dict[str, Any] = {"email": "ana@example.com", "country_code": "HR", "first_name": "Ana", "last_name": "Kovac",
                           "address1": "Ilica 1", "city": "Zagreb", "postal_code": "10000"}
_tokens = itertools.count(1)


def _orders_of(sandbox: Any, cart_id: str) -> list[dict[str, Any]]:
    return [o for o in sandbox.commerce.orders.values() if o["cart_id"] == cart_id]


def _ready_checkout(client: BigCommerceClient, customer_id: int) -> str:
    cart = carts.create_cart(client, customer_id, 80, 1)
    shipped = checkouts.add_consignment(client, cart["cart_id"], **ADDRESS)
    checkouts.select_shipping_option(client, cart["cart_id"], shipped["consignment_id"],
                                     shipped["cheapest_shipping_option_id"])
    checkouts.add_billing_address(client, cart["cart_id"], **ADDRESS)
    return str(cart["cart_id"])


@pytest.fixture
def refusing_billing_post(commerce_sandbox: Any) -> Iterator[Any]:
    commerce_sandbox.commerce.billing_post_existing = "refuse"
    yield commerce_sandbox
    commerce_sandbox.commerce.billing_post_existing = "replace"


# -- item 9 ---------------------------------------------------------------------------------
def test_an_undocumented_status_id_is_refused_before_any_order_exists(
        commerce_sandbox: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    checkout_id = _ready_checkout(answers_client, answers_customer["id"])
    for bad in (15, 42, -1):
        with pytest.raises(InvalidParameter) as err:
            checkouts.create_order(answers_client, checkout_id, bad)
        assert err.value.status == 422 and "status_id" in err.value.errors
    assert _orders_of(commerce_sandbox, checkout_id) == []  # no orphan Incomplete order


def test_a_retry_after_a_failed_status_change_makes_no_second_order(
        commerce_sandbox: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    checkout_id = _ready_checkout(answers_client, answers_customer["id"])
    # a token that may create the order but not change it: the status change fails after creation
    token = f"orders-read-only-{next(_tokens)}"
    commerce_sandbox.scoped_tokens[token] = frozenset({"store_checkouts", "store_v2_orders_read_only"})
    limited = BigCommerceClient(AnswersConfig(ANSWERS_STORE, token, commerce_sandbox.base_url, timeout=5.0))
    with pytest.raises(BigCommerceError) as err:
        checkouts.create_order(limited, checkout_id, 11)
    assert err.value.status == 403
    [orphan] = _orders_of(commerce_sandbox, checkout_id)
    assert orphan["status_id"] == 0 and str(orphan["id"]) in err.value.errors["order_id"]
    done = checkouts.create_order(answers_client, checkout_id, 11)  # the retry, with a token that may
    assert done["order_id"] == orphan["id"] and done["status_id"] == 11 and done["resumed"] is True
    assert len(_orders_of(commerce_sandbox, checkout_id)) == 1


def test_incomplete_orders_are_reused_and_other_statuses_are_not_changed(
        commerce_sandbox: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    checkout_id = _ready_checkout(answers_client, answers_customer["id"])
    first = checkouts.create_order(answers_client, checkout_id, 0)
    again = checkouts.create_order(answers_client, checkout_id, 0)
    assert again["order_id"] == first["order_id"] and again["resumed"] is True
    assert len(_orders_of(commerce_sandbox, checkout_id)) == 1
    pending = checkouts.create_order(answers_client, checkout_id, 1)
    assert pending["order_id"] == first["order_id"] and pending["status_id"] == 1
    with pytest.raises(Exception) as err:  # someone set another status already: refuse, change nothing
        checkouts.create_order(answers_client, checkout_id, 7)
    assert getattr(err.value, "status", None) == 409 and commerce_sandbox.commerce.orders[first["order_id"]]["status_id"] == 1


# -- item 11 --------------------------------------------------------------------------------
def test_a_corrected_shipping_address_updates_the_consignment(
        commerce_sandbox: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 80, 1)
    first = checkouts.add_consignment(answers_client, cart["cart_id"], **ADDRESS)
    fixed = checkouts.add_consignment(answers_client, cart["cart_id"], **{**ADDRESS, "address1": "Ilica 2"})
    consignments = fixed["checkout"]["consignments"]
    assert len(consignments) == 1 and fixed["consignment_id"] == first["consignment_id"]
    assert consignments[0]["address"]["address1"] == "Ilica 2" and fixed["shipping_options"]
    checkouts.select_shipping_option(answers_client, cart["cart_id"], fixed["consignment_id"],
                                     fixed["cheapest_shipping_option_id"])
    checkouts.add_billing_address(answers_client, cart["cart_id"], **ADDRESS)
    assert checkouts.create_order(answers_client, cart["cart_id"], 11)["status_id"] == 11


def test_a_corrected_billing_address_is_updated_whatever_post_does(
        refusing_billing_post: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 80, 1)
    first = checkouts.add_billing_address(answers_client, cart["cart_id"], **ADDRESS)
    fixed = checkouts.add_billing_address(answers_client, cart["cart_id"], **{**ADDRESS, "city": "Split"})
    assert fixed["billing_address_id"] == first["billing_address_id"] and fixed["billing_address"]["city"] == "Split"
    served = refusing_billing_post.requests_served
    path = f"/stores/{ANSWERS_STORE}/v3/checkouts/{cart['cart_id']}/billing-address"
    assert served[f"POST {path}"] == 1 and served[f"PUT {path}/{first['billing_address_id']}"] == 1


def test_the_sandbox_models_both_billing_post_behaviours(
        commerce_sandbox: Any, answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 80, 1)
    body = {k: v for k, v in ADDRESS.items()}
    answers_client.request("POST", "v3", "checkouts", cart["cart_id"], "billing-address", json=body)
    again = answers_client.request("POST", "v3", "checkouts", cart["cart_id"], "billing-address",
                                   json={**body, "city": "Split"})
    assert again["data"]["billing_address"]["city"] == "Split"  # default: replace
    commerce_sandbox.commerce.billing_post_existing = "refuse"
    try:
        with pytest.raises(BigCommerceError) as err:
            answers_client.request("POST", "v3", "checkouts", cart["cart_id"], "billing-address", json=body)
    finally:
        commerce_sandbox.commerce.billing_post_existing = "replace"
    assert err.value.status == 422
