"""BigCommerce customers and orders as a dlt source, read incrementally, loss-free and within the quota.

Configuration (dlt): ``SOURCES__BIGCOMMERCE__STORE_HASH``, ``SOURCES__BIGCOMMERCE__ACCESS_TOKEN``
(secret), ``SOURCES__BIGCOMMERCE__API_BASE_URL`` (default https://api.bigcommerce.com), or
the same keys under ``[sources.bigcommerce]`` in ``.dlt/config.toml`` / ``.dlt/secrets.toml``.

Each resource reads the fixed window ``[last window end - lookback, store clock - lag]`` of
``date_modified`` (see `windows`) and commits the window end as the next cursor in its own
resource state, which dlt persists only when the extraction succeeded and loads together
with the data. All resources of a run share one client and one quota budget.

Resources: ``customers`` (V3, every sub-resource included), ``orders`` (V2, keyset pages,
see `orders`; ``orders=False`` or ``SOURCES__BIGCOMMERCE__ORDERS=false`` leaves them out) and
``order_products`` (the products of the orders read in the run; off unless
``order_products=True`` / ``SOURCES__BIGCOMMERCE__ORDER_PRODUCTS=true``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.extract.resource import DltResource

from .arrow_pages import PagePreparer, TableBatch, quiet_declared_hints, with_dlt_columns
from .client import BigCommerceClient, QuotaBudget
from .helpers import (
    BigCommerceConfigError,
    BigCommerceError,
    ExtractStats,
    default_naming,
    missing_setting_message,
)
from .order_rows import OrderStats
from .orders import order_products_resource, orders_resource
from .readahead import Readahead
from .reader import CustomerPages, WindowReader
from .settings import (
    CUSTOMER_BOUND_OVERLAP_SECONDS,
    CUSTOMER_COLUMNS,
    DEFAULT_API_BASE_URL,
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LAG_SECONDS,
    DEFAULT_LOOKBACK_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RATE_LIMIT_WAITS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_SPLIT_PAGES,
    DELETED_AT_COLUMN,
)
from .store_clock import store_time
from .windows import Slice, commit_window, open_window

__all__ = [
    "BigCommerceClient",
    "BigCommerceConfigError",
    "BigCommerceError",
    "ExtractStats",
    "OrderStats",
    "QuotaBudget",
    "bigcommerce",
    "bigcommerce_source",
    "check_settings",
    "make_client",
    "store_time",
]

COLUMN_HINTS: dict[str, Any] = {
    name: {"data_type": dtype, "nullable": name != "id"} for name, dtype in CUSTOMER_COLUMNS.items()
}
COLUMN_HINTS[DELETED_AT_COLUMN] = {"data_type": "timestamp", "nullable": True}


@dlt.source(name="bigcommerce", max_table_nesting=0)
def bigcommerce(
    store_hash: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    api_base_url: str = DEFAULT_API_BASE_URL,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    lag_seconds: int = DEFAULT_LAG_SECONDS,
    full_refresh: bool = False,
    max_workers: int = DEFAULT_MAX_WORKERS,
    split_pages: int = DEFAULT_SPLIT_PAGES,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    backoff_max: float = DEFAULT_BACKOFF_MAX,
    max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    stats: ExtractStats | None = None,
    orders: bool = True,
    order_products: bool = False,
    order_stats: OrderStats | None = None,
    recheck_addresses: bool = False,
    end_at: int | None = None,
    arrow_pages: bool = True,
    readahead: Readahead | None = None,
    append: bool = False,
) -> list[DltResource]:
    """The BigCommerce source: ``customers``, ``orders`` and ``order_products``, each merged on ``id``.

    ``full_refresh`` re-reads every customer and order ignoring the cursors (rows are still
    merged); ``stats`` / ``order_stats`` (optional) are filled with pages, records, each
    resource's share of the requests, the window read and (orders) the oddities seen.
    ``order_products`` needs ``orders``. ``recheck_addresses`` re-reads every customer (the
    orders stay incremental): whether an address edit bumps the customer's ``date_modified``
    is undocumented, so only a full read is sure to see it (the merge and the People diff
    keep the cost to the real changes). ``end_at`` (Unix seconds) ends the customers window
    there instead of at the store clock minus the lag: one segment of a first sync read in
    parts (see `segments`); the cursor then advances to ``end_at``. ``arrow_pages`` (default
    true) hands customer and order pages to dlt as Arrow tables, which dlt writes to parquet
    without its row-by-row normalizing (see `arrow_pages`, `order_tables`); false keeps dlt's
    object path. ``readahead``
    (a first sync in segments) takes the customers read ahead for this segment's window and
    reads the next segment's window once this one is read (see `readahead`). ``append`` (a
    first sync's segments into an empty table) appends the customers instead of merging them:
    no merge SQL per segment. With ``readahead``, each segment drops the customers the one
    before it staged from its edge seconds (`arrow_pages.PagePreparer`), so none is staged
    twice; a copy a kill leaves twice is the caller's to remove.
    """
    client = make_client(
        store_hash,
        access_token,
        api_base_url,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        max_rate_limit_waits=max_rate_limit_waits,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        pool_size=max(1, max_workers),
    )
    window: dict[str, Any] = {"lookback_seconds": lookback_seconds, "lag_seconds": lag_seconds, "full_refresh": full_refresh}
    resources = [
        customers_resource(
            client.scoped(),
            **{**window, "full_refresh": full_refresh or recheck_addresses},
            max_workers=max_workers,
            split_pages=split_pages,
            stats=stats if stats is not None else ExtractStats(),
            end_at=end_at,
            arrow_pages=arrow_pages,
            readahead=readahead,
            append=append,
        )
    ]
    if orders:
        ostats = order_stats if order_stats is not None else OrderStats()
        orders_res = orders_resource(
            client.scoped(), **window, max_workers=max_workers, split_pages=split_pages, stats=ostats,
            arrow_pages=arrow_pages,
        )
        resources.append(orders_res)
        if order_products:
            products = order_products_resource(client.scoped(), max_workers=max_workers, stats=ostats)
            resources.append(orders_res | products)
    return resources


def customers_resource(
    client: BigCommerceClient,
    *,
    lookback_seconds: int,
    lag_seconds: int,
    full_refresh: bool,
    max_workers: int,
    split_pages: int,
    stats: ExtractStats,
    end_at: int | None = None,
    arrow_pages: bool = True,
    readahead: Readahead | None = None,
    append: bool = False,
) -> DltResource:
    """The ``customers`` resource over ``client`` (an item per `TableBatch` of pages); ``end_at`` ends its
    window there (Unix seconds) instead of at the store clock minus the lag. Pages go to dlt
    as Arrow tables (see `arrow_pages`), or as lists of dicts with ``arrow_pages`` false or
    when a page holds a value its declared column cannot. ``append``: rows appended, not merged."""

    @dlt.resource(  # type: ignore[call-overload]
        name="customers", primary_key="id", write_disposition="append" if append else "merge", columns=COLUMN_HINTS
    )
    def customers() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        now, lag = (store_time(client), lag_seconds) if end_at is None else (end_at, 0)
        window = open_window(state, now, lookback_seconds=lookback_seconds, lag_seconds=lag,
                             full_refresh=full_refresh, stats=stats)
        ahead = readahead.take(window) if readahead is not None else None
        reader = ahead.reader if ahead is not None else WindowReader(
            CustomerPages(client), window, workers=max_workers, split_pages=split_pages)
        load_id = dlt.current.load_package_state()["load_id"] if arrow_pages else ""
        if arrow_pages:
            quiet_declared_hints()
        # a read ahead prepared its pages on its own thread; in segments, each drops what the one
        # before it staged (see `PagePreparer`)
        prepare = _preparer(arrow_pages, readahead, window)
        batch = TableBatch()  # pages go to dlt a few thousand customers at a time
        try:
            for page in (ahead.pages() if ahead is not None else map(prepare, reader)):
                if stats.total is None:
                    stats.total = reader.total
                stats.page_read(page.count)
                if page.table is not None:
                    for table in batch.add(page.table):
                        yield with_dlt_columns(table, load_id)
                elif page.rows:
                    stats.object_pages += 1
                    yield page.rows
            for table in batch.flush():
                yield with_dlt_columns(table, load_id)
        finally:
            if ahead is not None:
                ahead.close()
            stats.took_requests(ahead.client if ahead is not None else client)
            stats.splits = reader.splits
        commit_window(state, window, stats)  # reached only when every page was read
        if readahead is not None:  # this resource sends nothing more: its client reads the next window
            done = ahead.prepare if ahead is not None else prepare
            readahead.staged_edge = done.edge if isinstance(done, PagePreparer) else {}
            readahead.start_next(ahead.client if ahead is not None else client, window, workers=max_workers,
                                 split_pages=split_pages,
                                 prepare=lambda next_window: _preparer(arrow_pages, readahead, next_window))

    return customers


def _preparer(arrow_pages: bool, readahead: Readahead | None, window: Slice) -> PagePreparer:
    """The pages' preparer for ``window``: in a first sync in segments (``readahead``), it drops
    the customers the previous segment staged from its edge seconds, and notes its own edge
    (what the next segment's widened requests read again: from its end minus the overlap)."""
    if readahead is None:
        return PagePreparer(arrow_pages)
    return PagePreparer(arrow_pages, staged_before=readahead.staged_edge,
                        edge_from=window.end - CUSTOMER_BOUND_OVERLAP_SECONDS)


def make_client(
    store_hash: str,
    access_token: str,
    api_base_url: str = DEFAULT_API_BASE_URL,
    **options: Any,
) -> BigCommerceClient:
    """A client for one store; invalid settings raise `BigCommerceConfigError` (exit code 2)."""
    check_settings(store_hash, access_token, api_base_url)
    return BigCommerceClient(api_base_url, store_hash.strip(), access_token.strip(), **options)


def check_settings(store_hash: Any, access_token: Any, api_base_url: Any = DEFAULT_API_BASE_URL) -> None:
    """Check the source's settings however they were resolved: the one place they are validated."""
    if not isinstance(store_hash, str) or not store_hash.strip():
        raise BigCommerceConfigError(missing_setting_message("store_hash"))
    if not isinstance(access_token, str) or not access_token.strip():
        raise BigCommerceConfigError(missing_setting_message("access_token"))
    if not store_hash.isalnum():
        raise BigCommerceConfigError(
            "SOURCES__BIGCOMMERCE__STORE_HASH must be the store hash (letters and digits, as in "
            "https://api.bigcommerce.com/stores/{store_hash}/v3), not a URL or path"
        )
    if not isinstance(api_base_url, str) or not api_base_url.startswith(("http://", "https://")):
        raise BigCommerceConfigError(
            f"SOURCES__BIGCOMMERCE__API_BASE_URL must be an http(s) URL such as {DEFAULT_API_BASE_URL}"
        )


def bigcommerce_source(**overrides: Any) -> Any:
    """`bigcommerce` with configuration resolved now: a missing setting raises
    `BigCommerceConfigError` naming the environment variable and the TOML key. The source's
    schema takes dlt's default naming whatever pipeline is active (`helpers.default_naming`)."""
    try:
        with default_naming():
            return bigcommerce(**overrides)
    except ConfigFieldMissingException as exc:
        fields = list(getattr(exc, "fields", None) or []) or ["store_hash"]
        raise BigCommerceConfigError("; ".join(missing_setting_message(f) for f in fields)) from None


