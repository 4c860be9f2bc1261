"""The BigCommerce sandbox's V2 orders: the documented filters, paging and sorting over real HTTP,
the Python change helpers, the order generator's determinism and mix, and spec conformance."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.bigcommerce.commerce_state import rfc2822
from bc2people.sandbox.generator import REFERENCE_NOW, generate_customers, generate_orders
from bc2people.sandbox.order_records import encode_lines
from bc2people.sandbox.run import start_sandboxes

T0 = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 +0000


def _record(oid: int, *, created: int, modified: int, customer_id: int = 1, status_id: int = 10,
            **extra: Any) -> dict[str, Any]:
    return {"id": oid, "customer_id": customer_id, "status_id": status_id, "created": created, "modified": modified,
            "subtotal": 98.0, "shipping": 4.99, "fx": 0, "billing": {"email": f"c{customer_id}@example.com"},
            "lines": encode_lines([(0, 2)]), **extra}


class Api:
    def __init__(self, sb: BigCommerceSandbox) -> None:
        self.sb = sb
        self.s = requests.Session()
        self.s.headers.update({"X-Auth-Token": sb.access_token, "Accept": "application/json"})
        self.base = f"{sb.base_url}/stores/{sb.store_hash}/v2"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.s.get(self.base + path, params=params, timeout=10)

    def ids(self, **params: Any) -> list[int]:
        r = self.get("/orders", **params)
        assert r.status_code in (200, 204), r.text
        return [] if r.status_code == 204 else [o["id"] for o in r.json()]

    def walk(self, **params: Any) -> list[dict[str, Any]]:
        """Every page until the 204 that ends the list."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            r = self.get("/orders", page=page, limit=250, **params)
            if r.status_code == 204:
                assert r.content == b""
                return out
            assert r.status_code == 200 and r.json()
            out += r.json()
            page += 1


@pytest.fixture
def fixed() -> Iterator[Api]:
    """Ten hand-made orders, one second apart in date_modified (6 shares order 5's second), 4 archived."""
    with BigCommerceSandbox() as sb:
        recs = [_record(i, created=T0 - 1000 + i, modified=T0 + i, customer_id=i % 3) for i in range(1, 11)]
        recs[5]["modified"] = T0 + 5
        recs[3]["is_deleted"] = True
        sb.commerce.add_orders(recs)
        yield Api(sb)


CUSTOMERS = generate_customers(300, seed=5)
ORDERS = generate_orders(CUSTOMERS, seed=5)


@pytest.fixture(scope="module")
def store() -> Iterator[Api]:
    """A generated store: 300 customers and their orders (never changed by the tests using it)."""
    with BigCommerceSandbox() as sb:
        sb.add_customers(json.loads(json.dumps(CUSTOMERS)))
        sb.commerce.add_orders(json.loads(json.dumps(ORDERS)))
        yield Api(sb)


def test_date_bounds_are_inclusive_in_both_documented_formats(fixed: Api) -> None:
    assert fixed.ids(min_date_modified=rfc2822(T0 + 5), max_date_modified=rfc2822(T0 + 7)) == [5, 6, 7]
    same = {"min_date_modified": "Tue, 14 Nov 2023 18:13:25 -0400", "max_date_modified": "2023-11-14T22:13:27Z"}
    assert fixed.ids(**same) == [5, 6, 7]
    assert fixed.ids(min_date_modified="2023-11-14T17:13:25.000-05:00",
                     max_date_modified="2023-11-14T22:13:27+00:00") == [5, 6, 7]
    assert fixed.ids(min_date_modified="2023-11-14T22:13:24.500Z") == [5, 6, 7, 8, 9, 10]  # a fraction rounds inward
    assert fixed.ids(min_date_created=rfc2822(T0 - 1000 + 9)) == [9, 10]
    assert fixed.ids(max_date_created=rfc2822(T0 - 1000 + 2), min_date_created=rfc2822(T0 - 1000 + 2)) == [2]
    assert fixed.ids(min_id=3, max_id=6) == [3, 5, 6]  # 4 is archived


@pytest.mark.parametrize("name", ["min_date_modified", "max_date_modified", "min_date_created", "max_date_created"])
def test_a_bad_date_is_the_v2_400_shape(fixed: Api, name: str) -> None:
    r = fixed.get("/orders", **{name: "yesterday-ish"})
    assert r.status_code == 400
    body = r.json()
    assert isinstance(body, list) and body[0]["status"] == 400 and name in body[0]["message"]
    assert fixed.get("/orders/count", **{name: "31/12/2020"}).status_code == 400


def test_sort_directions_and_ties(fixed: Api) -> None:
    asc = fixed.ids(sort="date_modified:asc")
    assert asc == [1, 2, 3, 5, 6, 7, 8, 9, 10]  # 5 and 6 share a second: ties by id
    assert fixed.ids(sort="date_modified:desc") == asc[::-1]
    assert fixed.ids() == sorted(asc)  # the documented default: id, lowest first
    assert fixed.ids(sort="id:desc", limit=2) == [10, 9]
    assert fixed.ids(sort="date_created:desc", limit=3) == [10, 9, 8]
    assert fixed.ids(sort="customer_id:asc")[:3] == [3, 6, 9]
    bad = fixed.get("/orders", sort="total:asc")
    assert bad.status_code == 400 and bad.json()[0]["status"] == 400


def test_pages_end_with_204_and_walk_every_live_order_once(store: Api) -> None:
    live = {o["id"] for o in ORDERS if not o.get("is_deleted")}
    walked = store.walk(sort="date_modified:asc")
    assert [o["id"] for o in walked if o["id"] in live] == [o["id"] for o in walked]
    assert len(walked) == len(live) and {o["id"] for o in walked} == live
    keys = [(parsedate_to_datetime(o["date_modified"]), o["id"]) for o in walked]
    assert keys == sorted(keys)
    last = -(-len(live) // 250)
    assert store.get("/orders", page=last + 1, limit=250, sort="date_modified:asc").status_code == 204
    assert store.get("/orders", customer_id=999_999).status_code == 204


def test_limit_default_and_cap(store: Api) -> None:
    assert len(store.ids()) == 50
    assert len(store.ids(limit=250)) == 250
    over = store.get("/orders", limit=251)
    assert over.status_code == 413 and over.json() == [
        {"status": 413, "message": "The specified limit exceeds the maximum allowed.", "details": {"max_limit": 250}}]


def test_customer_and_status_filters_and_count(store: Api) -> None:
    buyer = Counter(o["customer_id"] for o in ORDERS if o["customer_id"] and not o.get("is_deleted")).most_common(1)[0]
    mine = store.walk(customer_id=buyer[0], sort="date_created:desc")
    assert len(mine) == buyer[1] and {o["customer_id"] for o in mine} == {buyer[0]}
    created = [parsedate_to_datetime(o["date_created"]) for o in mine]
    assert created == sorted(created, reverse=True)
    shipped = store.walk(status_id=2)
    assert shipped and {o["status"] for o in shipped} == {"Shipped"}
    count = store.get("/orders/count", status_id=2).json()
    assert count["count"] == len(shipped) and next(s for s in count["statuses"] if s["id"] == 2)["count"] == len(shipped)
    window = {"min_date_modified": rfc2822(REFERENCE_NOW - 400 * 86400), "max_date_modified": rfc2822(REFERENCE_NOW)}
    assert store.get("/orders/count", **window).json()["count"] == len(store.walk(**window)) > 0


def test_guest_orders_are_listed_with_their_emails(store: Api) -> None:
    guests = store.walk(customer_id=0)
    expected = [o for o in ORDERS if o["customer_id"] == 0 and not o.get("is_deleted")]
    assert guests and len(guests) == len(expected)
    known = {c["email"].casefold(): c["email"] for c in CUSTOMERS}
    emails = [o["billing_address"]["email"] for o in guests]
    matching = [e for e in emails if e.casefold() in known]
    assert matching and all(known[e.casefold()] != e for e in matching)  # the same address in another case
    assert any(e.casefold() not in known for e in emails)
    one = matching[0]
    assert {o["id"] for o in store.walk(email=one.lower())} >= {o["id"] for o in guests if o["billing_address"]["email"] == one}


def test_archived_orders_only_when_asked(store: Api) -> None:
    archived = {o["id"] for o in ORDERS if o.get("is_deleted")}
    assert archived
    listed = store.walk(is_deleted="true")
    assert {o["id"] for o in listed} == archived and all(o["is_deleted"] is True for o in listed)
    assert not archived & {o["id"] for o in store.walk()}
    assert store.get("/orders/count", is_deleted="true").json()["count"] == len(archived)
    assert store.get("/orders/count").json()["count"] == len(ORDERS) - len(archived)
    assert store.get("/orders", is_deleted="maybe").status_code == 400
    assert store.get(f"/orders/{min(archived)}").json()["is_deleted"] is True  # fetching by id still works


def test_products_endpoint_adds_up(store: Api) -> None:
    for o in store.ids(limit=30):
        order = store.get(f"/orders/{o}").json()
        lines = store.get(f"/orders/{o}/products").json()
        assert 1 <= len(lines) <= 5 and {line["order_id"] for line in lines} == {o}
        assert sum(line["quantity"] for line in lines) == order["items_total"]
        assert f"{sum(float(line['total_inc_tax']) for line in lines):.4f}" == order["subtotal_inc_tax"]
        assert float(order["total_inc_tax"]) == pytest.approx(float(order["subtotal_inc_tax"])
                                                               + float(order["shipping_cost_inc_tax"]))
    multi = next(o["id"] for o in ORDERS if o["lines"] & 7 >= 3 and not o.get("is_deleted"))
    second = store.get(f"/orders/{multi}/products", limit=1, page=2)
    assert second.status_code == 200 and len(second.json()) == 1
    assert store.get(f"/orders/{multi}/products", page=2).status_code == 204
    assert store.get("/orders/99999999/products").status_code == 404
    assert store.get(f"/orders/{multi}/products", limit=251).status_code == 413


def test_change_helpers_bump_date_modified(fixed: Api) -> None:
    sb = fixed.sb
    sb.clock.freeze(T0 + 5000)
    since = {"min_date_modified": rfc2822(T0 + 5000), "sort": "date_modified:asc"}
    assert fixed.ids(**since) == []
    sb.commerce.update_order(1, staff_notes="called the customer")
    sb.clock.advance(10)
    assert sb.commerce.set_order_status(2, 2)["status"] == "Shipped"
    part = sb.commerce.refund_order(3, 10.0)
    assert part["status_id"] == 14 and part["refunded_amount"] == "10.0000"
    full = sb.commerce.refund_order(3)
    assert full["status_id"] == 4 and full["refunded_amount"] == full["total_inc_tax"]
    with pytest.raises(ValueError):
        sb.commerce.refund_order(3, 1.0)
    sb.commerce.archive_order(5)
    guest = sb.commerce.create_order_for(0, 42.5, "EUR", when=T0 - 86400, email="Walk.In@Example.com")
    assert fixed.ids(**since) == [1, 2, 3, guest["id"]]
    assert fixed.ids(is_deleted="true", **since) == [5]
    gone = fixed.s.delete(f"{fixed.base}/orders/7", timeout=10)  # the documented archive call
    assert gone.status_code == 204 and fixed.ids(is_deleted="true", **since) == [5, 7]
    assert fixed.s.delete(f"{fixed.base}/orders/9999", timeout=10).status_code == 404
    assert guest["id"] > 10 and guest["customer_id"] == 0 and guest["billing_address"]["email"] == "Walk.In@Example.com"
    assert guest["currency_code"] == guest["default_currency_code"] == "EUR"
    assert guest["store_default_currency_code"] == "USD" and guest["store_default_to_transactional_exchange_rate"] != "1.0000000000"
    assert parsedate_to_datetime(guest["date_created"]).timestamp() == T0 - 86400
    assert parsedate_to_datetime(guest["date_modified"]).timestamp() == T0 + 5010
    assert fixed.get(f"/orders/{guest['id']}/products").json()[0]["total_inc_tax"] == "42.5000"
    untouched = sb.commerce.update_order(6, touch=False, staff_notes="quiet")
    assert untouched["date_modified"] == rfc2822(T0 + 5)


def test_orders_requests_spend_the_store_quota(fixed: Api) -> None:
    fixed.sb.set_quota(3, 30.0)
    try:
        lefts = [fixed.get(p).headers["X-Rate-Limit-Requests-Left"] for p in ("/orders", "/orders/count", "/orders/1")]
        assert lefts == ["2", "1", "0"]
        refused = fixed.get("/orders/1/products")
        assert refused.status_code == 429 and "X-Retry-After" in refused.headers
    finally:
        fixed.sb.set_quota(None)


def test_generator_is_deterministic_and_leaves_customers_alone() -> None:
    customers = generate_customers(200, seed=9)
    before = json.dumps(customers, sort_keys=True)
    a = generate_orders(customers, seed=9)
    assert json.dumps(customers, sort_keys=True) == before == json.dumps(generate_customers(200, seed=9), sort_keys=True)
    assert json.dumps(a, sort_keys=True) == json.dumps(generate_orders(customers, seed=9), sort_keys=True)
    assert json.dumps(a, sort_keys=True) != json.dumps(generate_orders(customers, seed=10), sort_keys=True)
    later = generate_orders(customers, seed=9, now=REFERENCE_NOW + 86400)
    assert max(o["modified"] for o in later) > max(o["modified"] for o in a)


def test_generator_mix() -> None:
    by_id = {c["id"]: c for c in CUSTOMERS}
    statuses = Counter(o["status_id"] for o in generate_orders(generate_customers(2000, seed=1), seed=1))
    assert set(statuses) == set(range(15))
    assert {s for s, _ in statuses.most_common(3)} == {10, 11, 2}
    per_customer = Counter(o["customer_id"] for o in ORDERS if o["customer_id"])
    assert 0.45 < len(per_customer) / len(CUSTOMERS) < 0.75 and max(per_customer.values()) <= 50
    assert sum(1 for n in per_customer.values() if n <= 5) > 0.6 * len(per_customer) and max(per_customer.values()) > 10
    for o in ORDERS:
        assert REFERENCE_NOW > o["modified"] >= o["created"]
        if o["customer_id"]:
            created = datetime.fromisoformat(by_id[o["customer_id"]]["date_created"]).replace(tzinfo=UTC)
            assert o["created"] > created.timestamp()
        if o["status_id"] == 4:
            assert o["refunded"] == round(o["subtotal"] + o["shipping"], 2)
        elif o["status_id"] == 14:
            assert 0 < o["refunded"] < o["subtotal"] + o["shipping"]
        else:
            assert "refunded" not in o
    assert [o["id"] for o in ORDERS] == list(range(100, 100 + len(ORDERS)))
    assert [o["created"] for o in ORDERS] == sorted(o["created"] for o in ORDERS)
    assert any(o.get("is_deleted") for o in ORDERS)
    guests = [o for o in ORDERS if o["customer_id"] == 0]
    assert 0.05 < len(guests) / len(ORDERS) < 0.15


def test_generated_currencies_render_as_documented(store: Api) -> None:
    seen: dict[str, set[str]] = {}
    for o in store.walk(sort="id")[:600]:
        seen.setdefault(o["currency_code"], set()).add(o["store_default_to_transactional_exchange_rate"])
        assert o["default_currency_code"] == o["currency_code"] and o["store_default_currency_code"] == "USD"
        assert o["total_inc_tax"].count(".") == 1 and len(o["total_inc_tax"].split(".")[1]) == 4
    assert seen["USD"] == {"1.0000000000"}
    assert {"EUR", "GBP"} <= set(seen) and "1.0000000000" not in seen["EUR"] | seen["GBP"]


def test_start_sandboxes_gives_the_customers_orders() -> None:
    bc, people = start_sandboxes(40, seed=3)
    try:
        got = Api(bc).walk()
        assert got and {o["customer_id"] for o in got} - {0} <= {c["id"] for c in bc.customers()}
    finally:
        bc.stop()
        people.stop()
    bc, people = start_sandboxes(40, seed=3, orders=False)
    try:
        assert Api(bc).get("/orders").status_code == 204
    finally:
        bc.stop()
        people.stop()


def test_rendered_orders_conform_to_the_spec(store: Api) -> None:
    """List, single order, products and count of generated orders (guest, refunded, EUR, archived)
    validated by openapi-core against the official Orders V2 document."""
    from tests.test_sandbox_commerce_conformance import SPECS, _spec, schema_errors

    if not (SPECS / "orders.v2.oas2.yml").is_file():
        pytest.fail(f"official spec missing at {SPECS}")
    import copy

    from openapi_core import OpenAPI

    spec = copy.deepcopy(_spec("orders.v2.oas2.yml"))
    spec["components"]["parameters"]["sort"]["schema"].pop("enum")  # its description allows ":asc"/":desc"
    spec["servers"] = [{"url": store.base}]
    api = OpenAPI.from_dict(spec)
    picks = [next(o["id"] for o in ORDERS if cond(o) and not o.get("is_deleted")) for cond in (
        lambda o: o["customer_id"] == 0, lambda o: o["status_id"] == 4, lambda o: o["status_id"] == 14,
        lambda o: o["fx"] != 0)]
    responses = [store.get("/orders", limit=250, sort="date_modified:desc"), store.get("/orders", customer_id=0),
                 store.get("/orders", is_deleted="true"), store.get("/orders/count", status_id=10)]
    for oid in picks:
        responses += [store.get(f"/orders/{oid}"), store.get(f"/orders/{oid}/products")]
    problems = [(r.url, e) for r in responses for e in schema_errors(api, r)]
    assert all(r.status_code == 200 for r in responses) and problems == []


def _reference(orders: list[dict[str, Any]], q: Any) -> list[int]:
    """The query's ids by brute force: every filter applied to every order, then sorted."""
    def within(v: int, rng: tuple[int | None, int | None]) -> bool:
        return (rng[0] is None or v >= rng[0]) and (rng[1] is None or v <= rng[1])
    hits = [o for o in orders if bool(o.get("is_deleted")) == q.deleted
            and within(o["id"], (q.ints.get("min_id"), q.ints.get("max_id")))
            and within(o["created"], q.created) and within(o["modified"], q.modified)]
    field = {"id": "id", "date_created": "created", "date_modified": "modified"}[q.sort]
    hits.sort(key=lambda o: (o[field], o["id"]), reverse=q.desc)
    return [o["id"] for o in hits]


def test_any_mix_of_ranges_and_sorts_pages_and_counts_like_a_full_scan() -> None:
    """Whichever index a query walks (its sort's, or a narrower filter's), its pages and count
    equal a brute-force scan of every order."""
    import random

    from bc2people.sandbox.bigcommerce.commerce_order_query import OrderQuery, OrderSelector

    with BigCommerceSandbox() as sb:
        sb.commerce.add_orders(json.loads(json.dumps(ORDERS)))
        orders = list(sb.commerce.orders.values())
        sel = OrderSelector(sb.commerce.orders, sb.commerce.order_index)
        ids = sorted(o["id"] for o in orders)
        mods = sorted(o["modified"] for o in orders)
        creats = sorted(o["created"] for o in orders)
        rng = random.Random(7)

        def bounds(values: list[int]) -> tuple[int | None, int | None]:
            kind = rng.choice(("none", "narrow", "wide", "open-low", "open-high"))
            if kind == "none":
                return None, None
            i = rng.randrange(len(values))
            j = min(len(values) - 1, i + (rng.randrange(1, 6) if kind == "narrow" else len(values) // 2))
            lo, hi = values[i], values[j]
            return (None, hi) if kind == "open-low" else (lo, None) if kind == "open-high" else (lo, hi)

        for _ in range(300):
            q = OrderQuery(ints={"min_id": None, "max_id": None}, deleted=rng.random() < 0.1,
                           sort=rng.choice(("id", "date_created", "date_modified")), desc=rng.random() < 0.3,
                           page=rng.choice((1, 1, 2)), limit=rng.choice((3, 50, 250)))
            q.ints["min_id"], q.ints["max_id"] = bounds(ids)
            q.created, q.modified = bounds(creats), bounds(mods)
            want = _reference(orders, q)
            got = [o["id"] for o in sel.page(q)]
            assert got == want[(q.page - 1) * q.limit: q.page * q.limit], q
            assert sorted(o["id"] for o in sel.matching(q)) == sorted(want), q


def test_a_narrow_date_window_sorted_by_id_walks_the_window_not_the_store() -> None:
    """A night's query (a few minutes of date_modified, sorted by id from a low min_id) is
    planned on the date index: the sandbox answers it in the time of the window's orders."""
    from bc2people.sandbox.bigcommerce.commerce_order_query import OrderQuery, OrderSelector

    with BigCommerceSandbox() as sb:
        sb.commerce.add_orders(json.loads(json.dumps(ORDERS)))
        sel = OrderSelector(sb.commerce.orders, sb.commerce.order_index)
        last = max(o["modified"] for o in sb.commerce.orders.values())
        night = OrderQuery(ints={"min_id": 1, "max_id": None}, modified=(last - 60, None), sort="id")
        assert sel._plan(night) == ("modified", (last - 60, None))
        assert sel._plan(night, ordered=False)[0] == "modified"
        first_sync = OrderQuery(ints={"min_id": 1, "max_id": None}, modified=(None, last), sort="id")
        assert sel._plan(first_sync)[0] == "id"  # the whole store: walked in id order, stops at the page
