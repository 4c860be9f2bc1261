"""The store's customers in memory: thread-safe, with cached orderings for fast paging.

Each customer is kept as the full V3 API object (addresses, attributes, form fields, store
credit, beta fields); `sandbox.bigcommerce.customers` decides what a response shows.
Orderings (by id, date_created, date_modified, last_name) are built lazily and dropped on
every change, so a GET against 100k customers costs a bisect and a slice, not a sort.
"""

from __future__ import annotations

import bisect
import gc
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

SORT_KEYS = ("id", "date_created", "date_modified", "last_name")
FREEZE_AT = 10_000  # bulk loads at least this big call gc.freeze() (see put_many)


_DATE_CACHE: dict[str, int] = {}


def parse_v3_date(value: Any) -> int:
    """A stored ``date_*`` string as unix seconds (0 when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return 0
    hit = _DATE_CACHE.get(value)
    if hit is not None:
        return hit
    if len(_DATE_CACHE) > 500_000:
        _DATE_CACHE.clear()
    _DATE_CACHE[value] = epoch = _parse(value)
    return epoch


def _parse(value: str) -> int:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return 0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _lower(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else ("" if value is None else str(value).casefold())


class Row:
    """One stored customer plus the keys filters and sorts use."""

    __slots__ = ("id", "dc", "dm", "email", "name", "last", "company", "data")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.refresh()

    def refresh(self) -> None:
        d = self.data
        if not isinstance(d, dict) or not isinstance(d.get("id"), int) or isinstance(d.get("id"), bool):
            raise ValueError("each customer must be an object with an integer id")
        self.id = d["id"]
        self.dc = parse_v3_date(d.get("date_created"))
        self.dm = parse_v3_date(d.get("date_modified"))
        self.email = _lower(d.get("email"))
        first = d.get("first_name")
        last = d.get("last_name")
        self.last = _lower(last)
        self.name = f"{_lower(first)} {self.last}"
        self.company = _lower(d.get("company"))


class View:
    """Rows in one order, with the sort key alongside for bisecting."""

    __slots__ = ("rows", "keys", "ids")

    def __init__(self, rows: list[Row], keys: list[Any]) -> None:
        self.rows = rows
        self.keys = keys
        self.ids = [r.id for r in rows]

    def between(self, lo: Any, hi: Any) -> list[Row]:
        """The rows whose key lies in ``[lo, hi]`` (inclusive; None = open), by bisecting."""
        i = 0 if lo is None else bisect.bisect_left(self.keys, lo)
        j = len(self.rows) if hi is None else bisect.bisect_right(self.keys, hi)
        return self.rows[i:j]


KEY_FUNCTIONS: dict[str, Callable[[Row], Any]] = {
    "id": lambda r: r.id,
    "date_created": lambda r: r.dc,
    "date_modified": lambda r: r.dm,
    "last_name": lambda r: r.last,
}


Ranges = tuple[tuple[str, int | None, int | None], ...]
MATCHES_KEPT = 32  # filtered windows kept by `CustomerStore.matching` (a first sync reads ~20 at once)


class CustomerStore:
    """Customers by id. All access goes through ``lock`` (an RLock other parts may hold too).

    ``extra`` is free space for extensions (the commerce routes keep their state there).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._rows: dict[int, Row] = {}
        self._emails: dict[str, int] = {}
        self._views: dict[str, View] = {}
        self._matches: dict[Ranges, View] = {}
        self.version = 0
        self.next_id = 1
        self.extra: dict[str, Any] = {}
        # called after each write with [(old, new)] (None for created / deleted): webhooks
        self.listeners: list[Callable[[list[tuple[dict[str, Any] | None, dict[str, Any] | None]]], None]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def _changed(self) -> None:
        self.version += 1
        self._views.clear()
        self._matches.clear()

    # -- reads ------------------------------------------------------------------------
    def get(self, customer_id: int) -> dict[str, Any] | None:
        """The stored object (not a copy: hold ``lock`` while reading it)."""
        row = self._rows.get(customer_id)
        return None if row is None else row.data

    def id_for_email(self, email: str) -> int | None:
        """The id of the customer holding ``email`` (case-insensitive)."""
        return self._emails.get(email.casefold())

    def all(self) -> list[dict[str, Any]]:
        """Every stored object in id order."""
        with self.lock:
            return [r.data for r in self.view("id").rows]

    def view(self, key: str) -> View:
        """Rows ordered by ``key`` ascending (ties by id); cached until the next change."""
        with self.lock:
            v = self._views.get(key)
            if v is None:
                kf = KEY_FUNCTIONS[key]
                rows = sorted(self._rows.values(), key=lambda r: (kf(r), r.id))
                v = View(rows, [kf(r) for r in rows])
                self._views[key] = v
            return v

    def matching(self, ranges: Ranges) -> View:
        """The rows whose keys lie in every ``(key, lo, hi)`` range (inclusive; None = open), in
        id order; cached until the next change. A keyset walk of a filtered window asks for the
        same ranges page after page: each page is then a bisect, not a scan of the id order
        testing every row (which cost as much as rendering the page)."""
        with self.lock:
            v = self._matches.get(ranges)
            if v is None:
                spans = sorted(((self.view(key).between(lo, hi), key) for key, lo, hi in ranges),
                               key=lambda span: len(span[0]))
                rows, narrowest = spans[0]
                for key, lo, hi in ranges:
                    if key != narrowest:
                        kf = KEY_FUNCTIONS[key]
                        rows = [r for r in rows if (lo is None or kf(r) >= lo) and (hi is None or kf(r) <= hi)]
                rows.sort(key=lambda r: r.id)
                v = View(rows, [r.id for r in rows])
                if len(self._matches) >= MATCHES_KEPT:
                    del self._matches[next(iter(self._matches))]  # the oldest
                self._matches[ranges] = v
            return v

    def id_position(self, customer_id: int) -> int:
        """Index in the id view of the first row with id >= ``customer_id``."""
        return bisect.bisect_left(self.view("id").ids, customer_id)

    # -- writes -----------------------------------------------------------------------
    def put_many(self, customers: Iterable[dict[str, Any]]) -> int:
        """Insert or replace whole objects as given (ids and dates kept); returns how many.

        All or nothing: a batch whose emails collide (case-insensitively) with another
        customer, or with each other, raises ValueError and changes nothing.
        """
        was_enabled = gc.isenabled()
        gc.disable()  # bulk loads create many objects; the cyclic GC only slows them down
        try:
            rows = [Row(c) for c in customers]  # ValueError before anything is stored
        finally:
            if was_enabled:
                gc.enable()
        with self.lock:
            claimed: dict[str, int] = {}
            batch_ids = {r.id for r in rows}
            for row in rows:
                if not row.email:
                    continue
                holder = claimed.get(row.email)
                if holder is None:
                    holder = self._emails.get(row.email)
                    if holder is not None and holder in batch_ids and holder != row.id:
                        holder = None  # that customer is being replaced in this batch
                if holder is not None and holder != row.id:
                    raise ValueError(f"customer {row.id}: email already used by customer {holder}")
                claimed[row.email] = row.id
            olds = [self._rows.get(row.id) for row in rows]
            for old in olds:
                if old is not None and self._emails.get(old.email) == old.id:
                    del self._emails[old.email]
            for row in rows:
                if row.email:
                    self._emails[row.email] = row.id
                self._rows[row.id] = row
                if row.id >= self.next_id:
                    self.next_id = row.id + 1
            if rows:
                self._changed()
        if len(rows) >= FREEZE_AT:
            # A big store is millions of long-lived objects; every full GC pass would walk
            # them all (tens of ms per request). Customer objects hold no cycles, so moving
            # them to the permanent generation loses nothing.
            gc.freeze()
        if self.listeners and rows:
            self._notify([(None if o is None else o.data, r.data) for o, r in zip(olds, rows, strict=True)])
        return len(rows)

    def _notify(self, changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]) -> None:
        for listener in list(self.listeners):
            listener(changes)

    def replace(self, data: dict[str, Any]) -> None:
        """Store a changed object for an existing id (email index and orderings follow)."""
        self.put_many([data])

    def delete(self, ids: Iterable[int]) -> list[int]:
        """Remove customers; returns the ids that existed."""
        gone = []
        removed: list[dict[str, Any]] = []
        with self.lock:
            for i in ids:
                row = self._rows.pop(i, None)
                if row is None:
                    continue
                if self._emails.get(row.email) == row.id:
                    del self._emails[row.email]
                gone.append(i)
                removed.append(row.data)
            if gone:
                self._changed()
        if self.listeners and removed:
            self._notify([(d, None) for d in removed])
        return gone

    def allocate_id(self) -> int:
        """A fresh sequential customer id."""
        with self.lock:
            i = self.next_id
            self.next_id += 1
            return i
