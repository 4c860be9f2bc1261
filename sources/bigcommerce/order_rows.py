"""Orders as staged: RFC 2822 dates to UTC datetimes, everything else as the API sent it,
and a count of the oddities seen (never a reason to stop a run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from .currencies import ISO_4217
from .helpers import ExtractStats
from .settings import (
    ORDER_CURRENCY_FIELDS,
    ORDER_DATE_FIELDS,
    ORDER_MONEY_FIELDS,
    ORDER_STATUS_IDS,
    ORDER_TOTAL_FIELDS,
)


class OrderStats(ExtractStats):
    """What one extraction of ``orders`` (and ``order_products``) did.

    The fields of `ExtractStats` (``records`` are distinct orders staged, ``requests`` this
    resource's share of the run's requests, the window and the committed cursor) plus the
    oddities: ``unparseable_dates`` counts values, every other counter counts orders.
    """

    phase = "orders"

    def __init__(self, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(progress)
        self.unparseable_dates = 0  # date values kept as the API's string
        self.non_numeric_totals = 0  # orders with a money field that is not a decimal number
        self.negative_totals = 0  # orders with a negative (sub)total
        self.unknown_status = 0  # status_id outside the documented 0..14
        self.unknown_currency = 0  # a currency code that is not ISO 4217
        self.future_dates = 0  # a date after the store's clock at the start of the run
        self.guest_orders = 0  # customer_id 0
        self.archived = 0  # is_deleted true
        self.duplicates = 0  # rows read twice (overlapping slices), dropped before staging
        self.count_requests = 0  # GET /orders/count calls made to plan slices
        self.products = 0  # order_products rows staged
        self.product_requests = 0  # requests made by order_products
        self.skipped: str | None = None  # why no orders were read (the token lacks the Orders scope)

    def oddities(self) -> dict[str, int]:
        """The oddity counters by name."""
        keys = ("unparseable_dates", "non_numeric_totals", "negative_totals", "unknown_status",
                "unknown_currency", "future_dates", "guest_orders")
        return {k: getattr(self, k) for k in keys}


def parse_rfc2822(value: str) -> datetime:
    """``Wed, 10 Jan 2018 21:05:30 +0000`` -> an aware UTC datetime (``-0000`` read as UTC)."""
    dt = parsedate_to_datetime(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def prepare_order(row: dict[str, Any], store_now: int, stats: OrderStats) -> dict[str, Any]:
    """Parse the dates of one order in place (``""`` -> None) and count its oddities."""
    future = False
    for name in ORDER_DATE_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if value == "":
            row[name] = None
            continue
        try:
            if not isinstance(value, str):
                raise TypeError(name)
            parsed = parse_rfc2822(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            stats.unparseable_dates += 1
            continue
        row[name] = parsed
        future = future or parsed.timestamp() > store_now
    stats.future_dates += future

    numbers = {name: _decimal(row[name]) for name in ORDER_MONEY_FIELDS if row.get(name) is not None}
    stats.non_numeric_totals += any(n is None for n in numbers.values())
    stats.negative_totals += any(n is not None and n < 0 for k, n in numbers.items() if k in ORDER_TOTAL_FIELDS)

    status = row.get("status_id")
    stats.unknown_status += not (isinstance(status, int) and not isinstance(status, bool) and status in ORDER_STATUS_IDS)
    codes = [row.get(name) for name in ORDER_CURRENCY_FIELDS]
    stats.unknown_currency += any(code not in (None, "") and code not in ISO_4217 for code in codes)
    customer = row.get("customer_id")
    stats.guest_orders += customer == 0 and not isinstance(customer, bool)
    stats.archived += row.get("is_deleted") is True
    return row
