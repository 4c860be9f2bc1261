"""Segments of a first sync (`sources.bigcommerce.segments`) and staging them one at a time.

- the plan covers every customer up to the window end, in segments of about the wanted size
  (the first and the last a quarter of it), for a few counting requests per segment;
- staging the segments one after another (each its own dlt load, ``end_at``) stages exactly
  the store, and the cursor after each segment is that segment's end (never beyond what is
  staged).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bc2people.pipelines.staging import make_pipeline, stage_customers
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from bc2people.sources.bigcommerce import make_client
from bc2people.sources.bigcommerce.client import BigCommerceClient
from bc2people.sources.bigcommerce.helpers import format_ts, parse_ts
from bc2people.sources.bigcommerce.segments import default_rows_per_segment, plan_segments
from tests.fixtures_staging import STG_STORE, STG_TOKEN, api_view
from tests.test_staging_incremental import staged

N = 2400


@pytest.fixture(autouse=True)
def _customers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ORDERS", "false")


def _cursor(db: Path) -> str | None:
    state = make_pipeline(db).state.get("sources", {}).get("bigcommerce", {})
    return state.get("resources", {}).get("customers", {}).get("last_window_end")


def test_plan_covers_the_window_in_segments_of_about_the_size(stg_sandbox: BigCommerceSandbox) -> None:
    stg_sandbox.add_customers(generate_customers(N, seed=164))
    client = make_client(STG_STORE, STG_TOKEN, stg_sandbox.base_url)
    end = stg_sandbox.clock.now() - 60
    segments = plan_segments(client, end, rows_per_segment=400)
    assert segments[-1].end == end
    ends = [s.end for s in segments]
    assert ends == sorted(set(ends))  # contiguous, oldest first, no empty repeats
    assert 4 <= len(segments) <= 14, segments
    assert N <= sum(s.rows for s in segments) <= N * 11 // 10  # edge seconds may count twice
    # a segment holds more than the size only by a second of bulk imports (a second is never cut)
    per_second = Counter(c["date_modified"] for c in stg_sandbox.customers())
    assert max(s.rows for s in segments) <= 400 + max(per_second.values()), segments
    # the first (sending starts early) and the last (the run's tail) hold a quarter
    assert segments[0].rows <= 100 + max(per_second.values()) and segments[-1].rows <= 100 + max(per_second.values())
    assert client.requests <= 4 * len(segments) + 4, client.requests

    one = plan_segments(client, end, rows_per_segment=N)
    assert [s.end for s in one] == [end]
    assert [s.end for s in plan_segments(client, end)] == [end]  # unset: at least 25,000 a segment


class _Concurrent(BigCommerceClient):
    """The real client, counting its requests in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = self.peak = 0
        self.in_flight = threading.Lock()

    def get_json(self, *args: Any, **kwargs: Any) -> Any:
        with self.in_flight:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return super().get_json(*args, **kwargs)
        finally:
            with self.in_flight:
                self.now -= 1


def test_the_plan_sends_each_round_of_counts_side_by_side_and_cuts_as_one_after_another(
    stg_sandbox: BigCommerceSandbox,
) -> None:
    """The counts of one round go out together (at 1M customers the plan took ~6 s of requests
    one after another); the segments are those of the same cuts made one at a time."""
    stg_sandbox.add_customers(generate_customers(N, seed=165))
    stg_sandbox.latency_ms = 50
    end = stg_sandbox.clock.now() - 60
    side_by_side = _Concurrent(stg_sandbox.base_url, STG_STORE, STG_TOKEN)
    one_at_a_time = _Concurrent(stg_sandbox.base_url, STG_STORE, STG_TOKEN)
    planned = plan_segments(side_by_side, end, rows_per_segment=300)
    assert planned == plan_segments(one_at_a_time, end, rows_per_segment=300, workers=1)
    assert len(planned) >= 6 and sum(s.rows for s in planned) >= N
    assert side_by_side.peak > 1 and one_at_a_time.peak == 1
    assert side_by_side.requests == one_at_a_time.requests  # the same cuts, the same counts


def test_the_default_segment_is_a_tenth_of_the_store_and_at_least_25000() -> None:
    assert default_rows_per_segment(0) == default_rows_per_segment(249_999) == 25_000
    assert default_rows_per_segment(300_000) == 30_000
    assert default_rows_per_segment(1_000_000) == 100_000


def test_staging_segment_by_segment_stages_the_store_and_moves_the_cursor_with_it(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(N, seed=165))
    client = make_client(STG_STORE, STG_TOKEN, stg_sandbox.base_url)
    end = stg_sandbox.clock.now() - 60
    segments = plan_segments(client, end, rows_per_segment=600)
    assert len(segments) >= 3
    extracted = 0
    for i, seg in enumerate(segments):
        res = stage_customers(stg_db, only=("customers",), end_at=seg.end,
                              **({} if i == 0 else {"lookback_seconds": 0}), **stg_source)
        extracted += res.extracted
        assert _cursor(stg_db) == format_ts(seg.end)  # the cursor covers what is staged, no more
        assert res.window_end == format_ts(seg.end)
        # staged: every customer modified up to the segment's end (the bound is widened by a second)
        upto = sorted(parse_ts(c["date_modified"]) for c in stg_sandbox.customers())
        have = len(staged(stg_db))
        assert bisect_right(upto, seg.end) <= have <= bisect_right(upto, seg.end + 1), (i, have)
    assert staged(stg_db) == api_view(stg_sandbox)
    assert N <= extracted <= N * 11 // 10  # only the edge seconds of neighbouring segments twice
