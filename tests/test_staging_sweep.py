"""Deletion sweep: marks staged customers the store lost, unmarks those that came back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from bc2people.pipelines.staging import STAGING_DATASET, stage_customers, sweep_deletions
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from tests.fixtures_staging import api_view
from tests.test_staging_incremental import CUSTOMERS, staged


def test_sweep_marks_deleted_customers_keeps_their_rows_and_unmarks_returns(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    people = generate_customers(600, seed=21)
    stg_sandbox.add_customers(people)
    stage_customers(stg_db, **stg_source)
    gone = [3, 250, 251, 599]
    for cid in gone:
        stg_sandbox.delete_customer(cid)
    queries: list[dict[str, str]] = []
    stg_sandbox.on_request = lambda req: queries.append(req.query) if req.path.endswith(CUSTOMERS) else None

    client_keys = {k: v for k, v in stg_source.items() if k != "max_workers"}
    assert sweep_deletions(stg_db, **client_keys) == 4
    # The cheapest walk: no sub-resources, full pages, cursor paging in id order.
    assert len(queries) == 3 and all("include" not in q and q["limit"] == "250" for q in queries)
    assert "after" not in queries[0] and all("after" in q for q in queries[1:])

    rows = staged(stg_db)
    assert len(rows) == 600  # nothing removed
    assert {cid for cid, r in rows.items() if "_deleted_at" in r} == set(gone)
    assert rows[3]["_deleted_at"].endswith("Z")
    assert {k: v for k, v in rows[4].items()} == api_view(stg_sandbox, [4])[4]
    assert sweep_deletions(stg_db, **client_keys) == 0  # already marked: not counted twice

    # One comes back (e.g. restored); the next sweep clears its mark.
    stg_sandbox.add_customers([c for c in people if c["id"] == 250])
    res = stage_customers(stg_db, sweep_deletions=True, **stg_source)
    assert res.deleted_marked == 0 and res.undeleted == 1
    rows = staged(stg_db)
    assert {cid for cid, r in rows.items() if "_deleted_at" in r} == {3, 251, 599}
    con = duckdb.connect(str(stg_db))
    try:
        n = con.execute(f"SELECT count(*) FROM {STAGING_DATASET}.customers WHERE _deleted_at IS NOT NULL").fetchone()
    finally:
        con.close()
    assert n == (3,)


def test_a_customer_merged_again_after_being_marked_is_no_longer_deleted(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(20, seed=22))
    stage_customers(stg_db, **stg_source)
    original = stg_sandbox.customer(7)
    assert original is not None
    stg_sandbox.delete_customer(7)
    assert stage_customers(stg_db, sweep_deletions=True, **stg_source).deleted_marked == 1
    stg_sandbox.add_customers([original])
    stg_sandbox.update_customer(7, first_name="Back")
    stg_sandbox.clock.advance(120)
    stage_customers(stg_db, **stg_source)  # re-staged by the incremental read, no sweep
    row = staged(stg_db, [7])[7]
    assert row["first_name"] == "Back" and "_deleted_at" not in row


def test_sweep_before_anything_was_staged_marks_nothing(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(3, seed=23))
    client_keys = {k: v for k, v in stg_source.items() if k != "max_workers"}
    assert sweep_deletions(stg_db, **client_keys) == 0


def test_a_listing_that_would_delete_most_customers_is_refused_and_marks_nothing(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    import pytest

    from bc2people.sources.bigcommerce.helpers import BigCommerceError

    stg_sandbox.add_customers(generate_customers(40, seed=26))
    stage_customers(stg_db, **stg_source)
    for cid in range(1, 31):
        stg_sandbox.delete_customer(cid)
    client_keys = {k: v for k, v in stg_source.items() if k != "max_workers"}
    with pytest.raises(BigCommerceError, match="refused") as err:
        sweep_deletions(stg_db, **client_keys)
    assert err.value.exit_code == 1
    assert not any("_deleted_at" in r for r in staged(stg_db).values())
    assert sweep_deletions(stg_db, max_deleted_fraction=1.0, **client_keys) == 30


def test_a_nightly_sweep_lists_changes_from_the_committed_window_not_last_nights_second(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    """The sweep of a staging run starts its listing of recent changes at the cursor that run
    committed, less the lookback: last night's bulk update (600 customers in one second, staged
    last night) is not read again, and tonight's deletion is still marked."""
    sb = stg_sandbox
    sb.add_customers(generate_customers(12_000, seed=24))  # counting beats a 48-page walk
    stage_customers(stg_db, **stg_source)
    for cid in range(100, 700):
        sb.update_customer(cid, last_name="Bulk")
    sb.clock.advance(3600)
    assert stage_customers(stg_db, **stg_source).extracted == 600
    sb.clock.advance(3600)
    sb.delete_customer(1_500)
    recent: list[dict[str, str]] = []
    sb.on_request = lambda req: recent.append(req.query) if (
        req.path.endswith(CUSTOMERS) and "date_modified:min" in req.query and "date_modified:max" not in req.query
    ) else None
    res = stage_customers(stg_db, sweep_deletions=True, **stg_source)
    sb.on_request = None
    assert res.extracted == 0 and res.deleted_marked == 1
    assert len(recent) == 1 and "after" not in recent[0]  # one page: nothing changed since the window
    assert {cid for cid, r in staged(stg_db).items() if "_deleted_at" in r} == {1_500}


def test_customers_counted_under_a_wrong_staged_date_are_not_marked_and_are_named(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any], caplog: Any
) -> None:
    """Three staged rows carry a date_created the store does not (here: rewritten in the file):
    the counting sweep calls them gone, asks for them by id, marks nothing and warns, naming them."""
    import logging

    stg_sandbox.add_customers(generate_customers(5000, seed=27))
    stage_customers(stg_db, **stg_source)
    con = duckdb.connect(str(stg_db))
    try:
        con.execute(f"UPDATE {STAGING_DATASET}.customers SET date_created = TIMESTAMPTZ '2001-01-01 00:00:00+00' "
                    "WHERE id IN (4000, 4001, 4002)")
    finally:
        con.close()
    stg_sandbox.delete_customer(17)
    client_keys = {k: v for k, v in stg_source.items() if k != "max_workers"}
    with caplog.at_level(logging.WARNING, logger="bc2people"):
        assert sweep_deletions(stg_db, **client_keys) == 1
    assert {cid for cid, r in staged(stg_db).items() if "_deleted_at" in r} == {17}
    warned = [r.getMessage() for r in caplog.records if "found by id" in r.getMessage()]
    assert len(warned) == 1 and "3 customer(s)" in warned[0] and "4000, 4001, 4002" in warned[0]
