"""Answers: per-function latency against the local sandbox, the checkout flow, the HTTP adapter, parsing.

The sandbox answers on 127.0.0.1 with no added latency, so these numbers are the module's
own overhead plus the sandbox's; a real store adds its network round trips per request
(the `requests` column says how many each function makes).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from bc2people.answers import carts, catalog, checkouts, customers, orders, redirects
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.answers.paths import select
from bc2people.answers.webhook import LRUDeduper, handle_cart_converted
from bc2people.sandbox.bigcommerce.server import BigCommerceSandbox

TOKEN = "bench-token"
ADDRESS: dict[str, Any] = {"email": "bench@example.com", "country_code": "US", "first_name": "B", "last_name": "Ench",
           "address1": "1 Main St", "city": "Austin", "postal_code": "78701"}


def _time(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def _row(name: str, n: int, p50: float, p95: float, reqs: float) -> None:
    print(f"  {name:<34} n={n:<4} p50={p50:7.2f} ms  p95={p95:7.2f} ms  requests/call={reqs:.1f}")


def main(quick: bool) -> None:
    n = 10 if quick else 100
    flows = 3 if quick else 30
    sb = BigCommerceSandbox(store_hash="benchanswers", access_token=TOKEN)
    with sb:
        customer = sb.create_customer(email="bench@example.com", first_name="B", last_name="Ench")
        client = BigCommerceClient(AnswersConfig("benchanswers", TOKEN, sb.base_url))
        cart_id = carts.create_cart(client, customer["id"], 80, 1)["cart_id"]
        print("function latency via the client (sandbox on 127.0.0.1, no added latency; machine shared, noisy)")
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("find_customer_by_email", lambda: customers.find_customer_by_email(client, "bench@example.com")),
            ("get_orders_by_customer_id", lambda: orders.get_orders_by_customer_id(client, customer["id"])),
            ("list_product_categories", lambda: catalog.list_product_categories(client)),
            ("get_products_in_category", lambda: catalog.get_products_in_category(client, 23)),
            ("search_products_by_name", lambda: catalog.search_products_by_name(client, "sample")),
            ("get_product_by_id", lambda: catalog.get_product_by_id(client, 112)),
            ("get_cart", lambda: carts.get_cart(client, cart_id)),
            ("get_redirect_urls", lambda: redirects.get_redirect_urls(client, cart_id)),
        ]
        for name, fn in cases:
            before = client.requests_sent
            p50, p95 = _time(fn, n)
            _row(name, n, p50, p95, (client.requests_sent - before) / n)

        def flow() -> None:
            cart = carts.create_cart(client, customer["id"], 86, 1)
            carts.add_item_to_cart(client, cart["cart_id"], 93, 2)
            checkouts.add_billing_address(client, cart["cart_id"], **ADDRESS)
            con = checkouts.add_consignment(client, cart["cart_id"], **ADDRESS)
            checkouts.select_shipping_option(client, cart["cart_id"], con["consignment_id"],
                                             con["cheapest_shipping_option_id"])
            checkouts.create_order(client, cart["cart_id"], 11)

        before = client.requests_sent
        p50, p95 = _time(flow, flows)
        _row("checkout flow (6 functions)", flows, p50, p95, (client.requests_sent - before) / flows)
        _bench_adapter(sb, n)
    commerce: Any = sb.commerce  # type: ignore[attr-defined]  # attached by sandbox.bigcommerce.commerce.install
    payload = commerce.webhook_payloads[-1]
    dedupe = LRUDeduper()
    m = 2_000 if quick else 50_000
    t0 = time.perf_counter()
    for i in range(m):
        handle_cart_converted({**payload, "hash": f"{i:040x}"}, dedupe)
    rate = m / (time.perf_counter() - t0)
    print(f"  webhook parse+dedupe               {rate:,.0f} payloads/s ({m} distinct hashes)")
    doc = {"addresses": [{"city": "Zagreb"}], "first_name": "A"}
    t0 = time.perf_counter()
    for _ in range(m):
        select(doc, "$.addresses[0].city")
    print(f"  response path select               {m / (time.perf_counter() - t0):,.0f} selects/s")


def _bench_adapter(sb: BigCommerceSandbox, n: int) -> None:
    import uvicorn

    from bc2people.answers.http import create_app

    key = "bench-api-key-0123456789"
    app = create_app(AnswersConfig("benchanswers", TOKEN, sb.base_url), key)
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/functions/get_product_by_id"
    session = requests.Session()
    session.headers["X-Api-Key"] = key
    try:
        p50, p95 = _time(lambda: session.post(url, json={"product_id": 112}, timeout=10).raise_for_status(), n)
        _row("HTTP adapter get_product_by_id", n, p50, p95, 1.0)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
