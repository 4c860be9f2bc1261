"""The declarative mapping engine: YAML + JSONPath → Infobip People v3 persons.

``load_mapping(path)`` validates and compiles a mapping file (``MappingError`` lists every
problem with file:line:col); ``Mapping.map(customer, context)`` gives a ``MappedRecord``;
``payload_hash(payload)`` is the stable hash the diff compares.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .engine import Mapping
from .loader import load_mapping, load_mapping_bytes
from .model import Issue, MappedRecord, MappingError


def canonical_json(payload: Any) -> str:
    """The canonical JSON text of a payload: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(payload: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``payload``."""
    # surrogatepass: a lone surrogate (possible in JSON text) must not crash the diff
    return hashlib.sha256(canonical_json(payload).encode("utf-8", "surrogatepass")).hexdigest()


__all__ = [
    "Issue",
    "Mapping",
    "MappedRecord",
    "MappingError",
    "canonical_json",
    "load_mapping",
    "load_mapping_bytes",
    "payload_hash",
]
