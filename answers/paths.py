"""Response selection as Answers does it: pick one value out of a function's JSON result.

Answers' Response tab takes a dotted path from the root (``first_name``,
``addresses.0.city``); the documentation also shows ``$.first_name``. `select` accepts
both, plus JSONPath-style brackets (``$.addresses[0].city``, ``$['first name']``), so a
bot builder can check the exact paths they will type into Answers.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""\.?([^.\[\]'"]+)|\[(\d+)\]|\[(['"])(.*?)\3\]""")
_MISSING = object()


class PathError(LookupError):
    """The path is malformed, or leads nowhere in this result."""


def parse_path(path: str) -> list[str | int]:
    """``$.addresses[0].city`` -> ``["addresses", 0, "city"]``; a bare ``$`` or ``""`` is the root."""
    if not isinstance(path, str):
        raise PathError("the path must be a string")
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    text = text.removeprefix(".")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PathError(f"cannot read the path at position {pos + (len(path) - len(text))}: {path!r}")
        if m.group(1) is not None:
            if pos > 0 and text[pos] != ".":
                raise PathError(f"expected '.' or '[' in {path!r}")
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(m.group(4))
        pos = m.end()
    return parts


def select(result: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at `path` in `result`; `default` (or PathError) when it is not there.

    A digit segment indexes a list (``addresses.0``) and is a key in an object.
    """
    current = result
    walked: list[str] = []
    for part in parse_path(path):
        walked.append(str(part))
        if isinstance(current, list):
            index = part if isinstance(part, int) else int(part) if str(part).isdigit() else None
            if index is not None and index < len(current):
                current = current[index]
                continue
        elif isinstance(current, dict) and str(part) in current:
            current = current[str(part)]
            continue
        if default is not _MISSING:
            return default
        raise PathError(f"nothing at {'.'.join(walked)!r} (path {path!r})")
    return current
