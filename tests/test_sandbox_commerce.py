"""The BigCommerce sandbox's commerce routes speak the documented shapes (raw HTTP, no Answers code)."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.sandbox.bigcommerce.commerce_hooks import payload_hash
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

HEX13 = re.compile(r"^[0-9a-f]{13}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class Api:
    def __init__(self, base: str) -> None:
        self.base = f"{base}/stores/{ANSWERS_STORE}"
        self.s = requests.Session()
        self.s.headers.update({"X-Auth-Token": ANSWERS_TOKEN, "Accept": "application/json"})

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, self.base + path, timeout=5, **kw)


@pytest.fixture
def api(commerce_sandbox: Any) -> Api:
    return Api(commerce_sandbox.base_url)


def _cart(api: Api, customer_id: int, items: list[dict[str, Any]], include: str = "") -> requests.Response:
    return api("POST", "/v3/carts" + (f"?include={include}" if include else ""),
               json={"customer_id": customer_id, "channel_id": 1, "line_items": items})


def _address(email: str = "ana@example.com") -> dict[str, Any]:
    return {"first_name": "Ana", "last_name": "Kovac", "email": email, "address1": "Ilica 1", "city": "Zagreb",
            "country_code": "HR", "postal_code": "10000"}


def test_products_filters_pagination_and_includes(api: Api) -> None:
    r = api("GET", "/v3/catalog/products", params={"categories:in": "22", "limit": 2, "page": 2})
    body = r.json()
    assert r.status_code == 200
    p = body["meta"]["pagination"]
    assert (p["per_page"], p["current_page"], p["count"]) == (2, 2, 2)
    assert p["links"]["previous"] == "?page=1&limit=2" and "next" in p["links"]
    assert all(22 in prod["categories"] for prod in body["data"])
    assert "variants" not in body["data"][0]
    kw = api("GET", "/v3/catalog/products", params={"keyword": "coffee", "include": "variants"}).json()["data"]
    assert {x["id"] for x in kw} == {86, 88} and all(x["variants"] for x in kw)
    exact = api("GET", "/v3/catalog/products", params={"name": "[Sample] Shower Curtain"}).json()["data"]
    assert [x["id"] for x in exact] == [81]
    assert api("GET", "/v3/catalog/products", params={"name": "Shower"}).json()["data"] == []
    assert api("GET", "/v3/catalog/products", params={"limit": 251}).status_code == 422
    hidden = api("GET", "/v3/catalog/products", params={"is_visible": "false", "id:in": "80,81"}).json()["data"]
    assert hidden == [] and len(api("GET", "/v3/catalog/products", params={"is_visible": "true", "id:in": "80,81"})
                               .json()["data"]) == 2
    assert api("GET", "/v3/catalog/products", params={"is_visible": "maybe"}).status_code == 422


def test_product_options_variants_and_catalog_404_shape(api: Api) -> None:
    towel = api("GET", "/v3/catalog/products/77", params={"include": "variants,options"}).json()["data"]
    assert towel["base_variant_id"] is None
    assert [o["display_name"] for o in towel["options"]] == ["Size"]
    assert {v["option_values"][0]["label"] for v in towel["variants"]} == {"Small", "Large"}
    simple = api("GET", "/v3/catalog/products/80").json()["data"]
    assert isinstance(simple["base_variant_id"], int) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                                                                   simple["date_modified"])
    r = api("GET", "/v3/catalog/products/999999")
    assert r.status_code == 404 and set(r.json()) == {"status", "title", "type", "instance"}


def test_category_trees_use_category_id(api: Api, commerce_sandbox: Any) -> None:
    total = len(commerce_sandbox.commerce.categories)  # 6 seeded; other tests may add some
    body = api("GET", "/v3/catalog/trees/categories", params={"limit": 4}).json()
    assert body["meta"]["pagination"]["total"] == total >= 6
    assert body["meta"]["pagination"]["total_pages"] == -(-total // 4) and len(body["data"]) == 4
    first = body["data"][0]
    assert "category_id" in first and "id" not in first and first["tree_id"] == 1
    nested = api("GET", "/v3/catalog/trees/1/categories").json()["data"]
    shop_all = next(n for n in nested if n["name"] == "Shop All")
    kitchen = next(c for c in shop_all["children"] if c["name"] == "Kitchen")
    assert kitchen["children"][0]["path"] == [23, 20]
    bad = api("GET", "/v3/catalog/trees/categories", params={"limit": "x"})
    assert bad.status_code == 422 and bad.json()["errors"]["status"] == 422 and "meta" in bad.json()


def test_cart_201_variant_rules_and_version_conflict(api: Api, answers_customer: dict[str, Any]) -> None:
    cid = answers_customer["id"]
    r = _cart(api, cid, [{"product_id": 77, "quantity": 1}])
    assert r.status_code == 422 and "variant ID is required" in r.json()["title"]
    created = _cart(api, cid, [{"product_id": 80, "quantity": 2}])
    assert created.status_code == 201
    cart = created.json()["data"]
    assert cart["email"] == answers_customer["email"] and cart["version"] == 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", cart["created_time"])
    assert cart["line_items"]["physical_items"][0]["extended_sale_price"] == 218.0
    add = api("POST", f"/v3/carts/{cart['id']}/items", json={"line_items": [{"product_id": 80, "quantity": 1}],
                                                              "version": 1})
    assert add.status_code == 201 and add.json()["data"]["line_items"]["physical_items"][0]["quantity"] == 3
    stale = api("POST", f"/v3/carts/{cart['id']}/items", json={"line_items": [{"product_id": 81, "quantity": 1}],
                                                                "version": 1})
    assert stale.status_code == 409 and stale.json()["title"].startswith("The request cannot be processed")
    assert _cart(api, 99_999_999, [{"product_id": 80, "quantity": 1}]).status_code == 422
    assert api("GET", "/v3/carts/00000000-0000-4000-8000-000000000000").status_code == 404


def test_redirect_urls_work_once(api: Api, answers_customer: dict[str, Any]) -> None:
    cart = _cart(api, answers_customer["id"], [{"product_id": 81, "quantity": 1}], include="redirect_urls")
    urls = cart.json()["data"]["redirect_urls"]
    assert set(urls) == {"cart_url", "checkout_url", "embedded_checkout_url"}
    assert requests.get(urls["cart_url"], timeout=5).status_code == 200
    assert requests.get(urls["cart_url"], timeout=5).status_code == 410
    fresh = api("POST", f"/v3/carts/{cart.json()['data']['id']}/redirect_urls", json={})
    assert fresh.status_code == 201
    assert requests.get(fresh.json()["data"]["checkout_url"], timeout=5).status_code == 200


def test_checkout_flow_shapes_and_conversion(commerce_sandbox: Any, api: Api, answers_customer: dict[str, Any]) -> None:
    cart = _cart(api, answers_customer["id"], [{"product_id": 88, "quantity": 2}]).json()["data"]
    cid, item = cart["id"], cart["line_items"]["physical_items"][0]
    missing = api("GET", "/v3/checkouts/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and isinstance(missing.json()["errors"], list)
    assert api("GET", f"/v3/checkouts/{cid}").json()["data"]["billing_address"] == {}
    no_email = api("POST", f"/v3/checkouts/{cid}/billing-address", json={"country_code": "HR"})
    assert no_email.status_code == 422
    billing = api("POST", f"/v3/checkouts/{cid}/billing-address", json=_address()).json()["data"]["billing_address"]
    assert HEX13.match(billing["id"]) and billing["country"] == "Croatia"
    assert api("POST", f"/v3/checkouts/{cid}/orders").status_code == 422  # no consignment yet
    con = api("POST", f"/v3/checkouts/{cid}/consignments", params={"include": "consignments.available_shipping_options"},
              json=[{"shipping_address": _address(), "line_items": [{"item_id": item["id"], "quantity": 2}]}])
    consignment = con.json()["data"]["consignments"][0]
    assert con.status_code == 200 and HEX13.match(consignment["id"])
    option = consignment["available_shipping_options"][0]
    assert HEX32.match(option["id"]) and "selected_shipping_option" not in consignment
    both = api("PUT", f"/v3/checkouts/{cid}/consignments/{consignment['id']}",
               json={"shipping_option_id": option["id"], "address": _address()})
    assert both.status_code == 422  # the option must go in a separate PUT
    sel = api("PUT", f"/v3/checkouts/{cid}/consignments/{consignment['id']}", json={"shipping_option_id": option["id"]})
    assert sel.json()["data"]["grand_total"] == 99.0 + option["cost"]
    created = api("POST", f"/v3/checkouts/{cid}/orders")
    assert created.status_code == 200
    order_id = created.json()["data"]["id"]
    assert api("GET", f"/v3/checkouts/{cid}").json()["data"]["order_id"] == str(order_id)
    order = api("GET", f"/v2/orders/{order_id}").json()
    assert order["status_id"] == 0 and order["status"] == "Incomplete" and order["total_inc_tax"].endswith("00")
    assert parsedate_to_datetime(order["date_created"]).year >= 2024 and order["cart_id"] == cid
    assert api("GET", f"/v3/carts/{cid}").status_code == 200  # not paid yet: the cart lives on
    paid = api("PUT", f"/v2/orders/{order_id}", json={"status_id": 11})
    assert paid.status_code == 200 and paid.json()["status"] == "Awaiting Fulfillment"
    assert api("GET", f"/v3/carts/{cid}").status_code == 404
    payload = commerce_sandbox.commerce.webhook_payloads[-1]
    assert payload["data"] == {"type": "cart", "id": cid, "orderId": order_id}
    assert payload["hash"] == payload_hash(payload) and payload["producer"] == f"stores/{ANSWERS_STORE}"


def test_v2_orders_204_404_413_and_statuses(api: Api) -> None:
    empty = api("GET", "/v2/orders", params={"customer_id": 987654})
    assert empty.status_code == 204 and empty.content == b""
    missing = api("GET", "/v2/orders/987654")
    assert missing.status_code == 404 and missing.json() == [{"status": 404, "message": "The requested resource was not found."}]
    over = api("GET", "/v2/orders", params={"limit": 251})
    assert over.status_code == 413 and over.json()[0]["details"] == {"max_limit": 250}
    statuses = api("GET", "/v2/order_statuses").json()
    assert [s["id"] for s in statuses] == list(range(15)) and statuses[11]["name"] == "Awaiting Fulfillment"
    assert api("PUT", "/v2/orders/987654", json={"status_id": 11}).status_code == 404


def test_hooks_destination_rules(api: Api) -> None:
    ok = api("POST", "/v3/hooks", json={"scope": "store/cart/converted", "destination": "https://example.com/sandbox-hook",
                                         "is_active": True, "headers": {"X-Api-Key": "k"}})
    assert ok.status_code == 200 and ok.json()["data"]["is_active"] is True
    hook_id = ok.json()["data"]["id"]
    dup = api("POST", "/v3/hooks", json={"scope": "store/cart/converted", "destination": "https://example.com/sandbox-hook"})
    assert dup.status_code == 422
    for dest in ("http://example.com/h", "https://example.com:8443/h"):
        bad = api("POST", "/v3/hooks", json={"scope": "store/cart/converted", "destination": dest})
        assert bad.status_code == 422 and "destination" in bad.json()["errors"]
    assert api("POST", "/v3/hooks", json={"destination": "https://example.com/x"}).json()["errors"] == {
        "scope": "error.path.missing."}
    listed = api("GET", "/v3/hooks", params={"scope": "store/cart/converted"}).json()["data"]
    assert hook_id in [h["id"] for h in listed]
    assert api("DELETE", f"/v3/hooks/{hook_id}").status_code == 200
    assert api("GET", f"/v3/hooks/{hook_id}").status_code == 404


def test_commerce_routes_need_the_token(commerce_sandbox: Any) -> None:
    r = requests.get(f"{commerce_sandbox.base_url}/stores/{ANSWERS_STORE}/v3/catalog/products", timeout=5)
    assert r.status_code == 401


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=12), lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.sampled_from(["product_id", "quantity", "variant_id", "line_items", "address",
                                                         "email", "country_code", "item_id", "version", "status_id",
                                                         "shipping_option_id", "scope", "destination", "headers",
                                                         "option_selections", "customer_id", "is_active"]),
                                       kids, max_size=4), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["POST /v3/carts", "POST /v3/carts/{cart}/items", "POST /v3/checkouts/{cart}/billing-address",
                              "POST /v3/checkouts/{cart}/consignments", "PUT /v3/checkouts/{cart}/consignments/{con}",
                              "PUT /v2/orders/{order}", "POST /v3/hooks"]), body=_json)
def test_random_bodies_get_4xx_not_crashes(api: Api, fuzz_cart: dict[str, str], route: str, body: Any) -> None:
    method, path = route.split(" ")
    r = api(method, path.format(**fuzz_cart), json=body)
    assert r.status_code < 500 and r.content  # an answer, never a dropped connection or a 500


@pytest.fixture
def fuzz_cart(api: Api, answers_customer: dict[str, Any]) -> dict[str, str]:
    cart = _cart(api, answers_customer["id"], [{"product_id": 80, "quantity": 1}]).json()["data"]
    item = cart["line_items"]["physical_items"][0]["id"]
    con = api("POST", f"/v3/checkouts/{cart['id']}/consignments", params={"include": "consignments.available_shipping_options"},
              json=[{"address": _address(), "line_items": [{"item_id": item, "quantity": 1}]}]).json()["data"]["consignments"][0]
    api("PUT", f"/v3/checkouts/{cart['id']}/consignments/{con['id']}",
        json={"shipping_option_id": con["available_shipping_options"][0]["id"]})
    api("POST", f"/v3/checkouts/{cart['id']}/billing-address", json=_address())
    order = api("POST", f"/v3/checkouts/{cart['id']}/orders").json()["data"]["id"]
    return {"cart": cart["id"], "con": con["id"], "order": str(order)}


def test_order_put_validates_types(api: Api, fuzz_cart: dict[str, str]) -> None:
    for body in ({"customer_id": "7"}, {"staff_notes": 5}, {"status_id": True}, {"date_created": "x"}, [1]):
        r = api("PUT", f"/v2/orders/{fuzz_cart['order']}", json=body)
        assert r.status_code == 400 and isinstance(r.json(), list)
    assert api("GET", "/v2/orders", params={"sort": "customer_id:desc"}).status_code == 200
