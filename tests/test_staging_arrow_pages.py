"""Customer pages staged as Arrow tables (`sources.bigcommerce.arrow_pages`) land exactly as
dlt's object path stores them: same columns, types and values, odd values included (a page
holding one goes the object path), on a fresh file and on a file the object path started."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from bc2people.pipelines.staging import stage_customers
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, nasty_customers
from bc2people.sources.bigcommerce.arrow_pages import BATCH_ROWS, TableBatch, declared_table
from tests.fixtures_staging import api_view
from tests.test_staging_incremental import staged

SKIP = ("_dlt_id", "_dlt_load_id")


@pytest.fixture(autouse=True)
def _customers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ORDERS", "false")


def _table(db: Path) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [(n, t) for n, t in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'bigcommerce' "
            "AND table_name = 'customers' ORDER BY ordinal_position").fetchall() if n not in SKIP]
        names = ", ".join(f'"{n}"' for n, _ in cols)
        rows = con.execute(f"SELECT {names} FROM bigcommerce.customers ORDER BY id").fetchall()
        nulls = con.execute("SELECT count(*) FROM bigcommerce.customers WHERE _dlt_id IS NULL "
                            "OR _dlt_load_id IS NULL").fetchone()
        assert nulls == (0,)
    finally:
        con.close()
    return cols, rows


def _odd_page(rnd: random.Random, start_id: int) -> list[dict[str, Any]]:
    rows = generate_customers(30, seed=rnd.randrange(10**6), start_id=start_id)
    for c in rows:
        c.pop("segment_ids", None), c.pop("shopper_profile_id", None)
    return rows


def test_arrow_pages_stage_what_the_object_path_stages(stg_sandbox: BigCommerceSandbox, tmp_path: Path,
                                                         stg_source: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    stg_sandbox.add_customers(generate_customers(1500, seed=31))
    stg_sandbox.add_customers(nasty_customers(40, seed=31, start_id=5000))
    via_dicts = tmp_path / "dicts.duckdb"
    via_arrow = tmp_path / "arrow.duckdb"
    a = stage_customers(via_dicts, **stg_source, arrow_pages=False)
    with caplog.at_level(logging.INFO, logger="dlt"):
        b = stage_customers(via_arrow, **stg_source)
    # dlt's per-page note that json columns travel as text (by design) is not logged
    assert not [r for r in caplog.records if "when merging arrow schema" in r.getMessage()]
    assert a.extracted == b.extracted == 1540
    assert a.object_pages == a.pages and 0 < b.object_pages < b.pages  # only pages with a nasty customer
    assert _table(via_arrow) == _table(via_dicts)
    plain = {k: v for k, v in api_view(stg_sandbox).items() if k < 5000}  # dlt coerces a nasty int name to text
    assert {k: v for k, v in staged(via_arrow).items() if k < 5000} == plain


def test_a_file_staged_by_the_object_path_takes_arrow_pages(stg_sandbox: BigCommerceSandbox, tmp_path: Path,
                                                              stg_source: dict[str, Any]) -> None:
    """An existing user's file (staged before Arrow pages) keeps its columns and takes new pages."""
    stg_sandbox.add_customers(generate_customers(600, seed=32))
    old, fresh = tmp_path / "old.duckdb", tmp_path / "fresh.duckdb"
    stage_customers(old, **stg_source, arrow_pages=False)
    stage_customers(fresh, **stg_source, arrow_pages=False)
    stg_sandbox.clock.advance(60)
    for cid in range(1, 600, 7):
        stg_sandbox.update_customer(cid, first_name=f"Changed {cid}", notes="now\nwith\tlines")
    stg_sandbox.clock.advance(3600)  # past the lag
    assert stage_customers(old, **stg_source).object_pages == 0
    stage_customers(fresh, **stg_source, arrow_pages=False)
    assert _table(old) == _table(fresh)
    assert staged(old) == api_view(stg_sandbox)


def test_pages_arrow_cannot_hold_are_refused() -> None:
    base = generate_customers(3, seed=33)
    for c in base:
        c.pop("segment_ids", None), c.pop("shopper_profile_id", None)
    assert declared_table(base) is not None
    odd: list[tuple[str, Any]] = [("customer_group_id", "7"), ("customer_group_id", True), ("customer_group_id", 2**70),
                                  ("customer_group_id", 7.5), ("origin_channel_id", 1.0),
                                  ("first_name", 5), ("accepts_product_review_abandoned_cart_emails", 1),
                                  ("date_modified", "2024-05-14"), ("date_modified", 1715679240), ("addresses", "[]"),
                                  ("channel_ids", 3), ("unknown_field", "x"), ("notes", "lone \ud800 surrogate")]
    for field, value in odd:
        page = [dict(c) for c in base]
        page[1][field] = value
        assert declared_table(page) is None, (field, value)


def test_the_setting_switches_arrow_pages_off(stg_sandbox: BigCommerceSandbox, tmp_path: Path,
                                               stg_source: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    stg_sandbox.add_customers(generate_customers(600, seed=34))
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ARROW_PAGES", "false")
    res = stage_customers(tmp_path / "off.duckdb", **stg_source)
    assert res.pages >= 3 and res.object_pages == res.pages


def test_pages_go_to_dlt_in_batches_that_keep_every_row_in_order() -> None:
    batch = TableBatch(500)
    pages = [pa.table({"id": list(range(i * 250, i * 250 + n)), "x": ["a"] * n}) for i, n in enumerate((250, 120, 250, 10))]
    assert batch.add(pages[0]) == [] and batch.add(pages[1]) == []
    (first,) = batch.add(pages[2])  # 620 rows held: handed on as one table
    assert first.column("id").to_pylist() == list(range(0, 370)) + list(range(500, 750))
    assert batch.flush() == []
    assert batch.add(pages[3]) == []
    (rest,) = batch.flush()  # the window's end hands on what is left
    assert rest.column("id").to_pylist() == list(range(750, 760))
    other = pa.table({"id": [1], "y": [2]})
    batch.add(pages[3])
    assert batch.add(other) == []
    (both,) = batch.flush()  # a column one table lacks is null in its rows
    assert both.to_pylist()[-2:] == [{"id": 759, "x": "a", "y": None}, {"id": 1, "x": None, "y": 2}]
    clash = pa.table({"id": [2], "x": [3]})
    batch.add(pages[3])
    assert batch.add(clash) == []
    assert batch.flush() == [pages[3], clash]  # tables that do not concatenate go as they came


def test_a_window_bigger_than_a_batch_is_staged_whole(stg_sandbox: BigCommerceSandbox, tmp_path: Path,
                                                       stg_source: dict[str, Any]) -> None:
    """More customers than a batch: full batches go mid-window, the remainder at its end."""
    n = BATCH_ROWS + 600
    stg_sandbox.add_customers(generate_customers(n, seed=35))
    db = tmp_path / "batched.duckdb"
    res = stage_customers(db, **stg_source)
    assert res.extracted == n and res.object_pages == 0
    assert staged(db) == api_view(stg_sandbox)
    con = duckdb.connect(str(db), read_only=True)
    try:
        loads = con.execute("SELECT count(DISTINCT _dlt_id), count(DISTINCT _dlt_load_id) FROM bigcommerce.customers").fetchone()
    finally:
        con.close()
    assert loads == (n, 1)


@pytest.mark.parametrize("arrow", [True, False])
def test_a_segment_drops_what_the_one_before_staged_from_its_edge_and_passes_its_own_on(arrow: bool) -> None:
    from bc2people.sources.bigcommerce.arrow_pages import PagePreparer
    from bc2people.sources.bigcommerce.helpers import format_ts

    t = 1_800_000_000
    rows = generate_customers(6, seed=31)
    for c, second in zip(rows, (t - 3, t - 1, t, t, t + 1, t + 1), strict=True):
        c["date_modified"] = format_ts(second)
    before = PagePreparer(arrow, edge_from=t - 1)  # a window ending at t, read up to t + 1
    page = before(rows)
    assert page.count == 6
    assert set(before.edge) == {2, 3, 4, 5, 6}  # from t - 1 on: what the next window reads again

    changed = dict(rows[3], date_modified=format_ts(t + 2), first_name="Changed")  # a newer version
    after = PagePreparer(arrow, staged_before=before.edge, edge_from=t + 1)  # a window of t .. t + 2
    page = after([rows[1], rows[2], changed, rows[4], rows[5]])
    assert page.count == 1 and after.staged_before_dropped == 4
    kept = page.table.to_pylist() if page.table is not None else page.rows
    assert kept is not None and [(r["id"], r["first_name"]) for r in kept] == [(4, "Changed")]
    # the dropped rows from t + 1 are read again by the window after: they are passed on too
    assert after.edge == {2: rows[1]["date_modified"], 3: rows[2]["date_modified"],
                          4: changed["date_modified"], 5: rows[4]["date_modified"], 6: rows[5]["date_modified"]}
