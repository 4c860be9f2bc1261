"""The declarative mapping engine: YAML + JSONPath → Infobip People v3 persons.

``load_mapping(path)`` validates and compiles a mapping file (``MappingError`` lists every
problem with file:line:col); ``Mapping.map(customer, context)`` gives a ``MappedRecord``;
``payload_hash(payload)`` is the stable hash the diff compares.
"""

from __future__ import annotations

from bc2people.pipelines.core.hashing import canonical_json, payload_hash

from .engine import Mapping
from .loader import load_mapping, load_mapping_bytes
from .model import Issue, MappedRecord, MappingError

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
