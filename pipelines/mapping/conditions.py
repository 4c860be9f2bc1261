"""``when:`` conditions: whether a field is mapped at all for a customer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .compiler import compile_path
from .transforms import lookup_key

_FALSY_TEXT = frozenset({"", "false", "no", "n", "0", "off", "f", "none", "null"})


def truthy(value: Any) -> bool:
    """Truth as a data engineer means it: no/false/0/off/empty are false, lists if any item is true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_TEXT
    if isinstance(value, list):
        return any(truthy(v) for v in value)
    return bool(value)


def make_when(spec: Any) -> Callable[[Any], bool]:
    """Compile a ``when:`` condition: a JSONPath (truthy test) or {from, equals | in}."""
    if isinstance(spec, str):
        p = compile_path(spec)
        if p.mode == "fast-single":
            first = p.first
            return lambda doc: truthy(first(doc))
        every = p.all
        return lambda doc: truthy(every(doc))
    if not isinstance(spec, dict) or "from" not in spec or not isinstance(spec["from"], str):
        raise ValueError("expected a JSONPath or a mapping with `from:`")
    extra = set(spec) - {"from", "equals", "in"}
    if extra or ("equals" in spec) == ("in" in spec):
        raise ValueError("give `from:` and exactly one of `equals:` or `in:`")
    options = [spec["equals"]] if "equals" in spec else spec["in"]
    if not isinstance(options, list) or any(isinstance(o, list | dict) for o in options):
        raise ValueError("`in:` takes a list of plain values")
    wanted = frozenset(lookup_key(o) for o in options)
    p = compile_path(spec["from"])

    def test(doc: Any) -> bool:
        for v in p.all(doc):
            for item in v if isinstance(v, list) else (v,):
                if not isinstance(item, list | dict) and item is not None and lookup_key(item) in wanted:
                    return True
        return False

    return test
