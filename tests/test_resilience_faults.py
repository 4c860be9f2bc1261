"""Faults on both APIs and a quota shared with another app: nothing lost, nothing doubled.

The full-size figures (20,000 customers) come from ``make soak``; these tests run the same
checks on 1,500 customers so the suite stays fast.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.http import FAULT_KINDS
from tests.fixtures_resilience import (
    RES_STORE,
    RES_TOKEN,
    SECRETS,
    clear_faults,
    expected_from_store,
    ledger_problems,
    make_world,
    people_problems,
    people_rejections,
    runs_problems,
    set_faults,
    staging_duplicates,
    touch_customers,
)

N_CUSTOMERS = 1500
PREFIX = f"bc-{RES_STORE}-"


@pytest.mark.slow
def test_full_then_incremental_sync_under_20pct_faults_ends_exact(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    rng = random.Random(81)
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(N_CUSTOMERS, seed=81, now=world.bc.clock.now() - 3600))
        set_faults(world, 0.2, seed=81)

        full = world.sync_until_success()
        assert full[-1].summary["counts"]["extracted"] >= N_CUSTOMERS

        touched = set(touch_customers(world.bc, rng, 150, tag="inc1"))
        for n in range(20):
            world.bc.create_customer(email=f"new{n}@resilience.example", first_name="New", last_name=f"Buyer {n}")
        gone = rng.sample(sorted(c["id"] for c in world.bc.customers() if c["id"] not in touched), 10)
        for cid in gone:
            world.bc.delete_customer(cid)
        world.bc.clock.advance(120)
        incremental = world.sync_until_success("--sweep-deletions")
        assert incremental[-1].summary["counts"]["extracted"] >= 170  # 150 changed + 20 new

        clear_faults(world)
        expected = expected_from_store(world.bc)
        deleted = {f"{PREFIX}{cid}": "deleted" for cid in gone}
        refused = people_rejections(world.duckdb)  # e.g. a phone two customers share: People keeps it on one
        assert len(refused) <= len(expected.persons) // 100 and all(refused.values()), refused
        assert not people_problems(world.people, expected, prefix=PREFIX, deleted=deleted, refused=refused)[:10]
        assert not ledger_problems(world.duckdb, world.people, expected, refused=refused)[:10]
        assert not runs_problems(world.duckdb, world.runs)[:10]
        assert staging_duplicates(world.duckdb) == 0

        bc_faults, people_faults = dict(world.bc.faults.injected), dict(world.people.faults.injected)
        assert sum(bc_faults.values()) > 0 and sum(people_faults.values()) > 0, (bc_faults, people_faults)
        assert len(set(bc_faults) | set(people_faults)) >= 4, (bc_faults, people_faults)
        assert set(bc_faults) | set(people_faults) <= set(FAULT_KINDS)
        for res in world.runs:
            assert "Traceback" not in res.stderr, res
            assert not any(s in res.stdout + res.stderr for s in SECRETS), res


@pytest.mark.slow
@pytest.mark.parametrize(("share", "n_customers"), [(1 / 3, N_CUSTOMERS), (3 / 4, 3000)])
def test_quota_shared_with_another_app_is_never_exceeded_twice_in_a_window(
    tmp_path: Path, share: float, n_customers: int
) -> None:
    from bc2people.pipelines.staging import stage_customers

    world = make_world(tmp_path)
    quota, window_s = 8, 1.0  # 1 s windows: scheduling delays on a busy machine stay small against them
    stop = threading.Event()

    def another_app() -> None:
        """Spends ``share`` of every window's quota, one request at a time, at random moments."""
        r = random.Random(5)
        while not stop.is_set():
            time.sleep(r.expovariate(quota * share / window_s))
            world.bc.consume_quota(1)

    with world.bc:
        world.bc.add_customers(generate_customers(n_customers, seed=82, now=world.bc.clock.now() - 3600))
        world.bc.set_quota(quota, window_s)
        other = threading.Thread(target=another_app, daemon=True)
        other.start()
        try:
            res = stage_customers(
                str(world.duckdb), store_hash=RES_STORE, access_token=RES_TOKEN, api_base_url=world.bc.base_url,
                backoff_base=0.05, backoff_max=0.2,
            )
        finally:
            stop.set()
            other.join()
        windows = list(world.bc.quota_windows)
        world.bc.set_quota(None)
        assert res.extracted == n_customers
        assert staging_duplicates(world.duckdb) == 0
    assert sum(w["consumed_by_others"] for w in windows) > 0  # the other app did take its share
    assert all(w["requests"] + w["consumed_by_others"] <= quota for w in windows)
    over = [w for w in windows if w["refused"] > 1]
    assert not over, f"the job ran into the quota more than once in these windows: {over}"
    assert res.quota_wait_s > 0  # it waited for windows to refill instead of hammering


def test_the_checks_see_a_single_wrong_field(tmp_path: Path) -> None:
    """A negative control: one field changed behind the job's back is reported, by name."""
    import requests

    world = make_world(tmp_path, people_rate_limit=None)
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(30, seed=83, now=world.bc.clock.now() - 3600))
        assert world.sync().returncode == 0
        expected = expected_from_store(world.bc)
        assert people_problems(world.people, expected, prefix=PREFIX) == []
        victim = sorted(expected.persons)[3]
        r = requests.patch(f"{world.people.base_url}/people/3/persons/upsert", timeout=10,
                           headers={"Authorization": f"App {world.people.api_key}"},
                           json={"persons": [{"externalId": victim, "lastName": "Tampered"}]})
        assert r.status_code == 207 and r.json()["results"][0]["status"] == "UPDATED"
        problems = people_problems(world.people, expected, prefix=PREFIX)
        assert len(problems) == 1 and problems[0].startswith(f"{victim}.lastName"), problems
        assert ledger_problems(world.duckdb, world.people, expected) == []
        world.bc.delete_customer(int(victim.rsplit("-", 1)[1]))
        problems = people_problems(world.people, expected_from_store(world.bc), prefix=PREFIX)
        assert problems == [f"{victim}: in People but not produced by the mapping"]
