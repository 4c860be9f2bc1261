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


def split_slice(
    piece: Slice, parts: int, *, lowest_seen: int | None = None, crowded_second: int | None = None, margin: int = 0
) -> list[Slice]:
    """Cut a slice into up to ``parts`` contiguous slices of equal duration.

    ``lowest_seen`` (the earliest ``date_modified`` known in the slice, e.g. from a page
    sorted ascending) only places the cut points: the first slice still starts at the
    original start, so the slices always cover the whole input whatever the row order.
    ``crowded_second``: a second known to hold at least a full page (a bulk import or update:
    every row of a full first page in it). It cannot be cut, so the slice is cut ``margin``
    seconds after it instead, in two (``margin``: how far requests widen each bound, so the
    second slice's request does not read the crowd again): cutting by duration would take one
    more level of slices (one request each) per split until the crowded slice is that second.
    A crowd within ``margin`` of the slice's end is not cut at all: any cut would read it twice.
    Returns ``[piece]`` when it cannot be cut (a single second).
    """
    if crowded_second is not None and (piece.start is None or piece.start <= crowded_second) \
            and crowded_second <= piece.end:
        cut = crowded_second + margin
        return [Slice(piece.start, cut), Slice(cut + 1, piece.end)] if cut < piece.end else [piece]
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
