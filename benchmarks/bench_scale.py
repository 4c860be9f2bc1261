"""``make bench-scale``: the whole ``bc2people sync`` at store scale (issue 16).

For each size in ``BENCH_SCALE_SIZES`` (default ``100000,300000,1000000``): a BigCommerce
sandbox (Pro quota 450/30 s, 150 ms latency) and a People sandbox (5 requests/s, 250 ms),
each in its own process, and ``bc2people sync`` run as a child process three times:

1. first full sync: wall time against the two API bounds (extraction n / 3,750 per s,
   People n / 5,000 per s; the target is 1.15 x the slower), peak RSS of the sync process;
2. nightly with 1% of the customers changed and 20 deleted (the default deletion sweep
   runs): wall time and BigCommerce requests against the minimum (the changed pages, plus
   the sweep's few counts);
3. nightly with nothing changed: wall time (target <= 10 s).

Each nightly run also prints its steps, timed from its own log events (start-up and the
pre-flight checks, staging with the deletion sweep, push with events and counts, the
analysts' copy, exit), so a night over its target says which step took the time.

Nights are a day apart on the store's clock (the sandbox clock is advanced), so traits that
move with the day (the default SQL's ``days_since_last_order``) move between them. Each
night's changes are made an hour of store time before its run, as a day's changes are before
a nightly run; made in the run's own second, the previous night's changes would fall in the
next night's 5-minute lookback and be read again.

CPU seconds of the sync and of each sandbox are reported per run, so the figures say how
much of the machine the sandboxes took; the sync's map worker process (`pipelines.core.offload`)
is reported beside the sync's own figures (its CPU and peak RSS), never hidden in them; a
run's CPU is also split by thread (`benchmarks.thread_cpu`). Orders are left out (``SOURCES__BIGCOMMERCE__ORDERS``
false): the issue's bounds are for customers. ``BENCH_SCALE_ORDERS=1`` puts orders in the store
(`sandbox.generator.generate_orders`: 60% of customers buy, 4 orders each on average) and
stages them, so the default mapping's traits are computed; each first sync then also reports
the persons it sent more than once (an overlapped first sync sends again the buyers whose
traits relative to other customers moved as later segments landed). The phases run one after another (staging,
then map and push) in the sequential first sync (``SYNC__OVERLAP=false``) and overlap in the
default one (`pipelines.overlap`); ``BENCH_SCALE_FIRST`` (default ``sequential,overlapped``)
picks which first syncs run, each against a fresh People sandbox and DuckDB file. The
overlapped run also prints when its reading ended and when its sending ended (which side
set its length); ``BENCH_SCALE_SEGMENTS=1`` adds each first sync's log events, timed from
its start (a segment's rows, seconds, RSS and DuckDB memory; the sweep and final push after
them). Each size's DuckDB files (GBs at 1M) are removed after it
unless ``BENCH_SCALE_KEEP`` is set.

``python -m benchmarks.bench_scale`` runs it; ``make bench`` (benchmarks/run.py) only runs a
5,000-customer smoke pass of it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import speed_line
from benchmarks.thread_cpu import ENV, LAUNCHER, by_thread

REPO = Path(__file__).resolve().parents[1]
# BENCH_SCALE_QUOTA=standard measures at the Standard plan's 150/30 s (the figures are Pro).
PRO = (150, 30.0) if os.environ.get("BENCH_SCALE_QUOTA") == "standard" else (450, 30.0)
BC_LATENCY_MS, PEOPLE_LATENCY_MS = 150, 250

# A BigCommerce sandbox host driven over stdin: one JSON command per line, one JSON answer.
BC_HOST = r"""
import json, random, sys
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, generate_orders
n, lat, quota, window = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sb = BigCommerceSandbox(store_hash="scale1", access_token="scale-token", quota=(quota, window))
customers = generate_customers(n, seed=16, now=sb.clock.now() - 7200)
sb.add_customers(customers)
if sys.argv[5] == "orders":
    sb.commerce.add_orders(generate_orders(customers, seed=16, now=sb.clock.now() - 7200))
del customers
sb.latency_ms = lat
sb.start()
print(json.dumps({"url": sb.base_url}), flush=True)
rng = random.Random(16)
for line in sys.stdin:
    cmd = json.loads(line)
    out = {}
    if cmd["op"] == "change":
        sb.clock.advance(23 * 3600)  # nights are a day apart: day-dependent traits move between them
        ids = [c["id"] for c in sb.store.all()]
        for cid in rng.sample(ids, cmd["n"]):
            sb.update_customer(cid, first_name="Changed")
        for cid in rng.sample(ids, cmd["delete"]):
            sb.delete_customer(cid)
        sb.clock.advance(3600)  # the day's changes are made before the night's run, not in its second
        sb.store.view("id"); sb.store.view("date_created"); sb.store.view("date_modified")
    elif cmd["op"] == "requests":
        out = {"requests": sum(sb.requests_served.values())}
    elif cmd["op"] == "windows":  # requests served per quota window so far, and 429s
        seen = [w for w in sb.quota_windows if w["requests"] or w["refused"]]
        out = {"windows": [[w["window"], w["requests"], w["refused"]] for w in seen]}
    print(json.dumps(out), flush=True)
"""
PEOPLE_HOST = r"""
import json, sys
from bc2people.sandbox.people import PeopleSandbox
ps = PeopleSandbox(api_key="scale-key", rate_limit=5).start()
ps.latency_ms = float(sys.argv[1])
print(json.dumps({"url": ps.base_url}), flush=True)
sys.stdin.read()
"""


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Host:
    """A sandbox in its own process."""

    def __init__(self, script: str, *args: Any) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def cpu(self) -> float:
        return _cpu(self.proc.pid)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _run_sync(env: dict[str, str], db: Path) -> dict[str, Any]:
    """One ``bc2people sync`` child: wall, exit code, its own peak RSS (MiB) and CPU seconds, summary."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tally:
        tally_path = Path(tally) / "threads.json"
        t0, started = time.perf_counter(), time.time()
        p = subprocess.Popen([sys.executable, "-c", LAUNCHER, "bc2people.pipelines.cli", "sync", "--duckdb", str(db),
                              "--no-progress", "--log-format", "json"], cwd=REPO, env={**env, ENV: str(tally_path)},
                             stdout=out, stderr=err)
        _pid, status, usage = os.wait4(p.pid, 0)
        wall, ended = time.perf_counter() - t0, time.time()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        cpu = usage.ru_utime + usage.ru_stime
        threads = by_thread(tally_path, cpu)
    summary: dict[str, Any] = {}
    for line in stdout.splitlines()[::-1]:
        try:
            summary = json.loads(line)
            break
        except ValueError:
            continue
    return {"wall": wall, "rc": p.returncode, "summary": summary, "stderr": stderr[-2000:], "stderr_all": stderr,
            "cpu": cpu, "rss_mib": usage.ru_maxrss / 1024, "threads": threads, "started": started, "ended": ended}


def _events(stderr: str) -> list[tuple[float, dict[str, Any]]]:
    """The run's JSON log events, each with its time (epoch seconds)."""
    from datetime import datetime

    events = []
    for ln in stderr.splitlines():
        try:
            e = json.loads(ln)
            events.append((datetime.fromisoformat(e["ts"]).timestamp(), e))
        except (ValueError, KeyError, TypeError):
            continue
    return events


# A run's steps, each ending at the first log event of that name (the last at the process's exit).
_STEPS = (("start-up and checks", "run started"), ("staging", "staged"), ("push, events, counts", "run finished"),
          ("analysts' copy", "analysts' copy published"))


def _steps(res: dict[str, Any]) -> str:
    """Where a run's wall time went, step by step, from its log events."""
    seen = {e.get("message"): t for t, e in _events(res["stderr_all"])[::-1]}
    parts, last = [], res["started"]
    for label, message in _STEPS:
        if message not in seen:
            return "steps: no log events (RUNTIME__LOG_LEVEL below INFO?)"
        parts.append(f"{label} {seen[message] - last:.1f}")
        last = seen[message]
    parts.append(f"exit {res['ended'] - last:.1f}")
    return "steps (s): " + ", ".join(parts)


def _timeline(stderr: str) -> str:
    """When an overlapped run finished reading (its last segment staged) and sending (its
    segments pushed), in seconds from its start: which side set the run's length."""
    events = _events(stderr)
    if not events:
        return "timeline: no log events (RUNTIME__LOG_LEVEL below INFO?)"
    t0 = events[0][0]
    staged = [(t - float(e.get("waited_s", 0)), e) for t, e in events if e.get("message") == "segment staged"]
    pushed = [t for t, e in events if e.get("message") == "segments pushed"]
    if not staged or not pushed:
        return "timeline: not an overlapped run"
    return (f"timeline: reading ended at {max(t for t, _ in staged) - t0:.1f} s (last segment staged), "
            f"sending at {pushed[-1] - t0:.1f} s (segments pushed)")


def _line(label: str, res: dict[str, Any], reqs: int, bc_cpu: float, people_cpu: float) -> str:
    counts = res["summary"].get("counts", {})
    worker = res["summary"].get("map_worker") or {}
    mapper = (f" (+ map worker CPU {worker.get('cpu_s', 0):5.1f} s, peak RSS {worker.get('peak_rss_mib', 0):4.0f} MiB)"
              if worker else "")
    threads = f"\n    {res['threads']}" if res["threads"] else ""  # the run's CPU by thread, below it
    return (f"  {label:34} rc {res['rc']}  wall {res['wall']:7.1f} s  sync CPU {res['cpu']:6.1f} s  "
            f"peak RSS {res['rss_mib']:6.0f} MiB{mapper}  BC CPU {bc_cpu:5.1f} s  People CPU "
            f"{people_cpu:5.1f} s  BC requests {reqs:,}  sent {counts.get('sent', '?')}  "
            f"deleted {counts.get('deleted_in_store', '?')}{threads}")


def _measured(bc: Host, people: Host, env: dict[str, str], db: Path) -> tuple[dict[str, Any], int, float, float]:
    req0, bc0, pe0 = bc.ask(op="requests")["requests"], bc.cpu(), people.cpu()
    res = _run_sync(env, db)
    return res, bc.ask(op="requests")["requests"] - req0, bc.cpu() - bc0, people.cpu() - pe0


def _quota_use(windows: list[list[int]]) -> str:
    """How the run used BigCommerce's fixed quota windows: reading is quota-bound when every
    window but the first and last (which the run starts and ends inside) served the whole quota."""
    counts = [w[1] for w in windows]
    inner = counts[1:-1]
    full = sum(1 for c in inner if c >= PRO[0])
    refused = sum(w[2] for w in windows)
    return (f"quota windows ({PRO[1]:.0f} s): {len(counts)}, requests in each {counts}; "
            f"{full} of {len(inner)} inner windows used the whole quota; 429s: {refused}")


def _sent_twice(db: Path) -> str:
    """How many persons the first sync sent more than once, of how many buyers (persons with
    an order count)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        twice = con.execute("SELECT count(*) FROM (SELECT key FROM people_sync.sync_outcomes "
                            "GROUP BY key HAVING count(*) > 1)").fetchall()[0][0]
        buyers = con.execute("SELECT count(*) FROM people_sync.customer_traits "
                             "WHERE coalesce(TRY_CAST(traits->>'order_count' AS BIGINT), 0) > 0").fetchall()[0][0]
    finally:
        con.close()
    return f"persons sent more than once: {twice:,} (buyers with traits: {buyers:,})"


def scale(n: int, firsts: tuple[str, ...] = ("sequential", "overlapped")) -> None:
    """One size: the first full sync each way in ``firsts`` (a fresh People sandbox and DuckDB
    file each), then the two nightly runs on the last one's file."""
    orders = bool(os.environ.get("BENCH_SCALE_ORDERS"))
    bc = Host(BC_HOST, n, BC_LATENCY_MS, *PRO, "orders" if orders else "customers")
    people = Host(PEOPLE_HOST, PEOPLE_LATENCY_MS)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    env = {**os.environ, "SOURCES__BIGCOMMERCE__API_BASE_URL": bc.url, "SOURCES__BIGCOMMERCE__STORE_HASH": "scale1",
           "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": "scale-token", "DESTINATION__PEOPLE__BASE_URL": people.url,
           "DESTINATION__PEOPLE__API_KEY": "scale-key", "SOURCES__BIGCOMMERCE__ORDERS": str(orders).lower(),
           "SOURCES__BIGCOMMERCE__LAG_SECONDS": "0",
           "RUNTIME__LOG_LEVEL": "INFO"}  # a few lines per run: the steps and the segments
    extract_bound, people_bound = n / (PRO[0] / PRO[1] * 250), n / 5000
    print(f"\n{n:,} customers, quota {PRO[0]}/{PRO[1]:.0f} s; bounds: extraction {extract_bound:.0f} s, People {people_bound:.0f} s; "
          f"target first sync <= {1.15 * max(extract_bound, people_bound):.0f} s")
    try:
        db = tmp / "scale.duckdb"
        for i, how in enumerate(firsts):
            if i:
                people.close()
                people = Host(PEOPLE_HOST, PEOPLE_LATENCY_MS)
                env["DESTINATION__PEOPLE__BASE_URL"] = people.url
                time.sleep(PRO[1])  # a fresh quota window, as the first run had
            db = tmp / f"scale_{how}.duckdb"
            run_env = {**env, "SYNC__OVERLAP": "false" if how == "sequential" else "true"}
            before = {w[0] for w in bc.ask(op="windows")["windows"]}
            res, reqs, bc_cpu, pe_cpu = _measured(bc, people, run_env, db)
            print(_line(f"first full sync, {how}", res, reqs, bc_cpu, pe_cpu), flush=True)
            print("    " + _quota_use([w for w in bc.ask(op="windows")["windows"] if w[0] not in before]), flush=True)
            if orders and res["rc"] == 0:
                print(f"    {_sent_twice(db)}", flush=True)
            if os.environ.get("BENCH_SCALE_SEGMENTS"):  # the run's log events, timed from its start
                for t, e in _events(res["stderr_all"]):
                    fields = {k: v for k, v in e.items() if k not in ("ts", "level", "logger", "message", "run_id")}
                    print(f"    {t - res['started']:6.1f} s  {e.get('message')}  {json.dumps(fields)[:200]}")
            if how == "overlapped":
                print("    " + _timeline(res["stderr_all"]))
            if res["rc"] != 0:
                print("    " + res["stderr"].replace("\n", "\n    "))
        changed, deleted = max(1, n // 100), 20
        for label, prep in (("nightly, 1% changed + 20 deleted", (changed, deleted)),
                            ("nightly, nothing changed", (0, 0))):
            bc.ask(op="change", n=prep[0], delete=prep[1])
            res, reqs, bc_cpu, pe_cpu = _measured(bc, people, env, db)
            print(_line(label, res, reqs, bc_cpu, pe_cpu), flush=True)
            print("    " + _steps(res))
            if prep[0]:
                minimum = math.ceil(prep[0] / 250)
                print(f"    changed-customer pages alone: {minimum}; requests above that: {reqs - minimum} "
                      "(window page(s), deletion sweep counts)")
            if res["rc"] != 0:
                print("    " + res["stderr"].replace("\n", "\n    "))
    finally:
        bc.close()
        people.close()
        if not os.environ.get("BENCH_SCALE_KEEP"):  # each size leaves GBs of DuckDB files
            shutil.rmtree(tmp, ignore_errors=True)


def main(quick: bool = False) -> None:
    """`make bench` runs only a small smoke pass; ``python -m benchmarks.bench_scale`` the sizes."""
    scale(5_000)


if __name__ == "__main__":
    print(speed_line(), flush=True)
    firsts = tuple(os.environ.get("BENCH_SCALE_FIRST", "sequential,overlapped").split(","))
    for size in os.environ.get("BENCH_SCALE_SIZES", "100000,300000,1000000").split(","):
        scale(int(size), firsts)
    print(f"\nat the end, {speed_line()}", flush=True)  # a shared machine's speed moves during a long run
