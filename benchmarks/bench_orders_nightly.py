"""A nightly run after 1,000 order changes, against a full recompute of the same night.

A store of 20,000 customers with generated orders is synced once; then 1,000 orders change
(new orders, status changes, refunds) and two copies of the synced deployment run the same
night: the incremental run (orders read by their window; only customers whose traits changed
are re-mapped) and a full recompute (``--full-refresh``: every customer and order read again,
every customer re-mapped). Both send only the persons whose mapped payload changed, so the
People requests are equal; the time is what the incremental path saves. Sandboxes without
latency or rate limits: the figures are the process's own cost.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

QUICK_CUSTOMERS, FULL_CUSTOMERS, CHANGES = 3000, 20000, 1000
MAPPING = Path(__file__).resolve().parent.parent / "mappings" / "customers_to_people.yaml"


def _change_orders(bc: Any, n: int, seed: int = 5) -> int:
    """n order changes, a third each: new orders, status changes, refunds."""
    rng = random.Random(seed)
    order_ids = sorted(bc.commerce.orders)
    customers = sorted(c["id"] for c in bc.store.all())
    done = 0
    for i in range(n):
        kind = i % 3
        if kind == 0:
            bc.commerce.create_order_for(rng.choice(customers), round(rng.uniform(10, 300), 2))
        elif kind == 1:
            bc.commerce.set_order_status(rng.choice(order_ids), rng.choice([2, 10, 11, 5]))
        else:
            oid = rng.choice(order_ids)
            try:
                bc.commerce.refund_order(oid, 1.0)
            except ValueError:  # nothing left to refund: change its status instead
                bc.commerce.set_order_status(oid, 2)
        done += 1
    return done


def _upserts(people: Any) -> int:
    return sum(n for route, n in people.requests_served.items() if "persons/upsert" in route)


def _run(db: Path, **flags: Any) -> tuple[Any, float]:
    from bc2people.pipelines.sync import run_sync

    t = time.perf_counter()
    result = run_sync(MAPPING, db, max_rejected_pct=100, **flags)
    return result, time.perf_counter() - t


def main(quick: bool = False) -> None:
    from bc2people.sandbox.run import env_for, start_sandboxes

    customers = QUICK_CUSTOMERS if quick else FULL_CUSTOMERS
    changes = CHANGES // 10 if quick else CHANGES
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    work = Path(tempfile.mkdtemp(prefix="bench-nightly-"))
    bc, people = start_sandboxes(customers, seed=3, orders=True)
    people.rate_limit = None
    try:
        os.environ.update(env_for(bc, people))
        a = work / "a.duckdb"
        first, t_first = _run(a)
        orders = first.counts.get("orders_staged", 0)
        print(f"store: {customers:,} customers, {orders:,} orders; first sync {t_first:.1f} s, "
              f"{first.counts['sent']:,} persons sent")
        b = work / "b.duckdb"
        shutil.copy(a, b)
        shutil.copytree(a.with_name("a.dlt"), b.with_name("b.dlt"))
        bc.clock.advance(120)
        _change_orders(bc, changes)
        bc.clock.advance(600)
        before = _upserts(people)
        night, t_night = _run(a)
        night_requests = _upserts(people) - before
        before = _upserts(people)
        full, t_full = _run(b, full_refresh=True)
        full_requests = _upserts(people) - before
        print(f"{changes:,} order changes, then the same night two ways:")
        print(f"  {'':<22}{'orders read':>12}{'re-mapped':>11}{'sent':>7}{'upsert requests':>17}{'seconds':>9}")
        for label, r, req, t in (("incremental (nightly)", night, night_requests, t_night),
                                 ("full recompute", full, full_requests, t_full)):
            print(f"  {label:<22}{r.counts['orders_extracted']:>12,}{r.counts['mapped']:>11,}{r.counts['sent']:>7,}"
                  f"{req:>17,}{t:>9.2f}")
        print(f"  incremental / full recompute time: {t_night / t_full:.2f}")
    finally:
        bc.stop()
        people.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(quick=os.environ.get("BENCH_QUICK") == "1")
