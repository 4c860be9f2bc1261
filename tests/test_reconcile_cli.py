"""`bc2people reconcile` / `runs` on files that are missing, busy or not DuckDB: clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb

from tests.fixtures_sync import BC2PEOPLE, base_env


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BC2PEOPLE, *args], cwd=tmp_path, env=base_env(tmp_path), capture_output=True,
                          text=True, timeout=60)


def test_missing_file_exits_2_and_says_what_to_run(tmp_path: Path) -> None:
    for cmd in ("reconcile", "runs"):
        out = _cli(tmp_path, cmd, "--duckdb", "nope.duckdb")
        assert out.returncode == 2, out.stderr
        assert "no DuckDB file at nope.duckdb" in out.stderr and "bc2people sync" in out.stderr
    assert not (tmp_path / "nope.duckdb").exists()  # nothing created by looking


def test_busy_file_exits_1_and_not_a_database_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    holder = duckdb.connect(str(db))  # this process holds the write lock, as a running sync would
    try:
        out = _cli(tmp_path, "reconcile", "--duckdb", str(db))
    finally:
        holder.close()
    assert out.returncode == 1, out.stderr
    assert "in use by another process" in out.stderr
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database", encoding="utf-8")
    out = _cli(tmp_path, "runs", "--duckdb", str(junk))
    assert out.returncode == 2 and "cannot open" in out.stderr and "Traceback" not in out.stderr


def test_empty_database_has_nothing_to_reconcile(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    out = _cli(tmp_path, "reconcile", "--duckdb", "empty.duckdb")
    assert out.returncode == 2 and "nothing to reconcile yet" in out.stderr
