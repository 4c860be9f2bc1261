"""Order pages as Arrow tables, typed exactly as dlt's object path would type them.

A page of orders yielded as dicts is written to JSON lines at extraction and read back,
flattened and coerced value by value at normalization: ~180 us an order (68 fields), most of
a first sync's staging of a store with orders. A page yielded as an Arrow table is written to
parquet once (see `arrow_pages` for the customers' side of the same change).

Unlike the customers, the V2 order has no fixed shape: the API adds fields (``fees``,
``ip_address_v6``, ``external_order_id``...), and a store's existing ``orders`` table holds
the types dlt inferred from what its store sent. So `OrderTables` types each page as the
object path would and refuses (None: the page goes as dicts, as before) whatever it cannot
type the same way for sure:

- a declared column (`settings.ORDER_COLUMNS`) takes its declared type; a value that type
  cannot hold (a date `prepare_order` could not parse, an ``id`` that is text) refuses the page;
- any other field takes the type dlt infers from a Python value (bool, bigint, double, text),
  and only when every value of the page has that one type. A field dlt would detect as
  something else (a text that is an ISO timestamp, a column name with a preferred type), a
  field that is an object or a list, and a name dlt would rename refuse the page;
- a column the table already has with another type refuses the page: a table never gets a
  type its rows did not give it (dlt then coerces, or keeps a variant column, as before);
- a field that is null on every order of the page is left out, as the object path leaves it.

dlt types an Arrow table's new columns at extraction and a dict page's at normalization, so
within one run `OrderTables` also remembers the type each new field got, from its tables and
(as dlt will infer it) from the pages it refused: a later page that disagrees goes as dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from dlt.common.schema import Schema
from dlt.common.schema.utils import autodetect_sc_type

from .arrow_pages import ARROW_TYPES, PY_TYPES, declared_array, in_int64
from .settings import ORDER_COLUMNS

_NONE = type(None)
_TYPE_OF: dict[pa.DataType, str] = {t: name for name, t in ARROW_TYPES.items()}


class OrderTables:
    """Builds `table` for each page of prepared orders against ``schema`` (the source's live
    schema: the stored one plus what this extraction added), for the ``table_name`` table."""

    def __init__(self, schema: Schema, table_name: str = "orders",
                 declared: Mapping[str, str] = ORDER_COLUMNS) -> None:
        self.schema = schema
        self.table_name = table_name
        self.declared = dict(declared)
        self.detections = list(schema.settings.get("detections") or [])
        self._names_ok: dict[str, bool] = {}
        self._given: dict[str, str] = {}  # new columns typed in this run, not yet in the schema

    def known_types(self) -> dict[str, str]:
        """The data type of each column the table has (in the schema this run extends) or was
        given earlier in this run."""
        table = self.schema.tables.get(self.table_name) or {}
        columns = table.get("columns") or {}
        return {**self._given, **{n: str(c["data_type"]) for n, c in columns.items() if c.get("data_type")}}

    def table(self, rows: list[dict[str, Any]]) -> pa.Table | None:
        """``rows`` as an Arrow table of the declared columns and every other field with a
        value, or None when the page must go as dicts (see the module's rules)."""
        if not rows:
            return None
        known = self.known_types()
        table = self._build(rows, known)
        if table is None:
            self._remember_refused(rows, known)
        else:
            self._given.update({f.name: _TYPE_OF[f.type] for f in table.schema
                                if f.name not in known and f.name not in self.declared})
        return table

    def _build(self, rows: list[dict[str, Any]], known: dict[str, str]) -> pa.Table | None:
        columns = _columns(rows)
        nulls = [None] * len(rows)
        arrays: list[pa.Array] = []
        names: list[str] = []
        try:
            for name, dtype in self.declared.items():
                if known.get(name, dtype) != dtype:
                    return None
                # prepare_order parsed every date it could: a text left in a date is one it could not
                array = declared_array(columns.get(name, nulls), dtype, text_dates=False)
                if array is None:
                    return None
                arrays.append(array)
                names.append(name)
            for name, values in columns.items():
                if name in self.declared:
                    continue
                inferred = self._inferred_type(name, values, known)
                if inferred == "":
                    continue  # null on every row: the object path makes no column of it
                if inferred is None:
                    return None
                arrays.append(pa.array(values, ARROW_TYPES[inferred]))
                names.append(name)
        except (pa.ArrowException, OverflowError, UnicodeError, TypeError, ValueError):
            return None
        return pa.Table.from_arrays(arrays, names=names)

    def _inferred_type(self, name: str, values: Sequence[Any], known: dict[str, str]) -> str | None:
        """dlt's type for an undeclared field, "" when every value is null, None when unsure."""
        types = set(map(type, values))
        types.discard(_NONE)
        if not types:
            return ""
        if len(types) != 1 or not self._name_ok(name):
            return None
        dtype = PY_TYPES.get(types.pop())
        if dtype is None:
            return None
        if dtype == "bigint" and not in_int64(values):
            return None
        existing = known.get(name)
        if existing is not None:
            return dtype if existing == dtype else None
        # a new column: dlt types it from its first value, detections and preferences first
        first = next(v for v in values if v is not None)
        if autodetect_sc_type(self.detections, type(first), first) is not None:
            return None
        if self.schema.get_preferred_type(name) not in (None, dtype):
            return None
        return dtype

    def _remember_refused(self, rows: list[dict[str, Any]], known: dict[str, str]) -> None:
        """The types dlt's normalizer will give the new fields of a page going as dicts: the
        type of each one's first value (detections first; objects and lists are json)."""
        for name in dict.fromkeys(k for r in rows for k in r if k not in self.declared and k not in known):
            first = next((r[name] for r in rows if r.get(name) is not None), None)
            if first is None:
                continue
            dtype = autodetect_sc_type(self.detections, type(first), first) or PY_TYPES.get(type(first))
            self._given[name] = dtype or ("json" if isinstance(first, dict | list) else "unknown")

    def _name_ok(self, name: str) -> bool:
        ok = self._names_ok.get(name)
        if ok is None:
            ok = self._names_ok[name] = self.schema.naming.normalize_identifier(name) == name
        return ok


def _columns(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Each field's values in row order (None where a row lacks it), fields in first-seen order.
    Rows of one shape (the API's: same fields, same order) are transposed in one pass."""
    first = tuple(rows[0])
    if all(tuple(r) == first for r in rows):
        return dict(zip(first, zip(*(r.values() for r in rows), strict=True), strict=True))
    names = dict.fromkeys(k for r in rows for k in r)
    return {name: [r.get(name) for r in rows] for name in names}
