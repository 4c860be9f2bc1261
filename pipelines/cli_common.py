"""What every ``bc2people`` command shares: its options, its exit codes, its read-only database.

One grammar: ``--mapping FILE``, ``--duckdb PATH`` and ``--json`` mean the same thing in every
command that takes them, and a condition ends with the same exit code everywhere
(`EXIT_CONFIG` for a missing database, a bad mapping or setting). Read-only commands open the
DuckDB file read-only (`open_readonly`): while a run holds it they read the analysts' copy the
last run published (`pipelines.publish`), so they never fail because a run is going on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bc2people.pipelines.paths import DEFAULT_DUCKDB, DEFAULT_MAPPING, default_mapping

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REJECTED = 0, 1, 2, 3

EXIT_CODES_EPILOG = """exit codes (the same in every command):
  0  success
  1  failure (nothing half-recorded: the next run picks up where this one stopped)
  2  configuration or mapping error, a missing DuckDB file, credentials or a store hash
     the APIs refuse (found before any request is sent where possible)
  3  finished, but rejected records exceeded --max-rejected-pct / --max-rejected
"""


class NoDatabase(Exception):
    """The DuckDB file does not exist or holds no ledger yet (exit 2 in every command)."""

    exit_code = EXIT_CONFIG


class DatabaseBusy(Exception):
    """Another process holds the DuckDB file and no analysts' copy exists yet (exit 1: try later)."""

    exit_code = EXIT_FAILED


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    """The one JSON switch: ``--json`` prints ``what`` as one JSON document on stdout."""
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout, for machines")


def add_duckdb(p: argparse.ArgumentParser) -> None:
    """``--duckdb PATH`` with the default file."""
    p.add_argument("--duckdb", metavar="PATH", default=DEFAULT_DUCKDB, help=f"DuckDB file (default {DEFAULT_DUCKDB})")


def add_mapping(p: argparse.ArgumentParser, *, legacy_positional: bool = False) -> None:
    """``--mapping FILE``; with ``legacy_positional`` the old positional FILE still works (deprecated)."""
    p.add_argument("--mapping", metavar="FILE", default=None, help=f"mapping file (default {DEFAULT_MAPPING}, else the packaged copy)")
    if legacy_positional:
        p.add_argument("legacy_mapping", nargs="?", default=None, metavar="FILE", help=argparse.SUPPRESS)


def mapping_path(args: argparse.Namespace) -> str:
    """The mapping file a command was given; a positional FILE is used with a deprecation note."""
    legacy = getattr(args, "legacy_mapping", None)
    given = getattr(args, "mapping", None)
    if legacy is not None:
        if given is not None and given != legacy:
            raise UsageError(f"two mapping files given ({legacy} and --mapping {given}); use --mapping FILE")
        print(f"note: a positional mapping file is deprecated; use --mapping {legacy}", file=sys.stderr)
        return str(legacy)
    return str(given or default_mapping())


class UsageError(Exception):
    """A command line that contradicts itself (exit 2)."""

    exit_code = EXIT_CONFIG


def settings_epilog() -> str:
    """Every setting of the job (from the `pipelines.config` Setting table), for ``--help``."""
    from bc2people.pipelines.config import ALL_SETTINGS

    width = max(len(s.env_var) for s in ALL_SETTINGS)
    lines = ["configuration (environment variables, or .dlt/config.toml / .dlt/secrets.toml):"]
    for s in ALL_SETTINGS:
        note = " (secret)" if s.secret else (f" (default {s.default})" if s.default is not None else "")
        lines.append(f"  {s.env_var:<{width}}  [{s.toml_section}] {s.toml_name}{note}")
    return "\n".join(lines) + "\n"


def open_readonly(path: str | Path) -> tuple[Any, Path]:
    """Open a DuckDB file read-only; returns (connection, the file actually opened).

    A missing file is `NoDatabase` (exit 2). While another process (a run) holds the file,
    the analysts' copy the last run published is opened instead, with a note on stderr; without
    one, `DatabaseBusy` (exit 1).
    """
    import duckdb

    from bc2people.pipelines.publish import analysts_copy_path

    db = Path(path)
    copy = analysts_copy_path(db)
    if not db.exists():
        if copy.exists():
            return duckdb.connect(str(copy), read_only=True), copy
        raise NoDatabase(f"no DuckDB file at {db}: run `bc2people sync --duckdb {db}` first")
    try:
        return duckdb.connect(str(db), read_only=True), db
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" not in text.lower():
            raise NoDatabase(f"cannot open {db}: {text}") from None
    if copy.exists():
        print(f"note: {db} is in use by a run; reading the analysts' copy {copy} (as of the last run's end)",
              file=sys.stderr)
        return duckdb.connect(str(copy), read_only=True), copy
    raise DatabaseBusy(f"{db} is in use by another process (a sync in progress?) and no analysts' copy "
                       f"({copy.name}) was published yet; try again when it has finished")


def open_overlay(path: str | Path) -> tuple[Any, Path]:
    """A writable in-memory DuckDB whose tables are read-only views of the file (`open_readonly`'s).

    For read-only commands whose queries create helper tables (the plan's traits): every write
    lands in memory, the file is only read. Returns (connection, the file actually read).
    """
    import duckdb

    probe, opened = open_readonly(path)
    probe.close()
    con = duckdb.connect()
    try:
        literal = str(opened).replace("'", "''")
        con.execute(f"ATTACH '{literal}' AS overlay_src (READ_ONLY)")
        rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_catalog = 'overlay_src' ORDER BY table_type, table_schema, table_name").fetchall()
        for schema in sorted({r[0] for r in rows}):
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for schema, table in rows:
            con.execute(f'CREATE VIEW "{schema}"."{table}" AS FROM overlay_src."{schema}"."{table}"')
    except BaseException:
        con.close()
        raise
    return con, opened
