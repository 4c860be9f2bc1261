"""dlt's working folder is bound to its DuckDB file and heals itself (issue 14, crash-safety hole).

Real DuckDB files and real folders; the end-to-end kill sequence is in
tests/test_resilience_workdir.py."""

from __future__ import annotations

from pathlib import Path

import duckdb

from bc2people.pipelines.core.workdir import MARKER, bind_working_folder, heal_pipeline_dir


def _pipeline_dir(root: Path, name: str, *, damaged: bool = False) -> Path:
    d = root / name
    for sub in ("load/new", "load/normalized", "load/loaded/1.0", "normalize/extracted", "schemas"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "load" / ".version").write_text("1.0.0")
    (d / "state.json").write_text("{}")
    if damaged:  # what a kill in the middle of dlt's own wipe leaves
        for sub in ("load/new", "load/normalized", "normalize"):
            import shutil

            shutil.rmtree(d / sub)
    return d


def _bind(db: Path, folder: Path) -> list[str]:
    con = duckdb.connect(str(db))
    try:
        return bind_working_folder(con, folder)
    finally:
        con.close()


def test_a_replaced_duckdb_file_discards_the_old_working_folder(tmp_path: Path) -> None:
    db, folder = tmp_path / "x.duckdb", tmp_path / "x.dlt"
    _pipeline_dir(folder, "staging")
    (folder / "run.lock").write_text("")
    assert _bind(db, folder)  # a new DuckDB file: the old folder's state is not its state
    assert not (folder / "staging").exists() and (folder / "run.lock").exists()
    _pipeline_dir(folder, "staging")
    assert _bind(db, folder) == [] and (folder / "staging").exists()  # bound: kept from now on
    db.unlink()
    done = _bind(db, folder)
    assert any("replaced" in line for line in done) and not (folder / "staging").exists()
    assert (folder / MARKER).read_text().strip() == duckdb.connect(str(db)).execute(
        "SELECT identity FROM main.working_folder_identity").fetchone()[0]


def test_another_files_working_folder_is_discarded(tmp_path: Path) -> None:
    a, b, folder = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "x.dlt"
    _bind(a, folder)
    _pipeline_dir(folder, "staging")
    _bind(b, tmp_path / "b.dlt")
    b.replace(a)  # another deployment's file copied over this one
    assert any("another DuckDB file" in line for line in _bind(a, folder))
    assert not (folder / "staging").exists()


def test_a_deployment_from_before_the_marker_is_adopted(tmp_path: Path) -> None:
    db, folder = tmp_path / "x.duckdb", tmp_path / "x.dlt"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA bigcommerce; CREATE TABLE bigcommerce._dlt_pipeline_state (version BIGINT)")
    con.close()
    _pipeline_dir(folder, "staging")
    assert _bind(db, folder) == []
    assert (folder / "staging" / "state.json").exists() and (folder / MARKER).exists()


def test_a_damaged_pipeline_folder_is_discarded_whole(tmp_path: Path) -> None:
    healthy = _pipeline_dir(tmp_path, "ok")
    damaged = _pipeline_dir(tmp_path, "bad", damaged=True)
    assert heal_pipeline_dir(healthy) == [] and healthy.exists()
    assert heal_pipeline_dir(damaged) and not damaged.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ok"]  # nothing left aside


def test_a_clean_up_killed_half_way_is_finished_on_the_next_run(tmp_path: Path) -> None:
    db, folder = tmp_path / "x.duckdb", tmp_path / "x.dlt"
    _bind(db, folder)
    aside = _pipeline_dir(folder, ".discarded-staging-0a1b2c3d")  # renamed aside, then killed
    assert any("interrupted" in line for line in _bind(db, folder)) and not aside.exists()
