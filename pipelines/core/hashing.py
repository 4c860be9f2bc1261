"""The one canonical JSON text and hash the diff compares (payloads, and derived values)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(payload: Any) -> str:
    """Stable JSON text of a payload: sorted keys, no spaces, UTF-8 kept as is, no NaN/Infinity."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(payload: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``payload``."""
    return text_hash(canonical_json(payload))


def text_hash(text: str) -> str:
    """sha256 (hex) of an already canonical JSON text (a lone surrogate must not crash the diff)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
