"""Re-fetching records by id (what a webhook names) and staging them through the same source.

``fetch_customers`` asks ``GET /v3/customers?id:in=…`` with the nightly run's ``include=``
(every sub-resource), up to `IDS_PER_REQUEST` ids a request; ``fetch_order`` asks
``GET /v2/orders/{id}`` (``None`` when the store answers 404). Both go through the same
`BigCommerceClient` (quota budget, retries, token-free errors).

`bigcommerce_records` is a dlt source named ``bigcommerce`` whose ``customers`` and
``orders`` resources carry the very hints of the nightly source's (primary key ``id``,
merge, declared columns, nested values as JSON) and yield the records given: staged through
the nightly pipeline, they merge into the same tables under the same schema. Its resources
never touch the incremental cursors in resource state, so the nightly window is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from . import COLUMN_HINTS
from .client import BigCommerceClient
from .helpers import BigCommerceError
from .order_rows import OrderStats, prepare_order
from .orders import ORDER_COLUMN_HINTS
from .settings import CUSTOMER_INCLUDE, CUSTOMERS_PATH, ORDERS_PATH, PAGE_LIMIT

IDS_PER_REQUEST = PAGE_LIMIT  # a burst packs up to a page of ids into one request; a trickle sends few


def fetch_customers(client: BigCommerceClient, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The customers among ``ids`` the store still has, API-shaped, every sub-resource included."""
    out: list[dict[str, Any]] = []
    wanted = sorted({int(i) for i in ids})
    for start in range(0, len(wanted), IDS_PER_REQUEST):
        chunk = wanted[start : start + IDS_PER_REQUEST]
        params = {"id:in": ",".join(map(str, chunk)), "include": CUSTOMER_INCLUDE, "limit": PAGE_LIMIT}
        body = client.get_json(client.store_path(CUSTOMERS_PATH), params, validate=_validate_customers)
        out.extend(body.get("data") or [])
    return out


def fetch_order(client: BigCommerceClient, order_id: int, store_now: int,
                stats: OrderStats | None = None) -> dict[str, Any] | None:
    """``GET /v2/orders/{id}`` prepared like the nightly run's rows; None when it is gone (404)."""
    try:
        body = client.get_json(client.store_path(ORDERS_PATH) + f"/{int(order_id)}", empty_ok=True)
    except BigCommerceError as exc:
        if exc.status == 404:
            return None
        raise
    if not isinstance(body, dict) or "id" not in body:
        return None
    return prepare_order(body, store_now, stats or OrderStats())


def _validate_customers(body: Any) -> None:
    from .helpers import MalformedResponse

    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedResponse("customers response without a data list")


@dlt.source(name="bigcommerce", max_table_nesting=0)
def bigcommerce_records(customers: list[dict[str, Any]], orders: list[dict[str, Any]]) -> list[DltResource]:
    """The given re-fetched records as the nightly source's ``customers`` / ``orders`` resources."""
    resources = []
    if customers:
        resources.append(_records("customers", customers, COLUMN_HINTS))
    if orders:
        resources.append(_records("orders", orders, ORDER_COLUMN_HINTS))
    return resources


def _records(name: str, rows: list[dict[str, Any]], hints: dict[str, Any]) -> DltResource:
    @dlt.resource(name=name, primary_key="id", write_disposition="merge", columns=hints)  # type: ignore[call-overload]
    def records() -> Iterator[list[dict[str, Any]]]:
        yield rows

    return records
