"""Each Answers function over real HTTP against the BigCommerce sandbox, and the whole checkout flow."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import requests

from bc2people.answers import carts, catalog, checkouts, customers, orders, redirects
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import AnswersError, BigCommerceError, InvalidParameter
from bc2people.answers.paths import select
from bc2people.answers.webhook import LRUDeduper, handle_cart_converted

ADDRESS: dict[str, Any] = {"email": "ana@example.com", "country_code": "HR", "first_name": "Ana", "last_name": "Kovac",
           "address1": "Ilica 1", "city": "Zagreb", "postal_code": "10000"}


def test_find_customer_by_email(answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    found = customers.find_customer_by_email(answers_client, answers_customer["email"].upper())
    assert found["found"] is True and found["id"] == answers_customer["id"]
    assert select(found, "$.first_name") == "Ana" and select(found, "addresses.0.city") == "Zagreb"
    assert customers.find_customer_by_email(answers_client, "nobody@example.com") == {
        "found": False, "email": "nobody@example.com"}
    with pytest.raises(InvalidParameter):
        customers.find_customer_by_email(answers_client, "a@example.com,b@example.com")


def test_catalog_functions(answers_client: BigCommerceClient) -> None:
    cats = catalog.list_product_categories(answers_client)
    assert cats["count"] >= 6 and {c["category_id"] for c in cats["categories"]} >= {18, 23}
    in_cat = catalog.get_products_in_category(answers_client, 23)
    assert in_cat["count"] >= 14 and all(23 in p["categories"] for p in in_cat["products"])
    assert catalog.get_products_in_category(answers_client, 23, limit=3)["count"] == 3
    search = catalog.search_products_by_name(answers_client, "chemex")
    assert search["first_product_id"] == 88
    exact = catalog.search_products_by_name(answers_client, "[Sample] Oak Cheese Grater", exact=True)
    assert [p["id"] for p in exact["products"]] == [98]
    assert catalog.search_products_by_name(answers_client, "Oak", exact="true")["count"] == 0  # type: ignore[arg-type]
    product = catalog.get_product_by_id(answers_client, 112)
    assert product["found"] and len(product["variants"]) == 4 and len(product["options"]) == 2
    assert catalog.get_product_by_id(answers_client, 424242) == {"found": False, "product_id": 424242}


def test_products_in_category_pages_past_250(commerce_sandbox: Any, answers_client: BigCommerceClient) -> None:
    commerce = commerce_sandbox.commerce
    if not commerce.categories.get(901):
        commerce.add_category(901, 0, "Bulk")
        for i in range(260):
            commerce.add_product(name=f"Bulk item {i}", price=1.0 + i, categories=[901])
    before = answers_client.requests_sent
    result = catalog.get_products_in_category(answers_client, 901)
    assert result["count"] == 260 and len({p["id"] for p in result["products"]}) == 260
    assert answers_client.requests_sent - before == 2


def test_cart_functions_and_variant_rule(answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    with pytest.raises(BigCommerceError) as err:
        carts.create_cart(answers_client, answers_customer["id"], 77, 1)
    assert err.value.status == 422 and "choose one of" in err.value.errors["variant_id"]
    towel = catalog.get_product_by_id(answers_client, 77)
    large = next(v["id"] for v in towel["variants"] if v["option_values"][0]["label"] == "Large")
    cart = carts.create_cart(answers_client, answers_customer["id"], 77, 2, variant_id=large)
    assert cart["cart_amount"] == 98.0 and cart["line_items"][0]["variant_id"] == large
    assert cart["cart_id"] == cart["checkout_id"]
    again = carts.add_item_to_cart(answers_client, cart["cart_id"], 111, quantity="3")  # type: ignore[arg-type]  # digit strings are accepted
    assert again["item_count"] == 5 and again["version"] == 2
    got = carts.get_cart(answers_client, cart["cart_id"])
    assert got["found"] and select(got, "line_items.1.product_id") == 111
    assert carts.get_cart(answers_client, "00000000-0000-4000-8000-000000000000")["found"] is False
    with pytest.raises(InvalidParameter):
        carts.get_cart(answers_client, "../customers")
    with pytest.raises(InvalidParameter):
        carts.create_cart(answers_client, answers_customer["id"], 80, quantity=0)


def test_orders_by_customer_normalized_and_empty(answers_client: BigCommerceClient,
                                                 answers_customer: dict[str, Any]) -> None:
    none = orders.get_orders_by_customer_id(answers_client, answers_customer["id"])
    assert none["count"] == 0 and none["orders"] == [] and none["latest_order_id"] is None
    assert orders.normalize_order({"date_created": "Wed, 10 Jan 2018 21:05:30 +0000", "date_shipped": "",
                                   "total_inc_tax": "361.9500", "currency_exchange_rate": "1.0000000000"}) == {
        "date_created": "2018-01-10T21:05:30+00:00", "date_shipped": None, "total_inc_tax": 361.95,
        "currency_exchange_rate": "1.0000000000"}


def test_select_shipping_option_without_consignment(answers_client: BigCommerceClient,
                                                    answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 80, 1)
    with pytest.raises(AnswersError) as err:
        checkouts.select_shipping_option(answers_client, cart["cart_id"], "0123456789abc", "f" * 32)
    assert err.value.status == 422 and "no consignment" in err.value.title


def test_whole_checkout_flow(commerce_sandbox: Any, answers_client: BigCommerceClient,
                             answers_customer: dict[str, Any]) -> None:
    """Create cart → add item → billing → consignment → shipping option → order with a status → ..."""
    cid = answers_customer["id"]
    cart = carts.create_cart(answers_client, cid, product_id=86, quantity=1, channel_id=1)
    cart = carts.add_item_to_cart(answers_client, cart["cart_id"], product_id=93, quantity=4)
    checkout_id = cart["checkout_id"]
    billing = checkouts.add_billing_address(answers_client, checkout_id, **ADDRESS)
    assert len(billing["billing_address_id"]) == 13 and billing["billing_address"]["country"] == "Croatia"
    consignment = checkouts.add_consignment(answers_client, checkout_id, **ADDRESS)
    assert len(consignment["shipping_options"]) == 3
    option = next(o for o in consignment["shipping_options"] if o["description"] == "Flat Rate")
    chosen = checkouts.select_shipping_option(answers_client, checkout_id, consignment["consignment_id"], option["id"])
    assert chosen["shipping_cost"] == 10.0 and chosen["grand_total"] == 225.0 + 28.0 + 10.0
    urls = redirects.get_redirect_urls(answers_client, cart["cart_id"])
    assert urls["single_use"] is True
    order = checkouts.create_order(answers_client, checkout_id, status_id=11)
    assert order["status_id"] == 11 and order["status"] == "Awaiting Fulfillment"
    assert order["total_inc_tax"] == 263.0 and datetime.fromisoformat(order["date_created"])
    mine = orders.get_orders_by_customer_id(answers_client, cid)
    assert mine["latest_order_id"] == order["order_id"] and mine["latest_status_id"] == 11
    assert mine["orders"][0]["status"] == "Awaiting Fulfillment" and isinstance(mine["orders"][0]["total_inc_tax"], float)
    assert requests.get(urls["checkout_url"], timeout=5).status_code == 404  # the paid cart is gone
    payload = next(p for p in commerce_sandbox.commerce.webhook_payloads if p["data"]["id"] == cart["cart_id"])
    dedupe = LRUDeduper()
    event = handle_cart_converted(payload, dedupe)
    assert event.order_id == order["order_id"] and event.duplicate is False
    assert handle_cart_converted(payload, dedupe).duplicate is True
    assert carts.get_cart(answers_client, cart["cart_id"])["found"] is False


def test_redirect_url_works_once_before_payment(answers_client: BigCommerceClient,
                                                answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 81, 1)
    urls = redirects.get_redirect_urls(answers_client, cart["cart_id"])
    assert requests.get(urls["cart_url"], timeout=5).status_code == 200
    assert requests.get(urls["cart_url"], timeout=5).status_code == 410
    assert redirects.get_redirect_urls(answers_client, "00000000-0000-4000-8000-000000000000")["found"] is False


def test_create_order_status_zero_and_unknown_status(answers_client: BigCommerceClient,
                                                     answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(answers_client, answers_customer["id"], 104, 1)
    checkouts.add_billing_address(answers_client, cart["cart_id"], **ADDRESS)
    con = checkouts.add_consignment(answers_client, cart["cart_id"], **ADDRESS,
                                    line_items=[{"item_id": cart["line_items"][0]["id"], "quantity": 1}])
    checkouts.select_shipping_option(answers_client, cart["cart_id"], con["consignment_id"],
                                     con["cheapest_shipping_option_id"])
    with pytest.raises(InvalidParameter) as err:  # not a documented status id: refused before any order exists
        checkouts.create_order(answers_client, cart["cart_id"], status_id=77)
    assert "0-14" in err.value.errors["status_id"]
    incomplete = checkouts.create_order(answers_client, cart["cart_id"], status_id=0)
    assert incomplete["status"] == "Incomplete" and incomplete["resumed"] is False


def test_registry_calls_with_text_params(answers_client: BigCommerceClient, answers_customer: dict[str, Any]) -> None:
    from bc2people.answers.registry import REGISTRY, get_function

    assert len(REGISTRY) == 14 and get_function("GetRedirectURLs").name == "get_redirect_urls"
    cart = get_function("CreateACart").call(answers_client, {"customer_id": str(answers_customer["id"]),
                                                            "product_id": "80", "quantity": "1"}, from_text=True)
    items = json.dumps([{"item_id": cart["line_items"][0]["id"], "quantity": 1}])
    con = get_function("add_consignment").call(answers_client, {**ADDRESS, "checkout_id": cart["cart_id"],
                                                                "line_items": items}, from_text=True)
    assert con["consignment_id"] and len(con["shipping_options"]) == 3
    with pytest.raises(InvalidParameter) as err:
        get_function("add_consignment").call(answers_client, {**ADDRESS, "checkout_id": cart["cart_id"],
                                                              "line_items": "[oops"}, from_text=True)
    assert "line_items" in err.value.errors
    with pytest.raises(InvalidParameter):
        get_function("get_cart").call(answers_client, {"cart_id": cart["cart_id"], "host": "evil.example"})
