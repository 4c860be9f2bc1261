"""Issue 14 item 3: whether ``date_modified:min``/``:max`` are inclusive is undocumented, so
windows and slices are sent widened and overlap; nothing on an edge second is lost under
either behaviour (the sandbox's ``strict_date_bounds`` mode makes both bounds exclusive)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sources.bigcommerce.client import BigCommerceClient
from bc2people.sources.bigcommerce.helpers import format_ts
from bc2people.sources.bigcommerce.reader import CustomerPages, WindowReader
from bc2people.sources.bigcommerce.windows import Slice, split_slice
from tests.fixtures_bigcommerce import BC_STORE_HASH, BC_TOKEN

T0 = 1_780_000_000
SECONDS = 40
PER_SECOND = 3


@pytest.fixture(params=["inclusive", "strict"])
def store(request: pytest.FixtureRequest) -> Iterator[BigCommerceSandbox]:
    """``PER_SECOND`` customers modified in each of ``SECONDS`` seconds from T0."""
    sb = BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN)
    sb.strict_date_bounds = request.param == "strict"
    rows: list[dict[str, Any]] = []
    for i in range(SECONDS * PER_SECOND):
        ts = format_ts(T0 + i // PER_SECOND)
        rows.append({"id": i + 1, "email": f"e{i}@example.com", "first_name": "E", "last_name": str(i),
                     "date_created": ts, "date_modified": ts})
    sb.add_customers(rows)
    sb.clock.freeze(T0 + 3600)
    with sb:
        yield sb


def _ids(pages: Iterator[list[dict[str, Any]]]) -> list[int]:
    return [r["id"] for rows in pages for r in rows]


def test_sandbox_strict_mode_excludes_both_bounds(store: BigCommerceSandbox) -> None:
    client = BigCommerceClient(store.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)
    pages = CustomerPages(client, include=None)
    edges = pages.fetch(Slice(T0 + 5, T0 + 6), page=None)
    # Widened by one second each side: strict gives exactly 5..6, inclusive 4..7.
    got = {(r["id"] - 1) // PER_SECOND for r in edges.rows}
    assert got == ({5, 6} if store.strict_date_bounds else {4, 5, 6, 7})


def test_every_second_of_a_sliced_window_is_read_whatever_the_bounds(store: BigCommerceSandbox) -> None:
    client = BigCommerceClient(store.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)
    window = Slice(T0, T0 + SECONDS - 1)
    reader = WindowReader(CustomerPages(client, include=None, limit=5), window, workers=4, split_pages=1)
    ids = _ids(iter(reader))
    assert reader.splits >= 1  # the window was cut: slices meet on cut seconds
    assert set(ids) == set(range(1, SECONDS * PER_SECOND + 1))  # nothing lost on an edge second


def test_neighbouring_slices_overlap_on_the_wire() -> None:
    parts = split_slice(Slice(T0, T0 + 99), 4)
    sent = [p.params(1) for p in parts]
    for left, right in zip(sent, sent[1:], strict=False):
        # strict bounds: the left slice reaches its max - 1, the right one starts at its min + 1;
        # those overlap, so no second is only on an edge
        assert right["date_modified:min"] < left["date_modified:max"]


@pytest.mark.parametrize("strict", [False, True], ids=["inclusive", "strict"])
@pytest.mark.parametrize("bulk", [
    {0: 1000},                      # one second
    {0: 400, 1: 350, 2: 250},       # a bulk update running over three seconds
    {0: 500, 1800: 500},            # two bulk jobs half an hour apart
], ids=["one-second", "three-seconds", "two-jobs"])
def test_a_bulk_update_costs_its_pages_not_a_cascade_of_slices(strict: bool, bulk: dict[int, int]) -> None:
    """A bulk update puts 1,000 customers (40 pages of 25) in a few seconds of an hour-long
    window, a few more spread over it. Each crowded second gets a slice of its own at once: the
    read costs its pages plus a handful, not a level of empty slices per split until a slice is
    that second, and no slice beside a crowd reads it again."""
    sb = BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN)
    sb.strict_date_bounds = strict
    rows: list[dict[str, Any]] = []
    for offset, n in bulk.items():
        rows += [{"email": f"b{offset}-{i}@example.com", "first_name": "B", "last_name": str(i),
                  "date_created": format_ts(T0 - 86_400), "date_modified": format_ts(T0 + offset)} for i in range(n)]
    rows += [{"email": f"s{k}@example.com", "first_name": "S", "last_name": str(k),
              "date_created": format_ts(T0 - 86_400), "date_modified": format_ts(T0 + 60 * k + 7)} for k in range(1, 30)]
    random.Random(5).shuffle(rows)  # ids unrelated to date_modified, as after updates
    for i, r in enumerate(rows):
        r["id"] = i + 1
    sb.add_customers(rows)
    sb.clock.freeze(T0 + 3600)
    with sb:
        client = BigCommerceClient(sb.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)
        reader = WindowReader(CustomerPages(client, include=None, limit=25), Slice(T0 - 300, T0 + 3540), workers=8)
        ids = _ids(iter(reader))
        served = sum(sb.requests_served.values())
    assert sorted(ids) == list(range(1, len(rows) + 1))  # every row once
    minimum = -(-len(rows) // 25)  # 42 pages
    # over the minimum: the sorted first page, one page in id order sampling the crowds, and at
    # most one more for a slice between or after them (each crowd's slice is walked, never cut)
    assert served <= minimum + 3, (served, minimum)
