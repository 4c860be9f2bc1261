"""SIGKILL the real ``bc2people sync`` subprocess mid-run, run again, and nothing is lost.

The test kills a handful of runs (each of extract, stage, map and push at least once, moments
drawn at random); ``make soak`` kills 20 at full size.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_resilience import (
    PHASES,
    RES_STORE,
    clear_faults,
    expected_from_store,
    kill_plans,
    ledger_problems,
    ledger_rows,
    make_world,
    people_problems,
    people_rejections,
    run_and_kill,
    runs_problems,
    staging_duplicates,
    touch_customers,
)

PREFIX = f"bc-{RES_STORE}-"


@pytest.mark.slow
def test_sigkill_in_every_phase_then_rerun_ends_exact(tmp_path: Path) -> None:
    rng = random.Random(91)
    world = make_world(tmp_path)
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(600, seed=91, now=world.bc.clock.now() - 3600))
        plans = kill_plans(rng, len(PHASES), pages=3, batches=1, stage_s=0.1, map_s=0.3)
        killed = []
        for i, plan in enumerate(plans):
            for attempt in range(3):  # the phases are short: aim again (at once) when a run outran its moment
                if i or attempt:  # the first run is the full load; later ones carry 500 changed customers
                    touch_customers(world.bc, rng, 500, tag=f"k{i}{attempt}")
                res = run_and_kill(world, plan if attempt == 0 else replace(plan, delay_s=0.0))
                if not res.killed:
                    assert res.returncode == 0, res
                    continue
                assert res.returncode == -signal.SIGKILL
                killed.append(res.phase)
                world.sync_until_success()
                if res.phase == plan.phase:
                    break
        assert set(killed) == set(PHASES), killed

        clear_faults(world)
        expected = expected_from_store(world.bc)
        refused = people_rejections(world.duckdb)  # e.g. a phone two customers share: People keeps it on one
        assert len(refused) <= len(expected.persons) // 100 and all(refused.values()), refused
        assert not people_problems(world.people, expected, prefix=PREFIX, refused=refused)[:10]
        assert not ledger_problems(world.duckdb, world.people, expected, refused=refused)[:10]
        assert not runs_problems(world.duckdb, world.runs)[:10]
        assert staging_duplicates(world.duckdb) == 0
        statuses = [r[0] for r in ledger_rows(world.duckdb, "SELECT status FROM people_sync.runs ORDER BY started_at")]
        assert statuses.count("failed") == len(killed)
        assert statuses[-1] == "success"
        errors = ledger_rows(world.duckdb, "SELECT DISTINCT error FROM people_sync.runs WHERE status = 'failed'")
        assert errors == [("interrupted",)]


_WRITER = r"""
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET wal_autocheckpoint = '10GB'")  # keep what is committed in the WAL, unmerged
con.execute("CREATE TABLE IF NOT EXISTS people_sync.crash_probe (i BIGINT, note VARCHAR)")
con.execute("INSERT INTO people_sync.crash_probe SELECT range, 'committed' FROM range(50000)")
con.execute("UPDATE people_sync.sync_state SET error_message = 'committed before the crash'")
con.execute("BEGIN TRANSACTION")
con.execute("INSERT INTO people_sync.crash_probe SELECT range, 'uncommitted' FROM range(200000)")
con.execute("DELETE FROM people_sync.runs")
print("mid-write", flush=True)
sys.stdin.read()  # wait to be killed
"""


@pytest.mark.slow
def test_duckdb_file_left_mid_write_by_a_crash_opens_cleanly(tmp_path: Path) -> None:
    world = make_world(tmp_path, people_rate_limit=None)
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(200, seed=92, now=world.bc.clock.now() - 3600))
        assert world.sync().returncode == 0
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(world.duckdb)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "mid-write"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert Path(str(world.duckdb) + ".wal").exists()  # the crash left a write-ahead log behind

        runs = world.cli("runs", "--duckdb", str(world.duckdb), "--json")
        assert runs.returncode == 0 and "Traceback" not in runs.stderr, runs
        touch_customers(world.bc, random.Random(92), 20, tag="after")
        out = world.sync()
        assert out.returncode == 0, out
        assert out.summary["counts"]["updated"] == 20

        probe = ledger_rows(world.duckdb, "SELECT note, count(*) FROM people_sync.crash_probe GROUP BY note")
        assert probe == [("committed", 50000)]  # committed work survived, the open transaction did not
        assert [r[0] for r in ledger_rows(world.duckdb, "SELECT status FROM people_sync.runs ORDER BY started_at")] \
            == ["success", "success"]
        expected = expected_from_store(world.bc)
        assert not people_problems(world.people, expected, prefix=PREFIX)
        assert not ledger_problems(world.duckdb, world.people, expected)
