"""State, formats and error shapes shared by the commerce parts of the BigCommerce sandbox.

Each API family answers errors in its own shape (see the reference notes §1); the helpers
here produce exactly those shapes so a client under test must cope with all of them.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from bc2people.sandbox.bigcommerce.commerce_order_index import OrderIndex
from bc2people.sandbox.http import Request, Response

STATUS_DOC = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
CONFLICT_TITLE = (
    "The request cannot be processed due to a possible conflict. Please review the changes and try again."
)
MAX_LIMIT = 250

ORDER_STATUSES: list[tuple[int, str, str]] = [
    (0, "Incomplete", "An incomplete order happens when a shopper reached the payment page, but did not complete the transaction."),
    (1, "Pending", "Customer started the checkout process, but did not complete it."),
    (2, "Shipped", "Order has been shipped, but receipt has not been confirmed."),
    (3, "Partially Shipped", "Only some items in the order have been shipped."),
    (4, "Refunded", "Seller has used the Refund action."),
    (5, "Cancelled", "Seller has cancelled an order, due to a stock inconsistency or other reasons."),
    (6, "Declined", "Seller has marked the order as declined for lack of manual payment, or other reasons."),
    (7, "Awaiting Payment", "Customer has completed checkout process, but payment has yet to be confirmed."),
    (8, "Awaiting Pickup", "Order has been pulled, and is awaiting customer pickup from a seller-specified location."),
    (9, "Awaiting Shipment", "Order has been pulled and packaged, and is awaiting collection from a shipping provider."),
    (10, "Completed", "Client has paid for their digital product and their file(s) are available for download."),
    (11, "Awaiting Fulfillment", "Customer has completed the checkout process and payment has been confirmed."),
    (12, "Manual Verification Required", "Order on hold while some aspect needs to be manually confirmed."),
    (13, "Disputed", "Customer has initiated a dispute resolution process for the PayPal transaction that paid for the order."),
    (14, "Partially Refunded", "Seller has partially refunded the order."),
]
PAID_STATUS_IDS = frozenset({10, 11})

COUNTRIES = {
    "US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "HR": "Croatia",
    "CA": "Canada", "AU": "Australia", "NL": "Netherlands", "ES": "Spain", "IT": "Italy",
}


class _SystemClock:
    def now(self) -> int:
        return int(time.time())


@dataclass
class CommerceState:
    """Everything the commerce routes keep: catalog, carts/checkouts, orders, hooks, webhooks."""

    store_hash: str
    clock: Any = field(default_factory=_SystemClock)
    customers: Any = None  # callable(customer_id) -> dict | None, when the sandbox provides one
    lock: threading.RLock = field(default_factory=threading.RLock)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    trees: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    carts: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)  # lean records, see sandbox.order_records
    order_index: OrderIndex = field(default_factory=OrderIndex)  # kept in step with `orders`
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    redirect_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook_payloads: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    # destination URL -> URL actually POSTed to (lets tests receive hooks on plain http ports)
    destination_overrides: dict[str, str] = field(default_factory=dict)
    client_id: str = "sandbox-client"
    # POST billing-address on a checkout that has one: "replace" it, or "refuse" (422); the spec is silent
    billing_post_existing: str = "replace"
    webhooks: Any = None  # `webhook_sender.WebhookSender`, attached by `commerce.install`

    def fire(self, scope: str, data: dict[str, Any]) -> None:
        """Send the webhook event ``scope`` to the hooks that want it (nothing when none do)."""
        if self.webhooks is not None and self.webhooks.has_hooks():
            self.webhooks.emit(scope, data)
    _ids: dict[str, itertools.count[int]] = field(default_factory=dict)

    def next_id(self, kind: str, start: int = 1) -> int:
        """Sequential positive ids per kind (orders, products, hooks, ...)."""
        with self.lock:
            counter = self._ids.setdefault(kind, itertools.count(start))
            return next(counter)

    @property
    def store_id(self) -> str:
        """A stable numeric store id (webhooks carry it as a string)."""
        return str(1_000_000_000 + zlib.crc32(self.store_hash.encode()) % 1_000_000_000)

    def now(self) -> int:
        return int(self.clock.now())

    def hexid(self, n: int, *parts: object) -> str:
        """A fresh lowercase hex id of n characters (13 for addresses, 32 for options)."""
        seed = f"{self.next_id('hex')}:{time.time_ns()}:" + ":".join(map(str, parts))
        return hashlib.sha1(seed.encode()).hexdigest()[:n] if n <= 40 else hashlib.sha256(seed.encode()).hexdigest()[:n]

    def customer(self, customer_id: int) -> dict[str, Any] | None:
        """The customer, None when the store says it does not exist, {} when nobody can tell."""
        if self.customers is None:
            return {}
        try:
            return self.customers(customer_id)
        except LookupError:
            return {}


# -- timestamps ------------------------------------------------------------------------
def iso_z(epoch: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` (V3 catalog)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(epoch: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS+00:00` (carts and checkouts)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def rfc2822(epoch: int) -> str:
    """`Wed, 10 Jan 2018 21:05:30 +0000` (V2 orders)."""
    return format_datetime(datetime.fromtimestamp(epoch, UTC))


def money4(value: float) -> str:
    """V2 money: a string with 4 decimals."""
    return f"{value:.4f}"


# -- error shapes ----------------------------------------------------------------------
def v3_error(status: int, title: str, errors: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "title": title, "type": STATUS_DOC}
    if errors is not None:
        body["errors"] = errors
    return Response(status, body)


def catalog_not_found(req: Request, what: str = "product") -> Response:
    return Response(404, {"status": 404, "title": f"The requested {what} was not found.", "type": STATUS_DOC,
                          "instance": req.path})


def tree_error(status: int, title: str, errors: dict[str, str] | None = None) -> Response:
    return Response(status, {"errors": {"status": status, "title": title, "type": STATUS_DOC, "errors": errors or {}},
                             "meta": {"total": 0, "success": 0, "failed": 0}})


def checkout_error(status: int, title: str, detail: str = "") -> Response:
    return Response(status, {"errors": [{"status": status, "title": title, "type": STATUS_DOC, "detail": detail}]})


def conflict() -> Response:
    return Response(409, {"status": 409, "title": CONFLICT_TITLE, "type": STATUS_DOC})


def v2_error(status: int, message: str, details: dict[str, Any] | None = None) -> Response:
    item: dict[str, Any] = {"status": status, "message": message}
    if details:
        item["details"] = details
    return Response(status, [item])


# -- request helpers -------------------------------------------------------------------
class QueryError(ValueError):
    """A query parameter that cannot be read (answered 422 on V3)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def int_param(req: Request, name: str, default: int | None = None, *, minimum: int = 1) -> int | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryError(name, f"{name} must be an integer") from exc
    if value < minimum:
        raise QueryError(name, f"{name} must be at least {minimum}")
    return value


def int_list_param(req: Request, name: str) -> list[int] | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError as exc:
        raise QueryError(name, f"{name} must be a comma-separated list of integers") from exc


def includes(req: Request) -> set[str]:
    return {x.strip() for x in (req.query.get("include") or "").split(",") if x.strip()}


def paginate(items: list[Any], page: int, limit: int) -> tuple[list[Any], dict[str, Any]]:
    """One page of items and the V3 `meta.pagination` block (relative links)."""
    total = len(items)
    total_pages = max(1, -(-total // limit)) if total else 0
    start = (page - 1) * limit
    chunk = items[start:start + limit]
    links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    return chunk, {"pagination": {"total": total, "count": len(chunk), "per_page": limit, "current_page": page,
                                  "total_pages": total_pages, "links": links}}


def page_and_limit(req: Request) -> tuple[int, int]:
    page = int_param(req, "page", 1) or 1
    limit = int_param(req, "limit", 50) or 50
    if limit > MAX_LIMIT:
        raise QueryError("limit", f"limit must be at most {MAX_LIMIT}")
    return page, limit
