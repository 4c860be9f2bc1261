"""Window and slice planning: fixed windows, full UTC datetimes, gap-free slices."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bc2people.sources.bigcommerce.helpers import format_ts, parse_ts
from bc2people.sources.bigcommerce.windows import Slice, isolate_crowds, plan_window, split_slice

FULL_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_first_run_window_is_open_at_the_start_and_ends_at_store_clock_minus_lag() -> None:
    w = plan_window(1_780_000_000, None, lookback_seconds=300, lag_seconds=60)
    assert w == Slice(None, 1_780_000_000 - 60)
    assert list(w.params()) == ["date_modified:max"]


def test_next_window_starts_at_last_end_minus_lookback() -> None:
    last_end = format_ts(1_780_000_000)
    w = plan_window(1_780_003_600, last_end, lookback_seconds=300, lag_seconds=60)
    assert w == Slice(1_780_000_000 - 300, 1_780_003_600 - 60)


def test_full_refresh_ignores_the_cursor() -> None:
    w = plan_window(1_780_003_600, format_ts(1_780_000_000), lookback_seconds=300, lag_seconds=60, full_refresh=True)
    assert w.start is None


def test_clock_going_backwards_never_inverts_the_window() -> None:
    w = plan_window(1_780_000_000, format_ts(1_780_000_500), lookback_seconds=0, lag_seconds=0)
    assert w.start is not None and w.start <= w.end


def test_negative_lookback_is_rejected() -> None:
    with pytest.raises(ValueError, match="lookback"):
        plan_window(1_780_000_000, None, lookback_seconds=-1, lag_seconds=0)


def test_params_are_full_utc_datetimes_never_bare_dates() -> None:
    params = Slice(1_700_000_000, 1_700_086_400).params()
    assert params == {"date_modified:min": "2023-11-14T22:13:20Z", "date_modified:max": "2023-11-15T22:13:20Z"}
    assert all(FULL_UTC.match(v) for v in params.values())


def test_timestamps_round_trip_and_naive_means_utc() -> None:
    assert parse_ts("2020-02-06T17:46:33Z") == parse_ts("2020-02-06T17:46:33+00:00") == parse_ts("2020-02-06T17:46:33")
    assert format_ts(parse_ts("2020-02-06T17:46:33Z")) == "2020-02-06T17:46:33Z"
    assert parse_ts("2020-02-06T19:46:33+02:00") == parse_ts("2020-02-06T17:46:33Z")


@given(
    start=st.one_of(st.none(), st.integers(0, 2_000_000_000)),
    length=st.integers(0, 10_000_000),
    parts=st.integers(1, 40),
    seen_offset=st.one_of(st.none(), st.integers(-1000, 20_000_000)),
)
def test_slices_cover_the_window_exactly_without_gaps_or_overlap(
    start: int | None, length: int, parts: int, seen_offset: int | None
) -> None:
    base = start if start is not None else 1_000_000_000
    piece = Slice(start, base + length)
    lowest = None if seen_offset is None else base + seen_offset
    out = split_slice(piece, parts, lowest_seen=lowest)
    assert 1 <= len(out) <= max(1, parts)
    assert out[0].start == piece.start and out[-1].end == piece.end
    for a, b in zip(out, out[1:], strict=False):
        assert a.end + 1 == b.start
        assert a.start is None or a.start <= a.end
    assert out[-1].start is None or out[-1].start <= out[-1].end


def test_split_uses_the_earliest_row_seen_for_cut_points_but_keeps_the_open_start() -> None:
    out = split_slice(Slice(None, 1000), 4, lowest_seen=601)
    assert out[0].start is None
    assert [s.start for s in out[1:]] == [701, 801, 901]


def test_a_single_second_cannot_be_split() -> None:
    assert split_slice(Slice(5, 5), 8) == [Slice(5, 5)]
    assert split_slice(Slice(None, 5), 8) == [Slice(None, 5)]


def test_a_crowded_second_gets_a_slice_of_its_own_off_its_neighbours_requests() -> None:
    # requests widen each bound by a second: neighbours end at c - 2 and start at c + 2
    assert isolate_crowds(Slice(100, 4000), [500], margin=1) == [Slice(100, 498), Slice(499, 501), Slice(502, 4000)]
    # nothing before the crowd (a first page sorted ascending): no slice before it
    assert isolate_crowds(Slice(100, 4000), [500], margin=1, empty_before=500) == [Slice(100, 501), Slice(502, 4000)]
    # crowds a second apart share one slice; one at the end of the slice ends it
    assert isolate_crowds(Slice(None, 4000), [500, 502, 3999], margin=1) == [
        Slice(None, 498), Slice(499, 503), Slice(504, 3997), Slice(3998, 4000)]
    # outside the slice: nothing to isolate
    assert isolate_crowds(Slice(100, 4000), [9000], margin=1) == [Slice(100, 4000)]


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(st.none(), st.integers(0, 10_000)),
    length=st.integers(0, 5_000),
    crowds=st.lists(st.integers(-100, 15_100), max_size=6),
    margin=st.integers(0, 2),
    head=st.booleans(),
)
def test_slices_around_crowds_cover_the_window_exactly(
    start: int | None, length: int, crowds: list[int], margin: int, head: bool
) -> None:
    base = start if start is not None else 5_000
    piece = Slice(start, base + length)
    inside = [c for c in crowds if base <= c <= piece.end]
    out = isolate_crowds(piece, crowds, margin=margin, empty_before=min(inside) if head and inside else None)
    assert out[0].start == piece.start and out[-1].end == piece.end
    for a, b in zip(out, out[1:], strict=False):
        assert a.end + 1 == b.start
    for s in out:
        assert s.start is None or s.start <= s.end
    # no slice's widened request reaches a crowd it does not hold
    for s in out:
        lo = -(10**9) if s.start is None else s.start - margin
        for c in inside:
            if lo <= c <= s.end + margin:
                assert (s.start is None or s.start <= c) and c <= s.end, (s, c)


def test_crowds_are_told_from_a_sample_not_from_single_sightings() -> None:
    from bc2people.sources.bigcommerce.reader import crowded_seconds

    # a sorted first page: a crowd only when the whole page is one second
    assert crowded_seconds([7] * 250, rows=250, total=10_000, limit=250, head=True) == [7]
    assert crowded_seconds([7] * 249 + [8], rows=250, total=10_000, limit=250, head=True) == []
    # a page in id order from 10,000 rows: 100 sightings of a second estimate 4,000 rows
    sample = [1] * 100 + [2] * 100 + list(range(100, 150))
    assert crowded_seconds(sample, rows=250, total=10_000, limit=250, head=False) == [1, 2]
    # a million rows over years: every second seen once or twice, none judged a crowd
    spread = list(range(0, 250 * 86_400, 86_400))
    assert crowded_seconds(spread, rows=250, total=1_000_000, limit=250, head=False) == []
    # a slice of one page is not cut at all
    assert crowded_seconds([1] * 20, rows=20, total=20, limit=250, head=False) == []
