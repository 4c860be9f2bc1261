"""Staging end to end against the sandbox: complete, incremental, loss-free, API-shaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.staging import STAGING_DATASET, iter_staged_customers, make_pipeline, stage_customers
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.http import Request
from bc2people.sources.bigcommerce.helpers import format_ts
from tests.fixtures_staging import api_view

FULL_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CUSTOMERS = "/v3/customers"


@pytest.fixture(params=["inclusive", "strict"])
def bounds(request: pytest.FixtureRequest, stg_sandbox: BigCommerceSandbox) -> Iterator[str]:
    """The loss-free tests run against both readings of ``date_modified:min/max`` (issue 14)."""
    stg_sandbox.strict_date_bounds = request.param == "strict"
    try:
        yield request.param
    finally:
        stg_sandbox.strict_date_bounds = False


def staged(db: Path, ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    con = duckdb.connect(str(db))
    try:
        return {c["id"]: c for c in iter_staged_customers(con, customer_ids=ids)}
    finally:
        con.close()


def load_ids(db: Path) -> dict[int, str]:
    con = duckdb.connect(str(db))
    try:
        return dict(con.execute(f"SELECT id, _dlt_load_id FROM {STAGING_DATASET}.customers").fetchall())
    finally:
        con.close()


def test_first_run_loads_everything_in_the_api_shape_and_a_second_run_loads_nothing_new(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(700, seed=3))
    seen: list[dict[str, Any]] = []
    first = stage_customers(stg_db, progress=seen.append, **stg_source)
    assert first.extracted == 700 and first.window_start is None
    assert first.window_end == format_ts(stg_sandbox.clock.now() - 60)
    assert first.load_id is not None and first.requests >= first.pages >= 3
    assert staged(stg_db) == api_view(stg_sandbox)  # exactly what the API returns
    assert seen and seen[-1] == {"phase": "extract", "pages": first.pages, "records": 700, "total": 700}

    before = load_ids(stg_db)
    stg_sandbox.clock.advance(3600)
    second = stage_customers(stg_db, **stg_source)
    assert second.extracted == 0 and second.pages <= 1
    assert second.window_start == format_ts(stg_sandbox.clock.now() - 3600 - 60 - 300)
    assert load_ids(stg_db) == before  # no row was rewritten


def test_window_is_sent_as_full_utc_datetimes_with_sort_include_and_limit(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(30, seed=4))
    queries: list[dict[str, str]] = []
    stg_sandbox.on_request = lambda req: queries.append(req.query) if req.path.endswith(CUSTOMERS) else None
    stage_customers(stg_db, **stg_source)
    stg_sandbox.clock.advance(10)
    stage_customers(stg_db, **stg_source)
    assert len(queries) == 2
    for q in queries:
        assert q["include"] == "addresses,storecredit,attributes,formfields"
        assert q["limit"] == "250" and q["sort"] == "date_modified:asc"
        assert FULL_UTC.match(q["date_modified:max"])
    assert "date_modified:min" not in queries[0] and FULL_UTC.match(queries[1]["date_modified:min"])


def test_customers_modified_while_a_run_is_paging_are_not_skipped(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any], bounds: str
) -> None:
    stg_sandbox.add_customers(generate_customers(1000, seed=5))
    source = {**stg_source, "max_workers": 1, "lag_seconds": 0, "lookback_seconds": 0}
    calls = {"n": 0}

    def mutate(req: Request) -> None:
        if not req.path.endswith(CUSTOMERS):
            return
        calls["n"] += 1
        if calls["n"] == 3:  # mid-run: pages 1-2 read, pages 3-4 not yet
            stg_sandbox.update_customer(10, first_name="Changed-early")  # already read
            stg_sandbox.update_customer(990, first_name="Changed-late")  # not read yet
            stg_sandbox.clock.advance(1)
            stg_sandbox.update_customer(600, first_name="Changed-later")

    stg_sandbox.on_request = mutate
    first = stage_customers(stg_db, **source)
    stg_sandbox.on_request = None
    assert calls["n"] >= 4
    rows = staged(stg_db)
    # Everyone not touched mid-run is there; touched ones moved past the window end (or equal it).
    assert set(rows) >= set(range(1, 1001)) - {10, 600, 990}
    stg_sandbox.clock.advance(5)
    second = stage_customers(stg_db, **source)
    assert second.window_start == first.window_end  # lookback 0: the boundary second is re-read
    assert staged(stg_db) == api_view(stg_sandbox)
    assert {rows_id["first_name"] for rows_id in staged(stg_db, [10, 600, 990]).values()} == {
        "Changed-early", "Changed-late", "Changed-later"
    }


def test_customers_sharing_one_second_across_page_boundaries_are_all_loaded(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any], bounds: str
) -> None:
    now = stg_sandbox.clock.now()
    same = format_ts(now - 120)
    bulk = generate_customers(620, seed=6)
    for c in bulk:
        c["date_modified"] = same
    stg_sandbox.add_customers(bulk)
    first = stage_customers(stg_db, **{**stg_source, "lag_seconds": 120, "lookback_seconds": 0})
    assert first.extracted == 620 and first.pages == 3
    # More customers land in the very second the first window ended on.
    late = generate_customers(300, seed=7, start_id=2001)
    for c in late:
        c["date_modified"] = same
    stg_sandbox.add_customers(late)
    stg_sandbox.clock.advance(30)
    second = stage_customers(stg_db, **{**stg_source, "lag_seconds": 0, "lookback_seconds": 0})
    assert second.window_start == same
    assert staged(stg_db) == api_view(stg_sandbox) and len(staged(stg_db)) == 920


def test_big_windows_are_split_into_slices_read_concurrently(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any], bounds: str
) -> None:
    stg_sandbox.add_customers(generate_customers(2500, seed=8))
    served: list[dict[str, str]] = []
    stg_sandbox.on_request = lambda req: served.append(req.query) if req.path.endswith(CUSTOMERS) else None
    res = stage_customers(stg_db, **{**stg_source, "max_workers": 4, "split_pages": 2})
    assert res.extracted == 2500
    assert staged(stg_db) == api_view(stg_sandbox)
    windows = {(q.get("date_modified:min"), q["date_modified:max"]) for q in served}
    assert len(windows) >= 4  # the window was cut into slices
    assert res.requests <= res.pages + 2 * len(windows) + 1  # few requests wasted on planning


def test_full_refresh_rereads_everything_and_merges(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(300, seed=9))
    stage_customers(stg_db, **stg_source)
    stg_sandbox.clock.advance(100)
    again = stage_customers(stg_db, full_refresh=True, **stg_source)
    assert again.extracted == 300 and again.window_start is None
    assert len(load_ids(stg_db)) == 300
    # The cursor moved on: an ordinary run after it reads only the lookback.
    stg_sandbox.clock.advance(100)
    assert stage_customers(stg_db, **stg_source).extracted == 0


def test_cursor_lives_in_dlt_state_and_survives_a_lost_pipelines_dir(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    import shutil

    from bc2people.pipelines.paths import pipelines_dir_for

    stg_sandbox.add_customers(generate_customers(50, seed=10))
    first = stage_customers(stg_db, **stg_source)
    state = make_pipeline(stg_db).state["sources"]["bigcommerce"]["resources"]["customers"]
    assert state["last_window_end"] == first.window_end
    shutil.rmtree(pipelines_dir_for(stg_db))
    stg_sandbox.clock.advance(10)
    second = stage_customers(stg_db, **stg_source)  # state restored from DuckDB
    assert second.window_start == format_ts(stg_sandbox.clock.now() - 10 - 60 - 300)


def test_the_access_token_is_stored_nowhere_beside_the_database(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    from tests.fixtures_staging import STG_TOKEN

    stg_sandbox.add_customers(generate_customers(10, seed=24))
    res = stage_customers(stg_db, **stg_source)
    assert res.extracted == 10
    files = [p for p in stg_db.parent.rglob("*") if p.is_file()]
    assert stg_db in files and len(files) > 3  # the database and dlt's working files
    for path in files:
        assert STG_TOKEN.encode() not in path.read_bytes(), path


def test_customers_appended_twice_by_a_killed_run_keep_one_row_each_the_newest(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    # A first sync appends its segments; a kill can leave a copy of them twice (a load cut after
    # a file was copied, before dlt noted it). The next nightly staging keeps one row per id,
    # the newest, before its own load.
    stg_sandbox.add_customers(generate_customers(300, seed=21))
    assert stage_customers(stg_db, append=True, **stg_source).extracted == 300
    stg_sandbox.clock.advance(120)
    stg_sandbox.update_customer(7, first_name="Changed-after-first")
    stg_sandbox.clock.advance(1200)  # past the nightly run's lookback: it does not read customer 7 again
    assert stage_customers(stg_db, append=True, full_refresh=True, **stg_source).extracted == 300

    def counts() -> tuple[Any, ...] | None:
        con = duckdb.connect(str(stg_db))
        try:
            return con.execute(f"SELECT count(*), count(DISTINCT id), count(DISTINCT _dlt_load_id) "
                               f"FROM {STAGING_DATASET}.customers").fetchone()
        finally:
            con.close()

    assert counts() == (600, 300, 2)  # what the kill left: every customer staged twice
    stg_sandbox.clock.advance(120)
    nightly = stage_customers(stg_db, **stg_source)
    assert nightly.extracted == 0
    assert counts() == (300, 300, 1)  # every kept row is the second load's
    assert staged(stg_db) == api_view(stg_sandbox)
    assert staged(stg_db, [7])[7]["first_name"] == "Changed-after-first"
