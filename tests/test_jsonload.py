"""The fast JSON reader returns exactly what ``json.loads`` returns (values and types)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bc2people.pipelines.core.jsonload import loads


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_any_value_reads_back_as_json_loads_reads_it(value: Any) -> None:
    text = json.dumps(value)  # NaN, Infinity and lone surrogates included, as the stdlib writes them
    assert _same(loads(text), json.loads(text))


def test_the_cases_where_orjson_alone_differs() -> None:
    for text in ("123456789012345678901234567890", "18446744073709551616", "-9223372036854775809",
                 "[9223372036854775807, 1e400, NaN]", '"\\ud800"', '{"a": 1, "a": 2}', "1.5e-320", "-0.0"):
        assert _same(loads(text), json.loads(text)), text
    assert type(loads("18446744073709551616")) is int  # orjson alone reads it as a float
