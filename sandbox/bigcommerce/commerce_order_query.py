"""The `GET /v2/orders` (and `/v2/orders/count`) query: its filters, parsed and applied.

Filters as the Orders V2 spec documents them: ``min_id``/``max_id``, ``min_total``/``max_total``,
``customer_id``, ``email``, ``status_id``, ``cart_id``, ``payment_method``,
``min|max_date_created``, ``min|max_date_modified`` (RFC 2822 or ISO 8601; every bound
inclusive), ``channel_id``, ``external_order_id``; ``sort`` (field, ``:asc``/``:desc``; ties by
id), ``page``, ``limit`` (default 50, at most 250: more is 413). The spec documents no
``is_deleted`` query parameter; as the store does, archived orders are left out of lists and
counts unless ``is_deleted=true`` asks for them (and then only they are listed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bc2people.sandbox.bigcommerce.commerce_order_index import ID_MASK, OrderIndex
from bc2people.sandbox.bigcommerce.commerce_state import MAX_LIMIT, v2_error
from bc2people.sandbox.http import Request, Response
from bc2people.sandbox.order_records import total

SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id")
INT_FILTERS = ("customer_id", "status_id", "min_id", "max_id", "channel_id")
DATE_FILTERS = ("min_date_created", "max_date_created", "min_date_modified", "max_date_modified")
DATE_FORMATS = "RFC 2822 (Thu, 20 Apr 2017 11:32:00 -0400) or ISO 8601 (2017-04-20T11:32:00.000-04:00)"


def parse_date(raw: str) -> float:
    """Unix seconds of an RFC 2822 or ISO 8601 date (no zone = UTC); ValueError otherwise."""
    text = raw.strip()
    if not text:
        raise ValueError("empty date")
    candidates: list[Callable[[], datetime]] = [
        lambda: parsedate_to_datetime(text), lambda: datetime.fromisoformat(text),
    ]
    if " " in text:  # an unencoded "+" of an ISO offset arrives as a space
        head, _, tail = text.rpartition(" ")
        candidates.append(lambda: datetime.fromisoformat(f"{head}+{tail}"))
    for parse in candidates:
        try:
            dt = parse()
        except (TypeError, ValueError, IndexError):
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    raise ValueError(f"not a date: {raw!r}")


@dataclass
class OrderQuery:
    """One parsed orders query."""

    ints: dict[str, int | None] = field(default_factory=dict)
    created: tuple[int | None, int | None] = (None, None)
    modified: tuple[int | None, int | None] = (None, None)
    min_total: float | None = None
    max_total: float | None = None
    text: dict[str, str] = field(default_factory=dict)  # cart_id, email, payment_method, external_order_id
    deleted: bool = False
    sort: str = "id"
    desc: bool = False
    page: int = 1
    limit: int = 50


def _int(req: Request, name: str) -> int | None:
    raw = req.query.get(name)
    if raw in (None, ""):
        return None
    return int(raw)


def parse_query(req: Request, *, paged: bool = True) -> OrderQuery | Response:
    """The query, or the documented V2 error response (400 bad value, 413 limit too large)."""
    q = OrderQuery()
    try:
        q.ints = {k: _int(req, k) for k in INT_FILTERS}
        if paged:
            q.page = max(1, _int(req, "page") or 1)
            q.limit = _int(req, "limit") or 50
    except ValueError:
        return v2_error(400, "The field 'page', 'limit' or an id filter is not a valid integer.")
    if q.limit < 1:
        q.limit = 50
    if q.limit > MAX_LIMIT:
        return v2_error(413, "The specified limit exceeds the maximum allowed.", {"max_limit": MAX_LIMIT})
    bounds: dict[str, int | None] = {}
    for name in DATE_FILTERS:
        raw = req.query.get(name)
        if raw in (None, ""):
            bounds[name] = None
            continue
        try:
            ts = parse_date(raw)
        except ValueError:
            return v2_error(400, f"The field '{name}' is invalid.", {"invalid_reason": f"Use {DATE_FORMATS}."})
        bounds[name] = math.ceil(ts) if name.startswith("min") else math.floor(ts)  # whole stored seconds
    q.created = (bounds["min_date_created"], bounds["max_date_created"])
    q.modified = (bounds["min_date_modified"], bounds["max_date_modified"])
    for name in ("min_total", "max_total"):
        raw = req.query.get(name)
        if raw not in (None, ""):
            try:
                setattr(q, name, float(raw))
            except ValueError:
                return v2_error(400, f"The field '{name}' is invalid.", {"invalid_reason": "Must be a number."})
    q.text = {k: req.query[k] for k in ("cart_id", "email", "payment_method", "external_order_id")
              if req.query.get(k) not in (None, "")}
    raw_deleted = (req.query.get("is_deleted") or "false").lower()
    if raw_deleted not in ("true", "false", "1", "0"):
        return v2_error(400, "The field 'is_deleted' is invalid.", {"invalid_reason": "Must be true or false."})
    q.deleted = raw_deleted in ("true", "1")
    sort = req.query.get("sort") or "id"
    fname, _, direction = sort.partition(":")
    if fname not in SORT_FIELDS or direction.lower() not in ("", "asc", "desc"):
        return v2_error(400, f"The field 'sort' is invalid: {sort}")
    q.sort, q.desc = fname, direction.lower() == "desc"
    return q


Check = Callable[[dict[str, Any]], bool]
# A page sorted by an index is walked in that index's order (it stops at the page's end) unless
# another filter's range holds fewer orders than this fraction of it: then that range's orders
# are collected and sorted (a night's few changed orders, not the store's millions by id).
SORT_WALK_FACTOR = 4


def _eq(attr: str, value: Any, default: Any = None) -> Check:
    return lambda o: o.get(attr, default) == value


def _between(attr: str, lo: float | None, hi: float | None) -> Check:
    if lo is None:
        return lambda o: o[attr] <= hi
    if hi is None:
        return lambda o: o[attr] >= lo
    return lambda o: lo <= o[attr] <= hi


def _total_between(lo: float | None, hi: float | None) -> Check:
    return lambda o: (lo is None or total(o) >= lo) and (hi is None or total(o) <= hi)


def _same_text(getter: Callable[[dict[str, Any]], Any], value: str) -> Check:
    folded = value.casefold()
    return lambda o: str(getter(o) or "").casefold() == folded


def _checks(q: OrderQuery, skip: str) -> list[Check]:
    """Predicates for every filter except the range the chosen index already applies (``skip``)."""
    out: list[Check] = []
    ints = q.ints
    for name in ("customer_id", "status_id"):
        if ints.get(name) is not None:
            out.append(_eq(name, ints[name]))
    if ints.get("channel_id") is not None:
        out.append(_eq("channel_id", ints["channel_id"], 1))
    ranges = {"id": (ints.get("min_id"), ints.get("max_id")), "created": q.created, "modified": q.modified}
    for name, (lo, hi) in ranges.items():
        if name != skip and (lo, hi) != (None, None):
            out.append(_between(name, lo, hi))
    if (q.min_total, q.max_total) != (None, None):
        out.append(_total_between(q.min_total, q.max_total))
    t = q.text
    if "cart_id" in t:
        out.append(_eq("cart_id", t["cart_id"]))
    if "email" in t:
        out.append(_same_text(lambda o: o["billing"].get("email"), t["email"]))
    if "payment_method" in t:
        out.append(_same_text(lambda o: o.get("payment_method"), t["payment_method"]))
    if "external_order_id" in t:
        out.append(_eq("external_id", t["external_order_id"]))
    return out


def _sort_value(o: dict[str, Any], fname: str) -> tuple[Any, ...]:
    if fname == "date_created":
        return (o["created"], o["id"])
    if fname == "date_modified":
        return (o["modified"], o["id"])
    v = o.get(fname, 1 if fname == "channel_id" else None)
    return (v is not None, "" if v is None else v, o["id"])


class OrderSelector:
    """Runs queries against the stored orders and their index (callers hold the lock)."""

    def __init__(self, orders: dict[int, dict[str, Any]], index: OrderIndex) -> None:
        self.orders = orders
        self.index = index

    def _plan(self, q: OrderQuery, *, ordered: bool = True) -> tuple[str, tuple[int | None, int | None]]:
        """The index kind to walk and its range: the sort's own index when it is within a few
        times the narrowest range's span (walked in order, it stops at the page's end), else
        the narrowest range (its orders are then sorted). ``ordered=False`` (counts): the
        narrowest range."""
        ranges = {"modified": q.modified, "created": q.created, "id": (q.ints.get("min_id"), q.ints.get("max_id"))}
        spans = {kind: self._size(q, kind, rng) for kind, rng in ranges.items() if rng != (None, None)}
        narrowest = min(spans, key=lambda kind: spans[kind]) if spans else "id"
        by_sort = {"date_modified": "modified", "date_created": "created", "id": "id"}.get(q.sort)
        if ordered and by_sort is not None:
            sort_span = spans.get(by_sort, self._size(q, by_sort, (None, None)))
            if not spans or sort_span <= SORT_WALK_FACTOR * spans[narrowest]:
                return by_sort, ranges[by_sort]
        return narrowest, ranges[narrowest]

    def _size(self, q: OrderQuery, kind: str, rng: tuple[int | None, int | None]) -> int:
        _arr, start, stop = self.index.span(q.deleted, kind, *rng)
        return stop - start

    def _walk(self, q: OrderQuery, kind: str, rng: tuple[int | None, int | None],
              reverse: bool) -> tuple[Iterator[dict[str, Any]], int, bool]:
        """Orders in index order within the range, how many, and whether no other filter applies."""
        arr, start, stop = self.index.span(q.deleted, kind, *rng)
        checks = _checks(q, kind)
        orders = self.orders
        positions = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        mask = ID_MASK if kind != "id" else -1
        it = (orders[arr[i] & mask] for i in positions)
        if checks:
            it = (o for o in it if all(c(o) for c in checks))
        return it, stop - start, not checks

    def page(self, q: OrderQuery) -> list[dict[str, Any]]:
        """The stored orders of the query's page, in its sort order."""
        offset = (q.page - 1) * q.limit
        cid = q.ints.get("customer_id")
        if cid is not None:  # a customer's orders: few, filtered and sorted in full
            mine = [self.orders[i] for i in self.index.by_customer.get(cid, ())]
            checks = _checks(q, "")
            hits = [o for o in mine if bool(o.get("is_deleted")) == q.deleted and all(c(o) for c in checks)]
            hits.sort(key=lambda o: _sort_value(o, q.sort), reverse=q.desc)
            return hits[offset:offset + q.limit]
        kind, rng = self._plan(q)
        sort_kind = {"date_modified": "modified", "date_created": "created", "id": "id"}.get(q.sort)
        if sort_kind == kind:
            arr, start, stop = self.index.span(q.deleted, kind, *rng)
            if not _checks(q, kind):  # the page is a slice of the index
                mask = ID_MASK if kind != "id" else -1
                if q.desc:
                    hi, lo = stop - offset, max(start, stop - offset - q.limit)
                    return [self.orders[arr[i] & mask] for i in range(hi - 1, lo - 1, -1)]
                lo, hi = start + offset, min(stop, start + offset + q.limit)
                return [self.orders[arr[i] & mask] for i in range(lo, hi)]
            it, _, _ = self._walk(q, kind, rng, q.desc)
            out: list[dict[str, Any]] = []
            for o in it:
                if offset:
                    offset -= 1
                    continue
                out.append(o)
                if len(out) >= q.limit:
                    break
            return out
        it, _, _ = self._walk(q, kind, rng, False)
        hits = list(it)
        hits.sort(key=lambda o: _sort_value(o, q.sort), reverse=q.desc)
        return hits[offset:offset + q.limit]

    def matching(self, q: OrderQuery) -> Iterator[dict[str, Any]]:
        """Every stored order the query's filters select (no paging, index order)."""
        cid = q.ints.get("customer_id")
        if cid is not None:
            checks = _checks(q, "")
            return (o for o in (self.orders[i] for i in self.index.by_customer.get(cid, ()))
                    if bool(o.get("is_deleted")) == q.deleted and all(c(o) for c in checks))
        kind, rng = self._plan(q, ordered=False)
        it, _, _ = self._walk(q, kind, rng, False)
        return it
