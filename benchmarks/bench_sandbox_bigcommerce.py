"""BigCommerce sandbox and generator throughput: how fast test stores are built and served.

Reports: generating and loading N customers; a full cursor walk (``limit=250``, every include)
and a page-number walk (``sort=date_modified:asc`` within a date window) over real HTTP.
"""

from __future__ import annotations

import time

import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers

INCLUDE = "addresses,storecredit,attributes,formfields"


def _walk_cursor(sb: BigCommerceSandbox, s: requests.Session) -> tuple[int, int]:
    url = f"{sb.base_url}/stores/{sb.store_hash}/v3/customers"
    params: dict[str, str] = {"limit": "250", "include": INCLUDE}
    seen = pages = 0
    while True:
        body = s.get(url, params=params).json()
        pages += 1
        seen += len(body["data"])
        cp = body["meta"]["cursor_pagination"]
        if "next" not in cp["links"]:
            return seen, pages
        params["after"] = cp["end_cursor"]


def _walk_pages(sb: BigCommerceSandbox, s: requests.Session) -> tuple[int, int]:
    url = f"{sb.base_url}/stores/{sb.store_hash}/v3/customers"
    params = {"limit": "250", "include": INCLUDE, "sort": "date_modified:asc",
              "date_modified:min": "2020-01-01T00:00:00Z", "date_modified:max": "2030-01-01T00:00:00Z"}
    seen = pages = 0
    page = 1
    while True:
        body = s.get(url, params={**params, "page": str(page)}).json()
        pages += 1
        seen += len(body["data"])
        if page >= body["meta"]["pagination"]["total_pages"]:
            return seen, pages
        page += 1


def main(quick: bool) -> None:
    n = 10_000 if quick else 100_000
    t = time.perf_counter()
    customers = generate_customers(n, seed=1)
    gen = time.perf_counter() - t
    print(f"generate_customers({n}): {gen:.2f} s ({n / gen:,.0f} customers/s)")
    with BigCommerceSandbox() as sb:
        t = time.perf_counter()
        sb.add_customers(customers)
        load = time.perf_counter() - t
        print(f"add_customers({n}): {load:.2f} s")
        del customers
        with requests.Session() as s:
            s.headers.update({"X-Auth-Token": sb.access_token, "Accept": "application/json"})
            for name, walk in (("cursor walk (id order)", _walk_cursor),
                               ("page walk (date_modified:asc, window)", _walk_pages)):
                t = time.perf_counter()
                seen, pages = walk(sb, s)
                dt = time.perf_counter() - t
                print(f"{name}: {seen} customers, {pages} requests in {dt:.2f} s "
                      f"({pages / dt:.0f} req/s, {seen / dt:,.0f} customers/s, {dt / pages * 1000:.1f} ms/request)")
                assert seen == n, (name, seen, n)
