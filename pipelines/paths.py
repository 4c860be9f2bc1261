"""Where a deployment keeps its files: the DuckDB file and dlt's working state beside it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DUCKDB = "bc2people.duckdb"
DEFAULT_MAPPING = "mappings/customers_to_people.yaml"


def default_mapping() -> str:
    """The mapping used when none is given.

    ``mappings/customers_to_people.yaml`` in the working directory when there is one (a checkout,
    or a project that keeps its own copy), else the copy shipped inside the installed package.
    """
    if Path(DEFAULT_MAPPING).is_file():
        return DEFAULT_MAPPING
    import bc2people

    for base in bc2people.__path__:
        shipped = Path(base) / DEFAULT_MAPPING
        if shipped.is_file():
            return str(shipped)
    return DEFAULT_MAPPING  # not found anywhere: the loader's error names this path


def pipelines_dir_for(duckdb_path: str | Path) -> Path:
    """dlt's pipelines directory for a DuckDB file: ``x.duckdb`` -> ``x.dlt/``.

    Keeping cursors and pending load packages beside the database means two databases never
    share state, and copying both files moves a deployment.
    """
    p = Path(duckdb_path).resolve()
    return p.with_name(p.stem + ".dlt")
