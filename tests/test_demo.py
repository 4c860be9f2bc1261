"""``bc2people demo`` runs end to end on a small store and prints its story and summaries."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb

from tests.fixtures_sync import BC2PEOPLE, REPO, base_env


def test_demo_runs_and_leaves_a_queryable_database(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*BC2PEOPLE, "demo", "--customers", "200", "--dir", str(tmp_path), "--no-progress"],
        cwd=REPO,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for text in (
        "① Full sync",
        "③ Incremental sync with --sweep-deletions",
        "④ Meanwhile in the store: 30 new orders",
        "⑤ Incremental sync: the orders change",
        "⑥ Reconciliation",
        "Traits as computed vs in People",
        "accepted by People",
        "code 409100",
        "Run history",
        "rejected_threshold",
        "bc2people reconcile --duckdb",
    ):
        assert text in out, text
    assert "Traceback" not in proc.stderr and "sandbox-token" not in out + proc.stderr

    db = tmp_path / "bc2people-demo.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT status, extracted, deleted_in_store, created, updated, rejected_by_people, "
                           "orders_extracted, mapped, sent FROM people_sync.runs ORDER BY started_at").fetchall()
        overall = con.execute("SELECT staged_active, staged_deleted FROM people_sync.reconcile_overall").fetchone()
    finally:
        con.close()
    assert len(runs) == 3
    second, third = runs[1], runs[2]
    assert second[0] == "rejected_threshold"
    assert second[1] == 70 and second[2] == 5  # 50 changed + 20 added; 5 deletions found
    assert (second[3], second[4], second[5]) == (17, 50, 3)
    assert overall == (200 - 5 + 20, 5)
    # the 30 new orders: no customer row changed, yet their customers' traits travel (and only
    # customers whose traits moved are even mapped)
    assert third[0] == "success" and third[1] == 0 and third[6] == 30
    assert 30 <= third[7] < 200 and 1 <= third[8] <= third[7]


# `make demo` installs the project without extras: the demo must not need the HTTP or dev ones.
WITHOUT_EXTRAS = (
    "import sys\n"
    "class Absent:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {'starlette', 'uvicorn', 'httpx', 'standardwebhooks', 'pytest', 'hypothesis'}:\n"
    "            raise ModuleNotFoundError(f'{name} is an extra: make demo does not install it')\n"
    "sys.meta_path.insert(0, Absent())\n"
    "from bc2people.pipelines.cli import main\n"
    "sys.exit(main())\n"
)


def test_demo_json_is_one_document_and_needs_no_extras(tmp_path: Path) -> None:
    import json
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, "demo", "--customers", "150", "--dir", str(tmp_path), "--json"],
        cwd=REPO, env=base_env(tmp_path), capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the document on stdout
    assert [r["status"] for r in doc["runs"]] == ["success", "rejected_threshold", "success"]
    assert doc["runs"][2]["counts"]["orders_extracted"] == 30
    metrics = {m["metric"]: m["customers"] for m in doc["reconciliation"]}
    assert metrics["staged in DuckDB"] == 150 + 20 and metrics["deleted in the store"] == 5
