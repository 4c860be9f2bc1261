"""Issue 14 item 2: date filters go out with ``:`` unencoded (a docs issue reports that
``/v3/customers`` does not accept ``%3A`` in date values); the sandbox can refuse them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sources.bigcommerce.client import BigCommerceClient, encode_query
from bc2people.sources.bigcommerce.orders import OrderPages
from bc2people.sources.bigcommerce.reader import CustomerPages
from bc2people.sources.bigcommerce.windows import Slice
from tests.fixtures_bigcommerce import BC_STORE_HASH, BC_TOKEN, bc_url

T0 = 1_780_000_000


def test_encode_query_keeps_colons_and_encodes_the_rest() -> None:
    query = encode_query({
        "date_modified:min": "2026-05-28T20:26:40Z",
        "min_date_modified": "2026-05-28T20:26:40+00:00",
        "include": "addresses,storecredit",
        "name:like": "a b&c=d/é",
        "limit": 250,
    })
    assert query == (
        "date_modified:min=2026-05-28T20:26:40Z"
        "&min_date_modified=2026-05-28T20:26:40%2B00:00"
        "&include=addresses%2Cstorecredit"
        "&name:like=a%20b%26c%3Dd%2F%C3%A9"
        "&limit=250"
    )


@pytest.fixture
def store() -> Any:
    sb = BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN)
    for i in range(6):
        sb.clock.freeze(T0 + i)
        sb.create_customer(email=f"q{i}@example.com", first_name="Q", last_name=str(i))
    sb.clock.freeze(T0 + 100)
    with sb:
        yield sb


def _get(sb: BigCommerceSandbox, raw_query: str) -> requests.Response:
    return requests.get(bc_url(sb, "/v3/customers") + "?" + raw_query,
                        headers={"X-Auth-Token": BC_TOKEN, "Accept": "application/json"}, timeout=10)


@pytest.mark.parametrize("refuse", [False, True])
def test_sandbox_mode_refuses_percent_encoded_dates_only_when_set(store: BigCommerceSandbox, refuse: bool) -> None:
    store.refuse_encoded_dates = refuse
    plain = _get(store, "date_modified:min=2026-05-28T20:26:42Z")
    encoded_value = _get(store, "date_modified:min=2026-05-28T20%3A26%3A42Z")
    encoded_name = _get(store, "date_modified%3Amin=2026-05-28T20:26:42Z")
    other = _get(store, "sort=date_modified%3Aasc")  # only date filters are affected
    assert plain.status_code == 200 and len(plain.json()["data"]) == 4
    assert other.status_code == 200
    for r in (encoded_value, encoded_name):
        if refuse:
            assert r.status_code == 422 and "date_modified:min" in r.json()["errors"], r.text
        else:
            assert r.status_code == 200 and len(r.json()["data"]) == 4


def test_client_reads_a_window_from_a_store_that_refuses_encoded_dates(store: BigCommerceSandbox) -> None:
    store.refuse_encoded_dates = True
    seen: list[str] = []
    store.on_request = lambda req: seen.append(req.raw_query)
    client = BigCommerceClient(store.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)
    page = CustomerPages(client).fetch(Slice(T0 + 2, T0 + 3), sort=True)
    assert {r["id"] for r in page.rows} >= {3, 4}
    assert "date_modified:min=" in seen[-1] and "%3A" not in seen[-1]
    assert "sort=date_modified:asc" in seen[-1]


def test_order_filters_keep_colons_and_encode_the_offset_plus(store: BigCommerceSandbox) -> None:
    seen: list[str] = []
    store.on_request = lambda req: seen.append(req.raw_query)
    client = BigCommerceClient(store.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)
    OrderPages(client).fetch(Slice(T0, T0 + 10))
    assert "min_date_modified=2026-05-28T20:26:39%2B00:00" in seen[-1], seen
    assert "max_date_modified=2026-05-28T20:26:51%2B00:00" in seen[-1], seen
