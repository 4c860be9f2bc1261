"""The store's clock: real time plus an offset, or frozen at a chosen second."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """A controllable UTC clock in whole unix seconds (what ``GET /v2/time`` reports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: int | None = None

    def now(self) -> int:
        """Current store time, unix seconds."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return int(time.time() + self._offset)

    def set(self, epoch: int) -> None:
        """Jump to ``epoch``; a frozen clock stays frozen there, a running one keeps ticking from it."""
        with self._lock:
            if self._frozen is not None:
                self._frozen = int(epoch)
            else:
                self._offset = int(epoch) - time.time()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative) by ``seconds``."""
        with self._lock:
            if self._frozen is not None:
                self._frozen = int(self._frozen + seconds)
            else:
                self._offset += seconds

    def freeze(self, epoch: int | None = None) -> None:
        """Stop the clock at ``epoch`` (default: now)."""
        with self._lock:
            if epoch is None:
                epoch = self._frozen if self._frozen is not None else int(time.time() + self._offset)
            self._frozen = int(epoch)

    def unfreeze(self) -> None:
        """Let a frozen clock run again from where it stood."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def iso(self) -> str:
        """Now as the V3 customers API writes dates: ``YYYY-MM-DDTHH:MM:SSZ``."""
        return format_v3(self.now())


def format_v3(epoch: int) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
