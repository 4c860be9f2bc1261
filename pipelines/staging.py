"""The staging step: BigCommerce customers and orders into DuckDB (dataset ``bigcommerce``), and back out.

`stage_customers` runs the dlt pipeline ``bc2people_staging`` (customers, orders and, when
configured, order_products; each merged on ``id`` -- a first sync's segments append theirs,
`drop_duplicate_customers` keeping one row per id -- nested
values as JSON columns, parquet loader files) with its working state beside the DuckDB file
(`pipelines.paths.pipelines_dir_for`), bound to the DuckDB file and healed before each run
(`prepare_working_folder`). `iter_staged_customers` reads the staged rows back in
the exact shape the API returned them. `sweep_deletions` marks staged customers the store no
longer has.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bc2people.pipelines.paths import pipelines_dir_for

STAGING_DATASET = "bigcommerce"
STAGING_TABLE = "customers"
ORDERS_TABLE = "orders"
STAGED_CUSTOMERS = f"{STAGING_DATASET}.{STAGING_TABLE}"
PIPELINE_NAME = "bc2people_staging"
DELETED_AT = "_deleted_at"
_FETCH_BATCH = 2000
# DuckDB's own cap while loading: the merge of a big initial load spills to disk instead of
# growing with the store (peak RSS stays near-flat from 20k to 100k customers).
DUCKDB_MEMORY_LIMIT = "256MB"
# dlt gzips its intermediate extract files by default; for a local DuckDB load that costs
# more CPU than the whole HTTP read (measured ~60% of extract time). Off for our runs only.
_NO_COMPRESSION_KEY = "data_writer.disable_compression"

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class StageResult:
    """What one staging run did. Window bounds are API timestamps (``YYYY-MM-DDTHH:MM:SSZ``);
    ``window_start`` is None when the run read from the beginning."""

    extracted: int = 0
    pages: int = 0
    requests: int = 0
    window_start: str | None = None
    window_end: str | None = None
    deleted_marked: int = 0
    load_id: str | None = None
    retries: int = 0
    rate_limited: int = 0
    quota_wait_s: float = 0.0
    undeleted: int = 0
    orders_extracted: int = 0
    orders_odd: int = 0  # orders staged with an oddity (bad date or total, unknown status or currency, ...)
    guest_orders: int = 0
    order_oddities: dict[str, int] | None = None
    orders_skipped: str | None = None  # why no orders were staged (the token lacks the Orders scope)
    object_pages: int = 0  # customer pages staged through dlt's object path (a value Arrow columns cannot hold)
    order_object_pages: int = 0  # order pages staged as dicts (see `sources.bigcommerce.order_tables`)


def make_pipeline(duckdb_path: str | Path) -> Any:
    """The dlt pipeline that stages into ``duckdb_path``."""
    import dlt
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    credentials = DuckDbCredentials(str(duckdb_path), global_config={"memory_limit": DUCKDB_MEMORY_LIMIT})
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=STAGING_DATASET,
        pipelines_dir=str(pipelines_dir_for(duckdb_path)),
    )


def prepare_working_folder(duckdb_path: str | Path) -> list[str]:
    """Bind dlt's working folder to the DuckDB file and heal it (see `pipelines.core.workdir`):
    a DuckDB file replaced under an old folder, or a folder a killed run left damaged, must
    not fail every later run. Returns what was done (also logged)."""
    import duckdb

    from bc2people.pipelines.core.workdir import bind_working_folder, discard_extracted_remnants

    con = duckdb.connect(str(duckdb_path))
    try:
        done = bind_working_folder(con, pipelines_dir_for(duckdb_path))
    finally:
        con.close()
    # the staging pipeline only: the People delivery's lanes may be normalizing meanwhile
    done += discard_extracted_remnants(pipelines_dir_for(duckdb_path) / PIPELINE_NAME)
    for line in done:
        logging.getLogger("bc2people").warning(line)
    return done


def run_after_leftovers(pipeline: Any, data: Any, *, one_row_per_customer: bool = False) -> Any:
    """``pipeline.run(data)`` (parquet), after loading any package a killed run left: dlt would
    otherwise load that package *instead of* extracting ``data`` (a run that reads nothing and
    calls itself done). The nightly staging and the lane's micro-batches both stage this way.

    A leftover may be a first sync's appended segment whose load was cut after a file was
    copied but before dlt noted it (the copy is done again), so `drop_duplicate_customers`
    runs after it, before ``data`` is loaded; with ``one_row_per_customer`` it runs anyway (a
    nightly run's staging: a run killed after such a load may have left its copy twice)."""
    leftover = pipeline.has_pending_data
    if leftover:
        pipeline.run()
    if leftover or one_row_per_customer:
        with pipeline.sql_client() as client:
            removed = drop_duplicate_customers(client.native_connection)
        if removed:
            logging.getLogger("bc2people").warning(
                "%d customer rows were staged twice (a load cut by a kill): kept the newest of each", removed)
    return pipeline.run(data, loader_file_format="parquet")


def stage_customers(
    duckdb_path: str | Path,
    *,
    full_refresh: bool = False,
    sweep_deletions: bool = False,
    recheck_addresses: bool = False,
    progress: ProgressFn | None = None,
    only: Iterable[str] | None = None,
    one_row_per_customer: bool = True,
    **source_overrides: Any,
) -> StageResult:
    """Pull changed customers (or all, with ``full_refresh`` or ``recheck_addresses``) into
    ``bigcommerce.customers``; ``recheck_addresses`` re-reads the customers only (address
    edits may leave a customer's ``date_modified`` as it was).

    ``source_overrides`` are passed to the `sources.bigcommerce.bigcommerce` source
    (``store_hash``, ``access_token``, ``api_base_url``, ``max_workers``, ...); anything not
    given comes from dlt configuration. Errors carry ``exit_code``: 2 for configuration and
    credentials, 1 otherwise. A failed run commits neither rows nor cursor, so the next run
    resumes from the last committed window. ``only`` stages just those resources (those the
    source has: ``customers``, ``orders``, ``order_products``). ``one_row_per_customer``
    (default) first removes any customer a killed run left staged twice
    (`drop_duplicate_customers`); a first sync's later segments skip it (their run did it).
    """
    import dlt

    from bc2people.sources.bigcommerce import ExtractStats, OrderStats, bigcommerce_source

    stats = ExtractStats(progress)
    order_stats = OrderStats(progress)
    if recheck_addresses:
        source_overrides = {**source_overrides, "recheck_addresses": True}
    source = bigcommerce_source(full_refresh=full_refresh, stats=stats, order_stats=order_stats, **source_overrides)
    if only is not None:
        wanted = [name for name in only if name in source.resources]
        if not wanted:
            return StageResult()
        source = source.with_resources(*wanted)
    prepare_working_folder(duckdb_path)
    pipeline = make_pipeline(duckdb_path)
    user_set = dlt.config.get(_NO_COMPRESSION_KEY) is not None
    scope = contextlib.nullcontext() if user_set else dlt.config.values({_NO_COMPRESSION_KEY: True})
    try:
        with scope:
            info = run_after_leftovers(pipeline, source, one_row_per_customer=one_row_per_customer)
    except Exception as exc:  # noqa: BLE001 - re-raised as the root cause with its exit code
        raise _root_cause(exc) from None
    result = StageResult(
        extracted=stats.records,
        pages=stats.pages,
        requests=stats.requests + order_stats.requests + order_stats.product_requests,
        window_start=stats.window_start,
        window_end=stats.window_end,
        load_id=info.loads_ids[-1] if info.loads_ids else None,
        retries=stats.retries,
        rate_limited=stats.rate_limited,
        quota_wait_s=stats.quota_wait_s,
        orders_extracted=order_stats.records,
        orders_odd=sum(v for k, v in order_stats.oddities().items() if k != "guest_orders"),
        guest_orders=order_stats.guest_orders,
        order_oddities=order_stats.oddities(),
        orders_skipped=order_stats.skipped,
        object_pages=stats.object_pages,
        order_object_pages=order_stats.object_pages,
    )
    if sweep_deletions:
        if progress is not None:
            progress({"phase": "sweep", "pages": 0, "records": 0, "total": None})
        marked, unmarked, requests = _sweep(duckdb_path, progress=progress,
                                            lookback_seconds=source_overrides.get("lookback_seconds"),
                                            **_client_overrides(source_overrides))
        result.deleted_marked, result.undeleted = marked, unmarked
        result.requests += requests
    return result


def sweep_deletions(
    duckdb_path: str | Path,
    *,
    progress: ProgressFn | None = None,
    max_deleted_fraction: float = 0.5,
    **source_overrides: Any,
) -> int:
    """Mark staged customers the store no longer has (``_deleted_at``); returns how many were
    newly marked. Customers that came back are unmarked. Rows are never removed. A sweep
    that would mark more than ``max_deleted_fraction`` of the staged customers is refused
    (exit code 1, nothing marked)."""
    overrides = _client_overrides(source_overrides)
    return _sweep(duckdb_path, progress=progress, max_deleted_fraction=max_deleted_fraction,
                  lookback_seconds=source_overrides.get("lookback_seconds"), **overrides)[0]


def sweep_staged(duckdb_path: str | Path, **source_overrides: Any) -> tuple[int, int, int]:
    """The deletion sweep on its own: (newly marked, unmarked, requests sent)."""
    return _sweep(duckdb_path, progress=None, lookback_seconds=source_overrides.get("lookback_seconds"),
                  **_client_overrides(source_overrides))


def _client_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    keep = {
        "store_hash", "access_token", "api_base_url", "max_attempts", "backoff_base", "backoff_max",
        "max_rate_limit_waits", "connect_timeout", "read_timeout",
    }
    return {k: v for k, v in overrides.items() if k in keep}


def _sweep(
    duckdb_path: str | Path,
    *,
    progress: ProgressFn | None,
    max_deleted_fraction: float = 0.5,
    lookback_seconds: int | None = None,
    **overrides: Any,
) -> tuple[int, int, int]:
    """(newly marked, unmarked, requests sent)."""
    import duckdb

    from bc2people.sources.bigcommerce.sweep import mark_found, sweep_client
    from bc2people.sources.bigcommerce.sweep_counts import find_deletions, load_staged_customers

    client = sweep_client(**overrides)
    changes_from = _changes_from(duckdb_path, lookback_seconds)
    con = duckdb.connect(str(duckdb_path))
    try:
        staged = load_staged_customers(con, STAGING_DATASET, STAGING_TABLE, changes_from=changes_from)
    finally:
        con.close()
    found = find_deletions(client, staged, progress=progress)  # counts per date_created range, or the walk
    if found.moved:
        logging.getLogger("bc2people").warning(
            "deletion sweep: %d customer(s) counted as gone were found by id (their staged date_created is not "
            "the store's), so they were not marked deleted; e.g. %s. A full refresh (--full-refresh) restages them.",
            len(found.moved), ", ".join(str(i) for i in sorted(found.moved)[:5]))
    con = duckdb.connect(str(duckdb_path))
    try:
        marked, unmarked = mark_found(
            con, STAGING_DATASET, STAGING_TABLE, found.deleted, found.returned,
            now=datetime.now(UTC), max_deleted_fraction=max_deleted_fraction,
        )
    finally:
        con.close()
    return marked, unmarked, client.requests


def _changes_from(duckdb_path: str | Path, lookback_seconds: int | None) -> int | None:
    """The store time from which the staging may lack a customer's change: the committed
    customers cursor minus the lookback the next incremental read will re-read (None before a
    window was committed). The deletion sweep lists what changed since then."""
    import dlt

    from bc2people.sources.bigcommerce.helpers import parse_ts
    from bc2people.sources.bigcommerce.settings import DEFAULT_LOOKBACK_SECONDS

    cursor = customers_cursor(duckdb_path, loaded_only=True)
    if cursor is None:
        return None
    if lookback_seconds is None:
        lookback_seconds = dlt.config.get("sources.bigcommerce.lookback_seconds")
    lookback = DEFAULT_LOOKBACK_SECONDS if lookback_seconds is None else int(lookback_seconds)
    try:
        return parse_ts(cursor) - max(0, lookback)
    except ValueError:
        return None


def _root_cause(exc: BaseException) -> BaseException:
    """The first exception in the chain that carries an ``exit_code`` (ours), else ``exc``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(getattr(cur, "exit_code", None), int):
            return cur
        cur = cur.__cause__ or cur.__context__
    return exc


# -- reading staging back --------------------------------------------------------------------
def count_staged(con: Any, table: str = STAGING_TABLE, *, live_only: bool = False) -> int:
    """Rows staged in ``bigcommerce.<table>`` (0 before the first load); ``live_only`` leaves out
    rows the deletion sweep marked."""
    cols = {n for n, _ in _columns_of(con, table)}
    if not cols:
        return 0
    where = f" WHERE {DELETED_AT} IS NULL" if live_only and DELETED_AT in cols else ""
    row = con.execute(f'SELECT count(*) FROM "{STAGING_DATASET}"."{table}"{where}').fetchone()
    return int(row[0]) if row else 0


def drop_duplicate_customers(con: Any) -> int:
    """Keep one row per staged customer id, the newest load's; returns the rows removed.

    A merged load never leaves two, nor do a first sync's appended segments in the normal
    course (each segment drops the customers of its edge seconds the one before it staged:
    `sources.bigcommerce.arrow_pages.PagePreparer`). A kill can: a leftover package loaded
    again copies a file dlt had not yet noted as copied, and a run killed later leaves it so.
    So this pass runs before every nightly staging load, after any leftover load
    (`run_after_leftovers`) and at the end of an appended first sync, making the table equal
    to the merged one. Finding nothing is one read-only grouping of the ids."""
    if not _columns_of(con, STAGING_TABLE):
        return 0
    if not con.execute(f"SELECT 1 FROM {STAGED_CUSTOMERS} GROUP BY id HAVING count(*) > 1 LIMIT 1").fetchone():
        return 0
    done = con.execute(
        f"DELETE FROM {STAGED_CUSTOMERS} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
        "(PARTITION BY id ORDER BY CAST(_dlt_load_id AS DOUBLE) DESC, rowid DESC) AS n "
        f"FROM {STAGED_CUSTOMERS} WHERE id IN (SELECT id FROM {STAGED_CUSTOMERS} GROUP BY id HAVING count(*) > 1)) "
        "WHERE n > 1)").fetchone()
    return int(done[0]) if done else 0


def iter_staged_customers(con: Any, customer_ids: Iterable[int] | None = None) -> Iterator[dict[str, Any]]:
    """Staged customers as the API returned them, in id order.

    JSON columns are parsed back, timestamps formatted as ``YYYY-MM-DDTHH:MM:SSZ``, dlt's
    own columns dropped; ``_deleted_at`` is present only on customers the sweep marked.
    ``customer_ids`` limits the output to those ids. ``con`` is a DuckDB connection.
    """
    shape = staged_shape(con)
    if shape is None:
        return
    if customer_ids is None:
        cur = con.execute(f"SELECT {shape.select} FROM {_STAGED} ORDER BY id")
        while batch := cur.fetchmany(_FETCH_BATCH):
            yield from shape.decode(batch)
        return
    ids = sorted({int(i) for i in customer_ids})
    for start in range(0, len(ids), 5000):
        yield from shape.decode(_fetch(con, shape, ids[start : start + 5000]))


def staged_customer_table(con: Any, customer_ids: list[int]) -> tuple[StagedShape, Any] | None:
    """The raw staged rows of ``customer_ids`` (sorted by id) as one Arrow table, and how to
    decode it (`StagedShape.decode_table` gives what `iter_staged_customers` gives); None before
    the first load. DuckDB builds the table natively, so this process makes no Python object per
    value (and pickles none) when another process does the decoding; both pickle."""
    shape = staged_shape(con)
    if shape is None:
        return None
    ids = sorted({int(i) for i in customer_ids})
    return shape, con.sql(_by_ids(shape), params={"ids": ids}).to_arrow_table()


_STAGED = f'"{STAGING_DATASET}"."{STAGING_TABLE}"'


def _by_ids(shape: StagedShape) -> str:
    """The staged rows of the ids ``$ids``, sorted by id, as `StagedShape.decode` reads them."""
    return f"SELECT {shape.select} FROM {_STAGED} WHERE id IN (SELECT unnest($ids)) ORDER BY id"


def _fetch(con: Any, shape: StagedShape, ids: list[int]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = con.execute(_by_ids(shape), {"ids": ids}).fetchall()
    return rows


@dataclass(frozen=True)
class StagedShape:
    """The staged customers table's columns and what becomes of each when a row is read back."""

    select: str  # the SELECT list; its last column flags rows with a number orjson would not keep exact
    names: tuple[str, ...]
    json_cols: frozenset[str]
    variants: tuple[tuple[str, str], ...]  # (dlt variant column, the column it stands for)
    declared: frozenset[str]  # the API's declared columns: kept even when NULL

    def decode(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
        """API-shaped customers from rows selected with `select`."""
        names, json_cols = self.names, self.json_cols
        variant_of = dict(self.variants)
        # What to do with each column, decided once (not per row); keys keep the column order.
        cols = [(i, n, n in self.declared, n in json_cols) for i, n in enumerate(names)
                if not n.startswith("_dlt_") and n not in variant_of]
        variant_at = [(names.index(n), base, n in json_cols) for n, base in self.variants]
        for row in rows:
            loads = json.loads if row[-1] else _loads_plain
            out: dict[str, Any] = {}
            for i, name, known, is_json in cols:
                value = row[i]
                if is_json and isinstance(value, str):
                    value = loads(value)
                if value is None and not known:
                    continue  # a key this customer did not have (or the sweep never marked it)
                out[name] = value
            for i, base, is_json in variant_at:
                value = row[i]
                if value is not None and out.get(base) is None:
                    out[base] = loads(value) if is_json and isinstance(value, str) else value
            yield out

    def decode_table(self, table: Any) -> Iterator[dict[str, Any]]:
        """`decode` of an Arrow table of rows selected with `select` (its columns in order)."""
        return self.decode(zip(*(column.to_pylist() for column in table.columns), strict=True))


def staged_shape(con: Any) -> StagedShape | None:
    """The staged customers table's `StagedShape` (None before the first load)."""
    from bc2people.sources.bigcommerce.settings import CUSTOMER_COLUMNS

    cols = _staged_columns(con)
    if not cols:
        return None
    names = [name for name, _ in cols]
    json_cols = frozenset(name for name, dtype in cols if dtype == "JSON")
    select = ", ".join([*(_select_expr(name, dtype) for name, dtype in cols), _long_numbers(json_cols)])
    return StagedShape(select, tuple(names), json_cols, tuple(_variant_columns(names).items()),
                       frozenset(CUSTOMER_COLUMNS))


def _staged_columns(con: Any) -> list[tuple[str, str]]:
    return _columns_of(con, STAGING_TABLE)


def _columns_of(con: Any, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [STAGING_DATASET, table],
    ).fetchall()
    return [(str(n), str(t).upper()) for n, t in rows]


def _select_expr(name: str, dtype: str) -> str:
    q = f'"{name}"'
    if dtype.startswith("TIMESTAMP"):
        # Format in SQL: the API's own whole-second UTC format, no timezone objects needed.
        source = f"timezone('UTC', {q})" if "TIME ZONE" in dtype else q
        return f"strftime({source}, '%Y-%m-%dT%H:%M:%SZ') AS {q}"
    return q


def _long_numbers(json_cols: frozenset[str]) -> str:
    """SQL: whether any of the row's JSON texts has a run of 19 or more digits (an integer past
    64 bits, or a long fraction), which `_loads_plain` must leave to ``json.loads``."""
    if not json_cols:
        return "false"
    texts = ", ".join(f'CAST("{n}" AS VARCHAR)' for n in sorted(json_cols))
    return f"coalesce(regexp_matches(concat_ws(' ', {texts}), '[0-9]{{19}}'), false)"


def _loads_plain(text: str) -> Any:
    """``json.loads`` for a text with no run of 19 digits, in orjson's time. orjson reads
    integers past 64 bits as floats (hence the SQL guard) and refuses NaN, Infinity, lone
    surrogates and numbers past a double's range, which ``json.loads`` reads: those texts go
    to it. Everything else parses to an equal value of the same types."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _variant_columns(names: list[str]) -> dict[str, str]:
    """dlt's variant columns (``x__v_text`` for an ``x`` value of another type) -> ``x``."""
    out = {}
    for n in names:
        base, sep, _ = n.rpartition("__v_")
        if sep and base in names:
            out[n] = base
    return out


# -- a first sync in segments (see `pipelines.overlap`) ----------------------------------------
def customers_cursor(duckdb_path: str | Path, *, loaded_only: bool = False) -> str | None:
    """The customers cursor the last staging run committed (None before the first full read).
    ``loaded_only``: None while a package a killed run left is not loaded (dlt's local state is
    then ahead of the staged rows)."""
    pipeline = make_pipeline(duckdb_path)
    try:
        if loaded_only and pipeline.has_pending_data:
            return None
        resources = pipeline.state.get("sources", {}).get("bigcommerce", {}).get("resources", {})
    except Exception:  # noqa: BLE001 - a working folder that cannot be read: as if never staged
        return None
    from bc2people.sources.bigcommerce.settings import CURSOR_STATE_KEY

    value = (resources.get("customers") or {}).get(CURSOR_STATE_KEY)
    return str(value) if value else None


def plan_customer_segments(rows_per_segment: int | None, **source_overrides: Any) -> list[Any]:
    """`sources.bigcommerce.segments.Segment` s covering every customer up to the store clock minus
    the lag, each about ``rows_per_segment`` (None: the source's default for the store's size; a
    few counting requests)."""
    import dlt

    from bc2people.sources.bigcommerce import store_time
    from bc2people.sources.bigcommerce.segments import plan_segments
    from bc2people.sources.bigcommerce.settings import DEFAULT_LAG_SECONDS
    from bc2people.sources.bigcommerce.sweep import sweep_client

    # configured like the source (max_attempts, backoff, timeouts from dlt config), as the sweep is
    client = sweep_client(**_client_overrides(source_overrides))
    lag = source_overrides.get("lag_seconds")
    if lag is None:
        lag = dlt.config.get("sources.bigcommerce.lag_seconds")
    end = store_time(client) - int(DEFAULT_LAG_SECONDS if lag is None else lag)
    return plan_segments(client, end, rows_per_segment=rows_per_segment)
