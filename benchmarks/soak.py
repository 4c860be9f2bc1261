"""``make soak``: the resilience soak at full size, with the figures the closing note needs.

1. Faults: both sandboxes fail 20% of their requests (429 without headers, 500/502/503,
   connection resets, truncated bodies, responses slower than the client's timeout). A full
   sync of 20,000 customers (plus 500 hostile ones), then an incremental one (2,000 changed,
   100 new, 50 deleted, ``--sweep-deletions``), each re-run until it succeeds.
2. Crashes: 20 runs of the real ``bc2people sync`` subprocess SIGKILLed at random moments
   spread over extract, stage, map and push (each with 2,000 changed customers to carry),
   each followed by runs until one succeeds.

After each part People, ``person_state``, staging and the run history are checked against
what the mapping makes of the store (read over its API). Printed: faults injected per kind,
retries made (requests repeated within one run: same method, URL and body), records lost,
duplicates, runs to convergence after each kill. ``BENCH_QUICK=1`` shrinks every size.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bc2people.sandbox.generator import generate_customers, nasty_customers
from bc2people.sandbox.http import FAULT_KINDS

SIZES: dict[bool, dict[str, Any]] = {
    False: {"customers": 20_000, "nasty": 500, "changed": 2_000, "new": 100, "deleted": 50, "kills": 20,
            "kill_changes": 2_000, "people_slow_cap": None},
    True: {"customers": 1_500, "nasty": 60, "changed": 150, "new": 20, "deleted": 10, "kills": 4,
           "kill_changes": 500, "people_slow_cap": 1},
}


class RetryCounter:
    """Counts requests a sandbox saw more than once within one run (same method, URL, body)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.seen: set[str] = set()
        self.retries = 0
        self.requests = 0
        inner = server.dispatch

        def dispatch(req: Any) -> Any:
            if not req.is_admin:
                key = hashlib.sha1(
                    f"{req.method} {req.path}?{req.raw_query}".encode() + b"\0" + req.body
                ).hexdigest()
                self.requests += 1
                if key in self.seen:
                    self.retries += 1
                self.seen.add(key)
            return inner(req)

        server.dispatch = dispatch

    def new_run(self) -> None:
        self.seen.clear()


def _sync_counting(world: Any, counters: list[RetryCounter], *extra: str) -> list[Any]:
    """`World.sync_until_success` with the retry counters reset before every run."""
    out = []
    for _ in range(8):
        for c in counters:
            c.new_run()
        res = world.sync(*extra, timeout=1800)
        out.append(res)
        if res.returncode == 0:
            return out
        if res.returncode != 1:
            raise RuntimeError(f"unexpected exit code:\n{res}")
    raise RuntimeError(f"no success after 8 runs; last:\n{out[-1]}")


def _check(world: Any, prefix: str, deleted: dict[str, str]) -> dict[str, Any]:
    from tests.fixtures_resilience import (
        expected_from_store,
        ledger_problems,
        ledger_rows,
        people_problems,
        people_rejections,
        runs_problems,
        staging_duplicates,
    )

    expected = expected_from_store(world.bc)
    refused = people_rejections(world.duckdb)
    people = people_problems(world.people, expected, prefix=prefix, deleted=deleted, refused=refused)
    ledger = ledger_problems(world.duckdb, world.people, expected, refused=refused)
    runs = runs_problems(world.duckdb, world.runs)
    staged = {r[0] for r in ledger_rows(world.duckdb, "SELECT id FROM bigcommerce.customers")}
    store = {int(c["id"]) for c in world.bc.customers()}
    ext_counts = Counter(p["externalId"] for p in world.people.persons())
    person_rows = ledger_rows(world.duckdb, "SELECT customer_id, count(*) FROM people_sync.person_state "
                                            "WHERE customer_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1")
    lost = (sum(1 for p in people if "missing" in p or "People has" in p)
            + sum(1 for p in ledger if "no person_state row" in p or "rejected by the mapping" in p)
            + len(store - staged))
    duplicates = (sum(n - 1 for n in ext_counts.values() if n > 1) + staging_duplicates(world.duckdb)
                  + sum(int(r[1]) - 1 for r in person_rows))
    return {"expected": len(expected.persons), "rejected_by_mapping": len(expected.rejected), "refused": refused,
            "people_problems": people, "ledger_problems": ledger, "runs_problems": runs,
            "lost": lost, "duplicates": duplicates}


def _print_check(title: str, check: dict[str, Any]) -> None:
    print(f"  {title}: {check['expected']:,} persons expected, {check['rejected_by_mapping']:,} rejected by the mapping, "
          f"{len(check['refused'])} rejected by People (in person_state with the reason)")
    for ext, reason in list(check["refused"].items())[:3]:
        print(f"      {ext}: {reason[:150]}")
    print(f"    records lost: {check['lost']}   duplicates: {check['duplicates']}   "
          f"People mismatches: {len(check['people_problems'])}   person_state mismatches: "
          f"{len(check['ledger_problems'])}   run-history mismatches: {len(check['runs_problems'])}")
    for p in (check["people_problems"] + check["ledger_problems"] + check["runs_problems"])[:5]:
        print(f"      e.g. {p}")


def main(quick: bool) -> None:
    """Run the soak and print its report (see the module docstring)."""
    soak(quick)


def soak(quick: bool) -> bool:
    """Run the soak, print its report; True when nothing was lost, doubled or misrecorded."""
    from tests.fixtures_resilience import (
        PHASES,
        RES_STORE,
        clear_faults,
        kill_plans,
        make_world,
        run_and_kill,
        set_faults,
        touch_customers,
    )

    size = SIZES[quick]
    rng = random.Random(2026)
    prefix = f"bc-{RES_STORE}-"
    workdir = Path(tempfile.mkdtemp(prefix="bc2people-soak-"))
    started = time.monotonic()
    print(f"soak ({'quick' if quick else 'full'}): {size['customers']:,} customers + {size['nasty']} hostile, "
          f"20% faults on both APIs, {size['kills']} SIGKILLs; shared machine, timings are noisy")
    world = make_world(workdir)
    try:
        with world.bc, world.people:
            now = world.bc.clock.now() - 3600
            world.bc.add_customers(generate_customers(size["customers"], seed=2026, now=now))
            world.bc.add_customers(nasty_customers(size["nasty"], seed=2026, start_id=size["customers"] + 1))
            counters = [RetryCounter(world.bc._server), RetryCounter(world.people.server)]
            for server in (world.bc._server, world.people.server):
                # a client that times out or is killed resets its connection: expected here, not news
                server._httpd.handle_error = lambda *args: None  # type: ignore[method-assign]

            # -- 1. faults --------------------------------------------------------------------
            set_faults(world, 0.2, seed=2026, people_slow_cap=size["people_slow_cap"])
            t = time.monotonic()
            full = _sync_counting(world, counters)
            full_s = time.monotonic() - t
            touched = set(touch_customers(world.bc, rng, size["changed"], tag="soak"))
            for n in range(size["new"]):
                world.bc.create_customer(email=f"soak.new{n}@resilience.example", first_name="New",
                                         last_name=f"Soak {n}")
            gone = rng.sample(sorted(c["id"] for c in world.bc.customers() if c["id"] not in touched),
                              size["deleted"])
            for cid in gone:
                world.bc.delete_customer(cid)
            world.bc.clock.advance(120)
            t = time.monotonic()
            inc = _sync_counting(world, counters, "--sweep-deletions")
            inc_s = time.monotonic() - t
            clear_faults(world)
            deleted = {f"{prefix}{cid}": "deleted" for cid in gone}
            faults_check = _check(world, prefix, deleted)
            bc_faults, people_faults = Counter(world.bc.faults.injected), Counter(world.people.faults.injected)
            bc_retries, people_retries = counters[0].retries, counters[1].retries
            bc_requests, people_requests = counters[0].requests, counters[1].requests

            print("\n  1. faults (20% of requests on both APIs)")
            print(f"    {'fault':<10}{'BigCommerce':>12}{'People':>10}")
            for kind in FAULT_KINDS:
                print(f"    {kind:<10}{bc_faults[kind]:>12}{people_faults[kind]:>10}")
            print(f"    {'total':<10}{sum(bc_faults.values()):>12}{sum(people_faults.values()):>10}")
            print(f"    requests served: BigCommerce {bc_requests:,}, People {people_requests:,}; "
                  f"retries made: BigCommerce {bc_retries:,}, People {people_retries:,}")
            print(f"    full sync: {len(full)} run(s) to success, {full_s:.0f} s "
                  f"({full[-1].summary['counts']['sent']:,} sent); incremental: {len(inc)} run(s), {inc_s:.0f} s "
                  f"({inc[-1].summary['counts']['extracted']:,} extracted)")
            _print_check("after faults", faults_check)

            # -- 2. crashes -------------------------------------------------------------------
            for c in counters:
                c.retries = c.requests = 0
            pages = max(1, size["kill_changes"] // 250)
            batches = max(1, size["kill_changes"] // 1000)
            plans = kill_plans(rng, size["kills"], pages=pages, batches=batches, stage_s=0.2, map_s=0.4)
            kills: Counter[str] = Counter()
            convergence: list[int] = []
            missed = 0
            t = time.monotonic()
            for i, plan in enumerate(plans):
                for attempt in range(3):  # aim again (at once) when the run outran a stage/map moment
                    touch_customers(world.bc, rng, size["kill_changes"], tag=f"k{i}{attempt}")
                    for c in counters:
                        c.new_run()
                    res = run_and_kill(world, plan if attempt == 0 else replace(plan, delay_s=0.0), timeout=1800)
                    if not res.killed:
                        missed += 1
                        continue
                    kills[res.phase or "?"] += 1
                    convergence.append(len(_sync_counting(world, counters)))
                    if res.phase == plan.phase:
                        break
            crash_s = time.monotonic() - t
            crash_check = _check(world, prefix, deleted)
            failed_runs = sum(1 for r in world.runs if r.killed)
            print(f"\n  2. crashes: {sum(kills.values())} SIGKILLs in {crash_s:.0f} s "
                  f"({', '.join(f'{p} {kills[p]}' for p in PHASES)}; {missed} run(s) finished before the "
                  "moment and were aimed again)")
            if convergence:
                print(f"    runs to convergence after a kill: max {max(convergence)}, "
                      f"mean {statistics.mean(convergence):.2f} (1 = the next run succeeded)")
            print(f"    killed runs recorded as failed: {failed_runs - len([p for p in crash_check['runs_problems'] if 'killed=True' in p])}"
                  f" of {failed_runs}")
            _print_check("after crashes", crash_check)
            total_lost = faults_check["lost"] + crash_check["lost"]
            total_dup = faults_check["duplicates"] + crash_check["duplicates"]
            print(f"\n  records lost: {total_lost} (must be 0)   duplicates: {total_dup} (must be 0)   "
                  f"total {time.monotonic() - started:.0f} s")
            mismatches = sum(len(c[k]) for c in (faults_check, crash_check)
                             for k in ("people_problems", "ledger_problems", "runs_problems"))
            return total_lost == 0 and total_dup == 0 and mismatches == 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if soak(quick=os.environ.get("BENCH_QUICK") == "1") else 1)
