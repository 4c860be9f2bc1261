"""Sorted indexes over the sandbox's orders, so a page of millions is found by bisection.

Per archive state (``is_deleted`` False / True) three sorted ``array('q')`` hold one int per
order: ``modified << 32 | id``, ``created << 32 | id`` and ``id``. A page in (date_modified,
id) order is then a bisect and a slice, whatever the number of orders. ``by_customer`` lists
each customer's order ids (guests under 0). Callers hold the commerce lock.
"""

from __future__ import annotations

import gc
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from typing import Any

ID_BITS = 32
ID_MASK = (1 << ID_BITS) - 1
KINDS = ("modified", "created", "id")


def key(order: dict[str, Any], kind: str) -> int:
    """The index key of an order for ``kind`` (one of `KINDS`)."""
    oid = int(order["id"])
    if kind == "id":
        return oid
    return int(order[kind]) << ID_BITS | oid


class OrderIndex:
    """Sorted keys per (archive state, kind) and order ids per customer."""

    def __init__(self) -> None:
        self.sorted: dict[tuple[bool, str], array[int]] = {}
        self.by_customer: dict[int, list[int]] = {}
        self.clear()

    def clear(self) -> None:
        self.sorted = {(d, k): array("q") for d in (False, True) for k in KINDS}
        self.by_customer = {}

    def rebuild(self, orders: Iterable[dict[str, Any]]) -> None:
        """Index every order from scratch (bulk loads)."""
        was_enabled = gc.isenabled()
        gc.disable()  # millions of keys: the cyclic GC would only slow this down
        try:
            self._rebuild(orders)
        finally:
            if was_enabled:
                gc.enable()

    def _rebuild(self, orders: Iterable[dict[str, Any]]) -> None:
        self.clear()
        buckets: dict[tuple[bool, str], list[int]] = {k: [] for k in self.sorted}
        by_customer = self.by_customer
        for o in orders:
            oid = int(o["id"])
            if not 0 < oid <= ID_MASK:
                raise ValueError(f"order id {oid} out of range 1..{ID_MASK}")
            d = bool(o.get("is_deleted"))
            buckets[(d, "modified")].append(int(o["modified"]) << ID_BITS | oid)
            buckets[(d, "created")].append(int(o["created"]) << ID_BITS | oid)
            buckets[(d, "id")].append(oid)
            ids = by_customer.get(o["customer_id"])
            if ids is None:
                by_customer[o["customer_id"]] = [oid]
            else:
                ids.append(oid)
        for k, values in buckets.items():
            values.sort()
            self.sorted[k] = array("q", values)

    def add(self, order: dict[str, Any]) -> None:
        """Index one new order (its current dates and archive state)."""
        d = bool(order.get("is_deleted"))
        for kind in KINDS:
            insort(self.sorted[(d, kind)], key(order, kind))
        self.by_customer.setdefault(order["customer_id"], []).append(int(order["id"]))

    def remove(self, order: dict[str, Any]) -> None:
        """Forget one order as it is indexed now (call before changing dates, state or customer)."""
        d = bool(order.get("is_deleted"))
        for kind in KINDS:
            arr = self.sorted[(d, kind)]
            k = key(order, kind)
            i = bisect_left(arr, k)
            if i < len(arr) and arr[i] == k:
                del arr[i]
        ids = self.by_customer.get(order["customer_id"])
        if ids is not None and int(order["id"]) in ids:
            ids.remove(int(order["id"]))

    def span(self, deleted: bool, kind: str, lo: int | None, hi: int | None) -> tuple[array[int], int, int]:
        """The index and the [start, stop) positions whose value lies in [lo, hi] (None = open)."""
        arr = self.sorted[(deleted, kind)]
        if kind == "id":
            start = 0 if lo is None else bisect_left(arr, lo)
            stop = len(arr) if hi is None else bisect_right(arr, hi)
        else:
            start = 0 if lo is None else bisect_left(arr, max(lo, 0) << ID_BITS)
            stop = len(arr) if hi is None else bisect_right(arr, hi << ID_BITS | ID_MASK) if hi >= 0 else 0
        return arr, start, max(start, stop)
