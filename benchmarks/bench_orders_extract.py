"""Extraction benchmark: BigCommerce orders into DuckDB staging against the sandbox.

Standard quota (150 requests / 30 s), 150 ms latency, 8 workers, 60k orders (BENCH_QUICK=1:
6k orders and a 3 s window, the same quota rate): the bound is 250 orders x 150 requests /
30 s = 1,250 orders/s. The staging run is a child process (its own GIL); the rate is for the
extract phase, from the first request reaching the store to the last page handed to dlt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STORE = "bench2"
TOKEN = "bench-token"
PAGE = 250
NOW = 1_780_000_000


def _child(args: dict[str, Any]) -> None:
    """Stage once in this process; print a JSON line with the orders' stats and timings."""
    from bc2people.pipelines.staging import make_pipeline
    from bc2people.sources.bigcommerce import ExtractStats, OrderStats, bigcommerce_source

    marks: list[float] = []
    stats = OrderStats(progress=lambda d: marks.append(time.time()))
    source = bigcommerce_source(
        store_hash=STORE, access_token=TOKEN, api_base_url=args["url"], max_workers=args["workers"],
        lag_seconds=0, stats=ExtractStats(), order_stats=stats,
    )
    t0 = time.perf_counter()
    make_pipeline(args["db"]).run(source, loader_file_format="parquet")
    print(json.dumps({
        "extracted": stats.records, "pages": stats.pages, "requests": stats.requests,
        "count_requests": stats.count_requests, "splits": stats.splits, "steals": stats.steals,
        "duplicates": stats.duplicates,
        "rate_limited": stats.rate_limited, "last_page_at": marks[-1] if marks else time.time(),
        "total_s": time.perf_counter() - t0,
    }))


def main(quick: bool) -> None:
    """Print the orders extraction report (see the module docstring)."""
    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from tests.test_source_orders import generate_orders  # lean sandbox records, any count of orders

    scale = 10 if quick else 1
    n, window_s, quota, latency = 60_000 // scale, 30.0 / scale, 150 // scale, 150.0
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_orders_extract", "--child"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RUNTIME__LOG_LEVEL": "ERROR"},
    )
    with tempfile.TemporaryDirectory() as tmp, BigCommerceSandbox(store_hash=STORE, access_token=TOKEN) as sb:
        sb.clock.freeze(NOW)
        commerce: Any = sb.commerce  # type: ignore[attr-defined]  # attached by commerce.install
        commerce.add_orders(generate_orders(n, seed=1, now=NOW - 3600))
        sb.latency_ms = latency
        first: list[float] = []
        sb.on_request = lambda req: first.append(time.time() - latency / 1000.0) if not first else None
        sb.set_quota(quota, window_s)
        args = {"db": str(Path(tmp) / "bench.duckdb"), "url": sb.base_url, "workers": 8}
        stdout, stderr = child.communicate(json.dumps(args) + "\n")
        if child.returncode != 0:
            raise RuntimeError(f"staging child failed:\n{stderr[-3000:]}")
        r: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        windows = [w for w in sb.quota_windows if w["requests"] or w["refused"]]
    if r["extracted"] != n:
        raise RuntimeError(f"extracted {r['extracted']} of {n} orders")
    extract_s = r["last_page_at"] - first[0]
    bound = PAGE * quota / window_s
    rate = n / extract_s
    print(f"sandbox latency {latency:.0f} ms/request, quota {quota}/{window_s:g} s, 8 workers"
          f"{' (quick: 10x smaller store and window, same quota rate)' if quick else ''}")
    print(f"  orders {n:,}: extract {extract_s:.1f} s -> {rate:,.0f}/s = {100 * rate / bound:.1f}% of the "
          f"{bound:,.0f}/s quota bound; end to end {r['total_s']:.1f} s")
    full = [w["requests"] for w in windows[:-1]]  # every window but the last, which the run ends in
    print(f"  quota use: the bound counts 250 orders per allowed request; {r['pages']} pages of orders took "
          f"{r['requests']} requests = {100 * r['pages'] / max(1, r['requests']):.1f}% of the requests spent carrying "
          f"orders; full windows used {full} of {quota} allowed (the rate above is inflated by the fresh store's "
          "first full window)")
    print(f"  {r['requests']} requests ({r['count_requests']} to plan id ranges) for {r['pages']} pages, "
          f"{r['splits']} cut(s) by id, {r['steals']} range(s) halved for an idle worker, "
          f"{r['duplicates']} overlap duplicates dropped, {len(windows)} quota windows, "
          f"max {max((w['refused'] for w in windows), default=0)} refused (429) per window")


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child(json.loads(sys.stdin.readline()))
    else:
        main(quick=os.environ.get("BENCH_QUICK") == "1")
