"""Secrets never reach output, dlt's working files or the DuckDB file (bytes and SQL both)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from bc2people.pipelines.paths import pipelines_dir_for
from tests.fixtures_sync import SECRETS, SYNC_KEY, SYNC_TOKEN, SyncWorld, all_bytes_under


def _leaks_in_files(*roots: Path) -> list[str]:
    found = []
    for path, data in all_bytes_under(*roots):
        for secret in SECRETS:
            if secret.encode() in data:
                found.append(f"{path}: {secret[:6]}…")
    return found


def _leaks_in_tables(db: Path) -> list[str]:
    """Search every text column of every table: DuckDB compresses strings, so bytes alone can miss."""
    con = duckdb.connect(str(db), read_only=True)
    found = []
    try:
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, col in cols:
            for secret in SECRETS:
                n = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE CAST("{col}" AS VARCHAR) LIKE ?',
                    [f"%{secret}%"],
                ).fetchone()
                if n and n[0]:
                    found.append(f"{schema}.{table}.{col}")
    finally:
        con.close()
    return found


def test_secrets_absent_everywhere_after_runs(sync_world: SyncWorld) -> None:
    w = sync_world
    results = [
        w.sync("--max-rejected-pct", "100", "--log-format", "json", "--progress"),
        w.sync("--progress", "--full-refresh", "--dry-run"),
    ]
    # A failed run whose error comes from an HTTP call: BigCommerce refuses a wrong token.
    wrong_token = "bc-tok-WRONG-Kd8sP0qL"
    results.append(w.sync(env={**w.env, "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": wrong_token}))
    results.append(w.cli("runs", "--duckdb", str(w.duckdb)))
    results.append(w.cli("reconcile", "--duckdb", str(w.duckdb), "--json"))

    assert [r.returncode for r in results[:2]] == [0, 0], results
    assert results[2].returncode == 2, results[2]
    for r in results:
        for secret in (*SECRETS, wrong_token):
            assert secret not in r.stdout, (secret[:6], r)
            assert secret not in r.stderr, (secret[:6], r)

    pipelines_dir = pipelines_dir_for(w.duckdb)
    assert pipelines_dir.is_dir() and any(pipelines_dir.rglob("*"))  # dlt's state and traces are there
    assert w.duckdb.stat().st_size > 0
    assert _leaks_in_files(w.workdir, pipelines_dir) == []
    assert _leaks_in_tables(w.duckdb) == []


def test_redaction_safety_net_masks_configured_secrets_in_stderr(sync_world: SyncWorld, tmp_path: Path) -> None:
    """Even a message that contains a secret (here: a mapping file named after it) is masked."""
    bad = tmp_path / f"{SYNC_TOKEN}.yaml"
    bad.write_text("version: 1\nfields: [\n", encoding="utf-8")
    out = sync_world.cli("sync", "--mapping", str(bad), "--duckdb", str(sync_world.duckdb))
    assert out.returncode == 2, out
    assert SYNC_TOKEN not in out.stderr and "***" in out.stderr
    assert SYNC_KEY not in out.stderr
