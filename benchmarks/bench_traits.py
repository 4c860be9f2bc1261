"""Traits: the default ``customer_traits.sql`` over 200,000 customers and 2,000,000 orders.

Staging is generated inside DuckDB (``range()``) in a DuckDB file, in the staged shapes: money
as the API's strings, some guest orders (by email, other case), archived and excluded
statuses, a tenth of the orders in another currency. Timed: ``compute_traits`` (the SQL into
the TEMP traits table with JSON and hash), median of 3. Target (issue 11): <= 5 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bc2people.pipelines.mapping.traits import compute_traits, count_from_sql, load_spec

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
TARGET_SECONDS = 5.0


def _generate(con: duckdb.DuckDBPyConnection, customers: int, orders: int) -> None:
    con.execute(f"""
        CREATE SCHEMA bigcommerce;
        CREATE TABLE bigcommerce.customers AS
        SELECT range AS id, 'c' || range || '@example.com' AS email, 'First' AS first_name,
               'Last' AS last_name, TIMESTAMPTZ '2019-01-01 00:00:00+00' AS date_created,
               NULL::TIMESTAMPTZ AS _deleted_at, '1' AS _dlt_load_id
        FROM range(1, {customers} + 1);
        CREATE TABLE bigcommerce.orders AS
        SELECT
            range AS id,
            CASE WHEN range % 20 = 0 THEN 0 ELSE 1 + hash(range) % {customers} END::BIGINT AS customer_id,
            [10, 10, 10, 2, 2, 11, 14, 4, 5, 0, 7, 1][(1 + hash(range * 7) % 12)::BIGINT]::BIGINT AS status_id,
            range % 97 = 0 AS is_deleted,
            TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds((hash(range * 3) % 140000000)::BIGINT) AS date_created,
            'USD' AS currency_code,
            CASE WHEN range % 10 = 0 THEN 'EUR' ELSE 'USD' END AS default_currency_code,
            'USD' AS store_default_currency_code,
            CASE WHEN range % 10 = 0 THEN '0.9200000000' ELSE '1.0000000000' END
                AS store_default_to_transactional_exchange_rate,
            CASE WHEN range % 5000 = 0 THEN 'n/a'
                 ELSE printf('%.4f', (hash(range * 5) % 50000) / 100.0) END AS total_inc_tax,
            CASE WHEN range % 13 = 0 THEN '5.0000' ELSE '0.0000' END AS refunded_amount,
            json_object('email', CASE WHEN range % 40 = 0 THEN 'C' || (1 + hash(range) % {customers}) || '@EXAMPLE.com'
                                      ELSE 'guest' || range || '@example.net' END) AS billing_address,
            '1' AS _dlt_load_id
        FROM range(1, {orders} + 1);
    """)


def main(quick: bool) -> None:
    customers, orders = (20_000, 200_000) if quick else (200_000, 2_000_000)
    spec = load_spec(MAPPINGS / "customer_traits.sql")
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench_traits.duckdb"))
        t = time.perf_counter()
        _generate(con, customers, orders)
        print(f"  generated {customers:,} customers, {orders:,} orders in {time.perf_counter() - t:.1f} s")
        times, rows = [], 0
        for _ in range(3):
            t = time.perf_counter()
            rows = compute_traits(con, spec, as_of=datetime(2025, 1, 1, tzinfo=UTC))
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        verdict = ("OK" if median <= TARGET_SECONDS else "MISSED") if not quick else "(not judged in a quick run)"
        print(f"  compute_traits: {rows:,} customers, median {median:.2f} s of 3 "
              f"({', '.join(f'{x:.2f}' for x in times)})  target <= {TARGET_SECONDS:.0f} s {verdict}")
        buyers = con.execute("SELECT count(*) FROM mapping_traits WHERE traits->>'rfm_segment' IS NOT NULL").fetchone()
        print(f"  buyers with a segment: {buyers[0] if buyers else 0:,}; "
              f"unattributed guest orders: {count_from_sql(con, MAPPINGS / 'unattributed_guest_orders.sql'):,}")
        con.close()
