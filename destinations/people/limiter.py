"""One client-side rate limiter shared by every thread that talks to People.

People limits each operation per account to N requests in fixed one-second windows
(5/s for upsert, tags, custom attributes and deletes). Bursts would be refused, so the
limiter *spaces* requests: each caller reserves the next free slot ``interval`` seconds
after the previous one and sleeps until it. A small ``headroom`` widens the spacing so
that network jitter cannot put ``rate + 1`` arrivals in one server-side window.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Evenly spaced slots at ``rate`` per second (thread-safe, monotonic clock)."""

    def __init__(self, rate: float = 5.0, headroom: float = 0.05) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = (1.0 / rate) * (1.0 + headroom)
        self._next = 0.0
        self._lock = threading.Lock()
        self.acquired = 0

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must sleep before using it."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            self.acquired += 1
            return slot - now

    def acquire(self) -> None:
        """Block until the caller may send one request."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)

    def penalize(self, seconds: float) -> None:
        """Push every future slot back (called after a 429: the window is already full)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


_registry: dict[tuple[str, str, float], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(account: str, operation: str, rate: float = 5.0) -> RateLimiter:
    """The process-wide limiter for one (account base URL, operation) at a given rate.

    Every client of an account in this process gets the same limiter, so all loader
    threads share one budget (limits are per account, not per connection).
    """
    key = (account.rstrip("/"), operation, float(rate))
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(rate)
        return limiter
