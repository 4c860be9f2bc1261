"""Window and slice planning for the incremental customers read.

A run reads one fixed window of ``date_modified`` (whole UTC seconds, both ends meant
inclusive): from the last committed window end minus a lookback, up to the store's clock
minus a lag. Whether the API's ``:min``/``:max`` are inclusive is undocumented (the spec
says "after"/"before"), so requests widen every bound by an overlap (`Slice.params`):
under strict bounds each second of the slice is still inside, and neighbouring slices and
windows overlap instead of meeting on an edge; the run drops the rows read twice. Rows modified while the run pages move *out* of the fixed window (their new
``date_modified`` is past its end) and are read by the next run, whose window starts at or
before this run's end; rows merged on ``id`` make the overlap harmless. A big window is cut
into contiguous slices so several threads can read it; slices never leave a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .helpers import ExtractStats, format_ts, parse_ts
from .settings import CURSOR_STATE_KEY


@dataclass(frozen=True)
class Slice:
    """``date_modified`` from ``start`` to ``end`` inclusive (Unix seconds); ``start`` None = open."""

    start: int | None
    end: int

    def params(self, overlap: int = 0) -> dict[str, str]:
        """The filter as query parameters: full UTC datetimes, never bare dates, each bound
        widened by ``overlap`` seconds (so the slice is covered whether bounds are inclusive
        or strict)."""
        out = {"date_modified:max": format_ts(self.end + overlap)}
        if self.start is not None:
            out = {"date_modified:min": format_ts(self.start - overlap), **out}
        return out

    def describe(self) -> str:
        start = format_ts(self.start) if self.start is not None else "(beginning)"
        return f"{start} .. {format_ts(self.end)}"


def plan_window(
    store_now: int,
    last_window_end: str | None,
    *,
    lookback_seconds: int,
    lag_seconds: int,
    full_refresh: bool = False,
) -> Slice:
    """The window of one run.

    ``last_window_end`` is the committed cursor (API timestamp string) or None on the first
    run; ``full_refresh`` ignores it and reads from the beginning.
    """
    if lookback_seconds < 0 or lag_seconds < 0:
        raise ValueError("lookback_seconds and lag_seconds must not be negative")
    end = int(store_now) - int(lag_seconds)
    if full_refresh or not last_window_end:
        return Slice(None, end)
    start = parse_ts(last_window_end) - int(lookback_seconds)
    # A clock that went backwards (or a larger lag) must not produce an empty or inverted window.
    return Slice(min(start, end), end)


def split_slice(piece: Slice, parts: int, *, lowest_seen: int | None = None) -> list[Slice]:
    """Cut a slice into up to ``parts`` contiguous slices of equal duration.

    ``lowest_seen`` (the earliest ``date_modified`` known in the slice, e.g. from a page
    sorted ascending) only places the cut points: the first slice still starts at the
    original start, so the slices always cover the whole input whatever the row order.
    Returns ``[piece]`` when it cannot be cut (a single second).
    """
    lo = piece.start
    if lowest_seen is not None and (lo is None or lowest_seen > lo):
        lo = min(lowest_seen, piece.end)
    if lo is None:
        return [piece]
    span = piece.end - lo + 1
    parts = max(1, min(parts, span))
    if parts < 2:
        return [piece]
    cuts = [lo + span * i // parts for i in range(1, parts)]
    bounds = [piece.start, *cuts]
    out = [Slice(bounds[i], cuts[i] - 1) for i in range(len(cuts))]
    out.append(Slice(cuts[-1], piece.end))
    return out


def isolate_crowds(piece: Slice, crowds: list[int], *, margin: int = 0, empty_before: int | None = None) -> list[Slice]:
    """Cut a slice around seconds known to hold at least a page each (a bulk import or update).

    A second cannot be cut, and cutting by duration around one takes a level of slices (one
    request each) per split until a slice is that second, while the slices beside it read it
    again (requests widen each bound by ``margin``). So each crowded second gets a slice of its
    own, ``margin`` wide on both sides, and the gaps between are left whole (they are cut when
    read, if they hold enough): no neighbour's request reaches a crowd. ``empty_before``: no
    row of the slice is earlier (a first page sorted ascending), so nothing is cut off before
    the first crowd. The slices cover ``piece`` exactly; ``[piece]`` when no crowd is inside it.
    """
    spans: list[list[int | None]] = []
    for c in sorted(set(crowds)):
        if (piece.start is not None and c < piece.start) or c > piece.end:
            continue
        a: int | None = c - margin
        if piece.start is not None and a is not None and a <= piece.start:
            a = piece.start
        if not spans and empty_before is not None and empty_before >= c - margin:
            a = piece.start
        b = min(c + margin, piece.end)
        last = spans[-1][1] if spans else None
        if last is not None and a is not None and a <= last + 1:
            spans[-1][1] = b  # touching the previous crowd's slice: one slice for both
        else:
            spans.append([a, b])
    if not spans:
        return [piece]
    out: list[Slice] = []
    cur: int | None = piece.start
    for lo, hi in spans:
        assert hi is not None
        if lo is not None and (cur is None or lo > cur):
            out.append(Slice(cur, lo - 1))
            cur = lo
        out.append(Slice(cur, hi))
        cur = hi + 1
    if cur is not None and cur <= piece.end:  # cur is set: every span has an end
        out.append(Slice(cur, piece.end))
    return out


def open_window(
    state: Any, now: int, *, lookback_seconds: int, lag_seconds: int, full_refresh: bool, stats: ExtractStats
) -> Slice:
    """The window a resource reads this run, from the cursor committed in its own resource
    state (``full_refresh`` ignores it); the bounds are noted in ``stats``."""
    last_end = None if full_refresh else state.get(CURSOR_STATE_KEY)
    window = plan_window(now, last_end, lookback_seconds=lookback_seconds, lag_seconds=lag_seconds,
                         full_refresh=full_refresh)
    stats.window_start = format_ts(window.start) if window.start is not None else None
    stats.window_end = format_ts(window.end)
    return window


def commit_window(state: Any, window: Slice, stats: ExtractStats) -> None:
    """Commit the window end as the next cursor: call it only once every page was read (dlt
    persists the resource state together with the extracted data)."""
    state[CURSOR_STATE_KEY] = stats.committed_cursor = format_ts(window.end)
