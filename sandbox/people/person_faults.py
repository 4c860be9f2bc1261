"""Per-person failures of the v3 upsert: People failing on chosen persons inside a 207.

Two kinds, keyed by the ``externalId`` a request item carries:

- ``error``: the 207 holds an ``errors[]`` item for that index with a 5xx-class code
  (default ``500100``, People failed on that person) and the person is not stored;
- ``omit``: the 207 mentions that index nowhere (neither ``results[]`` nor ``errors[]``)
  and the person is not stored (sandbox choice: an omitted person was not applied).

Failures last until cleared (``clear()``, ``PeopleSandbox.reset()`` or the control API with
empty lists); ``hits`` counts how often each externalId was failed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bc2people.sandbox.people import errors as E

FAILED_PERSON_MESSAGE = "People could not process this person, try again later"


class PersonFaults:
    """The chosen persons an upsert fails on, and how often it did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: set[str] = set()
        self.omit: set[str] = set()
        self.code = E.INTERNAL
        self.hits: Counter[str] = Counter()

    def configure(self, *, error: Iterable[str] = (), omit: Iterable[str] = (), code: int | None = None) -> None:
        """Fail these externalIds from now on (replaces the previous choice)."""
        error_ids, omit_ids = _ids(error, "error"), _ids(omit, "omit")
        if error_ids & omit_ids:
            raise ValueError("an externalId cannot be both in error and in omit")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool) or not 500000 <= code <= 599999):
            raise ValueError("code must be a 5xx-class V3 code (500000..599999)")
        with self._lock:
            self.error, self.omit = error_ids, omit_ids
            self.code = E.INTERNAL if code is None else code

    def clear(self) -> None:
        """No more per-person failures (hit counts kept)."""
        self.configure()

    def as_dict(self) -> dict[str, Any]:
        """The control API's view: chosen ids, code and hit counts."""
        with self._lock:
            return {"error": sorted(self.error), "omit": sorted(self.omit), "code": self.code,
                    "hits": dict(self.hits)}

    def split(self, persons: list[Any]) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
        """(index, raw person) pairs to process normally, and the error items of failed ones."""
        keep: list[tuple[int, Any]] = []
        failed: list[dict[str, Any]] = []
        with self._lock:
            if not self.error and not self.omit:
                return list(enumerate(persons)), failed
            for i, raw in enumerate(persons):
                ext = raw.get("externalId") if isinstance(raw, dict) else None
                if isinstance(ext, str) and ext in self.error:
                    self.hits[ext] += 1
                    failed.append({"code": self.code, "message": FAILED_PERSON_MESSAGE, "index": i})
                elif isinstance(ext, str) and ext in self.omit:
                    self.hits[ext] += 1
                else:
                    keep.append((i, raw))
        return keep, failed


def _ids(values: Iterable[str], name: str) -> set[str]:
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{name} must be a list of externalIds")
    return set(values)
