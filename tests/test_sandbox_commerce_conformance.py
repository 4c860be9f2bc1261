"""The sandbox's commerce responses validated against BigCommerce's official OpenAPI documents.

The specs live outside the repo (``../shared/specs/bigcommerce``); they are read and patched
in memory only (``servers`` pointed at the sandbox), never copied.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs" / "bigcommerce"
pytestmark = pytest.mark.skipif(not (SPECS / "carts.v3.yml").is_file(),
                                reason=f"official specs not present at {SPECS} (../shared is absent)")
AUTH = {"X-Auth-Token": ANSWERS_TOKEN, "Accept": "application/json"}
ADDRESS: dict[str, Any] = {"first_name": "Ana", "last_name": "Kovac", "email": "ana@example.com", "address1": "Ilica 1",
           "city": "Zagreb", "country_code": "HR", "postal_code": "10000"}


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SPECS / name, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader


def _nullable(node: Any, prop: str) -> None:
    """Mark `prop` nullable wherever a schema declares it (in memory only)."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and isinstance(props.get(prop), dict):
            props[prop]["nullable"] = True
        for value in node.values():
            _nullable(value, prop)
    elif isinstance(node, list):
        for value in node:
            _nullable(value, prop)


@functools.cache
def _api(name: str, base_url: str, version: str) -> Any:
    from openapi_core import OpenAPI

    spec = copy.deepcopy(_spec(name))
    if name.startswith("catalog/products"):
        # the spec's own text: "This value is `null` for complex products" (its type forgot nullable)
        _nullable(spec, "base_variant_id")
    if name == "customers.v3.yml":
        # null channel_ids for global-login customers: the deviation documented in test_spec_conformance_bigcommerce
        spec["components"]["schemas"]["customerChannelIds"]["nullable"] = True
    if name == "orders.v2.oas2.yml":
        # the parameter's own description: "add `:asc` or `:desc` ... e.g., `sort=date_created:desc`" (its enum forgot)
        spec["components"]["parameters"]["sort"]["schema"].pop("enum")
    spec["servers"] = [{"url": f"{base_url}/stores/{ANSWERS_STORE}/{version}"}]
    return OpenAPI.from_dict(spec)


def schema_errors(api: Any, r: requests.Response) -> list[tuple[tuple[Any, ...], str]]:
    """Every schema error openapi-core finds in a real response (empty = valid)."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    try:
        api.validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
    except Exception as exc:  # noqa: BLE001 - turn the validator's verdict into data
        errs = getattr(exc.__cause__, "schema_errors", None)
        if not errs:
            return [((), f"{type(exc).__name__}: {exc}"[:500])]
        return [(tuple(e.absolute_path), e.message[:200]) for e in errs]
    return []


class Store:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.s = requests.Session()
        self.s.headers.update(AUTH)

    def __call__(self, method: str, version: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, f"{self.base_url}/stores/{ANSWERS_STORE}/{version}{path}", timeout=10, **kw)


@pytest.fixture
def store(commerce_sandbox: Any) -> Store:
    return Store(commerce_sandbox.base_url)


def _valid(spec: str, store: Store, version: str, *responses: tuple[requests.Response, int]) -> None:
    """Each response has the status code the test expects AND a body the spec documents for it."""
    assert responses  # the loop below must check something
    api = _api(spec, store.base_url, version)
    for r, expected in responses:
        assert r.status_code == expected, (r.request.method, r.request.url, r.status_code, r.text[:300])
        errors = schema_errors(api, r)
        assert errors == [], (r.request.method, r.request.url, errors[:25])


def test_catalog_products(store: Store) -> None:
    _valid("catalog/products_catalog.v3.yml", store, "v3",
           (store("GET", "v3", "/catalog/products", params={"categories:in": "23", "limit": 5,
                                                             "include": "variants,images,primary_image"}), 200),
           (store("GET", "v3", "/catalog/products", params={"keyword": "coffee", "include": "options"}), 200),
           (store("GET", "v3", "/catalog/products/112", params={"include": "variants,options,images"}), 200),
           (store("GET", "v3", "/catalog/products/999999"), 404))


def test_category_trees(store: Store) -> None:
    _valid("catalog/category-trees_catalog.v3.yml", store, "v3",
           (store("GET", "v3", "/catalog/trees/categories", params={"limit": 3, "page": 2}), 200),
           (store("GET", "v3", "/catalog/trees/1/categories"), 200),
           (store("GET", "v3", "/catalog/trees"), 200))


def _checkout(store: Store, customer_id: int) -> tuple[requests.Response, ...]:
    cart = store("POST", "v3", "/carts", params={"include": "redirect_urls"},
                 json={"customer_id": customer_id, "line_items": [{"product_id": 88, "quantity": 1}]})
    cid = cart.json()["data"]["id"]
    item = cart.json()["data"]["line_items"]["physical_items"][0]["id"]
    added = store("POST", "v3", f"/carts/{cid}/items", json={"line_items": [{"product_id": 81, "quantity": 1}]})
    got = store("GET", "v3", f"/carts/{cid}")
    urls = store("POST", "v3", f"/carts/{cid}/redirect_urls", json={})
    conflict = store("POST", "v3", f"/carts/{cid}/items", json={"line_items": [{"product_id": 81, "quantity": 1}],
                                                                 "version": 1})
    return cart, added, got, urls, conflict, cid, item  # type: ignore[return-value]


def test_carts(store: Store, answers_customer: dict[str, Any]) -> None:
    cart, added, got, urls, conflict, _, _ = _checkout(store, answers_customer["id"])
    assert conflict.status_code == 409
    assert conflict.json()["title"].startswith("The request cannot be processed due to a possible conflict")
    # the spec lists no 409 (or 422) for these POSTs
    _valid("carts.v3.yml", store, "v3", (cart, 201), (added, 201), (got, 200), (urls, 201))


def test_checkouts(store: Store, answers_customer: dict[str, Any]) -> None:
    *_, cid, item = _checkout(store, answers_customer["id"])
    inc = {"include": "consignments.available_shipping_options"}
    billing = store("POST", "v3", f"/checkouts/{cid}/billing-address", json=ADDRESS)
    con = store("POST", "v3", f"/checkouts/{cid}/consignments", params=inc,
                json=[{"address": ADDRESS, "line_items": [{"item_id": item, "quantity": 1}]}])
    consignment = con.json()["data"]["consignments"][0]
    others = [i["id"] for i in con.json()["data"]["cart"]["line_items"]["physical_items"] if i["id"] != item]
    con2 = store("POST", "v3", f"/checkouts/{cid}/consignments", params=inc,
                 json=[{"address": ADDRESS, "line_items": [{"item_id": others[0], "quantity": 1}]}])
    chosen = [store("PUT", "v3", f"/checkouts/{cid}/consignments/{c['id']}", params=inc,
                    json={"shipping_option_id": c["available_shipping_options"][0]["id"]})
              for c in con2.json()["data"]["consignments"]]
    got = store("GET", "v3", f"/checkouts/{cid}")
    order = store("POST", "v3", f"/checkouts/{cid}/orders")
    missing = store("GET", "v3", "/checkouts/00000000-0000-4000-8000-000000000000")
    assert order.status_code == 200 and consignment["id"]
    _valid("checkouts.v3.yml", store, "v3", (billing, 200), (con, 200), *((c, 200) for c in chosen), (got, 200),
           (order, 200), (missing, 404))


def test_orders_v2(store: Store, answers_customer: dict[str, Any]) -> None:
    *_, cid, _item = _checkout(store, answers_customer["id"])
    store("POST", "v3", f"/checkouts/{cid}/billing-address", json=ADDRESS)
    con = store("POST", "v3", f"/checkouts/{cid}/consignments", params={"include": "consignments.available_shipping_options"},
                json=[{"address": ADDRESS, "line_items": [{"item_id": i["id"], "quantity": i["quantity"]} for i in
                       store("GET", "v3", f"/carts/{cid}").json()["data"]["line_items"]["physical_items"]]}])
    c = con.json()["data"]["consignments"][0]
    store("PUT", "v3", f"/checkouts/{cid}/consignments/{c['id']}",
          json={"shipping_option_id": c["available_shipping_options"][0]["id"]})
    assert store("POST", "v3", f"/checkouts/{cid}/orders").status_code == 200
    orders = store("GET", "v2", "/orders", params={"customer_id": answers_customer["id"]})
    oid = orders.json()[0]["id"]
    _valid("orders.v2.oas2.yml", store, "v2", (orders, 200),
           (store("GET", "v2", f"/orders/{oid}"), 200),
           (store("PUT", "v2", f"/orders/{oid}", json={"status_id": orders.json()[0]["status_id"]}), 200),
           (store("GET", "v2", "/order_statuses"), 200),
           (store("GET", "v2", "/orders/987654"), 404))


def test_hooks(store: Store) -> None:
    created = store("POST", "v3", "/hooks", json={"scope": "store/cart/converted", "is_active": True,
                                                  "destination": "https://conformance.example.com/hook",
                                                  "headers": {"X-Api-Key": "k"}})
    bad = store("POST", "v3", "/hooks", json={"scope": "store/cart/converted", "destination": "http://x.example"})
    listed = store("GET", "v3", "/hooks")
    one = store("GET", "v3", f"/hooks/{created.json()['data']['id']}")
    _valid("webhooks.v3.yml", store, "v3", (created, 200), (bad, 422), (listed, 200), (one, 200))
    store("DELETE", "v3", f"/hooks/{created.json()['data']['id']}")


SPEC_FOR_PREFIX = (("/v3/customers", "customers.v3.yml"), ("/v3/catalog/products", "catalog/products_catalog.v3.yml"),
                   ("/v3/catalog/trees", "catalog/category-trees_catalog.v3.yml"), ("/v3/carts", "carts.v3.yml"),
                   ("/v3/checkouts", "checkouts.v3.yml"), ("/v2/order", "orders.v2.oas2.yml"),
                   ("/v3/hooks", "webhooks.v3.yml"))


def test_answers_client_traffic_is_spec_valid(commerce_sandbox: Any, answers_config: Any,
                                              answers_customer: dict[str, Any]) -> None:
    """Every request the Answers functions send, and every answer they get, in one checkout flow."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    from bc2people.answers import carts, catalog, checkouts, customers, orders, redirects
    from bc2people.answers.client import BigCommerceClient
    from bc2people.answers.webhook import register_cart_converted_hook

    seen: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    client = BigCommerceClient(answers_config, session=session)
    customers.find_customer_by_email(client, answers_customer["email"])
    catalog.list_product_categories(client)
    catalog.get_products_in_category(client, 20, limit=3)
    catalog.search_products_by_name(client, "jar")
    catalog.get_product_by_id(client, 77)
    cart = carts.create_cart(client, answers_customer["id"], 93, 2)
    carts.add_item_to_cart(client, cart["cart_id"], 77, 1, variant_id=catalog.get_product_by_id(client, 77)["variants"][0]["id"])
    carts.get_cart(client, cart["cart_id"])
    checkouts.add_billing_address(client, cart["cart_id"], **ADDRESS)
    con = checkouts.add_consignment(client, cart["cart_id"], **ADDRESS)
    checkouts.select_shipping_option(client, cart["cart_id"], con["consignment_id"], con["cheapest_shipping_option_id"])
    redirects.get_redirect_urls(client, cart["cart_id"])
    checkouts.create_order(client, cart["cart_id"], 11)
    orders.get_orders_by_customer_id(client, answers_customer["id"])
    hook = register_cart_converted_hook(client, "https://traffic.example.com/hook", {"X-Api-Key": "k"})
    commerce_sandbox.commerce.hooks.pop(hook["id"])
    prefix = f"{commerce_sandbox.base_url}/stores/{ANSWERS_STORE}"
    problems: list[tuple[Any, ...]] = []
    for r in seen:
        path = str(r.request.url)[len(prefix):]
        spec = next((s for p, s in SPEC_FOR_PREFIX if path.startswith(p)), None)
        assert spec is not None, path
        api = _api(spec, commerce_sandbox.base_url, path[1:3])
        try:
            api.validate_request(RequestsOpenAPIRequest(r.request))
        except Exception as exc:  # noqa: BLE001 - collect every verdict
            if "is valid under each of" in str(exc.__cause__):
                continue  # the spec's line-item oneOf overlaps: a {product_id, quantity, variant_id} item matches both
            problems.append((r.request.method, path[:80], "request", str(exc)[:300], str(exc.__cause__)[:300]))
        if r.request.method == "GET" and path.startswith("/v2/orders?") and r.status_code == 204 and not r.content:
            continue  # an empty V2 list is 204 with no body (reference notes, V2 orders); the spec lists only 200
        problems += [(r.request.method, path[:80], "response", *e) for e in schema_errors(api, r)]
    assert len(seen) >= 16 and problems == []
