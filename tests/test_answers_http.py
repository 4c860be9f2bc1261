"""The Answers HTTP adapter: Starlette TestClient for the contract, a real uvicorn server end to end."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import ConfigError
from bc2people.answers.http import create_app
from bc2people.answers.webhook import CartConverted, register_cart_converted_hook
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

API_KEY = "bot-api-key-0123456789abcdef"
AUTH = {"X-Api-Key": API_KEY}
PAYLOAD = {"producer": "stores/x", "hash": "0123456789abcdef0123456789abcdef01234567", "created_at": 1686238730,
           "store_id": "1001000000", "scope": "store/cart/converted",
           "data": {"type": "cart", "id": "7ff6ef6f-1e0b-435e-b57b-42486fec7488", "orderId": 24725}}


@pytest.fixture
def app_client(answers_config: AnswersConfig) -> Iterator[TestClient]:
    with TestClient(create_app(answers_config, API_KEY)) as client:
        yield client


def test_requires_an_api_key(answers_config: AnswersConfig, app_client: TestClient) -> None:
    with pytest.raises(ConfigError):
        create_app(answers_config, "")
    assert app_client.post("/functions/get_product_by_id", json={"product_id": 80}).status_code == 401
    r = app_client.post("/functions/get_product_by_id", json={"product_id": 80}, headers={"X-Api-Key": "nope"})
    assert r.status_code == 401 and r.json()["error"] is True
    assert app_client.post("/webhooks/bigcommerce", json=PAYLOAD).status_code == 401


def test_function_calls_flat_results_and_status_codes(app_client: TestClient, answers_customer: dict[str, Any]) -> None:
    r = app_client.post("/functions/FindCustomerUsingEmail", json={"email": answers_customer["email"]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["first_name"] == "Ana" and r.json()["addresses"][0]["city"] == "Zagreb"
    miss = app_client.post("/functions/find_customer_by_email", json={"email": "none@example.com"}, headers=AUTH)
    assert miss.status_code == 404 and miss.json() == {"found": False, "email": "none@example.com"}
    assert app_client.post("/functions/get_product_by_id", json={"product_id": "80"}, headers=AUTH).json()["id"] == 80
    assert app_client.post("/functions/nope", json={}, headers=AUTH).status_code == 404
    alias = app_client.post("/functions/AddItemToCard", json={"cart_id": "00000000-0000-4000-8000-000000000000",
                                                              "product_id": 80}, headers=AUTH)
    assert alias.status_code == 422 and alias.json()["title"] == "Cart not found"  # alias works; 404 on a referred cart is 422
    variant = app_client.post("/functions/CreateACart", json={"customer_id": answers_customer["id"], "product_id": 77},
                              headers=AUTH)
    assert variant.status_code == 422 and "variant_id" in variant.json()["errors"]


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400), (b"[1, 2]", 422), (b'{"product_id": 1.5}', 422), (b'{"product_id": true}', 422),
    (b'{"product_id": 80, "url": "http://evil.example"}', 422), (b"{}", 422), (b'{"product_id": -1}', 422),
])
def test_bad_bodies_are_4xx(app_client: TestClient, body: bytes, status: int) -> None:
    r = app_client.post("/functions/get_product_by_id", content=body,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status and r.json()["error"] is True


def test_oversized_body_is_413(app_client: TestClient) -> None:
    big = b'{"email": "' + b"a" * 70_000 + b'"}'
    r = app_client.post("/functions/find_customer_by_email", content=big, headers=AUTH)
    assert r.status_code == 413


def test_path_params_stay_on_the_store(app_client: TestClient, commerce_sandbox: Any) -> None:
    before = sum(commerce_sandbox.requests_served.values())
    r = app_client.post("/functions/get_cart", json={"cart_id": "../../v2/orders"}, headers=AUTH)
    assert r.status_code == 422 and sum(commerce_sandbox.requests_served.values()) == before


def test_bigcommerce_failures_map_to_gateway_codes(answers_config: AnswersConfig, commerce_sandbox: Any) -> None:
    wrong = AnswersConfig(ANSWERS_STORE, "wrong", answers_config.api_base_url, timeout=0.3)
    with TestClient(create_app(wrong, API_KEY)) as client:
        r = client.post("/functions/list_product_categories", json={}, headers=AUTH)
        assert r.status_code == 502 and ANSWERS_TOKEN not in r.text
    slow = AnswersConfig(ANSWERS_STORE, ANSWERS_TOKEN, answers_config.api_base_url, timeout=5)
    commerce_sandbox.latency_ms = 800
    try:
        with TestClient(create_app(slow, API_KEY, deadline_s=0.3)) as client:
            started = time.monotonic()
            r = client.post("/functions/get_product_by_id", json={"product_id": 80}, headers=AUTH)
            assert r.status_code == 504 and time.monotonic() - started < 0.75
    finally:
        commerce_sandbox.latency_ms = 0


def test_webhook_endpoint(app_client: TestClient) -> None:
    first = app_client.post("/webhooks/bigcommerce", json=PAYLOAD, headers=AUTH)
    assert first.status_code == 200 and first.json()["order_id"] == 24725 and first.json()["duplicate"] is False
    assert app_client.post("/webhooks/bigcommerce", json=PAYLOAD, headers=AUTH).json()["duplicate"] is True
    bad = app_client.post("/webhooks/bigcommerce", json={**PAYLOAD, "scope": "store/order/created"}, headers=AUTH)
    assert bad.status_code == 422 and "scope" in bad.json()["errors"]


def test_openapi_and_docs(app_client: TestClient) -> None:
    doc = app_client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and len([p for p in doc["paths"] if p.startswith("/functions/")]) == 14
    op = doc["paths"]["/functions/create_cart"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"customer_id", "product_id"} and schema["properties"]["channel_id"]["default"] == 1
    page = app_client.get("/docs")
    assert page.status_code == 200 and "FindCustomerUsingEmail" in page.text


@pytest.fixture
def uvicorn_url(answers_config: AnswersConfig) -> Iterator[tuple[str, list[CartConverted]]]:
    received: list[CartConverted] = []
    app = create_app(answers_config, API_KEY, on_cart_converted=received.append)
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", received
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


def test_over_real_uvicorn_with_webhook_delivery(uvicorn_url: tuple[str, list[CartConverted]], commerce_sandbox: Any,
                                                 answers_customer: dict[str, Any]) -> None:
    url, received = uvicorn_url
    s = requests.Session()
    s.headers.update(AUTH)

    def call(name: str, **params: Any) -> dict[str, Any]:
        r = s.post(f"{url}/functions/{name}", json=params, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    destination = "https://bot.example.com/answers-e2e/webhooks/bigcommerce"
    commerce_sandbox.commerce.destination_overrides[destination] = f"{url}/webhooks/bigcommerce"
    commerce = commerce_sandbox.commerce
    client = BigCommerceClient(AnswersConfig(ANSWERS_STORE, ANSWERS_TOKEN, commerce_sandbox.base_url))
    register_cart_converted_hook(client, destination, {"X-Api-Key": API_KEY})
    address = {"email": answers_customer["email"], "country_code": "HR", "first_name": "Ana", "last_name": "K",
               "address1": "Ilica 1", "city": "Zagreb", "postal_code": "10000"}
    cart = call("CreateACart", customer_id=answers_customer["id"], product_id=81, quantity=1, channel_id=1)
    call("AddBillingAddress", checkout_id=cart["cart_id"], **address)
    con = call("AddConsignment", checkout_id=cart["cart_id"], **address)
    call("SelectShippingOption", checkout_id=cart["cart_id"], consignment_id=con["consignment_id"],
         shipping_option_id=con["cheapest_shipping_option_id"])
    order = call("CreateOrder", checkout_id=cart["cart_id"], status_id=11)
    deadline = time.monotonic() + 5
    while not (received and commerce.deliveries) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [e.order_id for e in received] == [order["order_id"]]
    assert commerce.deliveries[-1]["status"] == 200
    for h in list(commerce.hooks.values()):
        if h["destination"] == destination:
            del commerce.hooks[h["id"]]


_json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
                            | st.text(max_size=20), lambda kids: st.lists(kids, max_size=3)
                            | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["create_cart", "add_consignment", "get_product_by_id", "get_orders_by_customer_id",
                             "select_shipping_option", "search_products_by_name"]),
       body=st.dictionaries(st.sampled_from(["customer_id", "product_id", "quantity", "variant_id", "checkout_id",
                                             "email", "country_code", "line_items", "name", "exact", "limit",
                                             "consignment_id", "shipping_option_id", "first_name", "city"]),
                            _json_values, max_size=6))
def test_random_bodies_never_5xx(app_client: TestClient, name: str, body: dict[str, Any]) -> None:
    r = app_client.post(f"/functions/{name}", json=body, headers=AUTH)
    assert r.status_code < 500, (r.status_code, r.text)
    assert isinstance(r.json(), dict)
