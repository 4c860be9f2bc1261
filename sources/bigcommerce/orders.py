"""Orders (V2) of one store: keyset pages over a ``date_modified`` window, and their products.

Paging. ``GET /v2/orders`` is asked with ``sort=id:asc``, ``page=1``, ``limit=250`` and
``min_id=<last id seen + 1>`` (keyset paging): an order modified while a run pages does not
shift the ones not yet read, as it would with page numbers. A page shorter than the limit,
or a ``204``, ends a slice. The window (or a slice of it) goes out as
``min_date_modified``/``max_date_modified`` in ISO 8601 UTC, each widened by
`ORDER_BOUND_OVERLAP_SECONDS`: the filters' inclusiveness is undocumented, so neighbouring
slices and runs overlap and the merge on ``id`` (plus the run's own de-duplication) removes
the rows read twice.

Archived orders. The list leaves archived orders out unless ``is_deleted=true`` asks for them
(and then lists only them), so each window is read twice: active orders, then archived ones
(usually one request answered ``204``). Archiving an order changes it, so it moves into the
next window either way.

Slicing. A window whose first page is full is counted once (``GET /v2/orders/count`` with
the same filters); when it holds more than a few pages, one more request (``sort=id:desc``,
``limit=1``) finds its last id and `reader.WindowReader` cuts the ids after the first page
into one ``min_id``/``max_id`` range per worker, the last one open (no ``max_id``: it reads
on to a short page, so a last id answered too low costs no order). Neighbouring ranges
share their boundary id (whether ``max_id`` is inclusive is not documented). A worker left
without a range takes the upper half of the range with the most orders left, so the window
ends with every worker busy, however unevenly its orders spread over time or ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from .arrow_pages import TableBatch, quiet_declared_hints, with_dlt_columns
from .client import BigCommerceClient
from .helpers import BigCommerceAuthError, BigCommerceError, MalformedResponse
from .order_rows import OrderStats, prepare_order
from .order_tables import OrderTables
from .reader import Page, WindowReader, check_keyset
from .settings import (
    ORDER_BOUND_OVERLAP_SECONDS,
    ORDER_COLUMNS,
    ORDER_LAST_SORT,
    ORDER_PRODUCTS_PATH,
    ORDER_SORT,
    ORDERS_COUNT_PATH,
    ORDERS_PATH,
    PAGE_LIMIT,
)
from .store_clock import store_time
from .windows import Slice, commit_window, open_window

ORDER_COLUMN_HINTS: dict[str, Any] = {
    name: {"data_type": dtype, "nullable": name != "id"} for name, dtype in ORDER_COLUMNS.items()
}
ORDER_PRODUCT_MONEY = (
    "base_price", "price_ex_tax", "price_inc_tax", "price_tax", "base_total", "total_ex_tax", "total_inc_tax",
    "total_tax", "base_cost_price", "cost_price_inc_tax", "cost_price_ex_tax", "cost_price_tax",
    "base_wrapping_cost", "wrapping_cost_ex_tax", "wrapping_cost_inc_tax", "wrapping_cost_tax",
)
ORDER_PRODUCT_COLUMN_HINTS: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "order_id": {"data_type": "bigint", "nullable": True},
    "product_id": {"data_type": "bigint", "nullable": True},
    **{name: {"data_type": "text", "nullable": True} for name in ORDER_PRODUCT_MONEY},
}


def iso_utc(epoch: int) -> str:
    """Unix seconds -> ISO 8601 UTC as the V2 filters accept it: ``2026-01-01T00:00:00+00:00``."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def window_params(piece: Slice, overlap: int = ORDER_BOUND_OVERLAP_SECONDS) -> dict[str, str]:
    """The slice as V2 ``date_modified`` filters, widened by ``overlap`` seconds on each side."""
    out = {"max_date_modified": iso_utc(piece.end + overlap)}
    if piece.start is not None:
        out = {"min_date_modified": iso_utc(piece.start - overlap), **out}
    return out


def validate_rows(body: Any) -> None:
    """Raise `MalformedResponse` unless ``body`` is a V2 list: an array of objects with integer ids."""
    if not isinstance(body, list):
        raise MalformedResponse(f"expected a JSON array, got {type(body).__name__}")
    for i, row in enumerate(body):
        if not isinstance(row, dict):
            raise MalformedResponse(f"[{i}] is {type(row).__name__}, not an object")
        rid = row.get("id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise MalformedResponse(f"[{i}].id is {rid!r}, not an integer")


def validate_count(body: Any) -> None:
    """Raise `MalformedResponse` unless ``body`` is ``{"count": <int>, ...}``."""
    count = body.get("count") if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise MalformedResponse("expected {\"count\": <orders>, \"statuses\": [...]}")


class OrderPages:
    """Keyset pages of one store's orders for a slice of ``date_modified`` (a `reader.PageSource`)."""

    def __init__(
        self, client: BigCommerceClient, *, archived: bool = False, limit: int = PAGE_LIMIT,
        stats: OrderStats | None = None,
    ):
        self.client = client
        self.archived = archived
        self.limit = limit
        self.overlap = ORDER_BOUND_OVERLAP_SECONDS
        self.stats = stats
        self.counted = False
        self.path = client.store_path(ORDERS_PATH)
        self.count_path = client.store_path(ORDERS_COUNT_PATH)

    def _filters(self, piece: Slice | None) -> dict[str, Any]:
        params = window_params(piece, self.overlap) if piece is not None else {}
        if self.archived:
            params["is_deleted"] = "true"
        return params

    def fetch(
        self, piece: Slice | None, *, sort: bool = False, min_id: int | None = None, max_id: int | None = None
    ) -> Page:
        """The page of ids from ``min_id`` on (the first page without it), up to ``max_id``;
        ``sort`` is always by id."""
        params: dict[str, Any] = {"sort": ORDER_SORT, "page": 1, "limit": self.limit}
        if min_id is not None:
            params["min_id"] = min_id
        if max_id is not None:
            params["max_id"] = max_id
        params.update(self._filters(piece))
        body = self.client.get_json(self.path, params, validate=validate_rows, empty_ok=True)
        return Page(rows=body or [])

    def fetch_ids(self, piece: Slice, low: int, high: int | None) -> Page:
        """The first page of the slice's orders with ids ``low..high`` (``high`` None: no end)."""
        return self.fetch(piece, min_id=low, max_id=high)

    def last_id(self, piece: Slice) -> int | None:
        """The slice's highest order id (one request, ``sort=id:desc``), None when it is empty."""
        params: dict[str, Any] = {"sort": ORDER_LAST_SORT, "page": 1, "limit": 1, **self._filters(piece)}
        body = self.client.get_json(self.path, params, validate=validate_rows, empty_ok=True)
        if self.stats is not None:
            self.stats.count_requests += 1
        return max((row["id"] for row in body), default=None) if body else None

    def walk(self, piece: Slice | None, first: Page, *, sorted_first: bool = False) -> Iterator[list[dict[str, Any]]]:
        """All rows of a slice whose first page is ``first``, one list per page."""
        rows = first.rows
        if rows:
            yield rows
        while len(rows) >= self.limit:
            last = max(r["id"] for r in rows)
            rows = self.fetch(piece, min_id=last + 1).rows
            check_keyset(rows, last + 1, piece)
            if rows:
                yield rows

    def page_count(self, piece: Slice, first: Page) -> int | None:
        """1 when the first page is short; otherwise one ``/orders/count`` call for the window
        (the first slice asked), None (walk it) for later slices."""
        if len(first.rows) < self.limit:
            first.total = len(first.rows)
            return 1
        if self.counted:
            return None
        self.counted = True
        body = self.client.get_json(self.count_path, self._filters(piece), validate=validate_count)
        if self.stats is not None:
            self.stats.count_requests += 1
        first.total = int(body["count"])
        return math.ceil(first.total / self.limit)

    def seen_seconds(self, rows: list[dict[str, Any]]) -> list[int]:
        """The parseable ``date_modified`` of a page's rows (places slice cuts)."""
        seen = []
        for row in rows:
            try:
                seen.append(int(parsedate_to_datetime(row["date_modified"]).timestamp()))
            except (KeyError, TypeError, ValueError, IndexError):
                continue
        return seen


def orders_resource(
    client: BigCommerceClient,
    *,
    lookback_seconds: int,
    lag_seconds: int,
    full_refresh: bool,
    max_workers: int,
    split_pages: int,
    stats: OrderStats,
    arrow_pages: bool = True,
) -> DltResource:
    """The ``orders`` resource over ``client`` (a scoped client: its counters are the orders' share).
    Pages go to dlt as Arrow tables typed as dlt's object path would type them (see
    `order_tables`; a page that cannot be goes as dicts), or all as dicts with ``arrow_pages``
    false."""

    @dlt.resource(  # type: ignore[call-overload]
        name="orders", primary_key="id", write_disposition="merge", columns=ORDER_COLUMN_HINTS
    )
    def orders() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        now = store_time(client)
        window = open_window(state, now, lookback_seconds=lookback_seconds, lag_seconds=lag_seconds,
                             full_refresh=full_refresh, stats=stats)
        readers = [
            WindowReader(OrderPages(client, archived=archived, stats=stats), window, workers=max_workers,
                         split_pages=split_pages)
            for archived in (False, True)
        ]
        seen: set[int] = set()
        tables = OrderTables(dlt.current.source_schema()) if arrow_pages else None
        load_id = dlt.current.load_package_state()["load_id"] if arrow_pages else ""
        if arrow_pages:
            quiet_declared_hints()
        batch = TableBatch()
        try:
            for rows in _skip_without_scope(_chain(readers, stats), stats):
                fresh = []
                for row in rows:
                    if row["id"] in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(row["id"])
                    fresh.append(prepare_order(row, now, stats))
                stats.page_read(len(fresh))
                table = tables.table(fresh) if tables is not None and fresh else None
                if table is not None:
                    for ready in batch.add(table):
                        yield with_dlt_columns(ready, load_id)
                elif fresh:
                    stats.object_pages += 1
                    yield fresh
            for ready in batch.flush():
                yield with_dlt_columns(ready, load_id)
        finally:
            stats.took_requests(client)
            stats.splits = sum(r.splits for r in readers)
            stats.steals = sum(r.steals for r in readers)
        if stats.skipped:
            return  # no cursor: once the scope is granted, the next run reads every order
        commit_window(state, window, stats)  # reached only when every page was read

    return orders


def _skip_without_scope(pages: Iterator[list[dict[str, Any]]], stats: OrderStats) -> Iterator[list[dict[str, Any]]]:
    """The pages; a 403 (the token lacks the Orders scope) ends them with ``stats.skipped`` set,
    so a token made for release 0.1 (Customers only) keeps the customers sync running."""
    try:
        yield from pages
    except BigCommerceAuthError as exc:
        if exc.status != 403:
            raise
        stats.skipped = str(exc)


def _chain(readers: list[WindowReader], stats: OrderStats) -> Iterator[list[dict[str, Any]]]:
    """The pages of each reader in turn; ``stats.total`` adds up their first-page totals."""
    known = 0
    for reader in readers:
        for rows in reader:
            if reader.total is not None:
                stats.total = known + reader.total
            yield rows
        known += reader.total or 0


def order_products_resource(client: BigCommerceClient, *, max_workers: int, stats: OrderStats) -> Any:
    """The ``order_products`` transformer: for each page of staged orders, their products
    (``GET /v2/orders/{id}/products``, paged, ``204`` = none), each row with ``order_id``."""

    def products_of(order_id: int) -> list[dict[str, Any]]:
        path = ORDER_PRODUCTS_PATH.format(store_hash=client.store_hash, order_id=order_id)
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "limit": PAGE_LIMIT}
            try:
                body = client.get_json(path, params, validate=validate_rows, empty_ok=True)
            except BigCommerceError as exc:
                if exc.status == 404:  # the order is gone: it has no products to stage
                    return out
                raise
            rows = body or []
            for row in rows:
                row.setdefault("order_id", order_id)
            out.extend(rows)
            if len(rows) < PAGE_LIMIT:
                return out
            page += 1

    @dlt.transformer(  # type: ignore[call-overload]
        name="order_products", primary_key="id", write_disposition="merge", columns=ORDER_PRODUCT_COLUMN_HINTS
    )
    def order_products(orders_page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        if isinstance(orders_page, pa.Table):
            ids = orders_page.column("id").to_pylist()
        else:
            ids = [o["id"] for o in (orders_page if isinstance(orders_page, list) else [orders_page])]
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(ids)))) as pool:
                for rows in pool.map(products_of, ids):
                    stats.products += len(rows)
                    if rows:
                        yield rows
        finally:
            stats.product_requests = client.requests

    return order_products
