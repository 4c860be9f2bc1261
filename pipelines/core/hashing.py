"""The one canonical JSON text and hash the diff compares (payloads, and derived values).

The text is stored, hashed, in every ledger (``payload_hash``/``accepted_hash``): it must never
change, or every unchanged record would be re-sent after an upgrade. ``canonical_json`` is
``json.dumps`` with sorted keys, no spaces, UTF-8 kept and no NaN; for the plain values payloads
are made of it uses orjson, which writes exactly the same text for them and is several times
faster (tests/test_hashing_fast.py compares the two).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson as _orjson

_INT_MIN, _INT_END = -(1 << 63), 1 << 64  # orjson writes integers in this range
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def canonical_json(payload: Any) -> str:
    """Stable JSON text of a payload: sorted keys, no spaces, UTF-8 kept as is, no NaN/Infinity."""
    try:
        if _plain(payload):
            return _orjson.dumps(payload, option=_orjson.OPT_SORT_KEYS).decode("utf-8")
    except (TypeError, RecursionError):  # a lone surrogate (orjson refuses it), a cycle
        pass
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> bool:
    """Whether orjson writes ``value`` exactly as ``json.dumps`` does: dicts with str keys,
    lists, str, bool, None, ints orjson can write, and floats that Python's repr writes without
    an exponent (both write the shortest round-trip digits; they differ only in when and how
    they use an exponent). Exact types only: subclasses (enums...) go to ``json.dumps``."""
    t = type(value)
    if t is dict:
        for k, v in value.items():  # noqa: SIM110 - a loop is faster than all() over a generator
            if type(k) is not str or not _plain(v):
                return False
        return True
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return bool(_INT_MIN <= value < _INT_END)
    if t is float:
        return bool(value == 0.0 or 1e-4 <= abs(value) < 1e16)
    if t is list:
        for v in value:  # noqa: SIM110
            if not _plain(v):
                return False
        return True
    return False


def payload_hash(payload: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``payload``."""
    return text_hash(canonical_json(payload))


def text_hash(text: str) -> str:
    """sha256 (hex) of an already canonical JSON text (a lone surrogate must not crash the diff)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def loads_exact(text: str) -> Any:
    """``json.loads(text)``, through orjson (several times faster) where it reads equal values of
    the same types: not for a text with a run of 19 digits (orjson reads an integer past 64 bits
    as a float and cuts a long fraction), nor for what it refuses (NaN, Infinity, a lone
    surrogate, a number past a double's range), which ``json.loads`` reads."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text)
