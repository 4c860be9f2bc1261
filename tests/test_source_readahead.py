"""The next segment's window read ahead (`sources.bigcommerce.readahead`), against the BigCommerce
sandbox over real HTTP: it yields exactly the pages a reader of that window would, is handed
only to the resource whose window it read, stops when told, and its failure reaches the taker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sources.bigcommerce.arrow_pages import PagePreparer, PreparedPage, with_dlt_columns
from bc2people.sources.bigcommerce.client import BigCommerceClient
from bc2people.sources.bigcommerce.helpers import format_ts
from bc2people.sources.bigcommerce.readahead import Readahead
from bc2people.sources.bigcommerce.reader import CustomerPages, WindowReader
from bc2people.sources.bigcommerce.windows import Slice
from tests.fixtures_bigcommerce import BC_STORE_HASH, BC_TOKEN

T0 = 1_780_000_000
N = 600  # one customer every 10 s from T0


@pytest.fixture
def store() -> Iterator[BigCommerceSandbox]:
    sb = BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN)
    sb.add_customers([{"id": i + 1, "email": f"r{i}@example.com", "first_name": "R", "last_name": str(i),
                       "date_created": format_ts(T0 + 10 * i), "date_modified": format_ts(T0 + 10 * i)}
                      for i in range(N)])
    sb.clock.freeze(T0 + 10 * N + 3600)
    with sb:
        yield sb


def _client(sb: BigCommerceSandbox) -> BigCommerceClient:
    return BigCommerceClient(sb.base_url, BC_STORE_HASH, BC_TOKEN, max_attempts=1)


def _customer_requests(sb: BigCommerceSandbox) -> int:
    return sum(n for k, n in sb.requests_served.items() if k.endswith("/v3/customers"))


def _ids(pages: Any) -> list[int]:
    return sorted(r["id"] for rows in pages for r in rows)


def _rows(pages: Any) -> list[dict[str, Any]]:
    return sorted((r for rows in pages for r in rows), key=lambda r: r["id"])


def test_the_next_window_is_read_ahead_and_handed_to_its_reader_only(store: BigCommerceSandbox) -> None:
    ends = [T0 + 1000, T0 + 3000, T0 + 10 * N]
    ahead = Readahead(ends)
    first = Slice(None, ends[0])
    assert ahead.next_window(first) == Slice(ends[0], ends[1])
    assert ahead.next_window(Slice(ends[1], ends[2])) is None  # nothing after the last segment

    client = _client(store)
    ahead.start_next(client, first, workers=4, split_pages=1, prepare=lambda _window: list)  # pages as read
    deadline = time.monotonic() + 10
    while not _customer_requests(store) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _customer_requests(store) > 0  # the read runs before anything takes it
    got = ahead.take(Slice(ends[0], ends[1]))
    assert got is not None and ahead.used == 1
    pages_ahead = _rows(got.pages())
    got.close()
    direct = _rows(WindowReader(CustomerPages(_client(store)), Slice(ends[0], ends[1]), workers=1))
    assert pages_ahead == direct and len(direct) >= 200  # the same rows a reader of the window gets
    assert got.client.requests >= 1  # the read's requests are counted on its own scoped client
    assert ahead.take(Slice(ends[0], ends[1])) is None  # handed over once

    # a read ahead of another window is stopped, not handed over
    ahead.start_next(_client(store), Slice(ends[0], ends[1]), workers=2, split_pages=1, prepare=lambda _window: list)
    assert ahead.take(Slice(ends[1] - 5, ends[2])) is None and ahead.missed == 1
    ahead.close()


def test_a_prepared_read_ahead_hands_over_each_customer_once_as_the_table_dlt_gets(store: BigCommerceSandbox) -> None:
    """The customers resource has its read ahead prepare each page on the read's thread: the taker
    gets tables of the declared columns, each customer of the window once (its slices overlap on
    their edge seconds), equal to preparing a reader's pages itself; an odd page stays rows."""
    store.add_customers([{"id": N + 1, "email": "odd@example.com", "first_name": "O", "last_name": "dd",
                          "date_created": format_ts(T0 + 5), "date_modified": format_ts(T0 + 5), "customer_group_id": "7"}])
    window = Slice(T0, T0 + 10 * N)

    def read_ahead(workers: int) -> list[PreparedPage]:
        ahead = Readahead([T0, T0 + 10 * N])
        ahead.start_next(_client(store), Slice(None, T0), workers=workers, split_pages=1, prepare=lambda _window: PagePreparer(True))
        got = ahead.take(window)
        assert got is not None
        pages = list(got.pages())
        got.close()
        assert all(isinstance(p, PreparedPage) for p in pages)
        return pages

    def ids(pages: list[PreparedPage]) -> list[int]:
        return [i for p in pages for i in (p.table.column("id").to_pylist() if p.table is not None
                                           else [r["id"] for r in p.rows or []])]

    split = read_ahead(4)  # slices read in parallel, overlapping on their edge seconds
    assert len(ids(split)) == len(set(ids(split))) == sum(p.count for p in split) == len(_ids([api_rows(store, window)]))
    assert [r["id"] for p in split if p.rows for r in p.rows]  # the odd customer's page stays rows

    pages = read_ahead(1)
    inline = PagePreparer(True)
    direct = [inline(rows) for rows in WindowReader(CustomerPages(_client(store)), window, workers=1)]
    assert [p.count for p in pages] == [p.count for p in direct]
    assert [p.rows for p in pages] == [p.rows for p in direct]
    assert all((a.table is None and b.table is None) or (a.table is not None and b.table is not None and a.table.equals(b.table))
               for a, b in zip(pages, direct, strict=True))
    table = next(p.table for p in pages if p.table is not None)
    assert "_dlt_load_id" not in table.column_names  # dlt's columns are the taker's
    assert with_dlt_columns(table, "L1").column("_dlt_load_id").to_pylist() == ["L1"] * table.num_rows


def api_rows(sb: BigCommerceSandbox, window: Slice) -> list[dict[str, Any]]:
    """Every customer of ``window``, read one page after another."""
    return [r for rows in WindowReader(CustomerPages(_client(sb)), window, workers=1) for r in rows]


def test_a_read_ahead_stops_when_closed_while_its_pages_wait(store: BigCommerceSandbox) -> None:
    more = 5000  # 20 pages after the first 600
    store.add_customers([{"id": N + i + 1, "email": f"m{i}@example.com", "first_name": "M", "last_name": str(i),
                          "date_created": format_ts(T0 + 10 * N + i), "date_modified": format_ts(T0 + 10 * N + i)}
                         for i in range(more)])
    ahead = Readahead([T0, T0 + 10 * N + more], max_pages=1)
    client = _client(store)
    ahead.start_next(client, Slice(None, T0), workers=2, split_pages=1, prepare=lambda _window: list)
    time.sleep(0.5)  # the bounded queue fills: the reader waits for a taker
    served = _customer_requests(store)
    t = time.monotonic()
    ahead.close()
    assert time.monotonic() - t < 5
    time.sleep(0.3)
    assert served < 12  # it waited: 22 pages were there to read
    assert _customer_requests(store) <= served + 4  # stopped: no further reading


def test_a_failed_read_ahead_raises_in_the_taker(store: BigCommerceSandbox) -> None:
    ahead = Readahead([T0, T0 + 10 * N])
    bad = BigCommerceClient(store.base_url, BC_STORE_HASH, "wrong-token", max_attempts=1)
    ahead.start_next(bad, Slice(None, T0), workers=1, split_pages=1, prepare=lambda _window: list)
    got = ahead.take(Slice(T0, T0 + 10 * N))
    assert got is not None
    with pytest.raises(Exception, match="(?i)token|401|auth"):
        list(got.pages())
    got.close()
