"""``/stores/{hash}/v3/customers``: list (filters, sort, include, page and cursor paging),
create, update, delete.

Behaviour, with the choices made where the spec and docs are silent:

- **Filters** (AND across parameters, OR within a comma list): ``id:in``, ``email:in``
  (exact, **case-insensitive**: the store keeps emails unique case-insensitively),
  ``name:in`` (exact ``"first last"``, case-insensitive), ``name:like`` (case-insensitive
  substring of ``"first last"``, so a value may span the space), ``company:in``
  (case-insensitive exact), ``customer_group_id:in``, ``phone:in`` and
  ``registration_ip_address:in`` (exact strings), ``date_created``/``date_modified``
  (that exact second) and their ``:min``/``:max`` (**inclusive**, whole seconds UTC).
  Unknown parameters are ignored, like the real API; an empty list (``id:in=``) matches
  nothing (safer for a client that sends an empty batch than matching everything).
  Two modes for what the docs leave open (both off by default): ``strict_date_bounds``
  makes ``:min``/``:max`` **exclusive** (the spec says "after"/"before"), and
  ``refuse_encoded_dates`` answers 422 when a date filter's name or value came
  percent-encoded (``%3A``), as a BigCommerce docs issue reports of the real store.
- **Date values**: ``2024-05-14T09:34:00Z``, ``+00:00`` or any other offset, naive (= UTC),
  fractional seconds (truncated), or unix seconds. A **bare date** ``2024-05-14`` means that
  date plus the store clock's current time of day (the documented trap). Anything else,
  including a ``+`` that arrived as a space because it was not sent as ``%2B``, is a 422.
- **Sort**: the six documented values; ties broken by id in the sort's direction
  (``last_name`` compares case-insensitively). No sort = id ascending. Unknown → 422.
- **Include**: ``addresses``, ``storecredit``, ``attributes``, ``formfields``,
  ``shopper_profile_id``, ``segment_ids``; each sub-resource key is **absent** unless
  included (address ``form_fields`` need both ``addresses`` and ``formfields``). Unknown
  values → 422. ``address_count`` and ``attribute_count`` are plain schema fields and are
  **always** present, counting the stored sub-resources.
- **limit**: default 50, maximum 250; over 250, below 1 or not an integer → **422** in
  the V3 ``Error`` shape (the customers spec documents only 422 for this operation).
  ``page`` below 1 or not an integer → 422.
- **Page paging**: ``meta.pagination`` = total, count, per_page, current_page,
  total_pages (0 when nothing matches), links with relative query strings
  ``?page=N&limit=L``; ``previous`` omitted on page 1, ``next`` omitted on the last page.
  Page 1 (or no ``page``) also carries ``meta.cursor_pagination``; ``page > 1`` only
  ``pagination``.
- **Cursor paging** (``after``/``before``; ``page`` ignored): cursors are
  ``base64url(json({"id": id}))`` without padding. **Cursor paging is keyset paging on
  id**: ``after=c`` returns the matching customers with ``id > c`` in ascending id order,
  ``before=c`` the last ``limit`` matching customers with ``id < c``, also in ascending
  order. **``sort`` is ignored when a cursor is present**: the filters (including a
  ``date_modified:min/max`` window) are applied and results come in id order. So a
  consistent cursor walk is: first page without ``sort`` (id order), then
  ``after=end_cursor`` until ``links.next`` is absent. Responses carry only
  ``meta.cursor_pagination`` = count, per_page, start_cursor, end_cursor (both omitted
  when empty), links ``current``, ``previous`` (when matches exist before the page) and
  ``next`` (when matches exist after it) as ``?limit=L&after=X`` / ``?limit=L&before=X``.
  A cursor that does not decode → 422; both ``after`` and ``before`` → 422.
- **POST**: array of at most 10 (413 over), required ``email``/``first_name``/``last_name``
  (422), duplicate email case-insensitively (422 "This email address is already in use by a
  customer."); returns 200 ``{data, meta: {}}`` with every sub-resource.
- **PUT**: array of at most 10 (413), each with an existing ``id`` (422 otherwise); bumps
  ``date_modified`` to the store clock.
- **DELETE** ``?id:in=…``: 204; without ``id:in`` also 204 and nothing changes; ids that do
  not exist are ignored; a non-integer id → 422.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from bc2people.sandbox.bigcommerce.errors import v3_error
from bc2people.sandbox.bigcommerce.store import KEY_FUNCTIONS, CustomerStore, Row
from bc2people.sandbox.bigcommerce.writes import CustomerError
from bc2people.sandbox.http import Request, Response, Router, encode_json

if TYPE_CHECKING:
    from bc2people.sandbox.bigcommerce.server import BigCommerceSandbox

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
SORTS = {
    "date_created:asc": ("date_created", False), "date_created:desc": ("date_created", True),
    "date_modified:asc": ("date_modified", False), "date_modified:desc": ("date_modified", True),
    "last_name:asc": ("last_name", False), "last_name:desc": ("last_name", True),
}
INCLUDES = ("addresses", "storecredit", "attributes", "formfields", "shopper_profile_id", "segment_ids")
BASE_FIELDS = (
    "id", "email", "first_name", "last_name", "company", "phone", "registration_ip_address", "notes",
    "tax_exempt_category", "customer_group_id", "date_created", "date_modified", "authentication",
    "accepts_product_review_abandoned_cart_emails", "origin_channel_id", "channel_ids",
)
_INT_RE = re.compile(r"^-?\d+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Pred = Callable[[Row], bool]


# -- cursors and dates ----------------------------------------------------------------
def encode_cursor(customer_id: int) -> str:
    """``base64url(json({"id": id}))`` without padding, as in the docs' examples."""
    raw = json.dumps({"id": customer_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id inside a cursor; ValueError when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        cid = data["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(cid, int) or isinstance(cid, bool):
        raise ValueError("invalid cursor")
    return cid


def parse_filter_date(value: str, now_epoch: int) -> int:
    """A date filter value as unix seconds (see the module docstring); ValueError if unreadable."""
    v = value.strip()
    if not v:
        raise ValueError("empty date")
    if _INT_RE.match(v):
        return int(v)
    if _DATE_RE.match(v):
        d = datetime.strptime(v, "%Y-%m-%d").date()
        tod = datetime.fromtimestamp(now_epoch, UTC).time()
        return int(datetime.combine(d, time(tod.hour, tod.minute, tod.second), UTC).timestamp())
    if " " in v.replace("T", " ", 1).split(" ", 1)[-1]:
        raise ValueError("unexpected space (send '+' as %2B in a query string)")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() // 1)


# -- rendering --------------------------------------------------------------------------
def render(c: dict[str, Any], inc: frozenset[str], *, shared: bool = False) -> dict[str, Any]:
    """The API view of a stored customer: base fields plus only the included sub-resources.

    ``shared`` leaves the stored sub-resource lists in the view instead of copying them: only
    for a view encoded before the store's lock is released (a page), which a later write can
    then no longer change."""
    copy = _same if shared else _copy_list
    out = {k: c[k] for k in BASE_FIELDS if k in c}
    addresses = c.get("addresses") or []
    attributes = c.get("attributes") or []
    out["address_count"] = len(addresses)
    out["attribute_count"] = len(attributes)
    if "addresses" in inc:
        if "formfields" in inc:
            out["addresses"] = copy(addresses)
        else:
            out["addresses"] = [{k: v for k, v in a.items() if k != "form_fields"} for a in addresses]
    if "attributes" in inc:
        out["attributes"] = copy(c.get("attributes", []))
    if "formfields" in inc:
        out["form_fields"] = copy(c.get("form_fields", []))
    if "storecredit" in inc:
        out["store_credit_amounts"] = copy(c.get("store_credit_amounts", []))
    if "shopper_profile_id" in inc and "shopper_profile_id" in c:
        out["shopper_profile_id"] = c["shopper_profile_id"]
    if "segment_ids" in inc:
        out["segment_ids"] = copy(c.get("segment_ids", []))
    return out


def _copy_list(value: Any) -> Any:
    """A shallow copy of a stored list (of dicts); anything else (a stored null) as it is."""
    if isinstance(value, list):
        return [dict(x) if isinstance(x, dict) else x for x in value]
    return value


def _same(value: Any) -> Any:
    return value


# -- query parsing ----------------------------------------------------------------------
class Query:
    """A parsed ``GET /v3/customers`` query; ``errors`` maps parameter -> message."""

    def __init__(self, q: dict[str, str], now_epoch: int, *, strict_bounds: bool = False) -> None:
        self.errors: dict[str, str] = {}
        self.limit = self._int(q, "limit", DEFAULT_LIMIT)
        if "limit" not in self.errors and not 1 <= self.limit <= MAX_LIMIT:
            self.errors["limit"] = f"limit must be between 1 and {MAX_LIMIT}"
        self.page = self._int(q, "page", 1)
        if "page" not in self.errors and self.page < 1:
            self.errors["page"] = "page must be 1 or more"
        self.after = self._cursor(q, "after")
        self.before = self._cursor(q, "before")
        if self.after is not None and self.before is not None:
            self.errors["before"] = "use either after or before, not both"
        self.sort: tuple[str, bool] = ("id", False)
        if q.get("sort"):
            if q["sort"] in SORTS:
                self.sort = SORTS[q["sort"]]
            else:
                self.errors["sort"] = f"sort must be one of {', '.join(SORTS)}"
        inc = [v for v in _split(q.get("include", "")) if v]
        bad = [v for v in inc if v not in INCLUDES]
        if bad:
            self.errors["include"] = f"unknown include {', '.join(bad)}; allowed: {', '.join(INCLUDES)}"
        self.include = frozenset(inc)
        # date ranges: field -> (lo, hi) inclusive
        self.ranges: dict[str, tuple[int | None, int | None]] = {}
        for field in ("date_created", "date_modified"):
            lo = hi = None
            for key, which in ((field, "eq"), (field + ":min", "min"), (field + ":max", "max")):
                if key not in q:
                    continue
                try:
                    t = parse_filter_date(q[key], now_epoch)
                except ValueError as exc:
                    self.errors[key] = (
                        f"{q[key]!r} is not a valid date ({exc}); use e.g. 2024-05-14T09:34:00Z or unix seconds"
                    )
                    continue
                if strict_bounds and which != "eq":  # exclusive bounds, in whole seconds
                    t = t + 1 if which == "min" else t - 1
                if which in ("eq", "min"):
                    lo = t if lo is None else max(lo, t)
                if which in ("eq", "max"):
                    hi = t if hi is None else min(hi, t)
            if lo is not None or hi is not None:
                self.ranges[field] = (lo, hi)
        self.preds: list[Pred] = []
        ids = self._int_list(q, "id:in")
        if ids is not None:
            idset = set(ids)
            self.preds.append(lambda r: r.id in idset)
        groups = self._int_list(q, "customer_group_id:in")
        if groups is not None:
            gset = set(groups)
            self.preds.append(lambda r: r.data.get("customer_group_id") in gset)
        for key, attr in (("email:in", "email"), ("name:in", "name"), ("company:in", "company")):
            if key in q:
                vals = {v.strip().casefold() for v in _split(q[key])}
                self.preds.append(_attr_in(attr, vals))
        if "name:like" in q:
            subs = [v.casefold() for v in _split(q["name:like"]) if v]
            self.preds.append(lambda r: any(s in r.name for s in subs))
        for key, field in (("phone:in", "phone"), ("registration_ip_address:in", "registration_ip_address")):
            if key in q:
                svals = set(_split(q[key]))
                self.preds.append(lambda r, f=field, s=svals: r.data.get(f) in s)  # type: ignore[misc]

    def _int(self, q: dict[str, str], key: str, default: int) -> int:
        if key not in q:
            return default
        v = q[key].strip()
        if not _INT_RE.match(v):
            self.errors[key] = f"{key} must be an integer"
            return default
        return int(v)

    def _int_list(self, q: dict[str, str], key: str) -> list[int] | None:
        if key not in q:
            return None
        vals = [v.strip() for v in _split(q[key]) if v.strip()]
        bad = [v for v in vals if not _INT_RE.match(v)]
        if bad:
            self.errors[key] = f"{key} must be a comma-separated list of integers"
            return None
        return [int(v) for v in vals]

    def _cursor(self, q: dict[str, str], key: str) -> int | None:
        if key not in q:
            return None
        try:
            return decode_cursor(q[key])
        except ValueError:
            self.errors[key] = f"{key} is not a valid cursor"
            return None

    def date_preds(self, skip: str | None = None) -> list[Pred]:
        """Predicates for the date ranges (except ``skip``, already applied by bisecting)."""
        out: list[Pred] = []
        for field, (lo, hi) in self.ranges.items():
            if field == skip:
                continue
            attr = "dc" if field == "date_created" else "dm"
            lo_v = -(2**63) if lo is None else lo
            hi_v = 2**63 if hi is None else hi
            out.append(lambda r, a=attr, lo_v=lo_v, hi_v=hi_v: lo_v <= getattr(r, a) <= hi_v)  # type: ignore[misc]
        return out


_DATE_FILTER_RE = re.compile(r"^date_(created|modified)(:(min|max))?$")


def encoded_date_filters(raw_query: str) -> dict[str, str]:
    """Errors for date filters whose name or value holds a percent-encoded colon (``%3A``)."""
    errors: dict[str, str] = {}
    for part in raw_query.split("&"):
        raw_name, _, raw_value = part.partition("=")
        name = unquote_plus(raw_name)
        if _DATE_FILTER_RE.match(name) and ("%3a" in raw_name.lower() or "%3a" in raw_value.lower()):
            errors[name] = "send the filter and its value with ':' unencoded, not as %3A"
    return errors


def _split(value: str) -> list[str]:
    return value.split(",") if value != "" else []


def _attr_in(attr: str, vals: set[str]) -> Pred:
    return lambda r: getattr(r, attr) in vals


def _combine(preds: list[Pred]) -> Pred | None:
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]

    def all_of(r: Row) -> bool:
        return all(p(r) for p in preds)

    return all_of


# -- the list endpoint --------------------------------------------------------------------
def list_customers(sb: BigCommerceSandbox, req: Request) -> Response:
    """``GET /v3/customers``."""
    query = Query(req.query, sb.clock.now(), strict_bounds=sb.strict_date_bounds)
    if sb.refuse_encoded_dates:
        query.errors.update(encoded_date_filters(req.raw_query))
    if query.errors:
        return v3_error(422, "The filter(s) are not valid: " + ", ".join(sorted(query.errors)), query.errors)
    store = sb.store
    with store.lock:  # the page is encoded under the lock: its views share the stored lists
        if query.after is not None or query.before is not None:
            return _cursor_page(sb, query)
        total, page_rows = _page(store, query)
        data = [render(r.data, query.include, shared=True) for r in page_rows]
        limit = query.limit
        total_pages = -(-total // limit)
        links: dict[str, str] = {}
        if query.page > 1:
            links["previous"] = f"?page={query.page - 1}&limit={limit}"
        links["current"] = f"?page={query.page}&limit={limit}"
        if query.page < total_pages:
            links["next"] = f"?page={query.page + 1}&limit={limit}"
        meta: dict[str, Any] = {
            "pagination": {
                "total": total, "count": len(data), "per_page": limit, "current_page": query.page,
                "total_pages": total_pages, "links": links,
            }
        }
        if query.page == 1:
            meta["cursor_pagination"] = _cursor_meta(
                page_rows, limit, current=f"?limit={limit}", has_prev=False, has_next=total > len(page_rows)
            )
        return Response(200, encode_json({"data": data, "meta": meta}))


def _page(store: CustomerStore, query: Query) -> tuple[int, list[Row]]:
    """Total and page rows of a page-paged query. The rows come from the sort key's index, or,
    when only another key is ranged (the ``limit=1`` counts of segment planning and the
    deletion sweep), from that key's index: the range is bisected there, the rest filtered, and
    only what the page needs ordered, so a narrow window never scans the whole store."""
    key, desc = query.sort
    field = key if key in query.ranges else next(iter(query.ranges), key)
    view = store.view(field)
    rows = view.between(*query.ranges[field]) if field in query.ranges else view.rows
    pred = _combine(query.date_preds(field) + query.preds)
    matched = rows if pred is None else [r for r in rows if pred(r)]
    start = (query.page - 1) * query.limit
    need = start + query.limit
    if field == key:  # already in the sort's order
        ordered = matched[::-1] if desc else matched
    else:
        kf = KEY_FUNCTIONS[key]

        def order(r: Row) -> tuple[Any, int]:
            return (kf(r), r.id)

        if need * 8 < len(matched):
            ordered = heapq.nlargest(need, matched, key=order) if desc else heapq.nsmallest(need, matched, key=order)
        else:
            ordered = sorted(matched, key=order, reverse=desc)
    return len(matched), ordered[start:need]


def _cursor_meta(rows: list[Row], limit: int, *, current: str, has_prev: bool, has_next: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"count": len(rows), "per_page": limit}
    links: dict[str, str] = {}
    if rows:
        meta["start_cursor"] = encode_cursor(rows[0].id)
        meta["end_cursor"] = encode_cursor(rows[-1].id)
        if has_prev:
            links["previous"] = f"?limit={limit}&before={meta['start_cursor']}"
    links["current"] = current
    if rows and has_next:
        links["next"] = f"?limit={limit}&after={meta['end_cursor']}"
    meta["links"] = links
    return meta


def _scan(rows: list[Row], indices: Iterable[int], pred: Pred | None, want: int) -> list[Row]:
    out: list[Row] = []
    for i in indices:
        r = rows[i]
        if pred is None or pred(r):
            out.append(r)
            if len(out) >= want:
                break
    return out


def _cursor_page(sb: BigCommerceSandbox, query: Query) -> Response:
    """A keyset page (``after``/``before``), called under the store's lock."""
    store = sb.store
    limit = query.limit
    forward = query.after is not None
    at = query.after if forward else query.before
    assert at is not None
    current = f"?limit={limit}&{'after' if forward else 'before'}={encode_cursor(at)}"
    if query.ranges and not query.preds:  # date filters only (a sync's window): bisect the matches
        matches = store.matching(tuple((f, lo, hi) for f, (lo, hi) in sorted(query.ranges.items())))
        if forward:
            pos = bisect.bisect_left(matches.ids, at + 1)
            page_rows = matches.rows[pos:pos + limit]
            has_next, has_prev = len(matches.rows) > pos + limit, pos > 0
        else:
            pos = bisect.bisect_left(matches.ids, at)
            page_rows = matches.rows[max(0, pos - limit):pos]
            has_prev, has_next = pos > limit, pos < len(matches.rows)
    else:
        rows = store.view("id").rows
        pred = _combine(query.date_preds() + query.preds)
        if forward:
            pos = store.id_position(at + 1)
            got = _scan(rows, range(pos, len(rows)), pred, limit + 1)
            page_rows = got[:limit]
            has_next = len(got) > limit
            has_prev = bool(_scan(rows, range(pos - 1, -1, -1), pred, 1))
        else:
            pos = store.id_position(at)
            got = _scan(rows, range(pos - 1, -1, -1), pred, limit + 1)
            page_rows = got[:limit][::-1]
            has_prev = len(got) > limit
            has_next = bool(_scan(rows, range(pos, len(rows)), pred, 1))
    data = [render(r.data, query.include, shared=True) for r in page_rows]
    meta = {"cursor_pagination": _cursor_meta(page_rows, limit, current=current, has_prev=has_prev, has_next=has_next)}
    return Response(200, encode_json({"data": data, "meta": meta}))


# -- writes -----------------------------------------------------------------------------
def create_customers(sb: BigCommerceSandbox, req: Request) -> Response:
    """``POST /v3/customers``."""
    try:
        created = sb.create_customers(req.json())
    except CustomerError as exc:
        return v3_error(exc.status, exc.title, exc.errors or None)
    all_inc = frozenset(INCLUDES)
    return Response(200, {"data": [render(c, all_inc) for c in created], "meta": {}})


def update_customers(sb: BigCommerceSandbox, req: Request) -> Response:
    """``PUT /v3/customers``."""
    try:
        updated = sb.update_customers(req.json())
    except CustomerError as exc:
        return v3_error(exc.status, exc.title, exc.errors or None)
    all_inc = frozenset(INCLUDES)
    return Response(200, {"data": [render(c, all_inc) for c in updated], "meta": {}})


def delete_customers(sb: BigCommerceSandbox, req: Request) -> Response:
    """``DELETE /v3/customers?id:in=…``."""
    if "id:in" not in req.query:
        return Response(204)
    vals = [v.strip() for v in req.query["id:in"].split(",") if v.strip()]
    if not all(_INT_RE.match(v) for v in vals):
        return v3_error(422, "The id:in filter is not valid.", {"id:in": "must be a comma-separated list of integers"})
    sb.store.delete(int(v) for v in vals)
    return Response(204)


def install(sb: BigCommerceSandbox, router: Router) -> None:
    """Add the customers routes to ``router``."""
    base = "/stores/{store_hash}/v3/customers"
    router.add("GET", base, lambda req: list_customers(sb, req))
    router.add("POST", base, lambda req: create_customers(sb, req))
    router.add("PUT", base, lambda req: update_customers(sb, req))
    router.add("DELETE", base, lambda req: delete_customers(sb, req))
