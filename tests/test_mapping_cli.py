"""``bc2people mapping check|preview`` run as a real subprocess, against a DuckDB file staged by dlt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.mapping import load_mapping
from bc2people.pipelines.staging import iter_staged_customers
from tests.fixtures_mapping import CUSTOMER, DEFAULT_MAPPING_PATH, write_mapping

BIN = Path(sys.executable).parent / "bc2people"


def run(args: list[str], cwd: Path, store_hash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__") and k != "BC2PEOPLE_DEBUG"}
    if store_hash is not None:
        env["SOURCES__BIGCOMMERCE__STORE_HASH"] = store_hash
    return subprocess.run([str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_check_default_mapping_ok(tmp_path: Path) -> None:
    res = run(["mapping", "check", "--mapping", str(DEFAULT_MAPPING_PATH)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"OK {DEFAULT_MAPPING_PATH}: version 1,")
    assert "bc_customer_group_id (INTEGER)" in res.stdout and "on_deleted: tag bc-deleted" in res.stdout


def test_check_bad_mapping_exits_2_with_file_line_col_errors(tmp_path: Path) -> None:
    bad = write_mapping(tmp_path, """\
        version: 1
        fields:
          - to: externalId
            template: 'bc-{store_hash}-{$.id}'
          - to: lastName
            from: $.last_name[
          - to: customAttributes.group
            from: $.customer_group_id
        """, "bad.yaml")
    res = run(["mapping", "check", "--mapping", str(bad)], tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:6:11: lastName: JSONPath '$.last_name[' does not parse")
    assert lines[1] == (f"{bad}:7:9: customAttributes.group: custom attribute has no type "
                        "(add `type:` one of STRING, DECIMAL, INTEGER, BOOLEAN, DATE, DATE_TIME)")
    assert lines[2] == f"{bad}: 2 errors, mapping not usable"
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_check_missing_file_and_yaml_syntax(tmp_path: Path) -> None:
    res = run(["mapping", "check", "--mapping", "nope.yaml"], tmp_path)
    assert res.returncode == 2 and "nope.yaml:0:0: file: cannot read" in res.stderr
    broken = write_mapping(tmp_path, "version: 1\nfields: [\n", "broken.yaml")
    res = run(["mapping", "check", "--mapping", str(broken)], tmp_path)
    assert res.returncode == 2 and f"{broken}:3:1: yaml: YAML syntax error" in res.stderr
    assert "Traceback" not in res.stderr


def test_staged_customers_map_like_the_originals(staged_db: Path) -> None:
    mapping = load_mapping(DEFAULT_MAPPING_PATH)
    con = duckdb.connect(str(staged_db), read_only=True)
    try:
        (staged,) = list(iter_staged_customers(con, customer_ids=[42]))
    finally:
        con.close()
    ctx = {"store_hash": "x"}
    assert mapping.map(staged, ctx).payload == mapping.map(CUSTOMER, ctx).payload


def test_preview_text(staged_db: Path, tmp_path: Path) -> None:
    res = run(["mapping", "preview", "--mapping", str(DEFAULT_MAPPING_PATH), "--duckdb", str(staged_db), "--limit", "3"],
              tmp_path, store_hash="sbx9")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "note: store_hash" not in out
    assert out.count("customer ") >= 3 and "3 customers:" in out
    assert "OK        customer 1 -> bc-sbx9-1" in out
    assert "  source values:" in out and "    firstName" in out and "$.first_name = " in out
    assert '  People payload:\n    {\n      "externalId": "bc-sbx9-1"' in out


def test_preview_json_selected_customers_and_default_store_hash(staged_db: Path, tmp_path: Path) -> None:
    res = run(["mapping", "preview", "--duckdb", str(staged_db), "--json", "--customer-id", "42",
               "--customer-id", "900", "--customer-id", "901", "--limit", "0", str(DEFAULT_MAPPING_PATH)], tmp_path)
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    assert doc["store_hash"] == "store" and doc["store_hash_configured"] is False
    assert doc["mapping_sha256"] == load_mapping(DEFAULT_MAPPING_PATH).sha256
    recs = {r["customer_id"]: r for r in doc["records"]}
    assert set(recs) == {42, 900, 901}
    assert recs[42]["payload"] == load_mapping(DEFAULT_MAPPING_PATH).map(CUSTOMER, {"store_hash": "store"}).payload
    assert recs[42]["sources"]["lastName"] == "O'Neil (Sales)"
    for r in recs.values():
        assert (r["payload"] is None) != (r["rejection"] is None)


def test_preview_errors(staged_db: Path, tmp_path: Path) -> None:
    bad = write_mapping(tmp_path, "version: 1\nfields:\n  - to: nope\n    value: 1\n", "bad.yaml")
    res = run(["mapping", "preview", "--mapping", str(bad), "--duckdb", str(staged_db)], tmp_path)
    assert res.returncode == 2 and f"{bad}:3:9: nope: unknown People field" in res.stderr
    res = run(["mapping", "preview", "--mapping", str(DEFAULT_MAPPING_PATH), "--duckdb", str(tmp_path / "none.duckdb")], tmp_path)
    assert res.returncode == 2 and "no DuckDB file" in res.stderr
    assert not (tmp_path / "none.duckdb").exists()
    res = run(["mapping", "preview", "--mapping", str(DEFAULT_MAPPING_PATH), "--duckdb", str(staged_db), "--customer-id", "77777"],
              tmp_path, store_hash="s")
    assert res.returncode == 0 and "no staged customers with id 77777" in res.stdout


@pytest.mark.parametrize(("argv", "fragment"), [
    (["mapping"], "usage: bc2people mapping"),
    (["mapping", "preview", "--mapping", str(DEFAULT_MAPPING_PATH), "--limit", "-1"], "--limit must be 0 (all) or more"),
])
def test_usage_errors_exit_2(argv: list[str], fragment: str, tmp_path: Path, staged_db: Path) -> None:
    res = run([*argv, "--duckdb", str(staged_db)] if "preview" in argv else argv, tmp_path)
    assert res.returncode == 2
    assert fragment in res.stdout + res.stderr
