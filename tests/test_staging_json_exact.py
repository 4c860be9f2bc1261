"""Staged JSON columns are parsed with orjson when that gives exactly what ``json.loads`` gives:
a customer's nested values must come back with the same values and types as before (an integer
past 64 bits stays an exact int, NaN and lone surrogates still parse), or a mapping could
send a rounded number and every payload hash could change."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from bc2people.pipelines.core.hashing import loads_exact
from bc2people.pipelines.staging import _loads_plain, iter_staged_customers, staged_customer_table


def same(a: Any, b: Any) -> bool:
    """Equal values of identical types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


NASTY = [
    "123456789012345678901234567890", "-9223372036854775809", "18446744073709551616", "9223372036854775807",
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff x"', "1.7976931348623157e308",
    "5e-324", "0.1", "-0.0", "1E2", '{"a":1,"a":2}', '[1, 2.5, "x", null, true, false]',
    '{"value": 123456789012345678901234567890123}', '{"n": 0.12345678901234567890123}',
    '[{"name":"interests","value":["shoes","bags"]}]', '"é\\u00e9\\n"', '{"": {"": []}}',
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_parse_equals_json_loads_for_guarded_texts(value: Any) -> None:
    text = json.dumps(value)
    if any(run for run in _digit_runs(text) if len(run) >= 19):
        return  # the SQL guard sends these to json.loads (checked end to end below)
    assert same(_loads_plain(text), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_loads_exact_equals_json_loads_for_every_text(value: Any) -> None:
    """No guard outside: the 19-digit runs are its own to find."""
    text = json.dumps(value)
    assert same(loads_exact(text), json.loads(text))


def test_loads_exact_reads_every_nasty_text_as_json_loads_does() -> None:
    for text in NASTY:
        assert same(loads_exact(text), json.loads(text)), text


def _digit_runs(text: str) -> list[str]:
    import re

    return re.findall(r"[0-9]+", text)


def test_every_nasty_text_parses_as_json_loads_parses_it_when_unguarded() -> None:
    for text in NASTY:
        if max((len(r) for r in _digit_runs(text)), default=0) < 19:
            assert same(_loads_plain(text), json.loads(text)), text


def test_nasty_texts_read_back_from_duckdb_exactly_as_json_loads_reads_them(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA bigcommerce")
    con.execute("CREATE TABLE bigcommerce.customers (id BIGINT, email VARCHAR, form_fields JSON, addresses JSON)")
    staged = {}
    for i, text in enumerate(NASTY, 1):
        try:  # DuckDB's JSON type refuses some texts (lone surrogates, NaN): those cannot be staged
            con.execute("INSERT INTO bigcommerce.customers VALUES (?, ?, ?, '[]')", [i, f"c{i}@example.com", text])
        except duckdb.ConversionException:
            continue
        staged[i] = text
    assert len(staged) >= len(NASTY) - 6
    got = {c["id"]: c for c in iter_staged_customers(con)}
    assert sorted(got) == sorted(staged)
    # the Arrow table a map worker decodes gives the same customers, to the type
    found = staged_customer_table(con, [*staged, 10_000])
    assert found is not None
    shape, table = found
    assert table.num_rows == len(staged)
    from_table = list(shape.decode_table(table))
    assert [c["id"] for c in from_table] == sorted(staged)
    for c in from_table:
        assert same(c, got[c["id"]]), c["id"]
    for i, text in staged.items():
        assert same(got[i]["form_fields"], json.loads(text)), text
        assert got[i]["addresses"] == []
    big = got[NASTY.index('{"value": 123456789012345678901234567890123}') + 1]["form_fields"]["value"]
    assert big == 123456789012345678901234567890123 and type(big) is int
    assert same(got[NASTY.index("123456789012345678901234567890") + 1]["form_fields"], 123456789012345678901234567890)
    con.close()
