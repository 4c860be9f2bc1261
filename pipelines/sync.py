"""One run of the nightly job: stage → map → diff → push → record, under one run id.

``run_sync`` is what ``bc2people sync`` and ``bc2people demo`` call. Order of work:

1. load the mapping (a bad mapping: exit 2, before any request and before a run is recorded);
2. resolve the configuration (a missing setting: exit 2, naming the env var and TOML key);
3. ``start_run`` in the ledger (which also marks a run left ``running`` by a killed process
   as failed);
4. ``stage_customers`` (incremental, or ``full_refresh``; ``sweep_deletions`` finds deletions);
5. ``push_persons`` (``dry_run`` sends nothing; ``retry_rejected`` re-sends rejected persons),
   then ``push_events`` (the mapping's commerce events; not in a dry run);
6. ``finish_run`` with every count and the final status, then refresh the reconciliation views.

Any exception after step 3 ends the run as ``failed`` with a secret-free message (exit 1);
nothing half-recorded survives, because staging commits per load and the ledger per batch.
Exit 3 when the records rejected (by the mapping and by People) exceed ``max_rejected_pct``
of the records the mapping processed in this run (mapped + rejected by mapping); events count
too (rejected events over events accepted + rejected in this run, added to both sides).
"""

from __future__ import annotations

import contextlib
import secrets as _random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bc2people.pipelines.config import ConfigError, JobSettings, resolve_settings
from bc2people.pipelines.ledger import EVENT_COUNTS, ORDER_COUNTS, PUSH_COUNTS
from bc2people.pipelines.memory import fewer_collections
from bc2people.pipelines.output import event, install_redaction, redact
from bc2people.pipelines.paths import DEFAULT_DUCKDB, DEFAULT_MAPPING

if TYPE_CHECKING:
    from bc2people.pipelines.mapping import Mapping

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REJECTED = 0, 1, 2, 3
DEFAULT_MAX_REJECTED_PCT = 1.0
LANE_LOCK_NAME = "bc2people.lane.lock"  # held by `bc2people drain` around each micro-batch
LANE_WAIT_S = 120.0
DEFAULT_LOCK_WAIT_S = 120.0  # bounded wait for a DuckDB file another process holds

RUN_COUNTS = ("staged", "extracted", "deleted_in_store", *ORDER_COUNTS, *PUSH_COUNTS, *EVENT_COUNTS)  # display order

ProgressFn = Callable[..., None]


class SetupError(Exception):
    """The run could not start (mapping, configuration, pre-flight); nothing was sent or recorded."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunInProgress(Exception):
    """Another run holds the DuckDB file; nothing was sent or recorded (exit 1: try later)."""

    exit_code = EXIT_FAILED


@dataclass
class SyncResult:
    """What a run did: its id, final status, exit code and counts."""

    run_id: str
    status: str
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float = 0.0
    rejected_pct: float | None = None
    max_rejected_pct: float = DEFAULT_MAX_REJECTED_PCT
    dry_run: bool = False
    pages: int | None = None
    requests: int | None = None
    window: tuple[Any, Any] | None = None
    window_lag_s: int | None = None  # the window ends this many seconds before the store's clock
    sample_diffs: list[Any] = field(default_factory=list)
    plan: dict[str, int] = field(default_factory=dict)  # dry run: would_create, would_update
    dropped: dict[str, int] = field(default_factory=dict)  # values on_invalid: drop left out, per field
    map_worker: dict[str, Any] | None = None  # the map worker process's peak_rss_mib and cpu_s, when one ran

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view of the result."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": round(self.duration_s, 3),
            "rejected_pct": None if self.rejected_pct is None else round(self.rejected_pct, 3),
            "max_rejected_pct": self.max_rejected_pct,
            "pages": self.pages,
            "requests": self.requests,
            "window": [str(w) if w is not None else None for w in self.window] if self.window else None,
            "window_lag_s": self.window_lag_s,
            "plan": dict(self.plan),
            "dropped": dict(self.dropped),
            "map_worker": self.map_worker,
        }


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC timestamp plus 6 random hex digits (``20261128T010203Z-a1b2c3``)."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(3)}"


def processed(counts: dict[str, int]) -> int:
    """Records the mapping processed this run: those it mapped plus those it rejected."""
    return int(counts.get("mapped") or 0) + int(counts.get("rejected_by_mapping") or 0)


def rejected_share(counts: dict[str, int]) -> float | None:
    """Rejected records (by mapping + by People) as a percentage of the records mapped this run.

    "Mapped" here counts every record the mapping processed, including the ones it rejected
    (``mapped + rejected_by_mapping``), so a run where the mapping rejects everything is
    100 %, not undefined. ``None`` when the mapping processed nothing in this run.
    """
    events_rejected = int(counts.get("events_rejected") or 0)
    total = processed(counts) + int(counts.get("events_accepted") or 0) + events_rejected
    rejected = int(counts.get("rejected_by_mapping") or 0) + int(counts.get("rejected_by_people") or 0) + events_rejected
    if total <= 0:
        return None
    return 100.0 * rejected / total


def safe_error(exc: BaseException) -> str:
    """A one-line, secret-free description of an exception."""
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, ConfigError | SetupError) and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return redact(text)[:2000]


@fewer_collections()
def run_sync(
    mapping_path: str | Path = DEFAULT_MAPPING,
    duckdb_path: str | Path = DEFAULT_DUCKDB,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    sweep_deletions: bool = False,
    retry_rejected: bool = False,
    max_rejected_pct: float = DEFAULT_MAX_REJECTED_PCT,
    progress: ProgressFn | None = None,
    run_id: str | None = None,
    recheck_addresses: bool = False,
    backfill_events: int | None = None,
    max_rejected: int = 0,
    check: bool = True,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
    analysts_copy: bool = True,
) -> SyncResult:
    """Run the job once; returns the result (exit code inside) or raises ``SetupError`` (exit 2).

    ``check`` runs the pre-flight (`pipelines.check.run_preflight`) before anything is recorded;
    ``max_rejected`` is the threshold's minimum count (exit 3 needs more rejects than that as
    well as more than ``max_rejected_pct``); ``lock_wait_s`` bounds the wait for a DuckDB file
    another process holds; ``analysts_copy`` publishes the read-only copy at the end
    (`pipelines.publish`). Failures and threshold breaches are sent to the configured alerts.
    """
    from bc2people.pipelines.mapping import MappingError, load_mapping

    install_redaction()
    if max_rejected_pct < 0:
        raise SetupError("--max-rejected-pct must be 0 or more")
    if backfill_events is not None and not 1 <= backfill_events <= 30:
        raise SetupError("--backfill-events DAYS must be 1 to 30 (People keeps events of the last 30 days)")
    if max_rejected < 0:
        raise SetupError("--max-rejected must be 0 or more")
    try:
        mapping = load_mapping(str(mapping_path))
    except MappingError as exc:
        raise SetupError(redact(str(exc))) from None
    except FileNotFoundError:
        raise SetupError(f"mapping file not found: {mapping_path}") from None
    try:
        settings = resolve_settings(need_destination=not dry_run)
    except ConfigError as exc:
        raise SetupError(str(exc)) from None
    install_redaction([settings.access_token, settings.people_api_key or ""])
    keep_no_completed_packages()

    duckdb_path = Path(duckdb_path)
    if duckdb_path.is_dir():
        raise SetupError(f"--duckdb {duckdb_path} is a directory; give the path of a DuckDB file")
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with run_lock(duckdb_path):
        if check:
            _preflight(settings, mapping, dry_run)
        wait_for_file(duckdb_path, lock_wait_s)
        result = _run_locked(
            mapping, mapping_path, settings, duckdb_path, run_id, progress,
            dry_run=dry_run, full_refresh=full_refresh, sweep_deletions=sweep_deletions,
            retry_rejected=retry_rejected, max_rejected_pct=max_rejected_pct, recheck_addresses=recheck_addresses,
            backfill_events=backfill_events, max_rejected=max_rejected,
        )  # fmt: skip
        if analysts_copy:
            _publish_quietly(duckdb_path, result)
    if result.status in ("failed", "rejected_threshold"):
        from bc2people.pipelines.alerts import send_alerts

        send_alerts(result.as_dict())
    return result


def keep_no_completed_packages() -> None:
    """Completed load packages hold customer PII (staged pages, person payloads): dlt deletes their
    jobs once loaded (``load.delete_completed_jobs``), unless the operator configured it otherwise."""
    import os

    from bc2people.pipelines.config import Setting, lookup

    if lookup(Setting("load.delete_completed_jobs", "delete completed load jobs")) is None:
        os.environ["LOAD__DELETE_COMPLETED_JOBS"] = "true"


def _preflight(settings: JobSettings, mapping: Mapping, dry_run: bool) -> None:
    """`pipelines.check.run_preflight`; a failure is a `SetupError` (nothing recorded)."""
    from bc2people.pipelines.check import run_preflight

    report = run_preflight(settings, mapping, need_destination=not dry_run)
    if not report.ok:
        failed = report.failures()
        raise SetupError("pre-flight check failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed),
                         exit_code=report.exit_code)


def wait_for_file(duckdb_path: Path, lock_wait_s: float) -> None:
    """Wait (bounded, reported) while another process (an analyst's session on the working file)
    holds ``duckdb_path``; `RunInProgress` when it is still held after ``lock_wait_s``."""
    import duckdb

    if not duckdb_path.exists():
        return
    deadline = time.monotonic() + max(lock_wait_s, 0.0)
    told = False
    while True:
        try:
            duckdb.connect(str(duckdb_path)).close()
            if told:
                event("DuckDB file free, run goes on", duckdb=str(duckdb_path))
            return
        except duckdb.Error as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "lock" not in text.lower():
                raise SetupError(f"cannot open the DuckDB file {duckdb_path}: {text}") from None
        if time.monotonic() >= deadline:
            from bc2people.pipelines.publish import analysts_copy_path

            raise RunInProgress(
                f"{duckdb_path} is held by another process for over {lock_wait_s:g} s (an analyst's session?); "
                f"analysts should open the published copy {analysts_copy_path(duckdb_path).name} instead"
            )
        if not told:
            told = True
            event("DuckDB file held by another process; waiting", level=30, duckdb=str(duckdb_path),
                  wait_s=lock_wait_s)
        time.sleep(0.5)


def _publish_quietly(duckdb_path: Path, result: SyncResult) -> None:
    """Publish the analysts' copy; a failure is logged and noted, never turned into a failed run."""
    from bc2people.pipelines.publish import publish

    try:
        copy = publish(duckdb_path)
        event("analysts' copy published", run_id=result.run_id, path=str(copy))
    except Exception as exc:  # noqa: BLE001 - the run itself is done and recorded
        event("could not publish the analysts' copy", level=30, run_id=result.run_id, error=safe_error(exc))


@contextlib.contextmanager
def run_lock(duckdb_path: Path, *, lane_wait_s: float = LANE_WAIT_S) -> Iterator[None]:
    """Hold an exclusive lock for the run: two runs on one DuckDB file would trip over each other.

    The lock file (`filelock`, on every OS) lives in dlt's pipelines directory beside the
    database; the OS releases it when the process dies, so a killed run never leaves a stale lock.
    When the holder is the webhook lane's drain (it holds ``bc2people.lane.lock`` too, for one
    micro-batch of seconds), wait up to ``lane_wait_s`` for it instead of failing; another run
    fails at once.
    """
    from filelock import FileLock, Timeout

    from bc2people.pipelines.paths import pipelines_dir_for

    lock_dir = pipelines_dir_for(duckdb_path)
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / "bc2people.lock"
    lock = FileLock(str(path), timeout=0)
    deadline = time.monotonic() + lane_wait_s
    while True:
        try:
            lock.acquire()
            break
        except Timeout:
            if time.monotonic() < deadline and _lane_holds(lock_dir):
                time.sleep(0.02)
                continue
            raise RunInProgress(
                f"another bc2people run is using {duckdb_path} (lock {path}); try again when it has finished"
            ) from None
    try:
        yield
    finally:
        lock.release()


def _lane_holds(lock_dir: Path) -> bool:
    """Whether the lane's drain holds its lock (so the run lock will be free within a micro-batch)."""
    import fcntl

    with open(lock_dir / LANE_LOCK_NAME, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _run_locked(
    mapping: Mapping,
    mapping_path: str | Path,
    settings: JobSettings,
    duckdb_path: Path,
    run_id: str | None,
    progress: ProgressFn | None,
    *,
    dry_run: bool,
    full_refresh: bool,
    sweep_deletions: bool,
    retry_rejected: bool,
    max_rejected_pct: float,
    recheck_addresses: bool = False,
    backfill_events: int | None = None,
    max_rejected: int = 0,
) -> SyncResult:
    options = {
        "recheck_addresses": recheck_addresses,
        "dry_run": dry_run,
        "full_refresh": full_refresh,
        "sweep_deletions": sweep_deletions,
        "retry_rejected": retry_rejected,
        "max_rejected_pct": max_rejected_pct,
        "backfill_events": backfill_events,
        "max_rejected": max_rejected,
        "duckdb": str(duckdb_path),
    }
    result = SyncResult(
        run_id=run_id or new_run_id(),
        status="running",
        exit_code=EXIT_OK,
        started_at=datetime.now(UTC),
        max_rejected_pct=max_rejected_pct,
        dry_run=dry_run,
    )
    clock = time.monotonic()
    _start_run(duckdb_path, result.run_id, mapping, options)
    event("run started", run_id=result.run_id, mapping=str(mapping_path), duckdb=str(duckdb_path), **_flags(options))
    try:
        _do_run(result, mapping, settings, duckdb_path, options, progress)
    except BaseException as exc:  # noqa: BLE001 - record every failure, then decide
        result.status, result.exit_code = "failed", _exit_code_of(exc)
        result.error = "interrupted" if interrupted(exc) else safe_error(exc)
        event("run failed", level=40, run_id=result.run_id, error=result.error)
        result.duration_s = time.monotonic() - clock
        result.finished_at = datetime.now(UTC)
        if result.counts:
            with contextlib.suppress(Exception):  # best effort on the way out
                result.counts["staged"] = _count_staged(duckdb_path)
        _finish_run_quietly(duckdb_path, result)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return result
    result.duration_s = time.monotonic() - clock
    result.finished_at = datetime.now(UTC)
    _finish_run(duckdb_path, result)
    from bc2people.pipelines.core.offload import worker_usage

    result.map_worker = worker = worker_usage()
    event(
        "run finished",
        run_id=result.run_id,
        status=result.status,
        seconds=round(result.duration_s, 1),
        **{k: v for k, v in result.counts.items() if v},
        **({f"map_worker_{k}": v for k, v in worker.items()} if worker else {}),
    )
    return result


def interrupted(exc: BaseException | None) -> bool:
    """True when ``exc`` is, or wraps, an interrupt (Ctrl-C, SIGTERM; dlt wraps it in PipelineStepFailed)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    return False


def threshold_breach(counts: dict[str, int], max_rejected_pct: float, max_rejected: int = 0) -> str | None:
    """Why the rejects are over the threshold, or None: more than ``max_rejected_pct`` of the records
    processed AND more than ``max_rejected`` records (so 3 of 70 on a quiet night is no alert)."""
    pct = rejected_share(counts)
    rejected = (int(counts.get("rejected_by_mapping") or 0) + int(counts.get("rejected_by_people") or 0)
                + int(counts.get("events_rejected") or 0))
    if pct is None or pct <= max_rejected_pct or rejected <= max_rejected:
        return None
    floor = f", more than {max_rejected:,}" if max_rejected else ""
    return (f"{pct:.2f}% of the {processed(counts):,} records mapped{_and_events(counts)} in this run were "
            f"rejected ({rejected:,}{floor}; "
            f"limit --max-rejected-pct {max_rejected_pct:g}"
            + (f" --max-rejected {max_rejected}" if max_rejected else "") + ")")


def _exit_code_of(exc: BaseException) -> int:
    """2 when the failure is a configuration/credentials error (``exit_code`` 2), else 1."""
    code = getattr(exc, "exit_code", None)
    return EXIT_CONFIG if code == EXIT_CONFIG else EXIT_FAILED


def _flags(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is True}


def _do_run(
    result: SyncResult,
    mapping: Mapping,
    settings: JobSettings,
    duckdb_path: Path,
    options: dict[str, Any],
    progress: ProgressFn | None,
) -> None:
    from bc2people.pipelines.overlap import overlap_applies, stage_and_push
    from bc2people.pipelines.push import push_persons
    from bc2people.pipelines.staging import stage_customers

    both = None
    if overlap_applies(duckdb_path, dry_run=options["dry_run"], full_refresh=options["full_refresh"]):
        # a first sync (or full refresh) of more than one segment: push what is staged while the rest is read
        result.counts = {k: 0 for k in RUN_COUNTS}
        both = stage_and_push(duckdb_path, mapping, result.run_id, settings, full_refresh=options["full_refresh"],
                              sweep_deletions=options["sweep_deletions"],
                              retry_rejected=options["retry_rejected"], progress=progress)
    overlapped = both[1] if both else None
    if both:
        staged = both[0]
    else:
        staged = stage_customers(
            str(duckdb_path),
            full_refresh=options["full_refresh"],
            sweep_deletions=options["sweep_deletions"],
            recheck_addresses=options.get("recheck_addresses", False),
            progress=progress,
            **settings.source_settings(),
        )
    _done(progress, "extract")
    result.pages = staged.pages
    result.requests = staged.requests
    result.window = (staged.window_start, staged.window_end)
    from bc2people.sources.bigcommerce.settings import DEFAULT_LAG_SECONDS

    result.window_lag_s = DEFAULT_LAG_SECONDS
    counts = {k: 0 for k in RUN_COUNTS}
    result.counts = counts  # filled in as the run goes, so a failed run still records them
    counts["extracted"] = staged.extracted
    counts["deleted_in_store"] = staged.deleted_marked
    counts["orders_extracted"] = staged.orders_extracted
    counts["orders_odd"] = staged.orders_odd
    _order_counts(duckdb_path, mapping, counts)
    event(
        "staged",
        run_id=result.run_id,
        extracted=counts["extracted"],
        pages=result.pages,
        deleted_in_store=counts["deleted_in_store"],
        orders_extracted=counts["orders_extracted"],
        orders_odd=counts["orders_odd"],
        orders_skipped=staged.orders_skipped,
        **{f"odd_{k}": v for k, v in (staged.order_oddities or {}).items() if v and k != "guest_orders"},
    )
    pushed = overlapped or push_persons(
        str(duckdb_path),
        mapping,
        result.run_id,
        store_hash=settings.store_hash,
        dry_run=options["dry_run"],
        retry_rejected=options["retry_rejected"],
        progress=progress,
        as_of=_as_of(staged.window_end),
        client=None if options["dry_run"] else settings.people_client(),
    )
    _done(progress, "push")
    for key in PUSH_COUNTS:
        counts[key] = int((pushed.counts or {}).get(key, 0) or 0)
    if not options["dry_run"]:
        from bc2people.pipelines.events import journal_path, push_events

        pushed_events = push_events(str(duckdb_path), mapping, result.run_id, backfill_days=options["backfill_events"],
                                    retry_rejected=options["retry_rejected"], journal=journal_path(),
                                    progress=progress)
        _done(progress, "events")
        counts.update({k: int(v or 0) for k, v in pushed_events.counts.items() if k in EVENT_COUNTS})
    counts["staged"] = _count_staged(duckdb_path)
    result.sample_diffs = list(pushed.sample_diffs)
    result.dropped = dict(pushed.dropped)
    result.plan = {k: int(v or 0) for k, v in (pushed.counts or {}).items() if str(k).startswith("would_")}
    result.rejected_pct = rejected_share(counts)
    if options["dry_run"]:
        result.status, result.exit_code = "dry_run", EXIT_OK
    elif breach := threshold_breach(counts, options["max_rejected_pct"], options.get("max_rejected", 0)):
        result.status, result.exit_code = "rejected_threshold", EXIT_REJECTED
        result.error = breach
    else:
        result.status, result.exit_code = "success", EXIT_OK
    if staged.orders_skipped and result.error is None:
        result.error = f"orders were not staged, customers were: {staged.orders_skipped}"


def _and_events(counts: dict[str, int]) -> str:
    judged = int(counts.get("events_accepted") or 0) + int(counts.get("events_rejected") or 0)
    return f" and {judged:,} events checked or sent" if judged else ""


def _as_of(window_end: str | None) -> datetime:
    """The traits' reference time: the store clock the run read up to (now when unknown)."""
    if window_end:
        return datetime.strptime(window_end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return datetime.now(UTC)


def _order_counts(duckdb_path: Path, mapping: Mapping, counts: dict[str, int]) -> None:
    """Orders staged in total and guest orders no customer's email matches (for the run summary)."""
    from bc2people.pipelines.mapping.traits import UNATTRIBUTED_SQL_NAME, count_from_sql
    from bc2people.pipelines.staging import ORDERS_TABLE, count_staged

    con = _connect(duckdb_path)
    try:
        counts["orders_staged"] = count_staged(con, ORDERS_TABLE)
        if mapping.traits is not None and counts["orders_staged"]:
            sql = Path(mapping.traits.path).with_name(UNATTRIBUTED_SQL_NAME)
            if sql.exists():
                counts["guest_orders_unattributed"] = count_from_sql(con, sql)
    finally:
        con.close()


def _done(progress: ProgressFn | None, phase: str) -> None:
    done = getattr(progress, "done", None)
    if callable(done):
        done(phase)


def _connect(duckdb_path: Path) -> Any:
    import duckdb

    return duckdb.connect(str(duckdb_path))


def _count_staged(duckdb_path: Path) -> int:
    from bc2people.pipelines.staging import count_staged

    con = _connect(duckdb_path)
    try:
        return count_staged(con)
    finally:
        con.close()


def _start_run(duckdb_path: Path, run_id: str, mapping: Mapping, options: dict[str, Any]) -> None:
    import duckdb

    from bc2people.pipelines.ledger import ensure_ledger, start_run

    try:
        con = _connect(duckdb_path)
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in text.lower():
            raise RunInProgress(f"{duckdb_path} is in use by another process: {text}") from None
        raise SetupError(f"cannot open the DuckDB file {duckdb_path}: {text}") from None
    try:
        ensure_ledger(con)
        start_run(con, run_id, str(mapping.path or ""), mapping.sha256, options)
    finally:
        con.close()


def _finish_run(duckdb_path: Path, result: SyncResult) -> None:
    from bc2people.pipelines.ledger import finish_run
    from bc2people.pipelines.reconcile import ensure_reconciliation_views

    con = _connect(duckdb_path)
    try:
        finish_run(con, result.run_id, status=result.status, counts=result.counts, error=result.error)
        ensure_reconciliation_views(con)
    finally:
        con.close()


def _finish_run_quietly(duckdb_path: Path, result: SyncResult) -> None:
    """Record a failed run; a failure to record is logged, never raised over the real error."""
    try:
        _finish_run(duckdb_path, result)
    except Exception as exc:  # noqa: BLE001 - the original failure is what the user needs
        event("could not record the failed run", level=40, run_id=result.run_id, error=safe_error(exc))
