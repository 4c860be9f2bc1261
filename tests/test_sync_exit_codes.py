"""Exit codes a scheduler acts on: 2 (mapping/configuration), 3 (too many rejects), 1 (failure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fixtures_sync import MAPPING, SyncWorld, base_env


def _requests(world: SyncWorld) -> int:
    return sum(world.bc.requests_served.values()) + sum(world.people.requests_served.values())


def _runs(world: SyncWorld) -> list[dict[str, Any]]:
    """Run history, newest first (read directly; the CLI's `runs` is tested in test_sync_e2e)."""
    if not world.duckdb.exists():
        return []
    from bc2people.pipelines.reconcile import run_history

    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        return run_history(con, None)
    finally:
        con.close()


def test_bad_mapping_exits_2_before_any_request(sync_world: SyncWorld, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nfields:\n  - to: firstName\n    from: $.first_name[\n", encoding="utf-8")
    before, runs_before = _requests(sync_world), len(_runs(sync_world))
    out = sync_world.cli("sync", "--mapping", str(bad), "--duckdb", str(sync_world.duckdb), "--no-progress")
    assert out.returncode == 2, out
    assert "bad.yaml" in out.stderr
    assert "Traceback" not in out.stderr
    assert _requests(sync_world) == before
    assert len(_runs(sync_world)) == runs_before  # nothing recorded: the run never started


def test_missing_mapping_file_exits_2(sync_world: SyncWorld, tmp_path: Path) -> None:
    out = sync_world.cli("sync", "--mapping", str(tmp_path / "nope.yaml"), "--duckdb", str(sync_world.duckdb))
    assert out.returncode == 2, out
    assert "nope.yaml" in out.stderr


def test_missing_configuration_exits_2_naming_env_var_and_toml_key(sync_world: SyncWorld) -> None:
    env = base_env(sync_world.workdir)
    env["SOURCES__BIGCOMMERCE__API_BASE_URL"] = sync_world.bc.base_url
    before = _requests(sync_world)
    out = sync_world.sync(env=env)
    assert out.returncode == 2, out
    for name in (
        "SOURCES__BIGCOMMERCE__STORE_HASH",
        "SOURCES__BIGCOMMERCE__ACCESS_TOKEN",
        "DESTINATION__PEOPLE__BASE_URL",
        "DESTINATION__PEOPLE__API_KEY",
        "[sources.bigcommerce]",
        "[destination.people]",
        ".dlt/secrets.toml",
    ):
        assert name in out.stderr, name
    assert "SOURCES__BIGCOMMERCE__API_BASE_URL" not in out.stderr  # set, and has a default anyway
    assert _requests(sync_world) == before


def test_dry_run_needs_no_people_settings(sync_world: SyncWorld) -> None:
    env = {k: v for k, v in sync_world.env.items() if not k.startswith("DESTINATION__")}
    out = sync_world.sync("--dry-run", env=env)
    assert out.returncode == 0, out
    assert _runs(sync_world)[0]["status"] == "dry_run"


def test_rejections_over_threshold_exit_3(sync_world: SyncWorld) -> None:
    w = sync_world
    first = w.sync("--max-rejected-pct", "100")
    assert first.returncode == 0, first
    # Two new customers give phone numbers People already holds for other persons: People
    # refuses them (409100); two more are fine. 2 of 4 rejected = 50% > the default 1%.
    phones = [
        c["identifier"]
        for p in w.people.persons()
        for c in p.get("contactInformation", [])
        if c.get("type") == "PHONE"
    ][:2]
    assert len(phones) == 2
    w.bc.clock.advance(60)
    for n in range(4):
        extra = {"phone": "+" + phones[n]} if n < 2 else {}
        w.bc.create_customer(email=f"exit3.{n}@example.com", first_name="Exit", last_name=f"Three{n}", **extra)
    w.bc.clock.advance(600)
    out = w.sync()
    assert out.returncode == 3, out
    run = _runs(w)[0]
    assert run["status"] == "rejected_threshold"
    assert (run["mapped"], run["rejected_by_people"], run["created"]) == (4, 2, 2)
    assert "rejected_threshold" in out.stdout and "50.00%" in out.stdout
    con = duckdb.connect(str(w.duckdb), read_only=True)
    try:
        codes = con.execute("SELECT error_code, count(*) FROM people_sync.customers_rejected_by_people GROUP BY 1").fetchall()
    finally:
        con.close()
    assert ("409100", 2) in [(str(c), n) for c, n in codes]


def test_wrong_people_key_fails_the_run_with_exit_2_and_no_key_in_output(sync_world: SyncWorld) -> None:
    w = sync_world
    w.bc.clock.advance(60)
    w.bc.create_customer(email="wrongkey@example.com", first_name="Wrong", last_name="Key")
    w.bc.clock.advance(600)
    wrong = "ib-key-WRONG-Pq7rS2tU"
    # --no-check: the key refused mid-run (the pre-flight would stop it first: tests/test_preflight.py)
    out = w.sync("--no-check", env={**w.env, "DESTINATION__PEOPLE__API_KEY": wrong})
    assert out.returncode == 2, out
    assert wrong not in out.stdout + out.stderr
    run = _runs(w)[0]
    assert run["status"] == "failed" and run["error"]
    assert wrong not in json.dumps(run, default=str)
    again = w.sync()  # with the right key the next run delivers what the failed one staged
    assert again.returncode == 0, again
    assert w.people.person_by_external_id(f"bc-{w.env['SOURCES__BIGCOMMERCE__STORE_HASH']}-" + str(
        max(c["id"] for c in w.bc.store.all())
    )) is not None


def test_crash_mid_run_is_recorded_failed_exit_1_and_next_run_recovers(
    sync_world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside extraction (a progress callback that raises) ends the run as failed."""
    from bc2people.pipelines.sync import run_sync

    w = sync_world
    for k, v in w.env.items():
        if k.startswith(("SOURCES__", "DESTINATION__")):
            monkeypatch.setenv(k, v)
    w.bc.clock.advance(60)
    new = w.bc.create_customer(email="crash@example.com", first_name="Crash", last_name="Test")
    w.bc.clock.advance(600)

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("boom in the middle of the run")

    result = run_sync(MAPPING, w.duckdb, progress=explode)
    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.error and "boom" in result.error
    assert _runs(w)[0]["status"] == "failed"

    result = run_sync(MAPPING, w.duckdb)
    assert result.exit_code == 0, result.error
    assert result.counts["created"] >= 1
    store = w.env["SOURCES__BIGCOMMERCE__STORE_HASH"]
    assert w.people.person_by_external_id(f"bc-{store}-{new['id']}") is not None


def test_a_second_run_on_the_same_database_waits_its_turn(sync_world: SyncWorld) -> None:
    from bc2people.pipelines.sync import run_lock

    before = _requests(sync_world)
    with run_lock(sync_world.duckdb):
        out = sync_world.sync()
    assert out.returncode == 1, out
    assert "another bc2people run is using" in out.stderr
    assert _requests(sync_world) == before


def test_a_file_that_is_not_duckdb_exits_2(sync_world: SyncWorld, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("these are my notes, not a database\n" * 100, encoding="utf-8")
    out = sync_world.cli("sync", "--mapping", str(MAPPING), "--duckdb", str(bogus), "--no-progress")
    assert out.returncode == 2, out
    assert "cannot open the DuckDB file" in out.stderr and "Traceback" not in out.stderr
    assert bogus.read_text(encoding="utf-8").startswith("these are my notes")  # left as it was


def test_sigterm_mid_run_is_recorded_as_failed(sync_world: SyncWorld) -> None:
    """A scheduler's SIGTERM ends the run as failed (not left `running`), and the next run completes."""
    import signal
    import subprocess
    import time

    from tests.fixtures_sync import BC2PEOPLE

    w = sync_world
    w.bc.clock.advance(60)
    w.bc.create_customer(email="sigterm@example.com", first_name="Sig", last_name="Term")
    w.bc.clock.advance(600)
    seen = sum(w.bc.requests_served.values())
    w.bc.latency_ms = 1500
    try:
        proc = subprocess.Popen(
            [*BC2PEOPLE, "sync", "--mapping", str(MAPPING), "--duckdb", str(w.duckdb), "--no-progress", "--no-check"],
            cwd=w.workdir, env=w.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while sum(w.bc.requests_served.values()) == seen and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        w.bc.latency_ms = 0
    assert proc.returncode == 1, stderr
    run = _runs(w)[0]
    assert run["status"] == "failed", run
    assert "interrupt" in run["error"].lower() or "signal" in run["error"].lower(), run["error"]
    again = w.sync()
    assert again.returncode == 0, again
    assert _runs(w)[0]["status"] == "success"
