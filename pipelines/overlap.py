"""A first full sync with its phases overlapped: push what is staged while the rest is still read.

`stage_and_push` is what `pipelines.sync` runs instead of "stage everything, then push" when
`overlap_applies` (a first sync, or ``--full-refresh``; not a dry run; the setting
``sync.overlap`` / ``SYNC__OVERLAP`` not false):

1. the customers up to the store clock minus the lag are cut into segments of
   ``date_modified`` of about `segment_rows` customers each, by counting (see
   `sources.bigcommerce.segments`);
2. a producer thread stages the segments oldest first, each a dlt load of its own (appended,
   not merged, into a table that was empty and with no package pending: a segment drops the
   customers the one before it staged, so no id is staged twice) whose
   customers cursor advances to the segment's end only with its rows (so the cursor never
   covers what is not staged: a SIGKILL between or inside segments leaves a cursor the next,
   incremental, run resumes from);
3. this thread maps, diffs and delivers each staged segment as soon as it is loaded (the diff
   restricted to the segment's rows), the ledger written per batch exactly as in a
   sequential push; all segments go through one `pipelines.push.PushSession`, whose courier
   still delivers a segment's last packages while the next segment is selected and mapped;
4. with ``--sweep-deletions``, the producer runs the deletion sweep once every segment is
   staged, while this thread still sends the last segments (at 1M customers it took 5 s of
   the run's tail when it waited for them);
5. once every segment is staged and pushed and the sweep has run, one ordinary
   `pipelines.push.push_persons` over
   everything finishes the run (a pending package, deletions, contact removals, anything a
   segment missed), so the end state is the sequential path's.

Traits need orders: when the mapping declares traits, the orders are staged with the first
customer segment, in one load, so each segment's traits see every order (that segment's
customers, and the next segment's read ahead, are read while the orders are); without traits
they are staged after the last customer segment, while its persons are sent. Traits relative to other
customers (the default SQL's RFM quintiles among buyers, guest orders matched by email) can
still change as later segments land: the final push sends those buyers again, with their
final traits (5 of 450 customers in tests/test_overlap_sync.py).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bc2people.pipelines.core.deliver import LANES
from bc2people.pipelines.memory import limit_arenas, memory_figures, release_memory
from bc2people.pipelines.output import event

if TYPE_CHECKING:
    from bc2people.pipelines.config import JobSettings
    from bc2people.pipelines.mapping import Mapping
    from bc2people.pipelines.push import PushResult
    from bc2people.pipelines.staging import StageResult

# Counts that describe the run's state rather than add up over segments: the last one holds.
_SNAPSHOTS = ("traits", "contact_removals_pending", "deleted_in_store_seen")
_ORDER_RESOURCES = ("orders", "order_products")
# A segment's persons go out in packages of this many: a segment holds about 25,000, and a
# package of 20,000 (the sequential push's) held most of a segment's payloads in memory at once.
SEGMENT_DELIVERY_CHUNK = 5000
# ... on this many lanes at once (20,000 persons in flight, as one sequential package). With
# two, People's upsert slots went unused while both lanes' last batches waited on the ledger
# (at 300k customers, 119 s against 109 s with four; `make bench-scale`).
SEGMENT_LANES = LANES


def overlap_applies(duckdb_path: str | Path, *, dry_run: bool, full_refresh: bool) -> bool:
    """Whether this run stages and pushes overlapped: a first sync (no customers cursor yet)
    or a full refresh, not a dry run, and ``sync.overlap`` not set to false."""
    from bc2people.pipelines.config import OVERLAP, enabled
    from bc2people.pipelines.staging import customers_cursor, prepare_working_folder

    if dry_run or not enabled(OVERLAP):
        return False
    if full_refresh:
        return True
    prepare_working_folder(duckdb_path)
    return customers_cursor(duckdb_path) is None


def segment_rows() -> int | None:
    """Customers per segment: ``sync.segment_rows`` when set, else None (a tenth of the store,
    at least 25,000: `sources.bigcommerce.segments.default_rows_per_segment`)."""
    from bc2people.pipelines.config import SEGMENT_ROWS, lookup

    value = lookup(SEGMENT_ROWS)
    return max(1, int(value)) if value else None


@dataclass
class _Staged:
    index: int
    result: StageResult
    seconds: float
    finished: float  # time.monotonic() when staged


@dataclass
class _Swept:
    marked: int
    unmarked: int
    requests: int
    seconds: float


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


def stage_and_push(
    duckdb_path: Path,
    mapping: Mapping,
    run_id: str,
    settings: JobSettings,
    *,
    full_refresh: bool,
    retry_rejected: bool,
    sweep_deletions: bool = False,
    progress: Any = None,
    sample: int = 10,
) -> tuple[StageResult, PushResult] | None:
    """Stage the customers in segments on a producer thread and push each one here as it lands;
    returns what a sequential ``stage_customers`` + ``push_persons`` would (summed over segments),
    or None, having staged and sent nothing, when the store fits in one segment (nothing to
    overlap: the caller runs the sequential path)."""
    from bc2people.pipelines.push import push_persons
    from bc2people.pipelines.staging import StageResult, plan_customer_segments, prepare_working_folder
    from bc2people.sources.bigcommerce.readahead import Readahead

    source: dict[str, Any] = dict(settings.source_settings())
    limit_arenas()
    prepare_working_folder(duckdb_path)
    segments = plan_customer_segments(segment_rows(), **source)
    if len(segments) < 2:
        return None
    # into an empty table, with no package a killed run left, the segments are appended, not
    # merged (no merge SQL per segment: 10% of the sync's CPU at 300k); each segment drops the
    # customers the one before it staged (`sources.bigcommerce.arrow_pages.PagePreparer`)
    append = not full_refresh and _nothing_staged(duckdb_path)
    event("first sync in segments", run_id=run_id, segments=len(segments),
          customers=sum(s.rows for s in segments), appended=append)
    with_orders = _orders_enabled()
    orders_first = with_orders and mapping.traits is not None
    results: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    # each segment's customers resource reads the next segment's window once its own is read,
    # while dlt normalizes and loads it (see `sources.bigcommerce.readahead`)
    readahead = Readahead([s.end for s in segments])

    def stage(index: int, **kw: Any) -> None:
        from bc2people.pipelines.staging import stage_customers

        t0 = time.monotonic()
        res = stage_customers(str(duckdb_path), **source, **kw)
        done = time.monotonic()
        results.put(_Staged(index, res, done - t0, done))

    def produce() -> None:
        try:
            for i, seg in enumerate(segments):
                if stop.is_set():
                    return
                # with traits, the orders are staged with the first segment, in one load: its
                # customers are read (and the next segment's read ahead) while the orders are
                only = (*_ORDER_RESOURCES, "customers") if orders_first and i == 0 else ("customers",)
                stage(i, only=only, full_refresh=full_refresh and i == 0, end_at=seg.end, append=append,
                      readahead=readahead, one_row_per_customer=i == 0,
                      **({} if i == 0 else {"lookback_seconds": 0}))
            if with_orders and not orders_first and not stop.is_set():
                stage(len(segments), only=_ORDER_RESOURCES, full_refresh=full_refresh, one_row_per_customer=False)
            if sweep_deletions and not stop.is_set():
                from bc2people.pipelines.staging import sweep_staged

                t0 = time.monotonic()
                results.put(_Swept(*sweep_staged(duckdb_path, **source), seconds=time.monotonic() - t0))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            results.put(_Failed(exc))
        finally:
            readahead.close()
            results.put(_END)

    producer = threading.Thread(target=produce, name="bc2people-stage", daemon=True)
    checkpoints = _Checkpointer(duckdb_path)
    total = StageResult()
    pusher = _SegmentPusher(duckdb_path, mapping, run_id, settings, retry_rejected=retry_rejected,
                            sample=sample, progress=progress, as_of=segments[-1].end)
    producer.start()
    checkpoints.start()
    try:
        while True:
            item = results.get()
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.exc
            if isinstance(item, _Swept):
                total.deleted_marked, total.undeleted = item.marked, item.unmarked
                total.requests += item.requests
                event("deletions swept", run_id=run_id, marked=item.marked, unmarked=item.unmarked,
                      requests=item.requests, seconds=round(item.seconds, 1))
                continue
            customers = item.index < len(segments)
            _add(total, item.result, customers=customers, orders=not customers or (orders_first and item.index == 0))
            if customers:
                # waited_s: how long the staged segment waited for the pusher to finish the one
                # before it (reading is ahead of sending by that much)
                event("segment staged", run_id=run_id, segment=item.index + 1, of=len(segments),
                      extracted=item.result.extracted, seconds=round(item.seconds, 1),
                      waited_s=round(time.monotonic() - item.finished, 1), **memory_figures(pusher.con),
                      **({"orders": item.result.orders_extracted} if orders_first and item.index == 0 else {}))
            else:
                event("orders staged", run_id=run_id, orders=item.result.orders_extracted,
                      seconds=round(item.seconds, 1))
            if customers and item.result.load_id:
                pusher.push(item.result.load_id)
            release_memory()
        pusher.finish()  # the final push below selects everything: nothing may still be in flight
    except BaseException:
        stop.set()  # the producer ends after the segment it is staging (safe to cut anywhere)
        producer.join(timeout=30)
        checkpoints.close()
        raise
    finally:
        pusher.close()
    producer.join()
    checkpoints.close()
    event("segments pushed", run_id=run_id, segments=len(segments), checkpoints=checkpoints.done,
          checkpoint_s=round(checkpoints.seconds, 1), checkpoints_refused=checkpoints.refused,
          read_ahead=readahead.used, read_ahead_missed=readahead.missed)
    if append:  # a customer changed while the sync ran may be read by two segments (lag < 2 s)
        _keep_one_row_per_customer(duckdb_path, run_id)
    final = push_persons(str(duckdb_path), mapping, run_id, store_hash=settings.store_hash,
                         retry_rejected=retry_rejected, progress=progress, as_of=pusher.as_of,
                         client=pusher.client, sample=max(0, sample - len(pusher.sample_diffs)))
    return total, pusher.result(final)


def _nothing_staged(duckdb_path: Path) -> bool:
    """No customer staged and no package pending (a killed run's, which may hold some)."""
    import duckdb

    from bc2people.pipelines.staging import count_staged, make_pipeline

    if make_pipeline(duckdb_path).has_pending_data:
        return False
    con = duckdb.connect(str(duckdb_path))
    try:
        return count_staged(con) == 0
    finally:
        con.close()


def _keep_one_row_per_customer(duckdb_path: Path, run_id: str) -> None:
    import duckdb

    from bc2people.pipelines.staging import drop_duplicate_customers

    con = duckdb.connect(str(duckdb_path))
    try:
        removed = drop_duplicate_customers(con)
    finally:
        con.close()
    if removed:
        event("customers staged twice", run_id=run_id, kept_newest_of=removed)


class _Checkpointer:
    """Folds the WAL into the database file while an overlapped run writes from two threads.

    DuckDB checkpoints by itself only at a commit that finds no other write transaction, which
    the producer's loads and the pusher's ledger writes rarely leave it: the WAL (and the memory
    holding what it logs) grew with the whole run, 1 GB at 300k customers and 3.2 GB at 1M. A
    plain CHECKPOINT refuses at once while another transaction holds an update or a catalog
    change, or still reads data older than the last commit (an unfinished result counts: the
    run's long-lived connections fetch theirs to the end). This thread tries one whenever the
    WAL has grown past ``threshold`` bytes, every ``every_s`` seconds, so it lands in the gaps
    between the two threads' transactions without making either wait; a refusal, or any other
    DuckDB error, only means trying again later. (FORCE CHECKPOINT would wait for every
    transaction, the pusher's streaming reads included, and can stall the run.)

    Each checkpoint has a cost of its own beside the data it folds, and writers wait while it
    runs: at 32 MB, 48 checkpoints took 85 s of a 1M-customer sync; at 128 MB, 16 took 54 s
    (300k: 18 took 17.5 s, 5 took 10.3 s), peak memory unchanged (`make bench-scale`). People
    is still sent to meanwhile: the outcomes wait for the ledger in its queue
    (`pipelines.core.journal`). So the threshold stays the same once everything is staged: a
    fold of up to 512 MB at the run's close took ~5 s that overlapped no sending."""

    def __init__(self, duckdb_path: Path, *, threshold: int = 128 * 2**20, every_s: float = 0.1) -> None:
        self.path, self.wal = duckdb_path, Path(f"{duckdb_path}.wal")
        self.threshold, self.every_s = threshold, every_s
        self.done = self.refused = 0
        self.seconds = 0.0  # spent in the checkpoints done (other writers wait meanwhile)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bc2people-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import duckdb

        con = duckdb.connect(str(self.path))
        try:
            while not self._stop.wait(self.every_s):
                try:
                    if self.wal.stat().st_size < self.threshold:
                        continue
                except OSError:
                    continue
                started = time.monotonic()
                try:
                    con.execute("CHECKPOINT")
                    self.done += 1
                    self.seconds += time.monotonic() - started
                except duckdb.Error:  # refused (TransactionException) or failed: the next tick tries again
                    self.refused += 1
        finally:
            con.close()

    def close(self) -> None:
        """Stop the thread (after its current attempt)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _orders_enabled() -> bool:
    from bc2people.pipelines.config import ORDERS, enabled

    return enabled(ORDERS)


def _add(total: StageResult, part: StageResult, *, customers: bool, orders: bool) -> None:
    """Sum one segment's staging (its customers, the orders, or both) into the run's."""
    total.requests += part.requests
    total.retries += part.retries
    total.rate_limited += part.rate_limited
    total.quota_wait_s += part.quota_wait_s
    total.load_id = part.load_id or total.load_id
    if customers:
        total.extracted += part.extracted
        total.pages += part.pages
        total.window_end = part.window_end
        total.object_pages += part.object_pages
    if orders:
        total.orders_extracted += part.orders_extracted
        total.orders_odd += part.orders_odd
        total.guest_orders += part.guest_orders
        total.order_oddities = part.order_oddities
        total.orders_skipped = part.orders_skipped
        total.order_object_pages += part.order_object_pages


class _SegmentPusher:
    """Pushes the staged segments through one `PushSession` (its delivery runs on while the next
    segment is selected), then sums the session's counts with the final push's; its own
    connection keeps the database open between segments (the segment log's memory figures)."""

    def __init__(self, duckdb_path: Path, mapping: Mapping, run_id: str, settings: JobSettings, *,
                 retry_rejected: bool, sample: int, progress: Any, as_of: int) -> None:
        from datetime import UTC, datetime

        import duckdb

        from bc2people.pipelines.push import PushSession

        self.sample = sample
        self.as_of = datetime.fromtimestamp(as_of, UTC)
        self.client = settings.people_client()
        self.counts: Counter[str] = Counter()
        self.sample_diffs: list[dict[str, Any]] = []
        self.dropped: Counter[str] = Counter()
        self.con = duckdb.connect(str(duckdb_path))
        try:
            self.session: Any = PushSession(str(duckdb_path), mapping, run_id, store_hash=settings.store_hash,
                                            retry_rejected=retry_rejected, progress=progress, sample=sample,
                                            client=self.client, delivery_chunk=SEGMENT_DELIVERY_CHUNK,
                                            lanes=SEGMENT_LANES)
            self.session.provision_ahead()  # while the first segment is read: it is sent once staged
        except BaseException:
            self.con.close()
            raise

    def push(self, load_id: str) -> None:
        """Map, diff and hand over the customers staged by the load ``load_id``."""
        self.session.push_segment(load_id, self.as_of)

    def finish(self) -> None:
        """Wait until every segment's persons are delivered and recorded; adds their counts."""
        self._add(self.session.finish())
        self.session.close()

    def _add(self, res: PushResult) -> None:
        for key, value in (res.counts or {}).items():
            if key in _SNAPSHOTS:
                self.counts[key] = int(value or 0)
            else:
                self.counts[key] += int(value or 0)
        self.sample_diffs += list(res.sample_diffs)
        self.dropped.update(res.dropped)

    def result(self, final: PushResult) -> PushResult:
        """The segments' counts plus the final pass's, as one push."""
        from bc2people.pipelines.push import PushResult

        self._add(final)
        return PushResult(dict(self.counts), self.sample_diffs[: self.sample], dict(self.dropped))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()
        with contextlib.suppress(Exception):
            self.con.close()
