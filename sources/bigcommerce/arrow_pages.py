"""Customer pages as Arrow tables, so dlt writes them to parquet as they are.

A page yielded as a list of dicts goes through dlt's object path: each row written to a
JSON-lines file at extraction, read back, flattened, coerced value by value and written to
parquet at normalization. For a first sync that is most of the process's CPU (at 300k
customers about half of the time the sync holds the interpreter lock). A page yielded as an
Arrow table is written to parquet at extraction and only moved by the normalizer.

`declared_table` builds the table with the types `CUSTOMER_COLUMNS` declares, exactly as
dlt's own parquet writer would store them: integers as int64, text as strings, timestamps as
UTC microseconds, ``json`` columns as their JSON text (dlt's own serialiser, so the text is
the same). A page it cannot represent that way (a field the columns do not declare, a value
of another type, a date it does not parse strictly) comes back as None and is yielded as
dicts, where dlt keeps the odd value in a variant column as before; a store without odd
customers never takes that path.

dlt notes every Arrow page whose types differ from the declared hints; ours differ by design
(a ``json`` column travels as its text, which is how dlt stores it), so `quiet_declared_hints`
drops those notes for the customers and orders resources (see `order_tables`), and only them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.json import json as dlt_json
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.schema.typing import C_DLT_ID, C_DLT_LOAD_ID

from .settings import CUSTOMER_COLUMNS

INT64 = (-(2**63), 2**63 - 1)  # what a bigint column holds
UTC_MICROS = pa.timestamp("us", tz="UTC")  # how dlt's parquet stores a timestamp column
# the data type dlt's object path gives a plain Python value (no detection, no preference), and
# the Arrow type its parquet stores it as
PY_TYPES: dict[type, str] = {bool: "bool", int: "bigint", float: "double", str: "text"}
ARROW_TYPES: dict[str, pa.DataType] = {"bool": pa.bool_(), "bigint": pa.int64(), "double": pa.float64(),
                                       "text": pa.string()}
# What the V3 API sends (RFC 3339, whole or fractional seconds, Z or an offset); anything
# else is left to dlt's own date parsing on the dict path.
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)\Z")
_DECLARED = frozenset(CUSTOMER_COLUMNS)


def with_dlt_columns(table: pa.Table, load_id: str) -> pa.Table:
    """``table`` (from `declared_table`) with dlt's ``_dlt_load_id`` (``load_id``) and ``_dlt_id``
    (random, as dlt's object path makes them) added."""
    n = table.num_rows
    return table.append_column(C_DLT_LOAD_ID, pa.array([load_id] * n, pa.string())).append_column(
        C_DLT_ID, pa.array(generate_dlt_ids(n), pa.string()))


def declared_table(rows: list[dict[str, Any]]) -> pa.Table | None:
    """``rows`` (one page of V3 customers) as an Arrow table of the declared columns (dlt's own
    are added at the load, `with_dlt_columns`: a page read ahead is built before its load
    exists), or None when any row has an undeclared field or a value its column's type does not
    hold."""
    if not rows or any(not (r.keys() <= _DECLARED) for r in rows):
        return None
    arrays: list[pa.Array] = []
    names: list[str] = []
    try:
        for name, dtype in CUSTOMER_COLUMNS.items():
            values = [r.get(name) for r in rows]
            array = declared_array(values, dtype)
            if array is None:
                return None
            arrays.append(array)
            names.append(name)
    except (pa.ArrowException, OverflowError, UnicodeError, TypeError, ValueError):
        return None
    return pa.Table.from_arrays(arrays, names=names)


@dataclass(frozen=True)
class PreparedPage:
    """One page as it goes to dlt: ``count`` customers new to the window, as ``table`` (their
    declared columns; dlt's are added at the load) or, when no table can hold them, ``rows``."""

    count: int
    table: pa.Table | None
    rows: list[dict[str, Any]] | None


class PagePreparer:
    """Prepares one window's pages in the order read: a customer already seen in the window is
    dropped (slices overlap on their edge seconds), the rest made a `declared_table` when
    ``arrow`` (else, or when it cannot be one, kept as rows for dlt's object path). A page read
    ahead is prepared on the read's thread, so it waits as a compact table, not as dicts.

    In a first sync in segments, a window's requests also reach the edge seconds of the window
    before it (bounds are widened: `windows`). ``staged_before`` (the previous segment's
    ``edge``) maps the customers that segment staged from its edge seconds to their
    ``date_modified`` as read: a row read again with the same value is the same version and
    is dropped, so an appended segment never stages a customer twice. ``edge_from`` (Unix
    seconds) collects this window's ``edge`` for the next one: its customers modified from then
    on, and those it dropped (a window of one or two seconds is read whole by its neighbours)."""

    def __init__(self, arrow: bool, *, staged_before: Mapping[int, Any] | None = None,
                 edge_from: int | None = None) -> None:
        self.arrow = arrow
        self.seen: set[int] = set()
        self.staged_before = staged_before or {}
        self.edge_from = edge_from
        self.edge: dict[int, Any] = {}
        self.staged_before_dropped = 0

    def __call__(self, rows: list[dict[str, Any]]) -> PreparedPage:
        fresh = [r for r in rows if r["id"] not in self.seen]
        self.seen.update(r["id"] for r in fresh)
        if self.staged_before:
            before, missing = self.staged_before, object()
            kept = [r for r in fresh if before.get(r["id"], missing) != r.get("date_modified")]
            if len(kept) < len(fresh):
                self.staged_before_dropped += len(fresh) - len(kept)
                if self.edge_from is not None:  # read here again, so maybe by the next window too
                    fresh_ids = {r["id"] for r in kept}
                    self.edge.update((r["id"], r.get("date_modified")) for r in fresh if r["id"] not in fresh_ids)
                fresh = kept
        table = declared_table(fresh) if self.arrow and fresh else None
        if self.edge_from is not None and fresh:
            self._note_edge(fresh, table)
        return PreparedPage(len(fresh), table, None if table is not None else fresh)

    def _note_edge(self, rows: list[dict[str, Any]], table: pa.Table | None) -> None:
        assert self.edge_from is not None
        if table is not None:  # the page's dates, already parsed: one comparison for the page
            since = pa.scalar(self.edge_from * 1_000_000, UTC_MICROS)
            late = pc.fill_null(pc.greater_equal(table.column("date_modified"), since), False)
            picked = [rows[i] for i in pc.indices_nonzero(late).to_pylist()]
        else:
            picked = [r for r in rows if _second(r.get("date_modified"), self.edge_from) >= self.edge_from]
        for r in picked:
            self.edge[r["id"]] = r.get("date_modified")


def _second(value: Any, otherwise: int) -> int:
    """``value`` (a V3 date) in Unix seconds; ``otherwise`` when it is not one (such a row is
    kept as an edge row: carrying one too many only costs a comparison)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return int(value.timestamp())
    if isinstance(value, str) and _DATE.match(value):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return otherwise


def declared_array(values: Sequence[Any], dtype: str, *, text_dates: bool = True) -> pa.Array | None:
    """A declared column's values as dlt's parquet stores them, or None when one of them does not
    fit: integers within int64, timestamps from aware datetimes or (``text_dates``) the V3 API's
    RFC 3339 text, as UTC microseconds, ``json`` as dlt's JSON text."""
    types = set(map(type, values))
    types.discard(type(None))
    if dtype == "timestamp":
        if types == {str} and text_dates:
            if not all(v is None or _DATE.match(v) for v in values):
                return None
            return pa.array(values, pa.string()).cast(UTC_MICROS)
        if types == {datetime}:
            if any(v is not None and v.tzinfo is None for v in values):
                return None
            return pa.array(values, UTC_MICROS)
        return pa.nulls(len(values), UTC_MICROS) if not types else None
    if dtype == "json":
        if not types <= {dict, list}:
            return None
        return pa.array([None if v is None else dlt_json.dumps(v) for v in values], pa.string())
    arrow = ARROW_TYPES.get(dtype)
    if arrow is None or (types and {PY_TYPES.get(t) for t in types} != {dtype}):
        return None
    if dtype == "bigint" and types and not in_int64(values):
        return None
    return pa.array(values, arrow)


def in_int64(values: Sequence[Any]) -> bool:
    """Whether the non-null integers of ``values`` (at least one) fit a bigint column."""
    present = [v for v in values if v is not None]
    return INT64[0] <= min(present) and max(present) <= INT64[1]


BATCH_ROWS = 5_000


class TableBatch:
    """Gathers a window's page tables into tables of at least ``rows`` rows for dlt.

    dlt's cost per Arrow item (schema checks and naming, a parquet row group, the load's read
    of it) does not depend on its size: 100k customers extracted as 250-row pages took 2.4 s,
    as 5,000-row tables 0.7 s (one core, quiet). Tables of a window share the declared
    columns; any that do not concatenate are handed on one by one."""

    def __init__(self, rows: int = BATCH_ROWS) -> None:
        self.rows = max(1, rows)
        self._tables: list[pa.Table] = []
        self._count = 0

    def add(self, table: pa.Table) -> list[pa.Table]:
        """Take ``table``; returns the tables to hand on now (none until ``rows`` are held)."""
        self._tables.append(table)
        self._count += table.num_rows
        return self.flush() if self._count >= self.rows else []

    def flush(self) -> list[pa.Table]:
        """Everything held, as one table when the tables concatenate (a column some lack is null
        in their rows; one of two types does not concatenate), else as they came."""
        tables, self._tables, self._count = self._tables, [], 0
        if len(tables) < 2:
            return tables
        try:
            return [pa.concat_tables(tables, promote_options="default")]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return tables


class _DeclaredHints(logging.Filter):
    """Drops dlt's per-page note that the customers' or orders' Arrow types differ from their
    hints (their json columns travel as text by design)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not msg.startswith(("In resource: customers, when merging arrow schema",
                                   "In resource: orders, when merging arrow schema"))


_FILTER = _DeclaredHints()


def quiet_declared_hints() -> None:
    """Install the filter on dlt's logger (once; idempotent)."""
    logger = logging.getLogger("dlt")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
