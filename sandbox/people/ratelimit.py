"""People's rate limit: a fixed one-second window per operation per account.

The spec's ``x-throttling-info`` is ``type: time`` (fixed window), 5 requests/s for the
operations the sandbox serves. An operation is ``METHOD + route template`` (so
``GET /people/2/tags/{name}`` is one operation whatever the name). The sandbox plays one
account. Windows are aligned to whole seconds of ``time.monotonic()``. Refused requests do
not count against the window. No rate-limit headers are sent (none are documented).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class FixedWindowLimiter:
    """Counts requests per key per fixed window; ``limit=None`` means unlimited."""

    def __init__(
        self, limit: int | None = 5, window_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock  # tests may swap in a fake clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}
        self.refused = 0

    def allow(self, key: str) -> bool:
        """Count one request for ``key``; False when its window is already full."""
        limit = self.limit
        if limit is None:
            return True
        window = int(self.clock() // self.window_s)
        with self._lock:
            current, count = self._windows.get(key, (window, 0))
            if current != window:
                count = 0
            if count >= limit:
                self._windows[key] = (window, count)
                self.refused += 1
                return False
            self._windows[key] = (window, count + 1)
            return True

    def reset(self) -> None:
        """Forget all windows and go back to the real clock."""
        with self._lock:
            self._windows.clear()
            self.refused = 0
            self.clock = time.monotonic
