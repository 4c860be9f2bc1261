"""Reconciliation in DuckDB: create the views of ``reconcile.sql`` and read them back.

The views live in dataset ``people_sync`` beside the ledger; an analyst queries them with
plain SQL (``duckdb bc2people.duckdb "FROM people_sync.reconcile_summary"``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

LEDGER_SCHEMA = "people_sync"
STAGING_SCHEMA = "bigcommerce"
REQUIRED_TABLES = (
    (STAGING_SCHEMA, "customers"),
    (LEDGER_SCHEMA, "person_state"),
    (LEDGER_SCHEMA, "runs"),
    (LEDGER_SCHEMA, "outcomes"),
)

RUN_COLUMNS = (
    "run_id", "started_at", "finished_at", "status", "staged", "extracted", "deleted_in_store",
    "mapped", "rejected_by_mapping", "unchanged", "sent", "created", "updated", "not_modified",
    "rejected_by_people", "failed", "delete_actions", "dropped_values", "mapping_file", "mapping_hash", "options", "error",
)


def reconcile_sql(name: str = "reconcile.sql") -> str:
    """The text of ``pipelines/reconcile.sql`` (or another SQL file beside it)."""
    return resources.files("bc2people.pipelines").joinpath(name).read_text(encoding="utf-8")


def statements(sql: str) -> list[str]:
    """Split the SQL file on lines holding only ``;``; comments-only chunks are dropped."""
    out = []
    for chunk in sql.split("\n;"):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def missing_tables(con: Any, tables: tuple[tuple[str, str], ...] = REQUIRED_TABLES) -> list[str]:
    """Which of the tables the views read do not exist (yet)."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables"
    ).fetchall()
    have = {(s, t) for s, t in rows}
    return [f"{s}.{t}" for s, t in tables if (s, t) not in have]


ORDER_TABLES = ((STAGING_SCHEMA, "orders"), (LEDGER_SCHEMA, "customer_traits"))


def ensure_reconciliation_views(con: Any) -> bool:
    """Create or replace every reconciliation view; False (nothing done) while inputs are missing.
    The orders and traits views (``reconcile_orders.sql``) come when orders are staged and a run
    computed traits."""
    if missing_tables(con):
        return False
    for stmt in statements(reconcile_sql()):
        con.execute(stmt)
    if not missing_tables(con, ORDER_TABLES):
        for stmt in statements(reconcile_sql("reconcile_orders.sql")):
            con.execute(stmt)
    return True


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def reconcile_overall(con: Any) -> dict[str, int]:
    """The overall counts (staged, staged_active, ..., never_synced) as one dict."""
    rows = _dicts(con.execute(f"SELECT * FROM {LEDGER_SCHEMA}.reconcile_overall"))
    return {k: int(v or 0) for k, v in rows[0].items()}


def reconcile_summary(con: Any) -> list[tuple[str, int]]:
    """The summary table as (metric, customers) rows, People error codes included."""
    rows = con.execute(f"SELECT metric, customers FROM {LEDGER_SCHEMA}.reconcile_summary ORDER BY ord").fetchall()
    return [(str(m), int(c or 0)) for m, c in rows]


def people_errors(con: Any) -> list[dict[str, Any]]:
    """Customers currently rejected by People, by error code."""
    return _dicts(con.execute(f"SELECT * FROM {LEDGER_SCHEMA}.people_errors ORDER BY customers DESC, error_code"))


def run_history(con: Any, limit: int | None = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, with the columns of ``people_sync.runs`` that exist."""
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'runs'",
            [LEDGER_SCHEMA],
        ).fetchall()
    }
    cols = [c for c in RUN_COLUMNS if c in have]
    if not cols:
        return []
    sql = f"SELECT {', '.join(cols)} FROM {LEDGER_SCHEMA}.runs ORDER BY started_at DESC, run_id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return _dicts(con.execute(sql))
