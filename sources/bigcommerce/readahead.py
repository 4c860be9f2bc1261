"""Reading the next segment's customers while dlt normalizes and loads the current one.

A first sync in segments (see `segments`) stages each segment as one dlt run: extract (the
API reads), then normalize and load (no requests). Run one after another, the API sat idle
for the second half of every segment, and the staging read at half the store's quota.

`Readahead` is shared by the runs of one first sync. When a segment's ``customers``
resource has read its whole window, it starts reading the next segment's window on a
thread of its own (`Readahead.start_next`), with its own client and quota budget (no longer
used by anything else); the next segment's resource takes those pages (`Readahead.take`)
when its window is exactly the one read ahead, and reads by itself otherwise. Nothing is
committed by reading ahead: the pages only reach dlt through the next segment's resource,
whose cursor advances with its load as before, so a kill anywhere loses nothing.

Each page is prepared on the read's thread (``prepare``; the customers resource gives its
`arrow_pages.PagePreparer`), so it waits in the queue as the Arrow table dlt will be given
(~0.23 MiB for 250 customers, against ~1.3 MiB of parsed dicts) and the taker only adds dlt's
columns. A full queue (64 pages) is the steady state whenever the push, not the API, sets the
pace. (Pages used to wait as marshal bytes: as compact, but packing and unpacking them took ~8%
of a first sync's interpreter-lock time.)
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .client import BigCommerceClient
from .reader import CustomerPages, WindowReader
from .windows import Slice

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class AheadRead:
    """One window's pages read on a thread into a bounded queue."""

    def __init__(self, client: BigCommerceClient, window: Slice, *, workers: int, split_pages: int,
                 max_pages: int, prepare: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.client = client  # a scoped twin: its counters are this window's requests
        self.window = window
        self.prepare = prepare
        self.reader = WindowReader(CustomerPages(client), window, workers=workers, split_pages=split_pages)
        self._pages: queue.Queue[Any] = queue.Queue(maxsize=max(1, max_pages))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bigcommerce-readahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pages = iter(self.reader)
        try:
            for rows in pages:
                page = self.prepare(rows)
                while not self._stop.is_set():
                    try:
                        self._pages.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._put_last(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming resource
            self._put_last(_Failed(exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _put_last(self, item: Any) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._pages.put(item, timeout=0.1)
                return

    def pages(self) -> Iterator[Any]:
        """The window's pages, in the order `WindowReader` yields them, as ``prepare`` made them;
        a failure of the read is raised here."""
        while True:
            item = self._pages.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def close(self) -> None:
        """Stop reading (pages not yet taken are dropped: nothing was committed for them)."""
        self._stop.set()
        self._thread.join()


class Readahead:
    """The segment ends of one first sync, and the read ahead of the next segment's window."""

    def __init__(self, segment_ends: Sequence[int], *, max_pages: int = 64) -> None:
        self.ends = sorted(segment_ends)
        self.max_pages = max_pages
        self.used = self.missed = 0
        # what the last segment read staged from its edge seconds (`arrow_pages.PagePreparer.edge`)
        self.staged_edge: dict[int, Any] = {}
        self._ahead: AheadRead | None = None
        self._lock = threading.Lock()

    def take(self, window: Slice) -> AheadRead | None:
        """The read ahead of exactly ``window`` (then this holder lets go of it), or None; a read
        ahead of another window is stopped."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if ahead.window == window:
            self.used += 1
            return ahead
        self.missed += 1
        ahead.close()
        return None

    def next_window(self, after: Slice) -> Slice | None:
        """The window the segment after ``after`` will read: from its end to the next segment end."""
        later = [end for end in self.ends if end > after.end]
        return Slice(after.end, later[0]) if later else None

    def start_next(self, client: BigCommerceClient, after: Slice, *, workers: int, split_pages: int,
                   prepare: Callable[[Slice], Callable[[list[dict[str, Any]]], Any]]) -> None:
        """Start reading the window after ``after`` (none after the last segment) with
        ``client``, which nothing else uses from now on; each page on the way goes through
        ``prepare(window)`` (made once, now)."""
        window = self.next_window(after)
        if window is None:
            return
        ahead = AheadRead(client.scoped(), window, workers=workers, split_pages=split_pages, max_pages=self.max_pages,
                          prepare=prepare(window))
        with self._lock:
            old, self._ahead = self._ahead, ahead
        if old is not None:
            old.close()

    def close(self) -> None:
        """Stop any read ahead (the run is over or stopping)."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()
