"""Where a deployment keeps its files: the DuckDB file and dlt's working state beside it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DUCKDB = "bc2people.duckdb"
DEFAULT_MAPPING = "mappings/customers_to_people.yaml"


def pipelines_dir_for(duckdb_path: str | Path) -> Path:
    """dlt's pipelines directory for a DuckDB file: ``x.duckdb`` -> ``x.dlt/``.

    Keeping cursors and pending load packages beside the database means two databases never
    share state, and copying both files moves a deployment.
    """
    p = Path(duckdb_path).resolve()
    return p.with_name(p.stem + ".dlt")
