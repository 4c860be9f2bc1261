"""Cutting a big customers window into segments of about equal size, read one after another.

A first sync of a big store is staged in segments of ``date_modified`` (oldest first) so
the rows staged so far can be mapped and pushed while the rest is still read. Each segment
ends at a whole second; the customers resource reads a segment as its window (``end_at``)
and commits its end as the cursor, so after segment ``i`` every customer modified up to its
end is staged (a customer modified meanwhile moves past the end of the window and is read
by a later segment or run).

The cuts are placed by counting, not reading: ``limit=1`` requests whose
``meta.pagination.total`` is the number of customers in a range, bisecting in time any
range that holds more than the wanted rows (a few requests per segment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import BigCommerceClient
from .reader import date_modified_seconds, validate_page
from .settings import CUSTOMER_BOUND_OVERLAP_SECONDS, CUSTOMER_SORT, CUSTOMERS_PATH
from .windows import Slice


@dataclass(frozen=True)
class Segment:
    """One segment: ``date_modified`` up to ``end`` (Unix seconds), about ``rows`` customers."""

    end: int
    rows: int


def count_customers(client: BigCommerceClient, piece: Slice, *, sort: bool = False) -> tuple[int, int | None]:
    """(customers whose ``date_modified`` is in ``piece``, the earliest one seen): one request."""
    params: dict[str, Any] = {"limit": 1, **piece.params(CUSTOMER_BOUND_OVERLAP_SECONDS)}
    if sort:
        params["sort"] = CUSTOMER_SORT
    body = client.get_json(client.store_path(CUSTOMERS_PATH), params, validate=validate_page)
    pag = (body.get("meta") or {}).get("pagination") or {}
    total = pag.get("total")
    seen = date_modified_seconds(body["data"])
    return (int(total) if isinstance(total, int) else len(body["data"])), min(seen) if seen else None


MIN_ROWS_PER_SEGMENT = 25_000
SEGMENTS_WANTED = 10


def default_rows_per_segment(total: int) -> int:
    """Customers per segment when none is set: a tenth of the store, at least 25,000.

    Each segment is one dlt run with its own fixed cost (extract, normalize and load, and a
    checkpoint's share); at 1M customers 25,000 a segment made 62 segments and a 446 s first
    sync, 100,000 made 17 and 372 s (`make bench-scale`). Below 250,000 customers nothing changes."""
    return max(MIN_ROWS_PER_SEGMENT, total // SEGMENTS_WANTED)


def plan_segments(client: BigCommerceClient, end: int, *, rows_per_segment: int | None = None,
                  max_requests: int = 400) -> list[Segment]:
    """Segments covering every customer modified up to ``end``, each about ``rows_per_segment``
    (`default_rows_per_segment` of the store's count when None).

    The last segment always ends at ``end``; a store with fewer customers than about 1.5
    segments is one segment. Ranges are bisected in time until they hold at most
    ``rows_per_segment`` (a quarter of it for the oldest and the newest range; a second is
    never cut), then neighbours between those two are joined up to that size.
    Stops cutting after ``max_requests`` counts (the segments are then just bigger).
    """
    total, lowest = count_customers(client, Slice(None, end), sort=True)
    rows_per_segment = max(1, default_rows_per_segment(total) if rows_per_segment is None else rows_per_segment)
    if total <= rows_per_segment * 3 // 2 or lowest is None or lowest >= end:
        return [Segment(end, total)]
    # The first and last segments are cut to a quarter: the first so sending starts early, the
    # last because what it holds is sent after the reading ends (the run's tail).
    edge = max(1, rows_per_segment // 4)
    # (start, end, count) ranges, oldest first; the first starts at the earliest customer.
    todo: list[tuple[int, int, int]] = [(lowest, end, total)]
    done: list[tuple[int, int, int]] = []
    requests = 1
    while todo:
        lo, hi, n = todo.pop()
        limit = edge if lo == lowest or hi == end else rows_per_segment
        if n <= limit or hi <= lo or requests >= max_requests:
            done.append((lo, hi, n))
            continue
        mid = lo + (hi - lo) // 2
        left, _ = count_customers(client, Slice(lo, mid))
        requests += 1
        left = min(left, n)  # the widened bounds may count an edge second twice
        todo.append((mid + 1, hi, n - left))
        todo.append((lo, mid, left))  # popped next: ranges come out oldest first
    if len(done) == 1:
        return [Segment(end, total)]
    first, middle, last = done[0], done[1:-1], done[-1]
    segments = [Segment(first[1], first[2])]
    run_end, run_rows = None, 0
    for _lo, hi, n in middle:
        if run_end is not None and run_rows + n > rows_per_segment:
            segments.append(Segment(run_end, run_rows))
            run_rows = 0
        run_end, run_rows = hi, run_rows + n
    if run_end is not None:
        segments.append(Segment(run_end, run_rows))
    segments.append(Segment(end, last[2]))
    return segments
