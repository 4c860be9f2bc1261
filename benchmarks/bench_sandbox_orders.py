"""BigCommerce sandbox orders: generating a large store's orders and serving 250-order pages.

Reports: ``generate_orders`` for N customers (full: 200,000 customers, ~2,000,000 orders),
``add_orders`` (indexing), and the median/p95 round trip of ``GET /v2/orders?limit=250``
pages over real HTTP: by ``date_modified`` within a window (shallow and deep pages), the
default id order, and one customer's orders.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.bigcommerce.commerce_state import rfc2822
from bc2people.sandbox.generator import REFERENCE_NOW, generate_customers, generate_orders


def _timed(s: requests.Session, url: str, params: dict[str, Any], n: int) -> tuple[float, float, int]:
    times = []
    rows = 0
    for _ in range(n):
        t = time.perf_counter()
        r = s.get(url, params=params)
        times.append((time.perf_counter() - t) * 1000)
        rows = len(r.json()) if r.status_code == 200 else 0
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], rows


def main(quick: bool) -> None:
    n = 20_000 if quick else 200_000
    customers = generate_customers(n, seed=1)
    t = time.perf_counter()
    orders = generate_orders(customers, seed=1, share=0.8, mean_orders=12.0)
    gen = time.perf_counter() - t
    print(f"generate_orders({n} customers): {len(orders):,} orders in {gen:.2f} s ({len(orders) / gen:,.0f} orders/s)")
    del customers
    with BigCommerceSandbox() as sb:
        t = time.perf_counter()
        sb.commerce.add_orders(orders)
        print(f"add_orders({len(orders):,}): {time.perf_counter() - t:.2f} s")
        del orders
        url = f"{sb.base_url}/stores/{sb.store_hash}/v2/orders"
        with requests.Session() as s:
            s.headers.update({"X-Auth-Token": sb.access_token, "Accept": "application/json"})
            window = {"sort": "date_modified:asc", "limit": "250",
                      "min_date_modified": rfc2822(REFERENCE_NOW - 3 * 365 * 86400),
                      "max_date_modified": rfc2822(REFERENCE_NOW)}
            cases = [("date_modified window, page 1", window),
                     ("date_modified window, page 2000", {**window, "page": "2000"}),
                     ("default (id) order, page 3000", {"limit": "250", "page": "3000"}),
                     ("date_modified:desc, page 10", {"sort": "date_modified:desc", "limit": "250", "page": "10"}),
                     ("one customer, date_created:desc", {"customer_id": "777", "sort": "date_created:desc"})]
            for name, params in cases:
                med, p95, rows = _timed(s, url, params, 5 if quick else 30)
                print(f"GET /v2/orders {name}: median {med:.1f} ms, p95 {p95:.1f} ms ({rows} orders)")
