"""dlt-native operation (issue 15): the dlt CLI attaches both pipelines; completed packages keep no PII."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_sync import all_bytes_under, started_sync_world

DLT = str(Path(sys.executable).with_name("dlt"))


def test_dlt_cli_attaches_both_pipelines_and_completed_packages_keep_no_pii(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with started_sync_world(tmp_path_factory.mktemp("dltcli"), customers=15) as w:
        out = w.sync()
        assert out.returncode == 0, out
        emails = [c["email"].encode() for c in w.bc.store.all() if c.get("email")]
        pipelines_dir = w.workdir / "sync.dlt"
        for name in ("bc2people_staging", "bc2people_people"):
            for command in ("info", "trace", "schema", "failed-jobs"):
                res = subprocess.run([DLT, "pipeline", "--pipelines-dir", str(pipelines_dir), name, command],
                                     cwd=w.workdir, env=w.env, capture_output=True, text=True, timeout=120)
                assert res.returncode == 0, (name, command, res.stdout[-500:], res.stderr[-1500:])
                assert "not registered" not in res.stdout + res.stderr
        loaded = [p for p in pipelines_dir.glob("*/load/loaded")]
        assert loaded
        for path, data in all_bytes_under(*loaded):
            assert not any(e in data for e in emails), f"customer email kept in {path}"
