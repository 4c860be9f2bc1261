"""Deletion sweep at the cost of the deletions: compare counts per ``date_created`` range.

The full walk (`sweep.store_customer_ids`) reads every id: 4,000 requests for a million
customers, whatever was deleted. This sweep asks the store how many customers each
``date_created`` range holds (``meta.pagination.total`` of a ``limit=1`` page, sorted by
``date_created`` so the range is one index lookup), compares with the staged live customers
of the same range, and only cuts the ranges that differ, down to ranges of at most one page
(whose count request, sent with ``limit=250``, lists them). Ranges that agree cost nothing
more. With d deletions among n customers it sends about ``4 * d * log4(n / 250 / d)``
requests; with many deletions it falls back to the full walk.

Why equal counts mean "nothing deleted here". Every store customer the staging does not
hold was modified after the staged data was read: an incremental window reads every change
up to its end, and the next window starts a lookback before it, so a change older than the
committed window end minus the lookback that the staging lacks would be lost by the
incremental read itself. One listing of ``date_modified`` >= that time (``recent``, usually
one page; the newest staged ``date_modified`` when no window was committed) names them all
with their current ``date_created``. A range's
store count minus its ``recent`` members must then equal its staged live count minus its
``recent`` members, unless a staged customer of that range is gone (or a swept customer came
back with its old ``date_modified``: such a return is seen only when it does not exactly
offset a deletion in the same range). Customers created during the sweep are newer than the
newest staged customer and fall outside every range. ``date_created`` never changes.

Whether ``date_created:min``/``:max`` are inclusive is undocumented ("after"/"before"); one
probe request on a known customer's second decides how ranges are written.

The result equals the full walk's: ``deleted`` = staged live ids the store lacks,
``returned`` = swept ids the store has again. It does not rest on ``date_created`` alone:
every customer the counts say is gone is asked for by id (``id:in``, one request per
`ID_CHUNK`) before it is called deleted, so a staged ``date_created`` that is not the
store's (which the API docs do not rule out) costs requests, never a false deletion. Such
customers are reported (``moved``).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .client import BigCommerceClient
from .helpers import BigCommerceError, format_ts, parse_ts
from .reader import CustomerPages, Page
from .settings import DELETED_AT_COLUMN, PAGE_LIMIT

FAN_OUT = 4
ID_CHUNK = 100  # ids per `id:in` request for staged customers without a date_created
ProgressFn = Callable[[dict[str, Any]], None]


def _int64s(column: Any) -> array[int]:
    """An Arrow int64 column without nulls as an ``array('q')`` (8 bytes a value)."""
    out: array[int] = array("q")
    for chunk in column.chunks:
        data = chunk.buffers()[1]
        if data is not None and len(chunk):
            out.frombytes(memoryview(data)[chunk.offset * 8:(chunk.offset + len(chunk)) * 8])
    return out


@dataclass
class StagedCustomers:
    """What the staging holds, as the sweep needs it.

    ``created``/``ids``: the live customers' ``date_created`` (Unix seconds) ascending, ids
    alongside; ``undated``: live ids without a parseable ``date_created``; ``swept``: ids
    already marked deleted; ``modified_until``: the newest staged ``date_modified``;
    ``changes_from``: the store time from which the staging may lack a change (its committed
    window end minus the lookback; None: use ``modified_until``).
    """

    created: Sequence[int]
    ids: Sequence[int]
    undated: list[int] = field(default_factory=list)
    swept: set[int] = field(default_factory=set)
    modified_until: int | None = None
    changes_from: int | None = None

    @property
    def recent_from(self) -> int | None:
        """Where the ``recent`` listing starts (see the module docstring)."""
        return self.changes_from if self.changes_from is not None else self.modified_until

    @property
    def live(self) -> int:
        return len(self.ids) + len(self.undated)

    def span(self, lo: int | None, hi: int) -> tuple[int, int]:
        """Index range of the live customers created in [lo, hi] (lo None = open)."""
        i = 0 if lo is None else bisect.bisect_left(self.created, lo)
        return i, bisect.bisect_right(self.created, hi)


def load_staged_customers(
    con: Any, dataset: str, table: str, *, changes_from: int | None = None
) -> StagedCustomers:
    """Read `StagedCustomers` from a DuckDB connection (one query; empty when nothing is staged);
    ``changes_from``: see `StagedCustomers`."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [dataset, table]
    ).fetchone()
    if not exists or not exists[0]:
        return StagedCustomers([], [])
    cols = {
        r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [dataset, table],
        ).fetchall()
    }
    qualified = f'"{dataset}"."{table}"'
    deleted = f'"{DELETED_AT_COLUMN}" IS NOT NULL' if DELETED_AT_COLUMN in cols else "false"
    dc = "CAST(epoch(date_created) AS BIGINT)"
    # the live dated customers as two int64 arrays (16 MB at 1M customers; lists of Python
    # ints took ~10x that, and the run's peak memory is the sweep's)
    live = con.sql(f"SELECT CAST(id AS BIGINT) AS id, {dc} AS dc FROM {qualified} "
                   f"WHERE NOT ({deleted}) AND {dc} IS NOT NULL ORDER BY dc, id").to_arrow_table()
    staged = StagedCustomers(_int64s(live.column("dc")), _int64s(live.column("id")))
    del live
    staged.undated = [r[0] for r in con.execute(
        f"SELECT id FROM {qualified} WHERE NOT ({deleted}) AND {dc} IS NULL ORDER BY id").fetchall()]
    staged.swept = {r[0] for r in con.execute(f"SELECT id FROM {qualified} WHERE {deleted}").fetchall()}
    row = con.execute(f"SELECT CAST(epoch(max(date_modified)) AS BIGINT) FROM {qualified}").fetchone()
    staged.modified_until = row[0] if row else None
    staged.changes_from = changes_from
    return staged


@dataclass
class SweepFindings:
    """What a sweep found: ``deleted`` (staged live ids the store lacks), ``returned`` (swept
    ids the store has again), the requests it sent and how (``counts`` or ``walk``)."""

    deleted: set[int]
    returned: set[int]
    requests: int
    method: str
    reason: str = ""
    store_total: int | None = None
    moved: set[int] = field(default_factory=set)  # counted as gone, found by id: staged date_created is not the store's


class _Filtered(CustomerPages):
    """Customer pages (no sub-resources) under fixed filters."""

    def __init__(self, client: BigCommerceClient, filters: dict[str, str], *, limit: int = PAGE_LIMIT) -> None:
        super().__init__(client, include=None, limit=limit)
        self.filters = filters

    def _params(self, piece: Any, **extra: Any) -> dict[str, Any]:
        params = super()._params(piece, **extra)
        params.update(self.filters)
        return params


@dataclass
class _Node:
    lo: int | None
    hi: int
    total: int  # store count per its answer
    rows: list[dict[str, Any]] | None  # all of them, when one page held them


def estimate_tree_requests(pages: int, differing: int, fan_out: int = FAN_OUT) -> int:
    """Requests the count tree needs for ``differing`` changed ranges among ``pages`` pages."""
    if differing <= 0:
        return 1
    cost, nodes, size = 1, 1, float(pages)
    while size > 1:
        parts = min(fan_out, math.ceil(size))
        cost += parts * min(nodes, differing)
        nodes *= parts
        size /= parts
    return cost


def find_deletions(
    client: BigCommerceClient,
    staged: StagedCustomers,
    *,
    progress: ProgressFn | None = None,
    fan_out: int = FAN_OUT,
    force_walk: bool = False,
    workers: int = 8,
) -> SweepFindings:
    """Compare the store with ``staged``; see the module docstring. Never sends more than the
    full walk would when the store's total shows the deletions (it then walks instead).
    ``workers``: the count requests of one level sent at once (they share the client's quota)."""
    return _CountSweep(client, staged, progress, max(2, fan_out), workers).run(force_walk=force_walk)


class _CountSweep:
    def __init__(
        self, client: BigCommerceClient, staged: StagedCustomers, progress: ProgressFn | None, k: int, workers: int
    ):
        self.workers = max(1, workers)
        self.client = client
        self.staged = staged
        self.progress = progress
        self.k = k
        self.start_requests = client.requests
        self.deleted: set[int] = set()
        self.returned: set[int] = set()
        self.moved: set[int] = set()
        self.inclusive = True
        self.resolved = 0
        # `recent` customers: id -> current date_created; adjustments per side, sorted.
        self.recent: dict[int, int] = {}
        self.store_adj: list[int] = []
        self.staged_adj: list[int] = []

    @property
    def spent(self) -> int:
        return self.client.requests - self.start_requests

    def _report(self, total: int | None) -> None:
        if self.progress is not None:
            self.progress({"phase": "sweep", "pages": self.spent, "records": self.resolved, "total": total})

    def _findings(self, method: str, reason: str, total: int | None) -> SweepFindings:
        return SweepFindings(self.deleted, self.returned, self.spent, method, reason, total, self.moved)

    # -- the plan -------------------------------------------------------------------------
    def run(self, *, force_walk: bool) -> SweepFindings:
        walk = _Filtered(self.client, {})
        s = self.staged
        start = s.recent_from
        first = walk.fetch(None)  # the full walk's first page: reused if we walk
        total = first.total
        if force_walk:
            return self._walk(walk, first, "asked for", total)
        if total is None:
            return self._walk(walk, first, "the store sent no total", total)
        pages = math.ceil(total / PAGE_LIMIT)
        if s.live == 0 and not s.swept:
            return self._findings("counts", "nothing staged", total)
        if start is None:
            return self._walk(walk, first, "staged customers carry no date_modified", total)
        gap = abs(s.live - total)
        estimate = 3 + estimate_tree_requests(pages, gap, self.k) + len(s.undated) // ID_CHUNK + gap // ID_CHUNK
        if estimate >= pages:
            return self._walk(walk, first, f"{gap} customers differ: counting would cost ~{estimate} requests", total)
        recent = _Filtered(self.client, {"date_modified:min": format_ts(start - 1)})
        with ThreadPoolExecutor(1, thread_name_prefix="sweep-recent") as pool:  # independent of the probe
            recent_first = pool.submit(recent.fetch, None)
            probed = self._probe_bounds(first.rows)
            recent_page = recent_first.result()
        if not probed:
            return self._walk(walk, first, "could not tell how date_created bounds behave", total)
        if not self._list_recent(recent, recent_page):
            return self._walk(walk, first, "a changed customer's date_created did not parse", total)
        self._check_undated()
        if s.created:
            cutoff = s.created[-1]
            top = self._count(None, cutoff)
            if not self._descend([top], budget=pages):
                self.deleted.clear()
                self.returned.clear()
                return self._walk(walk, first, "the ranges that differ would cost more than the walk", total)
            self._confirm()
        self._report(total)
        return self._findings("counts", "", total)

    def _walk(self, walk: _Filtered, first: Page, reason: str, total: int | None) -> SweepFindings:
        present: set[int] = set()
        for count, rows in enumerate(walk.walk(None, first, sorted_first=False), start=1):
            present.update(int(r["id"]) for r in rows)
            self.resolved = len(present)
            if self.progress is not None:
                self.progress({"phase": "sweep", "pages": count, "records": len(present), "total": total})
        s = self.staged
        self.deleted = {i for i in s.ids if i not in present} | {i for i in s.undated if i not in present}
        self.returned = {i for i in s.swept if i in present}
        return self._findings("walk", reason, total)

    # -- requests -------------------------------------------------------------------------
    def _range_params(self, lo: int | None, hi: int) -> dict[str, str]:
        shift = 0 if self.inclusive else 1
        out = {"date_created:max": format_ts(hi + shift), "sort": "date_created:asc"}
        if lo is not None:
            out["date_created:min"] = format_ts(lo - shift)
        return out

    def _probe_bounds(self, rows: list[dict[str, Any]]) -> bool:
        """Inclusive or strict ``date_created`` bounds, asked on a customer the store just listed."""
        for row in rows[:1]:
            try:
                t = parse_ts(str(row.get("date_created")))
            except ValueError:
                return False
            exact = {"date_created:min": format_ts(t), "date_created:max": format_ts(t)}
            if (_Filtered(self.client, exact, limit=1).fetch(None).total or 0) > 0:
                self.inclusive = True
                return True
            wide = {"date_created:min": format_ts(t - 1), "date_created:max": format_ts(t + 1)}
            if (_Filtered(self.client, wide, limit=1).fetch(None).total or 0) > 0:
                self.inclusive = False
                return True
        return False

    def _list_recent(self, pages: _Filtered, first: Page) -> bool:
        """List customers modified since `StagedCustomers.recent_from` (the staging may lack them)."""
        for rows in pages.walk(None, first, sorted_first=False):
            for r in rows:
                try:
                    self.recent[int(r["id"])] = parse_ts(str(r.get("date_created")))
                except ValueError:
                    return False
        s = self.staged
        # the staged date_created of the recent customers the staging holds (one pass, no map
        # of every staged id)
        self.staged_adj = [dc for cid, dc in zip(s.ids, s.created, strict=True) if cid in self.recent] \
            if self.recent else []
        for cid, dc in self.recent.items():
            self.store_adj.append(dc)
            if cid in s.swept:
                self.returned.add(cid)
        self.store_adj.sort()
        self.staged_adj.sort()
        return True

    def _present(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` the store has, asked by id (`ID_CHUNK` ids a request)."""
        present: set[int] = set()
        for i in range(0, len(ids), ID_CHUNK):
            pages = _Filtered(self.client, {"id:in": ",".join(str(c) for c in ids[i:i + ID_CHUNK])})
            for rows in pages.walk(None, pages.fetch(None), sorted_first=False):
                present.update(int(r["id"]) for r in rows)
        return present

    def _pending_confirmations(self) -> int:
        """Requests `_confirm` will send for the customers counted as gone so far."""
        return -(-len(self.deleted.difference(self.staged.undated)) // ID_CHUNK)

    def _check_undated(self) -> None:
        """Staged live customers without a date_created cannot be counted: ask for them by id."""
        undated = self.staged.undated
        present = self._present(undated)
        self.deleted.update(c for c in undated if c not in present)

    def _confirm(self) -> None:
        """Ask for every dated customer the counts call gone by id: one the store still has
        was counted under a staged date_created that is not the store's; it is not deleted."""
        counted = sorted(self.deleted.difference(self.staged.undated))
        found = self._present(counted)
        self.moved |= found
        self.deleted -= found

    def _count(self, lo: int | None, hi: int) -> _Node:
        """One request: the store's count for [lo, hi], with its rows when they fit one page."""
        limit = PAGE_LIMIT if self._expected(lo, hi) <= PAGE_LIMIT else 1
        page = _Filtered(self.client, self._range_params(lo, hi), limit=limit).fetch(None)
        if page.total is None:
            raise BigCommerceError("the store answered a counted customers page without meta.pagination.total")
        rows = page.rows if limit == PAGE_LIMIT and page.total <= len(page.rows) else None
        return _Node(lo, hi, page.total, rows)

    # -- the comparison -------------------------------------------------------------------
    @staticmethod
    def _in(sorted_values: list[int], lo: int | None, hi: int) -> int:
        i = 0 if lo is None else bisect.bisect_left(sorted_values, lo)
        return bisect.bisect_right(sorted_values, hi) - i

    def _expected(self, lo: int | None, hi: int) -> int:
        i, j = self.staged.span(lo, hi)
        return j - i - self._in(self.staged_adj, lo, hi) + self._in(self.store_adj, lo, hi)

    def _agrees(self, node: _Node) -> bool:
        return node.total == self._expected(node.lo, node.hi)

    def _settle(self, node: _Node, rows: list[dict[str, Any]]) -> None:
        """A fully listed range: compare ids."""
        s = self.staged
        present = {int(r["id"]) for r in rows}
        i, j = s.span(node.lo, node.hi)
        for cid in s.ids[i:j]:
            if cid in present:
                continue
            moved = self.recent.get(cid)
            if moved is not None and not (
                (node.lo is None or moved >= node.lo) and moved <= node.hi
            ):
                continue  # listed at its new date_created elsewhere
            self.deleted.add(cid)
        self.returned.update(c for c in present if c in s.swept)
        self.resolved += j - i

    def _list(self, node: _Node) -> None:
        pages = _Filtered(self.client, self._range_params(node.lo, node.hi))
        rows: list[dict[str, Any]] = []
        for part in pages.walk(None, pages.fetch(None), sorted_first=True):
            rows.extend(part)
        self._settle(node, rows)

    def _cuts(self, node: _Node, parts: int) -> list[tuple[int | None, int]]:
        """Cut [lo, hi] into up to ``parts`` ranges holding about as many staged customers."""
        s = self.staged
        i, j = s.span(node.lo, node.hi)
        cuts: list[int] = []
        for t in range(1, parts):
            c = s.created[i + (j - i) * t // parts] if j > i else node.hi
            floor = node.lo if node.lo is not None else -(2**62)
            if c > floor and c <= node.hi and (not cuts or c > cuts[-1]):
                cuts.append(c)
        bounds: list[tuple[int | None, int]] = []
        lo = node.lo
        for c in cuts:
            bounds.append((lo, c - 1))
            lo = c
        bounds.append((lo, node.hi))
        return bounds

    def _descend(self, level: list[_Node], *, budget: int) -> bool:
        """Resolve the differing ranges level by level; False when it would cost more than ``budget``."""
        while level:
            nxt: list[_Node] = []
            plan: list[tuple[_Node, list[tuple[int | None, int]]]] = []
            for node in level:
                if node.rows is not None:  # listed whole by its count request: compare ids
                    self._settle(node, node.rows)
                    continue
                if self._agrees(node):
                    i, j = self.staged.span(node.lo, node.hi)
                    self.resolved += j - i
                    continue
                parts = min(self.k, math.ceil(node.total / PAGE_LIMIT))
                cuts = self._cuts(node, max(2, parts))
                if len(cuts) < 2:
                    self._list(node)  # one second holding more than a page
                    continue
                plan.append((node, cuts))
            if self.spent + sum(len(c) for _, c in plan) + self._pending_confirmations() > budget:
                return False
            ranges = [r for _node, cuts in plan for r in cuts]
            if len(ranges) > 1 and self.workers > 1:  # one level's counts are independent: send them together
                with ThreadPoolExecutor(min(self.workers, len(ranges)), thread_name_prefix="sweep-count") as pool:
                    nxt.extend(pool.map(lambda r: self._count(*r), ranges))
            else:
                nxt.extend(self._count(lo, hi) for lo, hi in ranges)
            self._report(None)
            level = nxt
        return True
