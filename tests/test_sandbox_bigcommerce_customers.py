"""GET/POST/PUT/DELETE /v3/customers on the BigCommerce sandbox, through real HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from tests.fixtures_bigcommerce import BC_TOKEN, bc_url

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make(cid: int, *, dc: int, dm: int, **over: Any) -> dict[str, Any]:
    c = generate_customers(1, seed=cid, start_id=cid)[0]
    c.update(email=f"c{cid}@example.com", date_created=iso(dc), date_modified=iso(dm))
    c.update(over)
    return c


@pytest.fixture
def store() -> Iterator[tuple[BigCommerceSandbox, requests.Session]]:
    """Twelve customers with known dates: ids 1..12, dm = T0 + (id // 3) * 10 (three share each second)."""
    sb = BigCommerceSandbox()
    rows = [make(i, dc=T0 - 1000 + i, dm=T0 + (i // 3) * 10) for i in range(1, 13)]
    rows[0].update(first_name="Ada", last_name="Lovelace", company="Analytical", email="Ada.L@Example.com",
                   phone="+44 20 7946 0000", customer_group_id=2)
    rows[1].update(first_name="Grace", last_name="Hopper", company="Navy", customer_group_id=2)
    rows[2].update(first_name="Alan", last_name="turing", company="Bletchley")
    sb.add_customers(rows)
    with sb, requests.Session() as s:
        s.headers.update({"X-Auth-Token": BC_TOKEN, "Accept": "application/json"})
        yield sb, s


def get(ctx: tuple[BigCommerceSandbox, requests.Session], **params: Any) -> requests.Response:
    sb, s = ctx
    return s.get(bc_url(sb, "/v3/customers"), params=params)


def ids(resp: requests.Response) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [c["id"] for c in resp.json()["data"]]


# -- filters ------------------------------------------------------------------------------
def test_default_order_is_id_and_filters_combine(store: Any) -> None:
    assert ids(get(store)) == list(range(1, 13))
    assert ids(get(store, **{"id:in": "5,2,99"})) == [2, 5]
    assert ids(get(store, **{"customer_group_id:in": "2", "id:in": "1,3"})) == [1]


def test_email_filter_is_case_insensitive_exact(store: Any) -> None:
    assert ids(get(store, **{"email:in": "ada.l@example.COM,c5@example.com"})) == [1, 5]
    assert ids(get(store, **{"email:in": "ada.l@example"})) == []


def test_name_filters(store: Any) -> None:
    assert ids(get(store, **{"name:in": "ada lovelace,GRACE HOPPER"})) == [1, 2]
    assert ids(get(store, **{"name:like": "lace"})) == [1]
    assert ids(get(store, **{"name:like": "a lov,TURING"})) == [1, 3]  # spans the space; any value
    assert ids(get(store, **{"company:in": "navy,Bletchley"})) == [2, 3]
    assert ids(get(store, **{"phone:in": "+44 20 7946 0000"})) == [1]


def test_date_bounds_are_inclusive_whole_seconds(store: Any) -> None:
    # dm: ids 1,2 -> T0; 3,4,5 -> T0+10; 6,7,8 -> T0+20; 9,10,11 -> T0+30; 12 -> T0+40
    assert ids(get(store, **{"date_modified:min": iso(T0 + 10), "date_modified:max": iso(T0 + 20)})) == [3, 4, 5, 6, 7, 8]
    assert ids(get(store, **{"date_modified:min": iso(T0 + 11), "date_modified:max": iso(T0 + 29)})) == [6, 7, 8]
    assert ids(get(store, **{"date_modified": iso(T0 + 30)})) == [9, 10, 11]
    assert ids(get(store, **{"date_created:max": iso(T0 - 1000 + 2)})) == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        iso(T0 + 30),
        datetime.fromtimestamp(T0 + 30, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        datetime.fromtimestamp(T0 + 30, UTC).strftime("%Y-%m-%dT%H:%M:%S"),  # naive = UTC
        datetime.fromtimestamp(T0 + 30 + 7200, UTC).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
        str(T0 + 30),  # unix seconds
        iso(T0 + 30).replace("Z", ".999Z"),  # fractions truncate
    ],
)
def test_date_formats_accepted(store: Any, value: str) -> None:
    assert ids(get(store, **{"date_modified:min": value})) == [9, 10, 11, 12]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T00:00:00Z", "2024-05-14T09:34:00 00:00", ""])
def test_garbage_dates_are_422(store: Any, value: str) -> None:
    r = get(store, **{"date_modified:min": value})
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422 and "date_modified:min" in body["errors"] and body["type"].startswith("https://")


def test_unencoded_plus_gets_a_hint(store: Any) -> None:
    sb, s = store
    r = s.get(bc_url(sb, "/v3/customers") + "?date_modified:min=2024-05-14T09:34:00+00:00")
    assert r.status_code == 422 and "%2B" in r.json()["errors"]["date_modified:min"]


def test_bare_date_means_that_day_at_current_time_of_day(store: Any) -> None:
    sb, _ = store
    day = datetime.fromtimestamp(T0 + 20, UTC).strftime("%Y-%m-%d")
    sb.clock.freeze(T0 + 20 + 86400 * 3)  # three days later, same time of day as T0+20
    assert ids(get(store, **{"date_modified:min": day})) == [6, 7, 8, 9, 10, 11, 12]
    sb.clock.freeze(T0 + 21 + 86400 * 3)
    assert ids(get(store, **{"date_modified:min": day})) == [9, 10, 11, 12]
    assert ids(get(store, **{"date_modified:max": day})) == [1, 2, 3, 4, 5, 6, 7, 8]


# -- sorting ----------------------------------------------------------------------------------
def test_every_sort_value_with_id_tie_break(store: Any) -> None:
    assert ids(get(store, sort="date_modified:asc")) == list(range(1, 13))
    assert ids(get(store, sort="date_modified:desc")) == list(range(12, 0, -1))
    assert ids(get(store, sort="date_created:asc")) == list(range(1, 13))
    assert ids(get(store, sort="date_created:desc")) == list(range(12, 0, -1))
    by_last = ids(get(store, sort="last_name:asc"))
    sb, _ = store
    expected = sorted(range(1, 13), key=lambda i: (sb.customer(i)["last_name"].casefold(), i))  # type: ignore[index]
    assert by_last == expected
    assert ids(get(store, sort="last_name:desc")) == expected[::-1]


def test_sort_by_date_modified_puts_an_update_last(store: Any) -> None:
    sb, _ = store
    sb.clock.freeze(T0 + 1000)
    sb.update_customer(1, first_name="Augusta")
    assert ids(get(store, sort="date_modified:asc"))[-1] == 1
    assert sb.customer(1)["date_modified"] == iso(T0 + 1000)  # type: ignore[index]


def test_unknown_sort_is_422(store: Any) -> None:
    r = get(store, sort="id:asc")
    assert r.status_code == 422 and "sort" in r.json()["errors"]


# -- include ----------------------------------------------------------------------------------
def test_sub_resources_absent_unless_included(store: Any) -> None:
    sb, _ = store
    sb.update_customer(1, touch=False, addresses=[{
        "id": 10, "customer_id": 1, "first_name": "A", "last_name": "L", "address1": "1 St", "city": "London",
        "state_or_province": "", "postal_code": "N1", "country_code": "GB", "country": "United Kingdom",
        "form_fields": [{"name": "gate", "value": "B"}],
    }])
    plain = get(store, **{"id:in": "1"}).json()["data"][0]
    for key in ("addresses", "attributes", "form_fields", "store_credit_amounts", "shopper_profile_id", "segment_ids"):
        assert key not in plain
    assert plain["address_count"] == 1 and "attribute_count" in plain
    full = get(store, **{"id:in": "1", "include": "addresses,storecredit,attributes,formfields,shopper_profile_id,segment_ids"})
    c = full.json()["data"][0]
    assert c["addresses"][0]["city"] == "London" and c["addresses"][0]["form_fields"] == [{"name": "gate", "value": "B"}]
    assert isinstance(c["attributes"], list) and isinstance(c["form_fields"], list)
    assert isinstance(c["store_credit_amounts"], list) and "shopper_profile_id" in c and isinstance(c["segment_ids"], list)
    only_addr = get(store, **{"id:in": "1", "include": "addresses"}).json()["data"][0]
    assert "form_fields" not in only_addr["addresses"][0] and "form_fields" not in only_addr


def test_unknown_include_is_422(store: Any) -> None:
    r = get(store, include="addresses,orders")
    assert r.status_code == 422 and "orders" in r.json()["errors"]["include"]


# -- page paging ----------------------------------------------------------------------------------
def test_pagination_meta_and_links(store: Any) -> None:
    first = get(store, limit=5).json()["meta"]
    assert first["pagination"] == {
        "total": 12, "count": 5, "per_page": 5, "current_page": 1, "total_pages": 3,
        "links": {"current": "?page=1&limit=5", "next": "?page=2&limit=5"},
    }
    assert "cursor_pagination" in first
    mid = get(store, limit=5, page=2).json()
    assert [c["id"] for c in mid["data"]] == [6, 7, 8, 9, 10]
    assert mid["meta"]["pagination"]["links"] == {
        "previous": "?page=1&limit=5", "current": "?page=2&limit=5", "next": "?page=3&limit=5"
    }
    assert "cursor_pagination" not in mid["meta"]
    last = get(store, limit=5, page=3).json()["meta"]["pagination"]
    assert last["count"] == 2 and "next" not in last["links"] and last["links"]["previous"] == "?page=2&limit=5"
    beyond = get(store, limit=5, page=9).json()
    assert beyond["data"] == [] and beyond["meta"]["pagination"]["current_page"] == 9


def test_default_limit_50_and_empty_result(bc_sandbox: BigCommerceSandbox) -> None:
    s = requests.Session()
    s.headers["X-Auth-Token"] = BC_TOKEN
    meta = s.get(bc_url(bc_sandbox, "/v3/customers")).json()["meta"]
    assert meta["pagination"]["per_page"] == 50 and meta["pagination"]["count"] == 50
    assert meta["pagination"]["total"] == 120 and meta["pagination"]["total_pages"] == 3
    empty = s.get(bc_url(bc_sandbox, "/v3/customers"), params={"id:in": "999999"}).json()["meta"]
    assert empty["pagination"]["total"] == 0 and empty["pagination"]["total_pages"] == 0
    assert "start_cursor" not in empty["cursor_pagination"] and "next" not in empty["cursor_pagination"]["links"]


@pytest.mark.parametrize("params", [{"limit": 251}, {"limit": 0}, {"limit": "ten"}, {"page": 0}, {"page": "x"}])
def test_bad_limit_or_page_is_422(store: Any, params: dict[str, Any]) -> None:
    r = get(store, **params)
    assert r.status_code == 422
    assert set(r.json()["errors"]) == set(params)


def test_limit_250_is_allowed(store: Any) -> None:
    assert get(store, limit=250).status_code == 200


# -- cursor paging --------------------------------------------------------------------------------
def cursor(cid: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": cid}, separators=(",", ":")).encode()).decode().rstrip("=")


def test_cursor_format_and_walk_forward(store: Any) -> None:
    meta = get(store, limit=5).json()["meta"]["cursor_pagination"]
    assert meta["start_cursor"] == cursor(1)
    assert cursor(204) == "eyJpZCI6MjA0fQ"  # the docs' example cursor
    assert json.loads(base64.urlsafe_b64decode(meta["end_cursor"] + "==")) == {"id": 5}
    assert "=" not in meta["end_cursor"]
    seen: list[int] = []
    page = get(store, limit=5)
    while True:
        body = page.json()
        seen += [c["id"] for c in body["data"]]
        cp = body["meta"]["cursor_pagination"]
        if "next" not in cp["links"]:
            break
        page = get(store, limit=5, after=cp["end_cursor"])
        assert "pagination" not in page.json()["meta"]
    assert seen == list(range(1, 13))


def test_cursor_backward_and_links(store: Any) -> None:
    r = get(store, limit=3, after=cursor(6)).json()
    assert [c["id"] for c in r["data"]] == [7, 8, 9]
    cp = r["meta"]["cursor_pagination"]
    assert cp["links"]["previous"] == f"?limit=3&before={cursor(7)}"
    assert cp["links"]["next"] == f"?limit=3&after={cursor(9)}"
    back = get(store, limit=3, before=cp["start_cursor"]).json()
    assert [c["id"] for c in back["data"]] == [4, 5, 6]
    assert "previous" in back["meta"]["cursor_pagination"]["links"]
    start = get(store, limit=3, before=cursor(3)).json()
    assert [c["id"] for c in start["data"]] == [1, 2] and "previous" not in start["meta"]["cursor_pagination"]["links"]
    end = get(store, limit=3, after=cursor(10)).json()
    assert [c["id"] for c in end["data"]] == [11, 12] and "next" not in end["meta"]["cursor_pagination"]["links"]


def test_cursor_ignores_sort_and_page_but_keeps_filters(store: Any) -> None:
    window = {"date_modified:min": iso(T0 + 10), "date_modified:max": iso(T0 + 30)}
    r = get(store, limit=4, after=cursor(4), sort="date_modified:desc", page=7, **window)
    assert ids(r) == [5, 6, 7, 8]


def test_cursor_walk_does_not_skip_when_records_change_mid_run(store: Any) -> None:
    sb, _ = store
    sb.clock.freeze(T0 + 5000)
    window = {"date_modified:min": iso(T0), "date_modified:max": iso(T0 + 100), "limit": 3}
    first = get(store, **window).json()
    sb.update_customer(2, first_name="Moved")  # leaves the window: no shift for cursors
    got = [c["id"] for c in first["data"]]
    nxt = first["meta"]["cursor_pagination"]["end_cursor"]
    while nxt:
        body = get(store, after=nxt, **window).json()
        got += [c["id"] for c in body["data"]]
        cp = body["meta"]["cursor_pagination"]
        nxt = cp["end_cursor"] if "next" in cp["links"] else None
    assert got == list(range(1, 13))


@pytest.mark.parametrize("params", [{"after": "not-a-cursor!"}, {"before": "eyJ4IjoxfQ"}, {"after": cursor(1), "before": cursor(5)}])
def test_bad_cursors_are_422(store: Any, params: dict[str, str]) -> None:
    assert get(store, **params).status_code == 422


# -- writes ---------------------------------------------------------------------------------------
def test_post_creates_with_clock_dates_and_all_sub_resources(store: Any) -> None:
    sb, s = store
    sb.clock.freeze(T0 + 777)
    body = [{"email": "new@example.com", "first_name": "N", "last_name": "W",
             "authentication": {"force_password_reset": False, "new_password": "s3cret-pass!"},
             "addresses": [{"first_name": "N", "last_name": "W", "address1": "A", "city": "C", "country_code": "de"}],
             "form_fields": [{"name": "newsletter", "value": "yes"}]}]
    r = s.post(bc_url(sb, "/v3/customers"), json=body)
    assert r.status_code == 200, r.text
    c = r.json()["data"][0]
    assert c["id"] == 13 and c["date_created"] == c["date_modified"] == iso(T0 + 777)
    assert c["addresses"][0]["country"] == "Germany" and c["form_fields"][0]["customer_id"] == 13
    assert "s3cret-pass!" not in r.text and "s3cret-pass!" not in json.dumps(sb.customer(13))
    assert r.json()["meta"] == {}


def test_post_errors(store: Any) -> None:
    sb, s = store
    url = bc_url(sb, "/v3/customers")
    too_many = [{"email": f"x{i}@e.com", "first_name": "a", "last_name": "b"} for i in range(11)]
    assert s.post(url, json=too_many).status_code == 413
    missing = s.post(url, json=[{"email": "m@e.com", "first_name": "a"}])
    assert missing.status_code == 422 and "0.last_name" in missing.json()["errors"]
    dup = s.post(url, json=[{"email": "ADA.L@example.com", "first_name": "a", "last_name": "b"}])
    assert dup.status_code == 422 and dup.json()["title"] == "This email address is already in use by a customer."
    assert s.post(url, json={"email": "o@e.com"}).status_code == 422  # not an array
    assert len(sb.store) == 12  # nothing half-created


def test_put_updates_and_bumps_date_modified(store: Any) -> None:
    sb, s = store
    sb.clock.freeze(T0 + 9999)
    url = bc_url(sb, "/v3/customers")
    r = s.put(url, json=[{"id": 4, "first_name": "Changed", "date_created": "2000-01-01T00:00:00Z",
                          "addresses": [{"city": "ignored"}]}])
    assert r.status_code == 200, r.text
    c = sb.customer(4)
    assert c is not None and c["first_name"] == "Changed" and c["date_modified"] == iso(T0 + 9999)
    assert c["date_created"] == iso(T0 - 1000 + 4)  # read-only
    assert s.put(url, json=[{"first_name": "no id"}]).status_code == 422
    assert s.put(url, json=[{"id": 999, "first_name": "x"}]).status_code == 422
    assert s.put(url, json=[{"id": 4, "email": "ada.l@example.com"}]).status_code == 422
    assert s.put(url, json=[{"id": 4}] * 11).status_code == 413


def test_delete(store: Any) -> None:
    sb, s = store
    url = bc_url(sb, "/v3/customers")
    r = s.delete(url)
    assert r.status_code == 204 and len(sb.store) == 12
    assert s.delete(url, params={"id:in": "2,3,404"}).status_code == 204
    assert ids(get(store, **{"id:in": "1,2,3,4"})) == [1, 4]
    assert s.delete(url, params={"id:in": "a,b"}).status_code == 422
    # a deleted email can be reused
    assert s.post(url, json=[{"email": "c2@example.com", "first_name": "a", "last_name": "b"}]).status_code == 200


def test_content_type_required_on_writes(store: Any) -> None:
    sb, s = store
    r = s.post(bc_url(sb, "/v3/customers"), data=b'[{"email": "t@e.com"}]', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    bad = s.post(bc_url(sb, "/v3/customers"), data=b"[{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400


def test_put_batch_claiming_one_email_twice_is_422_and_changes_nothing(store: Any) -> None:
    sb, s = store
    r = s.put(bc_url(sb, "/v3/customers"), json=[{"id": 5, "email": "same@example.com"}, {"id": 6, "email": "SAME@example.com"}])
    assert r.status_code == 422
    assert sb.customer(5)["email"] == "c5@example.com"  # type: ignore[index]


def test_python_controls_return_copies(store: Any) -> None:
    sb, _ = store
    created = sb.create_customer(email="copy@example.com", first_name="C", last_name="P")
    created["email"] = "mutated@example.com"
    assert sb.customer(created["id"])["email"] == "copy@example.com"  # type: ignore[index]


def test_a_date_window_in_another_order_pages_like_a_full_scan(bc_sandbox: BigCommerceSandbox) -> None:
    """A ``date_*`` range sorted by another key (the count requests of segments and sweeps) is
    answered by bisecting the range's own index; totals and pages equal a brute-force scan."""
    import random

    rnd = random.Random(16)
    rows = [make(i, dc=T0 + rnd.randrange(300), dm=T0 + rnd.randrange(300), customer_group_id=rnd.choice([1, 2]),
                 last_name=rnd.choice(["a", "B", "c"])) for i in range(1, 401)]
    bc_sandbox.add_customers(rows)
    keys = {"id": lambda c: c["id"], "date_created": lambda c: c["date_created"],
            "date_modified": lambda c: c["date_modified"], "last_name": lambda c: c["last_name"].casefold()}
    with requests.Session() as s:
        s.headers.update({"X-Auth-Token": BC_TOKEN, "Accept": "application/json"})
        for _ in range(120):
            field = rnd.choice(["date_created", "date_modified"])
            lo, hi = sorted(rnd.randrange(-10, 310) for _ in range(2))
            sort_key = rnd.choice(list(keys))
            desc = sort_key != "id" and rnd.random() < 0.5  # no sort = id ascending, the only id order
            params: dict[str, Any] = {f"{field}:min": iso(T0 + lo), f"{field}:max": iso(T0 + hi),
                                      "limit": rnd.choice([1, 7, 250]), "page": rnd.choice([1, 1, 2, 3])}
            if sort_key != "id":
                params["sort"] = f"{sort_key}:{'desc' if desc else 'asc'}"
            if rnd.random() < 0.3:
                params["customer_group_id:in"] = "2"
            want = [c for c in rows if iso(T0 + lo) <= c[field] <= iso(T0 + hi)
                    and ("customer_group_id:in" not in params or c["customer_group_id"] == 2)]
            want.sort(key=lambda c: (keys[sort_key](c), c["id"]), reverse=desc)
            start = (params["page"] - 1) * params["limit"]
            resp = s.get(bc_url(bc_sandbox, "/v3/customers"), params=params)
            assert ids(resp) == [c["id"] for c in want[start:start + params["limit"]]], params
            assert resp.json()["meta"]["pagination"]["total"] == len(want), params


def test_a_keyset_page_of_a_date_window_equals_a_full_scan_and_follows_writes(bc_sandbox: BigCommerceSandbox) -> None:
    """Keyset pages (``after``/``before``) of ``date_*`` windows come from a cached, id-ordered
    list of the window's rows: pages and links equal a brute-force scan, and a write (which
    moves a row in or out of a window) is seen by the next page."""
    import random

    rnd = random.Random(61)
    rows = [make(i, dc=T0 + rnd.randrange(300), dm=T0 + rnd.randrange(300)) for i in range(1, 301)]
    bc_sandbox.add_customers(rows)
    bc_sandbox.clock.freeze(T0 + 400)
    windows = [{f: sorted(rnd.randrange(-10, 410) for _ in range(2))
                for f in rnd.sample(["date_created", "date_modified"], rnd.choice([1, 1, 2]))} for _ in range(6)]
    windows.append({"date_modified": [0, 410]})  # every customer, the written ones too
    with requests.Session() as s:
        s.headers.update({"X-Auth-Token": BC_TOKEN, "Accept": "application/json"})
        for step in range(150):
            if step % 5 == 4:  # a write: one customer modified now, moving it out of most windows
                bc_sandbox.clock.advance(1)
                bc_sandbox.update_customer(rnd.randrange(1, 301), first_name=f"W{step}")
            current = {c["id"]: c for c in bc_sandbox.customers()}
            ranges = rnd.choice(windows)  # a few windows, asked for again after writes
            params: dict[str, Any] = {"limit": rnd.choice([1, 7, 250])}
            for f, (lo, hi) in ranges.items():
                params[f"{f}:min"], params[f"{f}:max"] = iso(T0 + lo), iso(T0 + hi)
            want = sorted(cid for cid, c in current.items()
                          if all(iso(T0 + lo) <= c[f] <= iso(T0 + hi) for f, (lo, hi) in ranges.items()))
            at = rnd.randrange(0, 302)
            if rnd.random() < 0.5:
                params["after"] = cursor(at)
                page = [i for i in want if i > at][:params["limit"]]
                prev, nxt = any(i <= at for i in want), len([i for i in want if i > at]) > params["limit"]
            else:
                params["before"] = cursor(at)
                page = [i for i in want if i < at][-params["limit"]:]
                prev, nxt = len([i for i in want if i < at]) > params["limit"], any(i >= at for i in want)
            resp = s.get(bc_url(bc_sandbox, "/v3/customers"), params=params)
            assert ids(resp) == page, params
            links = resp.json()["meta"]["cursor_pagination"]["links"]
            assert ("previous" in links, "next" in links) == (prev and bool(page), nxt and bool(page)), params
