"""`canonical_json` takes a faster path (orjson) for plain values: its text, hence every hash
stored in existing ledgers, must be exactly what release 0.2's ``json.dumps`` call wrote, or
every unchanged person would be re-sent after an upgrade."""

from __future__ import annotations

import enum
import hashlib
import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from bc2people.pipelines.core.hashing import canonical_json, payload_hash
from bc2people.pipelines.mapping import load_mapping
from bc2people.sandbox.generator import generate_customers

REPO = Path(__file__).resolve().parents[1]


def reference(payload: Any) -> str:
    """The canonical text exactly as the ledgers of earlier releases hold it."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def reference_hash(payload: Any) -> str:
    return hashlib.sha256(reference(payload).encode("utf-8", "surrogatepass")).hexdigest()


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Exception as exc:  # noqa: BLE001 - the same error must come back
        return type(exc)


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


STRINGS = ["", "a", "Ä", "漢字", "😀", "\u0000\u001f\u007f", "\t\n\r\b\f", '"\\/', "\u2028\u2029", "\ud800", "\udfff x",
           "\ufeff", "é", "z", "Z", "aa", "a\u0301"]
FLOATS = [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e-05, 2.5e-07, 0.1, 100.0, 1e22,
          5e-324, 1.7976931348623157e308, 123.45, -7.5, float("nan"), float("inf"), float("-inf")]
INTS = [0, 1, -1, 2**53, 2**63 - 1, -(2**63), -(2**63) - 1, 2**63, 2**64 - 1, 2**64, 10**30, True, False]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(STRINGS) + "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(3)))
    if kind == 1:
        return rng.choice(INTS) if rng.random() < 0.3 else rng.randrange(-10**6, 10**6)
    if kind == 2:
        if rng.random() < 0.3:
            return rng.choice(FLOATS)
        if rng.random() < 0.3:
            return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        return round(rng.uniform(-1e6, 1e6), rng.randrange(0, 6)) * 10 ** rng.randrange(-6, 12)
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return rng.choice([Colour.RED, Name("n"), (1, "t"), 1.5])
    if kind in (5, 6):
        return {(rng.choice(STRINGS) + str(i) if rng.random() < 0.95 else rng.choice([1, 2.5, None, True])):
                _value(rng, depth + 1) for i in range(rng.randrange(5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_random_values_write_the_same_text_or_raise_the_same_error() -> None:
    rng = random.Random(16)
    for _ in range(20_000):
        value = _value(rng)
        assert _outcome(canonical_json, value) == _outcome(reference, value), repr(value)[:300]


@pytest.mark.parametrize("value", [*STRINGS, *FLOATS, *INTS, {"b": 1, "a": 2, "B": 3, "é": 4, "😀": 5, "\uffff": 6},
                                   {1: "int key"}, {"x": [1, {"y": 2.5e-7}]}])
def test_edge_values(value: Any) -> None:
    assert _outcome(canonical_json, value) == _outcome(reference, value)


def test_shipped_mapping_payloads_keep_their_hashes() -> None:
    mapping = load_mapping(str(REPO / "mappings/customers_to_people.yaml"))
    payloads = [mapping.map(c, context={"store_hash": "s1"}).payload for c in generate_customers(3000, seed=16)]
    payloads = [p for p in payloads if p is not None]
    assert len(payloads) > 2500
    for p in payloads:
        assert payload_hash(p) == reference_hash(p)


def test_a_cycle_raises_as_before() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    new, old = _outcome(canonical_json, loop), _outcome(reference, loop)
    assert new is old is ValueError
