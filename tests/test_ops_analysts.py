"""Analysts beside the nightly run: a real second process holds the DuckDB files (issue 15).

The run publishes ``<db>-analysts.duckdb`` after each run (atomic replace); an analyst holding
that copy never fails a run; a process holding the working file makes the run wait (bounded,
reported); while a run holds the working file, ``runs`` / ``reconcile`` / ``plan`` read the copy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from bc2people.pipelines.publish import analysts_copy_path
from tests.fixtures_sync import BC2PEOPLE, MAPPING, SyncWorld, started_sync_world

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("SELECT count(*) FROM people_sync.runs").fetchone()[0] if sys.argv[3] == "count" else 0, flush=True)
time.sleep(float(sys.argv[4]))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    with started_sync_world(tmp_path_factory.mktemp("analysts"), customers=40) as w:
        first = w.sync()
        assert first.returncode == 0, first
        yield w


def hold(path: Path, *, read_only: bool, seconds: float, count: bool = False) -> tuple[subprocess.Popen[str], str]:
    """A second process that opens ``path`` and keeps it open; returns it once the file is open."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "ro" if read_only else "rw",
                             "count" if count else "-", str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    assert first != "", "the holder could not open the file"
    return proc, first


def _runs(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM people_sync.runs").fetchone()[0])
    finally:
        con.close()


def test_each_run_publishes_the_copy_and_an_analyst_on_it_never_fails_the_run(world: SyncWorld) -> None:
    copy = analysts_copy_path(world.duckdb)
    assert copy.name == "sync-analysts.duckdb" and copy.exists()
    before = _runs(copy)
    analyst, seen = hold(copy, read_only=True, seconds=60, count=True)
    try:
        assert int(seen) == before
        out = world.sync()
        assert out.returncode == 0, out
    finally:
        analyst.kill()
        analyst.wait()
    assert _runs(copy) == before + 1  # a fresh session sees the new copy


def test_a_session_on_the_working_file_makes_the_run_wait_bounded_and_reported(world: SyncWorld) -> None:
    # The session ends only once the run has said it waits: a session of fixed length could end
    # before a slow start-up reached the file, and the run would then have nothing to wait for.
    analyst, _ = hold(world.duckdb, read_only=True, seconds=120)
    run = subprocess.Popen([*BC2PEOPLE, *world.sync_args("--lock-wait", "60")], cwd=world.workdir, env=world.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    seen: list[str] = []
    try:
        for line in run.stderr:
            seen.append(line)
            if "held by another process; waiting" in line:
                break
    finally:
        analyst.kill()
        analyst.wait()
    rest = run.communicate(timeout=240)[1]
    stderr = "".join(seen) + rest
    assert run.returncode == 0, stderr[-3000:]
    assert "held by another process; waiting" in "".join(seen), stderr[-3000:]
    assert "DuckDB file free, run goes on" in rest, stderr[-3000:]


def test_the_wait_gives_up_naming_the_analysts_copy(world: SyncWorld) -> None:
    before = _runs(world.duckdb)
    analyst, _ = hold(world.duckdb, read_only=True, seconds=60)
    try:
        t0 = time.monotonic()
        out = world.sync("--lock-wait", "1")
        elapsed = time.monotonic() - t0
    finally:
        analyst.kill()
        analyst.wait()
    assert out.returncode == 1, out
    assert "sync-analysts.duckdb" in out.stderr and elapsed < 20
    assert _runs(world.duckdb) == before  # nothing recorded


@pytest.mark.parametrize("command", ["runs", "reconcile", "plan"])
def test_read_only_commands_read_the_copy_while_a_run_holds_the_file(world: SyncWorld, command: str) -> None:
    run, _ = hold(world.duckdb, read_only=False, seconds=60)  # a writer, as a running sync
    try:
        extra = ["--mapping", str(MAPPING)] if command == "plan" else []
        out = world.cli(command, "--duckdb", str(world.duckdb), "--json", *extra)
    finally:
        run.kill()
        run.wait()
    assert out.returncode == 0, out
    assert "reading the analysts' copy" in out.stderr
    assert out.stdout.strip().startswith(("{", "["))


def test_read_only_commands_open_the_working_file_read_only(world: SyncWorld) -> None:
    analyst, _ = hold(world.duckdb, read_only=True, seconds=60)  # shared lock: only readers get in
    try:
        out = world.cli("runs", "--duckdb", str(world.duckdb), "--json")
    finally:
        analyst.kill()
        analyst.wait()
    assert out.returncode == 0, out
    assert "analysts' copy" not in out.stderr  # the working file itself, opened read-only
