"""Traits: per-customer values a data engineer declares as DuckDB SQL over the staged tables.

A mapping names one SQL file (``traits: {sql: customer_traits.sql, key: customer_id}``). The
SQL is a single SELECT giving one row per key with any number of other columns; each run
computes it once into the TEMP table :data:`TRAITS_TABLE` ``(key BIGINT, traits JSON,
traits_hash VARCHAR)`` and the mapping reads a customer's row like any field
(``from: $.traits.lifetime_value``).

- :func:`check_traits` validates the SQL before any request (``LIMIT 0``);
- :func:`compute_traits` runs it for a run's reference time ``$as_of``;
- :func:`traits_for` / :func:`traits_hashes` read the result back;
- :func:`count_from_sql` runs a one-number SQL file (e.g. a run-summary count).

Every SQL problem is a :class:`MappingError` naming the SQL file, the line and the message.
The SQL runs with the session time zone set to UTC. Nothing here knows which tables the
SQL reads: the staged shapes below only stand in for tables not staged yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bc2people.pipelines.core.hashing import loads_exact
from bc2people.pipelines.staging import ORDERS_TABLE, STAGING_DATASET, STAGING_TABLE
from bc2people.sources.bigcommerce.settings import CUSTOMER_COLUMNS, DELETED_AT_COLUMN, ORDER_COLUMNS

from .model import Issue, MappingError

DEFAULT_KEY = "customer_id"
TRAITS_TABLE = "mapping_traits"  # TEMP table of the connection: (key BIGINT, traits JSON, traits_hash VARCHAR)
TRAITS_ROOT = "traits"  # a customer's traits are read by the mapping as $.traits.<column>
_RAW_TABLE = "mapping_traits_raw"
PARAMETERS = frozenset({"as_of"})  # named parameters the SQL may use: $as_of
RESERVED_COLUMNS = frozenset({"traits"})
UNATTRIBUTED_SQL_NAME = "unattributed_guest_orders.sql"  # beside the traits SQL, for the run summary
_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_CHUNK = 5000

# Empty tables of the staged shapes (dlt type names), standing in for tables not staged yet:
# the SQL is checked against them, and a run before the first order is staged reads them.
_DLT_COLUMNS = {"_dlt_load_id": "text", "_dlt_id": "text"}
STAGED_SHAPES: dict[tuple[str, str], dict[str, str]] = {
    (STAGING_DATASET, STAGING_TABLE): {**CUSTOMER_COLUMNS, DELETED_AT_COLUMN: "timestamp", **_DLT_COLUMNS},
    (STAGING_DATASET, ORDERS_TABLE): {**ORDER_COLUMNS, **_DLT_COLUMNS},
}
_DUCK_TYPES = {"bigint": "BIGINT", "text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "bool": "BOOLEAN",
               "json": "JSON", "double": "DOUBLE", "decimal": "DECIMAL(38,9)", "date": "DATE"}


@dataclass(frozen=True)
class TraitsSpec:
    """A mapping's traits: the SQL file (``path`` as named in errors), its text, the key column."""

    path: str
    sql: str
    key: str = DEFAULT_KEY
    sha256: str = ""  # of the SQL file's bytes


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fail(spec_path: str, line: int, column: int, message: str, hint: str = "") -> MappingError:
    return MappingError([Issue(spec_path, line, column, "traits", message, hint)])


# -- preparing the SQL ------------------------------------------------------------------------
def _located(text: str, sql: str, offset: int) -> tuple[int, int, str]:
    """(file line, column, message) from a DuckDB error text about ``sql`` wrapped ``offset`` lines down."""
    head, _, context = text.partition("\nLINE ")
    message = "; ".join(part.strip() for part in head.strip().splitlines() if part.strip())
    lines = sql.splitlines() or [""]
    m = re.match(r"(\d+): (.*)\n( *)\^", context)
    if not m:
        return 1, 1, message
    line = min(max(int(m.group(1)) - offset, 1), len(lines))
    prefix = len(f"LINE {m.group(1)}: ")
    snippet, caret = m.group(2), len(m.group(3)) - prefix
    column = caret + 1
    if snippet.startswith("..."):  # DuckDB cut the line: find the shown part in the file's line
        core = snippet[3:].removesuffix("...")
        found = lines[line - 1].find(core)
        column = found + caret - 3 + 1 if found >= 0 else 1
    return line, max(column, 1), message


def _sql_error(spec: TraitsSpec, exc: Exception, offset: int) -> MappingError:
    line, column, message = _located(str(exc), spec.sql, offset)
    return _fail(spec.path, line, column, message, "the traits SQL is DuckDB SQL over the staged tables")


def _prepare(spec: TraitsSpec) -> tuple[str, bool]:
    """The SQL as one SELECT without its trailing ``;`` and comments, and whether it uses $as_of."""
    try:
        statements = duckdb.extract_statements(spec.sql)
    except duckdb.Error as exc:
        raise _sql_error(spec, exc, 0) from None
    if len(statements) != 1:
        raise _fail(spec.path, 1, 1, "the traits SQL is empty" if not statements else
                    f"the traits SQL holds {len(statements)} statements", "write exactly one SELECT")
    stmt = statements[0]
    if stmt.type != duckdb.StatementType.SELECT:
        raise _fail(spec.path, 1, 1, f"the traits SQL is a {stmt.type.name} statement", "write one SELECT (WITH ... SELECT)")
    unknown = set(stmt.named_parameters) - PARAMETERS
    if unknown:
        raise _fail(spec.path, 1, 1, "unknown parameter " + ", ".join(f"${p}" for p in sorted(unknown)),
                    "the parameters are: " + ", ".join(f"${p}" for p in sorted(PARAMETERS)))
    body = spec.sql
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(body) if kind != duckdb.token_type.comment]
    while tokens and body[tokens[-1][0]] == ";" and tokens[-1][1] == duckdb.token_type.operator:
        body = body[: tokens.pop()[0]]  # the trailing ";" and whatever comments follow it
    return body, "as_of" in stmt.named_parameters


def _check_columns(spec: TraitsSpec, columns: list[tuple[str, str]]) -> None:
    names = [name for name, _ in columns]
    issues = []
    if spec.key not in names:
        issues.append(Issue(spec.path, 1, 1, "traits", f"the SQL gives no key column {spec.key!r}",
                            f"select the customer id AS {spec.key} (columns: {', '.join(names)})"))
    else:
        dtype = dict(columns)[spec.key]
        if not re.fullmatch(r"(U?(BIG|SMALL|TINY|HUGE)?INT(EGER)?|UBIGINT|DECIMAL\(\d+,0\))", dtype):
            issues.append(Issue(spec.path, 1, 1, "traits", f"the key column {spec.key!r} is {dtype}, not an integer",
                                f"CAST(... AS BIGINT) AS {spec.key}"))
    for name in names:
        if name.lower() in RESERVED_COLUMNS:
            issues.append(Issue(spec.path, 1, 1, "traits", f"a column is named {name!r}", "rename it; the name is reserved"))
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        issues.append(Issue(spec.path, 1, 1, "traits", "columns named twice: " + ", ".join(sorted(dupes)),
                            "give each column its own name"))
    if issues:
        raise MappingError(issues)


# -- staged tables, or empty stand-ins --------------------------------------------------------
def _missing_shapes(con: Any) -> list[tuple[str, str]]:
    present = {(s, t) for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()}
    return [key for key in STAGED_SHAPES if key not in present]


def _create_shapes(con: Any, keys: Iterable[tuple[str, str]]) -> list[str]:
    """Create empty tables of the staged shapes; returns the schemas created."""
    schemas = []
    existing = {r[0] for r in con.execute(
        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database()").fetchall()}
    for schema, table in keys:
        if schema not in existing:
            con.execute(f"CREATE SCHEMA {_q(schema)}")
            existing.add(schema)
            schemas.append(schema)
        cols = ", ".join(f"{_q(n)} {_DUCK_TYPES[t]}" for n, t in STAGED_SHAPES[(schema, table)].items())
        con.execute(f"CREATE TABLE {_q(schema)}.{_q(table)} ({cols})")
    return schemas


@contextmanager
def _utc(con: Any) -> Iterator[None]:
    tz = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    con.execute("SET TimeZone = 'UTC'")
    try:
        yield
    finally:
        con.execute(f"SET TimeZone = {_lit(str(tz))}")


@contextmanager
def _staged_or_empty(con: Any) -> Iterator[None]:
    """Run the body with every staged shape present: missing ones are created empty inside a
    transaction and dropped before it commits, so the database keeps no trace of them (TEMP
    tables made in the body stay)."""
    missing = _missing_shapes(con)
    if not missing:
        yield
        return
    own = True
    try:
        con.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException:
        own = False  # the caller's transaction: ours is part of it
    try:
        schemas = _create_shapes(con, missing)
        yield
        for schema, table in missing:
            con.execute(f"DROP TABLE {_q(schema)}.{_q(table)}")
        for schema in schemas:
            con.execute(f"DROP SCHEMA {_q(schema)}")
    except BaseException:
        if own:
            con.execute("ROLLBACK")
        raise
    if own:
        con.execute("COMMIT")


# -- public API -------------------------------------------------------------------------------
def check_traits(spec: TraitsSpec, con: Any = None) -> list[str]:
    """Validate the traits SQL without reading any row (``LIMIT 0``); returns its columns.

    Runs against ``con`` (a DuckDB connection) when it holds the staged tables, else against
    an in-memory DuckDB with empty tables of the staged shapes. Raises :class:`MappingError`
    (SQL file, line, DuckDB's message) for a SQL error, a missing or non-integer key column,
    or a column named ``traits``.
    """
    body, uses_as_of = _prepare(spec)
    own = con is None or bool(_missing_shapes(con))
    target = duckdb.connect() if own else con
    try:
        if own:
            _create_shapes(target, STAGED_SHAPES)
        params = {"as_of": datetime(2000, 1, 1)} if uses_as_of else None
        try:
            with _utc(target):
                rel = target.execute(f"DESCRIBE SELECT * FROM (\n{body}\n) AS traits_sql LIMIT 0", params)
                columns = [(str(r[0]), str(r[1])) for r in rel.fetchall()]
        except duckdb.Error as exc:
            raise _sql_error(spec, exc, 1) from None
    finally:
        if own:
            target.close()
    _check_columns(spec, columns)
    return [name for name, _ in columns]


def _json_expr(name: str, dtype: str) -> str:
    col = _q(name)
    if dtype == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', {col}), '{_TS_FORMAT}')"
    if dtype.startswith("TIMESTAMP"):
        return f"strftime(CAST({col} AS TIMESTAMP), '{_TS_FORMAT}')"
    if dtype == "DATE":
        return f"strftime({col}, '%Y-%m-%d')"
    if dtype in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN isfinite({col}) THEN {col} END"
    if dtype in ("BLOB", "INTERVAL", "UUID") or dtype.startswith(("TIME", "BIT")):
        return f"CAST({col} AS VARCHAR)"
    return col


def _json_object(columns: list[tuple[str, str]]) -> str:
    """SQL of a JSON object of ``columns`` (name, DuckDB type), names sorted."""
    parts = ", ".join(f"{_lit(n)}, {_json_expr(n, t)}" for n, t in sorted(columns))
    return f"json_object({parts})" if parts else "json_object()"


def compute_traits(con: Any, spec: TraitsSpec, *, as_of: datetime, keys_sql: str | None = None,
                   hashed: frozenset[str] | None = None) -> int:
    """Run the traits SQL into the TEMP table :data:`TRAITS_TABLE` of ``con``; returns its rows.

    ``as_of`` (the run's reference time) is ``$as_of`` in the SQL, a UTC TIMESTAMP (a naive
    datetime is taken as UTC). Each row's traits are a JSON object of every column but the key,
    names sorted, timestamps as ``YYYY-MM-DDTHH:MM:SSZ``, dates ``YYYY-MM-DD``; ``traits_hash``
    is the md5 of that JSON text, or, when ``hashed`` names columns (the ones the mapping reads,
    `Mapping.traits_read`), of the same JSON of those columns only: a trait nobody maps, such
    as a day count that moves every night, then re-maps no one. Staged tables not there yet
    read as empty. A duplicate or NULL key, or any SQL error, raises :class:`MappingError`.
    ``keys_sql`` (a query of one column) keeps only the rows whose key it returns: a part of
    the customers costs a part's memory, not the whole store's.
    """
    body, uses_as_of = _prepare(spec)
    only = f" WHERE {_q(spec.key)} IN ({keys_sql})" if keys_sql else ""
    ref = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    params = {"as_of": ref} if uses_as_of else None
    with _utc(con), _staged_or_empty(con):
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_RAW_TABLE} AS SELECT * FROM (\n{body}\n) AS traits_sql{only}",
                        params)
        except duckdb.Error as exc:
            raise _sql_error(spec, exc, 1) from None
    try:
        columns = [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {_RAW_TABLE}").fetchall()]
        _check_columns(spec, columns)
        key = _q(spec.key)
        bad = con.execute(
            f"SELECT {key}, count(*) FROM {_RAW_TABLE} GROUP BY {key} HAVING count(*) > 1 OR {key} IS NULL "
            f"ORDER BY {key} NULLS FIRST LIMIT 3").fetchall()
        if bad:
            shown = ", ".join("NULL" if k is None else f"{k} ({n} rows)" for k, n in bad)
            raise _fail(spec.path, 1, 1, f"the key column {spec.key!r} must be unique and not NULL: {shown}",
                        "give one row per key (GROUP BY it), and filter out NULL keys")
        inner = f"{key}, {_json_object([(n, t) for n, t in columns if n != spec.key])} AS traits"
        if hashed is None:
            digest = "md5(CAST(traits AS VARCHAR))"
        else:
            read = [(n, t) for n, t in columns if n != spec.key and n in hashed]
            inner += f", md5(CAST({_json_object(read)} AS VARCHAR)) AS traits_hash"
            digest = "traits_hash"
        with _utc(con):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {TRAITS_TABLE} AS "
                f"SELECT CAST({key} AS BIGINT) AS key, traits, {digest} AS traits_hash "
                f"FROM (SELECT {inner} FROM {_RAW_TABLE}) ORDER BY key")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_RAW_TABLE}")
    return int(con.execute(f"SELECT count(*) FROM {TRAITS_TABLE}").fetchone()[0])


def _read(con: Any, column: str, keys: Iterable[int] | None) -> Iterator[tuple[int, str]]:
    try:
        con.execute(f"SELECT 1 FROM {TRAITS_TABLE} LIMIT 0")
    except duckdb.CatalogException:
        raise RuntimeError("no traits on this connection: call compute_traits first") from None
    if keys is None:
        yield from con.execute(f"SELECT key, CAST({column} AS VARCHAR) FROM {TRAITS_TABLE}").fetchall()
        return
    ids = sorted({int(k) for k in keys})
    for start in range(0, len(ids), _CHUNK):
        yield from con.execute(f"SELECT key, CAST({column} AS VARCHAR) FROM {TRAITS_TABLE} "
                               "WHERE key IN (SELECT unnest(?))", [ids[start:start + _CHUNK]]).fetchall()


def traits_for(con: Any, keys: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """Each key's traits as a dict (numbers int/float, timestamps ISO text); all when ``keys`` is
    None. Keys without a row are absent (they have no traits)."""
    return {int(k): loads_exact(text) for k, text in _read(con, "traits", keys)}


def traits_hashes(con: Any, keys: Iterable[int] | None = None) -> dict[int, str]:
    """Each key's ``traits_hash`` (md5 of its traits JSON); all when ``keys`` is None."""
    return {int(k): h for k, h in _read(con, "traits_hash", keys)}


def count_from_sql(con: Any, path: str | Path) -> int:
    """Run a SQL file that selects one number (e.g. guest orders no customer matched) and
    return it; staged tables not there yet read as empty; errors name the file and line."""
    spec = TraitsSpec(str(path), Path(path).read_text(encoding="utf-8"))
    body, _ = _prepare(spec)
    with _utc(con), _staged_or_empty(con):
        try:
            row = con.execute(f"SELECT * FROM (\n{body}\n) AS count_sql").fetchone()
        except duckdb.Error as exc:
            raise _sql_error(spec, exc, 1) from None
    return int(row[0] or 0) if row else 0


def load_spec(sql_path: str | Path, key: str = DEFAULT_KEY) -> TraitsSpec:
    """Read a traits SQL file into a :class:`TraitsSpec` (``OSError``/``UnicodeDecodeError`` escape)."""
    data = Path(sql_path).read_bytes()
    return TraitsSpec(str(sql_path), data.decode("utf-8"), key, hashlib.sha256(data).hexdigest())


__all__ = [
    "DEFAULT_KEY",
    "STAGED_SHAPES",
    "TRAITS_ROOT",
    "TRAITS_TABLE",
    "TraitsSpec",
    "UNATTRIBUTED_SQL_NAME",
    "check_traits",
    "compute_traits",
    "count_from_sql",
    "load_spec",
    "traits_for",
    "traits_hashes",
]
