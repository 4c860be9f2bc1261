"""Extraction benchmark: BigCommerce customers into DuckDB staging against the sandbox.

Scenarios (full size; BENCH_QUICK=1 shrinks the store and the quota window by 10x, which
keeps the quota *rate* and so the bound in customers/s):

- Standard quota (150 requests / 30 s), 150 ms latency, 60k customers: bound 1,250 customers/s.
- Pro quota (450 / 30 s), 150 ms latency: concurrent reader vs pages read one after another
  (``max_workers=1``) in the same run; bound 3,750 customers/s.
- Peak RSS of the staging process at 20k and 100k customers (no latency, no quota).

The sandbox runs in this process; every staging run runs in a child process (so the two do
not share one GIL, and the child's peak RSS is its own). Rates are for the extract phase
(from the start of the run to the last page handed to dlt) and end to end (including dlt's
normalize and load into DuckDB, plus dlt's start-up). The machine is shared, so numbers are
noisy.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STORE = "bench1"
TOKEN = "bench-token"
PAGE = 250


def _child(args: dict[str, Any]) -> None:
    """Run one staging in this process and print a JSON line with timings and peak RSS."""
    from bc2people.pipelines.staging import stage_customers

    marks: list[float] = []
    t0 = time.perf_counter()
    res = stage_customers(
        args["db"],
        progress=lambda d: marks.append(time.time()),
        store_hash=STORE,
        access_token=TOKEN,
        api_base_url=args["url"],
        max_workers=args["workers"],
        lag_seconds=0,
    )
    total = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "extracted": res.extracted, "pages": res.pages, "requests": res.requests,
        "rate_limited": res.rate_limited, "quota_wait_s": res.quota_wait_s,
        "last_page_at": marks[-1] if marks else time.time(), "total_s": total, "rss_mb": rss_kb / 1024,
    }))


def _spawn() -> subprocess.Popen[str]:
    """A staging child, idle until it reads its arguments. Children are all started before
    any sandbox data exists: a process's peak RSS (ru_maxrss) includes what it inherited at
    fork, so forking from a parent that holds (or held) 100k customers would count them."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_extract", "--child"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RUNTIME__LOG_LEVEL": "ERROR"},
    )


def _stage(
    child: subprocess.Popen[str], n: int, *, quota: int | None, window_s: float, latency_ms: float, workers: int,
    seed: int = 1,
) -> dict[str, Any]:
    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from bc2people.sandbox.generator import generate_customers

    with tempfile.TemporaryDirectory() as tmp, BigCommerceSandbox(store_hash=STORE, access_token=TOKEN) as sb:
        sb.add_customers(generate_customers(n, seed=seed))
        sb.latency_ms = latency_ms
        first: list[float] = []

        def mark_first(req: Any) -> None:
            if not first:
                first.append(time.time() - latency_ms / 1000.0)  # called after the latency

        sb.on_request = mark_first
        sb.set_quota(quota, window_s)  # a fresh window, as a store nobody else uses
        args = {"db": str(Path(tmp) / "bench.duckdb"), "url": sb.base_url, "workers": workers}
        stdout, stderr = child.communicate(json.dumps(args) + "\n")
        if child.returncode != 0:
            raise RuntimeError(f"staging child failed:\n{stderr[-3000:]}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        # Extract phase: from the first request reaching the store to the last page handed to dlt.
        result["extract_s"] = result["last_page_at"] - first[0]
        windows = [w for w in sb.quota_windows if w["requests"] or w["refused"]]
        result["windows"] = len(windows)
        result["max_refused_per_window"] = max((w["refused"] for w in windows), default=0)
        result["max_requests_per_window"] = max((w["requests"] for w in windows), default=0)
        if result["extracted"] != n:
            raise RuntimeError(f"extracted {result['extracted']} of {n} customers")
        return result


def _line(label: str, r: dict[str, Any], n: int, bound: float | None = None) -> None:
    rate = n / r["extract_s"]
    e2e = n / r["total_s"]
    share = f" = {100 * rate / bound:5.1f}% of the {bound:,.0f}/s quota bound" if bound else ""
    print(
        f"  {label:<34} {n:>7,} customers: extract {r['extract_s']:6.1f} s -> {rate:7,.0f}/s{share}; "
        f"end to end {r['total_s']:6.1f} s -> {e2e:6,.0f}/s"
    )
    print(
        f"  {'':<34} {r['requests']} requests for {r['pages']} pages, {r['windows']} quota window(s), "
        f"max {r['max_requests_per_window']} served / {r['max_refused_per_window']} refused (429) per window, "
        f"quota waits {r['quota_wait_s']:.1f} s, peak RSS {r['rss_mb']:.0f} MB"
    )


def main(quick: bool) -> None:
    """Print the extraction report (see the module docstring)."""
    scale = 10 if quick else 1
    window_s = 30.0 / scale
    standard, pro = 150 // scale, 450 // scale
    n_quota = 5_000 if quick else 60_000
    n_seq = 2_000 if quick else 12_000
    rss_sizes = (2_000, 5_000) if quick else (20_000, 100_000, 200_000)
    latency = 150.0
    children = [_spawn() for _ in range(3 + len(rss_sizes))]
    print(f"sandbox latency {latency:.0f} ms/request, page size {PAGE}, quota window {window_s:g} s"
          f"{' (quick: store and window scaled down 10x, same quota rate)' if quick else ''}")

    std_bound = PAGE * standard / window_s
    r = _stage(children[0], n_quota, quota=standard, window_s=window_s, latency_ms=latency, workers=8)
    _line(f"Standard {standard}/{window_s:g}s, 8 workers", r, n_quota, std_bound)

    pro_bound = PAGE * pro / window_s
    rp = _stage(children[1], n_quota, quota=pro, window_s=window_s, latency_ms=latency, workers=8)
    _line(f"Pro {pro}/{window_s:g}s, 8 workers", rp, n_quota, pro_bound)
    rs = _stage(children[2], n_seq, quota=pro, window_s=window_s, latency_ms=latency, workers=1)
    _line(f"Pro {pro}/{window_s:g}s, sequential baseline", rs, n_seq, pro_bound)
    speedup = (n_quota / rp["extract_s"]) / (n_seq / rs["extract_s"])
    print(f"  concurrent / sequential extract rate under Pro: {speedup:.1f}x")

    for child, n in zip(children[3:], rss_sizes, strict=True):
        rr = _stage(child, n, quota=None, window_s=30.0, latency_ms=0, workers=8)
        print(f"  peak RSS of the staging process at {n:>7,} customers: {rr['rss_mb']:6.0f} MB "
              f"(extract {rr['extract_s']:.1f} s, end to end {rr['total_s']:.1f} s)")
    from bc2people.pipelines.staging import DUCKDB_MEMORY_LIMIT

    print(f"  (the DuckDB merge is capped by memory_limit={DUCKDB_MEMORY_LIMIT} and spills beyond it,"
          " so the peak levels off as the store grows)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child(json.loads(sys.stdin.readline()))
    else:
        main(quick=os.environ.get("BENCH_QUICK") == "1")
