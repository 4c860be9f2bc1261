"""Orders as staged: RFC 2822 dates to UTC datetimes, everything else as the API sent it,
and a count of the oddities seen (never a reason to stop a run)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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

_TOTALS = frozenset(ORDER_TOTAL_FIELDS)


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
        self.count_requests = 0  # requests made to plan id ranges (/orders/count, a window's last id)
        self.steals = 0  # id ranges an idle worker took the upper half of
        self.products = 0  # order_products rows staged
        self.product_requests = 0  # requests made by order_products
        self.skipped: str | None = None  # why no orders were read (the token lacks the Orders scope)

    def oddities(self) -> dict[str, int]:
        """The oddity counters by name."""
        keys = ("unparseable_dates", "non_numeric_totals", "negative_totals", "unknown_status",
                "unknown_currency", "future_dates", "guest_orders")
        return {k: getattr(self, k) for k in keys}


# The form the V2 API writes its dates in; anything else goes to email.utils' general parser.
_RFC2822 = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d?) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                      r"([1-9]\d{3}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                        "Dec"), 1)}
# A plain decimal as the API writes money ("12.3400"): numeric for sure, and negative exactly
# when signed with a nonzero digit; anything else is read by Decimal.
_PLAIN_DECIMAL = re.compile(r"(-?)[0-9]+(?:\.[0-9]+)?")
_NONZERO = re.compile(r"[1-9]")
_PLAIN_DECIMALS = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:\|[0-9]+(?:\.[0-9]+)?)*")  # unsigned ones, joined by "|"


def parse_rfc2822(value: str) -> datetime:
    """``Wed, 10 Jan 2018 21:05:30 +0000`` -> an aware UTC datetime (``-0000`` read as UTC).

    The API's own form is read by one regular expression (5.7 against 9.2 us a date, on a busy
    machine); ``email.utils.parsedate_to_datetime`` reads the rest, and gives the same datetimes
    for that form (tests/test_order_rows_fast.py)."""
    m = _RFC2822.fullmatch(value)
    if m is not None:
        offset = (int(m[8]) * 60 + int(m[9])) * (-1 if m[7] == "-" else 1)
        local = datetime(int(m[3]), _MONTHS[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6]), tzinfo=UTC)
        return local - timedelta(minutes=offset)
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


def _money_oddity(value: Any) -> tuple[bool, bool]:
    """(not a number, a negative number) for one money value, as `_decimal` judges it."""
    if type(value) is str:
        m = _PLAIN_DECIMAL.fullmatch(value)
        if m is not None:
            return False, bool(m[1]) and _NONZERO.search(value) is not None
    number = _decimal(value)
    return number is None, number is not None and number < 0


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

    odd = negative = False
    present = [(name, value) for name in ORDER_MONEY_FIELDS if (value := row.get(name)) is not None]
    texts = [value for _, value in present if type(value) is str]
    joined = "|".join(texts)
    # the usual order: every amount a plain unsigned decimal, one match for them all (a "|" of
    # a value's own would make two of it: such a value takes the path below)
    if present and (len(texts) != len(present) or joined.count("|") != len(texts) - 1
                    or _PLAIN_DECIMALS.fullmatch(joined) is None):
        for name, value in present:
            nan, below = _money_oddity(value)
            odd = odd or nan
            negative = negative or (below and name in _TOTALS)
    stats.non_numeric_totals += odd
    stats.negative_totals += negative

    status = row.get("status_id")
    stats.unknown_status += not (isinstance(status, int) and not isinstance(status, bool) and status in ORDER_STATUS_IDS)
    codes = [row.get(name) for name in ORDER_CURRENCY_FIELDS]
    stats.unknown_currency += any(code not in (None, "") and code not in ISO_4217 for code in codes)
    customer = row.get("customer_id")
    stats.guest_orders += customer == 0 and not isinstance(customer, bool)
    stats.archived += row.get("is_deleted") is True
    return row
