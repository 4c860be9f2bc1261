"""The orders' fast paths read what the general ones read: dates in the API's RFC 2822 form by
one regular expression (email.utils otherwise), money amounts judged numeric or negative
without a Decimal when they are plain decimals, all of an order's at once when plain."""

from __future__ import annotations

import copy
import random
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from bc2people.sources.bigcommerce.order_rows import (
    OrderStats,
    _decimal,
    _money_oddity,
    parse_rfc2822,
    prepare_order,
)
from bc2people.sources.bigcommerce.settings import ORDER_MONEY_FIELDS, ORDER_TOTAL_FIELDS


def _reference_date(value: str) -> Any:
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        return type(exc)
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _ours(value: str) -> Any:
    try:
        return parse_rfc2822(value)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        return type(exc)


DATES = [
    "Wed, 10 Jan 2018 21:05:30 +0000", "Wed, 10 Jan 2018 21:05:30 -0000", "Mon, 1 Jan 2024 00:00:00 +0530",
    "Sun, 31 Dec 2023 23:59:59 -0800", "Thu, 29 Feb 2024 12:00:00 +0100", "Fri, 30 Feb 2024 12:00:00 +0000",
    "Fri, 01 Mar 2024 24:00:00 +0000", "Fri, 01 Mar 2024 12:60:00 +0000", "Fri, 01 Mar 2024 12:00:60 +0000",
    "Tue, 05 Mar 2024 10:00:00 +1400", "Tue, 05 Mar 2024 10:00:00 -1200", "05 Mar 2024 10:00:00 +0000",
    "Tue, 05 Mar 24 10:00:00 +0000", "Tue, 05 Mar 2024 10:00 +0000", "Tue, 05 Mar 2024 10:00:00 GMT",
    "Tue,  5 Mar 2024 10:00:00 +0000", "Xyz, 05 Mar 2024 10:00:00 +0000", "Tue, 05 Foo 2024 10:00:00 +0000",
    "Tue, 00 Mar 2024 10:00:00 +0000", "Tue, 05 Mar 0000 10:00:00 +0000", "Tue, 05 Mar 9999 23:59:59 -0100",
]


@pytest.mark.parametrize("value", DATES)
def test_dates_read_as_email_utils_reads_them(value: str) -> None:
    assert _ours(value) == _reference_date(value)


def test_random_api_dates_read_as_email_utils_reads_them() -> None:
    rng = random.Random(7)
    days, months = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    for _ in range(3000):
        value = (f"{rng.choice(days)}, {rng.randint(0, 32):02d} {rng.choice(months)} {rng.randint(1, 9999):04d} "
                 f"{rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:{rng.randint(0, 60):02d} "
                 f"{rng.choice('+-')}{rng.randint(0, 14):02d}{rng.choice((0, 30, 45, 59)):02d}")
        assert _ours(value) == _reference_date(value), value


MONEY = ["12.3400", "0", "0.0000", "-0.00", "-0", "-1.5", "-0.01", "007.50", "1e5", " 12 ", "+3", "NaN", "-NaN",
         "Infinity", "-Infinity", "12 34", "1|2", "", "abc", "1.", ".5", "1.2.3", "١٢", 12, -3.5, 0.0, True,
         float("nan"), [1], {"a": 1}]


@pytest.mark.parametrize("value", MONEY, ids=repr)
def test_an_amount_is_judged_as_decimal_judges_it(value: Any) -> None:
    number = _decimal(value)
    assert _money_oddity(value) == (number is None, number is not None and number < 0)


def _counts(order: dict[str, Any]) -> tuple[int, int]:
    stats = OrderStats()
    prepare_order(copy.deepcopy(order), 2_000_000_000, stats)
    return stats.non_numeric_totals, stats.negative_totals


def _reference_counts(order: dict[str, Any]) -> tuple[int, int]:
    numbers = {n: _decimal(order[n]) for n in ORDER_MONEY_FIELDS if order.get(n) is not None}
    return (int(any(v is None for v in numbers.values())),
            int(any(v is not None and v < 0 for k, v in numbers.items() if k in ORDER_TOTAL_FIELDS)))


def test_an_orders_amounts_are_counted_as_one_by_one() -> None:
    rng = random.Random(11)
    base = {"id": 1, "status_id": 11, "customer_id": 3, **dict.fromkeys(ORDER_MONEY_FIELDS, "10.0000")}
    assert _counts(base) == (0, 0)
    for _ in range(2000):
        order = dict(base)
        for name in rng.sample(ORDER_MONEY_FIELDS, rng.randint(1, 3)):
            order[name] = rng.choice([*MONEY, None])
        assert _counts(order) == _reference_counts(order), {k: order[k] for k in ORDER_MONEY_FIELDS}


@pytest.mark.parametrize("last", ["", "|", "1|"], ids=repr)
def test_an_odd_last_amount_is_counted(last: str) -> None:
    """The amounts joined end in a separator: still one odd amount, not a plain run of them."""
    order = {"id": 1, "status_id": 11, "customer_id": 3, **dict.fromkeys(ORDER_MONEY_FIELDS, "10.0000")}
    order[ORDER_MONEY_FIELDS[-1]] = last
    assert _counts(order) == _reference_counts(order) == (1, 0)
