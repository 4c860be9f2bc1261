"""Per-store request quota in fixed windows, and the ``X-Rate-Limit-*`` headers.

The quota is shared by every client of the store (``consume`` is one request of ours,
``consume_others`` simulates another app). Windows are fixed, measured in real (monotonic)
time from the moment the quota was configured, and independent of the store clock, which
tests freeze and move. With no quota ("unlimited") the headers are still sent, with a
quota of ``UNLIMITED_QUOTA`` per 30 s window.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

UNLIMITED_QUOTA = 1_000_000
DEFAULT_WINDOW_S = 30.0


@dataclass
class Grant:
    """The outcome of asking for one unit of quota."""

    allowed: bool
    quota: int
    left: int
    reset_ms: int
    window_ms: int

    def headers(self) -> dict[str, str]:
        """The four ``X-Rate-Limit-*`` headers (plus ``X-Retry-After`` when refused)."""
        h = {
            "X-Rate-Limit-Requests-Left": str(self.left),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Time-Reset-Ms": str(self.reset_ms),
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
        }
        if not self.allowed:
            h["X-Retry-After"] = str(max(1, math.ceil(self.reset_ms / 1000)))
        return h


class Quota:
    """A fixed-window request counter; thread-safe.

    ``windows`` holds, since the quota was last configured, one dict per window that saw traffic: ``{"window": i, "requests": n,
    "refused": k, "consumed_by_others": m}`` where ``requests`` counts the requests served
    within the quota (so ``requests + consumed_by_others <= quota`` always holds).
    """

    def __init__(self, limit: int | None = None, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._lock = threading.Lock()
        self.windows: list[dict[str, Any]] = []
        self.configure(limit, window_s)

    def configure(self, limit: int | None, window_s: float = DEFAULT_WINDOW_S) -> None:
        """Set ``limit`` requests per ``window_s`` seconds (``None`` = unlimited).

        Starts a new window and a fresh ``windows`` history.
        """
        if limit is not None and limit < 0:
            raise ValueError("quota must be >= 0 or None")
        if window_s <= 0:
            raise ValueError("quota window must be > 0 seconds")
        with self._lock:
            self.limit = limit
            self.window_s = float(window_s)
            self._t0 = time.monotonic()
            self._index = -1
            self._used = 0
            self.windows = []

    @property
    def unlimited(self) -> bool:
        return self.limit is None

    def _roll(self, now: float) -> int:
        idx = int((now - self._t0) // self.window_s)
        if idx != self._index:
            self._index = idx
            self._used = 0
            self.windows.append(
                {"window": idx, "requests": 0, "refused": 0, "consumed_by_others": 0}
            )
        return idx

    def _grant(self, allowed: bool, now: float) -> Grant:
        quota = UNLIMITED_QUOTA if self.limit is None else self.limit
        end = self._t0 + (self._index + 1) * self.window_s
        return Grant(
            allowed=allowed,
            quota=quota,
            left=max(0, quota - self._used),
            reset_ms=max(0, int(math.ceil((end - now) * 1000))),
            window_ms=int(round(self.window_s * 1000)),
        )

    def consume(self) -> Grant:
        """Take one unit for a request; ``allowed`` is False when the window is exhausted."""
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            stats = self.windows[-1]
            if self.limit is not None and self._used >= self.limit:
                stats["refused"] += 1
                return self._grant(False, now)
            self._used += 1
            stats["requests"] += 1
            return self._grant(True, now)

    def peek(self) -> Grant:
        """The current state without consuming anything (for responses that are not counted)."""
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            return self._grant(self.limit is None or self._used < self.limit, now)

    def consume_others(self, n: int) -> int:
        """Another app on the store spends up to ``n`` units of this window; returns how many it got."""
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            take = n if self.limit is None else max(0, min(n, self.limit - self._used))
            self._used += take
            self.windows[-1]["consumed_by_others"] += take
            return take
