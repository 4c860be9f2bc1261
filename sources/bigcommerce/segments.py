"""Cutting a big customers window into segments of about equal size, read one after another.

A first sync of a big store is staged in segments of ``date_modified`` (oldest first) so
the rows staged so far can be mapped and pushed while the rest is still read. Each segment
ends at a whole second; the customers resource reads a segment as its window (``end_at``)
and commits its end as the cursor, so after segment ``i`` every customer modified up to its
end is staged (a customer modified meanwhile moves past the end of the window and is read
by a later segment or run).

The cuts are placed by counting, not reading: ``limit=1`` requests whose
``meta.pagination.total`` is the number of customers in a range, bisecting in time any
range that holds more than the wanted rows (a few requests per segment, each round of cuts
sent side by side).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
                  max_requests: int = 400, workers: int = 8) -> list[Segment]:
    """Segments covering every customer modified up to ``end``, each about ``rows_per_segment``
    (`default_rows_per_segment` of the store's count when None).

    The last segment always ends at ``end``; a store with fewer customers than about 1.5
    segments is one segment. Ranges are bisected in time until they hold at most
    ``rows_per_segment`` (a quarter of it for the oldest and the newest range; a second is
    never cut), then neighbours between those two are joined up to that size.
    Stops cutting after ``max_requests`` counts (the segments are then just bigger). The counts
    of one round of cuts go ``workers`` at a time: at 1M customers the plan took ~6 s of
    requests one after another before the first segment could start.
    """
    total, lowest = count_customers(client, Slice(None, end), sort=True)
    rows_per_segment = max(1, default_rows_per_segment(total) if rows_per_segment is None else rows_per_segment)
    if total <= rows_per_segment * 3 // 2 or lowest is None or lowest >= end:
        return [Segment(end, total)]
    # The first and last segments are cut to a quarter: the first so sending starts early, the
    # last because what it holds is sent after the reading ends (the run's tail).
    edge = max(1, rows_per_segment // 4)
    # (start, end, count) ranges, oldest first; the first starts at the earliest customer. Each
    # round cuts every range still too big in two, its counts sent side by side (a round costs
    # one request's latency, not one per range).
    ranges: list[tuple[int, int, int]] = [(lowest, end, total)]
    requests = 1
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bigcommerce-plan") as pool:
        while True:
            cut = [i for i, (lo, hi, n) in enumerate(ranges)
                   if hi > lo and n > (edge if lo == lowest or hi == end else rows_per_segment)]
            cut = cut[:max(0, max_requests - requests)]
            if not cut:
                break
            mids = {i: ranges[i][0] + (ranges[i][1] - ranges[i][0]) // 2 for i in cut}
            lefts = [Slice(ranges[i][0], mids[i]) for i in cut]
            counts = dict(zip(cut, pool.map(lambda piece: count_customers(client, piece)[0], lefts), strict=True))
            requests += len(cut)
            split: list[tuple[int, int, int]] = []
            for i, (lo, hi, n) in enumerate(ranges):
                if i not in counts:
                    split.append((lo, hi, n))
                    continue
                left = min(counts[i], n)  # the widened bounds may count an edge second twice
                split += [(lo, mids[i], left), (mids[i] + 1, hi, n - left)]
            ranges = split
    if len(ranges) == 1:
        return [Segment(end, total)]
    first, middle, last = ranges[0], ranges[1:-1], ranges[-1]
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
