"""The events flow: staged order changes and cart webhooks → People events, exactly once.

``push_events`` does, for one run (after the persons push, so the persons it sends for are
known to People):

1. derives the facts of what changed since the previous run (`pipelines.event_facts`) and
   records them with the new order snapshots in one transaction (a known event id is never
   recorded twice: re-runs, ``--full-refresh`` and mapping edits emit nothing again);
2. takes every PENDING event (and SKIPPED ones still waiting for their person, while they
   are younger than 30 days): too old → TOO_OLD; person not accepted by People → SKIPPED
   (unless ``events.create_persons``); otherwise the person's key is its externalId;
3. provisions the definitions of the event types about to be sent (in a thread, while the
   ledger is read and screened; nothing when nothing new is to be sent; a type conflict is
   exit 2 naming both types). A definition that sent events before and is gone
   from People was deleted there on purpose: it is not re-created, its events are REJECTED
   (``DEFINITION_MISSING``) until ``--retry-rejected`` re-creates it and sends them;
4. checks each event against the definition People holds (types, unknown properties) and
   the 512,000-byte item limit: a bad one is REJECTED with the reason and never sent;
5. sends the rest in batches of ≤5,000 events / ≤15,728,640 bytes on parallel workers sharing
   the 5 requests/s limit; a refused batch is narrowed down until each offender is rejected
   alone with People's reason, the rest still sent.

Crash between People's 202 and the ledger write: that batch stays PENDING and is sent again on
the next run with the same ``eventId`` values, which People documents as recorded once; the
events show ``attempts > 1`` in ``people_sync.events``. See `pipelines.core.events`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from bc2people.pipelines.core import events as core
from bc2people.pipelines.core.events import (
    PENDING,
    REJECTED,
    SENT,
    SKIPPED,
    TOO_OLD,
    EventLedger,
    Outgoing,
    Snapshot,
)
from bc2people.pipelines.core.ledger import ACCEPTED_STATUSES, utcnow
from bc2people.pipelines.event_facts import (
    ORDER_CHUNK,
    SNAPSHOT_TARGET,
    WINDOW,
    cart_facts,
    changed_order_chunks,
    order_facts,
    read_journal,
)
from bc2people.pipelines.ledger import EVENT_COUNTS, LEDGER_DATASET, TARGET
from bc2people.pipelines.mapping import Mapping

EVENT_TARGET = "people_event"
NO_PERSON = "NO_PERSON"
DEFINITION_MISSING = "DEFINITION_MISSING"
DEFINITION = "DEFINITION"
TOO_LARGE = "TOO_LARGE"
PEOPLE = "PEOPLE"
DEFAULT_WORKERS = 4
CART_JOURNAL_KEY = "events.cart_journal"
# The reconciliation view: per event type, emitted / accepted / rejected / too old / skipped / pending.
EVENTS_BY_TYPE = f"""
CREATE OR REPLACE VIEW {LEDGER_DATASET}.events_by_type AS
SELECT kind AS event_type, count(*) AS emitted, count(*) FILTER (WHERE status = '{SENT}') AS accepted,
       count(*) FILTER (WHERE status = '{REJECTED}') AS rejected, count(*) FILTER (WHERE status = '{TOO_OLD}') AS too_old,
       count(*) FILTER (WHERE status = '{SKIPPED}') AS skipped, count(*) FILTER (WHERE status = '{PENDING}') AS pending,
       count(*) FILTER (WHERE attempts > 1 AND status = '{SENT}') AS sent_more_than_once, max(sent_at) AS last_sent_at
FROM {LEDGER_DATASET}.events WHERE target = '{EVENT_TARGET}' GROUP BY kind ORDER BY kind
"""


def _setting() -> Any:
    from bc2people.pipelines.config import Setting

    return Setting(CART_JOURNAL_KEY, "cart webhook journal (JSON lines) written by the Answers webhook")


@dataclass
class EventsResult:
    """Counts of one events push (`EVENT_COUNTS`) plus ``event_requests`` sent."""

    counts: dict[str, int] = field(default_factory=dict)


def journal_path() -> str | None:
    """The cart webhook journal the Answers webhook appends to (``EVENTS__CART_JOURNAL`` /
    ``[events] cart_journal``); None when not configured (then no CartConverted events)."""
    from bc2people.pipelines.config import lookup

    return lookup(_setting())


def ensure_event_tables(con: Any) -> None:
    """The events ledger in ``people_sync`` and its ``events_by_type`` view (idempotent)."""
    core.ensure_events(con, LEDGER_DATASET)
    con.execute(EVENTS_BY_TYPE)


def _persons(con: Any, entity_ids: list[int]) -> dict[int, tuple[str, bool]]:
    """customer id -> (externalId, accepted by People) from the persons ledger."""
    if not entity_ids:
        return {}
    rows = con.execute(
        f"SELECT entity_id, key, accepted_hash IS NOT NULL OR last_status IN (SELECT unnest($ok)) "
        f"FROM {LEDGER_DATASET}.sync_state WHERE target = $t AND entity_id IN (SELECT unnest($ids)) "
        "QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY last_attempt_at DESC NULLS LAST) = 1",
        {"t": TARGET, "ids": entity_ids, "ok": list(ACCEPTED_STATUSES)}).fetchall()
    return {int(r[0]): (str(r[1]), bool(r[2])) for r in rows}


# A snapshot of this target exists while a first derivation is unfinished (a crash between two
# of its chunks): the run that resumes it derives the remaining orders as a first run too, so
# the store's history still reaches People as traits, not as millions of TOO_OLD events.
FIRST_RUN_TARGET = f"{SNAPSHOT_TARGET}:first_run"


def derive(con: Any, mapping: Mapping, run_id: str, *, now: Any, backfill_days: int | None,
           journal: str | None, chunk: int = ORDER_CHUNK, progress: Any = None) -> int:
    """Record the facts of this run's changes (and of a backfill); returns how many were new.

    The changed orders are derived ``chunk`` at a time, each chunk's facts and snapshots in one
    transaction (an order's facts are recorded with its snapshot, or neither is)."""
    spec = mapping.events
    assert spec is not None
    unfinished = core.has_snapshots(con, LEDGER_DATASET, FIRST_RUN_TARGET)
    first_run = unfinished or not core.has_snapshots(con, LEDGER_DATASET, SNAPSHOT_TARGET)
    since = now - timedelta(days=min(max(backfill_days, 0), 30)) if backfill_days else None
    kinds: frozenset[str] = frozenset()
    if since is not None:
        emitted = {k.lower() for k in _kinds(con)}
        kinds = frozenset(d.name for d in spec.definitions if d.name.lower() not in emitted)
    new = done = 0
    # a first run's history gives no fact: read light (a day short of the horizon, so no
    # order near it depends on how DuckDB's session time zone compares the two)
    history_before = (now - WINDOW - timedelta(days=1)).replace(tzinfo=UTC) if first_run else None
    for orders in changed_order_chunks(con, LEDGER_DATASET, backfill_since=since if kinds else None,
                                       history_before=history_before, chunk=chunk):
        if first_run and not unfinished:  # before the first chunk's transaction
            core.record(con, LEDGER_DATASET, EVENT_TARGET, run_id, [], [Snapshot(0, run_id, {})],
                        snapshot_target=FIRST_RUN_TARGET)
            unfinished = True
        facts, snaps = order_facts(orders, spec, now, first_run=first_run, backfill_kinds=kinds, backfill_since=since)
        new += core.record(con, LEDGER_DATASET, EVENT_TARGET, run_id, facts, snaps, snapshot_target=SNAPSHOT_TARGET)
        done += len(orders)
        if progress is not None:
            progress("event facts", records=done, unit="orders")
    carts = cart_facts(con, spec, read_journal(journal), now)
    if carts:
        new += core.record(con, LEDGER_DATASET, EVENT_TARGET, run_id, carts)
    if unfinished:
        con.execute(f"DELETE FROM {LEDGER_DATASET}.event_snapshots WHERE target = ?", [FIRST_RUN_TARGET])
    return new


def _kinds(con: Any) -> set[str]:
    rows = con.execute(f"SELECT DISTINCT kind FROM {LEDGER_DATASET}.events WHERE target = ?", [EVENT_TARGET]).fetchall()
    return {r[0] for r in rows}


def _item(row: dict[str, Any], key: str) -> str:
    """The People event item as JSON text. The event id (hex) and the definition id (letters and
    digits, checked by the mapping) need no escaping; the payload is already canonical JSON."""
    when = row["occurred_at"].isoformat(timespec="milliseconds") + "Z"
    return (f'{{"eventId":"{row["event_id"]}","definitionId":"{row["kind"]}","occurredTime":"{when}",'
            f'"identifier":{{"id":{json.dumps(key, ensure_ascii=False)},"type":"EXTERNAL_ID"}},'
            f'"properties":{row["payload"] or "{}"}}}')


def push_events(
    duckdb_path: str, mapping: Mapping, run_id: str, *, client: Any = None, backfill_days: int | None = None,
    retry_rejected: bool = False, journal: str | None = None, workers: int = DEFAULT_WORKERS, progress: Any = None,
    max_items: int | None = None,
) -> EventsResult:
    """Derive, check and deliver this run's events; see the module docstring. ``client`` (a
    `PeopleClient`) defaults to one built from dlt config; ``max_items`` caps a batch below
    People's 5,000 (tests); ``journal`` is the cart webhook journal (`journal_path`)."""
    import duckdb

    counts: Counter[str] = Counter({k: 0 for k in EVENT_COUNTS})
    spec = mapping.events
    con = duckdb.connect(str(duckdb_path))
    try:
        ensure_event_tables(con)
        if spec is None or not spec.definitions:
            return EventsResult(dict(counts))
        now = utcnow()
        counts["events_emitted"] = derive(con, mapping, run_id, now=now, backfill_days=backfill_days, journal=journal,
                                          progress=progress)
        counts["events_too_old"] += _count_new(con, run_id, TOO_OLD)
        counts["events_skipped"] += _count_new(con, run_id, SKIPPED)
        counts["events_rejected"] += _count_new(con, run_id, REJECTED)
        codes = [NO_PERSON] + ([DEFINITION_MISSING, DEFINITION, PEOPLE, TOO_LARGE] if retry_rejected else [])
        rows = core.waiting(con, LEDGER_DATASET, EVENT_TARGET, since=now - WINDOW, retry_codes=codes)
        if not rows:
            return EventsResult(dict(counts))
        ledger = EventLedger(con, LEDGER_DATASET, EVENT_TARGET, run_id)
        with ThreadPoolExecutor(max_workers=1) as pool:
            provisioning = None
            if any(r["status"] == PENDING for r in rows):  # new events: provision while the rest is read
                client = client or _client()
                provisioning = pool.submit(_provision, client, mapping, {r["kind"] for r in rows},
                                           _sent_kinds(con, retry_rejected))
            ready = _screen(con, ledger, rows, spec.create_persons, now, counts)
            if ready:
                client = client or _client()
                if provisioning is None:
                    provisioning = pool.submit(_provision, client, mapping, {r[0]["kind"] for r in ready},
                                               _sent_kinds(con, retry_rejected))
                _send(ledger, client, mapping, ready, provisioning, workers, counts, progress, max_items)
            elif provisioning is not None:
                provisioning.result()
        return EventsResult(dict(counts))
    finally:
        con.close()


def _sent_kinds(con: Any, retry_rejected: bool) -> set[str]:
    """Definitions that sent events before (gone from People: deleted there, not re-created)."""
    return set() if retry_rejected else {k.lower() for k in core.kinds_with(con, LEDGER_DATASET, EVENT_TARGET, SENT)}


def _provision(client: Any, mapping: Mapping, kinds: set[str], sent_before: set[str]) -> Any:
    """The definitions of the kinds about to be sent, as People holds them (created when missing)."""
    from bc2people.destinations.people.events import provision_event_definitions

    assert mapping.events is not None
    lowered = {k.lower() for k in kinds}
    wanted = [d.definition() for d in mapping.events.definitions if d.name.lower() in lowered]
    return provision_event_definitions(client, wanted, do_not_create=sent_before)


def _count_new(con: Any, run_id: str, status: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {LEDGER_DATASET}.events WHERE target = ? AND run_id = ? AND status = ?",
                      [EVENT_TARGET, run_id, status]).fetchone()
    return int(row[0]) if row else 0


def _screen(con: Any, ledger: EventLedger, rows: list[dict[str, Any]], create_persons: bool, now: Any,
            counts: Counter[str]) -> list[tuple[dict[str, Any], str]]:
    """Too old and person-less events recorded; the rest returned with their person's key."""
    horizon = now - WINDOW
    persons = _persons(con, sorted({int(r["entity_id"]) for r in rows if r["entity_id"]}))
    updates: list[tuple[str, str, str | None, str | None]] = []
    ready = []
    for r in rows:
        was = r["status"]
        if r["occurred_at"] < horizon:
            updates.append((r["event_id"], TOO_OLD, "TOO_OLD", "not sent within 30 days of occurring: People refuses "
                            "older events"))
            counts["events_too_old"] += 1
            continue
        key, accepted = persons.get(int(r["entity_id"] or 0), (None, False))
        if key is None or not (accepted or create_persons):
            if was != SKIPPED:
                why = (f"customer {r['entity_id']} never reached People" if key is None else
                       f"customer {r['entity_id']} ({key}) is not accepted by People yet")
                updates.append((r["event_id"], SKIPPED, NO_PERSON,
                                why + "; sent once People accepts the person (within 30 days)"))
                counts["events_skipped"] += 1
            continue
        ready.append((r, key))
    ledger.set_status(updates)
    return ready


def _send(ledger: EventLedger, client: Any, mapping: Mapping, ready: list[tuple[dict[str, Any], str]],
          provisioning: Future[Any], workers: int, counts: Counter[str], progress: Any, max_items: int | None) -> None:
    from bc2people.destinations.people.events import (
        MAX_BATCH_BYTES,
        MAX_EVENTS,
        MAX_ITEM_BYTES,
        definition_checker,
        item_bytes,
        send_event_batch,
    )

    spec = mapping.events
    assert spec is not None
    prov = provisioning.result()
    missing = {m.lower() for m in prov.missing}
    checks = {d.name.lower(): definition_checker(prov.definitions.get(d.name.lower()), d.name) for d in spec.definitions}
    refused: list[tuple[str, str, str | None, str | None]] = []
    keys: dict[str, str] = {}

    def outgoing() -> Iterator[Outgoing]:
        """Events that pass the checks, prepared while earlier batches are being sent."""
        for row, key in ready:
            kind, eid = row["kind"], row["event_id"]
            check = checks.get(kind.lower())
            if kind.lower() in missing:
                keys[eid] = key
                refused.append((eid, REJECTED, DEFINITION_MISSING,
                                f"event definition {kind!r} was deleted in People after events were sent to it; "
                                "re-create it with `bc2people sync --retry-rejected` (within 30 days)"))
                continue
            if check is None:
                keys[eid] = key
                refused.append((eid, REJECTED, DEFINITION, f"event {kind!r} is no longer in the mapping"))
                continue
            why = check(json.loads(row["payload"] or "{}"))
            if why:
                keys[eid] = key
                refused.append((eid, REJECTED, DEFINITION, why))
                continue
            text = _item(row, key)
            if len(text) * 4 > MAX_ITEM_BYTES and item_bytes(text) > MAX_ITEM_BYTES:
                keys[eid] = key
                refused.append((eid, REJECTED, TOO_LARGE,
                                f"{item_bytes(text):,} bytes: People takes at most {MAX_ITEM_BYTES:,} per event"))
                continue
            yield Outgoing(eid, text, key)

    total = len(ready)
    done = [0]

    def report(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress("events", records=done[0], total=total)

    try:
        tally = core.deliver_events(ledger, outgoing(), lambda texts: send_event_batch(client, texts),
                                    max_items=min(max_items or MAX_EVENTS, MAX_EVENTS), max_bytes=MAX_BATCH_BYTES,
                                    workers=workers, reason_code=PEOPLE, progress=report)
    finally:
        ledger.set_status(refused, keys)
        counts["events_rejected"] += len(refused)
    counts["events_accepted"] += tally.counts[SENT]
    counts["events_rejected"] += tally.counts[REJECTED]
    counts["event_requests"] += tally.requests


def _client() -> Any:
    from bc2people.pipelines.push import _client as people_client

    return people_client()
