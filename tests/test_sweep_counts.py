"""The counting deletion sweep finds exactly what the full walk finds, for far fewer requests.

Each test stages a store into a real DuckDB table (id, dates, ``_deleted_at``, as staging
keeps them), changes the store, then runs `find_deletions` and the full walk against the
same sandbox over HTTP and compares both with the truth (staged ids the store lacks).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers
from bc2people.sources.bigcommerce import make_client
from bc2people.sources.bigcommerce.helpers import parse_ts
from bc2people.sources.bigcommerce.sweep_counts import StagedCustomers, find_deletions, load_staged_customers
from tests.fixtures_staging import STG_STORE, STG_TOKEN

N = 40_000


def _client(sb: BigCommerceSandbox) -> Any:
    return make_client(STG_STORE, STG_TOKEN, sb.base_url, max_attempts=2, backoff_base=0.01, backoff_max=0.02)


def _stage(db: Path, customers: list[dict[str, Any]], swept: set[int] = frozenset()) -> StagedCustomers:  # type: ignore[assignment]
    """Write what staging keeps of ``customers`` into a real DuckDB file and read it back."""
    table = pa.table({
        "id": pa.array([c["id"] for c in customers], pa.int64()),
        "date_created": pa.array([parse_ts(c["date_created"]) for c in customers], pa.int64()),
        "date_modified": pa.array([parse_ts(c["date_modified"]) for c in customers], pa.int64()),
        "gone": pa.array([c["id"] in swept for c in customers], pa.bool_()),
    })
    con = duckdb.connect(str(db))
    try:
        con.register("src", table)
        con.execute("CREATE SCHEMA IF NOT EXISTS bigcommerce")
        con.execute(
            "CREATE OR REPLACE TABLE bigcommerce.customers AS SELECT id, to_timestamp(date_created) AS date_created, "
            "to_timestamp(date_modified) AS date_modified, "
            "CASE WHEN gone THEN to_timestamp(1) END AS _deleted_at FROM src"
        )
        return load_staged_customers(con, "bigcommerce", "customers")
    finally:
        con.close()


def _truth(sb: BigCommerceSandbox, staged: StagedCustomers) -> tuple[set[int], set[int]]:
    present = {c["id"] for c in sb.customers()}
    return {i for i in staged.ids if i not in present}, {i for i in staged.swept if i in present}


@pytest.fixture
def store(stg_sandbox: BigCommerceSandbox) -> list[dict[str, Any]]:
    people = generate_customers(N, seed=61)
    stg_sandbox.add_customers(people)
    return people


@pytest.mark.parametrize("strict_bounds", [False, True], ids=["inclusive-bounds", "strict-bounds"])
def test_counting_finds_what_the_walk_finds_random_edges_and_customers_created_meanwhile(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path, strict_bounds: bool
) -> None:
    sb = stg_sandbox
    sb.strict_date_bounds = strict_bounds
    staged = _stage(tmp_path / "s.duckdb", store)
    by_created = sorted(store, key=lambda c: (parse_ts(c["date_created"]), c["id"]))
    # Range edges: the oldest and newest customers, and both sides of the first cuts
    # (quarters of the staged customers).
    edges = {by_created[0]["id"], by_created[-1]["id"]}
    for q in range(1, 4):
        i = q * len(by_created) // 4
        edges |= {by_created[i]["id"], by_created[i - 1]["id"]}
    rng = random.Random(7)
    gone = edges | set(rng.sample([c["id"] for c in store], 4))
    sb.store.delete(gone)
    made: list[int] = []

    def meanwhile(req: Any) -> None:  # customers created (and one deleted) while the sweep runs
        if req.path.endswith("/v3/customers") and len(made) < 3:
            made.append(sb.create_customer(email=f"new{len(made)}@example.com", first_name="N", last_name="W")["id"])

    sb.on_request = meanwhile
    counted = find_deletions(_client(sb), staged)
    sb.on_request = None
    walked = find_deletions(_client(sb), staged, force_walk=True)
    deleted, returned = _truth(sb, staged)
    assert deleted == gone and made
    assert counted.method == "counts", counted.reason
    assert (counted.deleted, counted.returned) == (walked.deleted, walked.returned) == (deleted, returned)
    assert walked.requests == -(-(N - len(gone) + len(made)) // 250)
    assert counted.requests < walked.requests


def test_a_deletion_beside_a_customer_the_staging_lacks_is_still_found(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An unstaged customer (changed after the staged window) would hide a deletion in the
    same date_created range if counts were compared raw: the `recent` listing prevents it."""
    sb = stg_sandbox
    victim = store[5000]
    unstaged = store[5001]  # same neighbourhood of date_created, left out of the staging
    staged = _stage(tmp_path / "s.duckdb", [c for c in store if c["id"] != unstaged["id"]])
    sb.store.delete([victim["id"]])
    sb.update_customer(unstaged["id"], first_name="Later")  # date_modified = the store clock
    edited = store[9000]["id"]
    sb.update_customer(edited, last_name="Edited")  # staged, changed since: listed, not deleted
    found = find_deletions(_client(sb), staged)
    assert found.method == "counts", found.reason
    assert found.deleted == {victim["id"]} and found.returned == set()


def test_swept_customers_that_came_back_are_returned(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    sb = stg_sandbox
    swept = {store[100]["id"], store[7000]["id"], store[7001]["id"]}
    staged = _stage(tmp_path / "s.duckdb", store, swept=swept)
    sb.store.delete([store[7001]["id"], store[3000]["id"]])  # one stays gone, one new deletion
    found = find_deletions(_client(sb), staged)
    assert found.method == "counts", found.reason
    assert found.returned == {store[100]["id"], store[7000]["id"]}
    assert found.deleted == {store[3000]["id"]}


def test_many_deletions_walk_and_cost_exactly_the_walk(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    sb = stg_sandbox
    staged = _stage(tmp_path / "s.duckdb", store)
    gone = set(random.Random(3).sample([c["id"] for c in store], 1000))
    sb.store.delete(gone)
    found = find_deletions(_client(sb), staged)
    assert found.method == "walk" and "differ" in found.reason
    assert found.deleted == gone
    assert found.requests == -(-(N - len(gone)) // 250)  # the walk's own pages, nothing before


def test_nothing_changed_costs_a_handful_of_requests(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    staged = _stage(tmp_path / "s.duckdb", store)
    found = find_deletions(_client(stg_sandbox), staged)
    assert found.method == "counts" and found.deleted == set() == found.returned
    assert found.requests <= 4  # first page, bounds probe, recent changes, one count


def test_a_second_holding_more_than_a_page_is_listed_page_by_page(
    stg_sandbox: BigCommerceSandbox, tmp_path: Path
) -> None:
    """A bulk import gives many customers the same date_created second: that range cannot be
    cut, so the sweep lists it (cursor pages) and still finds the deletion inside it."""
    people = generate_customers(N, seed=62)
    same = people[20_000]["date_created"]
    for c in people[20_000:20_600]:
        c["date_created"] = same
    stg_sandbox.add_customers(people)
    staged = _stage(tmp_path / "s.duckdb", people)
    gone = {people[20_300]["id"], people[5]["id"]}
    stg_sandbox.store.delete(gone)
    seen: list[dict[str, str]] = []
    stg_sandbox.on_request = lambda req: seen.append(dict(req.query))
    found = find_deletions(_client(stg_sandbox), staged, workers=1)
    assert found.method == "counts", found.reason
    assert found.deleted == gone
    # the crowded second was listed over several cursor pages, under a date_created range
    assert any("after" in q and "date_created:min" in q for q in seen)


def test_the_recent_listing_starts_at_the_committed_window_less_the_lookback(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Last night's 600 changes share the newest staged second; tonight's window end is an hour
    later. Listing from the window end less the lookback reads one page, not those 600 again,
    and a deletion and a customer created since are still told apart."""
    sb = stg_sandbox
    for c in store[10_000:10_600]:
        sb.update_customer(c["id"], last_name="Yesterday")  # one second of store time
    sb.clock.advance(3600)
    window_end = int(sb.clock.now()) - 60
    staged = _stage(tmp_path / "s.duckdb", sb.customers())
    staged.changes_from = window_end - 300
    victim = store[10_100]["id"]
    sb.store.delete([victim])
    sb.create_customer(email="tonight@example.com", first_name="T", last_name="N")
    seen: list[dict[str, str]] = []
    sb.on_request = lambda req: seen.append(dict(req.query))
    found = find_deletions(_client(sb), staged)
    sb.on_request = None
    assert found.method == "counts", found.reason
    assert found.deleted == {victim} and found.returned == set()
    listing = [q for q in seen if "date_modified:min" in q]
    assert len(listing) == 1 and "after" not in listing[0]
    # the same sweep from the newest staged second lists last night's changes again
    staged.changes_from = None
    again = find_deletions(_client(sb), staged)
    assert again.deleted == {victim}
    assert again.requests >= found.requests + 2


def test_a_staged_date_created_that_is_not_the_stores_costs_requests_never_a_false_deletion(
    stg_sandbox: BigCommerceSandbox, store: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The counts rest on date_created never changing. When the staged value is not the
    store's (for 50 customers, the date of a customer created long before), their ranges differ and the counts call them
    gone; asked for by id, they are found, reported as ``moved`` and not deleted, and the
    two real deletions are still found."""
    sb = stg_sandbox
    shifted = {c["id"] for c in store[12_000:12_050]}
    early = store[100]["date_created"]
    staged_view = [dict(c, date_created=early) if c["id"] in shifted else c for c in store]
    staged = _stage(tmp_path / "s.duckdb", staged_view)
    gone = {store[3_000]["id"], store[30_000]["id"]}
    sb.store.delete(gone)
    found = find_deletions(_client(sb), staged)
    walked = find_deletions(_client(sb), staged, force_walk=True)
    assert found.method == "counts", found.reason
    assert found.deleted == walked.deleted == gone
    assert found.moved == shifted
    assert found.requests < walked.requests
