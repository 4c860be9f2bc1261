"""Deletion sweep benchmark: requests of the counting sweep vs the full walk.

One store (100,000 customers; ``BENCH_SWEEP_N`` sets another size, e.g. 1000000; BENCH_QUICK=1
uses 20,000), staged into a DuckDB table, then for 0, 20 and 2,000 deletions at random: the
requests and wall time of `find_deletions` (counts per date_created range) and of the full
walk, and whether both found the same ids. No latency, no quota: requests are the cost that
matters (each one spends the store's shared quota); wall times are this machine's.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

STORE = "sweep1"
TOKEN = "sweep-token"


def _stage(db: Path, customers: list[dict[str, str | int]]) -> None:
    import duckdb
    import pyarrow as pa

    from bc2people.sources.bigcommerce.helpers import parse_ts

    table = pa.table({
        "id": pa.array([c["id"] for c in customers], pa.int64()),
        "dc": pa.array([parse_ts(str(c["date_created"])) for c in customers], pa.int64()),
        "dm": pa.array([parse_ts(str(c["date_modified"])) for c in customers], pa.int64()),
    })
    con = duckdb.connect(str(db))
    con.register("src", table)
    con.execute("CREATE SCHEMA bigcommerce")
    con.execute(
        "CREATE TABLE bigcommerce.customers AS SELECT id, to_timestamp(dc) AS date_created, "
        "to_timestamp(dm) AS date_modified FROM src"
    )
    con.close()


def main(quick: bool = False) -> None:
    import duckdb

    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from bc2people.sandbox.generator import generate_customers
    from bc2people.sources.bigcommerce import make_client
    from bc2people.sources.bigcommerce.sweep_counts import find_deletions, load_staged_customers

    n = 20_000 if quick else int(os.environ.get("BENCH_SWEEP_N", "100000"))
    customers = generate_customers(n, seed=5)
    with tempfile.TemporaryDirectory() as tmp, BigCommerceSandbox(store_hash=STORE, access_token=TOKEN) as sb:
        db = Path(tmp) / "sweep.duckdb"
        _stage(db, customers)  # type: ignore[arg-type]
        con = duckdb.connect(str(db))
        t0 = time.perf_counter()
        staged = load_staged_customers(con, "bigcommerce", "customers")
        load_s = time.perf_counter() - t0
        con.close()
        print(f"store: {n:,} customers; staged side read in {load_s:.2f}s")
        print(f"{'deletions':>9} {'method':>7} {'requests':>9} {'walk':>6} {'share':>7} {'same':>5} {'counts s':>9} {'walk s':>7}")
        ids = [int(c["id"]) for c in customers]
        rng = random.Random(11)
        for deletions in (0, 20, 2000):
            sb.store.put_many(customers)  # restore the whole store
            gone = set(rng.sample(ids, deletions))
            sb.store.delete(gone)
            sb.store.view("id")
            sb.store.view("date_created")  # build the sandbox's indexes outside the timings
            client = make_client(STORE, TOKEN, sb.base_url)
            t0 = time.perf_counter()
            counted = find_deletions(client, staged)
            t_counts = time.perf_counter() - t0
            client = make_client(STORE, TOKEN, sb.base_url)
            t0 = time.perf_counter()
            walked = find_deletions(client, staged, force_walk=True)
            t_walk = time.perf_counter() - t0
            same = counted.deleted == walked.deleted == gone
            print(
                f"{deletions:>9,} {counted.method:>7} {counted.requests:>9,} {walked.requests:>6,} "
                f"{counted.requests / walked.requests:>7.1%} {'yes' if same else 'NO':>5} {t_counts:>9.2f} {t_walk:>7.2f}"
            )


if __name__ == "__main__":
    main()
