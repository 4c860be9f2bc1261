"""``bc2people sync`` end to end: a real subprocess against both sandboxes, counts reconciled.

Each test owns its state, so they pass alone and in any order: the read-only checks share one
world after one full run (`synced`); a test that changes the store or adds runs gets a fresh
world of its own, fully synced first (`fresh`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fixtures_sync import CliResult, SyncWorld, started_sync_world


def _full_run(world: SyncWorld) -> CliResult:
    out = world.sync("--max-rejected-pct", "100")
    assert out.returncode == 0, out
    return out


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    """One full run on a new world; tests using it only read (no syncs, no store changes)."""
    with started_sync_world(tmp_path_factory.mktemp("synced")) as world:
        _full_run(world)
        yield world


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[SyncWorld]:
    """A world of this test's own, after one full run."""
    with started_sync_world(tmp_path) as world:
        _full_run(world)
        yield world


def _q(world: SyncWorld, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _runs(world: SyncWorld, *, via_cli: bool = False) -> list[dict[str, Any]]:
    """Run history, newest first: through `bc2people runs --json`, or read directly (cheaper)."""
    if via_cli:
        out = world.cli("runs", "--duckdb", str(world.duckdb), "--json")
        assert out.returncode == 0, out
        return json.loads(out.stdout)
    from bc2people.pipelines.reconcile import run_history

    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        return run_history(con, None)
    finally:
        con.close()


def _overall(world: SyncWorld, *, via_cli: bool = False) -> dict[str, int]:
    """The reconciliation counts: through `bc2people reconcile --json`, or read directly."""
    if via_cli:
        out = world.cli("reconcile", "--duckdb", str(world.duckdb), "--json")
        assert out.returncode == 0, out
        return json.loads(out.stdout)["overall"]
    from bc2people.pipelines.reconcile import reconcile_overall

    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        return reconcile_overall(con)
    finally:
        con.close()


def _upserts(world: SyncWorld) -> int:
    return sum(v for k, v in world.people.requests_served.items() if "upsert" in k)


def _people_persons_synced(world: SyncWorld) -> int:
    """Persons in the People sandbox that carry one of this store's externalIds."""
    return sum(1 for p in world.people.persons() if str(p.get("externalId", "")).startswith("bc-syncstore1-"))


def test_full_run_loads_everything_and_reconciles(synced: SyncWorld) -> None:
    w = synced
    out = w.runs[0]
    assert out.returncode == 0, out
    assert "success" in out.stdout and "extracted this run" in out.stdout

    runs = _runs(w)
    assert len(runs) == 1
    run = runs[0]
    store_size = len(w.bc.store.all())
    assert run["status"] == "success"
    assert run["extracted"] == store_size == run["staged"]
    assert run["mapped"] + run["rejected_by_mapping"] >= store_size - 1  # every customer went through mapping
    accepted = run["created"] + run["updated"] + run["not_modified"]
    assert accepted + run["rejected_by_people"] + run["failed"] == run["sent"]

    overall = _overall(w)
    assert overall["staged"] == overall["staged_active"] == store_size
    assert overall["staged_deleted"] == 0
    assert overall["pending"] == 0
    assert overall["accepted"] == _people_persons_synced(w) == accepted
    parts = overall["accepted"] + overall["pending"] + overall["rejected_by_mapping"] + overall["rejected_by_people"]
    assert parts == overall["staged_active"]


def test_incremental_run_sends_only_changes_and_finds_deletions(fresh: SyncWorld) -> None:
    w = fresh
    ids = sorted(c["id"] for c in w.bc.store.all())
    w.bc.clock.advance(120)
    for cid in ids[:6]:
        w.bc.update_customer(cid, company=f"Changed Co {cid}")
    for cid in ids[-2:]:
        w.bc.delete_customer(cid)
    for n in range(4):
        w.bc.create_customer(email=f"new.e2e{n}@example.com", first_name="New", last_name=f"Person{n}")
    w.bc.clock.advance(600)
    people_before = _people_persons_synced(w)

    out = w.sync("--sweep-deletions", "--max-rejected-pct", "100")
    assert out.returncode == 0, out

    run = _runs(w, via_cli=True)[0]
    assert run["status"] == "success"
    assert run["extracted"] == 10  # 6 changed + 4 new: the window holds nothing else
    assert run["deleted_in_store"] == 2
    assert run["created"] == 4
    assert run["updated"] == 6
    assert run["staged"] == len(ids) + 4  # deleted customers stay staged, marked
    assert _people_persons_synced(w) == people_before + 4

    overall = _overall(w, via_cli=True)
    assert overall["staged_active"] == len(w.bc.store.all())
    assert overall["staged_deleted"] == 2
    assert overall["pending"] == 0
    parts = overall["accepted"] + overall["pending"] + overall["rejected_by_mapping"] + overall["rejected_by_people"]
    assert parts == overall["staged_active"]
    # People still holds the deleted customers (the default mapping tags them, keeps them).
    deleted_people = _q(w, "SELECT count(*) FROM people_sync.customers_deleted_in_store WHERE people_id IS NOT NULL")
    assert overall["accepted"] + deleted_people[0][0] == _people_persons_synced(w)
    _assert_views_match_summary(w)


def test_unchanged_store_sends_nothing(fresh: SyncWorld) -> None:
    w = fresh
    upserts_before = _upserts(w)
    out = w.sync("--log-format", "json")
    assert out.returncode == 0, out
    summary = json.loads(out.stdout)  # machine-readable summary on stdout, JSON log lines on stderr
    logs = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    assert {"run started", "staged", "run finished"} <= {x["message"] for x in logs}
    assert all(x.get("run_id") == summary["run_id"] for x in logs if "run_id" in x)
    run = _runs(w)[0]
    assert run["run_id"] == summary["run_id"] and summary["status"] == "success"
    assert (run["extracted"], run["sent"]) == (0, 0)
    assert _upserts(w) == upserts_before


def test_runs_and_reconcile_tables_print(synced: SyncWorld) -> None:
    w = synced
    runs = w.cli("runs", "--duckdb", str(w.duckdb))
    assert runs.returncode == 0, runs
    history = _runs(w)
    assert len(history) == 1 and history[0]["run_id"] in runs.stdout
    assert runs.stdout.count("success") == len(history)
    rec = w.cli("reconcile", "--duckdb", str(w.duckdb))
    assert rec.returncode == 0, rec
    for label in ("staged in DuckDB", "accepted by People", "pending", "rejected by People", "never synced"):
        assert label in rec.stdout


def test_views_drill_down_match_summary(synced: SyncWorld) -> None:
    _assert_views_match_summary(synced)


def _assert_views_match_summary(w: SyncWorld) -> None:
    overall = _overall(w)
    checked = 0
    for view, key in (
        ("customers_accepted", "accepted"),
        ("customers_pending", "pending"),
        ("customers_rejected_by_mapping", "rejected_by_mapping"),
        ("customers_rejected_by_people", "rejected_by_people"),
        ("customers_never_synced", "never_synced"),
        ("customers_deleted_in_store", "staged_deleted"),
        ("customers_mapped", "mapped"),
    ):
        assert _q(w, f"SELECT count(*) FROM people_sync.{view}")[0][0] == overall[key], view
        checked += 1
    assert checked == 7 and overall["accepted"] > 0


@pytest.mark.parametrize("flag", ["--dry-run"])
def test_dry_run_sends_nothing(fresh: SyncWorld, flag: str) -> None:
    w = fresh
    w.bc.clock.advance(60)
    cid = sorted(c["id"] for c in w.bc.store.all())[10]
    w.bc.update_customer(cid, company="Dry Run Co")
    w.bc.clock.advance(600)
    before = _upserts(w)
    out = w.sync(flag)
    assert out.returncode == 0, out
    assert "Dry run" in out.stdout
    assert _upserts(w) == before
    run = _runs(w)[0]
    assert run["status"] == "dry_run"
