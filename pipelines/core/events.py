"""The events ledger: facts with deterministic ids, delivered exactly once, and the snapshots
they are derived from.

Tables, in the dataset the caller names:

``events`` — one row per (target, event_id): ``kind`` (the event type), ``key`` (whom it is
  about, resolved when it is sent), ``entity_id`` (the record that owns that key), ``subject``
  (the source record the event comes from), ``occurred_at`` (naive UTC), ``payload`` (JSON
  properties), ``status`` (`STATUSES`), ``reason_code`` / ``reason`` (why it is not SENT),
  ``run_id`` (the run that emitted it), ``created_at``, ``attempts`` (sends tried),
  ``last_attempt_at``, ``sent_at`` and ``sent_run_id``.
``event_snapshots`` — one row per (target, entity_id): the state last seen (``version`` and a
  small JSON ``state``), from which the next run derives what changed.

Exactly once. The id of an event is a hash of what identifies it (the wiring chooses: e.g. the
record, the new state and its modification time), so a re-run, a full re-read of the source or
a mapping edit derives the same id again and the insert skips it (``ON CONFLICT DO NOTHING``):
a past event is never emitted twice. Facts and the new snapshots are written in ONE
transaction, so a crash either records both or neither (and the next run derives the same
facts again). An event is written PENDING before it is sent, its attempt is counted before
the request, and it becomes SENT only after the target's acceptance. A crash between the
acceptance and the ledger write leaves that batch PENDING: the next run sends it again, with
the same event ids. That is at most the batches in flight when the process died (one per
worker); the target is asked to keep the first of two events with one id (the events API documents
exactly that for ``eventId``), and ``attempts > 1`` on a SENT event shows in the ledger which
events went out more than once. The ledger, not the target, decides what is still to send.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .hashing import canonical_json
from .ledger import utcnow

PENDING, SENT, REJECTED, TOO_OLD, SKIPPED = "PENDING", "SENT", "REJECTED", "TOO_OLD", "SKIPPED"
STATUSES = (PENDING, SENT, REJECTED, TOO_OLD, SKIPPED)

EVENT_COLUMNS: dict[str, str] = {
    "target": "VARCHAR NOT NULL",
    "event_id": "VARCHAR NOT NULL",
    "kind": "VARCHAR NOT NULL",
    "key": "VARCHAR",
    "entity_id": "BIGINT",
    "subject": "VARCHAR",
    "occurred_at": "TIMESTAMP",
    "payload": "JSON",
    "status": "VARCHAR",
    "reason_code": "VARCHAR",
    "reason": "VARCHAR",
    "run_id": "VARCHAR",
    "created_at": "TIMESTAMP",
    "attempts": "INTEGER",
    "last_attempt_at": "TIMESTAMP",
    "sent_at": "TIMESTAMP",
    "sent_run_id": "VARCHAR",
}


@dataclass(frozen=True)
class Fact:
    """One derived event. ``occurred_at`` is naive UTC."""

    event_id: str
    kind: str
    occurred_at: datetime
    payload: dict[str, Any]
    subject: str
    entity_id: int | None = None
    key: str | None = None
    status: str = PENDING
    reason_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """The state of one source record as last seen."""

    entity_id: int
    version: str | None
    state: dict[str, Any]


class Answer(Protocol):
    """What a target says about one batch: accepted, or the offenders by index and/or a reason."""

    @property
    def accepted(self) -> bool: ...

    @property
    def offenders(self) -> dict[int, str]: ...

    @property
    def general(self) -> str | None: ...


@dataclass
class Outgoing:
    """An event ready to send: its id, its item as the target's JSON text, and its key (recorded
    with the outcome)."""

    event_id: str
    text: str
    key: str | None = None


def ensure_events(con: Any, dataset: str) -> None:
    """Create the events tables when missing (idempotent)."""
    cols = ", ".join(f'"{n}" {t}' for n, t in EVENT_COLUMNS.items())
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {dataset}.events ({cols}, PRIMARY KEY (target, event_id))")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {dataset}.event_snapshots (target VARCHAR NOT NULL, entity_id BIGINT NOT NULL, "
        "version VARCHAR, state JSON, seen_at TIMESTAMP, PRIMARY KEY (target, entity_id))"
    )


def has_snapshots(con: Any, dataset: str, target: str) -> bool:
    """Whether any snapshot of ``target`` was ever recorded (False on the first run)."""
    rows = con.execute(f"SELECT count(*) FROM {dataset}.event_snapshots WHERE target = ?", [target]).fetchall()
    return bool(rows and rows[0][0])


def record(con: Any, dataset: str, target: str, run_id: str, facts: Sequence[Fact],
           snapshots: Sequence[Snapshot] = (), *, snapshot_target: str | None = None) -> int:
    """Insert new facts (known ids are skipped) and replace snapshots, in one transaction;
    returns how many facts were new."""
    import pyarrow as pa

    now = utcnow()
    ev = pa.table({
        "event_id": [f.event_id for f in facts], "kind": [f.kind for f in facts], "key": [f.key for f in facts],
        "entity_id": pa.array([f.entity_id for f in facts], pa.int64()), "subject": [f.subject for f in facts],
        "occurred_at": pa.array([f.occurred_at for f in facts], pa.timestamp("us")),
        "payload": [canonical_json(f.payload) for f in facts], "status": [f.status for f in facts],
        "reason_code": [f.reason_code for f in facts], "reason": [f.reason for f in facts],
    }, schema=pa.schema([("event_id", pa.string()), ("kind", pa.string()), ("key", pa.string()),
                         ("entity_id", pa.int64()), ("subject", pa.string()), ("occurred_at", pa.timestamp("us")),
                         ("payload", pa.string()), ("status", pa.string()), ("reason_code", pa.string()),
                         ("reason", pa.string())]))
    snap = pa.table({
        "entity_id": pa.array([s.entity_id for s in snapshots], pa.int64()),
        "version": pa.array([s.version for s in snapshots], pa.string()),
        "state": pa.array([canonical_json(s.state) for s in snapshots], pa.string()),
    })
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_new_events", ev)
        con.register("_new_snapshots", snap)
        row = con.execute(
            f"SELECT count(DISTINCT n.event_id) FROM _new_events n WHERE NOT EXISTS (SELECT 1 FROM {dataset}.events e "
            "WHERE e.target = $target AND e.event_id = n.event_id)", {"target": target}).fetchone()
        con.execute(
            f"INSERT INTO {dataset}.events (target, event_id, kind, key, entity_id, subject, occurred_at, payload, "
            "status, reason_code, reason, run_id, created_at, attempts) "
            "SELECT $target, event_id, any_value(kind), any_value(key), any_value(entity_id), any_value(subject), "
            "any_value(occurred_at), any_value(payload), any_value(status), any_value(reason_code), "
            "any_value(reason), $run_id, $now, 0 FROM _new_events GROUP BY event_id ON CONFLICT DO NOTHING",
            {"target": target, "run_id": run_id, "now": now})
        con.execute(
            f"INSERT INTO {dataset}.event_snapshots SELECT $target, entity_id, version, state, $now "
            "FROM _new_snapshots ON CONFLICT DO UPDATE SET version = excluded.version, state = excluded.state, "
            "seen_at = excluded.seen_at", {"target": snapshot_target or target, "now": now})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_new_events")
        con.unregister("_new_snapshots")
    return int(row[0]) if row else 0


def kinds_with(con: Any, dataset: str, target: str, status: str) -> set[str]:
    """Event kinds that have at least one event in ``status``."""
    rows = con.execute(f"SELECT DISTINCT kind FROM {dataset}.events WHERE target = ? AND status = ?",
                       [target, status]).fetchall()
    return {r[0] for r in rows}


def waiting(con: Any, dataset: str, target: str, *, since: datetime,
            retry_codes: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Events to (re)consider for sending: PENDING ones, and SKIPPED/REJECTED ones whose
    ``reason_code`` is in ``retry_codes``, occurred after ``since`` (older PENDING ones too:
    the caller records them as too old)."""
    cur = con.execute(
        f"SELECT event_id, kind, key, entity_id, subject, occurred_at, payload, status, reason_code "
        f"FROM {dataset}.events WHERE target = $target AND (status = '{PENDING}' OR "
        f"(status IN ('{SKIPPED}', '{REJECTED}') AND reason_code IN (SELECT unnest($codes)) AND occurred_at >= $since)) "
        "ORDER BY occurred_at, event_id",
        {"target": target, "codes": list(retry_codes) or [""], "since": since})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class EventLedger:
    """Serialised writes of event outcomes (several sender threads, one DuckDB connection)."""

    def __init__(self, con: Any, dataset: str, target: str, run_id: str) -> None:
        self.con, self.dataset, self.target, self.run_id = con, dataset, target, run_id
        self.lock = threading.Lock()

    def set_status(self, updates: Sequence[tuple[str, str, str | None, str | None]],
                   keys: dict[str, str] | None = None) -> None:
        """(event_id, status, reason_code, reason) per event, one transaction; ``keys`` sets
        the resolved key of events that have one now."""
        if not updates:
            return
        import pyarrow as pa

        now = utcnow()
        table = pa.table({
            "event_id": [u[0] for u in updates], "status": [u[1] for u in updates],
            "reason_code": pa.array([u[2] for u in updates], pa.string()),
            "reason": pa.array([u[3] for u in updates], pa.string()),
            "key": pa.array([(keys or {}).get(u[0]) for u in updates], pa.string()),
        })
        with self.lock:
            self.con.register("_event_updates", table)
            try:
                self.con.execute(
                    f"UPDATE {self.dataset}.events e SET status = u.status, reason_code = u.reason_code, "
                    "reason = u.reason, key = coalesce(u.key, e.key), "
                    f"sent_at = CASE WHEN u.status = '{SENT}' THEN $now ELSE e.sent_at END, "
                    f"sent_run_id = CASE WHEN u.status = '{SENT}' THEN $run ELSE e.sent_run_id END "
                    "FROM _event_updates u WHERE e.target = $target AND e.event_id = u.event_id",
                    {"now": now, "run": self.run_id, "target": self.target})
            finally:
                self.con.unregister("_event_updates")

    def note_attempt(self, event_ids: Sequence[str]) -> None:
        """Count one send attempt for each event (written before the request goes out)."""
        with self.lock:
            self.con.execute(
                f"UPDATE {self.dataset}.events SET attempts = coalesce(attempts, 0) + 1, last_attempt_at = $now "
                "WHERE target = $target AND event_id IN (SELECT unnest($ids))",
                {"now": utcnow(), "target": self.target, "ids": list(event_ids)})


def pack(items: Iterable[Outgoing], max_items: int, max_bytes: int) -> Iterator[list[Outgoing]]:
    """Consecutive batches of at most ``max_items`` items and ``max_bytes`` bytes (JSON array),
    produced as ``items`` come (the caller may still be preparing the rest)."""
    cur: list[Outgoing] = []
    size = 2
    for item in items:
        n = len(item.text.encode("utf-8")) + 1
        if cur and (len(cur) >= max_items or size + n > max_bytes):
            yield cur
            cur, size = [], 2
        cur.append(item)
        size += n
    if cur:
        yield cur


@dataclass
class Tally:
    """Outcomes of one delivery: events sent/rejected and requests made."""

    counts: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: str, n: int, requests: int = 0) -> None:
        with self.lock:
            self.counts[status] += n
            self.requests += requests


def _send_one(ledger: EventLedger, send: Callable[[list[str]], Answer], batch: list[Outgoing], tally: Tally,
              reason_code: str, progress: Callable[[int], None] | None) -> None:
    """Send a batch; a refused batch is narrowed down (named offenders out, else halves) until
    every event is either accepted or rejected alone with the target's reason."""
    todo = [batch]
    while todo:
        part = todo.pop()
        ledger.note_attempt([o.event_id for o in part])
        answer = send([o.text for o in part])
        tally.add("requests", 0, 1)
        keys = {o.event_id: o.key for o in part if o.key is not None}
        if answer.accepted:
            ledger.set_status([(o.event_id, SENT, None, None) for o in part], keys)
            tally.add(SENT, len(part))
            if progress is not None:
                progress(len(part))
            continue
        offenders = {i: why for i, why in answer.offenders.items() if 0 <= i < len(part)}
        if len(part) == 1 and not offenders:
            offenders = {0: answer.general or "refused without a reason"}
        if offenders:
            ledger.set_status([(part[i].event_id, REJECTED, reason_code, why[:1000]) for i, why in offenders.items()],
                              keys)
            tally.add(REJECTED, len(offenders))
            rest = [o for i, o in enumerate(part) if i not in offenders]
            if rest:
                todo.append(rest)
            continue
        half = len(part) // 2
        todo.extend([part[half:], part[:half]])


def deliver_events(
    ledger: EventLedger, items: Iterable[Outgoing], send: Callable[[list[str]], Answer], *, max_items: int,
    max_bytes: int, workers: int = 4, reason_code: str = "TARGET", progress: Callable[[int], None] | None = None,
) -> Tally:
    """Send ``items`` in batches on ``workers`` threads, each batch handed over as soon as it is
    full (``items`` may be a generator still preparing the rest); each batch's outcome is
    written to the ledger as it completes. An exception (target unreachable, credentials) stops
    the delivery and is raised; unsent events stay PENDING for the next run."""
    tally = Tally()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        running: set[Future[None]] = set()

        def settle(block: bool) -> None:
            done, _ = wait(running, return_when=FIRST_COMPLETED) if block else ({f for f in running if f.done()}, None)
            for f in done:
                running.discard(f)
                exc = f.exception()
                if exc is not None:
                    for other in running:
                        other.cancel()
                    raise exc

        for batch in pack(items, max_items, max_bytes):
            running.add(pool.submit(_send_one, ledger, send, batch, tally, reason_code, progress))
            settle(block=len(running) >= 2 * max(1, workers))
        while running:
            settle(block=True)
    return tally
