"""``bc2people drain``: intake entries → re-fetch by id → the same staging → the same push.

One micro-batch (cycle):

1. take up to ``max_entries`` pending entries in intake order; repeats of the same
   (kind, id) collapse into the first (one re-fetch covers them);
2. re-fetch: customers by ``id:in`` (up to a page of ids a request, with the nightly run's
   ``include=``), orders by ``GET /v2/orders/{id}``: one client, one quota budget;
3. under the lane lock and the run lock (`pipelines.sync.run_lock`): stage the records into
   ``bigcommerce.customers`` / ``bigcommerce.orders`` through the nightly staging pipeline
   (`sources.bigcommerce.by_id.bigcommerce_records`: same tables, same schema, dlt's merge),
   skipping any record older than the row already staged (the nightly run may have staged a
   newer one meanwhile); a customer the store no longer has gets ``_deleted_at`` (as the
   sweep marks it); then `pipelines.push.push_persons`, which sends exactly the persons whose
   row version or traits changed and applies the mapping's ``on_deleted``;
4. record each entry's fate in the intake.

Re-fetching runs ahead of staging and pushing (one thread each), so the quota is spent while
DuckDB works: the fetcher takes what is pending every `poll_s` (50 ms) and re-fetches it; the
stager, each time it is free, merges every batch fetched meanwhile into one cycle (up to
``merge_max`` entries). A trickle therefore gets small, prompt cycles, and a burst large ones
whose fixed costs (a dlt run each for staging and delivery) are paid once per many thousand
entries. Per cycle the drain reuses one People client whose definition lookups are remembered
(`pipelines.lane.people`), and the staging pipeline skips dlt's restore-from-destination when
its working folder already holds the schema and state (the nightly run shares that folder). A crash anywhere leaves the entries pending: the next drain
re-fetches them; staging merges, and the push's row versions and payload hashes (plus the
core's resumption of an unfinished load package) keep People from receiving a change twice.
"""

from __future__ import annotations

import contextlib
import queue
import secrets as _random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bc2people.pipelines.lane.intake import Intake, Pending, intake_path_for

DEFAULT_MAX_ENTRIES = 5000  # entries taken (and re-fetched) at a time
DEFAULT_MERGE_MAX = 25_000  # entries one cycle may merge from the batches fetched meanwhile
LOOKAHEAD_BATCHES = 6  # fetched batches waiting for the stager at most
ORDER_FETCH_WORKERS = 4
CUSTOMER_FETCH_WORKERS = 4
BURST_ENTRIES = 2000  # a cycle this large is a burst
BURST_PUSH_WORKERS = 4


@dataclass
class Batch:
    """One micro-batch: its entries, what the re-fetch found, and each entry's fate so far."""

    entries: list[Pending]
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    gone_customers: set[int] = field(default_factory=set)
    first_of: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, id) -> seq of the first entry
    fetched_at: float = 0.0
    gone_orders: set[int] = field(default_factory=set)
    merged: int = 1  # fetched batches this one stands for

    def absorb(self, later: Batch) -> None:
        """Merge a batch fetched after this one: its records win (they were read later)."""
        self.entries.extend(later.entries)
        for key, seq in later.first_of.items():
            self.first_of.setdefault(key, seq)
        self.customers = _later_wins(self.customers, self.gone_customers, later.customers, later.gone_customers)
        self.orders = _later_wins(self.orders, self.gone_orders, later.orders, later.gone_orders)
        self.fetched_at = later.fetched_at
        self.merged += later.merged


def _later_wins(records: list[dict[str, Any]], gone: set[int], later: list[dict[str, Any]],
                later_gone: set[int]) -> list[dict[str, Any]]:
    """Records by id with a later fetch's records and disappearances applied (``gone`` in place)."""
    by_id = {int(r["id"]): r for r in records}
    for r in later:
        by_id[int(r["id"])] = r
        gone.discard(int(r["id"]))
    for rid in later_gone:
        by_id.pop(rid, None)
        gone.add(rid)
    return list(by_id.values())


@dataclass
class DrainStats:
    """What a drain did (totals over its cycles)."""

    cycles: int = 0
    entries: int = 0
    collapsed: int = 0
    customers_fetched: int = 0
    customers_gone: int = 0
    orders_fetched: int = 0
    orders_gone: int = 0
    stale_skipped: int = 0
    merged_batches: int = 0
    fetch_s: float = 0.0
    lock_wait_s: float = 0.0
    stage_s: float = 0.0
    push_s: float = 0.0
    push: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "push"}
        out["push"] = dict(self.push)
        return out


@contextlib.contextmanager
def lane_lock(duckdb_path: Path, *, poll_s: float = 0.5, stop: threading.Event | None = None) -> Iterator[bool]:
    """The lane lock, then the run lock: yields True once both are held (False when ``stop``
    was set while waiting for a nightly run to finish)."""
    import fcntl

    from bc2people.pipelines.paths import pipelines_dir_for
    from bc2people.pipelines.sync import LANE_LOCK_NAME, RunInProgress, run_lock

    lock_dir = pipelines_dir_for(duckdb_path)
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        with open(lock_dir / LANE_LOCK_NAME, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # one drain per DuckDB file
            try:
                with run_lock(duckdb_path, lane_wait_s=0.0):
                    yield True
                    return
            except RunInProgress:
                pass  # the nightly run: wait for it, holding nothing
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        if stop is not None and stop.is_set():
            yield False
            return
        time.sleep(poll_s)


class Drainer:
    """Drains one intake into one DuckDB file (see the module docstring)."""

    def __init__(self, duckdb_path: str | Path, mapping: Any, *, store_hash: str, client: Any,
                 people_client: Any = None, intake_path: str | Path | None = None,
                 max_entries: int = DEFAULT_MAX_ENTRIES, poll_s: float = 0.05, merge_max: int = DEFAULT_MERGE_MAX,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.duckdb_path = Path(duckdb_path)
        self.mapping = mapping
        self.store_hash = store_hash
        self.client = client
        self.people_client = people_client
        self.intake_path = Path(intake_path) if intake_path else intake_path_for(duckdb_path)
        self.max_entries = max_entries
        self.poll_s = poll_s
        self.merge_max = max(merge_max, max_entries)
        self.progress = progress
        self.stats = DrainStats()
        self._inflight = 0  # batches handed to the stager and not yet applied
        self._inflight_lock = threading.Lock()

    # -- the loop ----------------------------------------------------------------------
    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None) -> DrainStats:
        """Drain until ``stop`` is set (or, with ``until_idle``, until nothing is pending)."""
        stop = stop or threading.Event()
        handoff: queue.Queue[Batch | None] = queue.Queue(maxsize=LOOKAHEAD_BATCHES)
        failure: list[BaseException] = []
        stager = threading.Thread(target=self._stage_loop, args=(handoff, failure, stop), name="lane-stager",
                                  daemon=True)
        stager.start()
        intake = Intake(self.intake_path, role="drain")
        after = 0
        try:
            while not stop.is_set() and not failure:
                entries = intake.pending(self.max_entries, after)
                if not entries:
                    with self._inflight_lock:
                        idle = self._inflight == 0
                    if until_idle and idle:
                        break
                    stop.wait(self.poll_s)
                    continue
                after = entries[-1].seq
                intake.mark_attempt(e.seq for e in entries)
                batch = self.fetch(entries)
                with self._inflight_lock:
                    self._inflight += 1
                while not stop.is_set() and not failure:
                    try:
                        handoff.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        finally:
            intake.close()
            handoff.put(None)
            stager.join()
        if failure:
            raise failure[0]
        return self.stats

    def _stage_loop(self, handoff: queue.Queue[Batch | None], failure: list[BaseException],
                    stop: threading.Event) -> None:
        intake = Intake(self.intake_path, role="drain")
        try:
            while True:
                batch = handoff.get()
                if batch is None:
                    return
                ending = False
                while len(batch.entries) < self.merge_max:  # everything fetched meanwhile: one cycle
                    try:
                        later = handoff.get_nowait()
                    except queue.Empty:
                        break
                    if later is None:
                        ending = True
                        break
                    batch.absorb(later)
                if not failure:
                    try:
                        self.apply(batch, intake, stop)
                    except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
                        failure.append(exc)
                with self._inflight_lock:
                    self._inflight -= batch.merged
                if ending:
                    return
        finally:
            intake.close()

    # -- one batch ---------------------------------------------------------------------
    def fetch(self, entries: list[Pending]) -> Batch:
        """Collapse repeats and re-fetch what the entries name (no DuckDB access)."""
        from bc2people.sources.bigcommerce.by_id import IDS_PER_REQUEST, fetch_customers, fetch_order

        started = time.monotonic()
        batch = Batch(entries)
        for e in entries:
            if e.entity_id is not None:
                batch.first_of.setdefault((e.kind, e.entity_id), e.seq)
        customer_ids = [int(i) for (k, i) in batch.first_of if k == "customer"]
        order_ids = [int(i) for (k, i) in batch.first_of if k == "order"]
        if customer_ids:
            chunks = [customer_ids[i : i + IDS_PER_REQUEST] for i in range(0, len(customer_ids), IDS_PER_REQUEST)]
            if len(chunks) == 1:
                batch.customers = fetch_customers(self.client, chunks[0])
            else:  # a burst: several id:in requests at once (the quota budget paces them)
                with ThreadPoolExecutor(min(CUSTOMER_FETCH_WORKERS, len(chunks))) as pool:
                    batch.customers = [c for part in pool.map(lambda ids: fetch_customers(self.client, ids), chunks)
                                       for c in part]
            batch.gone_customers = set(customer_ids) - {int(c["id"]) for c in batch.customers}
        if order_ids:
            now = int(time.time())
            with ThreadPoolExecutor(ORDER_FETCH_WORKERS) as pool:
                found = list(pool.map(lambda i: fetch_order(self.client, i, now), order_ids))
            batch.orders = [o for o in found if o is not None]
            batch.gone_orders = set(order_ids) - {int(o["id"]) for o in batch.orders}
        batch.fetched_at = time.time()
        self.stats.fetch_s += time.monotonic() - started
        return batch

    def apply(self, batch: Batch, intake: Intake, stop: threading.Event | None = None) -> None:
        """Stage, push and record one fetched batch, under the locks."""
        run_id = new_lane_run_id()
        t0 = time.monotonic()
        with lane_lock(self.duckdb_path, stop=stop) as held:
            if not held:
                return  # stopping while a nightly run holds the file: the entries stay pending
            t1 = time.monotonic()
            stale = self._stage(batch)
            t2 = time.monotonic()
            pushed = self._push(run_id, len(batch.entries))
            t3 = time.monotonic()
        self.stats.lock_wait_s += t1 - t0
        self.stats.stage_s += t2 - t1
        self.stats.push_s += t3 - t2
        self.stats.push.update({k: int(v) for k, v in pushed.items() if isinstance(v, int)})
        intake.record(self._fates(batch, stale), run_id)
        self.stats.cycles += 1
        self.stats.merged_batches += batch.merged - 1
        self.stats.entries += len(batch.entries)
        if self.progress is not None:
            self.progress({"phase": "drain", "entries": self.stats.entries, "cycles": self.stats.cycles})

    def _stage(self, batch: Batch) -> set[tuple[str, int]]:
        import duckdb

        from bc2people.pipelines.staging import (
            DELETED_AT,
            STAGING_DATASET,
            make_pipeline,
            run_after_leftovers,
        )
        from bc2people.sources.bigcommerce.by_id import bigcommerce_records

        con = duckdb.connect(str(self.duckdb_path))
        try:
            stale = _older_than_staged(con, "customers", batch.customers) | _older_than_staged(
                con, "orders", batch.orders)
        finally:
            con.close()
        customers = [c for c in batch.customers if ("customers", int(c["id"])) not in stale]
        orders = [o for o in batch.orders if ("orders", int(o["id"])) not in stale]
        self.stats.stale_skipped += len(stale)
        if customers or orders:
            import dlt

            with dlt.config.values({"data_writer.disable_compression": True}):
                pipeline = make_pipeline(self.duckdb_path)
                if STAGING_DATASET in pipeline.schema_names and not pipeline.first_run:
                    # the working folder holds the schema and state (the nightly run's and ours):
                    # reading them back from DuckDB every cycle only costs time
                    pipeline.config.restore_from_destination = False
                run_after_leftovers(pipeline, bigcommerce_records(customers, orders))
        if batch.gone_customers:
            con = duckdb.connect(str(self.duckdb_path))
            try:
                if _table_exists(con, STAGING_DATASET, "customers"):
                    table = f'"{STAGING_DATASET}"."customers"'
                    con.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{DELETED_AT}" TIMESTAMP WITH TIME ZONE')
                    con.execute(f'UPDATE {table} SET "{DELETED_AT}" = ? WHERE "{DELETED_AT}" IS NULL AND id IN '
                                f"(SELECT unnest(?))", [datetime.now(UTC), sorted(batch.gone_customers)])
            finally:
                con.close()
        self.stats.customers_fetched += len(batch.customers)
        self.stats.customers_gone += len(batch.gone_customers)
        self.stats.orders_fetched += len(batch.orders)
        self.stats.orders_gone += len(batch.gone_orders)
        return stale

    def _push(self, run_id: str, entries: int) -> dict[str, Any]:
        from bc2people.pipelines.push import push_persons

        if self.people_client is None:
            from bc2people.pipelines.lane.people import drain_people_client

            self.people_client = drain_people_client()
        # a burst cycle sends many upserts of 1,000: more load jobs in flight keep People's 5/s busy
        workers = BURST_PUSH_WORKERS if entries >= BURST_ENTRIES else 2
        res = push_persons(str(self.duckdb_path), self.mapping, run_id, store_hash=self.store_hash,
                           client=self.people_client, workers=workers)
        return dict(res.counts)

    def _fates(self, batch: Batch, stale: set[tuple[str, int]]) -> list[tuple[int, str, int | None]]:
        orders = {int(o["id"]) for o in batch.orders}
        out: list[tuple[int, str, int | None]] = []
        for e in batch.entries:
            first = batch.first_of.get((e.kind, e.entity_id or ""))
            if first is not None and first != e.seq:
                out.append((e.seq, "collapsed", first))
                self.stats.collapsed += 1
                continue
            ident = int(e.entity_id or 0)
            if e.kind == "customer":
                fate = ("deleted in store" if ident in batch.gone_customers else
                        "staged row newer, kept" if ("customers", ident) in stale else "synced")
            else:
                fate = ("order gone" if ident not in orders else
                        "staged row newer, kept" if ("orders", ident) in stale else "synced")
            out.append((e.seq, fate, None))
        return out


def new_lane_run_id(now: datetime | None = None) -> str:
    """``lane-20261128T010203Z-a1b2c3``: the run id of one micro-batch in the ledger."""
    now = now or datetime.now(UTC)
    return f"lane-{now.strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(3)}"


def _table_exists(con: Any, dataset: str, table: str) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                      [dataset, table]).fetchone()
    return bool(row and row[0])


def _older_than_staged(con: Any, table: str, records: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(table, id) of re-fetched records whose ``date_modified`` is older than the staged row's."""
    from bc2people.pipelines.staging import STAGING_DATASET

    if not records or not _table_exists(con, STAGING_DATASET, table):
        return set()
    staged = dict(con.execute(
        f'SELECT id, epoch(date_modified) FROM "{STAGING_DATASET}"."{table}" WHERE id IN (SELECT unnest(?)) '
        "AND date_modified IS NOT NULL", [[int(r["id"]) for r in records]]).fetchall())
    out = set()
    for r in records:
        had = staged.get(int(r["id"]))
        if had is None:
            continue  # not staged yet (a burst of new customers: most of them)
        got = _epoch(r.get("date_modified"))
        if got is not None and got < had:
            out.add((table, int(r["id"])))
    return out


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)  # the API's "...Z" (strptime: 10x slower)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None
