"""Deletion sweep: an incremental read never sees deleted customers.

`sweep_counts.find_deletions` finds them at the cost of the deletions (counts per
``date_created`` range) and falls back to the full walk here when that would cost more.

The walk uses the cheapest request the API offers for that: ``GET /v3/customers`` with no
``include`` (no sub-resources to assemble), ``limit=250`` and cursor paging in id order
(page numbers only if the store returns no cursor). Staged customers missing from the
store get ``_deleted_at`` set (their rows stay, so the People side can act on them);
customers that are back in the store have it cleared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import dlt
from dlt.common.configuration import with_config
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from .client import BigCommerceClient
from .helpers import BigCommerceConfigError, BigCommerceError, missing_setting_message
from .reader import CustomerPages
from .settings import (
    DEFAULT_API_BASE_URL,
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RATE_LIMIT_WAITS,
    DEFAULT_READ_TIMEOUT,
    DELETED_AT_COLUMN,
)

DEFAULT_MAX_DELETED_FRACTION = 0.5
SWEEP_WORKERS = 8  # count requests of one level of the counting sweep sent at once
GUARD_MIN_ROWS = 20


@with_config(sections=("sources", "bigcommerce"))
def _configured_client(
    store_hash: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    api_base_url: str = DEFAULT_API_BASE_URL,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    backoff_max: float = DEFAULT_BACKOFF_MAX,
    max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> BigCommerceClient:
    from . import make_client

    return make_client(
        store_hash,
        access_token,
        api_base_url,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        max_rate_limit_waits=max_rate_limit_waits,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        pool_size=SWEEP_WORKERS,
    )


def sweep_client(**overrides: Any) -> BigCommerceClient:
    """A client configured like the source (same keys, same dlt sections)."""
    try:
        return _configured_client(**overrides)
    except ConfigFieldMissingException as exc:
        fields = list(getattr(exc, "fields", None) or []) or ["store_hash"]
        raise BigCommerceConfigError("; ".join(missing_setting_message(f) for f in fields)) from None


def store_customer_ids(
    client: BigCommerceClient, *, progress: Callable[[dict[str, Any]], None] | None = None
) -> set[int]:
    """Every customer id the store has now (one cheap page per 250 customers)."""
    pages = CustomerPages(client, include=None)
    first = pages.fetch(None)
    ids: set[int] = set()
    for count, rows in enumerate(pages.walk(None, first, sorted_first=False), start=1):
        ids.update(int(r["id"]) for r in rows)
        if progress is not None:
            progress({"phase": "sweep", "pages": count, "records": len(ids), "total": first.total})
    return ids


def mark_deleted(
    con: Any,
    dataset: str,
    table: str,
    store_ids: set[int],
    *,
    now: datetime,
    max_deleted_fraction: float = DEFAULT_MAX_DELETED_FRACTION,
) -> tuple[int, int]:
    """Set ``_deleted_at`` on staged rows whose id the store no longer has and clear it on
    rows that are back (the full walk's listing of ``store_ids``). Returns (newly marked,
    unmarked); `mark_found` does the marking, with its guard, in one transaction."""
    import pyarrow as pa

    qualified = _prepare(con, dataset, table)
    if qualified is None:
        return 0, 0
    col = f'"{DELETED_AT_COLUMN}"'
    con.register("_bc_store_ids", pa.table({"id": pa.array(sorted(store_ids), type=pa.int64())}))
    try:
        gone = {int(r[0]) for r in con.execute(
            f"SELECT id FROM {qualified} WHERE {col} IS NULL AND id NOT IN (SELECT id FROM _bc_store_ids)").fetchall()}
        back = {int(r[0]) for r in con.execute(
            f"SELECT id FROM {qualified} WHERE {col} IS NOT NULL AND id IN (SELECT id FROM _bc_store_ids)").fetchall()}
    finally:
        con.unregister("_bc_store_ids")
    return mark_found(con, dataset, table, gone, back, now=now, max_deleted_fraction=max_deleted_fraction)


def _prepare(con: Any, dataset: str, table: str) -> str | None:
    """The quoted staged table with its ``_deleted_at`` column (None when nothing is staged)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [dataset, table]
    ).fetchone()
    if not exists or not exists[0]:
        return None
    qualified = f'"{dataset}"."{table}"'
    con.execute(f'ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS "{DELETED_AT_COLUMN}" TIMESTAMP WITH TIME ZONE')
    return qualified


def mark_found(
    con: Any,
    dataset: str,
    table: str,
    deleted: set[int],
    returned: set[int],
    *,
    now: datetime,
    max_deleted_fraction: float = DEFAULT_MAX_DELETED_FRACTION,
) -> tuple[int, int]:
    """Set ``_deleted_at`` on the staged rows in ``deleted`` and clear it on those in ``returned``
    (whichever sweep found them: the walk, or `sweep_counts.find_deletions`). Returns (newly
    marked, unmarked). One transaction.

    A sweep that would newly mark more than ``max_deleted_fraction`` of the live staged
    customers (at least `GUARD_MIN_ROWS` of them) is refused with `BigCommerceError`:
    an empty or cut-short listing must not turn into mass deletions downstream.
    """
    import pyarrow as pa

    qualified = _prepare(con, dataset, table)
    if qualified is None:
        return 0, 0
    col = f'"{DELETED_AT_COLUMN}"'
    con.register("_bc_gone", pa.table({"id": pa.array(sorted(deleted), type=pa.int64())}))
    con.register("_bc_back", pa.table({"id": pa.array(sorted(returned), type=pa.int64())}))
    in_tx = False
    try:
        live, missing = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE id IN (SELECT id FROM _bc_gone)) FROM {qualified} WHERE {col} IS NULL"
        ).fetchall()[0]
        if live >= GUARD_MIN_ROWS and missing > max_deleted_fraction * live:
            raise BigCommerceError(
                f"deletion sweep refused: the store lacks {missing} of {live} staged customers "
                f"(more than {max_deleted_fraction:.0%}); nothing was marked. "
                "If that many were really deleted, raise max_deleted_fraction."
            )
        con.execute("BEGIN TRANSACTION")
        in_tx = True
        marked = con.execute(
            f"UPDATE {qualified} SET {col} = ? WHERE {col} IS NULL AND id IN (SELECT id FROM _bc_gone)", [now]
        ).fetchone()
        unmarked = con.execute(
            f"UPDATE {qualified} SET {col} = NULL WHERE {col} IS NOT NULL AND id IN (SELECT id FROM _bc_back)"
        ).fetchone()
        con.execute("COMMIT")
    except Exception:
        if in_tx:
            con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_bc_gone")
        con.unregister("_bc_back")
    return int(marked[0] if marked else 0), int(unmarked[0] if unmarked else 0)
