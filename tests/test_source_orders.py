"""Staged orders end to end: real dlt pipelines into DuckDB files against a started sandbox.

Complete first run (guests and archived included), window-only second run, keyset paging
with overlapping ISO 8601 bounds, no loss while orders change mid-paging, one quota shared
with customers, odd orders staged and counted, order_products on and off.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from bc2people.pipelines.staging import STAGING_DATASET, make_pipeline
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.http import Request, Response, Router, SandboxServer
from bc2people.sandbox.order_records import encode_lines
from bc2people.sources.bigcommerce import ExtractStats, OrderStats, bigcommerce_source, make_client
from bc2people.sources.bigcommerce.helpers import BigCommerceError, format_ts

STORE = "orders1"
TOKEN = "orders-secret-token-81c2"
NOW = 1_780_000_000  # 2026-05-28T20:26:40Z, after the generator's data
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "max_attempts": 4}
ORDERS = "/v2/orders"


@pytest.fixture
def sb() -> Iterator[BigCommerceSandbox]:
    """A fresh sandbox per test (orders are not reset by the shared staging sandbox)."""
    with BigCommerceSandbox(store_hash=STORE, access_token=TOKEN) as box:
        box.clock.freeze(NOW)
        yield box


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "orders.duckdb"


def settings(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"store_hash": STORE, "access_token": TOKEN, "api_base_url": base_url, "max_workers": 2, **FAST, **extra}


def stage(db: Path, base_url: str, **overrides: Any) -> tuple[ExtractStats, OrderStats]:
    """One staging run of the whole source; returns the customers' and the orders' stats."""
    stats, order_stats = ExtractStats(), OrderStats()
    source = bigcommerce_source(stats=stats, order_stats=order_stats, **settings(base_url, **overrides))
    make_pipeline(db).run(source, loader_file_format="parquet")
    return stats, order_stats


def rows(db: Path, table: str = "orders") -> dict[int, dict[str, Any]]:
    con = duckdb.connect(str(db))
    try:
        cur = con.execute(f"SELECT * FROM {STAGING_DATASET}.{table}")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def tables(db: Path) -> set[str]:
    con = duckdb.connect(str(db))
    try:
        q = "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
        return {r[0] for r in con.execute(q, [STAGING_DATASET]).fetchall()}
    finally:
        con.close()


def api_orders(sb: BigCommerceSandbox, base_url: str | None = None) -> dict[int, dict[str, Any]]:
    """Every order as ``GET /v2/orders`` renders it (active, then archived)."""
    out: dict[int, dict[str, Any]] = {}
    url = f"{base_url or sb.base_url}/stores/{STORE}/v2/orders"
    for deleted in ("false", "true"):
        min_id = 0
        while True:
            r = requests.get(url, params={"min_id": min_id, "limit": 250, "is_deleted": deleted},
                             headers={"X-Auth-Token": TOKEN, "Accept": "application/json"}, timeout=10)
            if r.status_code == 204:
                break
            page = r.json()
            out.update({o["id"]: o for o in page})
            min_id = page[-1]["id"] + 1
    return out


def generate_orders(n: int, *, seed: int, now: int) -> list[dict[str, Any]]:
    """``n`` lean sandbox order records (ids 1..n, a third guests, dates before ``now``, mixed
    currencies); `sandbox.generator.generate_orders` is not on this branch yet."""
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        created = now - rng.randrange(3600, 400 * 86400)
        out.append({
            "id": i, "customer_id": 0 if i % 3 == 0 else rng.randrange(1, 500), "status_id": rng.choice([0, 2, 10, 11]),
            "created": created, "modified": min(now, created + rng.randrange(0, 86400)),
            "subtotal": round(rng.uniform(5, 500), 2), "shipping": 4.5, "fx": rng.randrange(0, 7),
            "billing": {"first_name": "Ann", "last_name": f"Buyer{i}", "email": f"buyer{i}@example.com"},
            "lines": encode_lines([(rng.randrange(0, 14), rng.randrange(1, 4)) for _ in range(rng.randrange(1, 4))]),
        })
    return out


def change(sb: BigCommerceSandbox, order_id: int, **fields: Any) -> None:
    """Change a stored order as the store would (``date_modified`` bumped to the store clock)."""
    sb.commerce.update_order(order_id, **fields)


def utc(text: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(text).astimezone(UTC)


# -- complete, then incremental -----------------------------------------------------------
def test_first_run_stages_every_order_and_a_second_run_reads_only_its_window(sb: BigCommerceSandbox, db: Path) -> None:
    sb.commerce.add_orders(generate_orders(600, seed=1, now=NOW - 3600))
    sb.commerce.archive_order(5)
    sb.clock.advance(600)
    api = api_orders(sb)
    assert len(api) == 600 and any(o["is_deleted"] for o in api.values())
    assert any(o["customer_id"] == 0 for o in api.values())

    customers, first = stage(db, sb.base_url)
    staged = rows(db)
    assert set(staged) == set(api)  # guests and archived included
    assert first.records == 600 and first.window_start is None
    assert first.committed_cursor == first.window_end == format_ts(sb.clock.now() - 60)
    assert first.guest_orders == sum(o["customer_id"] == 0 for o in api.values()) > 0
    assert first.archived >= 1 and staged[5]["is_deleted"] is True
    # dates are UTC timestamps; money and rates stay the API's strings
    o = staged[1]
    assert o["date_modified"] == utc(api[1]["date_modified"])
    assert o["total_inc_tax"] == api[1]["total_inc_tax"] and isinstance(o["total_inc_tax"], str)
    assert o["store_default_to_transactional_exchange_rate"] == api[1]["store_default_to_transactional_exchange_rate"]
    assert json.loads(o["billing_address"]) == api[1]["billing_address"]
    assert customers.requests >= 2 and first.requests >= 3  # each resource its own share

    sb.clock.advance(3600)
    change(sb, 7, staff_notes="touched")
    sb.clock.advance(120)
    _, second = stage(db, sb.base_url)
    assert second.window_start == format_ts(NOW + 600 - 60 - 300)
    assert second.records == 1 and second.requests <= 3  # /time, one page, one archived 204
    assert rows(db)[7]["staff_notes"] == "touched"


def test_orders_are_read_by_keyset_with_overlapping_iso_bounds(sb: BigCommerceSandbox, db: Path) -> None:
    sb.commerce.add_orders(generate_orders(600, seed=2, now=NOW - 3600))
    queries: list[dict[str, str]] = []
    sb.on_request = lambda req: queries.append(dict(req.query)) if req.path.endswith(ORDERS) else None
    _, first = stage(db, sb.base_url, max_workers=1)
    sb.clock.advance(10)
    _, second = stage(db, sb.base_url, max_workers=1)
    active = [q for q in queries if "is_deleted" not in q]
    assert [q.get("min_id") for q in active[:3]] == [None, "251", "501"]  # 600 orders: 250, 250, 100
    for q in queries:
        assert q["sort"] == "id:asc" and q["page"] == "1" and q["limit"] == "250"
        assert datetime.fromisoformat(q["max_date_modified"]).utcoffset() is not None
    # bounds widened by a second: neighbouring runs overlap whatever the filters' inclusiveness
    assert datetime.fromisoformat(active[0]["max_date_modified"]).timestamp() == NOW - 60 + 1
    last = queries[-1]
    assert datetime.fromisoformat(last["min_date_modified"]).timestamp() == NOW - 60 - 300 - 1
    assert first.committed_cursor == format_ts(NOW - 60) and second.records == 0


@pytest.mark.parametrize("workers", [1, 3])
def test_orders_modified_while_paging_are_not_lost(sb: BigCommerceSandbox, db: Path, workers: int) -> None:
    """One worker walks the window; three read it in id ranges (one taken from another)."""
    sb.commerce.add_orders(generate_orders(1000, seed=3, now=NOW - 3600))
    calls = {"n": 0}

    def mutate(req: Request) -> None:
        if not req.path.endswith(ORDERS):
            return
        calls["n"] += 1
        if calls["n"] == 3:  # pages 1-2 read, 3-4 not yet
            change(sb, 10, staff_notes="early")  # already read
            change(sb, 990, staff_notes="late")  # not read yet
            sb.clock.advance(1)
            change(sb, 600, staff_notes="later")

    sb.on_request = mutate
    opts = {"max_workers": workers, "split_pages": 1, "lag_seconds": 0, "lookback_seconds": 0}
    _, first = stage(db, sb.base_url, **opts)
    sb.on_request = None
    assert calls["n"] >= 4
    assert set(rows(db)) >= set(range(1, 1001)) - {10, 600, 990}
    sb.clock.advance(5)
    _, second = stage(db, sb.base_url, **opts)
    assert second.window_start == first.window_end
    staged = rows(db)
    assert set(staged) == set(range(1, 1001))
    assert {staged[i]["staff_notes"] for i in (10, 600, 990)} == {"early", "late", "later"}


def test_a_big_window_is_sliced_across_workers_without_loss_or_duplicates(sb: BigCommerceSandbox, db: Path) -> None:
    sb.commerce.add_orders(generate_orders(3000, seed=4, now=NOW - 3600))
    _, st = stage(db, sb.base_url, max_workers=4, split_pages=2)
    assert st.splits >= 1 and st.count_requests >= 1
    assert st.records == 3000 and len(rows(db)) == 3000  # overlapping slices de-duplicated
    pages = -(-3000 // 250)
    # the quota's worth: /time, pages (+1 short or 204 end per slice), counts, the archived pass
    assert st.requests <= pages + 2 * st.count_requests + 4 * 2 * 4 + 3


# -- one quota for the whole source ------------------------------------------------------
def test_customers_and_orders_share_one_quota_with_at_most_one_429_per_window(
    sb: BigCommerceSandbox, db: Path
) -> None:
    sb.add_customers(generate_customers(1000, seed=5))
    sb.commerce.add_orders(generate_orders(1500, seed=6, now=NOW - 3600))
    sb.set_quota(6, 1.0)  # 1 s windows: scheduling delays on a busy machine stay small against them
    customers, orders = stage(db, sb.base_url, max_workers=3, split_pages=1)
    assert len(rows(db)) == 1500 and len(rows(db, "customers")) == 1000
    windows = sb.quota_windows
    assert len(windows) >= 3 and max(w["refused"] for w in windows) <= 1
    served = sum(w["requests"] for w in windows)
    assert customers.requests + orders.requests - customers.rate_limited - orders.rate_limited == served


# -- odd orders are staged and counted ---------------------------------------------------
class RewritingProxy:
    """A real HTTP proxy in front of the sandbox whose ``GET /v2/orders`` answers go through ``edit``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.edit: Any = None
        router = Router()
        for pattern in ("/stores/{h}/v2/orders", "/stores/{h}/v2/orders/count", "/stores/{h}/v2/time",
                        "/stores/{h}/v3/customers", "/stores/{h}/v2/orders/{o}/products"):
            router.add("GET", pattern, self._forward)
        self.server = SandboxServer(router)

    def _forward(self, req: Request) -> Response:
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("x-auth-token", "accept")}
        r = requests.get(f"{self.target}{req.path}?{req.raw_query}", headers=headers, timeout=10)
        passed = {k: v for k, v in r.headers.items() if k.lower().startswith("x-rate-limit")}
        if r.status_code == 200 and req.path.endswith(ORDERS) and self.edit is not None:
            return Response(200, json.dumps(self.edit(r.json())).encode(), passed)
        return Response(r.status_code, r.content or None, passed)


def test_odd_orders_are_staged_as_they_are_and_counted(sb: BigCommerceSandbox, db: Path) -> None:
    sb.commerce.add_orders(generate_orders(20, seed=7, now=NOW - 3600))

    def oddify(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for o in page:
            if o["id"] == 1:
                o["total_inc_tax"] = "-12.5000"
            if o["id"] == 2:
                o["total_inc_tax"] = "N/A"
            if o["id"] == 3:
                o["currency_code"] = o["default_currency_code"] = "XYZ"
            if o["id"] == 4:
                o["date_created"] = "Mon, 01 Jan 2035 00:00:00 +0000"
            if o["id"] == 5:
                o["status_id"] = 99
            if o["id"] == 6:
                o["date_shipped"] = "yesterday-ish"
            if o["id"] == 7:
                o["date_shipped"] = ""
        return page

    proxy = RewritingProxy(sb.base_url)
    proxy.edit = oddify
    with proxy.server:
        _, st = stage(db, proxy.server.url)
    assert st.records == 20
    assert st.oddities() == {
        "unparseable_dates": 1, "non_numeric_totals": 1, "negative_totals": 1, "unknown_status": 1,
        "unknown_currency": 1, "future_dates": 1,
        "guest_orders": sum(o["customer_id"] == 0 for o in api_orders(sb).values()),
    }
    staged = rows(db)
    assert staged[1]["total_inc_tax"] == "-12.5000" and staged[2]["total_inc_tax"] == "N/A"
    assert staged[3]["currency_code"] == "XYZ" and staged[5]["status_id"] == 99
    assert staged[4]["date_created"] == datetime(2035, 1, 1, tzinfo=UTC)
    assert staged[6]["date_shipped__v_text"] == "yesterday-ish" and staged[6]["date_shipped"] is None
    assert staged[7]["date_shipped"] is None


# -- order_products ----------------------------------------------------------------------
def test_order_products_are_off_by_default_and_on_by_dlt_config(
    sb: BigCommerceSandbox, db: Path, tmp_path: Path
) -> None:
    sb.commerce.add_orders(generate_orders(30, seed=8, now=NOW - 3600))
    stage(db, sb.base_url)
    assert "order_products" not in tables(db) and len(rows(db)) == 30

    other = tmp_path / "with_products.duckdb"
    os.environ["SOURCES__BIGCOMMERCE__ORDER_PRODUCTS"] = "true"
    try:
        _, st = stage(other, sb.base_url)
    finally:
        del os.environ["SOURCES__BIGCOMMERCE__ORDER_PRODUCTS"]
    products = rows(other, "order_products")
    expected: dict[int, dict[str, Any]] = {}
    for oid in range(1, 31):
        r = requests.get(f"{sb.base_url}/stores/{STORE}/v2/orders/{oid}/products", params={"limit": 250},
                         headers={"X-Auth-Token": TOKEN}, timeout=10)
        expected.update({p["id"]: p for p in (r.json() if r.status_code == 200 else [])})
    assert set(products) == set(expected) and st.products == len(expected) > 30
    assert {p["order_id"] for p in products.values()} == set(range(1, 31))
    assert st.product_requests >= 30


def test_v2_error_arrays_are_read_into_the_message(sb: BigCommerceSandbox) -> None:
    client = make_client(STORE, TOKEN, sb.base_url, **FAST)
    with pytest.raises(BigCommerceError) as err:
        client.get_json(client.store_path("/stores/{store_hash}/v2/orders"), {"limit": 999})
    assert err.value.status == 413
    assert "exceeds the maximum" in str(err.value) and "max_limit: 250" in str(err.value)
    assert TOKEN not in str(err.value)


class IdRanges(RewritingProxy):
    """Records the ``min_id``/``max_id`` of active-order pages (``max_id`` None: none sent);
    ``max_id`` may be made to exclude its bound (the docs do not say which it is) or be
    ignored, and the window's last id may be answered as ``last_id`` instead."""

    def __init__(self, target: str, *, max_id: str = "inclusive", last_id: int | None = None) -> None:
        super().__init__(target)
        self.max_id = max_id
        self.last_id = last_id
        self.ranges: list[tuple[int, int | None]] = []
        self.last_id_asked = 0

    def _forward(self, req: Request) -> Response:
        q = dict(p.split("=", 1) for p in req.raw_query.split("&") if "=" in p)
        if req.path.endswith(ORDERS) and "is_deleted" not in q:
            if q.get("sort") in ("id%3Adesc", "id:desc"):
                self.last_id_asked += 1
                if self.last_id is not None:  # a store that sorted the answer otherwise
                    q.update(sort="id:asc", min_id=str(self.last_id))
            elif "min_id" in q:
                self.ranges.append((int(q["min_id"]), int(q["max_id"]) if "max_id" in q else None))
                if self.max_id == "exclusive" and "max_id" in q:
                    q["max_id"] = str(int(q["max_id"]) - 1)
                elif self.max_id == "ignored":
                    q.pop("max_id", None)
            req.raw_query = "&".join(f"{k}={v}" for k, v in q.items())
        return super()._forward(req)


def renumbered(orders: list[dict[str, Any]], ids: list[int]) -> list[dict[str, Any]]:
    return [{**o, "id": i} for o, i in zip(orders, ids, strict=True)]


@pytest.mark.parametrize("max_id", ["inclusive", "exclusive", "ignored"])
def test_a_big_window_is_read_in_id_ranges_and_an_idle_worker_takes_half_of_the_busiest(
    sb: BigCommerceSandbox, db: Path, max_id: str
) -> None:
    """300 orders at ids 1..300 and 2,700 at 10,001..12,700: cut in two equal id ranges after
    the first page, one holds 50 orders and the other 2,700. The worker done first takes the
    upper half of the other's rest, again and again; every order is staged once whether
    ``max_id`` includes its bound, excludes it or is not honoured at all (a range then ends on
    the first page that passes its end)."""
    ids = list(range(1, 301)) + list(range(10_001, 12_701))
    sb.commerce.add_orders(renumbered(generate_orders(3000, seed=9, now=NOW - 3600), ids))
    sb.latency_ms = 20  # the dense range's walk outlasts the sparse one's single page
    proxy = IdRanges(sb.base_url, max_id=max_id)
    with proxy.server:
        _, st = stage(db, proxy.server.url, max_workers=2, split_pages=1)
    assert set(rows(db)) == set(ids) and st.records == 3000
    assert proxy.last_id_asked == 1 and st.splits == 1 and st.steals >= 1
    assert {(251, 6476), (6476, None)} <= set(proxy.ranges)  # halves after ids 1..250, the last one open
    # a taken part starts at its range's new end: every closed range ends on another's start
    starts = {low for low, _ in proxy.ranges}
    ends = {high for _, high in proxy.ranges if high is not None}
    assert ends <= starts and len(ends) >= 2
    # a part-filled page ends each range: the pages, the count, the last id, one more per range
    pages = -(-3000 // 250)
    assert st.requests <= pages + 2 + 2 * (2 + st.steals) + 2


def test_an_id_range_is_not_split_below_a_few_pages(sb: BigCommerceSandbox, db: Path) -> None:
    """Dense ids cut in one range per worker: the ranges end together, no worker takes from
    another, and the cost is the pages plus one part-filled page per range."""
    sb.commerce.add_orders(generate_orders(2600, seed=10, now=NOW - 3600))
    proxy = IdRanges(sb.base_url)
    with proxy.server:
        _, st = stage(db, proxy.server.url, max_workers=2, split_pages=1)
    assert len(rows(db)) == 2600 and st.duplicates <= 1 and st.steals == 0
    assert {high for _, high in proxy.ranges} == {1426, None}  # 251..2600 in two, the last one open
    pages = -(-2600 // 250)
    assert st.requests <= pages + 2 + 2 + 3  # + count and last id, + a part-filled page a range, + time and archived


def test_a_last_id_answered_too_low_costs_no_order(sb: BigCommerceSandbox, db: Path) -> None:
    """The window's last id is asked once (``sort=id:desc``). A store that sorted that answer
    otherwise gives a lower id; the last range is open and reads on to the window's end."""
    sb.commerce.add_orders(generate_orders(3000, seed=11, now=NOW - 3600))
    proxy = IdRanges(sb.base_url, last_id=1000)
    with proxy.server:
        _, st = stage(db, proxy.server.url, max_workers=2, split_pages=1)
    assert set(rows(db)) == set(range(1, 3001)) and st.records == 3000
    assert (251, 626) in proxy.ranges and (626, None) in proxy.ranges  # 251..1000 in two, the last open


@pytest.mark.parametrize("workers", [1, 2])
def test_a_store_that_ignores_min_id_fails_the_run_instead_of_skipping_orders(
    sb: BigCommerceSandbox, db: Path, workers: int
) -> None:
    """Keyset paging needs ``min_id``; answered from the start again, a walk (one worker) or an
    id range (two) stops the run with the reason, and no cursor is committed."""
    sb.commerce.add_orders(generate_orders(1200, seed=12, now=NOW - 3600))

    class NoMinId(RewritingProxy):
        def _forward(self, req: Request) -> Response:
            if req.path.endswith(ORDERS):
                req.raw_query = "&".join(p for p in req.raw_query.split("&") if not p.startswith("min_id="))
            return super()._forward(req)

    proxy = NoMinId(sb.base_url)
    with proxy.server, pytest.raises(Exception) as err:
        stage(db, proxy.server.url, max_workers=workers, split_pages=1)
    assert "keyset paging is not possible" in str(err.value)
    assert "orders" not in tables(db)


def test_cut_ids_meet_on_their_bounds() -> None:
    from bc2people.sources.bigcommerce.reader import cut_ids

    spans = cut_ids(251, 1000, 3, 1.0)
    assert [(s.next_id, s.high, s.open) for s in spans] == [(251, 501, False), (501, 751, False), (751, 1000, True)]
    assert [(s.next_id, s.high) for s in cut_ids(5, 6, 8, 1.0)] == [(5, 6), (6, 6)]  # never more ranges than ids
    span = spans[0]
    span.read([251, 252, 260])  # three rows over ten ids
    assert span.next_id == 261 and span.density == 0.3 and span.rows_left() == 0.3 * 241
    span.read([])
    assert span.next_id == 502 and span.rows_left() == 0
