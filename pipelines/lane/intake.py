"""The webhook intake: an append-only SQLite journal (WAL mode) beside the DuckDB file.

Why SQLite and not a DuckDB table: DuckDB lets one process write a file at a time, and the
nightly run holds the DuckDB file for minutes; the receiver must answer in milliseconds
whatever the run does. SQLite in WAL mode lets the receiver append while the drain reads and
records fates, each commit is durable (``synchronous=FULL``: fsynced before the receiver
answers 200), and a process killed mid-write leaves the file consistent.

Locking: the receiver only appends (``INSERT OR IGNORE``; a few ms of SQLite's write lock);
the drain reads pending entries and writes their fate, and it holds the run lock
(`pipelines.sync.run_lock`) while it stages and pushes, so it never runs the DuckDB ledger
concurrently with the nightly run; the nightly run's incremental window catches anything
the lane missed (a hook down for a day).

Keeping the receiver's commits short (its p99 is what BigCommerce sees): the receiver waits
for the write lock by polling every half millisecond instead of SQLite's escalating busy
sleeps (up to 100 ms at once), and the drain writes in short transactions (`WRITE_CHUNK`
rows) with ``synchronous=NORMAL``: a fate lost to a power cut only means the entry is
applied again, which the push's hashes make a no-op. The receiver's connection checkpoints
as SQLite does by default (every ~4 MB of WAL): a checkpoint that completes lets the WAL
restart from its beginning, so it is overwritten in place, which keeps each commit's fsync
cheap; leaving checkpoints to another thread let the WAL grow (tens of MB a minute at
500/s), and every commit then also paid a metadata journal commit.

One row per delivery accepted (``seq`` orders them); duplicates (same ``webhook_id`` or
payload ``hash``) are stored once; a same-hash delivery under another message id that arrives
after its twin was applied re-opens it (a second change within one second has the same
payload, and must not be lost). ``state``: ``pending`` → ``done`` (with ``fate``: what
became of it) or ``ignored`` (nothing to sync for its scope); ``collapsed_into`` names the
entry whose re-fetch covered it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT UNIQUE,
    hash TEXT UNIQUE,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity_id TEXT,
    created_at INTEGER,
    received_at REAL NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    fate TEXT,
    collapsed_into INTEGER,
    run_id TEXT,
    processed_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reopened INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state, seq);
CREATE TABLE IF NOT EXISTS seen_attempts (
    webhook_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    PRIMARY KEY (webhook_id, timestamp)
);
"""

PENDING, DONE, IGNORED = "pending", "done", "ignored"
WRITE_CHUNK = 500  # rows per drain transaction: the receiver never waits long for the write lock
LOCK_POLL_S = 0.0005
SYNCED_KINDS = ("customer", "order")  # what the lane re-fetches; carts etc. are stored, marked ignored


def intake_path_for(duckdb_path: str | Path) -> Path:
    """``x.duckdb`` -> ``x.intake.sqlite`` beside it."""
    p = Path(duckdb_path).resolve()
    return p.with_name(p.stem + ".intake.sqlite")


@dataclass(frozen=True)
class Entry:
    """One delivery to store: what it is about and the payload as received."""

    scope: str
    kind: str  # customer | order | cart | other
    entity_id: str | None
    created_at: int | None
    hash: str | None
    payload: str
    webhook_id: str | None = None
    timestamp: str | None = None  # webhook-timestamp of the attempt (replay detection)


@dataclass(frozen=True)
class Pending:
    """A pending entry as the drain sees it."""

    seq: int
    scope: str
    kind: str
    entity_id: str | None
    received_at: float


def connect(path: str | Path, *, timeout: float = 30.0, durable: bool = True) -> sqlite3.Connection:
    """Open (and create) the journal with WAL and a busy timeout; ``durable``: every commit
    fsynced (``synchronous=FULL``, the receiver's), else ``NORMAL``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    con.executescript(SCHEMA)
    return con


def begin_immediate(cur: sqlite3.Cursor, timeout: float = 30.0) -> None:
    """``BEGIN IMMEDIATE``, retrying every `LOCK_POLL_S` while another connection writes (on a
    connection opened with ``timeout=0``; SQLite's own busy handler sleeps up to 100 ms at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            cur.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(LOCK_POLL_S)


class Intake:
    """The journal's operations; one instance per thread (SQLite connections are not shared)."""

    def __init__(self, path: str | Path, *, role: str = "any") -> None:
        """``role``: ``receiver`` (durable commits, polls for the write lock),
        ``drain`` (``synchronous=NORMAL``: see the module docstring) or ``any``."""
        self.path = Path(path)
        self.role = role
        if role == "receiver":
            connect(self.path).close()  # created (schema) with the default busy timeout
            self.con = connect(self.path, timeout=0.0)
        else:
            self.con = connect(self.path, durable=role != "drain")

    def close(self) -> None:
        self.con.close()

    # -- the receiver ------------------------------------------------------------------
    def append_many(self, entries: list[Entry]) -> list[str]:
        """Store entries in one durable transaction; per entry ``stored``, ``duplicate``
        (same webhook-id or hash, a sender's retry) or ``replay`` (the very attempt seen before)."""
        out: list[str] = []
        now = time.time()
        cur = self.con.cursor()
        begin_immediate(cur)
        try:
            for e in entries:
                if e.webhook_id and e.timestamp:
                    cur.execute("INSERT OR IGNORE INTO seen_attempts VALUES (?, ?)", [e.webhook_id, e.timestamp])
                    if cur.rowcount == 0:
                        out.append("replay")
                        continue
                cur.execute(
                    "INSERT OR IGNORE INTO deliveries (webhook_id, hash, scope, kind, entity_id, created_at, "
                    "received_at, payload, state, fate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [e.webhook_id, e.hash, e.scope, e.kind, e.entity_id, e.created_at, now, e.payload,
                     *((PENDING, None) if e.kind in SYNCED_KINDS else (IGNORED, "no sync target for this scope"))],
                )
                if cur.rowcount:
                    out.append("stored")
                    continue
                out.append("duplicate")
                if e.hash:
                    # Same hash, another message: BigCommerce firing twice for one event, or a
                    # second change within the same second. Already applied? Apply it again
                    # (a re-fetch that finds nothing new sends nothing).
                    # The same goes for a twin already taken by the drain (its re-fetch may predate
                    # this change): re-opened, its fate is not recorded until it is taken again.
                    cur.execute("UPDATE deliveries SET state = ?, reopened = 1 WHERE hash = ? AND webhook_id IS NOT ? "
                                "AND (state = ? OR (state = ? AND attempts > 0))",
                                [PENDING, e.hash, e.webhook_id, DONE, PENDING])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return out

    # -- the drain ---------------------------------------------------------------------
    def pending(self, limit: int, after: int = 0) -> list[Pending]:
        """Up to ``limit`` pending entries after ``seq`` ``after``, oldest first."""
        rows = self.con.execute(
            "SELECT seq, scope, kind, entity_id, received_at FROM deliveries WHERE state = ? "
            "AND (seq > ? OR reopened = 1) ORDER BY seq LIMIT ?", [PENDING, after, limit]).fetchall()
        return [Pending(int(s), sc, k, e, float(r)) for s, sc, k, e, r in rows]

    def mark_attempt(self, seqs: Iterable[int]) -> None:
        """Count one processing attempt for these entries (a crash shows as attempts > 1)."""
        self._many("UPDATE deliveries SET attempts = attempts + 1, reopened = 0 WHERE seq = ?", [[s] for s in seqs])

    def record(self, fates: list[tuple[int, str, int | None]], run_id: str, state: str = DONE) -> None:
        """Record each entry's fate: (seq, fate, collapsed_into); an entry re-opened since it was
        taken stays pending (it is taken again)."""
        now = time.time()
        self._many("UPDATE deliveries SET state = ?, fate = ?, collapsed_into = ?, run_id = ?, processed_at = ? "
                   "WHERE seq = ? AND reopened = 0", [[state, f, c, run_id, now, s] for s, f, c in fates])

    def _many(self, sql: str, params: list[list[Any]]) -> None:
        """Run ``sql`` for every params row, `WRITE_CHUNK` rows a transaction."""
        for start in range(0, len(params), WRITE_CHUNK):
            cur = self.con.cursor()
            begin_immediate(cur)
            try:
                cur.executemany(sql, params[start : start + WRITE_CHUNK])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    # -- reporting ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Backlog and lag (see `intake_stats`)."""
        return intake_stats(self.con)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every stored delivery (for tests and `bc2people runs --lane --json`)."""
        cur = self.con.execute("SELECT seq, webhook_id, hash, scope, kind, entity_id, state, fate, collapsed_into, "
                               "attempts, payload FROM deliveries ORDER BY seq")
        names = [d[0] for d in cur.description]
        for row in cur:
            out = dict(zip(names, row, strict=True))
            out["payload"] = json.loads(out["payload"])
            yield out


def last_by_scope(intake: Intake) -> dict[str, float]:
    """The last time a delivery of each scope was received."""
    return {str(s): float(t) for s, t in intake.con.execute(
        "SELECT scope, max(received_at) FROM deliveries GROUP BY scope").fetchall()}


def intake_stats(con: sqlite3.Connection) -> dict[str, Any]:
    """Backlog and lag: counts per state, the oldest pending entry's age, the last processed,
    the lag (received → applied) over the last hour, and the count of each fate."""
    now = time.time()
    counts = dict(con.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    oldest = con.execute("SELECT min(received_at) FROM deliveries WHERE state = ?", [PENDING]).fetchone()[0]
    last = con.execute(
        "SELECT max(processed_at), max(received_at) FROM deliveries WHERE state = ?", [DONE]).fetchone()
    lag = con.execute(
        "SELECT avg(processed_at - received_at), max(processed_at - received_at) FROM deliveries "
        "WHERE state = ? AND processed_at > ?", [DONE, now - 3600]).fetchone()
    fates = dict(con.execute("SELECT fate, count(*) FROM deliveries WHERE fate IS NOT NULL "
                             "GROUP BY fate").fetchall())
    return {
        "received": sum(counts.values()),
        "pending": int(counts.get(PENDING, 0)),
        "done": int(counts.get(DONE, 0)),
        "ignored": int(counts.get(IGNORED, 0)),
        "oldest_pending_age_s": None if oldest is None else round(now - oldest, 3),
        "last_processed_at": last[0],
        "lag_avg_s_last_hour": None if lag[0] is None else round(lag[0], 3),
        "lag_max_s_last_hour": None if lag[1] is None else round(lag[1], 3),
        "fates": {str(k): int(v) for k, v in fates.items()},
    }
