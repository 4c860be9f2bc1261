"""Order and cart facts: what changed in the staged orders since the previous run, as events.

The previous state of each order is its snapshot in ``people_sync.event_snapshots`` (target
``order``: status_id, status, refunded_amount, date_modified). Only orders whose
(date_modified, status_id, refunded_amount) differ from their snapshot are read, so a run with
no order changes reads nothing and derives nothing. Triggers (`pipelines.mapping.events.TRIGGERS`):

- ``order_placed``: an order seen for the first time (status not 0 Incomplete), or leaving 0;
  occurred at ``date_created``; id = (event, order id);
- ``order_status_changed``: status_id differs from the snapshot; occurred at
  ``date_modified``; id = (event, order id, new status_id, date_modified);
- ``order_cancelled``: the status becomes 5; id = (event, order id, date_modified);
- ``order_refunded``: refunded_amount grows; ``$.change.refunded`` is the increase;
  id = (event, order id, the new refunded_amount);
- ``cart_converted``: one line of the webhook journal; id = (event, cart id, order id).

The first run (no order snapshot yet) emits events only for orders changed in the last 30 days
(the first-run window): older history reaches People as traits. A later run records an event
that is already older than People's 30 days as TOO_OLD. ``backfill_days`` re-derives, from
the current state of orders changed in that many days, the events of definitions that have
never emitted anything (a definition added to the mapping): placed, cancelled, refunded and
cart conversions (a status change has no history to rebuild).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from bc2people.pipelines.core.events import REJECTED, SKIPPED, TOO_OLD, Fact, Snapshot
from bc2people.pipelines.core.hashing import text_hash
from bc2people.pipelines.mapping.events import EventPlan, EventsSpec, PropertyError, parse_when

ORDERS = "bigcommerce.orders"
ORDER_PRODUCTS = "bigcommerce.order_products"
SNAPSHOT_TARGET = "order"
CANCELLED = 5
INCOMPLETE = 0
WINDOW = timedelta(days=30)
GUEST = "GUEST"  # reason_code: a guest order, no person to send to
_VERSION = ("concat_ws('|', CAST(o.date_modified AS VARCHAR), CAST(o.status_id AS VARCHAR), "
            "CAST(o.refunded_amount AS VARCHAR))")


def event_id(kind: str, *parts: Any) -> str:
    """The deterministic event id: 32 hex digits (People's eventId takes 1..36 of [A-Za-z0-9_-])."""
    return text_hash("|".join([kind.lower(), *map(str, parts)]))[:32]


def _money(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip()) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


def _naive(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_when(value).replace(tzinfo=None)
    except (ValueError, TypeError, IndexError):
        return None


def _api(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _has_table(con: Any, name: str) -> bool:
    schema, _, table = name.partition(".")
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                      [schema, table]).fetchall()  # whole: a result left open blocks the next query
    return bool(row and row[0][0])


def _rows(cur: Any) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    json_cols = {"billing_address", "products", "shipping_addresses", "coupons"}
    while batch := cur.fetchmany(2000):
        for row in batch:
            out = {}
            for n, v in zip(names, row, strict=True):
                if n.startswith("_dlt_"):
                    continue
                if n in json_cols and isinstance(v, str):
                    with contextlib.suppress(ValueError):
                        v = json.loads(v)
                out[n] = _api(v)
            yield out


def _line_items(con: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not ids or not _has_table(con, ORDER_PRODUCTS):
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    cur = con.execute(f"SELECT * FROM {ORDER_PRODUCTS} WHERE order_id IN (SELECT unnest(?)) ORDER BY id", [ids])
    for row in _rows(cur):
        out.setdefault(int(row["order_id"]), []).append(row)
    return out


# Orders derived at a time (read, turned into facts, recorded): a first run reads every staged
# order, so its memory follows this, not the store. All 237,188 orders of a 100,000-customer
# store at once took 2.4 GB; a first derivation of 709,507 orders (300,000 customers) peaked at
# 692 MiB in chunks of 5,000, 947 MiB of 20,000, 1,238 MiB of 50,000 (38-43 s each).
ORDER_CHUNK = 5_000
# The columns a snapshot is made of (`_state`): all an order of a first run's history is read for.
_SNAPSHOT_COLUMNS = "o.id, o.status_id, o.status, o.refunded_amount, o.date_modified"


def changed_order_chunks(con: Any, dataset: str, *, backfill_since: datetime | None = None,
                         history_before: datetime | None = None,
                         chunk: int = ORDER_CHUNK) -> Iterator[list[dict[str, Any]]]:
    """Staged orders whose state differs from their snapshot (with ``_prev``: the snapshot state
    or None, and ``line_items``); with ``backfill_since`` also every order modified since then
    (``_backfill``). In lists of at most ``chunk`` orders, by id: which orders changed is decided
    once, up front, and each list is read whole when asked for, so the caller may write on
    ``con`` (record a list's facts and snapshots) before taking the next.

    ``history_before`` (a first run: UTC, at or before its 30-day horizon): orders created and
    last modified before it can give no fact, so they are read with their snapshot's columns
    only (no line items), as the first lists, marked ``_history`` (`order_facts` makes only their
    snapshots); at 100,000 customers that was 89% of the orders and most of the derivation's time."""
    if not _has_table(con, ORDERS):
        return
    extra = " OR o.date_modified >= $since" if backfill_since is not None else ""
    params: dict[str, Any] = {"since": backfill_since} if backfill_since is not None else {}
    history = "false"
    if history_before is not None:
        history = "coalesce(o.date_created < $before AND o.date_modified < $before, false)"
        params["before"] = history_before
    joined = (f"FROM {ORDERS} o LEFT JOIN {dataset}.event_snapshots s ON s.target = '{SNAPSHOT_TARGET}' "
              "AND s.entity_id = o.id")
    found = con.sql(f"SELECT o.id, {history} AS history {joined} WHERE s.entity_id IS NULL "
                    f"OR s.version IS DISTINCT FROM {_VERSION}{extra} ORDER BY o.id", params=params).to_arrow_table()
    step = max(1, chunk)
    for short in (True, False):  # ids stay in Arrow: a million-order store's would take ~100 MB as ints
        picked = found.column(0).filter(pc.equal(found.column(1), short))
        for start in range(0, len(picked), step):
            part = picked.slice(start, step).to_pylist()
            # the id range lets DuckDB skip the row groups outside it (a chunk's query scanned
            # both tables whole: most of a first derivation's time)
            cur = con.execute(
                f"SELECT {_SNAPSHOT_COLUMNS if short else 'o.*'}, s.state AS _prev, {_VERSION} AS _version, "
                f"(s.version IS NOT DISTINCT FROM {_VERSION}) AS _backfill {joined} AND s.entity_id BETWEEN $lo AND $hi "
                "WHERE o.id BETWEEN $lo AND $hi AND o.id IN (SELECT unnest($ids)) ORDER BY o.id",
                {"ids": part, "lo": part[0], "hi": part[-1]})
            if short:  # as `_rows` reads these columns (only a datetime changes), marked as history
                yield [{"id": oid, "status_id": status_id, "status": status, "refunded_amount": refunded,
                        "date_modified": _api(modified), "_prev": json.loads(prev) if isinstance(prev, str) else None,
                        "_version": version, "_backfill": backfill, "_history": True}
                       for oid, status_id, status, refunded, modified, prev, version, backfill in cur.fetchall()]
                continue
            rows = list(_rows(cur))
            items = _line_items(con, part)
            for r in rows:
                r["_prev"] = json.loads(r["_prev"]) if isinstance(r["_prev"], str) else None
                r["line_items"] = items.get(int(r["id"]), [])
            yield rows


def _state(order: dict[str, Any]) -> dict[str, Any]:
    return {"status_id": order.get("status_id"), "status": order.get("status"),
            "refunded_amount": order.get("refunded_amount"), "date_modified": order.get("date_modified")}


def _triggers(order: dict[str, Any], prev: dict[str, Any] | None) -> list[tuple[str, tuple[Any, ...], datetime | None]]:
    """(trigger, id parts, occurred_at) for each change between ``prev`` and ``order``."""
    oid, status = order["id"], order.get("status_id")
    modified = _naive(order.get("date_modified"))
    out: list[tuple[str, tuple[Any, ...], datetime | None]] = []
    was = prev.get("status_id") if prev else None
    if status != INCOMPLETE and (prev is None or was == INCOMPLETE):
        out.append(("order_placed", (oid,), _naive(order.get("date_created")) or modified))
    if prev is not None and status != was:
        out.append(("order_status_changed", (oid, status, order.get("date_modified")), modified))
    if status == CANCELLED and was != CANCELLED:
        out.append(("order_cancelled", (oid, order.get("date_modified")), modified))
    refunded, before = _money(order.get("refunded_amount")), _money(prev.get("refunded_amount") if prev else 0)
    if refunded > before:
        out.append(("order_refunded", (oid, refunded.normalize()), modified))
    return out


def _fact(plan: EventPlan, parts: tuple[Any, ...], when: datetime, doc: dict[str, Any], subject: str,
          entity_id: int | None, horizon: datetime) -> Fact:
    eid = event_id(plan.name, *parts)
    try:
        payload = plan.properties_of(doc)
    except PropertyError as exc:
        return Fact(eid, plan.name, when, {}, subject, entity_id, status=REJECTED, reason_code="MAPPING",
                    reason=str(exc)[:1000])
    if entity_id in (None, 0):
        return Fact(eid, plan.name, when, payload, subject, entity_id, status=SKIPPED, reason_code=GUEST,
                    reason="a guest order (customer_id 0): no People person to send it to")
    if when < horizon:
        return Fact(eid, plan.name, when, payload, subject, entity_id, status=TOO_OLD, reason_code="TOO_OLD",
                    reason=f"occurred {when:%Y-%m-%d %H:%M}, more than 30 days ago: People refuses such events")
    return Fact(eid, plan.name, when, payload, subject, entity_id)


def order_facts(
    orders: list[dict[str, Any]], spec: EventsSpec, now: datetime, *, first_run: bool,
    backfill_kinds: frozenset[str] = frozenset(), backfill_since: datetime | None = None,
) -> tuple[list[Fact], list[Snapshot]]:
    """The facts the changed ``orders`` give, and their new snapshots. With ``backfill_kinds``,
    also the state-based events of those kinds for orders changed since ``backfill_since``."""
    horizon = now - WINDOW
    facts: list[Fact] = []
    snaps: list[Snapshot] = []
    for order in orders:
        prev = order.pop("_prev", None)
        unchanged = bool(order.pop("_backfill", False))  # read only for the backfill
        version = order.pop("_version", None)
        snaps.append(Snapshot(int(order["id"]), version, _state(order)))
        if order.pop("_history", False):
            continue  # a first run's history, read light (`changed_order_chunks`): no fact, its snapshot only
        base = _money(prev.get("refunded_amount") if prev else 0)
        doc = {**order, "previous": prev, "change": {"refunded": str(_money(order.get("refunded_amount")) - base)}}
        cid = order.get("customer_id")
        subject = f"order:{order['id']}"
        for trigger, parts, when in ([] if unchanged else _triggers(order, prev)):
            if when is None or (first_run and when < horizon):
                continue  # history before the first run reaches People as traits
            facts.extend(_fact(plan, parts, when, doc, subject, cid, horizon) for plan in spec.on(trigger))
        if not backfill_kinds or backfill_since is None:
            continue
        state_doc = {**doc, "previous": None, "change": {"refunded": str(_money(order.get("refunded_amount")))}}
        for trigger, parts, when in _triggers(order, None):
            if when is None or when < max(backfill_since, horizon):
                continue
            facts.extend(_fact(plan, parts, when, state_doc, subject, cid, horizon)
                         for plan in spec.on(trigger) if plan.name in backfill_kinds)
    return facts, snaps


def read_journal(path: str | Path | None) -> list[dict[str, Any]]:
    """The webhook journal (JSON lines written by the Answers webhook); a torn last line is skipped."""
    if not path or not Path(path).exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and item.get("order_id") and item.get("cart_id"):
                out.append(item)
    return out


def cart_facts(con: Any, spec: EventsSpec, journal: list[dict[str, Any]], now: datetime) -> list[Fact]:
    """CartConverted facts for journal lines whose order is staged (the others wait for it)."""
    plans = spec.on("cart_converted")
    if not plans or not journal or not _has_table(con, ORDERS):
        return []
    ids = sorted({int(j["order_id"]) for j in journal})
    orders = {int(o["id"]): o for o in _rows(con.execute(f"SELECT * FROM {ORDERS} WHERE id IN (SELECT unnest(?))",
                                                         [ids]))}
    facts = []
    for j in journal:
        order = orders.get(int(j["order_id"]))
        if order is None:
            continue
        created = j.get("created_at")
        when = datetime.fromtimestamp(int(created), UTC).replace(tzinfo=None) if isinstance(created, int) else now
        doc = {"cart_id": j["cart_id"], "order_id": int(j["order_id"]), "created_at": _api(when), "order": order}
        for plan in plans:
            facts.append(_fact(plan, (str(j["cart_id"]).lower(), int(j["order_id"])), when, doc,
                               f"cart:{j['cart_id']}", order.get("customer_id"), now - WINDOW))
    return facts
