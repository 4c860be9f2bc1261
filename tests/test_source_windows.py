"""Window and slice planning: fixed windows, full UTC datetimes, gap-free slices."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bc2people.sources.bigcommerce.helpers import format_ts, parse_ts
from bc2people.sources.bigcommerce.windows import Slice, plan_window, split_slice

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


def test_a_crowded_second_is_cut_off_in_one_step() -> None:
    assert split_slice(Slice(100, 4000), 8, lowest_seen=500, crowded_second=500) == [Slice(100, 500), Slice(501, 4000)]
    assert split_slice(Slice(None, 4000), 8, crowded_second=500) == [Slice(None, 500), Slice(501, 4000)]
    # requests widened by a second: the next slice starts past that margin, off the crowd
    assert split_slice(Slice(100, 4000), 8, crowded_second=500, margin=1) == [Slice(100, 501), Slice(502, 4000)]
    # the crowd at the slice's end (or outside it) cannot be cut off: cut by duration as before
    assert split_slice(Slice(100, 500), 4, lowest_seen=500, crowded_second=500) == [Slice(100, 500)]
    assert split_slice(Slice(100, 501), 1, lowest_seen=500, crowded_second=500, margin=1) == [Slice(100, 501)]
    assert len(split_slice(Slice(100, 4000), 4, crowded_second=9000)) == 4
